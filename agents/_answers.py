"""The shapes the LLM answers in, built from the catalog, and how they become configs.

Two views of one answer: the JSON schema sent to the model is strict (one
object per family, each parameter typed, categorical values as enums), so a
grammar-constrained local model can only write well-formed proposals; the
pydantic model that parses the answer is lenient (any family name, any
parameter values), so one bad proposal in a batch is dropped alone instead of
voiding the batch. ``to_config`` then validates each proposal against the
catalog, clamping numbers into range and filling missing parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, create_model

from schemas import (
    CategoricalParam,
    ConfigError,
    FamilySpace,
    FloatParam,
    Param,
    TrialConfig,
)
from tools.catalog import validate_against

log = logging.getLogger(__name__)

RATIONALE_CHARS = 160
# Free text in the strict schema is bounded by a pattern: a grammar-constrained local model
# honours it (llama.cpp does not enforce maxLength), so it cannot ramble for hundreds of tokens.
_SHORT_TEXT = r"^[^\"\\\n]{1,%d}$"


class RawProposal(BaseModel):
    family: str
    params: dict[str, Any] = Field(default_factory=dict)
    rationale: str = ""


class _Lenient(BaseModel):
    """Parses leniently; sends ``strict_schema`` (when set) as its JSON schema."""

    strict_schema: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if cls.strict_schema is not None:
            return cls.strict_schema
        return super().model_json_schema(*args, **kwargs)


class ProposalBatch(_Lenient):
    """The planner's answer: a list of proposals."""

    proposals: list[RawProposal] = Field(default_factory=list)


class CriticAnswer(_Lenient):
    """The critic's answer about one failed or suspicious trial."""

    diagnosis: str
    action: Literal["repair", "drop"]
    repair: RawProposal | None = None


def batch_answer_model(spaces: Sequence[FamilySpace], n_max: int) -> type[ProposalBatch]:
    """A ``ProposalBatch`` subclass whose schema allows 1..n_max typed proposals."""
    fields: dict[str, Any] = {"proposals": (list[_strict_union(spaces)],  # type: ignore[misc]
                                            Field(min_length=1, max_length=n_max))}
    strict = create_model("Proposals", **fields)
    return type("PlannerAnswer", (ProposalBatch,), {"strict_schema": strict.model_json_schema()})


def critic_answer_model(spaces: Sequence[FamilySpace]) -> type[CriticAnswer]:
    """A ``CriticAnswer`` subclass whose schema types the repair proposal."""
    fields: dict[str, Any] = {"diagnosis": (str, Field(pattern=_SHORT_TEXT % 240)),
                              "action": (Literal["repair", "drop"], ...),
                              "repair": (_strict_union(spaces) | None, None)}
    strict = create_model("Critique", **fields)
    return type("CriticAnswerFor", (CriticAnswer,), {"strict_schema": strict.model_json_schema()})


def to_config(raw: RawProposal, spaces: Sequence[FamilySpace]) -> TrialConfig | None:
    """The proposal as a valid configuration (repaired), or None with a logged reason."""
    space = next((s for s in spaces if s.name == raw.family.strip().lower()), None)
    if space is None:
        log.info("dropped a proposal for unknown family %r", raw.family)
        return None
    try:
        return validate_against(TrialConfig(family=space.name, params=dict(raw.params)), space,
                                repair=True)
    except (ConfigError, ValueError) as exc:
        log.info("dropped a proposal for %s: %s", space.name, exc)
        return None


def _strict_union(spaces: Sequence[FamilySpace]) -> Any:
    models = [_family_model(s) for s in spaces]
    union: Any = models[0]
    for m in models[1:]:
        union = union | m
    return union


def _family_model(space: FamilySpace) -> type[BaseModel]:
    fields: dict[str, Any] = {key: (_annotation(p), ...) for key, p in space.params.items()}
    params = create_model(f"{_camel(space.name)}Params", **fields)
    family: Any = Literal[space.name]
    outer: dict[str, Any] = {"family": (family, ...), "params": (params, ...),
                             "rationale": (str, Field(pattern=_SHORT_TEXT % RATIONALE_CHARS))}
    return create_model(f"{_camel(space.name)}Proposal", **outer)


def _annotation(param: Param) -> Any:
    if isinstance(param, CategoricalParam):
        choices: Any = Literal[param.choices]
        return choices
    kind = float if isinstance(param, FloatParam) else int
    return Annotated[kind, Field(ge=param.low, le=param.high)]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
