"""Greedy ensemble selection over the trials' out-of-fold predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas import TrialConfig, TrialResult
from tools.ensemble import EnsembleChoice, select_ensemble
from tools.metrics import cv_fold_scores

_RNG = np.random.default_rng(3)
_N = 400
_Y = _RNG.normal(size=_N)
_FOLDS = np.arange(_N) % 5
_SHARED = _RNG.normal(scale=0.5, size=_N)  # the error the best trial and its near-copies share


def _cv(pred: np.ndarray) -> float:
    return float(np.mean(cv_fold_scores("rmse", _Y, pred, _FOLDS, n_classes=None)))


def _trial(tmp_path: Path, trial_id: int, pred: np.ndarray, *, alpha: float | None = None,
           status: str = "ok") -> TrialResult:
    path = tmp_path / f"pred{trial_id}.npy"
    np.save(path, pred)
    return TrialResult(trial_id=trial_id,
                       config=TrialConfig(family="linear",
                                          params={"alpha": float(trial_id if alpha is None
                                                                 else alpha)}),
                       source="bo", status=status,  # type: ignore[arg-type]
                       predictions_path=path, cv_score=_cv(pred) if status == "ok" else None)


def _select(trials: list[TrialResult], **kwargs: int) -> EnsembleChoice | None:
    return select_ensemble(trials, metric="rmse", direction="minimize", y=_Y, folds=_FOLDS,
                           n_classes=None, **kwargs)


def _copies_and_a_stranger(tmp_path: Path) -> list[TrialResult]:
    """The best trial, eleven near-copies of it, and a weaker trial whose errors differ."""
    trials = [_trial(tmp_path, 0, _Y + _SHARED)]
    for i in range(1, 12):
        trials.append(_trial(tmp_path, i, _Y + _SHARED * (1 + 0.02 * i)))
    trials.append(_trial(tmp_path, 12, _Y + _RNG.normal(scale=0.8, size=_N)))
    return trials


def test_a_weak_trial_with_different_errors_joins_from_beyond_the_ten_best(
        tmp_path: Path) -> None:
    trials = _copies_and_a_stranger(tmp_path)
    ranks = sorted(trials, key=lambda t: t.cv_score or 0.0)
    assert ranks[-1].trial_id == 12  # the stranger is the worst trial on its own
    choice = _select(trials)
    assert choice is not None
    assert [t.trial_id for t in choice.members][:1] == [0]
    assert 12 in {t.trial_id for t in choice.members}
    assert choice.cv_score < trials[0].cv_score  # type: ignore[operator]
    # the weighted out-of-fold predictions are what the CV score was computed on
    assert choice.cv_score == pytest.approx(_cv(choice.oof))
    assert sum(choice.weights) == pytest.approx(1.0)
    # with the ten best alone, only copies of the best were there to choose from
    narrow = _select(trials, n_candidates=10)
    assert narrow is not None and 12 not in {t.trial_id for t in narrow.members}
    assert choice.cv_score < narrow.cv_score


def test_one_member_is_the_best_trial_alone(tmp_path: Path) -> None:
    trials = _copies_and_a_stranger(tmp_path)
    choice = _select(trials, max_members=1)
    assert choice is not None
    assert [t.trial_id for t in choice.members] == [0] and choice.weights == (1.0,)
    assert choice.cv_score == pytest.approx(trials[0].cv_score)


def test_members_are_capped_and_weights_count_the_picks(tmp_path: Path) -> None:
    trials = [_trial(tmp_path, i, _Y + _RNG.normal(scale=0.5, size=_N)) for i in range(12)]
    choice = _select(trials, max_members=3, n_rounds=30)
    assert choice is not None and len(choice.members) == 3  # independent errors: all help
    assert len({t.config.key() for t in choice.members}) == 3
    assert sum(choice.weights) == pytest.approx(1.0)
    assert list(choice.weights) == sorted(choice.weights, reverse=True)
    # each weight is a member's share of the picks, some number of rounds up to 30
    assert any(np.allclose(np.asarray(choice.weights) * n, np.round(np.asarray(choice.weights) * n))
               for n in range(3, 31))


def test_failed_trials_and_repeated_configurations_are_left_out(tmp_path: Path) -> None:
    best = _trial(tmp_path, 0, _Y + _SHARED)
    repeat = _trial(tmp_path, 1, _Y + _SHARED * 1.01, alpha=0.0)  # the same configuration
    failed = _trial(tmp_path, 2, _Y, status="failed")
    stranger = _trial(tmp_path, 3, _Y + _RNG.normal(scale=0.5, size=_N))
    choice = _select([failed, repeat, best, stranger])
    assert choice is not None
    ids = {t.trial_id for t in choice.members}
    assert 2 not in ids and 1 not in ids and {0, 3} <= ids
    assert _select([failed]) is None
    assert _select([]) is None
