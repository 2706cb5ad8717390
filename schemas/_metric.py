"""Metric names, their directions and the task types they fit.

Directions are fixed here, in code, and never taken from a user or an LLM.
The functions that compute the scores live in ``tools.metrics``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

TaskType = Literal["binary", "multiclass", "regression"]
Direction = Literal["maximize", "minimize"]
PredictKind = Literal["proba", "value"]

TASK_TYPES: tuple[TaskType, ...] = ("binary", "multiclass", "regression")


class MetricInfo(BaseModel):
    """What the harness needs to know about a metric."""

    model_config = ConfigDict(frozen=True)

    name: str
    direction: Direction
    task_types: tuple[TaskType, ...]
    needs_proba: bool
    description: str


def _metric(name: str, direction: Direction, task_types: tuple[TaskType, ...],
            needs_proba: bool, description: str) -> MetricInfo:
    return MetricInfo(name=name, direction=direction, task_types=task_types,
                      needs_proba=needs_proba, description=description)


_CLS: tuple[TaskType, ...] = ("binary", "multiclass")

METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        _metric("roc_auc", "maximize", _CLS, True,
                "area under the ROC curve (one-vs-rest macro average for multiclass)"),
        _metric("log_loss", "minimize", _CLS, True, "cross-entropy of the predicted probabilities"),
        _metric("accuracy", "maximize", _CLS, False, "fraction of correct labels"),
        _metric("balanced_accuracy", "maximize", _CLS, False, "mean recall over classes"),
        _metric("f1", "maximize", ("binary",), False, "F1 of the positive (second) class"),
        _metric("f1_macro", "maximize", _CLS, False, "unweighted mean of per-class F1"),
        _metric("f1_weighted", "maximize", _CLS, False, "support-weighted mean of per-class F1"),
        _metric("rmse", "minimize", ("regression",), False, "root mean squared error"),
        _metric("mae", "minimize", ("regression",), False, "mean absolute error"),
        _metric("r2", "maximize", ("regression",), False, "coefficient of determination"),
    )
}

DEFAULT_METRIC: dict[TaskType, str] = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "rmse",
}

METRIC_ALIASES: dict[str, str] = {
    "auc": "roc_auc",
    "rocauc": "roc_auc",
    "logloss": "log_loss",
    "cross_entropy": "log_loss",
    "acc": "accuracy",
    "balanced_acc": "balanced_accuracy",
    "f1_score": "f1",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
    "mse_root": "rmse",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "r_squared": "r2",
}
