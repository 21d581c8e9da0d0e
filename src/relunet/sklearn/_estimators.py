"""scikit-learn estimators around :class:`relunet.Network` and :func:`relunet.fit`.

``ReLUNetRegressor``: identity output, cost C = ½ Σ_outputs (y − ŷ)² averaged over rows (one or
several targets). ``ReLUNetClassifier`` picks the fused output/cost pair from the targets:

- binary y (two classes): one sigmoid output p = P(classes_[1]), binary cross-entropy;
- multiclass y (three or more classes): a softmax output per class, cross-entropy;
- multilabel y (a 0/1 indicator matrix): one sigmoid output per label, binary cross-entropy.

Both build every object through relunet's registries (activation, initializer, optimizer and
schedule names), keep float32 inputs in float32 (the network's dtype follows X unless ``dtype``
is given), and expose the fitted :class:`relunet.Network` as ``net_`` (and scikit-learn's
``coefs_``/``intercepts_`` as views of its W[k], b[k]). ``solver="lbfgs"`` minimises the whole
data set's cost with scipy's L-BFGS-B. This module imports scikit-learn; ``import relunet``
does not import it.
"""

from __future__ import annotations

import inspect
import math
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._validation import check_hidden_activation, check_step_at_zero
from ..activations import ACTIVATIONS, Activation, get_activation, takes_parameter
from ..network import Network
from ..optimizers import OPTIMIZERS, get_optimizer, get_schedule
from ..training.callbacks import Callback
from ..training.guard import DIVERGENCE_FACTOR

__all__ = ["ReLUNetRegressor", "ReLUNetClassifier"]

_SCHEDULES = ("constant", "invscaling", "adaptive")
_SOLVERS = ("lbfgs", *sorted(OPTIMIZERS))
_SYNONYMS = {"logistic": "sigmoid"}  # scikit-learn's activation names for relunet's
_OUT_ACTIVATION = {"identity": "identity", "sigmoid": "logistic", "softmax": "softmax"}
_DTYPES = {None: None, "float32": np.float32, "float64": np.float64}


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _not_lbfgs(estimator) -> bool:
    """partial_fit exists for the stochastic solvers only (L-BFGS needs the whole data set)."""
    if estimator.solver == "lbfgs":
        raise AttributeError("partial_fit is not available with solver='lbfgs'")
    return True


class _EpochReport(Callback):
    """After each epoch: with held-out rows, the validation score (accuracy or R², scikit-learn's
    ``validation_scores_``) and scikit-learn's early-stopping rule on it — stop once the score
    has not risen above best + tol for more than n_iter_no_change epochs, θ of the best score
    kept in ``best_theta``; with ``verbose``, one printed line."""

    def __init__(self, estimator, validation) -> None:
        self.estimator, self.validation = estimator, validation
        self.scores: list[float] = []
        self.best, self.best_theta, self.bad_epochs = -math.inf, None, 0

    def on_epoch(self, info):
        est = self.estimator
        stop = False
        if self.validation is not None:
            Xv, _, wv, yv = self.validation
            score = float(est._score_output(info.net.predict(Xv), yv, wv))
            self.scores.append(score)
            self.bad_epochs = self.bad_epochs + 1 if not score >= self.best + est.tol else 0
            if score > self.best:
                self.best, self.best_theta = score, info.net.theta.copy()
            stop = self.bad_epochs >= est._patience()
        if est.verbose:
            print(f"Iteration {est.n_iter_ + info.epochs_done}, loss = {info.train_loss:.8f}")
            if self.scores:
                print(f"Validation score: {self.scores[-1]:f}")
        return stop


class _ReLUNetBase(BaseEstimator):
    """Parameters shared by the regressor and the classifier (see their docstrings)."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        step_at_zero=1.0,
        init="he",
        bias=True,
        dtype=None,
        divergence_factor=DIVERGENCE_FACTOR,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.step_at_zero = step_at_zero
        self.init = init
        self.bias = bias
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.max_fun = max_fun
        self.dtype = dtype
        self.divergence_factor = divergence_factor

    # ------------------------------------------------------------------ the parts a subclass sets
    def _output(self, n_outputs: int) -> tuple[str, str]:
        """(output_activation, cost) names for the network's last layer."""
        raise NotImplementedError

    # ------------------------------------------------------------------ parameter checks
    def _hidden_sizes(self) -> tuple[int, ...]:
        h = self.hidden_layer_sizes
        if _is_int(h):
            h = (h,)
        if isinstance(h, (str, bytes)) or not hasattr(h, "__iter__"):
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints (got {h!r})")
        h = tuple(h)
        for m in h:
            if not _is_int(m) or m < 1:
                raise ValueError(f"hidden_layer_sizes must hold positive ints (got {self.hidden_layer_sizes!r})")
        return tuple(int(m) for m in h)

    def _activation_name(self):
        return _SYNONYMS.get(self.activation, self.activation)

    def _check_params(self) -> None:
        self._hidden_sizes()
        name = self._activation_name()
        if isinstance(self.activation, Activation):
            check_hidden_activation("activation", self.activation)
        elif not isinstance(name, str) or name not in ACTIVATIONS or not ACTIVATIONS[name]().elementwise:
            valid = ", ".join(sorted([*(a for a, make in ACTIVATIONS.items() if make().elementwise), *_SYNONYMS]))
            raise ValueError(f"activation must be an Activation or one of {valid} (got {self.activation!r})")
        check_step_at_zero(self.step_at_zero)
        if not isinstance(self.solver, str) or self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(_SOLVERS)} (got {self.solver!r})")
        if self.learning_rate not in _SCHEDULES:
            raise ValueError(f"learning_rate must be one of {', '.join(_SCHEDULES)} (got {self.learning_rate!r})")
        if not _is_real(self.learning_rate_init) or self.learning_rate_init <= 0:
            raise ValueError(f"learning_rate_init must be a finite number > 0 (got {self.learning_rate_init!r})")
        for name in ("alpha", "tol", "power_t"):
            v = getattr(self, name)
            if not _is_real(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0 (got {v!r})")
        for name in ("momentum", "beta_1", "beta_2"):
            v = getattr(self, name)
            if not _is_real(v) or not 0 <= v < 1:
                raise ValueError(f"{name} must be in [0, 1) (got {v!r})")
        if not _is_real(self.epsilon) or self.epsilon <= 0:
            raise ValueError(f"epsilon must be a finite number > 0 (got {self.epsilon!r})")
        if not (self.batch_size == "auto" or (_is_int(self.batch_size) and self.batch_size >= 1)):
            raise ValueError(f"batch_size must be 'auto' or a positive int (got {self.batch_size!r})")
        for name in ("max_iter", "max_fun"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive int (got {v!r})")
        if not (self.n_iter_no_change == math.inf or (_is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1)):
            raise ValueError(f"n_iter_no_change must be a positive int or inf (got {self.n_iter_no_change!r})")
        if not _is_real(self.validation_fraction) or not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1) (got {self.validation_fraction!r})")
        for name in ("bias", "shuffle", "early_stopping", "warm_start", "nesterovs_momentum"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False (got {getattr(self, name)!r})")
        if not (isinstance(self.verbose, (bool, np.bool_)) or (_is_int(self.verbose) and self.verbose >= 0)):
            raise TypeError(f"verbose must be True, False or an int >= 0 (got {self.verbose!r})")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be None, 'float32' or 'float64' (got {self.dtype!r})")
        if self.divergence_factor is not None and not (_is_real(self.divergence_factor) and self.divergence_factor > 1):
            raise ValueError(f"divergence_factor must be None or a finite number > 1 (got {self.divergence_factor!r})")

    # ------------------------------------------------------------------ building the parts
    def _hidden_activation(self):
        if isinstance(self.activation, Activation):
            return self.activation  # used as given: its own step_at_zero, if it has one
        name = self._activation_name()
        if takes_parameter(name, "step_at_zero"):
            return get_activation(name, step_at_zero=float(self.step_at_zero))
        return get_activation(name)

    def _build_network(self, n_features: int, n_outputs: int, dtype: np.dtype, seed: int) -> Network:
        output_activation, cost = self._output(n_outputs)
        return Network(
            [n_features, *self._hidden_sizes(), n_outputs],
            activation=self._hidden_activation(),
            output_activation=output_activation,
            cost=cost,
            bias=bool(self.bias),
            init=self.init,
            seed=seed,
            dtype=dtype,
        )

    def _build_optimizer(self):
        """The optimizer through the registry, given only the settings its constructor takes
        (its L2 strength is set per fit call by :meth:`_set_l2`)."""
        if self.learning_rate == "invscaling":
            schedule = get_schedule("invscaling", power_t=float(self.power_t))
        elif self.learning_rate == "adaptive":
            schedule = get_schedule("adaptive", patience=self._patience(), tol=float(self.tol))
        else:
            schedule = get_schedule("constant")
        offered = {
            "lr": float(self.learning_rate_init),
            "momentum": float(self.momentum),
            "nesterov": bool(self.nesterovs_momentum) and self.momentum > 0,
            "beta1": float(self.beta_1),
            "beta2": float(self.beta_2),
            "eps": float(self.epsilon),
            "schedule": schedule,
        }
        accepted = inspect.signature(OPTIMIZERS[self.solver]).parameters
        return get_optimizer(self.solver, **{k: v for k, v in offered.items() if k in accepted})

    def _patience(self) -> int:
        """Epochs without improvement that end a plateau: more than n_iter_no_change (inf: never)."""
        return 2**53 if self.n_iter_no_change == math.inf else int(self.n_iter_no_change) + 1

    def _batch_size(self, n: int) -> int:
        return min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    def _net_dtype(self, X: np.ndarray) -> np.dtype:
        forced = _DTYPES[self.dtype]
        return np.dtype(forced) if forced is not None else (np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64))

    # ------------------------------------------------------------------ fitting
    def _validate_X(self, X, reset: bool) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))

    def _targets(self, y, first: bool, classes=None, warm: bool = False) -> np.ndarray:
        """Y of shape (n, m_L) in the targets' encoding (set up on the first fit; ``warm``: a
        warm-start fit, which must see the first fit's classes)."""
        raise NotImplementedError

    def _score_output(self, output: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
        """The score of a network output r[L] (n, m_L) against targets y: accuracy or R²."""
        raise NotImplementedError

    def _fit(self, X, y, sample_weight, incremental: bool, classes=None):
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True; use fit, or set early_stopping=False")
        first = not (incremental or self.warm_start) or not hasattr(self, "net_")
        X, y = validate_data(
            self, X, y, reset=first, multi_output=True, dtype=(np.float64, np.float32), y_numeric=self._y_numeric
        )
        if y.ndim == 2 and y.shape[1] == 1 and self._ravel_column_y:
            y = column_or_1d(y, warn=True)
        dtype = self._net_dtype(X) if first else self.net_.dtype
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=dtype, ensure_non_negative=True)
        Y = self._targets(y, first=first, classes=classes, warm=not first and not incremental)
        if w is not None:
            self._check_weighted_classes(Y, w)
        X = X.astype(dtype, copy=False)
        Y = Y.astype(dtype, copy=False)
        if first:
            self._start(X.shape[1], Y.shape[1], dtype)
        elif self.net_.sizes[1:-1] != self._hidden_sizes():
            raise ValueError(
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} differs from the fitted network's "
                f"{self.net_.sizes[1:-1]}; fit with warm_start=False to start afresh"
            )
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, Y, w)
        if self.optimizer_ is None:
            self.optimizer_ = self._build_optimizer()
        if incremental:
            batch_size = self._batch_size(X.shape[0])
            self._set_l2(batch_size, w)
            self._train(X, Y, w, 1, batch_size, None, stop_on_plateau=False)
            return self
        self.n_iter_ = 0  # scikit-learn's count: the epochs of this fit call
        validation = None
        if self.early_stopping:
            X, Y, w, validation = self._hold_out(X, Y, w, y)
        batch_size = self._batch_size(X.shape[0])
        self._set_l2(batch_size, w)
        self._train(X, Y, w, self.max_iter, batch_size, validation, stop_on_plateau=True)
        return self

    def _start(self, n_features: int, n_outputs: int, dtype) -> None:
        """A fresh network and empty records. Three seeds are drawn once: the weights, the row
        order of epoch e (a function of (seed, e), so warm starts and partial_fit continue one
        sequence), the validation split."""
        rs = check_random_state(self.random_state)
        init_seed, self._shuffle_seed, self._split_seed = (int(s) for s in rs.randint(np.iinfo(np.int32).max, size=3))
        self.net_ = self._build_network(n_features, n_outputs, dtype, init_seed)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_ = None
        self.loss_curve_ = []
        self.validation_loss_curve_ = [] if self.early_stopping else None
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_loss_ = None
        self.best_validation_loss_ = None
        self.best_validation_score_ = None
        self.optimizer_ = None

    def _hold_out(self, X, Y, w, y):
        """(X, Y, w) for training and (X_val, Y_val, w_val, y_val) held out: validation_fraction
        of the rows, stratified by class for a single-label classifier."""
        stratify = y if (self._stratify and y.ndim == 1) else None
        parts = train_test_split(
            *(a for a in (X, Y, y, w) if a is not None),
            test_size=self.validation_fraction,
            random_state=self._split_seed,
            stratify=stratify,
        )
        X, Xv, Y, Yv, y, yv = parts[:6]
        w, wv = (parts[6], parts[7]) if w is not None else (None, None)
        if Xv.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small: early_stopping holds out {Xv.shape[0]} of "
                f"{Xv.shape[0] + X.shape[0]} rows and needs at least 2; increase validation_fraction "
                f"(got {self.validation_fraction}) or the number of rows"
            )
        if self.validation_loss_curve_ is None:
            self.validation_loss_curve_, self.validation_scores_ = [], []
        return X, Y, w, (Xv, Yv, wv, yv)

    def _fit_lbfgs(self, X, Y, w):
        """scikit-learn's lbfgs: at most max_iter iterations and max_fun evaluations of the whole
        data set's cost plus alpha/(2·Σw) Σ_k ‖W[k]‖²; loss_ is the cost C (without the L2 term)."""
        from ._lbfgs import minimize_lbfgs

        total = float(np.sum(w)) if w is not None else float(X.shape[0])
        l2 = float(self.alpha) / total if total > 0 else 0.0
        result = minimize_lbfgs(self.net_, X, Y, w, l2, self.max_iter, self.max_fun, float(self.tol))
        self.n_iter_ = result.n_iter
        self.loss_ = self.net_.loss(X, Y, w)
        self.loss_curve_ = result.objective
        self.best_loss_ = self.loss_
        if self.verbose:
            print(f"L-BFGS: {result.n_iter} iterations, {result.n_fun} evaluations, loss = {self.loss_:.8f}")
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__}: lbfgs stopped before converging after {result.n_iter} iterations "
                f"and {result.n_fun} evaluations (max_iter={self.max_iter}, max_fun={self.max_fun}): "
                f"{result.message}",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _set_l2(self, batch_size: int, w) -> None:
        """``alpha`` is scikit-learn's L2 strength: a batch's cost gains alpha/(2·Σ_B w) Σ_k ‖W[k]‖²
        (Σ_B w = the batch's rows without weights). The optimizer's λ is this with the batch's
        expected weight: λ = alpha / (batch_size · mean(w)), so integer weights act as repeated rows."""
        mean_w = 1.0 if w is None else float(np.mean(w))
        self.optimizer_.l2 = float(self.alpha) / (batch_size * mean_w) if mean_w > 0 else 0.0

    def _train(self, X, Y, w, epochs, batch_size, validation, stop_on_plateau):
        """Run up to ``epochs`` epochs of :func:`relunet.fit`.

        With ``stop_on_plateau``, stop as scikit-learn does: without validation rows once the
        training loss has failed to fall below best − tol for more than n_iter_no_change
        consecutive epochs, unless the "adaptive" schedule lowers η on such a plateau instead
        (and stops once η cannot fall further); with early_stopping once the validation score has
        failed to rise above best + tol as long, keeping the parameters of the best score."""
        from ..training import fit

        opt = self.optimizer_
        adaptive = self.learning_rate == "adaptive"
        loss_stop = stop_on_plateau and validation is None and not adaptive
        scores = _EpochReport(self, validation if stop_on_plateau else None)
        steps_before = opt.t
        try:
            history = fit(
                self.net_,
                X,
                Y,
                optimizer=opt,
                epochs=epochs,
                batch_size=batch_size,
                shuffle=bool(self.shuffle),
                seed=self._shuffle_seed,
                sample_weight=w,
                validation_data=None if validation is None else validation[:3],
                early_stopping=loss_stop,
                patience=self._patience(),
                tol=float(self.tol),
                restore_best=False,
                callbacks=[scores],
                divergence_factor=self.divergence_factor,
            )
        except ValueError as exc:  # a DivergenceError keeps the epochs it finished
            self._record(getattr(exc, "history", None), opt.t - steps_before, scores.scores)
            raise
        self._record(history, opt.t - steps_before, scores.scores)
        if scores.best_theta is not None:
            self.net_.theta[...] = scores.best_theta
        if stop_on_plateau and not history.stopped_early:
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs ended before the "
                f"{'validation score' if validation is not None else 'training loss'} stopped improving "
                f"by more than tol={self.tol}",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _record(self, history, steps: int, scores: list[float]) -> None:
        self.t_ += steps
        if history is None:
            return
        self.n_iter_ += len(history)
        self.loss_curve_.extend(float(v) for v in history.train_loss)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        if self.validation_scores_ is None or not self.early_stopping:
            finite = [v for v in self.loss_curve_ if math.isfinite(v)]
            self.best_loss_ = min(finite) if finite else None
            return
        # under early stopping scikit-learn leaves best_loss_ None
        self.best_loss_ = None
        self.validation_loss_curve_.extend(float(v) for v in history.val_loss)
        self.validation_scores_.extend(scores)
        finite = [(s, v) for s, v in zip(scores, history.val_loss) if math.isfinite(s)]
        if finite:
            self.best_validation_score_, self.best_validation_loss_ = max(finite, key=lambda sv: sv[0])

    def _check_weighted_classes(self, Y, w) -> None:
        """Refuse sample weights that leave a classifier fewer than two classes (see subclass)."""

    # ------------------------------------------------------------------ predicting
    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "net_")
        X = self._validate_X(X, reset=False)
        return self.net_.predict(X.astype(self.net_.dtype, copy=False))

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        """The network and optimizer as a relunet model file's bytes (no pickle needed to read
        them back); a network relunet cannot rebuild by name is kept as the object itself."""
        from .persistence import network_bytes

        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__ itself
        if "net_" in state:
            try:
                state["_model_file"] = network_bytes(state["net_"], state.get("optimizer_"))
            except ValueError:  # an activation or cost outside the registries, or non-finite values
                return state
            del state["net_"]
            state.pop("optimizer_", None)
        return state

    def __setstate__(self, state):
        from .persistence import network_from_bytes

        state = dict(state)
        if "_model_file" in state:
            state["net_"], state["optimizer_"] = network_from_bytes(state.pop("_model_file"))
        super().__setstate__(state)

    # ------------------------------------------------------------------ scikit-learn's names
    @property
    def coefs_(self) -> list[np.ndarray]:
        """[W[0], …, W[L−1]]: views of the network's weights, W[k] of shape (m_k, m_{k+1})."""
        return list(self.net_.W)

    @property
    def intercepts_(self) -> list[np.ndarray | None]:
        """[b[0], …, b[L−1]]: views of the biases, b[k] of shape (m_{k+1},) (None with bias=False)."""
        return list(self.net_.b)

    @property
    def n_layers_(self) -> int:
        """L + 1: the input, hidden and output layers."""
        return len(self.net_.sizes)

    @property
    def n_outputs_(self) -> int:
        """m_L."""
        return self.net_.sizes[-1]

    @property
    def out_activation_(self) -> str:
        """f_L by scikit-learn's name: "identity", "logistic" or "softmax"."""
        name = self.net_.activations[-1].name
        return _OUT_ACTIVATION.get(name, name)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        Sizes m_1 … m_{L−1} of the hidden layers; () gives a linear model.
    activation : str or Activation, default "relu"
        Hidden activation by registry name (relu, leaky_relu, tanh, sigmoid — or scikit-learn's
        "logistic" — softplus, identity, or a name given to ``relunet.register_activation``), or
        an Activation object, used as given (``step_at_zero`` then does not apply).
    step_at_zero : {1, 0, 0.5}, default 1
        ReLU'(0) (and leaky ReLU's): 1 as in the derivation, 0 as in PyTorch and scikit-learn.
    init : str, default "he"
        Weight initializer by registry name (he, he_uniform, glorot, glorot_uniform, lecun, ...).
    bias : bool, default True
        Add the biases b[k]; False is the derivation's z = r W.
    solver : {"adam", "sgd", "adamw", "lbfgs"}, default "adam"
        An optimizer by registry name, given only the settings its constructor takes:
        learning_rate_init (η0), momentum and nesterovs_momentum (sgd; Nesterov only when
        momentum > 0), beta_1, beta_2, epsilon (adam, adamw), and the L2 strength. "lbfgs" runs
        scipy's L-BFGS-B on the whole data set for at most max_iter iterations and max_fun
        evaluations of J = C + alpha/(2 Σw) Σ_k ‖W[k]‖² (gtol=tol); no partial_fit.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule of η per epoch, as in scikit-learn: invscaling η = η0 / (t + 1)^power_t with t
        the rows seen; "adaptive" divides η by 5 whenever the monitored loss has not improved by
        tol for more than n_iter_no_change epochs, and stops once η is at 1e-6.
    alpha : float, default 1e-4
        L2 penalty with scikit-learn's meaning: each batch's cost gains alpha/(2·batch) Σ_k ‖W[k]‖²
        (with sample weights, batch counts the batch's expected total weight).
    batch_size : int or "auto", default "auto"
        Rows per step; "auto" is min(200, n).
    max_iter : int, default 200
        Epochs per ``fit`` (a ``partial_fit`` call is one epoch).
    shuffle : bool, default True
        Reshuffle the rows every epoch (seeded from random_state).
    tol, n_iter_no_change : float, int or inf
        Stop when the training loss has not fallen (with early_stopping: the validation score
        has not risen) by more than tol for more than n_iter_no_change consecutive epochs;
        without such a stop, max_iter epochs end with a ConvergenceWarning.
    early_stopping : bool, default False
        Hold out validation_fraction of the rows (stratified for a classifier), monitor their
        score (accuracy or R²) and keep the parameters of the best epoch; at least 2 rows must be held out, and
        partial_fit is refused.
    random_state : int, RandomState or None
        Seeds the weights, the shuffling and the validation split.
    warm_start : bool, default False
        Continue from the fitted network and optimizer state instead of starting afresh (a
        classifier must then see the first fit's classes).
    verbose : bool or int, default False
        Print "Iteration i, loss = …" (and "Validation score: …") after each epoch, as
        scikit-learn does.
    dtype : {None, "float32", "float64"}, default None
        The network's dtype; None follows X (float32 stays float32, anything else float64).
    divergence_factor : float or None, default 1e6
        Stop with ``relunet.DivergenceError`` once a batch loss exceeds this factor × the largest
        of the call's first batch loss and the constant predictor's loss (on the training rows,
        and on that batch), undoing the update that led to it, as for a non-finite loss (see
        ``relunet.fit``); None turns the check off. Not used by lbfgs.

    Attributes
    ----------
    net_ : relunet.Network
        The trained network (sizes, W[k], b[k]).
    coefs_, intercepts_ : lists of arrays
        Views of W[k] (m_k, m_{k+1}) and b[k] (m_{k+1},) (None with bias=False).
    n_layers_, n_outputs_, out_activation_ : L + 1, m_L, "identity" | "logistic" | "softmax".
    optimizer_ : relunet optimizer, with its state (moments, step count t); None with lbfgs.
    loss_ : float
        The last epoch's training cost C (without the L2 term).
    loss_curve_ : list of float
        Training cost C per epoch (without the L2 term), averaged over the epoch's batches;
        with lbfgs, J per iteration.
    validation_loss_curve_, validation_scores_ : list of float or None
        Validation cost and score (accuracy or R²) per epoch with early_stopping, else None.
    best_loss_ : float or None
        The lowest training cost; None with early_stopping (scikit-learn's convention).
    best_validation_score_, best_validation_loss_ : float or None
        The best validation score (the kept epoch's) and that epoch's cost, with early_stopping.
    n_iter_ : int
        Epochs (lbfgs: iterations) of the last fit, plus one per partial_fit call.
    t_ : int
        Optimizer steps taken.
    n_features_in_, feature_names_in_ : as in scikit-learn.
"""


class ReLUNetRegressor(RegressorMixin, _ReLUNetBase):
    """A ReLU network regressor: identity output, C = ½ Σ_outputs (y − ŷ)² averaged over rows.

    ``y`` may be (n,) or (n, m_L) for several outputs; ``predict`` returns the same shape.
    Targets are not rescaled: standardise them (e.g. with TransformedTargetRegressor) when
    their scale is far from 1.
    """

    __doc__ = (__doc__ or "") + _PARAMS_DOC

    _y_numeric = True
    _ravel_column_y = False
    _stratify = False

    def _output(self, n_outputs):
        return "identity", "squared_error"

    def _targets(self, y, first, classes=None, warm=False):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self._y_ndim = y.ndim
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs but the network was fitted with {self.n_outputs_}")
        return Y

    def _score_output(self, output, y, w):
        """R² averaged over the outputs, 1 − Σ w (y − ŷ)² / Σ w (y − ȳ)²; NaN once ŷ is not finite."""
        Y = y.reshape(len(y), -1).astype(np.float64)
        w = np.ones(len(Y)) if w is None else np.asarray(w, dtype=np.float64)
        mean = (w @ Y) / w.sum()
        with np.errstate(all="ignore"):
            residual = w @ (Y - output) ** 2
            total = w @ (Y - mean) ** 2
            r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, m_0) and y (n,) or (n, m_L) for max_iter epochs (fewer when the loss stops
        improving); warm_start continues from the current network."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_not_lbfgs)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on (X, y), continuing from the current network and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """ŷ = r[L]: shape (n,) for a 1-D y at fit time, else (n, m_L)."""
        Y = self._forward(X)
        return Y.ravel() if self._y_ndim == 1 else Y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ReLUNetClassifier(ClassifierMixin, _ReLUNetBase):
    """A ReLU network classifier with a fused output layer and cost.

    - two classes: one sigmoid output p = P(y = classes_[1]) and binary cross-entropy;
      ``predict_proba`` gives the columns [1 − p, p];
    - three or more classes: softmax over one output per class and cross-entropy;
    - a multilabel indicator matrix y (n, k): k sigmoid outputs and binary cross-entropy;
      ``predict`` gives the 0/1 matrix (threshold ½) and ``predict_proba`` the k probabilities.

    Each pair gives the output error dC/dz[L] = c_i (p − y) directly (the costs' fused form).
    """

    __doc__ = (__doc__ or "") + _PARAMS_DOC

    _y_numeric = False
    _ravel_column_y = True
    _stratify = True

    def _output(self, n_outputs):
        if self._multiclass:
            return "softmax", "cross_entropy"
        return "sigmoid", "binary_cross_entropy"

    def _targets(self, y, first, classes=None, warm=False):
        if warm and not self._multilabel and not np.array_equal(np.unique(y), self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous call "
                f"to fit. Previously got {self.classes_}, `y` has {np.unique(y)}"
            )
        if first:
            kind = type_of_target(y, input_name="y")
            if kind not in ("binary", "multiclass", "multilabel-indicator"):
                raise ValueError(
                    f"Unknown label type: {kind!r}; ReLUNetClassifier takes binary, multiclass or "
                    "multilabel-indicator targets"
                )
            lb = LabelBinarizer()
            lb.fit(y if classes is None or kind == "multilabel-indicator" else np.asarray(classes))
            if len(lb.classes_) < 2:
                raise ValueError(
                    f"ReLUNetClassifier needs at least 2 classes in y (got 1 class: {lb.classes_[0]!r})"
                )
            self._label_binarizer = lb
            self.classes_ = lb.classes_
            self._multilabel = lb.y_type_ == "multilabel-indicator"
            self._multiclass = not self._multilabel and len(self.classes_) > 2
        elif classes is not None and not np.array_equal(np.asarray(classes), self.classes_):
            raise ValueError(
                f"classes={np.asarray(classes).tolist()} differs from the classes of the first fit {self.classes_.tolist()}"
            )
        if self._multilabel:
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(f"y must be a multilabel indicator matrix with {len(self.classes_)} columns")
        else:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(f"y holds class(es) {unseen.tolist()} not among classes_ {self.classes_.tolist()}")
        Y = self._label_binarizer.transform(y)
        return np.asarray(Y, dtype=np.float64)

    def _check_weighted_classes(self, Y, w):
        if self._multilabel:
            return
        onehot = np.hstack([1 - Y, Y]) if Y.shape[1] == 1 else Y
        if np.count_nonzero(onehot.T @ w > 0) < 2:  # total weight per class
            raise ValueError(
                "sample_weight leaves fewer than 2 classes with positive weight; "
                "ReLUNetClassifier needs at least 2 classes"
            )

    def _score_output(self, output, y, w):
        """Accuracy of the labels the output predicts (weighted by w)."""
        labels = self._labels(output)
        hit = np.all(labels == y, axis=1) if labels.ndim == 2 else labels == y
        return float(np.average(hit, weights=w))

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, m_0) and class labels y (n,) (or an (n, k) 0/1 indicator matrix)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_not_lbfgs)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on (X, y); ``classes`` (every label that will ever appear) is required on the
        first call, as in scikit-learn's other incremental classifiers."""
        if not hasattr(self, "net_") and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be given on the first call to partial_fit (all labels y can take)")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities (n, n_classes): [1 − p, p] for two classes, the softmax for more,
        the k sigmoid outputs for multilabel."""
        P = self._forward(X)
        if not self._multilabel and P.shape[1] == 1:
            return np.hstack([1 - P, P])
        return P

    def predict_log_proba(self, X):
        """ln of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Labels: the most probable class (ties to the first), or the 0/1 indicator matrix."""
        return self._labels(self._forward(X))

    def _labels(self, P):
        if self._multilabel:
            return (P > 0.5).astype(int)
        if P.shape[1] == 1:
            return self.classes_[(P[:, 0] > 0.5).astype(int)]
        return self.classes_[np.argmax(P, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
