"""The planner thinks while trials train: one planner call in the background.

A BO round does not need the LLM, so while it runs the planner is already asked
for the next LLM round, with the trials finished so far. The LLM round then
takes that answer instead of leaving the workers idle while the model writes.
The answer is one round stale (it has not seen the BO round's trials): the
planner's duplicates are checked again against every trial before they run.

At most one call is pending. Every other LLM call (the critic, the coder, the
record's usage) first waits for it, so the calls keep one order whatever the
timing, and a scripted LLM answers them in the order it was given. Nothing here
is checkpointed: on resume the LLM round asks again with the same trials, and
the LLM cache answers when the lost call had finished.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.planner import PlanRequest, PlanResult, Proposer


class PlanAhead:
    """The pending planner call, keyed by its request's trial count and batch size."""

    def __init__(self) -> None:
        self._pending: tuple[tuple[int, int], Future[PlanResult]] | None = None

    def start(self, planner: Proposer, request: PlanRequest) -> None:
        """Ask ``planner`` in a background thread (a pending call is settled first)."""
        self.settle()
        future: Future[PlanResult] = Future()

        def ask() -> None:
            try:
                future.set_result(planner.propose(request))
            except BaseException as exc:  # handed to whoever takes the answer
                future.set_exception(exc)

        threading.Thread(target=ask, name="mlpilot-planner", daemon=True).start()
        self._pending = (_key(request), future)

    def take(self, planner: Proposer, request: PlanRequest) -> PlanResult:
        """The pending answer when it was asked with ``request``'s trials, else ask now."""
        pending, self._pending = self._pending, None
        if pending is not None:
            key, future = pending
            if key == _key(request):
                return future.result()
            _quiet(future)
        return planner.propose(request)

    def settle(self) -> None:
        """Wait for the pending call (its answer stays for ``take``)."""
        if self._pending is not None:
            _quiet(self._pending[1])

    @property
    def pending(self) -> bool:
        return self._pending is not None


def _key(request: PlanRequest) -> tuple[int, int]:
    return len(request.trials), request.n


def _quiet(future: Future[PlanResult]) -> None:
    """Wait for ``future``; its error, if any, is for ``take`` to raise, not for us."""
    future.exception()
