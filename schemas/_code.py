"""A code proposal: the text of a Python module that builds an estimator, and its space.

The module defines ``build_model(params)`` (an unfitted scikit-learn-compatible
estimator) and, optionally, ``SPACE`` (the parameters ``build_model`` reads).
``tools.code.check_code`` makes a ``CodeProposal`` from the text without running it;
the code itself only ever runs inside the sandbox.

The trials of a proposal belong to the family ``code_<digest>`` (see ``code_family``):
a ``TrialConfig(family=..., params=...)`` names the module and the point of its space,
and the family is never part of the catalog.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas._space import FamilySpace

CODE_FAMILY_PREFIX = "code_"
DIGEST_CHARS = 12
_CODE_FAMILY = re.compile(rf"^{CODE_FAMILY_PREFIX}[0-9a-f]{{{DIGEST_CHARS}}}$")


def source_digest(source: str) -> str:
    """The first 12 hex digits of the sha256 of the module text (UTF-8)."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def code_family(digest: str) -> str:
    """The family name of a code proposal's trials: ``code_<digest>``."""
    return f"{CODE_FAMILY_PREFIX}{digest}"


def is_code_family(name: str) -> bool:
    """Whether ``name`` is a code proposal's family (``code_`` and 12 hex digits)."""
    return bool(_CODE_FAMILY.match(name))


class CodeProposal(BaseModel):
    """A statically checked code proposal; its ``space.name`` is its family name."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")  # a short identifier
    source: str  # the module text
    space: FamilySpace  # built from SPACE; no parameters when the module has none
    digest: str = Field(pattern=rf"^[0-9a-f]{{{DIGEST_CHARS}}}$")

    @model_validator(mode="after")
    def _check_digest(self) -> CodeProposal:
        if self.digest != source_digest(self.source):
            raise ValueError(f"digest {self.digest!r} is not the sha256 of the source "
                             f"({source_digest(self.source)!r})")
        if self.space.name != self.family:
            raise ValueError(f"the space of a code proposal must be named {self.family!r}; "
                             f"got {self.space.name!r}")
        return self

    @property
    def family(self) -> str:
        """The family name of this proposal's trials."""
        return code_family(self.digest)


CodeOrigin = Literal["llm", "repair"]


class CodeDraft(BaseModel):
    """A module the LLM wrote or repaired, before its static check (it may fail it).

    ``attempt`` is 0 for a first version and n for its n-th repair; ``root`` is the family
    of the first version, so the repairs of one proposal can be counted; ``parent`` is the
    family of the version this one repairs.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
    source: str
    rationale: str = ""
    origin: CodeOrigin = "llm"
    attempt: int = Field(default=0, ge=0)
    parent: str | None = None
    root: str | None = None  # None: this draft is the first version

    @property
    def family(self) -> str:
        return code_family(source_digest(self.source))

    @property
    def root_family(self) -> str:
        return self.root or self.family


class CodeEntry(BaseModel):
    """A code proposal of a run, as the run record lists it (the text is in ``path``)."""

    model_config = ConfigDict(frozen=True)

    family: str
    name: str
    origin: CodeOrigin
    attempt: int = 0
    parent: str | None = None
    rationale: str = ""
    path: str  # relative to the run folder
    rejected: str | None = None  # why the static check refused it (it never ran)
