"""The run memory against none: same datasets, same seeds, BO alone (``--llm none``).

For each bundled dataset and seed, two runs with the real sandbox and one
worker: ``memory`` retrieves from the shipped seed records (``memory/seed_runs.jsonl``)
with the dataset under test left out (leave-one-dataset-out: its own seed record
never comes back), ``none`` runs without memory. Reported: the best CV score
after 5 trials and after all of them, and the holdout score; per dataset, the
means over seeds and how often memory was better, level or worse.

    python -m evals.memory_vs_none [--datasets all] [--seeds 0,1,2] [--trials 5]
                                   [--seed-file FILE] [--out DIR]

Each finished run leaves ``eval_row.json`` in its folder; rerunning with the
same ``--out`` skips it.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents import MemoryUse, execute_run, read_trials
from evals._compare import (
    best_after,
    finished_row,
    paired_table,
    results_folder,
    run_grid,
    save_row,
    write_results,
)
from memory import SEED_FILE, InMemoryRunStore, read_jsonl
from sandbox import DataBundle, SandboxPool
from schemas import Budget, MemoryRecord, TaskSpec
from tools.datasets import BUNDLED, load_bundled

logger = logging.getLogger(__name__)


def run_one(dataset: str, seed: int, method: str, n_trials: int, root: Path,
            seed_records: Sequence[MemoryRecord]) -> dict[str, Any]:
    run_dir = root / f"{dataset}-s{seed}-{method}"
    if (row := finished_row(run_dir)) is not None:
        return row
    spec = BUNDLED[dataset]
    task = TaskSpec(data_path=Path(f"bundled:{dataset}"), target=spec.target, seed=seed,
                    budget=Budget(n_trials=n_trials))
    memory = None
    if method == "memory":
        store = InMemoryRunStore()
        store.add(*seed_records)
        memory = MemoryUse(store=store, exclude_own_dataset=True, write=False)

    @contextmanager
    def pool(bundle: DataBundle, scratch: Path) -> Iterator[SandboxPool]:
        with SandboxPool(bundle, n_workers=1, scratch_dir=scratch) as p:
            yield p

    record = execute_run(task, load_bundled(dataset), run_dir=run_dir, make_executor=pool,
                         version="eval", memory=memory).record
    trials = read_trials(run_dir)
    row = {"dataset": dataset, "seed": seed, "method": method, "metric": record.metric,
           "direction": record.direction, "n_trials": record.n_trials,
           "holdout": record.holdout_score, "search_s": record.search_time_s,
           "retrieved": [(r.dataset, round(r.distance, 3)) for r in record.retrieved],
           "by_source": record.trials_by_source,
           "best_after_5": best_after(trials, 5, record.direction),
           "best_after_all": best_after(trials, n_trials, record.direction)}
    return save_row(run_dir, row)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="all", help="comma-separated, or 'all'")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed-file", type=Path, default=SEED_FILE)
    parser.add_argument("--out", type=Path, default=None, help="folder for runs and results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    _, seed_records, _ = read_jsonl(args.seed_file)
    datasets = list(BUNDLED) if args.datasets == "all" else args.datasets.split(",")
    root = results_folder(args.out, "mlpilot-memory-vs-none-")
    rows = run_grid(datasets, [int(s) for s in args.seeds.split(",")], ("memory", "none"),
                    lambda dataset, seed, method: run_one(dataset, seed, method, args.trials,
                                                          root, seed_records))
    write_results(root, rows, paired_table(rows, "memory", "none",
                                           ("best_after_5", "best_after_all", "holdout")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
