"""Trials are scored in the parent from their predictions, as the search compares them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas import TrialConfig, TrialResult
from tools.metrics import fold_scores, score
from tools.scoring import dummy_cv_score, dummy_threshold, score_trial

_RNG = np.random.default_rng(7)
_N = 600
_Y = (_RNG.random(_N) < 0.12).astype(int)
_FOLDS = np.arange(_N) % 3
# a model that ranks rows well but never says "positive" at 0.5
_P1 = np.clip(0.05 + 0.3 * _Y + _RNG.normal(scale=0.07, size=_N), 0, 0.49)


def _trial(tmp_path: Path, pred: np.ndarray, train: np.ndarray | None = None) -> TrialResult:
    np.save(tmp_path / "pred.npy", pred)
    train_path = None
    if train is not None:
        train_path = tmp_path / "train.npy"
        np.save(train_path, train)
    return TrialResult(trial_id=1, config=TrialConfig(family="linear", params={}),
                       source="bo", status="ok", predictions_path=tmp_path / "pred.npy",
                       train_predictions_path=train_path)


def test_a_label_metric_scores_each_fold_at_the_other_folds_threshold(tmp_path: Path) -> None:
    proba = np.column_stack([1 - _P1, _P1])
    rows = np.arange(0, _N, 2)
    train = np.column_stack([rows, proba[rows]])
    scored = score_trial(_trial(tmp_path, proba, train), metric="f1", y=_Y, folds=_FOLDS,
                         n_classes=2)
    assert np.mean(fold_scores("f1", _Y, proba, _FOLDS, n_classes=2)) == 0.0
    assert scored.cv_score is not None and scored.cv_score > 0.8
    assert scored.cv_score == pytest.approx(np.mean(scored.fold_scores))
    # the in-sample score is taken at a threshold too, so the train/CV gap compares like
    # with like (at 0.5 it would be 0)
    assert scored.train_score is not None and scored.train_score > 0.8
    # a probability metric is untouched
    auc = score_trial(_trial(tmp_path, proba), metric="roc_auc", y=_Y, folds=_FOLDS,
                      n_classes=2)
    assert auc.fold_scores == tuple(fold_scores("roc_auc", _Y, proba, _FOLDS, n_classes=2))


def test_unusable_predictions_fail_the_trial(tmp_path: Path) -> None:
    bad = np.full((_N, 2), np.nan)
    scored = score_trial(_trial(tmp_path, bad), metric="f1", y=_Y, folds=_FOLDS, n_classes=2)
    assert scored.status == "failed" and scored.failure == "invalid_output"


def test_the_dummy_of_a_label_metric_says_positive_to_every_row_when_that_scores_best() -> None:
    prior = _Y.mean()
    every = 2 * prior / (1 + prior)  # F1 of "positive" for every row
    assert dummy_cv_score("f1", _Y, _FOLDS, task_type="binary", n_classes=2) == \
        pytest.approx(every, abs=0.02)
    t = dummy_threshold("f1", _Y, _FOLDS, n_classes=2)
    assert t is not None and t <= prior
    held_out = _Y[:100]
    dummy = np.tile([1 - prior, prior], (100, 1))
    assert score("f1", held_out, dummy, n_classes=2, threshold=t) > 0.1
    # accuracy's dummy stays the majority class
    assert dummy_cv_score("accuracy", _Y, _FOLDS, task_type="binary", n_classes=2) == \
        pytest.approx(1 - prior, abs=0.01)
    assert dummy_threshold("roc_auc", _Y, _FOLDS, n_classes=2) is None
    assert dummy_threshold("rmse", _Y.astype(float), _FOLDS, n_classes=None) is None
