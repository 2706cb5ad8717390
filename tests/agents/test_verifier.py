"""The verifier's deterministic checks, and the critic's repairs through a scripted LLM."""

from __future__ import annotations

from agents.verifier import CheckContext, check_trial
from schemas import TrialConfig, TrialResult

CTX = CheckContext(metric="roc_auc", direction="maximize", dummy_cv_score=0.5)


def _trial(i: int = 0, score: float | None = 0.9, std: float = 0.01, c: float = 1.0,
           failure: str | None = None) -> TrialResult:
    ok = score is not None
    n_folds = 3
    return TrialResult(trial_id=i, config=TrialConfig(family="linear", params={"C": c}),
                       source="bo", status="ok" if ok else "failed", cv_score=score,
                       cv_std=std if ok else None,
                       fold_scores=(score,) * n_folds if ok else (),
                       error=None if ok else "boom", failure=failure if not ok else None)


def test_a_sound_trial_is_ok() -> None:
    verdict = check_trial(_trial(), earlier=[], ctx=CTX)
    assert verdict.status == "ok" and verdict.flags == ()


def test_no_better_than_dummy() -> None:
    verdict = check_trial(_trial(score=0.5), earlier=[], ctx=CTX)
    assert verdict.status == "suspicious" and "no_better_than_dummy" in verdict.flags


def test_unstable_cv() -> None:
    verdict = check_trial(_trial(score=0.6, std=0.08), earlier=[], ctx=CTX)
    assert "unstable_cv" in verdict.flags


def test_perfect_score_is_suspect() -> None:
    verdict = check_trial(_trial(score=1.0, std=0.0), earlier=[], ctx=CTX)
    assert "too_good" in verdict.flags
    rmse = CheckContext(metric="rmse", direction="minimize", dummy_cv_score=50.0)
    assert "too_good" in check_trial(_trial(score=0.0, std=0.0), earlier=[], ctx=rmse).flags
    assert "too_good" not in check_trial(_trial(score=3.0, std=0.1), earlier=[],
                                         ctx=rmse).flags


def test_duplicate_configuration() -> None:
    verdict = check_trial(_trial(i=1), earlier=[_trial(i=0)], ctx=CTX)
    assert "duplicate" in verdict.flags


def test_failed_trial_and_limits() -> None:
    verdict = check_trial(_trial(score=None, failure="timeout"), earlier=[], ctx=CTX)
    assert verdict.status == "failed" and set(verdict.flags) == {"failed", "limit"}
    verdict = check_trial(_trial(score=None, failure="exception"), earlier=[], ctx=CTX)
    assert verdict.flags == ("failed",)


def test_a_train_score_far_above_cv_is_overfit() -> None:
    memorised = _trial(score=0.6, std=0.01).model_copy(update={"train_score": 1.0})
    assert "overfit" in check_trial(memorised, earlier=[], ctx=CTX).flags
    forest = _trial(score=0.99, std=0.01).model_copy(update={"train_score": 1.0})
    assert "overfit" not in check_trial(forest, earlier=[], ctx=CTX).flags
