"""Small real datasets with added categorical columns, shared by the search-part tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from schemas import TaskType

CATEGORICAL = ["colour", "size"]
_LOADERS: dict[TaskType, Callable[..., Any]] = {
    "binary": load_breast_cancer,
    "multiclass": load_iris,
    "regression": load_diabetes,
}


@cache
def _frame(task_type: TaskType) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = _LOADERS[task_type](return_X_y=True, as_frame=True)
    X = X.astype(float)
    rng = np.random.RandomState(0)
    colour = rng.choice(np.array(["red", "green", "blue", np.nan], dtype=object), len(X))
    size = rng.choice(np.array(["S", "M", "L", "XL", np.nan], dtype=object), len(X))
    X["colour"] = pd.Series(colour, index=X.index, dtype=object)
    X["size"] = pd.Series(size, index=X.index, dtype=object)
    X.iloc[:15, 0] = np.nan  # missing numbers too
    target = y.to_numpy(np.float64 if task_type == "regression" else np.int64)
    return X, target


def dataset(task_type: TaskType) -> tuple[pd.DataFrame, np.ndarray, list[str], list[str]]:
    """(X, y, numeric columns, categorical columns) for the task type; a fresh copy."""
    X, y = _frame(task_type)
    numeric = [c for c in X.columns if c not in CATEGORICAL]
    return X.copy(), y.copy(), numeric, list(CATEGORICAL)


def split(X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """A fixed 70/30 shuffle split (stratification is not needed at these sizes)."""
    order = np.random.RandomState(seed).permutation(len(X))
    cut = int(0.7 * len(X))
    train, test = order[:cut], order[cut:]
    return X.iloc[train], y[train], X.iloc[test], y[test]
