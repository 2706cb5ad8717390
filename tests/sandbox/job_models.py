"""Estimators for the tests of "refit" and "predict" jobs.

They live in an importable module (``tests.sandbox.job_models``) so a sandbox
worker can unpickle them once the tests folder is bound in read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

MARKER = "unpickled-here.txt"  # what a Tattletale leaves in the working folder when loaded


class ShuffledClasses(ClassifierMixin, BaseEstimator):
    """Wraps a classifier and reports its classes (and probability columns) in the order
    2, 0, 1: the harness must put the columns back in class-code order."""

    ORDER = (2, 0, 1)

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> ShuffledClasses:
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = np.asarray(self.ORDER)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(X))[:, list(self.ORDER)]

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X))


class Tattletale(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose unpickling writes ``MARKER`` into the current folder, as
    loading a fitted code model runs the proposal's code."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> Tattletale:
        self.estimator.fit(X, y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.estimator.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict(X))

    def __reduce__(self) -> tuple[Any, ...]:
        return (revive_tattletale, (self.estimator,))


def revive_tattletale(estimator: Any) -> Tattletale:
    """Unpickle a ``Tattletale``: leave the marker in the current folder first."""
    Path(MARKER).write_text(f"unpickled in process cwd {Path.cwd()}\n")
    print(f"tattletale unpickled in {Path.cwd()}")
    return Tattletale(estimator)
