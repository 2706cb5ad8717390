"""The agent layer: the run's flow (and, later, planner, verifier and routing).

Dependencies come in as arguments (the executor factory, the observer); this
package never builds real infrastructure itself.
"""

from __future__ import annotations

from agents._run import (
    ExecutorFactory,
    RunObserver,
    RunResult,
    SilentObserver,
    execute_run,
    read_run_record,
)
from agents._search import SearchData, SearchLoop, SearchOutcome

__all__ = ["ExecutorFactory", "RunObserver", "RunResult", "SearchData", "SearchLoop",
           "SearchOutcome", "SilentObserver", "execute_run", "read_run_record"]
