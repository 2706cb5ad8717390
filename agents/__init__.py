"""The agent layer: the run's graph, the planner, the verifier and the hybrid policy.

Dependencies come in as arguments (the executor factory, the LLM client, the
observer); this package never builds real infrastructure itself.
"""

from __future__ import annotations

from agents._code_trial import run_code_trial
from agents._context import (
    ExecutorFactory,
    Prepared,
    RunContext,
    RunObserver,
    SilentObserver,
    holdout_rows,
    prepare_data,
)
from agents._memory import MemoryUse, Retrieval, memory_record
from agents._policy import HybridRule, PolicyState, SearchSettings, default_code_mode
from agents._run import (
    PendingRun,
    RunRequest,
    RunResult,
    begin_run,
    execute_run,
    read_request,
    read_run_record,
    resume_run,
)
from agents._search import (
    SearchData,
    SearchLoop,
    SearchOutcome,
    dump_trial,
    read_trials,
    score_result,
)
from agents.graph import RunState, build_graph
from agents.planner import LLMPlanner, PlanRequest, PlanResult, Proposer
from agents.verifier import CheckContext, Verifier, check_trial

__all__ = [
    "CheckContext",
    "ExecutorFactory",
    "HybridRule",
    "LLMPlanner",
    "MemoryUse",
    "PendingRun",
    "PlanRequest",
    "PlanResult",
    "PolicyState",
    "Prepared",
    "Proposer",
    "Retrieval",
    "RunContext",
    "RunObserver",
    "RunRequest",
    "RunResult",
    "RunState",
    "SearchData",
    "SearchLoop",
    "SearchOutcome",
    "SearchSettings",
    "SilentObserver",
    "Verifier",
    "begin_run",
    "build_graph",
    "check_trial",
    "default_code_mode",
    "dump_trial",
    "execute_run",
    "holdout_rows",
    "memory_record",
    "prepare_data",
    "read_request",
    "read_run_record",
    "read_trials",
    "resume_run",
    "run_code_trial",
    "score_result",
]
