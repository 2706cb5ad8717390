"""Start a run, or resume a killed one: the graph, its checkpointer and its context.

A run folder holds ``request.json`` (the task as asked, which LLM, the run id:
enough to rebuild the context) and ``checkpoint.sqlite`` (langgraph's
checkpoints). ``resume_run`` rebuilds the context from the request and the
same table and lets the graph go on from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict

from agents._context import ExecutorFactory, RunContext, RunObserver, SilentObserver
from agents._memory import MemoryUse
from agents._policy import HybridRule, PolicyState, SearchSettings
from agents._search import write_atomic
from agents.coder import LLMCoder
from agents.graph import RunState, build_graph
from agents.planner import LLMPlanner
from agents.verifier import Verifier
from schemas import (
    Budget,
    CodeDraft,
    CodeEntry,
    ConfigError,
    Proposal,
    RetrievedRun,
    RunRecord,
    TaskSpec,
    TrialConfig,
    TrialResult,
    Verdict,
)
from tools.llm import DeadlineLLM

if TYPE_CHECKING:
    from tools.llm import LLMClient

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.sqlite"
REQUEST_FILE = "request.json"


class RunRequest(BaseModel):
    """What ``request.json`` holds: how to start this run again."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    created_at: datetime
    task: TaskSpec
    llm: str  # the LLM's name as given ("none", "local", "openai/...")
    memory: str | None = None  # where the run memory lives; None: the run used none
    settings: SearchSettings = SearchSettings()
    mlpilot_version: str


@dataclasses.dataclass(frozen=True)
class RunResult:
    record: RunRecord
    run_dir: Path


def execute_run(task: TaskSpec, table: pd.DataFrame, *, run_dir: Path,
                make_executor: ExecutorFactory, version: str,
                observer: RunObserver | None = None, llm: LLMClient | None = None,
                llm_name: str | None = None, rule: HybridRule | None = None,
                memory: MemoryUse | None = None,
              settings: SearchSettings | None = None) -> RunResult:
    """Run the whole graph. Bad input raises before anything is written."""
    request = _new_request(task, llm, llm_name, version, memory, settings)
    ctx = _context(request, table, run_dir, make_executor, version, observer, llm, rule, memory)
    ctx.prepared  # noqa: B018 - validate the data before the run folder is written
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / REQUEST_FILE, request.model_dump_json(indent=2))
    return _invoke(ctx, RunState())


class PendingRun:
    """A run stopped at the confirmation step (graph interrupt), waiting for a person.

    ``task`` is the task as mlpilot understood it (task type, metric and
    direction resolved). ``confirm()`` runs it; ``cancel()`` removes the folder.
    """

    def __init__(self, ctx: RunContext, task: TaskSpec) -> None:
        self.ctx = ctx
        self.task = task

    def confirm(self) -> RunResult:
        return _invoke(self.ctx, Command(resume=True))

    def cancel(self) -> None:
        try:
            _invoke_graph(self.ctx, Command(resume=False))
        finally:
            self.ctx.close()
            shutil.rmtree(self.ctx.run_dir, ignore_errors=True)


def begin_run(task: TaskSpec, table: pd.DataFrame, *, run_dir: Path,
              make_executor: ExecutorFactory, version: str,
              observer: RunObserver | None = None, llm: LLMClient | None = None,
              llm_name: str | None = None, rule: HybridRule | None = None,
              memory: MemoryUse | None = None,
              settings: SearchSettings | None = None) -> PendingRun:
    """Start a run that stops after intake for the person's confirmation (chat)."""
    request = _new_request(task, llm, llm_name, version, memory, settings)
    ctx = _context(request, table, run_dir, make_executor, version, observer, llm, rule, memory)
    ctx.confirm = True
    resolved_task = ctx.prepared.task
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / REQUEST_FILE, request.model_dump_json(indent=2))
    _invoke_graph(ctx, RunState())
    return PendingRun(ctx, resolved_task)


def read_request(run_dir: Path) -> RunRequest:
    path = run_dir / REQUEST_FILE
    if not path.exists():
        raise ConfigError(f"The folder '{run_dir}' holds no run to resume (no {REQUEST_FILE}).")
    return RunRequest.model_validate_json(path.read_text())


def resume_run(run_dir: Path, table: pd.DataFrame, *, make_executor: ExecutorFactory,
               version: str, observer: RunObserver | None = None,
               llm: LLMClient | None = None, rule: HybridRule | None = None,
               memory: MemoryUse | None = None) -> RunResult:
    """Go on from the last checkpoint of a killed run (same request, same table).

    ``memory`` should be the store the run started with (``RunRequest.memory``):
    retrieval is checkpointed, but the record is written to it at the end.
    """
    request = read_request(run_dir)
    if (run_dir / "run.json").exists():
        raise ConfigError(f"The run in '{run_dir}' has already finished; nothing to resume.")
    if not (run_dir / CHECKPOINT_FILE).exists():
        raise ConfigError(f"The run in '{run_dir}' has no checkpoint; it cannot be resumed.")
    ctx = _context(request, table, run_dir, make_executor, version, observer, llm, rule, memory)
    return _invoke(ctx, None)


def _new_request(task: TaskSpec, llm: LLMClient | None, llm_name: str | None,
                 version: str, memory: MemoryUse | None,
                 settings: SearchSettings | None) -> RunRequest:
    return RunRequest(run_id=uuid.uuid4().hex[:12], created_at=datetime.now(UTC), task=task,
                      llm=llm_name or ("none" if llm is None else llm.model),
                      memory=None if memory is None else memory.location,
                      settings=settings or SearchSettings(), mlpilot_version=version)


def _context(request: RunRequest, table: pd.DataFrame, run_dir: Path,
             make_executor: ExecutorFactory, version: str, observer: RunObserver | None,
             llm: LLMClient | None, rule: HybridRule | None,
             memory: MemoryUse | None) -> RunContext:
    rule = rule or HybridRule()
    if llm is not None:
        llm = DeadlineLLM(llm)  # the graph sets its deadline from the time budget
    coder = None if llm is None else LLMCoder(llm)
    return RunContext(task=request.task, table=table, run_id=request.run_id,
                      created_at=request.created_at, run_dir=run_dir,
                      make_executor=make_executor, version=version,
                      observer=observer or SilentObserver(), llm=llm,
                      planner=None if llm is None else LLMPlanner(llm), coder=coder,
                      verifier=Verifier(llm, coder=coder, max_repairs=rule.max_repairs),
                      rule=rule, memory=memory, settings=request.settings)


def _invoke(ctx: RunContext, graph_input: RunState | Command[bool] | None) -> RunResult:
    try:
        _invoke_graph(ctx, graph_input)
    finally:
        ctx.close()
    return RunResult(record=read_run_record(ctx.run_dir), run_dir=ctx.run_dir)


def _invoke_graph(ctx: RunContext, graph_input: RunState | Command[bool] | None) -> None:
    with open_checkpointer(ctx.run_dir) as saver:
        graph = build_graph(saver)
        graph.invoke(graph_input, {"configurable": {"thread_id": ctx.run_id}}, context=ctx)


# the types the graph state holds: the only ones a checkpoint may bring back
_STATE_TYPES = (TaskSpec, Budget, TrialResult, TrialConfig, Verdict, Proposal, PolicyState,
                RetrievedRun, CodeDraft, CodeEntry)


@contextmanager
def open_checkpointer(run_dir: Path) -> Iterator[SqliteSaver]:
    serde = JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__)
                                                        for t in _STATE_TYPES])
    with closing(sqlite3.connect(run_dir / CHECKPOINT_FILE, check_same_thread=False)) as conn:
        yield SqliteSaver(conn, serde=serde)


def read_run_record(run_dir: Path) -> RunRecord:
    return RunRecord.model_validate(json.loads((run_dir / "run.json").read_text()))
