"""scikit-learn estimators around :class:`relunet.Network` and :func:`relunet.fit`, and their
persistence without pickle.

- :class:`ReLUNetRegressor`, :class:`ReLUNetClassifier`: drop-ins for scikit-learn's
  ``MLPRegressor``/``MLPClassifier`` (same parameters and fitted attributes, plus relunet's
  ``step_at_zero``, ``init``, ``bias``, ``dtype``).
- :func:`save`, :func:`load`: a fitted estimator, or any scikit-learn object holding some (a
  Pipeline, a GridSearchCV), through ``skops.io``; loading builds only scikit-learn's, numpy's
  and relunet's types.

This package imports scikit-learn; ``import relunet`` does not import it.
"""

from ._estimators import ReLUNetClassifier, ReLUNetRegressor
from .persistence import UntrustedTypesError, load, save

__all__ = ["ReLUNetRegressor", "ReLUNetClassifier", "save", "load", "UntrustedTypesError"]
