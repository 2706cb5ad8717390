"""Typed search spaces. Each parameter maps one-to-one onto an optuna distribution.

A ``FamilySpace`` is one model family with its conditional parameters and a
sound default configuration. Preprocessing choices (imputation, encoding,
scaling) are ordinary parameters of the family.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas._metric import TaskType

ParamValue = Union[bool, int, float, str, None]


def _check_range(low: float, high: float, log: bool) -> None:
    if not low < high:
        raise ValueError(f"low must be below high, got {low} and {high}")
    if log and low <= 0:
        raise ValueError(f"a log-scaled range needs low > 0, got {low}")


class FloatParam(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high, self.log)
        return self

    def contains(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and self.low <= float(value) <= self.high)


class IntParam(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high, self.log)
        return self

    def contains(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and self.low <= value <= self.high)


class CategoricalParam(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["categorical"] = "categorical"
    choices: tuple[ParamValue, ...] = Field(min_length=1)

    def contains(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)


Param = Annotated[Union[FloatParam, IntParam, CategoricalParam], Field(discriminator="kind")]


class FamilySpace(BaseModel):
    """One model family: its parameters, their ranges and its default configuration."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    task_types: tuple[TaskType, ...]
    params: dict[str, Param]
    default: dict[str, ParamValue]
    max_rows: int | None = None  # size guard: the family is left out above this many rows

    @model_validator(mode="after")
    def _check_default(self) -> FamilySpace:
        missing = set(self.params) - set(self.default)
        extra = set(self.default) - set(self.params)
        if missing or extra:
            raise ValueError(f"default of {self.name!r} must set exactly its parameters; "
                             f"missing {sorted(missing)}, unknown {sorted(extra)}")
        for key, value in self.default.items():
            if not self.params[key].contains(value):
                raise ValueError(f"default {key}={value!r} of {self.name!r} is outside its range")
        return self


class TrialConfig(BaseModel):
    """One point of the search space: a family and a value for each of its parameters."""

    model_config = ConfigDict(frozen=True)

    family: str
    params: dict[str, ParamValue]

    def key(self) -> str:
        """A stable text key, equal for equal configurations (duplicate detection)."""
        items = ",".join(f"{k}={self.params[k]!r}" for k in sorted(self.params))
        return f"{self.family}({items})"
