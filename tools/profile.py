"""What the planner and the memory know about a table: a ``DatasetProfile``.

The meta-feature vector is the memory's embedding, so it must be cheap (sampled rows),
deterministic (a fixed seed, independent of the run's seed) and always finite. Each value
follows its documentation in ``schemas.META_FEATURES``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from schemas import META_FEATURE_NAMES, DatasetProfile
from tools.features import FeaturePrep
from tools.intake import PreparedData

log = logging.getLogger(__name__)

__all__ = ["profile_dataset", "table_fingerprint"]

_STAT_ROWS = 20_000
_LANDMARK_ROWS = 2_000
_MAX_CORR_COLUMNS = 100
_MAX_LEVELS = 10  # one-hot levels per categorical column in the landmark models
_SEED = 0


def table_fingerprint(table: pd.DataFrame, target: str) -> str:
    """A short hash of the target's name, the columns (names, dtypes) and every value.

    The same table loaded the same way gives the same value: the memory uses it to
    recognise a dataset it has seen (and to leave it out in an honest evaluation).
    """
    digest = hashlib.sha256(target.encode())
    for name, dtype in table.dtypes.items():
        digest.update(f"\x1f{name}\x1e{dtype}".encode())
    rows = pd.util.hash_pandas_object(table, index=False)
    digest.update(np.ascontiguousarray(rows.to_numpy()).tobytes())
    return digest.hexdigest()[:20]


def profile_dataset(data: PreparedData, prep: FeaturePrep) -> DatasetProfile:
    """Describe ``data`` as seen through the fitted ``prep`` (sizes, kinds, target, landmarks)."""
    # small matrices: one BLAS thread is faster than waking several (2-3x here)
    with threadpool_limits(limits=1):
        return _profile(data, prep)


def _profile(data: PreparedData, prep: FeaturePrep) -> DatasetProfile:
    task = data.task
    assert task.task_type is not None, "prepare() resolves the task type"
    rng = np.random.default_rng(_SEED)
    n_rows = len(data.y)
    idx = np.sort(rng.choice(n_rows, size=min(n_rows, _STAT_ROWS), replace=False))
    Xs = prep.transform(data.X.iloc[idx])
    ys = data.y[idx]
    numeric = [c for c in prep.numeric_columns_ if prep.output_kinds_[c] == "numeric"]
    num = Xs[numeric].to_numpy(dtype=np.float64) if numeric else np.empty((len(idx), 0))

    cols = prep.column_profiles_
    used = [c for c in cols if c.used]
    n_used = len(used)
    n_num = sum(c.kind in ("numeric", "boolean") for c in used)
    n_cat = sum(c.kind == "categorical" for c in used)
    miss = data.X[prep.input_columns_].isna().to_numpy() if n_used else np.zeros((n_rows, 0))
    missing_cells = float(miss.mean()) if miss.size else 0.0
    cards = [c.n_unique for c in used if c.kind == "categorical"]

    target = _target_stats(data)
    landmarks = _landmarks(Xs, prep, ys, task.task_type, rng)
    meta = {
        "log_rows": math.log10(max(n_rows, 1)),
        "log_features": math.log10(max(n_used, 1)),
        "log_rows_per_feature": math.log10(max(n_rows, 1) / max(n_used, 1)),
        "frac_numeric": n_num / n_used if n_used else 0.0,
        "frac_categorical": n_cat / n_used if n_used else 0.0,
        "frac_datetime": _share(sum(c.kind == "datetime" for c in cols), len(cols)),
        "frac_dropped": _share(sum(not c.used for c in cols), len(cols)),
        "missing_cells": missing_cells,
        "frac_cols_missing": float(miss.any(axis=0).mean()) if miss.size else 0.0,
        "log_mean_cardinality": math.log10(1.0 + float(np.mean(cards))) if cards else 0.0,
        "mean_abs_skew": min(_mean_abs_skew(num), 10.0) / 10.0,
        "mean_abs_corr": _mean_abs_corr(num, rng),
        "is_binary": float(task.task_type == "binary"),
        "is_multiclass": float(task.task_type == "multiclass"),
        "is_regression": float(task.task_type == "regression"),
        **target.meta,
        **landmarks,
    }
    vector = tuple(_finite(meta[name]) for name in META_FEATURE_NAMES)
    return DatasetProfile(
        n_rows=n_rows, n_rows_dropped=data.n_rows_dropped, target=task.target,
        task_type=task.task_type, n_classes=target.n_classes, class_counts=target.class_counts,
        target_mean=target.mean, target_std=target.std, target_skew=target.skew,
        columns=cols, n_numeric=n_num, n_categorical=n_cat, missing_fraction=missing_cells,
        notices=(*data.notices, *prep.notices_), sampled_rows=len(idx), meta_features=vector)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


class _Target:
    """Target statistics for the profile fields and the target meta-features."""

    def __init__(self) -> None:
        self.n_classes: int | None = None
        self.class_counts: dict[str, int] | None = None
        self.mean: float | None = None
        self.std: float | None = None
        self.skew: float | None = None
        self.meta: dict[str, float] = {"log_classes": 0.0, "class_entropy": 0.0,
                                       "minority_ratio": 0.0, "target_skew": 0.0,
                                       "target_log_cv": 0.0}


def _target_stats(data: PreparedData) -> _Target:
    t = _Target()
    if data.classes is None:
        y = data.y.astype(np.float64)
        t.mean, t.std = float(np.mean(y)), float(np.std(y))
        t.skew = _finite(_skew_1d(y))
        cv = t.std / abs(t.mean) if abs(t.mean) > 1e-12 else 1e6
        t.meta["target_skew"] = float(np.clip(t.skew, -10.0, 10.0)) / 10.0
        t.meta["target_log_cv"] = math.log10(1.0 + min(cv, 1e6))
        return t
    k = len(data.classes)
    counts = np.bincount(data.y, minlength=k)[:k]
    t.n_classes = k
    t.class_counts = {str(label): int(c) for label, c in zip(data.classes, counts, strict=True)}
    p = counts[counts > 0] / counts.sum()
    t.meta["log_classes"] = math.log10(k)
    t.meta["class_entropy"] = float(-(p * np.log(p)).sum() / math.log(k)) if k > 1 else 0.0
    t.meta["minority_ratio"] = float(counts.min() / counts.max()) if counts.max() else 0.0
    return t


def _skew_1d(y: np.ndarray) -> float:
    d = y - y.mean()
    m2 = float(np.mean(d**2))
    return float(np.mean(d**3)) / m2**1.5 if m2 > 0 else 0.0


def _mean_abs_skew(num: np.ndarray) -> float:
    """Mean |skewness| over numeric columns with some spread (NaN cells ignored)."""
    if num.shape[1] == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns in a sample
        d = num - np.nanmean(num, axis=0)
        m2 = np.nanmean(d**2, axis=0)
        m3 = np.nanmean(d**3, axis=0)
    ok = np.isfinite(m2) & (m2 > 1e-12) & np.isfinite(m3)
    return float(np.mean(np.abs(m3[ok] / m2[ok] ** 1.5))) if ok.any() else 0.0


def _mean_abs_corr(num: np.ndarray, rng: np.random.Generator) -> float:
    """Mean absolute Pearson correlation over pairs of numeric columns (NaN → column mean)."""
    if num.shape[1] > _MAX_CORR_COLUMNS:
        num = num[:, np.sort(rng.choice(num.shape[1], _MAX_CORR_COLUMNS, replace=False))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(num, axis=0) if num.shape[1] else np.empty(0)
    filled = np.where(np.isnan(num), np.nan_to_num(means), num)
    filled = filled[:, filled.std(axis=0) > 1e-12] if filled.size else filled
    if filled.shape[1] < 2:
        return 0.0
    corr = np.corrcoef(filled, rowvar=False)
    upper = corr[np.triu_indices_from(corr, k=1)]
    return float(np.mean(np.abs(np.nan_to_num(upper))))


def _landmark_matrix(X: pd.DataFrame, prep: FeaturePrep) -> np.ndarray:
    """Numbers (median-filled, standardized) and one-hot top levels of each category."""
    parts: list[np.ndarray] = []
    if prep.numeric_columns_:
        num = X[prep.numeric_columns_].to_numpy(dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nan_to_num(np.nanmedian(num, axis=0))
        num = np.where(np.isnan(num), med, num)
        std = num.std(axis=0)
        parts.append((num - num.mean(axis=0)) / np.where(std > 1e-12, std, 1.0))
    for col in prep.categorical_columns_:
        top = X[col].value_counts().index[:_MAX_LEVELS]
        parts.append(np.column_stack([(X[col] == level).to_numpy(dtype=np.float64)
                                      for level in top]) if len(top) else np.zeros((len(X), 0)))
    return np.hstack(parts) if parts else np.zeros((len(X), 0))


def _landmarks(Xs: pd.DataFrame, prep: FeaturePrep, ys: np.ndarray, task_type: str,
               rng: np.random.Generator) -> dict[str, float]:
    """3-fold scores of a stump, a linear model and a depth-3 tree on ≤ 2,000 rows."""
    take = np.sort(rng.choice(len(ys), size=min(len(ys), _LANDMARK_ROWS), replace=False))
    X = _landmark_matrix(Xs.iloc[take], prep)
    y = ys[take]
    classify = task_type != "regression"
    if classify:  # a class needs a row in each of the 3 folds
        values, counts = np.unique(y, return_counts=True)
        keep = np.isin(y, values[counts >= 3])
        X, y = X[keep], y[keep]
    names = ("landmark_stump", "landmark_linear", "landmark_nb")
    if X.shape[1] == 0 or len(y) < 6 or (classify and len(np.unique(y)) < 2):
        base = float(np.bincount(y).max() / len(y)) if classify and len(y) else 0.0
        return dict.fromkeys(names, base)
    models: tuple[Any, ...] = (
        (DecisionTreeClassifier(max_depth=1, random_state=_SEED),
         LogisticRegression(max_iter=200), DecisionTreeClassifier(max_depth=3, random_state=_SEED))
        if classify else
        (DecisionTreeRegressor(max_depth=1, random_state=_SEED), Ridge(alpha=1.0),
         DecisionTreeRegressor(max_depth=3, random_state=_SEED)))
    splitter = (StratifiedKFold(3, shuffle=True, random_state=_SEED) if classify
                else KFold(3, shuffle=True, random_state=_SEED))
    folds = list(splitter.split(X, y))
    return {name: _cv_score(model, X, y, folds, classify) for name, model in zip(names, models,
                                                                                   strict=True)}


def _cv_score(model: Any, X: np.ndarray, y: np.ndarray,
              folds: list[tuple[np.ndarray, np.ndarray]], classify: bool) -> float:
    scores: list[float] = []
    for train, valid in folds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X[train], y[train])
        pred = model.predict(X[valid])
        scores.append(float(np.mean(pred == y[valid])) if classify
                      else max(float(r2_score(y[valid], pred)), 0.0))
    return float(np.mean(scores))
