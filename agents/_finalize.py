"""The last step: choose the final model, refit it, score the holdout once, write it all."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agents._context import Prepared, RunContext, holdout_rows
from agents._memory import dataset_name, memory_record, remember
from agents._search import resolved, write_atomic
from schemas import (
    EnsembleMember,
    LLMUsage,
    RunRecord,
    TrialResult,
    Verdict,
)
from tools.ensemble import EnsembleChoice, select_ensemble
from tools.leaderboard import is_scored, rank_trials
from tools.metrics import dummy_prediction, score
from tools.model import FittedModel, fit_final_model
from tools.pipeline import build_pipeline
from tools.report import HoldoutResult, write_leaderboard, write_report

if TYPE_CHECKING:
    from agents.graph import RunState

log = logging.getLogger(__name__)

_Final = tuple[FittedModel | None, HoldoutResult | None, EnsembleChoice | None]


def finalize_run(ctx: RunContext, state: RunState | Mapping[str, Any]) -> RunRecord:
    """Refit, score the holdout, write model, leaderboard, report and ``run.json``."""
    ctx.close()  # the workers are not needed any more
    p = ctx.prepared
    task_type, metric, direction = resolved(p.task)
    trials: Sequence[TrialResult] = state["trials"]
    ctx.observer.on_stage("refitting the best configuration on all training rows; "
                          "scoring the holdout")
    t0 = time.monotonic()
    model, holdout, choice = _refit(p, trials, ctx.version)
    if model is not None:
        model.save(ctx.run_dir)
    finalize_s = time.monotonic() - t0
    ranked = [t for t in rank_trials(trials, direction) if is_scored(t)]
    llm = (LLMUsage() if ctx.llm is None
           else LLMUsage.from_calls(ctx.llm.model, list(ctx.llm.calls)))
    n_classes = p.n_classes
    verdicts: Sequence[Verdict] = state.get("verdicts", [])
    record = RunRecord(
        run_id=ctx.run_id, mlpilot_version=ctx.version,
        status="completed" if model is not None else "failed", created_at=ctx.created_at,
        task=p.task, task_type=task_type, metric=metric, direction=direction,
        n_rows=len(p.data.y), n_holdout=len(p.split.holdout_idx),
        best=ranked[0] if ranked else None,
        ensemble=() if choice is None else tuple(
            EnsembleMember(trial_id=t.trial_id, family=t.config.family, weight=w)
            for t, w in zip(choice.members, choice.weights, strict=True)),
        ensemble_cv_score=None if choice is None else choice.cv_score,
        holdout_score=None if holdout is None else score(
            metric, holdout.y_true, holdout.pred, n_classes=n_classes),
        dummy_holdout_score=None if holdout is None else score(
            metric, holdout.y_true, holdout.dummy_pred, n_classes=n_classes),
        n_trials=len(trials), n_failed=sum(not t.ok for t in trials),
        trials_by_source=dict(Counter(t.source for t in trials)),
        llm=llm, llm_handover=state["policy"].handover if "policy" in state else None,
        verdicts=tuple(verdicts),
        isolation=ctx.isolation, startup_time_s=state.get("startup_s", 0.0),
        search_time_s=state.get("search_s", 0.0), finalize_time_s=finalize_s,
        total_time_s=state.get("startup_s", 0.0) + state.get("search_s", 0.0) + finalize_s,
        stop_reason=state.get("stop_reason", ""),
        retrieved=tuple(state.get("retrieved", [])),
        retrieved_runs=tuple(r.run_id for r in state.get("retrieved", [])),
        notices=(*p.data.notices, *p.prep.notices_, *p.split.notices,
                 *state.get("memory_notes", [])))
    if ctx.memory is not None and record.status == "completed":
        failed = remember(ctx.memory, memory_record(
            record, profile=p.profile, trials=trials, dataset=dataset_name(p.task),
            fingerprint=ctx.fingerprint, dummy_cv_score=ctx.checks.dummy_cv_score))
        if failed:
            record = record.model_copy(update={"notices": (*record.notices, failed)})
    write_leaderboard(ctx.run_dir / "leaderboard.csv", trials, direction)
    write_report(ctx.run_dir, record=record, trials=trials, profile=p.profile, holdout=holdout)
    write_atomic(ctx.run_dir / "run.json", record.model_dump_json(indent=2))
    return record


def _refit(p: Prepared, trials: Sequence[TrialResult], version: str) -> _Final:
    """Refit the chosen trial(s) on all training rows and score the holdout once."""
    task = p.task
    task_type, metric, direction = resolved(task)
    choice = select_ensemble(trials, metric=metric, direction=direction, y=p.train.y,
                             folds=p.split.folds, n_classes=p.n_classes,
                             max_members=5 if task.ensemble else 1)
    if choice is None:
        return None, None, None
    pipelines = [build_pipeline(t.config, task_type=task_type,
                                numeric_columns=p.prep.numeric_columns_,
                                categorical_columns=p.prep.categorical_columns_, seed=task.seed)
                 for t in choice.members]
    model = fit_final_model(pipelines, choice.weights, p.prep, p.X_train, p.train.y,
                            task_type=task_type, target=task.target, classes=p.data.classes,
                            mlpilot_version=version)
    X_hold, y_hold = holdout_rows(p)
    dummy = dummy_prediction(p.train.y, len(y_hold), task_type=task_type,
                             n_classes=p.n_classes)
    holdout = HoldoutResult(y_true=y_hold, pred=model.predict_raw(X_hold), dummy_pred=dummy,
                            classes=p.data.classes)
    return model, holdout, choice

