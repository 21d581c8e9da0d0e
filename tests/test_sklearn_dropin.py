"""What makes the estimators a drop-in for scikit-learn's MLP beyond its own test file: the
L-BFGS objective is scikit-learn's (a linear network is ridge regression), and the synonyms,
attributes and messages scikit-learn users know."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from relunet.sklearn import ReLUNetClassifier, ReLUNetRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 5))
    y = X @ [1.0, -2.0, 0.5, 0.0, 3.0] + 0.3 * rng.standard_normal(80)
    return X, y


@pytest.mark.parametrize("alpha", [0.0, 5.0, 80.0])
def test_lbfgs_on_a_linear_network_is_ridge_regression(data, alpha):
    # J = ½ mean (y − ŷ)² + alpha/(2n) ‖W‖² has the minimiser of ‖y − ŷ‖² + alpha ‖W‖² (Ridge)
    X, y = data
    reg = ReLUNetRegressor((), solver="lbfgs", alpha=alpha, tol=1e-12, max_iter=500, random_state=0).fit(X, y)
    ridge = Ridge(alpha=alpha).fit(X, y)
    # L-BFGS-B stops on its relative-decrease test a few 1e-7 from the optimum; a wrong L2 scale
    # (alpha instead of alpha/n) would move the alpha = 80 coefficients by about 1
    np.testing.assert_allclose(reg.coefs_[0][:, 0], ridge.coef_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(reg.intercepts_[0], [ridge.intercept_], rtol=0, atol=1e-5)
    assert reg.n_iter_ >= 1 and reg.loss_ == pytest.approx(0.5 * np.mean((reg.predict(X) - y) ** 2))


def test_lbfgs_keeps_float32_and_stops_at_max_fun(data):
    X, y = data
    reg = ReLUNetRegressor((8,), solver="lbfgs", max_fun=5, random_state=0)
    with pytest.warns(Warning, match="lbfgs stopped before converging .*max_fun=5"):
        reg.fit(X.astype(np.float32), y)
    assert reg.coefs_[0].dtype == np.float32 and reg.n_iter_ <= 5
    assert not hasattr(reg, "partial_fit")  # as in scikit-learn: L-BFGS needs the whole data set
    assert hasattr(ReLUNetRegressor(solver="sgd"), "partial_fit")


def test_logistic_is_sigmoid_and_attributes_name_the_network(data):
    X, y = data
    a = ReLUNetRegressor((6,), activation="logistic", max_iter=5, random_state=0).fit(X, y)
    b = ReLUNetRegressor((6,), activation="sigmoid", max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.net_.activations[1].name == "sigmoid"
    assert a.n_layers_ == 3 and a.n_outputs_ == 1 and a.out_activation_ == "identity"
    assert [w.shape for w in a.coefs_] == [(5, 6), (6, 1)] and a.coefs_[0].base is not None
    assert a.loss_ == a.loss_curve_[-1]
    clf = ReLUNetClassifier((4,), max_iter=2, random_state=0).fit(X, np.arange(80) % 3)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3


def test_nesterovs_momentum_is_used(data):
    X, y = data
    fits = [ReLUNetRegressor((6,), solver="sgd", nesterovs_momentum=n, max_iter=5, random_state=0).fit(X, y)
            for n in (True, False)]
    assert fits[0].optimizer_.nesterov and not fits[1].optimizer_.nesterov
    assert not np.array_equal(fits[0].predict(X), fits[1].predict(X))


def test_verbose_prints_each_epoch_and_quiet_prints_nothing(data, capsys):
    X, y = data
    ReLUNetRegressor((4,), max_iter=3, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    reg = ReLUNetRegressor((4,), max_iter=3, verbose=True, early_stopping=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Iteration 1, loss = {reg.loss_curve_[0]:.8f}"
    assert lines[1] == f"Validation score: {reg.validation_scores_[0]:f}"
    assert len(lines) == 2 * reg.n_iter_


def test_scikit_learns_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="The validation set is too small: early_stopping holds out 1 of 2 rows"):
        ReLUNetRegressor(early_stopping=True).fit(X[:2], y[:2])
    est = ReLUNetRegressor((4,), early_stopping=True, max_iter=3, random_state=0).fit(X, y)
    assert est.best_loss_ is None and est.best_validation_score_ in est.validation_scores_
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X, y)
    labels = np.arange(80) % 3
    clf = ReLUNetClassifier((4,), warm_start=True, max_iter=2, random_state=0).fit(X, labels)
    with pytest.raises(ValueError, match=r"same classes as in the previous call to fit. Previously got \[0 1 2\], `y` has \[0 1\]"):
        clf.fit(X, labels % 2)
    clf.fit(X, labels)  # the same classes again: no error


def test_early_stopping_keeps_the_epoch_of_the_best_validation_score():
    # scikit-learn's rule monitors the validation score (accuracy here), not the validation loss
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.5 * rng.standard_normal(150) > 0.5).astype(int)
    params = dict(hidden_layer_sizes=(8,), early_stopping=True, n_iter_no_change=4, learning_rate_init=0.05,
                  random_state=0)
    clf = ReLUNetClassifier(max_iter=300, **params).fit(X, y)
    scores = clf.validation_scores_
    best = int(np.argmax(scores))
    assert clf.best_validation_score_ == max(scores) and clf.n_iter_ == best + 1 + 5 < 300
    assert clf.best_validation_loss_ == clf.validation_loss_curve_[best]
    # the same run cut at the best epoch ends with the parameters early stopping kept
    cut = ReLUNetClassifier(max_iter=best + 1, **params).fit(X, y)
    np.testing.assert_array_equal(cut.predict_proba(X), clf.predict_proba(X))
