"""Where relunet's and scikit-learn's R² part on scikit-learn's test_mlp.py regression data
(make_regression(200, 10, bias=20, noise=100, random_state=7), y standardised), adam at the
defaults, training R² for random_state 0, 1, 2. The last rows start relunet from scikit-learn's
own initial W and b: with the data one full batch (batch_size "auto" = 200), nothing else differs.

    PYTHONPATH=src python benchmarks/sklearn_r2_gap.py
"""

import warnings

import numpy as np
from sklearn.datasets import make_regression
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import scale
from sklearn.utils import check_random_state

from relunet.sklearn import ReLUNetRegressor

X, y = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
y = scale(y)
SEEDS = (0, 1, 2)


def sklearn_start(seed: int, **params) -> ReLUNetRegressor:
    """A relunet estimator whose network holds MLPRegressor(random_state=seed)'s initial
    parameters (drawn by scikit-learn's private _initialize), ready to fit with warm_start."""
    ref = MLPRegressor(random_state=seed)
    ref._random_state = check_random_state(seed)
    ref.n_outputs_ = 1
    ref._initialize(y.reshape(-1, 1), [X.shape[1], 100, 1], np.float64)
    est = ReLUNetRegressor(random_state=seed, **params).partial_fit(X, y)
    for k in range(2):
        est.coefs_[k][...] = ref.coefs_[k]
        est.intercepts_[k][...] = ref.intercepts_[k]
    est.optimizer_ = None  # a fresh Adam, as scikit-learn's first epoch has
    return est.set_params(warm_start=True)


ROWS = {
    "scikit-learn MLPRegressor()": lambda s: MLPRegressor(random_state=s),
    "relunet defaults (init he, zero b, ReLU'(0) = 1)": lambda s: ReLUNetRegressor(random_state=s),
    "relunet step_at_zero=0": lambda s: ReLUNetRegressor(random_state=s, step_at_zero=0),
    "relunet init='glorot_uniform' (zero b)": lambda s: ReLUNetRegressor(random_state=s, init="glorot_uniform"),
    "relunet from scikit-learn's initial W, b": sklearn_start,
    "relunet from scikit-learn's initial W, b, ReLU'(0) = 0": lambda s: sklearn_start(s, step_at_zero=0),
}

if __name__ == "__main__":
    warnings.simplefilter("ignore")
    for name, make in ROWS.items():
        fitted = [make(seed).fit(X, y) for seed in SEEDS]
        print(f"{name:58s} " + "  ".join(f"{m.score(X, y):.3f}" for m in fitted))
    gaps = [np.abs(sklearn_start(s).fit(X, y).predict(X) - MLPRegressor(random_state=s).fit(X, y).predict(X)).max()
            for s in SEEDS]
    print("max |ŷ relunet − ŷ scikit-learn| from the same start: " + "  ".join(f"{g:.1e}" for g in gaps))
