"""Scores computed by our harness from predictions, never read from a model's own output.

Classification predictions are always probabilities of shape (n, K); label metrics take
the argmax, so every trial hands back the same kind of array whatever the metric. The
final model of a binary task may instead label by a decision threshold on the positive
class, chosen on out-of-fold predictions (``decision_threshold``). A
prediction array that cannot be scored (wrong shape, NaN) raises ``ValueError``: it is a
broken trial output, and the scoring code turns it into a failed trial.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)

from schemas import METRICS, ConfigError, Direction, TaskType

log = logging.getLogger(__name__)

__all__ = ["decision_threshold", "dummy_prediction", "fold_scores", "is_better",
           "normalized_score", "score"]

_EPS = 1e-15


def score(metric: str, y_true: np.ndarray, pred: np.ndarray, *, n_classes: int | None,
          threshold: float | None = None) -> float:
    """The value of ``metric`` (a name from ``schemas.METRICS``) for these predictions.

    ``threshold``: for two classes, a row is labelled positive when its positive-class
    probability is at least this (label metrics only; default: the more probable class).
    """
    if metric not in METRICS:
        raise ConfigError(f"The 'metric' parameter must be one of {sorted(METRICS)}; "
                          f"got {metric!r} instead.")
    y_true = np.asarray(y_true)
    pred = np.asarray(pred, dtype=np.float64)
    if len(pred) != len(y_true) or len(y_true) == 0:
        raise ValueError(f"pred has {len(pred)} rows and y_true {len(y_true)}; they must be "
                         "equal and non-zero")
    if not np.isfinite(pred).all():
        raise ValueError("pred contains NaN or infinite values")
    if n_classes is None:
        return _regression(metric, y_true.astype(np.float64), pred.reshape(len(pred), -1)[:, 0])
    return _classification(metric, y_true.astype(np.int64), _as_proba(pred, n_classes),
                           n_classes, threshold)


def _as_proba(pred: np.ndarray, n_classes: int) -> np.ndarray:
    if pred.ndim == 1 and n_classes == 2:
        pred = np.column_stack([1.0 - pred, pred])
    if pred.ndim != 2 or pred.shape[1] != n_classes:
        raise ValueError(f"pred must have shape (n, {n_classes}) for {n_classes} classes; "
                         f"got {pred.shape}")
    return pred


def _regression(metric: str, y: np.ndarray, p: np.ndarray) -> float:
    if metric == "rmse":
        return float(math.sqrt(float(np.mean((y - p) ** 2))))
    if metric == "mae":
        return float(mean_absolute_error(y, p))
    if metric == "r2":
        return float(r2_score(y, p))
    raise ConfigError(f"The metric {metric!r} is for classification; the predictions are "
                      "regression values (n_classes=None).")


def _classification(metric: str, y: np.ndarray, proba: np.ndarray, k: int,
                    threshold: float | None = None) -> float:
    if metric == "roc_auc":
        return _roc_auc(y, proba, k)
    if metric == "log_loss":
        p = np.clip(proba, _EPS, 1.0)
        p = p / p.sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(p[np.arange(len(y)), y])))
    if threshold is not None and k == 2:
        labels = (proba[:, 1] >= threshold).astype(np.int64)
    else:
        labels = proba.argmax(axis=1)
    if metric == "accuracy":
        return float(np.mean(labels == y))
    if metric == "balanced_accuracy":
        return float(balanced_accuracy_score(y, labels))
    if metric == "f1":
        return float(f1_score(y, labels, pos_label=1, average="binary", zero_division=0))
    if metric in ("f1_macro", "f1_weighted"):
        return float(f1_score(y, labels, average=metric[3:], zero_division=0))
    raise ConfigError(f"The metric {metric!r} is for regression; the predictions are class "
                      f"probabilities (n_classes={k}).")


def _roc_auc(y: np.ndarray, proba: np.ndarray, k: int) -> float:
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"roc_auc needs at least 2 classes in y_true; got only {present.tolist()}")
    if k == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    # one-vs-rest, macro average over the classes that occur in y_true
    return float(np.mean([roc_auc_score(y == c, proba[:, c]) for c in present]))


def fold_scores(metric: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray, *,
                n_classes: int | None, threshold: float | None = None) -> list[float]:
    """One score per fold id (ascending), from out-of-fold predictions; rows with fold < 0
    are left out."""
    y, pred, folds = np.asarray(y), np.asarray(pred), np.asarray(folds)
    if len(folds) != len(y):
        raise ValueError(f"folds has {len(folds)} entries and y {len(y)}; they must be equal")
    return [score(metric, y[folds == f], pred[folds == f], n_classes=n_classes,
                  threshold=threshold)
            for f in np.unique(folds[folds >= 0])]


def decision_threshold(metric: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray, *,
                       n_classes: int | None) -> float | None:
    """The positive-class probability from which a binary model should say "positive",
    for a label metric (accuracy, balanced accuracy, F1...); None for any other metric or
    task.

    Chosen on out-of-fold predictions: the candidate (0.5 and the 1st to 99th percentiles
    of the predicted probabilities) with the best mean fold score; on a tie, the one
    nearest 0.5. On imbalanced classes F1 at 0.5 is often far below F1 at a lower cut.
    """
    if n_classes != 2 or metric not in METRICS or METRICS[metric].needs_proba:
        return None
    proba = _as_proba(np.asarray(pred, dtype=np.float64), 2)
    folds = np.asarray(folds)
    inside = folds >= 0
    candidates = np.unique(np.concatenate(
        [[0.5], np.quantile(proba[inside, 1], np.linspace(0.01, 0.99, 99))]))
    direction = METRICS[metric].direction
    best: tuple[float, float] | None = None
    for t in sorted(candidates, key=lambda c: abs(c - 0.5)):  # nearest 0.5 first wins ties
        value = float(np.mean(fold_scores(metric, y, proba, folds, n_classes=2,
                                          threshold=float(t))))
        if best is None or is_better(value, best[0], direction):
            best = (value, float(t))
    assert best is not None
    return best[1]


def dummy_prediction(y_train: np.ndarray, n: int, *, task_type: TaskType,
                     n_classes: int | None) -> np.ndarray:
    """The baseline every model must beat: class priors (n, K) or the training mean (n,)."""
    y_train = np.asarray(y_train)
    if len(y_train) == 0:
        raise ValueError("y_train is empty; the dummy prediction needs training targets")
    if task_type == "regression":
        return np.full(n, float(np.mean(y_train)), dtype=np.float64)
    k = n_classes if n_classes is not None else int(y_train.max()) + 1
    priors = np.bincount(y_train.astype(np.int64), minlength=k)[:k] / len(y_train)
    return np.tile(priors.astype(np.float64), (n, 1))


def is_better(a: float, b: float | None, direction: Direction) -> bool:
    """Whether score ``a`` beats ``b`` (None or NaN ``b`` is beaten by any number)."""
    if a is None or math.isnan(a):
        return False
    if b is None or math.isnan(b):
        return True
    return a > b if direction == "maximize" else a < b


def ideal_score(direction: Direction) -> float:
    """The best value a metric can take: 1 for every maximized metric here (AUC, accuracy,
    F1, R²), 0 for every minimized one (log loss, RMSE, MAE)."""
    return 1.0 if direction == "maximize" else 0.0


def normalized_score(value: float, *, dummy: float, best: float) -> float:
    """Where ``value`` lies between the dummy (0) and the best (1); works for either
    direction because both differences share the sign. 0 when best equals dummy."""
    span = best - dummy
    if not math.isfinite(span) or abs(span) < 1e-12:
        return 0.0
    return float((value - dummy) / span)
