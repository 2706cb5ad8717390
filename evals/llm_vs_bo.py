"""The embedded LLM planner against BO alone: same datasets, same seeds, same trial budget.

For each bundled dataset and seed, one run per method (``--llm local`` and
``--llm none``) with the real sandbox, one worker, the LLM's answer cache
off (every call is paid for). Reported per run: the best CV score after 5 and
after all trials (trial order as run), the holdout score, the search time,
the LLM's share of it and the planner's median latency; then, per dataset, the
means over seeds and how often the LLM run was better, level or worse than BO
alone on the same seed. Each finished run leaves ``eval_row.json`` in its folder:
rerunning the command with the same ``--out`` skips it.

    python -m evals.llm_vs_bo [--datasets iris,wine,breast_cancer] [--seeds 0]
                              [--trials 20] [--methods local,none] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents import execute_run, read_trials
from evals._compare import (
    best_after,
    finished_row,
    paired_table,
    results_folder,
    run_grid,
    save_row,
    write_results,
)
from sandbox import DataBundle, SandboxPool
from schemas import Budget, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.llm import local_threads, open_llm

logger = logging.getLogger(__name__)

CHECKPOINTS = (5, 20)


def run_one(dataset: str, seed: int, method: str, n_trials: int, root: Path,
            home: Path) -> dict[str, Any]:
    spec = BUNDLED[dataset]
    task = TaskSpec(data_path=Path(f"bundled:{dataset}"), target=spec.target, seed=seed,
                    budget=Budget(n_trials=n_trials))
    llm = open_llm(method, home=home, cache=False, seed=seed,
                   n_threads=local_threads(busy=1))

    @contextmanager
    def pool(bundle: DataBundle, scratch: Path) -> Iterator[SandboxPool]:
        with SandboxPool(bundle, n_workers=1, scratch_dir=scratch) as p:
            yield p

    run_dir = root / f"{dataset}-s{seed}-{method}"
    if (row := finished_row(run_dir)) is not None:  # a rerun of the command skips it
        return row
    record = execute_run(task, load_bundled(dataset), run_dir=run_dir, make_executor=pool,
                         version="eval", llm=llm, llm_name=method).record
    trials = read_trials(run_dir)
    row = {
        "dataset": dataset, "seed": seed, "method": method, "metric": record.metric,
        "direction": record.direction, "n_trials": record.n_trials,
        "holdout": record.holdout_score, "search_s": record.search_time_s,
        "llm_s": record.llm.time_s, "llm_calls": record.llm.n_calls,
        "llm_tokens": record.llm.prompt_tokens + record.llm.completion_tokens,
        "planner_median_s": record.llm.median_latency_s.get("plan"),
        "by_source": record.trials_by_source, "handover": record.llm_handover,
    }
    for n in CHECKPOINTS:
        row[f"best_after_{n}"] = best_after(trials, n, record.direction)
    return save_row(run_dir, row)


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = ("| dataset | seed | method | metric | best after 5 | best after 20 | holdout | "
            "search s | LLM s (share) | planner median s | trials by source |")
    lines = [head, "|" + "---|" * 11]

    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    for r in rows:
        share = r["llm_s"] / r["search_s"] if r["search_s"] else 0.0
        planner = "n/a" if r["planner_median_s"] is None else f"{r['planner_median_s']:.1f}"
        lines.append(
            f"| {r['dataset']} | {r['seed']} | {r['method']} | {r['metric']} | "
            f"{num(r['best_after_5'])} | {num(r['best_after_20'])} | {num(r['holdout'])} | "
            f"{r['search_s']:.0f} | {r['llm_s']:.0f} ({share:.0%}) | {planner} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(r['by_source'].items()))} |")
    return "\n".join(lines)


def summary(rows: Sequence[dict[str, Any]]) -> str:
    """Per dataset and LLM: means over seeds, and how often the LLM run was better, level or
    worse than BO alone (``none``) on the same seed."""
    fields = ("best_after_5", "best_after_20", "holdout")
    llms = [m for m in dict.fromkeys(r["method"] for r in rows) if m != "none"]
    lines = [f"{m} against none:\n\n" + paired_table(rows, m, "none", fields) for m in llms]
    llm_rows = [r for r in rows if r["method"] != "none" and r["search_s"]]
    if llm_rows:
        planner = [r["planner_median_s"] for r in llm_rows if r["planner_median_s"] is not None]
        share = sum(r["llm_s"] for r in llm_rows) / sum(r["search_s"] for r in llm_rows)
        lines.append(f"LLM runs: {len(llm_rows)}; median of their planner medians "
                     f"{statistics.median(planner):.1f} s; LLM share of search time {share:.0%}."
                     if planner else f"LLM runs: {len(llm_rows)}; no planner call.")
    return "\n\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="iris,wine,breast_cancer")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--methods", default="local,none")
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot",
                        help="where the local model's weights live (joined on first use)")
    parser.add_argument("--out", type=Path, default=None, help="folder for runs and results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = results_folder(args.out, "mlpilot-llm-vs-bo-")
    rows = run_grid(args.datasets.split(","), [int(s) for s in args.seeds.split(",")],
                    args.methods.split(","),
                    lambda dataset, seed, method: run_one(dataset, seed, method, args.trials,
                                                          root, args.home))
    write_results(root, rows, markdown(rows) + "\n\n" + summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
