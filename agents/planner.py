"""The planner: asks the LLM for a batch of configurations and keeps only valid, new ones.

The model sees the task, the training part's profile, the catalog and the
trials so far. Whatever it answers is validated against the catalog (numbers
clamped into range, missing parameters filled, unknown families dropped) and
checked for duplicates; an answer that cannot be parsed even after the
client's repair round yields no proposal, and the policy counts that round as
invalid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agents._answers import RATIONALE_CHARS, batch_answer_model, to_config
from agents._describe import context_messages, describe_trials, shown_spaces
from prompts import render
from schemas import DatasetProfile, FamilySpace, LLMError, Proposal, TaskSpec, TrialResult

if TYPE_CHECKING:
    from tools.llm import LLMClient

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class PlanRequest:
    task: TaskSpec
    profile: DatasetProfile
    spaces: Sequence[FamilySpace]
    trials: Sequence[TrialResult]
    n: int
    retrieved: str = "none"


@dataclass(frozen=True)
class PlanResult:
    proposals: tuple[Proposal, ...]
    n_rejected: int = 0
    error: str | None = None  # why there is no proposal at all


class Proposer(Protocol):
    def propose(self, request: PlanRequest) -> PlanResult: ...


class LLMPlanner:
    """A ``Proposer`` backed by an ``LLMClient``."""

    def __init__(self, llm: LLMClient, *, max_tokens: int = 1536) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    def propose(self, request: PlanRequest) -> PlanResult:
        shown = shown_spaces(request.spaces, request.profile)
        job = render("planner", n=request.n, memory=request.retrieved,
                     trials=describe_trials(request.trials, request.task, shown=shown))
        messages = context_messages(request.task, request.profile, shown, job)
        answer_model = batch_answer_model(shown, request.n)
        try:
            answer = self.llm.complete(messages, answer_model, purpose="plan",
                                       max_tokens=self.max_tokens)
        except LLMError as exc:
            log.warning("planner: %s", exc)
            return PlanResult(proposals=(), error=str(exc))
        seen = {t.config.key() for t in request.trials}
        proposals: list[Proposal] = []
        n_rejected = 0
        for raw in answer.proposals[:request.n]:
            config = to_config(raw, request.spaces)
            if config is None or config.key() in seen:
                n_rejected += 1
                continue
            seen.add(config.key())
            proposals.append(Proposal(config=config, source="llm",
                                      rationale=raw.rationale.strip()[:RATIONALE_CHARS]))
        error = None if proposals else (
            f"none of the {len(answer.proposals)} proposals was valid and new")
        return PlanResult(proposals=tuple(proposals), n_rejected=n_rejected, error=error)
