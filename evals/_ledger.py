"""The bench's crash-safe ledger: one JSON line per finished cell (task × method × seed).

A bench folder holds ``bench.json`` (the settings every cell was run with) and
``cells.jsonl``. A cell's line is appended, flushed and fsynced only when the
cell has finished, so a killed bench loses at most the cells that were running;
a line cut by the kill is skipped on reading. Rerunning the bench with the same
folder runs only the cells the ledger does not hold. Adding methods, seeds or
tasks later adds cells; changing the budget is refused, since the cells would
not be comparable.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas import ConfigError, Direction, TaskType

log = logging.getLogger(__name__)

LEDGER_VERSION = 1
SETTINGS_FILE = "bench.json"
CELLS_FILE = "cells.jsonl"


class BenchSettings(BaseModel):
    """What makes cells comparable: the same budget for every method."""

    model_config = ConfigDict(frozen=True)

    version: int = LEDGER_VERSION
    n_trials: int = Field(ge=1)
    time_budget_s: float | None = Field(default=None, gt=0)
    n_workers: int = Field(default=1, ge=1)


class CurvePoint(BaseModel):
    """The incumbent after one more finished trial (anytime curves)."""

    model_config = ConfigDict(frozen=True)

    trial: int  # finished trials so far, from 1
    elapsed_s: float  # seconds since the cell started
    best_cv: float | None  # the best cross-validated score so far (None: nothing scored yet)


class CellResult(BaseModel):
    """One method's run on one task with one seed, scored by our harness."""

    model_config = ConfigDict(frozen=True)

    version: int = LEDGER_VERSION
    task: str
    method: str
    seed: int
    status: Literal["done", "failed"]  # failed: the method gave no scored model
    error: str | None = None
    task_type: TaskType
    metric: str
    direction: Direction
    n_trials: int = 0  # trials (or FLAML iterations) that finished
    holdout: float | None = None  # the final model on the holdout, once
    dummy_holdout: float | None = None  # the dummy predictor on the same holdout
    best_cv: float | None = None  # the best cross-validated score the search saw
    dummy_cv: float | None = None  # the dummy predictor's CV score on the same folds
    best_family: str | None = None
    wall_s: float = 0.0  # the whole cell: preparation, search, LLM and final refit
    llm_calls: int = 0
    llm_tokens: int = 0
    llm_cost_usd: float = 0.0
    llm_time_s: float = 0.0  # seconds spent waiting for the LLM
    trials_by_source: dict[str, int] = Field(default_factory=dict)
    curve: tuple[CurvePoint, ...] = ()
    run_dir: str | None = None  # relative to the bench folder
    finished_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task, self.method, self.seed)


class Ledger:
    """The cells of one bench folder; ``add`` makes a finished cell durable."""

    def __init__(self, root: Path, settings: BenchSettings) -> None:
        self.root = Path(root)
        self.settings = settings
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / SETTINGS_FILE
        if path.exists():
            stored = BenchSettings.model_validate_json(path.read_text())
            if stored != settings:
                raise ConfigError(
                    f"The bench folder '{self.root}' was run with {_describe(stored)}; "
                    f"rerun it with the same settings, or choose a new '--out' "
                    f"(asked: {_describe(settings)}).")
        else:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(settings.model_dump_json(indent=2))
            tmp.replace(path)
        self._cells: dict[tuple[str, str, int], CellResult] = {}
        for cell in read_cells(self.root):
            self._cells[cell.key] = cell

    def __contains__(self, key: tuple[str, str, int]) -> bool:
        return key in self._cells

    def __len__(self) -> int:
        return len(self._cells)

    @property
    def cells(self) -> list[CellResult]:
        return list(self._cells.values())

    def add(self, cell: CellResult) -> None:
        line = cell.model_dump_json() + "\n"
        with (self.root / CELLS_FILE).open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self._cells[cell.key] = cell


def read_cells(root: Path) -> list[CellResult]:
    """Every readable cell of a bench folder; a later line for the same cell wins."""
    path = Path(root) / CELLS_FILE
    if not path.exists():
        return []
    cells: dict[tuple[str, str, int], CellResult] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if raw.get("version", LEDGER_VERSION) > LEDGER_VERSION:
                log.warning("%s line %d: written by a newer mlpilot; skipped", path, number)
                continue
            cell = CellResult.model_validate(raw)
        except (ValueError, ValidationError, AttributeError):
            log.warning("%s line %d: unreadable (cut by a crash?); skipped", path, number)
            continue
        cells[cell.key] = cell
    return list(cells.values())


def _describe(settings: BenchSettings) -> str:
    budget = "" if settings.time_budget_s is None else f", --time-budget {settings.time_budget_s:g}"
    return f"--trials {settings.n_trials}{budget}, --workers {settings.n_workers}"
