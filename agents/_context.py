"""What the graph's nodes need besides the state: the data, the study, the workers, the LLM.

None of this is checkpointed: it is rebuilt from the task and the table on
resume. The data steps are deterministic (same task, same table, same seed:
same split and folds), the study reloads from its journal, and the sandbox
workers start again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from agents._memory import MemoryUse
from agents._plan_ahead import PlanAhead
from agents._policy import HybridRule, SearchSettings
from agents._search import SearchData, resolved
from agents.coder import Coder
from agents.planner import Proposer
from agents.verifier import CheckContext, Verifier
from sandbox import DataBundle, Executor, write_data_bundle
from schemas import DatasetProfile, FamilySpace, IsolationLevel, TaskSpec, TrialResult
from tools.bo import OptunaSearch
from tools.catalog import catalog
from tools.features import FeaturePrep
from tools.intake import PreparedData, prepare
from tools.llm import DeadlineLLM
from tools.profile import profile_dataset, table_fingerprint
from tools.scoring import dummy_cv_score
from tools.split import Split, make_split

if TYPE_CHECKING:
    from tools.llm import LLMClient

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


@dataclasses.dataclass(frozen=True, eq=False)
class Prepared:
    """The training part, ready for trials; the holdout stays in ``data`` and ``split``."""

    task: TaskSpec  # resolved: task type, metric, direction and folds filled in
    data: PreparedData
    split: Split
    train: PreparedData
    prep: FeaturePrep
    X_train: pd.DataFrame
    profile: DatasetProfile
    spaces: tuple[FamilySpace, ...]
    n_classes: int | None

    @property
    def search_data(self) -> SearchData:
        return SearchData(y=self.train.y, folds=self.split.folds, n_classes=self.n_classes,
                          numeric_columns=self.prep.numeric_columns_,
                          categorical_columns=self.prep.categorical_columns_)

    def check_context(self) -> CheckContext:
        task_type, metric, direction = resolved(self.task)
        dummy = dummy_cv_score(metric, self.train.y, self.split.folds, task_type=task_type,
                               n_classes=self.n_classes)
        return CheckContext(metric=metric, direction=direction, dummy_cv_score=dummy)


def prepare_data(task: TaskSpec, table: pd.DataFrame) -> Prepared:
    """Check the table, resolve the task, split off the holdout, fit the feature preparation.

    Deterministic: the same task and table give the same split and folds, so a
    resumed run and every method of a benchmark see the same rows.
    """
    data = prepare(task, table)
    task = data.task
    task_type, _, _ = resolved(task)
    split = make_split(data.y, task_type, holdout_fraction=task.holdout_fraction,
                       n_folds=task.n_folds, seed=task.seed)
    task = task.model_copy(update={"n_folds": split.n_folds})
    train = dataclasses.replace(data, X=data.X.iloc[split.train_idx].reset_index(drop=True),
                                y=data.y[split.train_idx])
    prep = FeaturePrep().fit(train.X)
    spaces = catalog(task_type, n_rows=len(train.y))
    if task.families is not None:
        spaces = tuple(s for s in spaces if s.name in task.families)
    return Prepared(task=task, data=data, split=split, train=train, prep=prep,
                    X_train=prep.transform(train.X), profile=profile_dataset(train, prep),
                    spaces=spaces,
                    n_classes=len(data.classes) if data.classes is not None else None)


@dataclasses.dataclass(eq=False)
class RunContext:
    """The run's dependencies (langgraph's runtime context). ``close()`` stops the workers."""

    task: TaskSpec  # as the user asked; ``prepared.task`` is the resolved one
    table: pd.DataFrame
    run_id: str
    created_at: datetime
    run_dir: Path
    make_executor: ExecutorFactory
    version: str
    observer: RunObserver = dataclasses.field(default_factory=SilentObserver)
    llm: LLMClient | None = None
    planner: Proposer | None = None
    coder: Coder | None = None  # writes models as code (None: no code rounds)
    verifier: Verifier = dataclasses.field(default_factory=Verifier)
    rule: HybridRule = dataclasses.field(default_factory=HybridRule)
    confirm: bool = False  # interrupt after intake for the user's confirmation (chat)
    memory: MemoryUse | None = None
    settings: SearchSettings = dataclasses.field(default_factory=SearchSettings)
    plan_ahead: PlanAhead = dataclasses.field(default_factory=PlanAhead)
    _stack: ExitStack = dataclasses.field(default_factory=ExitStack)
    _executor: Executor | None = None
    _isolation: IsolationLevel = "process"

    def llm_deadline(self, deadline: float | None) -> None:
        """LLM requests from now on end by ``deadline`` (``time.monotonic()``; None: only
        the client's own time limit), when the client takes a deadline."""
        if isinstance(self.llm, DeadlineLLM):
            self.llm.deadline = deadline

    @cached_property
    def prepared(self) -> Prepared:
        return prepare_data(self.task, self.table)

    @cached_property
    def fingerprint(self) -> str:
        """The table's fingerprint (the memory's name for this dataset)."""
        return table_fingerprint(self.table, self.task.target)

    @cached_property
    def search(self) -> OptunaSearch:
        p = self.prepared
        _, _, direction = resolved(p.task)
        search = OptunaSearch(p.spaces, direction=direction,
                              storage_path=self.run_dir / "study.journal", seed=p.task.seed,
                              sampler=self.settings.sampler,
                              n_startup_trials=self.settings.n_startup_trials)
        search.start()
        return search

    @cached_property
    def checks(self) -> CheckContext:
        return self.prepared.check_context()

    @property
    def executor(self) -> Executor:
        """The started sandbox workers (started on first use)."""
        if self._executor is None:
            p = self.prepared
            bundle = write_data_bundle(self.run_dir / "data", p.X_train, p.train.y,
                                       p.split.folds, p.n_classes)
            executor = self._stack.enter_context(
                self.make_executor(bundle, self.run_dir / "scratch"))
            start = getattr(executor, "start", None)
            if start is not None:
                start()
            self._executor = executor
            self._isolation = getattr(executor, "isolation_level", "process")
        return self._executor

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation the trials ran under (kept after the workers stop)."""
        return self._isolation

    def close(self) -> None:
        self._stack.close()
        self._executor = None


def holdout_rows(p: Prepared) -> tuple[pd.DataFrame, np.ndarray]:
    return (p.data.X.iloc[p.split.holdout_idx].reset_index(drop=True),
            p.data.y[p.split.holdout_idx])
