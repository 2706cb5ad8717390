"""What the LLM layer reports: one record per request, and the totals of a run."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from pydantic import BaseModel, ConfigDict, Field


class LLMCall(BaseModel):
    """One request to the model, as the client saw it.

    ``purpose`` names the caller (``plan``, ``critic``, ``intake``, ``explain``,
    ``check``); ``cached`` calls were answered from the on-disk cache and cost
    nothing; ``ok`` is False when no valid answer came back, even after the
    repair round (``error`` says why).
    """

    model_config = ConfigDict(frozen=True)

    purpose: str
    model: str
    seconds: float = Field(ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    cached: bool = False
    repaired: bool = False  # the first answer was invalid; the repair round fixed it
    ok: bool = True
    error: str | None = None


class LLMUsage(BaseModel):
    """The totals of a run's LLM calls (``run.json``'s ``llm``)."""

    model_config = ConfigDict(frozen=True)

    model: str = "none"
    n_calls: int = 0
    n_cached: int = 0
    n_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    time_s: float = 0.0
    median_latency_s: dict[str, float] = Field(default_factory=dict)  # by purpose, live calls

    @classmethod
    def from_calls(cls, model: str, calls: Sequence[LLMCall]) -> LLMUsage:
        live: dict[str, list[float]] = {}
        for c in calls:
            if not c.cached:
                live.setdefault(c.purpose, []).append(c.seconds)
        return cls(model=model, n_calls=len(calls), n_cached=sum(c.cached for c in calls),
                   n_failed=sum(not c.ok for c in calls),
                   prompt_tokens=sum(c.prompt_tokens for c in calls),
                   completion_tokens=sum(c.completion_tokens for c in calls),
                   cost_usd=sum(c.cost_usd for c in calls),
                   time_s=sum(c.seconds for c in calls),
                   median_latency_s={p: median(s) for p, s in sorted(live.items())})
