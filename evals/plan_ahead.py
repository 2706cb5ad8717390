"""The planner thinking while a BO round trains, against the planner waited for.

For each bundled dataset and seed, two runs of the full agent with the embedded
LLM, the real sandbox and the same trial budget: ``ahead`` (the default: the
planner is asked while a BO round trains) and ``serial`` (``plan_ahead`` off:
each planner call waits for the trials before it, and the workers wait for the
call). The LLM's answer cache is off, so both pay for every call. Reported per
run: the search time, the LLM's time, the holdout score and the trials by
source; then per dataset the ratio of search times (ahead / serial) and the
holdout difference, and over all pairs the geometric mean of the ratios. Each
finished run leaves ``eval_row.json`` in its folder: rerunning the command with
the same ``--out`` skips it.

    python -m evals.plan_ahead [--datasets iris,breast_cancer] [--seeds 0]
                               [--trials 20] [--workers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents import SearchSettings, execute_run
from evals._compare import finished_row, results_folder, run_grid, save_row, write_results
from sandbox import DataBundle, SandboxPool
from schemas import Budget, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.llm import open_llm

ARMS = {"ahead": SearchSettings(), "serial": SearchSettings(plan_ahead=False)}


def run_one(dataset: str, seed: int, arm: str, *, n_trials: int, n_workers: int,
            n_threads: int, root: Path, home: Path) -> dict[str, Any]:
    run_dir = root / f"{dataset}-s{seed}-{arm}"
    if (row := finished_row(run_dir)) is not None:  # a rerun of the command skips it
        return row
    spec = BUNDLED[dataset]
    task = TaskSpec(data_path=Path(f"bundled:{dataset}"), target=spec.target, seed=seed,
                    n_workers=n_workers, budget=Budget(n_trials=n_trials))
    llm = open_llm("local", home=home, cache=False, seed=seed, n_threads=n_threads)

    @contextmanager
    def pool(bundle: DataBundle, scratch: Path) -> Iterator[SandboxPool]:
        with SandboxPool(bundle, n_workers=n_workers, scratch_dir=scratch) as p:
            yield p

    record = execute_run(task, load_bundled(dataset), run_dir=run_dir, make_executor=pool,
                         version="eval", llm=llm, llm_name="local",
                         settings=ARMS[arm]).record
    return save_row(run_dir, {
        "dataset": dataset, "seed": seed, "arm": arm, "metric": record.metric,
        "direction": record.direction, "n_trials": record.n_trials,
        "holdout": record.holdout_score, "search_s": record.search_time_s,
        "llm_s": record.llm.time_s, "llm_calls": record.llm.n_calls, "llm_threads": n_threads,
        "by_source": record.trials_by_source, "handover": record.llm_handover,
    })


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| dataset | seed | arm | metric | holdout | search s | LLM s | LLM calls | "
             "trials by source |", "|" + "---|" * 9]
    for r in rows:
        holdout = "n/a" if r["holdout"] is None else f"{r['holdout']:.4f}"
        lines.append(
            f"| {r['dataset']} | {r['seed']} | {r['arm']} | {r['metric']} | {holdout} | "
            f"{r['search_s']:.0f} | {r['llm_s']:.0f} | {r['llm_calls']} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(r['by_source'].items()))} |")
    return "\n".join(lines)


def summary(rows: Sequence[dict[str, Any]]) -> str:
    """Per (dataset, seed) pair: search time ahead / serial and the holdout difference."""
    by_key = {(r["dataset"], r["seed"], r["arm"]): r for r in rows}
    lines = ["| dataset | seed | search s ahead / serial | ratio | holdout ahead − serial |",
             "|---|---|---|---|---|"]
    ratios = []
    for (dataset, seed, arm), ahead in by_key.items():
        serial = by_key.get((dataset, seed, "serial"))
        if arm != "ahead" or serial is None or not serial["search_s"]:
            continue
        ratio = ahead["search_s"] / serial["search_s"]
        ratios.append(ratio)
        diff = ("n/a" if ahead["holdout"] is None or serial["holdout"] is None
                else f"{ahead['holdout'] - serial['holdout']:+.4f}")
        lines.append(f"| {dataset} | {seed} | {ahead['search_s']:.0f} / "
                     f"{serial['search_s']:.0f} | {ratio:.2f} | {diff} |")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        lines.append(f"\nSearch time, ahead / serial, geometric mean over {len(ratios)} "
                     f"pairs: {geo:.2f}.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="iris,breast_cancer")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arms", default="serial,ahead")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1),
                        help="the LLM's threads (default: as mlpilot run, up to 4 cores)")
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot",
                        help="where the local model's weights live (joined on first use)")
    parser.add_argument("--out", type=Path, default=None, help="folder for runs and results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = results_folder(args.out, "mlpilot-plan-ahead-")
    rows = run_grid(args.datasets.split(","), [int(s) for s in args.seeds.split(",")],
                    args.arms.split(","),
                    lambda dataset, seed, arm: run_one(
                        dataset, seed, arm, n_trials=args.trials, n_workers=args.workers,
                        n_threads=args.threads, root=root, home=args.home))
    write_results(root, rows, markdown(rows) + "\n\n" + summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
