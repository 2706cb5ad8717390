"""Scores computed by our harness from predictions, never read from a model's own output.

Classification predictions are always probabilities of shape (n, K); label metrics take
the argmax, so every trial hands back the same kind of array whatever the metric. The
final model of a binary task may instead label by a decision threshold on the positive
class, chosen on out-of-fold predictions (``decision_threshold``), and the search then
scores each fold at the threshold the other folds choose (``cv_fold_scores``). A
prediction array that cannot be scored (wrong shape, NaN) raises ``ValueError``: it is a
broken trial output, and the scoring code turns it into a failed trial.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

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

__all__ = ["ThresholdRule", "cv_fold_scores", "decision_threshold", "dummy_prediction",
           "fold_scores", "is_better", "label_scores", "normalized_score", "score",
           "thresholded"]

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


def thresholded(metric: str, n_classes: int | None) -> bool:
    """Whether this metric on this task labels rows by a decision threshold: a label
    metric (accuracy, balanced accuracy, F1...) on two classes."""
    return n_classes == 2 and metric in METRICS and not METRICS[metric].needs_proba


def label_scores(metric: str, y: np.ndarray, positive: np.ndarray,
                 thresholds: np.ndarray) -> np.ndarray:
    """``metric`` of a binary task at every threshold at once: rows with a positive-class
    probability of at least ``t`` are labelled positive.

    Computed from the confusion counts (one sort, one search per threshold), so it equals
    ``score(metric, y, positive, n_classes=2, threshold=t)`` for each ``t`` (scikit-learn's
    rules: a class absent from both truth and labels is left out of the averages, and a
    zero division counts 0) at a fraction of the cost.
    """
    y = np.asarray(y).astype(np.int64)
    positive = np.asarray(positive, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    pos, neg = np.sort(positive[y == 1]), np.sort(positive[y == 0])
    n_pos, n_neg = float(len(pos)), float(len(neg))
    tp = n_pos - np.searchsorted(pos, t, side="left")
    fp = n_neg - np.searchsorted(neg, t, side="left")
    fn, tn = n_pos - tp, n_neg - fp
    if metric == "accuracy":
        return (tp + tn) / (n_pos + n_neg)
    if metric == "balanced_accuracy":  # mean recall over the classes present in y
        recalls = [r for r, n in ((tp / max(n_pos, 1.0), n_pos), (tn / max(n_neg, 1.0), n_neg))
                   if n > 0]
        return np.mean(recalls, axis=0)
    f1_pos, f1_neg = _f1(tp, fp, fn), _f1(tn, fn, fp)
    if metric == "f1":
        return f1_pos
    if metric == "f1_weighted":
        return (f1_pos * n_pos + f1_neg * n_neg) / (n_pos + n_neg)
    if metric == "f1_macro":  # over the classes in the truth or in the labels
        in_pos = ((n_pos > 0) | (tp + fp > 0)).astype(np.float64)
        in_neg = ((n_neg > 0) | (tn + fn > 0)).astype(np.float64)
        return (f1_pos * in_pos + f1_neg * in_neg) / (in_pos + in_neg)
    raise ConfigError(f"The metric {metric!r} does not label rows by a threshold; "
                      "label_scores takes accuracy, balanced_accuracy or an F1 variant.")


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1.0), 0.0)


ThresholdRule = Literal["best", "one_se"]


def decision_threshold(metric: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray, *,
                       n_classes: int | None, rule: ThresholdRule = "best") -> float | None:
    """The positive-class probability from which a binary model should say "positive",
    for a label metric (accuracy, balanced accuracy, F1...); None for any other metric or
    task.

    Chosen on out-of-fold predictions (rows with fold < 0 are left out) among 0.5 and the
    1st to 99th percentiles of the predicted probabilities. ``rule="best"``: the candidate
    with the best mean fold score, on a tie the one nearest 0.5. ``rule="one_se"``: the
    candidate nearest 0.5 whose mean fold score is within one standard error (over the
    folds) of the best, which keeps a noisy maximum from moving the cut far; measured
    level with "best" (``evals.threshold``), so runs use "best". On imbalanced classes F1
    at 0.5 is often far below F1 at a lower cut.
    """
    if not thresholded(metric, n_classes):
        return None
    positive = _as_proba(np.asarray(pred, dtype=np.float64), 2)[:, 1]
    y, folds = np.asarray(y), np.asarray(folds)
    inside = folds >= 0
    candidates = np.unique(np.concatenate(
        [[0.5], np.quantile(positive[inside], np.linspace(0.01, 0.99, 99))]))
    candidates = candidates[np.argsort(np.abs(candidates - 0.5), kind="stable")]
    per_fold = np.array([label_scores(metric, y[folds == f], positive[folds == f], candidates)
                         for f in np.unique(folds[inside])])
    if METRICS[metric].direction == "minimize":
        per_fold = -per_fold
    mean = per_fold.mean(axis=0)
    best = int(np.argmax(mean))  # the first best: nearest 0.5
    if rule == "best" or len(per_fold) < 2:
        return float(candidates[best])
    error = per_fold[:, best].std(ddof=1) / np.sqrt(len(per_fold))
    return float(candidates[int(np.argmax(mean >= mean[best] - error))])


def cv_fold_scores(metric: str, y: np.ndarray, pred: np.ndarray, folds: np.ndarray, *,
                   n_classes: int | None) -> list[float]:
    """The fold scores a search compares candidates by: ``fold_scores``, except that a
    binary label metric labels each fold at the decision threshold chosen on the other
    folds' predictions, as the final model will label new rows at one chosen on all of
    them. No fold's own labels pick the threshold it is scored at, so the score stays an
    out-of-sample estimate, and a model that ranks rows well is not judged by whether its
    probabilities happen to cross 0.5 at the right place.
    """
    if not thresholded(metric, n_classes):
        return fold_scores(metric, y, pred, folds, n_classes=n_classes)
    y, folds = np.asarray(y), np.asarray(folds)
    if len(folds) != len(y):
        raise ValueError(f"folds has {len(folds)} entries and y {len(y)}; they must be equal")
    positive = _as_proba(np.asarray(pred, dtype=np.float64), 2)[:, 1]
    ids = np.unique(folds[folds >= 0])
    if len(ids) < 2:
        return fold_scores(metric, y, pred, folds, n_classes=n_classes)
    scores = []
    for f in ids:
        others = np.where(folds == f, -1, folds)
        t = decision_threshold(metric, y, positive, others, n_classes=2)
        rows = folds == f
        scores.append(float(label_scores(metric, y[rows], positive[rows], np.array([t]))[0]))
    return scores


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
