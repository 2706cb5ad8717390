"""One whole run: intake, split, profile, search, finalize, record.

The steps follow ARCHITECTURE.md. Real parts (the sandbox executor) come in
through ``make_executor`` so tests can hand in the in-process executor.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from agents._search import SearchData, SearchLoop, SearchOutcome, resolved
from sandbox import DataBundle, Executor, write_data_bundle
from schemas import (
    DatasetProfile,
    EnsembleMember,
    RunRecord,
    TaskSpec,
    TrialResult,
)
from tools.bo import OptunaSearch
from tools.catalog import catalog
from tools.ensemble import EnsembleChoice, select_ensemble
from tools.features import FeaturePrep
from tools.intake import PreparedData, prepare
from tools.metrics import dummy_prediction, score
from tools.model import FittedModel, fit_final_model
from tools.pipeline import build_pipeline
from tools.profile import profile_dataset
from tools.report import HoldoutResult, write_leaderboard, write_report
from tools.split import Split, make_split

log = logging.getLogger(__name__)

ExecutorFactory = Callable[[DataBundle, Path], AbstractContextManager[Executor]]


class RunObserver(Protocol):
    """What a person watching a run is told (the CLI draws it with rich)."""

    def on_stage(self, message: str) -> None: ...
    def on_search_start(self, task: TaskSpec, profile: DatasetProfile, n_families: int) -> None: ...
    def on_trial(self, result: TrialResult, best: TrialResult | None) -> None: ...


class SilentObserver:
    def on_stage(self, message: str) -> None:
        log.info("%s", message)

    def on_search_start(self, task: TaskSpec, profile: DatasetProfile, n_families: int) -> None:
        pass

    def on_trial(self, result: TrialResult, best: TrialResult | None) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class RunResult:
    record: RunRecord
    run_dir: Path
    model: FittedModel | None


def execute_run(task: TaskSpec, table: pd.DataFrame, *, run_dir: Path,
                make_executor: ExecutorFactory, version: str,
                observer: RunObserver | None = None) -> RunResult:
    """Run the search and finalize. Bad input raises before anything is written.

    The time budget counts from the moment the sandbox workers are ready, so
    that it is spent on trials; start-up and finalization are reported apart.
    """
    obs = observer or SilentObserver()
    t0 = time.monotonic()
    created = datetime.now(UTC)

    data = prepare(task, table)
    task = data.task
    task_type, metric, direction = resolved(task)
    split = make_split(data.y, task_type, holdout_fraction=task.holdout_fraction,
                       n_folds=task.n_folds, seed=task.seed)
    task = task.model_copy(update={"n_folds": split.n_folds})
    train = _subset(data, split.train_idx)
    prep = FeaturePrep().fit(train.X)
    X_train = prep.transform(train.X)
    profile = profile_dataset(train, prep)
    n_classes = len(data.classes) if data.classes is not None else None

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "profile.json").write_text(profile.model_dump_json(indent=2))
    obs.on_stage(f"{task.task_type} task on {len(data.y)} rows; metric {task.metric} "
                 f"({task.direction}); holdout {len(split.holdout_idx)} rows kept aside")
    bundle = write_data_bundle(run_dir / "data", X_train, train.y, split.folds, n_classes)

    spaces = catalog(task_type, n_rows=len(train.y))
    search = OptunaSearch(spaces, direction=direction,
                          storage_path=run_dir / "study.journal", seed=task.seed)
    search.start()
    search.enqueue_defaults()
    obs.on_search_start(task, profile, len(spaces))
    ledger = run_dir / "trials.jsonl"

    def on_trial(result: TrialResult, best: TrialResult | None) -> None:
        with ledger.open("a") as fh:
            fh.write(result.model_dump_json() + "\n")
        obs.on_trial(result, best)

    search_data = SearchData(y=train.y, folds=split.folds, n_classes=n_classes,
                             numeric_columns=prep.numeric_columns_,
                             categorical_columns=prep.categorical_columns_)
    with make_executor(bundle, run_dir / "scratch") as executor:
        start = getattr(executor, "start", None)
        if start is not None:
            start()  # workers ready before the clock starts
        isolation = getattr(executor, "isolation_level", "process")
        t_search = time.monotonic()
        budget_s = task.budget.time_budget_s
        deadline = None if budget_s is None else t_search + budget_s
        loop = SearchLoop(task, search=search, executor=executor, data=search_data,
                          trials_dir=run_dir / "trials", on_trial=on_trial)
        outcome = loop.run(deadline=deadline)
    search_s = time.monotonic() - t_search
    startup_s = t_search - t0

    obs.on_stage("refitting the best configuration on all training rows; scoring the holdout")
    t_fin = time.monotonic()
    model, holdout, choice = _finalize(task, outcome, data, split, prep, X_train, train.y,
                                       version)
    if model is not None:
        model.save(run_dir)
    finalize_s = time.monotonic() - t_fin

    best = outcome.best(direction)
    record = RunRecord(
        run_id=uuid.uuid4().hex[:12], mlpilot_version=version,
        status="completed" if model is not None else "failed", created_at=created, task=task,
        task_type=task_type, metric=metric, direction=direction,
        n_rows=len(data.y), n_holdout=len(split.holdout_idx), best=best,
        ensemble=() if choice is None else tuple(
            EnsembleMember(trial_id=t.trial_id, family=t.config.family, weight=w)
            for t, w in zip(choice.members, choice.weights, strict=True)),
        ensemble_cv_score=None if choice is None else choice.cv_score,
        holdout_score=None if holdout is None else score(
            metric, holdout.y_true, holdout.pred, n_classes=n_classes),
        dummy_holdout_score=None if holdout is None else score(
            metric, holdout.y_true, holdout.dummy_pred, n_classes=n_classes),
        n_trials=len(outcome.trials), n_failed=sum(not t.ok for t in outcome.trials),
        trials_by_source=dict(Counter(t.source for t in outcome.trials)),
        isolation=isolation, startup_time_s=startup_s, search_time_s=search_s,
        finalize_time_s=finalize_s, total_time_s=time.monotonic() - t0,
        stop_reason=outcome.stop_reason,
        notices=(*data.notices, *prep.notices_, *split.notices))
    write_leaderboard(run_dir / "leaderboard.csv", outcome.trials, direction)
    write_report(run_dir, record=record, trials=outcome.trials, profile=profile, holdout=holdout)
    _write_atomic(run_dir / "run.json", record.model_dump_json(indent=2))
    return RunResult(record=record, run_dir=run_dir, model=model)


def _subset(data: PreparedData, idx: np.ndarray) -> PreparedData:
    return dataclasses.replace(data, X=data.X.iloc[idx].reset_index(drop=True), y=data.y[idx])


_Final = tuple[FittedModel | None, HoldoutResult | None, EnsembleChoice | None]


def _finalize(task: TaskSpec, outcome: SearchOutcome, data: PreparedData, split: Split,
              prep: FeaturePrep, X_train: pd.DataFrame, y_train: np.ndarray,
              version: str) -> _Final:
    """Refit the chosen trial(s) on all training rows and score the holdout once."""
    task_type, metric, direction = resolved(task)
    n_classes = len(data.classes) if data.classes is not None else None
    choice = select_ensemble(outcome.trials, metric=metric, direction=direction,
                             y=y_train, folds=split.folds, n_classes=n_classes,
                             max_members=5 if task.ensemble else 1)
    if choice is None:
        return None, None, None
    pipelines = [build_pipeline(t.config, task_type=task_type,
                                numeric_columns=prep.numeric_columns_,
                                categorical_columns=prep.categorical_columns_, seed=task.seed)
                 for t in choice.members]
    model = fit_final_model(pipelines, choice.weights, prep, X_train, y_train,
                            task_type=task_type, target=task.target, classes=data.classes,
                            mlpilot_version=version)
    X_hold = data.X.iloc[split.holdout_idx].reset_index(drop=True)
    y_hold = data.y[split.holdout_idx]
    dummy = dummy_prediction(y_train, len(y_hold), task_type=task_type, n_classes=n_classes)
    holdout = HoldoutResult(y_true=y_hold, pred=model.predict_raw(X_hold), dummy_pred=dummy,
                            classes=data.classes)
    return model, holdout, choice


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def read_run_record(run_dir: Path) -> RunRecord:
    return RunRecord.model_validate(json.loads((run_dir / "run.json").read_text()))
