"""Replaying finished run folders: the same table, split, folds and trials, rebuilt from
the folder, so that another way of building the final model can be scored on the same
holdout. What ``evals.final_fit`` and ``evals.ensemble_choice`` share."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents import Prepared, holdout_rows, prepare_data, read_request, read_trials
from agents._search import resolved
from schemas import Direction, TaskType, TrialResult, is_code_family
from tools.io import load_table
from tools.metrics import score
from tools.model import fit_final_model
from tools.pipeline import build_pipeline


@dataclass(frozen=True)
class ReplayedRun:
    """A finished run rebuilt: its prepared data and its catalog trials."""

    prepared: Prepared
    task_type: TaskType
    metric: str
    direction: Direction
    trials: list[TrialResult]  # code trials left out: they refit only in a sandbox

    @property
    def task_name(self) -> str:
        return str(self.prepared.task.data_path).removeprefix("bundled:")

    def pipelines(self, members: Sequence[TrialResult]) -> list[Any]:
        """Fresh, unfitted pipelines of ``members`` (as the run built them)."""
        p = self.prepared
        return [build_pipeline(t.config, task_type=self.task_type,
                               numeric_columns=p.prep.numeric_columns_,
                               categorical_columns=p.prep.categorical_columns_,
                               seed=p.task.seed) for t in members]

    def refit_score(self, members: Sequence[TrialResult],
                    weights: Sequence[float]) -> tuple[float, float]:
        """``members`` refitted on all training rows, as a run does: holdout score, seconds."""
        started = time.monotonic()
        pred = self.refit_predict(members, weights)
        return self.holdout_score(pred), time.monotonic() - started

    def refit_predict(self, members: Sequence[TrialResult],
                      weights: Sequence[float]) -> np.ndarray:
        """``members`` refitted on all training rows, as a run does: holdout predictions."""
        p = self.prepared
        model = fit_final_model(self.pipelines(members), weights, p.prep, p.X_train,
                                p.train.y, task_type=self.task_type, target=p.task.target,
                                classes=p.data.classes, mlpilot_version="eval")
        return model.predict_raw(self._holdout[0])

    def holdout_score(self, pred: np.ndarray) -> float:
        return score(self.metric, self._holdout[1], pred, n_classes=self.prepared.n_classes)

    @cached_property
    def _holdout(self) -> tuple[pd.DataFrame, np.ndarray]:
        return holdout_rows(self.prepared)


def load_run(run_dir: Path) -> ReplayedRun:
    task = read_request(run_dir).task
    p = prepare_data(task, load_table(task.data_path))
    task_type, metric, direction = resolved(p.task)
    trials = [t for t in read_trials(run_dir) if not is_code_family(t.config.family)]
    return ReplayedRun(p, task_type, metric, direction, trials)


def replay_all(runs: Path, *, match: str, out: Path | None,
               replay: Callable[[Path], dict[str, Any] | None],
               line: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """``replay`` every run folder under ``runs`` whose name holds ``match`` (a bench's
    cells keep theirs in ``run/``); with ``out``, rows already in that JSONL file are
    reused and new ones appended, so a killed replay resumes."""
    done: dict[str, dict[str, Any]] = {}
    if out is not None and out.is_file():
        for text in out.read_text().splitlines():
            row = json.loads(text)
            done[row["run"]] = row
    rows = []
    for cell in sorted(runs.iterdir()):
        run_dir = cell / "run" if (cell / "run").is_dir() else cell
        if match not in cell.name or not (run_dir / "request.json").is_file():
            continue
        if cell.name in done:
            rows.append(done[cell.name])
            continue
        row = replay(run_dir)
        if row is None:
            continue
        row["run"] = cell.name
        rows.append(row)
        print(f"{cell.name}: {line(row)}", flush=True)
        if out is not None:
            with out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    return rows


def by_task(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["task"]].append(row)
    return dict(sorted(groups.items()))


def tally(rows: Sequence[dict[str, Any]], better: str, level: str) -> tuple[int, int, int]:
    """How many rows are better, level and worse by the boolean fields given."""
    n_better = sum(r[better] and not r[level] for r in rows)
    n_level = sum(bool(r[level]) for r in rows)
    return n_better, n_level, len(rows) - n_better - n_level


def level(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=0, atol=1e-12))


def replay_main(argv: list[str] | None, *, description: str,
                replay: Callable[[Path], dict[str, Any] | None],
                line: Callable[[dict[str, Any]], str],
                summarize: Callable[[list[dict[str, Any]]], str]) -> int:
    """The command line of a replay eval: ``RUNS_DIR [--match TEXT] [--out FILE]``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("runs", type=Path, help="a folder of run folders (a bench's runs/)")
    parser.add_argument("--match", default="", help="only run folders whose name holds this")
    parser.add_argument("--out", type=Path, default=None, help="JSONL of the rows (resumable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = replay_all(args.runs, match=args.match, out=args.out, replay=replay, line=line)
    print(summarize(rows))
    return 0
