"""
relunet inside a scikit-learn Pipeline
======================================

:class:`relunet.sklearn.ReLUNetRegressor` is a scikit-learn estimator, so it composes with
scikit-learn's transformers, model selection and scoring like any other. Here it follows a
:class:`~sklearn.preprocessing.StandardScaler` on the diabetes data that ships with
scikit-learn, is tuned by a small grid search, and is scored on held-out rows.
"""

# %%
# The pipeline
# ------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from relunet.sklearn import ReLUNetRegressor

X, y = load_diabetes(return_X_y=True)
y = (y - y.mean()) / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

pipe = make_pipeline(
    StandardScaler(),
    ReLUNetRegressor(hidden_layer_sizes=(32,), learning_rate_init=1e-2, max_iter=400, random_state=0),
)

# %%
# A grid search over the L2 strength and the width
# ------------------------------------------------
search = GridSearchCV(
    pipe,
    {"relunetregressor__alpha": [1e-4, 1e-1, 1.0], "relunetregressor__hidden_layer_sizes": [(8,), (32,)]},
    cv=3,
)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated R² {search.best_score_:.3f}, held-out R² {search.score(X_test, y_test):.3f}")
assert search.score(X_test, y_test) > 0.2

# %%
# The fitted network is the pipeline's last step
# ----------------------------------------------
reg = search.best_estimator_[-1]
print("layer sizes:", reg.net_.sizes, " epochs:", reg.n_iter_)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
ax1.plot(reg.loss_curve_)
ax1.set_xlabel("epoch")
ax1.set_ylabel("training cost C")
ax2.scatter(y_test, search.predict(X_test), s=10)
ax2.plot([-2, 3], [-2, 3], color="grey", lw=0.8)
ax2.set_xlabel("target (standardised)")
ax2.set_ylabel("prediction")
fig.tight_layout()
