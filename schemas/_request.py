"""What a person's sentence asked for: a new run, or a question about a finished one.

``tools.request`` fills these from text; the CLI and the chat turn a complete
``TaskRequest`` into a ``TaskSpec`` and act on a ``FollowUp``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas._metric import TaskType

RequestField = Literal["data", "target"]
FollowUpKind = Literal["why_best", "failures", "compare", "more_trials", "export", "summary",
                       "unknown"]


class TaskRequest(BaseModel):
    """A run as a sentence asked for it; ``None`` where the sentence did not say.

    ``data`` is a path or ``bundled:NAME``; ``metric`` and ``families`` hold
    mlpilot's names (``schemas.METRICS``, ``tools.catalog.FAMILY_NAMES``);
    ``missing`` lists what must still be asked before a run can start.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    data: str | None = None
    target: str | None = None
    task_type: TaskType | None = None
    metric: str | None = None
    n_trials: int | None = Field(default=None, ge=1)
    time_budget_s: float | None = Field(default=None, gt=0)
    families: tuple[str, ...] | None = None
    missing: tuple[RequestField, ...] = ()


class FollowUp(BaseModel):
    """A question or order about a finished run.

    ``families`` are the catalog families the text named (to explain, compare
    or search again), ``n_trials`` how many more trials it asked for and
    ``path`` where to export the model.
    """

    model_config = ConfigDict(frozen=True)

    kind: FollowUpKind
    families: tuple[str, ...] | None = None
    n_trials: int | None = Field(default=None, ge=1)
    path: str | None = None
    text: str
