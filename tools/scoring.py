"""Score a finished trial from its out-of-fold predictions, in the parent process.

Scores never come from a trial's own output: the executor only hands back
predictions, and this module computes the metric on the known labels.
"""

from __future__ import annotations

import logging

import numpy as np

from schemas import TaskType, TrialResult
from tools.metrics import (
    cv_fold_scores,
    decision_threshold,
    dummy_prediction,
    fold_scores,
    score,
    thresholded,
)

log = logging.getLogger(__name__)


def score_trial(result: TrialResult, *, metric: str, y: np.ndarray, folds: np.ndarray,
                n_classes: int | None) -> TrialResult:
    """Return ``result`` with its CV score filled in, or marked failed if the output is unusable."""
    if not result.ok or result.predictions_path is None:
        return result
    try:
        pred = np.load(result.predictions_path, allow_pickle=False)
        expected = (len(y), n_classes) if n_classes else (len(y),)
        if pred.shape != expected or not np.isfinite(pred).all():
            raise ValueError(f"predictions of shape {pred.shape} (expected {expected}) "
                             "or with non-finite values")
        scores = cv_fold_scores(metric, y, pred, folds, n_classes=n_classes)
        threshold = decision_threshold(metric, y, pred, folds, n_classes=n_classes)
    except (OSError, ValueError) as exc:
        log.info("trial %d: unusable predictions: %s", result.trial_id, exc)
        return result.model_copy(update={
            "status": "failed", "failure": "invalid_output", "error": str(exc)[-2000:]})
    return result.model_copy(update={
        "cv_score": float(np.mean(scores)),
        "cv_std": float(np.std(scores)),
        "fold_scores": tuple(float(s) for s in scores),
        "train_score": _train_score(result, metric=metric, y=y, n_classes=n_classes,
                                    threshold=threshold),
    })


def _train_score(result: TrialResult, *, metric: str, y: np.ndarray, n_classes: int | None,
                 threshold: float | None) -> float | None:
    """The in-sample score (train/CV gap check), at the decision threshold the trial's
    out-of-fold predictions choose (label metrics of binary tasks); None when missing or
    unusable."""
    if result.train_predictions_path is None:
        return None
    try:
        table = np.load(result.train_predictions_path, allow_pickle=False)
        rows = table[:, 0].astype(np.int64)
        if len(rows) == 0 or rows.min() < 0 or rows.max() >= len(y):
            return None
        pred = table[:, 1:] if n_classes else table[:, 1]
        return score(metric, y[rows], pred, n_classes=n_classes, threshold=threshold)
    except (OSError, ValueError, IndexError) as exc:
        log.info("trial %d: no train score: %s", result.trial_id, exc)
        return None


def dummy_oof(y: np.ndarray, folds: np.ndarray, *, task_type: TaskType,
              n_classes: int | None) -> np.ndarray:
    """The dummy baseline's out-of-fold predictions: each fold gets the class priors (or
    mean) of the other folds."""
    y, folds = np.asarray(y), np.asarray(folds)
    pred = np.zeros((len(y), n_classes) if n_classes else len(y), dtype=np.float64)
    for fold in np.unique(folds[folds >= 0]):
        valid = folds == fold
        pred[valid] = dummy_prediction(y[~valid], int(valid.sum()), task_type=task_type,
                                       n_classes=n_classes)
    return pred


def dummy_cv_score(metric: str, y: np.ndarray, folds: np.ndarray, *, task_type: TaskType,
                   n_classes: int | None) -> float:
    """The dummy baseline's CV score on the same folds: what every trial must beat.

    For a binary label metric the dummy labels every fold by its own decision threshold
    (``dummy_threshold``): it says "positive" to every row or to none, whichever scores
    better, a one-bit choice that needs no cross-fitting.
    """
    pred = dummy_oof(y, folds, task_type=task_type, n_classes=n_classes)
    threshold = dummy_threshold(metric, y, folds, n_classes=n_classes)
    return float(np.mean(fold_scores(metric, y, pred, folds, n_classes=n_classes,
                                     threshold=threshold)))


def dummy_threshold(metric: str, y: np.ndarray, folds: np.ndarray, *,
                    n_classes: int | None) -> float | None:
    """The dummy's own decision threshold (binary label metrics; else None): for F1 it
    says "positive" for every row, which is the baseline a model must beat, not F1 0 from
    never saying it."""
    if not thresholded(metric, n_classes):
        return None
    pred = dummy_oof(y, folds, task_type="binary", n_classes=n_classes)
    return decision_threshold(metric, y, pred, folds, n_classes=n_classes)
