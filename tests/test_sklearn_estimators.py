"""The scikit-learn estimators: scikit-learn's own checks, meta-estimators, dtypes, weights,
warm starts and incremental fitting."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import relunet as rn
from relunet.datasets import load_dataset, make_friedman1, train_test_split
from relunet.sklearn import ReLUNetClassifier, ReLUNetRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([ReLUNetRegressor(), ReLUNetClassifier()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def friedman():
    X, y, _ = make_friedman1(n_samples=400, seed=0)
    return train_test_split(X, y, test_fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    return d.X[:600], d.y[:600]


def _small_regressor(**kw):
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.02, batch_size=32, max_iter=60, random_state=0)
    params.update(kw)
    return ReLUNetRegressor(**params)


# ------------------------------------------------------------------------------------ meta-estimators
def test_pipeline_with_scaler_beats_a_linear_model_on_friedman1(friedman):
    Xtr, Xte, ytr, yte = friedman
    model = make_pipeline(StandardScaler(), _small_regressor()).fit(Xtr, ytr)
    linear = LinearRegression().fit(Xtr, ytr)
    # sin(π x0 x1) and (x2 − ½)² are not linear: a ReLU network must do better on held-out rows
    assert model.score(Xte, yte) > linear.score(Xte, yte) + 0.03
    assert model[-1].n_features_in_ == 10 and model[-1].net_.sizes == (10, 32, 1)


def test_grid_search_picks_from_the_grid_and_refits(friedman):
    Xtr, Xte, ytr, yte = friedman
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), _small_regressor(max_iter=30)),
        {"relunetregressor__hidden_layer_sizes": [(2,), (32,)], "relunetregressor__alpha": [1e-4, 1.0]},
        cv=3,
    ).fit(Xtr, ytr)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and len(scores) == 4
    # 32 hidden units fit friedman1 better than 2, whatever alpha
    assert grid.best_params_["relunetregressor__hidden_layer_sizes"] == (32,)
    assert grid.best_estimator_[-1].net_.sizes[1] == 32
    assert grid.score(Xte, yte) > 0.5


def test_cross_val_score_classifier_on_digits(digits):
    X, y = digits
    clf = make_pipeline(
        StandardScaler(), ReLUNetClassifier((32,), learning_rate_init=0.01, batch_size=50, max_iter=20, random_state=0)
    )
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.75  # chance is 0.1


# ------------------------------------------------------------------------------------ dtypes
def test_float32_input_trains_and_predicts_in_float32(friedman, digits):
    Xtr, _, ytr, _ = friedman
    X32 = Xtr.astype(np.float32)
    reg = _small_regressor(max_iter=3).fit(X32, ytr)
    assert reg.net_.dtype == np.float32 and all(W.dtype == np.float32 for W in reg.net_.W)
    assert reg.predict(X32).dtype == np.float32
    assert reg.predict(Xtr).dtype == np.float32  # a float64 X is cast to the network's dtype
    assert _small_regressor(max_iter=3).fit(Xtr.astype(np.int64), ytr).net_.dtype == np.float64
    assert _small_regressor(max_iter=3, dtype="float32").fit(Xtr, ytr).net_.dtype == np.float32
    X, y = digits
    clf = ReLUNetClassifier((8,), max_iter=2, random_state=0).fit(X.astype(np.float32), y)
    P = clf.predict_proba(X[:5].astype(np.float32))
    assert P.dtype == np.float32 and P.shape == (5, 10)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)


# ------------------------------------------------------------------------------------ sample_weight
def test_zero_weights_equal_dropping_rows_and_integer_weights_equal_repeating_them():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.standard_normal(40)
    w = rng.integers(0, 3, size=40)
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0, learning_rate_init=0.01)
    # batch_size "auto" = all rows: each step sees the whole weighted (or repeated) data set
    weighted = ReLUNetRegressor(**params).fit(X, y, sample_weight=w)
    repeated = ReLUNetRegressor(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-9, atol=1e-12)
    unweighted = ReLUNetRegressor(**params).fit(X, y)
    assert not np.allclose(unweighted.predict(X), weighted.predict(X), rtol=1e-3)


def test_sample_weight_that_removes_a_class_is_refused(digits):
    X, y = digits
    w = (y == 3).astype(float)
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        ReLUNetClassifier(max_iter=1).fit(X, y, sample_weight=w)


# ------------------------------------------------------------------------------------ warm start, partial_fit
def test_warm_start_continues_the_same_run(friedman):
    Xtr, _, ytr, _ = friedman
    params = dict(tol=0.0, n_iter_no_change=100)
    whole = _small_regressor(max_iter=6, **params).fit(Xtr, ytr)
    parts = _small_regressor(max_iter=3, warm_start=True, **params).fit(Xtr, ytr)
    first_curve = list(parts.loss_curve_)
    parts.fit(Xtr, ytr)
    # n_iter_ counts this fit call's epochs (scikit-learn's meaning); loss_curve_ all of them
    assert parts.n_iter_ == 3 and len(parts.loss_curve_) == 6 and parts.loss_curve_[:3] == first_curve
    # row order of epoch e and the optimizer state carry over: 3 + 3 epochs are 6 epochs
    np.testing.assert_array_equal(parts.predict(Xtr), whole.predict(Xtr))
    assert parts.loss_curve_ == whole.loss_curve_ and parts.t_ == whole.t_
    cold = _small_regressor(max_iter=3, **params).fit(Xtr, ytr).fit(Xtr, ytr)
    assert cold.n_iter_ == 3 and cold.loss_curve_ == first_curve  # without warm_start: afresh
    with pytest.raises(ValueError, match="differs from the fitted network's \\(32,\\)"):
        parts.set_params(hidden_layer_sizes=(16,)).fit(Xtr, ytr)


def test_partial_fit_is_one_epoch_and_continues(friedman):
    Xtr, _, ytr, _ = friedman
    one = _small_regressor(max_iter=1).fit(Xtr, ytr)
    inc = _small_regressor().partial_fit(Xtr, ytr)
    np.testing.assert_array_equal(inc.predict(Xtr), one.predict(Xtr))
    for _ in range(4):
        inc.partial_fit(Xtr, ytr)
    assert inc.n_iter_ == 5 and len(inc.loss_curve_) == 5
    assert inc.loss_curve_[-1] < inc.loss_curve_[0] / 2


def test_classifier_partial_fit_needs_classes_first(digits):
    X, y = digits
    clf = ReLUNetClassifier((16,), random_state=0)
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        clf.partial_fit(X[:50], y[:50])
    clf.partial_fit(X[:50][y[:50] < 5], y[:50][y[:50] < 5], classes=np.arange(10))
    assert list(clf.classes_) == list(range(10)) and clf.net_.sizes[-1] == 10
    clf.partial_fit(X[50:100], y[50:100])  # later batches may hold the other classes
    assert clf.predict_proba(X[:3]).shape == (3, 10)
    with pytest.raises(ValueError, match="class\\(es\\) \\[11\\] not among classes_"):
        clf.partial_fit(X[:2], [3, 11])
    with pytest.raises(ValueError, match="not among classes_"):  # labels outside the given classes
        ReLUNetClassifier().partial_fit(X[:4], [0, 1, 2, 7], classes=[0, 1, 2])


# ------------------------------------------------------------------------------------ output layers
def test_classifier_output_layer_follows_the_targets(digits):
    X, y = digits
    X = StandardScaler().fit_transform(X)
    multi = ReLUNetClassifier((16,), max_iter=5, random_state=0).fit(X, y)
    assert multi.net_.cost.name == "cross_entropy" and multi.net_.activations[-1].name == "softmax"
    labels = np.where(y == 7, "seven", "other")
    binary = ReLUNetClassifier((16,), max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, labels)
    assert binary.net_.sizes[-1] == 1 and binary.net_.cost.name == "binary_cross_entropy"
    P = binary.predict_proba(X)
    p = binary.net_.predict(X)[:, 0]  # the sigmoid output is P(classes_[1]) = P("seven")
    assert list(binary.classes_) == ["other", "seven"]
    np.testing.assert_allclose(P[:, 1], p)
    np.testing.assert_allclose(P[:, 0], 1 - p)
    np.testing.assert_array_equal(binary.predict(X) == "seven", p > 0.5)
    assert binary.score(X, labels) > 0.95
    Y = np.column_stack([y % 2 == 0, y > 4]).astype(int)  # two labels per digit
    ml = ReLUNetClassifier((16,), max_iter=30, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert ml.net_.sizes[-1] == 2 and ml.net_.activations[-1].name == "sigmoid"
    assert ml.predict(X).shape == (600, 2) and set(np.unique(ml.predict(X))) <= {0, 1}
    assert (ml.predict(X) == Y).mean() > 0.85


def test_regressor_multioutput_and_step_at_zero(friedman):
    Xtr, _, ytr, _ = friedman
    Y = np.column_stack([ytr, -ytr])
    reg = _small_regressor(max_iter=2, step_at_zero=0, init="glorot", bias=False).fit(Xtr, Y)
    assert reg.predict(Xtr).shape == (len(Xtr), 2)
    relu = reg.net_.activations[1]
    assert relu.name == "relu" and relu.step_at_zero == 0 and reg.net_.b[0] is None
    assert reg.net_.init.name == "glorot"


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(batch_size=0), "batch_size must be 'auto' or a positive int \\(got 0\\)"),
        (dict(learning_rate_init=-0.1), "learning_rate_init must be a finite number > 0 \\(got -0.1\\)"),
        (dict(beta_1=1.0), "beta_1 must be in \\[0, 1\\) \\(got 1.0\\)"),
        (dict(solver="rmsprop"), "solver must be one of lbfgs, adam, adamw, sgd \\(got 'rmsprop'\\)"),
        (dict(activation="softmax"), "activation must be an Activation or one of"),
        (dict(activation=rn.Softmax()), "activation must be elementwise"),
        (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must hold positive ints"),
        (dict(step_at_zero=2), "step_at_zero must be one of 1, 0 or 0.5"),
        (dict(init="zeros"), "unknown init 'zeros'"),
        (dict(dtype="float16"), "dtype must be None, 'float32' or 'float64'"),
        (dict(max_fun=0), "max_fun must be a positive int \\(got 0\\)"),
        (dict(n_iter_no_change=0), "n_iter_no_change must be a positive int or inf \\(got 0\\)"),
        (dict(activation="logit"), "activation must be an Activation or one of .*logistic"),
        (dict(divergence_factor=0.5), "divergence_factor must be None or a finite number > 1 \\(got 0.5\\)"),
    ],
)
def test_bad_parameters_are_refused_at_fit_naming_them(params, message):
    est = ReLUNetRegressor(**params)  # the constructor only stores them
    with pytest.raises(ValueError, match=message):
        est.fit(np.zeros((4, 2)), np.zeros(4))
    assert not hasattr(est, "net_")


@pytest.mark.parametrize("make", [ReLUNetRegressor, ReLUNetClassifier])
def test_a_runaway_learning_rate_raises_as_a_non_finite_loss_does(make, friedman, digits):
    X, y = (friedman[0], friedman[2]) if make is ReLUNetRegressor else digits
    est = make(hidden_layer_sizes=(16,), learning_rate_init=1e6, random_state=0, max_iter=20)
    with pytest.raises(rn.DivergenceError, match="is above divergence_factor") as err:
        est.fit(X, y)
    assert err.value.where == "loss growth" and est.t_ == err.value.steps_kept and np.isfinite(est.net_.theta).all()
    est.set_params(divergence_factor=None).fit(X, y)  # as before the check: it runs away, finite
    p = np.bincount(y) / len(y) if make is ReLUNetClassifier else None
    constant = 0.5 * np.var(y) if p is None else -np.sum(p[p > 0] * np.log(p[p > 0]))  # the constant predictor's loss
    assert np.isfinite(est.loss_curve_).all() and min(est.loss_curve_) > 1e4 * constant


def test_max_iter_without_convergence_warns_and_early_stopping_keeps_the_best(friedman):
    Xtr, _, ytr, _ = friedman
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _small_regressor(max_iter=2).fit(Xtr, ytr)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    est = _small_regressor(max_iter=200, early_stopping=True, n_iter_no_change=3, learning_rate_init=0.05)
    est.fit(Xtr, ytr)
    curve = est.validation_loss_curve_
    assert len(curve) == est.n_iter_ == len(est.loss_curve_) < 200
    assert est.best_validation_loss_ == min(curve)
    # scikit-learn's rule: stop once more than n_iter_no_change epochs failed to improve
    assert est.n_iter_ - 1 - int(np.argmin(curve)) == 4
    assert est.best_loss_ is None  # scikit-learn's convention under early stopping
    assert est.best_validation_score_ == est.validation_scores_[int(np.argmin(curve))]
