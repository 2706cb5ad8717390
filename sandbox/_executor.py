"""The one interface the rest of mlpilot uses to run trials."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas import TrialResult, TrialSpec


@runtime_checkable
class Executor(Protocol):
    """Runs trials. ``run`` is thread-safe and never raises for a bad trial.

    A trial that fails (raises, times out, runs out of memory, returns bad
    predictions) comes back as ``TrialResult(status="failed")``. Only a broken
    executor raises (``schemas.SandboxError``).
    """

    def run(self, spec: TrialSpec) -> TrialResult: ...
