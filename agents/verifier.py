"""The verifier: deterministic checks on every result, then the LLM critic where needed.

Checks (a ``Verdict`` lists the flags that fired):

- ``failed``: no predictions came back; ``limit`` when it hit the time or
  memory limit;
- ``no_better_than_dummy``: the CV score does not beat the dummy baseline's CV
  score on the same folds;
- ``unstable_cv``: the spread of the fold scores is more than half of the
  trial's gain over the dummy — the ranking of such a trial is mostly noise;
- ``too_good``: a perfect score (a bounded metric at its best, an error of
  zero): suspect a leak such as a copy of the target among the features;
- ``overfit``: the first fold's model scores better on its own training rows
  than in cross-validation by more than the whole CV gain over the dummy;
- ``duplicate``: the same configuration ran before.

The critic (an LLM) is asked only about failed or suspicious trials, one
per round; it may answer with a repaired configuration, which is validated
like any proposal and enters the study with source ``repair``.

A failed code proposal (its module refused by the static check, or its trial
failed in the sandbox) goes to the coder instead, with the end of its error: it
may write a repaired module, at most ``max_repairs`` times per proposal; after
that, or without an LLM, the proposal is rejected and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents._answers import RATIONALE_CHARS, critic_answer_model, to_config
from agents._describe import context_messages, describe_trial, shown_spaces
from agents.coder import Coder, RepairRequest, same_code
from prompts import render
from schemas import (
    CheckName,
    CodeDraft,
    DatasetProfile,
    Direction,
    FamilySpace,
    LLMError,
    Proposal,
    TaskSpec,
    TrialResult,
    Verdict,
    is_code_family,
)
from tools.metrics import is_better

if TYPE_CHECKING:
    from tools.llm import LLMClient

log = logging.getLogger(__name__)

_BOUNDED_BEST = {"roc_auc": 1.0, "accuracy": 1.0, "balanced_accuracy": 1.0, "f1": 1.0,
                 "f1_macro": 1.0, "f1_weighted": 1.0, "r2": 1.0}
_ERRORS = ("rmse", "mae", "log_loss")
_CRITIC_FLAGS: frozenset[CheckName] = frozenset(
    {"failed", "no_better_than_dummy", "unstable_cv", "too_good", "overfit"})


@dataclass(frozen=True)
class CheckContext:
    metric: str
    direction: Direction
    dummy_cv_score: float


def check_trial(trial: TrialResult, *, earlier: Sequence[TrialResult],
                ctx: CheckContext) -> Verdict:
    """The deterministic verdict on one finished trial (``earlier``: trials before it)."""
    flags: list[CheckName] = []
    details: list[str] = []
    if any(t.config.key() == trial.config.key() for t in earlier):
        flags.append("duplicate")
        details.append("the same configuration ran before")
    if not trial.ok or trial.cv_score is None:
        flags.append("failed")
        if trial.failure in ("timeout", "memory"):
            flags.append("limit")
        details.append(f"failed ({trial.failure})")
        return Verdict(trial_id=trial.trial_id, status="failed", flags=tuple(flags),
                       details=tuple(details))
    score, dummy = trial.cv_score, ctx.dummy_cv_score
    if not is_better(score, dummy, ctx.direction):
        flags.append("no_better_than_dummy")
        details.append(f"cv {score:.4g} does not beat the dummy's {dummy:.4g}")
    gain = abs(score - dummy)
    if trial.cv_std is not None and gain > 0 and trial.cv_std > 0.5 * gain:
        flags.append("unstable_cv")
        details.append(f"fold spread {trial.cv_std:.4g} is over half the gain {gain:.4g} "
                       "over the dummy")
    train = trial.train_score
    if train is not None and gain > 0 and is_better(train, score, ctx.direction) \
            and abs(train - score) > gain:
        flags.append("overfit")
        details.append(f"train score {train:.4g} against cv {score:.4g}: the gap is larger "
                       f"than the gain {gain:.4g} over the dummy")
    if _too_good(ctx.metric, score, dummy):
        flags.append("too_good")
        details.append(f"a perfect cv {score:.4g}: check for a leak of the target")
    status = "suspicious" if flags else "ok"
    return Verdict(trial_id=trial.trial_id, status=status, flags=tuple(flags),
                   details=tuple(details))


def _too_good(metric: str, score: float, dummy: float) -> bool:
    if metric in _BOUNDED_BEST:
        return score >= _BOUNDED_BEST[metric] - 1e-9
    if metric in _ERRORS:
        return score <= 1e-9 * max(abs(dummy), 1.0)
    return False


class Verifier:
    """Checks every new trial; asks the critic (if any) about up to ``max_critic`` of them."""

    def __init__(self, llm: LLMClient | None = None, *, max_critic: int = 1,
                 coder: Coder | None = None, max_repairs: int = 2) -> None:
        self.llm = llm
        self.max_critic = max_critic
        self.coder = coder
        self.max_repairs = max_repairs

    def verify(self, new: Sequence[TrialResult], *, earlier: Sequence[TrialResult],
               ctx: CheckContext, task: TaskSpec, profile: DatasetProfile,
               spaces: Sequence[FamilySpace],
               drafts: Mapping[str, CodeDraft] | None = None) -> list[Verdict]:
        """The verdicts on ``new``; ``drafts`` maps a code trial's family to its module."""
        verdicts: list[Verdict] = []
        seen = list(earlier)
        n_asked = 0
        for trial in new:
            verdict = check_trial(trial, earlier=seen, ctx=ctx)
            seen.append(trial)
            if is_code_family(trial.config.family):
                draft = (drafts or {}).get(trial.config.family)
                if draft is not None and verdict.status == "failed" \
                        and trial.failure != "cancelled":
                    verdict = self._repair_code(trial, verdict, draft, task, profile, spaces)
                verdicts.append(verdict)
                continue
            wants_critic = (bool(_CRITIC_FLAGS & set(verdict.flags))
                            and "duplicate" not in verdict.flags and trial.failure != "cancelled")
            if self.llm is not None and wants_critic and n_asked < self.max_critic:
                n_asked += 1
                verdict = self._critique(trial, verdict, task, profile, spaces, tried=seen)
            verdicts.append(verdict)
        return verdicts

    def _repair_code(self, trial: TrialResult, verdict: Verdict, draft: CodeDraft,
                     task: TaskSpec, profile: DatasetProfile,
                     spaces: Sequence[FamilySpace]) -> Verdict:
        """A repaired module for a failed code trial, or the reason it is rejected."""
        if draft.attempt >= self.max_repairs:
            return verdict.model_copy(update={"critic": f"rejected: it still failed after "
                                                        f"{draft.attempt} repairs"})
        if self.coder is None:
            return verdict.model_copy(update={"critic": "rejected: no LLM to repair it"})
        repair = self.coder.repair(RepairRequest(task=task, profile=profile, spaces=spaces,
                                                 draft=draft, trial=trial))
        if repair is None:
            return verdict.model_copy(update={"critic": "rejected: the LLM gave no usable "
                                                        "repair"})
        if same_code(repair.source, draft.source):
            return verdict.model_copy(update={"critic": "rejected: the repair changed nothing "
                                                        "but the comments"})
        note = f"repair {repair.attempt} of {self.max_repairs}: {repair.rationale}".strip()
        return verdict.model_copy(update={"critic": note[:400], "code_repair": repair})

    def _critique(self, trial: TrialResult, verdict: Verdict, task: TaskSpec,
                  profile: DatasetProfile, spaces: Sequence[FamilySpace],
                  tried: Sequence[TrialResult]) -> Verdict:
        assert self.llm is not None
        job = render("critic", trial=describe_trial(trial),
                     findings="\n".join(f"- {d}" for d in verdict.details))
        shown = shown_spaces(spaces, profile)
        try:
            answer = self.llm.complete(context_messages(task, profile, shown, job),
                                       critic_answer_model(shown), purpose="critic",
                                       max_tokens=768)
        except LLMError as exc:
            log.info("critic on trial %d: %s", trial.trial_id, exc)
            return verdict
        repair = None
        if answer.action == "repair" and answer.repair is not None:
            config = to_config(answer.repair, spaces)
            keys = {t.config.key() for t in tried}
            if config is not None and config.key() not in keys:
                repair = Proposal(config=config, source="repair",
                                  rationale=answer.repair.rationale.strip()[:RATIONALE_CHARS])
        return verdict.model_copy(update={"critic": answer.diagnosis.strip()[:400],
                                          "repair": repair})
