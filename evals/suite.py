"""Benchmark suites as data: which bundled datasets a bench runs, predicting what, scored how.

A suite is a YAML file: a name, a description and a list of tasks, each a bundled dataset
(``tools.datasets.BUNDLED``) with its target, task type and metric. The suites that ship
with mlpilot live in ``evals/suites/`` and are loaded by name (``load_suite("public")``);
any other suite file is loaded by its path. Loading checks every task against the bundled
dataset and the metric table, so a typo fails before the first run, not after an hour.

The runner gets each task's table from ``task_table`` (the dataset converted to Parquet once
per cache folder, so every method and seed reads the same bytes) and its ``TaskSpec`` from
``task_spec``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas import DEFAULT_METRIC, METRICS, Budget, ConfigError, TaskSpec, TaskType
from tools import datasets as datasets_module
from tools.datasets import BUNDLED, load_bundled

log = logging.getLogger(__name__)

__all__ = ["SUITES_DIR", "BenchTask", "Suite", "load_suite", "suite_names", "task_spec",
           "task_table"]

SUITES_DIR = Path(__file__).resolve().parent / "suites"
_SUITE_EXTS = (".yaml", ".yml")
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # used in file names and tables


class BenchTask(BaseModel):
    """One task of a suite: a bundled dataset, what to predict and how to score it.

    ``metric`` may be left out of a suite file: it is then the project's default for the
    task type (``schemas.DEFAULT_METRIC``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME_PATTERN)
    dataset: str
    target: str
    task_type: TaskType
    metric: str

    @model_validator(mode="before")
    @classmethod
    def _default_metric(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("metric") is None \
                and data.get("task_type") in DEFAULT_METRIC:
            return {**data, "metric": DEFAULT_METRIC[data["task_type"]]}
        return data

    @model_validator(mode="after")
    def _check(self) -> BenchTask:
        if self.dataset not in BUNDLED:
            raise ValueError(f"The 'dataset' of task {self.name!r} must be one of "
                             f"{sorted(BUNDLED)}; got {self.dataset!r} instead.")
        bundled = BUNDLED[self.dataset]
        if self.target != bundled.target:
            raise ValueError(f"The 'target' of task {self.name!r} must be {bundled.target!r}, "
                             f"the target of the bundled dataset {self.dataset!r}; got "
                             f"{self.target!r} instead.")
        if self.task_type != bundled.task_type:
            raise ValueError(f"The 'task_type' of task {self.name!r} must be "
                             f"{bundled.task_type!r}, the task type of the bundled dataset "
                             f"{self.dataset!r}; got {self.task_type!r} instead.")
        if self.metric not in METRICS:
            raise ValueError(f"The 'metric' of task {self.name!r} must be one of "
                             f"{sorted(METRICS)}; got {self.metric!r} instead.")
        if self.task_type not in METRICS[self.metric].task_types:
            fits = sorted(m.name for m in METRICS.values() if self.task_type in m.task_types)
            raise ValueError(f"The 'metric' of task {self.name!r} must fit a {self.task_type} "
                             f"task (one of {fits}); got {self.metric!r} instead.")
        return self


class Suite(BaseModel):
    """A named list of benchmark tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME_PATTERN)
    description: str = ""
    tasks: tuple[BenchTask, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        names = [task.name for task in self.tasks]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"The task names of a suite must be unique; got {repeated} more "
                             "than once instead.")
        return self


def suite_names() -> list[str]:
    """The suites that ship with mlpilot, by name."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A bundled suite by name, or the suite in a YAML file; ``ConfigError`` if unusable."""
    path = _suite_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"The suite file '{path}' cannot be read: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The suite file '{path}' is not UTF-8 text.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"The suite file '{path}' is not valid YAML: "
                          f"{_yaml_problem(exc)}.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"The suite file '{path}' must hold a mapping with 'name', "
                          f"'description' and 'tasks'; got {type(data).__name__} instead.")
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"The suite file '{path}' is invalid: {_first_error(exc)}") from exc
    log.debug("loaded suite %s from %s: %d tasks", suite.name, path, len(suite.tasks))
    return suite


def _suite_path(name_or_path: str) -> Path:
    text = str(name_or_path).strip()
    if text in suite_names():
        return SUITES_DIR / f"{text}.yaml"
    path = Path(text).expanduser()
    if path.suffix.lower() not in _SUITE_EXTS and not path.exists():
        raise ConfigError(f"The suite must be one of {suite_names()} or the path of a .yaml "
                          f"file; got {text!r} instead.")
    if not path.exists():
        raise ConfigError(f"The suite file '{path}' does not exist.")
    if not path.is_file():
        raise ConfigError(f"The suite path '{path}' is not a file; give the path of a .yaml "
                          "file.")
    return path


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What the YAML parser objected to, and where ('line 3, column 1')."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        where = exc.problem_mark or exc.context_mark
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        return _one_line(f"{exc.problem}{at}")
    return _one_line(str(exc))


def _first_error(exc: ValidationError) -> str:
    """The first problem pydantic found, as 'where: what'."""
    error = exc.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "a required field is missing."
    elif error["type"] == "extra_forbidden":
        message = "this field is unknown."
    elif error["type"] == "too_short":
        message = f"must hold at least one item; got {error.get('input')!r} instead."
    elif error["type"] == "string_pattern_mismatch":
        message = ("must be letters, digits, '_', '.' or '-', starting with a letter or digit; "
                   f"got {error.get('input')!r} instead.")
    elif not message.endswith("."):
        message = f"{message}; got {error.get('input')!r} instead."
    return _one_line(f"{where.lstrip('.')}: {message}" if where else message)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def task_table(task: BenchTask, cache_dir: Path) -> pd.DataFrame:
    """The task's table, converted to ``cache_dir/<dataset>-<loaders>.parquet`` on first use.

    ``<loaders>`` is a digest of the loaders' source (``tools/datasets.py``), so a
    changed loader never serves a stale copy. The Parquet file is written
    atomically (a temp file, then a rename), so parallel runners and a killed bench
    never leave half a file; later calls read it back.
    """
    path = Path(cache_dir) / f"{task.dataset}-{_loaders_digest()}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        table = load_bundled(task.dataset)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            table.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        log.info("cached bundled dataset %s in %s", task.dataset, path)
    return pd.read_parquet(path)


@functools.cache
def _loaders_digest() -> str:
    return hashlib.sha256(Path(datasets_module.__file__).read_bytes()).hexdigest()[:10]


def task_spec(task: BenchTask, *, seed: int, n_trials: int, time_budget_s: float | None,
              n_workers: int) -> TaskSpec:
    """The ``TaskSpec`` of one bench cell: the task, with the bench's seed and budget."""
    try:
        return TaskSpec(data_path=Path(f"bundled:{task.dataset}"), target=task.target,
                        task_type=task.task_type, metric=task.metric, seed=seed,
                        budget=Budget(n_trials=n_trials, time_budget_s=time_budget_s),
                        n_workers=n_workers)
    except ValidationError as exc:
        raise ConfigError(f"The bench settings are invalid: {_first_error(exc)}") from exc
