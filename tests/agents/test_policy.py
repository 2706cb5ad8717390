"""The hybrid rule: who plans each round, and when BO takes over for good."""

from __future__ import annotations

from agents._policy import (
    HybridRule,
    after_round,
    default_code_mode,
    initial_policy,
    llm_failed,
    round_size,
)
from schemas import TrialConfig, TrialResult

RULE = HybridRule(llm_batch=3, bo_trials_per_cycle=2, max_invalid=2, patience=2, bo_round=2)


def _trial(i: int, score: float | None, source: str = "llm") -> TrialResult:
    ok = score is not None
    return TrialResult(trial_id=i, config=TrialConfig(family="linear", params={"C": float(i)}),
                       source=source, status="ok" if ok else "failed", cv_score=score,
                       error=None if ok else "boom", failure=None if ok else "exception")


def test_without_llm_every_round_is_bo_and_the_reason_is_recorded() -> None:
    policy = initial_policy(has_llm=False)
    assert not policy.llm_active and policy.next_round == "bo"
    assert policy.handover == "no LLM configured"
    assert round_size(policy, RULE, n_workers=3, remaining=100) == 6
    assert round_size(policy, RULE, n_workers=3, remaining=4) == 4


def test_with_plan_ahead_a_bo_round_opens_the_run() -> None:
    policy = initial_policy(has_llm=True)
    assert policy.llm_active and policy.next_round == "bo"
    assert round_size(policy, RULE, n_workers=4, remaining=100) == 2
    assert round_size(policy, RULE, n_workers=4, remaining=3) == 1  # the LLM's turn comes
    assert round_size(policy, RULE, n_workers=4, remaining=1) == 1
    policy = after_round(policy, RULE, kind="bo", n_valid_proposals=0,
                         new_trials=[_trial(0, 0.5, "default")], best_before=None,
                         direction="maximize")
    assert policy.next_round == "llm" and policy.n_llm_rounds == 0


def test_llm_and_bo_rounds_alternate() -> None:
    policy = initial_policy(has_llm=True, plan_ahead=False)
    assert policy.next_round == "llm"
    policy = after_round(policy, RULE, kind="llm", n_valid_proposals=3,
                         new_trials=[_trial(0, 0.9)], best_before=None, direction="maximize")
    assert policy.next_round == "bo" and policy.llm_active
    assert round_size(policy, RULE, n_workers=4, remaining=100) == 2
    policy = after_round(policy, RULE, kind="bo", n_valid_proposals=0,
                         new_trials=[_trial(1, 0.5, "bo")], best_before=0.9,
                         direction="maximize")
    assert policy.next_round == "llm"


def test_invalid_output_twice_hands_over_to_bo() -> None:
    policy = initial_policy(has_llm=True)
    policy = after_round(policy, RULE, kind="llm", n_valid_proposals=0, new_trials=[],
                         best_before=None, direction="maximize")
    assert policy.llm_active and policy.n_invalid_in_a_row == 1
    policy = after_round(policy, RULE, kind="bo", n_valid_proposals=0, new_trials=[],
                         best_before=None, direction="maximize")
    policy = after_round(policy, RULE, kind="llm", n_valid_proposals=0, new_trials=[],
                         best_before=None, direction="maximize")
    assert not policy.llm_active
    assert policy.handover is not None and "no valid proposal in 2 rounds" in policy.handover


def test_a_valid_round_resets_the_invalid_count() -> None:
    policy = initial_policy(has_llm=True)
    policy = after_round(policy, RULE, kind="llm", n_valid_proposals=0, new_trials=[],
                         best_before=None, direction="maximize")
    policy = after_round(policy, RULE, kind="llm", n_valid_proposals=2,
                         new_trials=[_trial(0, 0.8)], best_before=None, direction="maximize")
    assert policy.n_invalid_in_a_row == 0 and policy.llm_active


def test_no_improvement_for_patience_rounds_hands_over() -> None:
    policy = initial_policy(has_llm=True)
    for i in range(2):
        assert policy.llm_active
        # the LLM's trial is worse than the best so far (minimize: higher is worse)
        policy = after_round(policy, RULE, kind="llm", n_valid_proposals=3,
                             new_trials=[_trial(i, 2.0)], best_before=1.0,
                             direction="minimize")
    assert not policy.llm_active
    assert policy.handover is not None and "did not improve" in policy.handover


def test_an_improvement_by_bo_does_not_count_for_the_llm() -> None:
    policy = initial_policy(has_llm=True)
    policy = after_round(policy, RULE, kind="llm", n_valid_proposals=3,
                         new_trials=[_trial(0, 0.99, "bo"), _trial(1, 0.5)], best_before=0.9,
                         direction="maximize")
    assert policy.n_llm_rounds_without_gain == 1


def test_a_broken_llm_hands_over_at_once() -> None:
    policy = llm_failed(initial_policy(has_llm=True), "the LLM failed: APIError")
    assert not policy.llm_active and policy.handover == "the LLM failed: APIError"
    same = after_round(policy, RULE, kind="bo", n_valid_proposals=0, new_trials=[],
                       best_before=None, direction="maximize")
    assert same == policy


def test_code_rounds_are_off_by_default_only_with_the_embedded_small_model() -> None:
    assert default_code_mode("local") == "off"
    for name in ("local-1.5b", "openai/gpt-4o-mini", "none", None):
        assert default_code_mode(name) == "auto"
