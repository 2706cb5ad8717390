"""What the planner (and the memory) know about a table.

``META_FEATURE_NAMES`` documents the fixed-length numeric vector
``DatasetProfile.meta_features``: the memory uses it as the embedding, so its
length and order only change together with a schema version bump.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas._metric import TaskType

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text", "id", "constant"]

META_FEATURE_VERSION = 1

# name -> meaning; every value is finite, most lie roughly in [0, 1] or are log-scaled.
META_FEATURES: dict[str, str] = {
    "log_rows": "log10 of the number of training rows",
    "log_features": "log10 of the number of used feature columns (after dropping)",
    "log_rows_per_feature": "log10(rows / features)",
    "frac_numeric": "share of used feature columns that are numeric or boolean",
    "frac_categorical": "share of used feature columns that are categorical",
    "frac_datetime": "share of raw feature columns that are datetimes",
    "frac_dropped": "share of raw feature columns dropped (id, constant, text)",
    "missing_cells": "share of missing cells among used feature columns",
    "frac_cols_missing": "share of used feature columns with any missing value",
    "log_mean_cardinality": "log10(1 + mean number of levels of categorical columns)",
    "mean_abs_skew": "mean absolute skewness of numeric columns, clipped to [0, 10], divided by 10",
    "mean_abs_corr": "mean absolute correlation between numeric features (sample)",
    "is_binary": "1 for binary classification",
    "is_multiclass": "1 for multiclass classification",
    "is_regression": "1 for regression",
    "log_classes": "log10 of the number of classes (0 for regression)",
    "class_entropy": "normalized class entropy (1 = balanced classes; 0 for regression)",
    "minority_ratio": "smallest class share divided by largest (0 for regression)",
    "target_skew": "skewness of the regression target clipped to [-10, 10], divided by 10",
    "target_log_cv": "log10(1 + |std / mean|) of the regression target",
    "landmark_stump": "3-fold score of a depth-1 tree on a sample (accuracy or R^2 clipped at 0)",
    "landmark_linear": "3-fold score of a linear model on a sample (accuracy or R^2 clipped at 0)",
    "landmark_nb": "3-fold score of a depth-3 tree on a sample (accuracy or R^2 clipped at 0)",
}
META_FEATURE_NAMES: tuple[str, ...] = tuple(META_FEATURES)


class ColumnProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: ColumnKind
    dtype: str
    n_missing: int
    n_unique: int
    used: bool
    note: str | None = None


class DatasetProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    n_rows: int
    n_rows_dropped: int
    target: str
    task_type: TaskType
    n_classes: int | None = None
    class_counts: dict[str, int] | None = None
    target_mean: float | None = None
    target_std: float | None = None
    target_skew: float | None = None
    columns: tuple[ColumnProfile, ...]
    n_numeric: int
    n_categorical: int
    missing_fraction: float
    notices: tuple[str, ...] = ()
    sampled_rows: int
    meta_features: tuple[float, ...]
    meta_feature_version: int = META_FEATURE_VERSION

    def meta_feature_dict(self) -> dict[str, float]:
        return dict(zip(META_FEATURE_NAMES, self.meta_features, strict=True))
