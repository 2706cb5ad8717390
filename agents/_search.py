"""The trial loop: ask BO for a configuration, run it in the executor, score it, tell BO.

One call of ``SearchLoop.run`` is one round of the graph's execute step: it
runs ``n_trials`` trials, ``n_workers`` at a time, until the deadline. The
planner's proposals and the queued defaults and repairs reach it through the
optuna queue (``OptunaSearch.enqueue``), so every trial, whoever proposed it,
is asked from and told to the same study.

A round may be re-run after a crash (the graph restarts an unfinished node).
Then nothing finished is repeated: a trial already in ``finished`` (read back
from the run's ledger) is taken as it is, and a trial that was asked but not
finished runs again with the same configuration and the same optuna trial,
read back from its ``asked.json``.

Under a time budget a configuration is not started when even the fastest finished
trial of its family took longer than the time left: it could not finish, and would
only hold a worker until the deadline. Optuna is told it failed and asked again; when
nothing asked in a row fits, no more trials start and the round ends early.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from pydantic import BaseModel

from sandbox import Executor
from schemas import (
    ConfigError,
    Direction,
    FailureKind,
    TaskSpec,
    TaskType,
    TrialConfig,
    TrialResult,
    TrialSource,
    TrialSpec,
)
from tools.bo import OptunaSearch
from tools.leaderboard import is_scored, rank_trials
from tools.pipeline import build_pipeline
from tools.scoring import score_trial

log = logging.getLogger(__name__)

_CANCEL_GRACE_S = 10.0
_MAX_SKIPS_IN_A_ROW = 20  # asks that could not finish before the deadline, then stop asking


def resolved(task: TaskSpec) -> tuple[TaskType, str, Direction]:
    """The task type, metric and direction that intake has filled in."""
    if task.task_type is None or task.metric is None or task.direction is None:
        raise ValueError("the task must be resolved by tools.intake.prepare first")
    return task.task_type, task.metric, task.direction

TrialCallback = Callable[[TrialResult, "TrialResult | None"], None]


@dataclass(frozen=True)
class SearchData:
    """What the loop needs about the training part (never the holdout)."""

    y: np.ndarray
    folds: np.ndarray
    n_classes: int | None
    numeric_columns: Sequence[str]
    categorical_columns: Sequence[str]


@dataclass
class SearchOutcome:
    trials: list[TrialResult] = field(default_factory=list)
    stop_reason: str = ""
    elapsed_s: float = 0.0
    skipped: Counter[str] = field(default_factory=Counter)  # family: configurations not run

    def skipped_note(self) -> str | None:
        """What was not started for lack of time, for the run's notices."""
        if not self.skipped:
            return None
        families = ", ".join(f"{f} {n}" for f, n in self.skipped.most_common())
        return (f"{sum(self.skipped.values())} configuration(s) were not started near the "
                f"deadline, since the fastest finished trial of their family took longer than "
                f"the time left ({families})")

    def best(self, direction: Direction) -> TrialResult | None:
        ranked = rank_trials(self.trials, direction)
        return ranked[0] if ranked and is_scored(ranked[0]) else None


@dataclass
class _Pending:
    number: int
    spec: TrialSpec
    clipped: bool  # its timeout was cut to end at the deadline


@dataclass(frozen=True)
class _Skipped:
    """A configuration not started: the fastest trial of its family needs longer than the
    time left."""

    family: str


class SearchLoop:
    """Runs up to ``n_trials`` trials, ``n_workers`` at a time, until the deadline."""

    def __init__(self, task: TaskSpec, *, search: OptunaSearch, executor: Executor,
                 data: SearchData, trials_dir: Path, on_trial: TrialCallback | None = None,
                 first_trial_id: int = 0,
                 finished: Mapping[int, TrialResult] | None = None,
                 history: Sequence[TrialResult] = ()) -> None:
        """``history``: the trials of earlier rounds, whose durations say which families
        can still finish before a deadline."""
        self.task = task
        self.task_type, self.metric, self.direction = resolved(task)
        self.search = search
        self.executor = executor
        self.data = data
        self.trials_dir = trials_dir
        self.on_trial = on_trial
        self.first_trial_id = first_trial_id
        self.finished = dict(finished or {})
        self.fastest: dict[str, float] = {}  # family: the shortest wall time of a finished trial
        for trial in history:
            self._note_duration(trial)

    def run(self, *, deadline: float | None, n_trials: int | None = None) -> SearchOutcome:
        """Run ``n_trials`` (default: the task's budget); ``deadline`` is a
        ``time.monotonic()`` value or None."""
        budget = self.task.budget
        n_total = budget.n_trials if n_trials is None else n_trials
        n_workers = self.task.n_workers
        outcome = SearchOutcome()
        start = time.monotonic()
        pending: dict[Future[TrialResult], _Pending] = {}
        n_started = 0
        hit_deadline = False
        skips_in_a_row = 0
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="trial") as pool:
            while True:
                hit_deadline = hit_deadline or (
                    deadline is not None and time.monotonic() >= deadline)
                while (not hit_deadline and len(pending) < n_workers
                       and n_started < n_total and skips_in_a_row < _MAX_SKIPS_IN_A_ROW):
                    item = self._start_trial(self.first_trial_id + n_started, deadline)
                    if isinstance(item, _Skipped):
                        outcome.skipped[item.family] += 1
                        skips_in_a_row += 1
                        continue
                    skips_in_a_row = 0
                    n_started += 1
                    if isinstance(item, TrialResult):  # could not even be built
                        self._finish(item, None, outcome)
                        continue
                    pending[pool.submit(self.executor.run, item.spec)] = item
                if not pending:
                    break
                wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, _ = wait(pending, timeout=wait_s, return_when=FIRST_COMPLETED)
                if not done:  # the deadline passed with trials still running: stop them
                    hit_deadline = True
                    self._cancel(pending, outcome)
                    continue
                for fut in done:
                    item = pending.pop(fut)
                    self._finish(self._at_deadline(fut.result(), item), item.number, outcome)
        outcome.elapsed_s = time.monotonic() - start
        if hit_deadline:
            outcome.stop_reason = f"time budget reached ({budget.time_budget_s:g} s)"
        elif skips_in_a_row >= _MAX_SKIPS_IN_A_ROW:
            outcome.stop_reason = (f"time budget ({budget.time_budget_s:g} s): no trial could "
                                   "finish in the time left")
        else:
            outcome.stop_reason = f"trial budget reached ({n_total} trials)"
        return outcome

    def _note_duration(self, trial: TrialResult) -> None:
        if trial.ok and trial.wall_time_s > 0:
            family = trial.config.family
            self.fastest[family] = min(self.fastest.get(family, math.inf), trial.wall_time_s)

    def _cannot_finish(self, family: str, deadline: float | None) -> bool:
        return (deadline is not None and family in self.fastest
                and self.fastest[family] > deadline - time.monotonic())

    def _start_trial(self, trial_id: int,
                     deadline: float | None) -> _Pending | TrialResult | _Skipped:
        work_dir = self.trials_dir / f"{trial_id:04d}"
        if trial_id in self.finished:  # finished before a crash: not repeated
            return self.finished[trial_id]
        asked = work_dir / "asked.json"
        if asked.exists():  # asked before a crash: the same optuna trial and configuration
            item = _Asked.model_validate_json(asked.read_text())
            number, config, source = item.number, item.config, item.source
        else:
            number, config, source = self.search.ask()
            if self._cannot_finish(config.family, deadline):
                log.info("not started: %s (its fastest trial took %.1f s; the deadline is "
                         "nearer)", config.key(), self.fastest[config.family])
                self.search.tell(number, None)
                return _Skipped(config.family)
            work_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(asked, _Asked(number=number, config=config,
                                        source=source).model_dump_json())
        try:
            pipeline = build_pipeline(
                config, task_type=self.task_type,
                numeric_columns=self.data.numeric_columns,
                categorical_columns=self.data.categorical_columns,
                seed=self.task.seed, n_threads=1)
        except ConfigError as exc:
            self.search.tell(number, None)
            return _failed(trial_id, config, source, f"invalid configuration: {exc}")
        timeout_s = self.task.budget.trial_timeout_s
        clipped = deadline is not None and deadline - time.monotonic() < timeout_s
        if deadline is not None:
            timeout_s = max(0.1, min(timeout_s, deadline - time.monotonic()))
        spec = dump_trial(pipeline, trial_id=trial_id, config=config, source=source,
                          work_dir=work_dir, n_classes=self.data.n_classes, timeout_s=timeout_s,
                          memory_mb=self.task.budget.trial_memory_mb)
        return _Pending(number=number, spec=spec, clipped=clipped)

    def _finish(self, result: TrialResult, number: int | None, outcome: SearchOutcome) -> None:
        if result.trial_id in self.finished:  # read back from the ledger: already told
            self._note_duration(result)
            outcome.trials.append(result)
            return
        result = score_result(result, metric=self.metric, data=self.data)
        self._note_duration(result)
        if number is not None:
            self.search.tell(number, result.cv_score if result.ok else None)
        outcome.trials.append(result)
        if result.ok:
            log.info("trial %d %s: %.5f", result.trial_id, result.config.family, result.cv_score)
        else:
            log.info("trial %d %s failed (%s)", result.trial_id, result.config.family,
                     result.failure)
        if self.on_trial is not None:
            self.on_trial(result, outcome.best(self.direction))

    @staticmethod
    def _at_deadline(result: TrialResult, item: _Pending) -> TrialResult:
        """A trial whose timeout was the deadline was stopped by the budget, not by its limit."""
        if item.clipped and result.failure == "timeout":
            return result.model_copy(update={"failure": "cancelled",
                                             "error": "stopped at the time budget's deadline"})
        return result

    def _cancel(self, pending: dict[Future[TrialResult], _Pending],
                outcome: SearchOutcome) -> None:
        """Stop the running trials; whatever has not answered after a grace period is dropped."""
        cancel_all = getattr(self.executor, "cancel_all", None)
        if cancel_all is not None:
            cancel_all()
        done, _ = wait(pending, timeout=_CANCEL_GRACE_S)
        for fut, item in list(pending.items()):
            pending.pop(fut)
            if fut in done:
                result = self._at_deadline(fut.result(), item)
            else:
                log.warning("trial %d did not stop within %.0f s of the deadline",
                            item.spec.trial_id, _CANCEL_GRACE_S)
                result = _failed(item.spec.trial_id, item.spec.config, item.spec.source,
                                 "stopped at the time budget's deadline", failure="cancelled")
            self._finish(result, item.number, outcome)


def dump_trial(estimator: Any, *, trial_id: int, config: TrialConfig, source: TrialSource,
               work_dir: Path, n_classes: int | None, timeout_s: float,
               memory_mb: int) -> TrialSpec:
    """Save the unfitted estimator into the trial's folder and describe the trial."""
    work_dir.mkdir(parents=True, exist_ok=True)
    estimator_path = work_dir / "estimator.joblib"
    joblib.dump(estimator, estimator_path)
    return TrialSpec(trial_id=trial_id, config=config, source=source, work_dir=work_dir,
                     estimator_path=estimator_path,
                     predict_kind="value" if n_classes is None else "proba",
                     timeout_s=timeout_s, memory_mb=memory_mb, n_threads=1)


def score_result(result: TrialResult, *, metric: str, data: SearchData) -> TrialResult:
    """The trial's CV score from its out-of-fold predictions, computed here, in the parent."""
    return score_trial(result, metric=metric, y=data.y, folds=data.folds,
                       n_classes=data.n_classes)


class _Asked(BaseModel):
    """What was asked for a trial id, kept so that a re-run round asks nothing twice."""

    number: int
    config: TrialConfig
    source: TrialSource


TRIALS_FILE = "trials.jsonl"  # the run's ledger: one finished trial per line


def read_trials(run_dir: Path) -> list[TrialResult]:
    """The finished trials of a run folder's ledger, in the order they were written; a line
    cut by a crash is skipped with a warning."""
    path = run_dir / TRIALS_FILE
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(TrialResult.model_validate_json(line))
        except ValueError:
            log.warning("ignored a damaged line of %s", path)
    return out


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so a reader never sees half of it (a crash leaves the old file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _failed(trial_id: int, config: TrialConfig, source: TrialSource, error: str,
            failure: FailureKind = "exception") -> TrialResult:
    return TrialResult(trial_id=trial_id, config=config, source=source, status="failed",
                       error=error, failure=failure, started_at=datetime.now(UTC))
