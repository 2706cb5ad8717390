"""The hybrid rule: when the LLM proposes, when BO does, and when BO takes over for good.

The rule, in rounds (a round is one ``plan → execute → verify → decide`` pass):

1. Without an LLM every round is a BO round, from the first trial.
2. With one, LLM rounds and BO rounds alternate: an LLM round runs the
   planner's configurations, a BO round ``bo_trials_per_cycle`` trials (queued
   memory points, defaults and repairs first, then sampled ones). The planner
   thinks while a BO round trains (``SearchSettings.plan_ahead``): the run
   opens with a BO round, during which the planner is asked for the first LLM
   round, and each later BO round asks it for the next one, with the trials
   finished before that BO round (see ``agents._plan_ahead``). Without
   plan-ahead the run opens with an LLM round and each call waits for the
   trials before it, with the workers idle while the model writes.
3. BO takes over alone, for the rest of the run, when the LLM gave no valid
   proposal in ``max_invalid`` rounds in a row, or when its proposals did not
   improve the best cross-validated score for ``patience`` LLM rounds in a row.
4. BO always sees every finished trial, whoever proposed it, because all of
   them go through the same study.
5. Code proposals (``SearchSettings.code``): with ``"auto"``, an LLM round
   becomes a *code round* — the LLM writes one model as a Python module — when
   the best cross-validated score has not improved for ``code_stall_rounds``
   rounds in a row (the catalog's families have stalled); with ``"on"``, the
   LLM rounds after the first are code rounds; with ``"off"``, never. At most
   ``max_code_proposals`` modules are written per run. A module that fails (its
   static check or its trial) goes to the verifier, whose critic may return a
   repaired module, at most ``max_repairs`` times per proposal; each repair runs
   in the next round, as a trial with source ``repair``. Code trials run in the
   sandbox and are scored by the same harness, but they are not told to the
   optuna study (their parameters are not the catalog's).

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

RoundKind = Literal["llm", "bo", "code"]
CodeMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class HybridRule:
    """The rule's knobs (see the module docstring)."""

    llm_batch: int = 4
    bo_trials_per_cycle: int = 4
    max_invalid: int = 2
    patience: int = 3
    bo_round: int = 2  # BO trials per round when BO runs alone (times the worker count)
    code_stall_rounds: int = 2
    max_code_proposals: int = 1
    max_repairs: int = 2


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
    code: CodeMode = "auto"  # when the LLM writes models as code (rule 5)
    plan_ahead: bool = True  # the planner is asked while a BO round trains (rule 2)


class PolicyState(BaseModel):
    model_config = ConfigDict(frozen=True)

    llm_active: bool
    next_round: RoundKind
    n_invalid_in_a_row: int = 0
    n_llm_rounds_without_gain: int = 0
    n_llm_rounds: int = 0
    n_rounds_without_gain: int = 0  # rounds of any kind since the best score last improved
    n_code_proposals: int = 0  # modules the LLM was asked to write
    handover: str | None = None  # why BO runs alone (None while the LLM takes part)


def default_code_mode(llm_name: str | None) -> CodeMode:
    """What ``--code`` means when not given: ``auto``, but ``off`` with the embedded 0.5B
    model (``local``). None of its 5 modules in six measured runs gave a scored trial, and the
    code rounds made the search 1.2 times as long (``docs/benchmarks/code-rounds/``); a larger
    model may write better ones."""
    return "off" if llm_name == "local" else "auto"


def initial_policy(has_llm: bool, *, plan_ahead: bool = True) -> PolicyState:
    if has_llm:
        return PolicyState(llm_active=True, next_round="bo" if plan_ahead else "llm")
    return PolicyState(llm_active=False, next_round="bo", handover="no LLM configured")


def round_size(policy: PolicyState, rule: HybridRule, *, n_workers: int, remaining: int) -> int:
    """How many trials a BO round runs (an LLM round runs as many as it proposed)."""
    per_round = rule.bo_trials_per_cycle if policy.llm_active else rule.bo_round * n_workers
    if policy.llm_active and policy.n_llm_rounds == 0:  # the opening round leaves the LLM half
        per_round = min(per_round, remaining // 2)
    return max(1, min(remaining, per_round))


def wants_code(policy: PolicyState, rule: HybridRule, mode: CodeMode) -> bool:
    """Whether the LLM round that is due should be a code round (rule 5)."""
    if (mode == "off" or not policy.llm_active or policy.next_round != "llm"
            or policy.n_code_proposals >= rule.max_code_proposals):
        return False
    if mode == "on":
        return policy.n_llm_rounds >= 1
    return policy.n_rounds_without_gain >= rule.code_stall_rounds


def code_asked(policy: PolicyState) -> PolicyState:
    """The policy once the LLM has been asked for a module (whether or not it wrote one)."""
    return policy.model_copy(update={"n_code_proposals": policy.n_code_proposals + 1})


def after_round(policy: PolicyState, rule: HybridRule, *, kind: RoundKind,
                n_valid_proposals: int, new_trials: list[TrialResult],
                best_before: float | None, direction: Direction,
                error: str | None = None) -> PolicyState:
    """The policy after a round: who plans next, and whether BO takes over; ``error``:
    why an LLM round had no valid proposal (the handover quotes the last one)."""
    if not policy.llm_active:
        return policy
    improved = any(is_scored(t) and t.cv_score is not None and (
        best_before is None or is_better(t.cv_score, best_before, direction))
        for t in new_trials)
    stalled = 0 if improved else policy.n_rounds_without_gain + 1
    if kind == "bo":
        return policy.model_copy(update={"next_round": "llm", "n_rounds_without_gain": stalled})
    if kind == "code":  # neither an LLM round of the catalog nor a BO round: BO comes next
        return policy.model_copy(update={"next_round": "bo", "n_rounds_without_gain": stalled})
    update: dict[str, object] = {"n_llm_rounds": policy.n_llm_rounds + 1, "next_round": "bo",
                                 "n_rounds_without_gain": stalled}
    if n_valid_proposals == 0:
        n_invalid = policy.n_invalid_in_a_row + 1
        update["n_invalid_in_a_row"] = n_invalid
        if n_invalid >= rule.max_invalid:
            last = "" if not error else f" (the last: {_clip(error)})"
            return _handover(policy, update, f"the LLM gave no valid proposal in {n_invalid} "
                                             f"rounds in a row{last}")
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


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _handover(policy: PolicyState, update: dict[str, object], reason: str) -> PolicyState:
    return policy.model_copy(update={**update, "llm_active": False, "next_round": "bo",
                                     "handover": reason})
