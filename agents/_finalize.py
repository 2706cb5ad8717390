"""The last step: choose the final model, refit it, score the holdout once, write it all."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

from agents._code_round import load_code_proposal
from agents._context import RunContext, holdout_rows
from agents._memory import dataset_name, memory_record, remember
from agents._search import resolved, write_atomic
from sandbox import FITTED_FILE
from schemas import (
    CodeEntry,
    EnsembleMember,
    LLMUsage,
    ProposalError,
    RunRecord,
    TrialResult,
    TrialSpec,
    Verdict,
    is_code_family,
)
from tools.code_model import code_pipeline
from tools.ensemble import EnsembleChoice, select_ensemble
from tools.leaderboard import is_scored, rank_trials
from tools.metrics import decision_threshold, dummy_prediction, score
from tools.model import FittedModel, fit_final_model, sandboxed_model
from tools.pipeline import build_pipeline
from tools.report import HoldoutResult, write_leaderboard, write_report
from tools.scoring import dummy_threshold

if TYPE_CHECKING:
    from agents.graph import RunState

log = logging.getLogger(__name__)

FINAL_DIR = "final"  # where a sandboxed refit of the final model works

_Final = tuple[FittedModel | None, HoldoutResult | None, EnsembleChoice | None]


def finalize_run(ctx: RunContext, state: RunState | Mapping[str, Any]) -> RunRecord:
    """Refit, score the holdout, write model, leaderboard, report and ``run.json``."""
    p = ctx.prepared
    task_type, metric, direction = resolved(p.task)
    trials: Sequence[TrialResult] = state["trials"]
    entries: Sequence[CodeEntry] = state.get("code_entries", [])
    ctx.observer.on_stage("refitting the best configuration on all training rows; "
                          "scoring the holdout")
    t0 = time.monotonic()
    notices: list[str] = []
    try:
        model, holdout, choice = _refit(ctx, trials, entries, notices)
    finally:
        ctx.close()  # the workers are not needed any more
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
        decision_threshold=None if model is None else model.threshold,
        holdout_score=None if holdout is None else score(
            metric, holdout.y_true, holdout.pred, n_classes=n_classes,
            threshold=holdout.threshold),
        dummy_holdout_score=None if holdout is None else score(
            metric, holdout.y_true, holdout.dummy_pred, n_classes=n_classes,
            threshold=holdout.dummy_threshold),
        n_trials=len(trials), n_failed=sum(not t.ok for t in trials),
        n_cancelled=sum(t.failure == "cancelled" for t in trials),
        trials_by_source=dict(Counter(t.source for t in trials)),
        llm=llm, llm_handover=state["policy"].handover if "policy" in state else None,
        verdicts=tuple(verdicts),
        isolation=ctx.isolation, startup_time_s=state.get("startup_s", 0.0),
        search_time_s=state.get("search_s", 0.0), finalize_time_s=finalize_s,
        total_time_s=state.get("startup_s", 0.0) + state.get("search_s", 0.0) + finalize_s,
        stop_reason=state.get("stop_reason", ""),
        retrieved=tuple(state.get("retrieved", [])),
        retrieved_runs=tuple(r.run_id for r in state.get("retrieved", [])),
        code_proposals=tuple(entries),
        notices=(*p.data.notices, *p.prep.notices_, *p.split.notices,
                 *state.get("memory_notes", []), *state.get("search_notes", []), *notices))
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


def _refit(ctx: RunContext, trials: Sequence[TrialResult], entries: Sequence[CodeEntry],
           notices: list[str]) -> _Final:
    """Refit the chosen trial(s) on all training rows and score the holdout once.

    A choice that holds a code proposal is refitted inside the sandbox (the model then
    stays sandboxed, see ``tools.model``); if that refit fails, the best choice among the
    catalog's trials is refitted instead and a notice says so.
    """
    p = ctx.prepared
    task = p.task
    task_type, metric, direction = resolved(task)
    choice = select_ensemble(trials, metric=metric, direction=direction, y=p.train.y,
                             folds=p.split.folds, n_classes=p.n_classes,
                             max_members=5 if task.ensemble else 1)
    if choice is None:
        return None, None, None
    X_hold, y_hold = holdout_rows(p)
    sandboxed: tuple[FittedModel, np.ndarray] | None = None
    if any(is_code_family(t.config.family) for t in choice.members):
        outcome = _refit_in_sandbox(ctx, choice, entries, X_hold)
        if isinstance(outcome, str):
            log.warning("%s", outcome)
            notices.append(outcome)
            catalog_only = [t for t in trials if not is_code_family(t.config.family)]
            choice = select_ensemble(catalog_only, metric=metric, direction=direction,
                                     y=p.train.y, folds=p.split.folds, n_classes=p.n_classes,
                                     max_members=5 if task.ensemble else 1)
            if choice is None:
                return None, None, None
        else:
            sandboxed = outcome
    if sandboxed is None:
        pipelines = [_pipeline(ctx, t, entries) for t in choice.members]
        model = fit_final_model(pipelines, choice.weights, p.prep, p.X_train, p.train.y,
                                task_type=task_type, target=task.target,
                                classes=p.data.classes, mlpilot_version=ctx.version)
        holdout_pred = model.predict_raw(X_hold)
    else:
        model, holdout_pred = sandboxed
    # the ensemble's CV score already labels each fold at the threshold the other folds
    # chose (tools.metrics.cv_fold_scores); the final model takes the one all folds choose
    model.threshold = decision_threshold(metric, p.train.y, choice.oof, p.split.folds,
                                         n_classes=p.n_classes)
    dummy = dummy_prediction(p.train.y, len(y_hold), task_type=task_type,
                             n_classes=p.n_classes)
    holdout = HoldoutResult(
        y_true=y_hold, pred=holdout_pred, dummy_pred=dummy, classes=p.data.classes,
        threshold=model.threshold,
        dummy_threshold=dummy_threshold(metric, p.train.y, p.split.folds,
                                        n_classes=p.n_classes))
    return model, holdout, choice


def _pipeline(ctx: RunContext, trial: TrialResult, entries: Sequence[CodeEntry]) -> Any:
    """The unfitted pipeline of a trial: the catalog's, or a code proposal's (its module read
    back from the run folder; ``ProposalError`` if it is gone or changed)."""
    p = ctx.prepared
    task_type, _, _ = resolved(p.task)
    numeric, categorical = p.prep.numeric_columns_, p.prep.categorical_columns_
    family = trial.config.family
    if not is_code_family(family):
        return build_pipeline(trial.config, task_type=task_type, numeric_columns=numeric,
                              categorical_columns=categorical, seed=p.task.seed)
    name = next((e.name for e in entries if e.family == family), "proposal")
    proposal = load_code_proposal(ctx.run_dir, family, name=name, task_type=task_type)
    return code_pipeline(proposal, dict(trial.config.params), task_type=task_type,
                         numeric_columns=numeric, categorical_columns=categorical)


def _refit_in_sandbox(ctx: RunContext, choice: EnsembleChoice, entries: Sequence[CodeEntry],
                      X_hold: pd.DataFrame) -> tuple[FittedModel, np.ndarray] | str:
    """Refit a choice that holds code inside the sandbox: the model and its holdout
    predictions, or why it failed."""
    p = ctx.prepared
    task = p.task
    task_type, _, _ = resolved(task)
    try:
        pipelines = [_pipeline(ctx, t, entries) for t in choice.members]
    except ProposalError as exc:
        return f"the final model could not use a code proposal: {exc}"
    work_dir = ctx.run_dir / FINAL_DIR
    work_dir.mkdir(parents=True, exist_ok=True)
    estimator_path = work_dir / "estimator.joblib"
    joblib.dump(tuple(pipelines), estimator_path)
    rows_path = work_dir / "holdout_rows.parquet"
    p.prep.transform(X_hold).to_parquet(rows_path, index=False)  # features only, no labels
    budget = task.budget
    best = choice.members[0]
    spec = TrialSpec(trial_id=best.trial_id, config=best.config, source=best.source,
                     work_dir=work_dir, estimator_path=estimator_path,
                     predict_kind="value" if p.n_classes is None else "proba",
                     timeout_s=budget.trial_timeout_s * len(pipelines),
                     memory_mb=budget.trial_memory_mb, kind="refit", rows_path=rows_path)
    result = ctx.executor.run(spec)
    fitted = work_dir / FITTED_FILE
    if not result.ok or result.predictions_path is None or not fitted.is_file():
        why = (result.error or "").strip().splitlines()[-1:] or [""]
        return (f"the sandboxed refit of the final model (with LLM-written code) failed "
                      f"({result.failure}: {why[0][:200]}); the best catalog models were "
                      "refitted instead")
    blocks = np.load(result.predictions_path, allow_pickle=False)
    model = sandboxed_model(fitted.read_bytes(), choice.weights, p.prep,
                            task_type=task_type, target=task.target, classes=p.data.classes,
                            mlpilot_version=ctx.version)
    ctx.observer.on_stage(f"the final model holds LLM-written code: refitted in the sandbox "
                          f"({ctx.isolation}); it predicts only there")
    return model, model.predict_raw(X_hold, runner=lambda _fitted, _rows: blocks)
