"""The hybrid rule: when the LLM proposes, when BO does, and when BO takes over for good.

The rule, in rounds (a round is one ``plan → execute → verify → decide`` pass):

1. Without an LLM every round is a BO round, from the first trial.
2. With one, the first round is an LLM round: its proposals are enqueued into
   the optuna study ahead of the family defaults, so they warm-start BO.
   After an LLM round come ``bo_trials_per_cycle`` BO trials (queued defaults
   and repairs first, then sampled ones), then the next LLM round, and so on.
3. BO takes over alone, for the rest of the run, when the LLM gave no valid
   proposal in ``max_invalid`` rounds in a row, or when its proposals did not
   improve the best cross-validated score for ``patience`` LLM rounds in a row.
4. BO always sees every finished trial, whoever proposed it, because all of
   them go through the same study.

``PolicyState`` is the small, serialisable part of the graph state that this
rule reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas import Direction, TrialResult
from tools.bo import SamplerName
from tools.leaderboard import is_scored
from tools.metrics import is_better

RoundKind = Literal["llm", "bo"]


@dataclass(frozen=True)
class HybridRule:
    """The rule's knobs (see the module docstring)."""

    llm_batch: int = 4
    bo_trials_per_cycle: int = 4
    max_invalid: int = 2
    patience: int = 3
    bo_round: int = 2  # BO trials per round when BO runs alone (times the worker count)


class SearchSettings(BaseModel):
    """How BO searches: the sampler, and whether the family defaults open the run.

    The defaults are mlpilot's choice (TPE, every family's expert default
    first, the engine's warm start-up rule); the benchmark's baselines
    (``random``, plain ``tpe``, ``gp``) change them. Kept in the run's request,
    so a resumed run searches the same way.
    """

    model_config = ConfigDict(frozen=True)

    sampler: SamplerName = "tpe"
    defaults: bool = True  # queue each family's default configuration first
    n_startup_trials: int | None = Field(default=None, ge=0)  # None: the warm start-up rule


class PolicyState(BaseModel):
    model_config = ConfigDict(frozen=True)

    llm_active: bool
    next_round: RoundKind
    n_invalid_in_a_row: int = 0
    n_llm_rounds_without_gain: int = 0
    n_llm_rounds: int = 0
    handover: str | None = None  # why BO runs alone (None while the LLM takes part)


def initial_policy(has_llm: bool) -> PolicyState:
    if has_llm:
        return PolicyState(llm_active=True, next_round="llm")
    return PolicyState(llm_active=False, next_round="bo", handover="no LLM configured")


def round_size(policy: PolicyState, rule: HybridRule, *, n_workers: int, remaining: int) -> int:
    """How many trials a BO round runs (an LLM round runs as many as it proposed)."""
    per_round = rule.bo_trials_per_cycle if policy.llm_active else rule.bo_round * n_workers
    return max(1, min(remaining, per_round))


def after_round(policy: PolicyState, rule: HybridRule, *, kind: RoundKind,
                n_valid_proposals: int, new_trials: list[TrialResult],
                best_before: float | None, direction: Direction) -> PolicyState:
    """The policy after a round: who plans next, and whether BO takes over."""
    if not policy.llm_active:
        return policy
    if kind == "bo":
        return policy.model_copy(update={"next_round": "llm"})
    update: dict[str, object] = {"n_llm_rounds": policy.n_llm_rounds + 1, "next_round": "bo"}
    if n_valid_proposals == 0:
        n_invalid = policy.n_invalid_in_a_row + 1
        update["n_invalid_in_a_row"] = n_invalid
        if n_invalid >= rule.max_invalid:
            return _handover(policy, update, f"the LLM gave no valid proposal in {n_invalid} "
                                             "rounds in a row")
        return policy.model_copy(update=update)
    update["n_invalid_in_a_row"] = 0
    gained = any(is_scored(t) and t.cv_score is not None and (
        best_before is None or is_better(t.cv_score, best_before, direction))
        for t in new_trials if t.source == "llm")
    stale = 0 if gained else policy.n_llm_rounds_without_gain + 1
    update["n_llm_rounds_without_gain"] = stale
    if stale >= rule.patience:
        return _handover(policy, update, f"the LLM's proposals did not improve the best score "
                                         f"in {stale} rounds in a row")
    return policy.model_copy(update=update)


def llm_failed(policy: PolicyState, reason: str) -> PolicyState:
    """The LLM cannot be used any more (broken provider, missing model): BO alone."""
    return _handover(policy, {}, reason)


def _handover(policy: PolicyState, update: dict[str, object], reason: str) -> PolicyState:
    return policy.model_copy(update={**update, "llm_active": False, "next_round": "bo",
                                     "handover": reason})
