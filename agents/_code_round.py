"""A code round: each module the LLM wrote or repaired is stored, checked and run as a trial.

Every module is kept in the run folder as ``code/<family>.py`` (``family`` is
``code_<digest>``), whether or not it passes, so the report can link it and a
person can rerun it with ``mlpilot exec-code``. A module refused by the static
check becomes a failed trial (failure ``rejected``) without running; one that
passes runs through ``run_code_trial``: the same sandbox, folds and scoring as
every other trial. Neither kind is told to the optuna study.

Safe to re-run after a crash: a trial already in the run's ledger is taken as
it is, and writing a module's file again writes the same text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from agents._code_trial import run_code_trial
from agents._context import RunContext
from agents._search import resolved, write_atomic
from schemas import (
    CodeDraft,
    CodeEntry,
    CodeProposal,
    ProposalError,
    TrialConfig,
    TrialResult,
)
from tools.code import check_code

log = logging.getLogger(__name__)

CODE_DIR = "code"
_MIN_TIMEOUT_S = 1.0


def code_path(run_dir: Path, family: str) -> Path:
    """Where a run keeps the module text of a code family."""
    return run_dir / CODE_DIR / f"{family}.py"


def load_code_proposal(run_dir: Path, family: str, *, name: str,
                       task_type: str) -> CodeProposal:
    """The checked proposal of a code family from the run folder (``ProposalError`` if its
    text is missing or no longer passes the check)."""
    path = code_path(run_dir, family)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProposalError(f"The module of {family} is missing from the run folder: "
                            f"{exc}") from exc
    proposal = check_code(source, name=name, task_type=task_type)  # type: ignore[arg-type]
    if proposal.family != family:
        raise ProposalError(f"The file {path} does not hold the module of {family}; it was "
                            "changed after the run.")
    return proposal


def run_code_round(ctx: RunContext, drafts: Sequence[CodeDraft], *, first_trial_id: int,
                   finished: Mapping[int, TrialResult], deadline: float | None,
                   on_trial: Callable[[TrialResult], None]
                   ) -> tuple[list[TrialResult], list[CodeEntry]]:
    """Store, check and run ``drafts`` as trials ``first_trial_id``, ...; returns the new
    trials and the modules' entries for the run record."""
    p = ctx.prepared
    task_type, _, _ = resolved(p.task)
    budget = p.task.budget
    trials: list[TrialResult] = []
    entries: list[CodeEntry] = []
    for offset, draft in enumerate(drafts):
        trial_id = first_trial_id + offset
        path = code_path(ctx.run_dir, draft.family)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            write_atomic(path, draft.source)
        proposal: CodeProposal | None = None
        rejected: str | None = None
        try:
            proposal = check_code(draft.source, name=draft.name, task_type=task_type)
        except ProposalError as exc:
            rejected = str(exc)
        entries.append(CodeEntry(family=draft.family, name=draft.name, origin=draft.origin,
                                 attempt=draft.attempt, parent=draft.parent,
                                 rationale=draft.rationale,
                                 path=path.relative_to(ctx.run_dir).as_posix(),
                                 rejected=rejected))
        if trial_id in finished:  # ran before a crash
            trials.append(finished[trial_id])
            continue
        timeout_s = budget.trial_timeout_s
        if deadline is not None:
            left = deadline - time.monotonic()
            if left < _MIN_TIMEOUT_S:
                log.info("code trial %d not run: the time budget is spent", trial_id)
                break
            timeout_s = min(timeout_s, left)
        config = TrialConfig(family=draft.family, params={})
        if proposal is None:
            result = TrialResult(trial_id=trial_id, config=config, source=draft.origin,
                                 status="failed", failure="rejected",
                                 error=f"the module was refused before it ran: {rejected}",
                                 started_at=datetime.now(UTC))
            log.info("code trial %d %s rejected: %s", trial_id, draft.name, rejected)
        else:
            result = run_code_trial(proposal, None, prepared=p, executor=ctx.executor,
                                    work_dir=ctx.run_dir / "trials" / f"{trial_id:04d}",
                                    trial_id=trial_id, timeout_s=timeout_s,
                                    memory_mb=budget.trial_memory_mb, source=draft.origin)
        on_trial(result)
        trials.append(result)
    return trials, entries
