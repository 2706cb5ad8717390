"""Runs of the full agent with the embedded LLM under two settings, paired by dataset and
seed: what ``evals.plan_ahead`` and ``evals.code_rounds`` share.

Each run uses the real sandbox and the same trial budget; the LLM's answer cache is off,
so every arm pays for every call. A finished run leaves ``eval_row.json`` in its folder,
and rerunning the command with the same ``--out`` skips it.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agents import SearchSettings, execute_run
from evals._compare import finished_row, results_folder, run_grid, save_row, write_results
from sandbox import DataBundle, SandboxPool
from schemas import Budget, RunRecord, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.llm import local_threads, open_llm


def run_agent(dataset: str, seed: int, arm: str, settings: SearchSettings, *, n_trials: int,
              n_workers: int, n_threads: int, root: Path, home: Path) -> dict[str, Any]:
    """One run (or the row it left); the row holds scores, times and what the LLM did."""
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
                         version="eval", llm=llm, llm_name="local", settings=settings).record
    return save_row(run_dir, {
        "dataset": dataset, "seed": seed, "arm": arm, "metric": record.metric,
        "direction": record.direction, "n_trials": record.n_trials,
        "holdout": record.holdout_score, "search_s": record.search_time_s,
        "llm_s": record.llm.time_s, "llm_calls": record.llm.n_calls, "llm_threads": n_threads,
        "by_source": record.trials_by_source, "handover": record.llm_handover,
        **_code_fields(record),
    })


def _code_fields(record: RunRecord) -> dict[str, Any]:
    """How many modules the LLM wrote, how many ran, and whether one won or was kept."""
    code = {e.family for e in record.code_proposals}
    return {"code_written": len(record.code_proposals),
            "code_ran": sum(e.rejected is None for e in record.code_proposals),
            "code_best": record.best is not None and record.best.config.family in code,
            "code_in_final": any(m.family in code for m in record.ensemble)}


def markdown(rows: Sequence[dict[str, Any]], *, code: bool = False) -> str:
    """One line per run; ``code``: with the modules written / ran and whether one won."""
    head = ["dataset", "seed", "arm", "metric", "holdout", "search s", "LLM s", "LLM calls",
            *(["modules written / ran", "a module won"] if code else []), "trials by source"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        holdout = "n/a" if r["holdout"] is None else f"{r['holdout']:.4f}"
        cells = [r["dataset"], str(r["seed"]), r["arm"], r["metric"], holdout,
                 f"{r['search_s']:.0f}", f"{r['llm_s']:.0f}", str(r["llm_calls"])]
        if code:
            won = "best" if r["code_best"] else ("in the ensemble" if r["code_in_final"]
                                                 else "no")
            cells += [f"{r['code_written']} / {r['code_ran']}", won]
        cells.append(", ".join(f"{k} {v}" for k, v in sorted(r["by_source"].items())))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_summary(rows: Sequence[dict[str, Any]], arm: str, baseline: str) -> str:
    """Per (dataset, seed): search time ``arm`` / ``baseline`` and the holdout difference,
    then the geometric mean of the ratios."""
    by_key = {(r["dataset"], r["seed"], r["arm"]): r for r in rows}
    lines = [f"| dataset | seed | search s {arm} / {baseline} | ratio | "
             f"holdout {arm} − {baseline} |", "|---|---|---|---|---|"]
    ratios = []
    for (dataset, seed, which), ours in by_key.items():
        base = by_key.get((dataset, seed, baseline))
        if which != arm or base is None or not base["search_s"]:
            continue
        ratio = ours["search_s"] / base["search_s"]
        ratios.append(ratio)
        diff = ("n/a" if ours["holdout"] is None or base["holdout"] is None
                else f"{ours['holdout'] - base['holdout']:+.4f}")
        lines.append(f"| {dataset} | {seed} | {ours['search_s']:.0f} / "
                     f"{base['search_s']:.0f} | {ratio:.2f} | {diff} |")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        lines.append(f"\nSearch time, {arm} / {baseline}, geometric mean over {len(ratios)} "
                     f"pairs: {geo:.2f}.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None, *, description: str, arms: Mapping[str, SearchSettings],
         arm: str, baseline: str, prefix: str, code: bool = False) -> int:
    """The command line of an eval that compares ``arm`` with ``baseline``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets", default="iris,breast_cancer")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arms", default=f"{baseline},{arm}")
    parser.add_argument("--threads", type=int, default=None,
                        help="the LLM's threads (default: as mlpilot run, the cores the "
                             "workers leave, 1 to 4)")
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot",
                        help="where the local model's weights live (joined on first use)")
    parser.add_argument("--out", type=Path, default=None, help="folder for runs and results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    root = results_folder(args.out, prefix)
    rows = run_grid(args.datasets.split(","), [int(s) for s in args.seeds.split(",")],
                    args.arms.split(","),
                    lambda dataset, seed, which: run_agent(
                        dataset, seed, which, arms[which], n_trials=args.trials,
                        n_workers=args.workers,
                        n_threads=args.threads or local_threads(busy=args.workers), root=root,
                        home=args.home))
    write_results(root, rows, markdown(rows, code=code) + "\n\n"
                  + paired_summary(rows, arm, baseline))
    return 0
