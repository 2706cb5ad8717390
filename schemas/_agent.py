"""What the agents exchange: the planner's proposals and the verifier's verdicts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas._code import CodeDraft
from schemas._space import TrialConfig
from schemas._trial import TrialSource

CheckName = Literal[
    "failed",            # the trial did not produce predictions
    "no_better_than_dummy",
    "unstable_cv",       # the spread of the fold scores is large against the score
    "too_good",          # a perfect or near-perfect score: suspect leakage
    "overfit",           # far better on its own training rows than in cross-validation
    "duplicate",         # the same configuration ran before
    "limit",             # it hit the time or memory limit
]


class Proposal(BaseModel):
    """A configuration someone wants tried, and why; validated against the catalog."""

    model_config = ConfigDict(frozen=True)

    config: TrialConfig
    source: TrialSource
    rationale: str = ""


class Verdict(BaseModel):
    """The verifier's judgement of one finished trial.

    ``flags`` come from deterministic checks; ``critic`` is the LLM critic's
    note when it was asked (failed or suspicious trials only), and ``repair``
    the configuration it proposed instead, already validated; for a failed code
    proposal, ``code_repair`` is the repaired module (checked when it runs).
    """

    model_config = ConfigDict(frozen=True)

    trial_id: int
    status: Literal["ok", "suspicious", "failed"]
    flags: tuple[CheckName, ...] = ()
    details: tuple[str, ...] = ()
    critic: str | None = None
    repair: Proposal | None = None
    code_repair: CodeDraft | None = None  # a repaired module, for a failed code trial
