"""One command for the overhead numbers: trial harness, memory retrieval, LLM planner, code trials.

Runs, in turn:

1. ``evals.overhead``: mlpilot's trial path against a plain in-process optuna
   objective on the same configurations, and the executors on fixed models;
2. ``evals.memory_latency`` at a few store sizes (chroma and the exact store);
3. ``evals.planner_latency`` with the local model (skipped with a line saying
   why when it cannot be loaded; ``--no-llm`` skips it on purpose);
4. ``evals.overhead.compare_code_with_catalog``: the same logistic regression as
   a code trial and as a catalog trial, through one sandbox pool;

and writes ``DIR/overheads.md`` (the machine, the command, one table per
measurement) and ``DIR/overheads.json`` (every number). The defaults finish in
about ten minutes on two cores.

    python -m evals.overheads --out DIR [--trials 30] [--isolation auto]
                              [--families linear,knn,svm] [--records 1000,5000,20000]
                              [--queries 100] [--no-llm] [--llm local] [--code-rounds 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import memory_latency, overhead, planner_latency
from evals.report import machine_info
from schemas import ConfigError, LLMError
from tools.datasets import BUNDLED
from tools.llm import local_threads

logger = logging.getLogger(__name__)

MD_FILE = "overheads.md"
JSON_FILE = "overheads.json"
DEFAULT_RECORDS = (1000, 5000, 20000)


def machine() -> dict[str, Any]:
    """What the numbers were measured on (``evals.report.machine_info``), with the load
    average when the measurement began."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {**machine_info(), "load_average": list(load) if load is not None else None}


def memory_sizes(records: Sequence[int], n_queries: int, *, runs_per_dataset: int = 5,
                 seed: int = 0) -> list[dict[str, Any]]:
    """``memory_latency.measure`` at each store size; queries are capped at the number of
    stored datasets."""
    results = []
    for n in records:
        n_datasets = -(-n // runs_per_dataset)
        results.append(memory_latency.measure(n, min(n_queries, n_datasets),
                                              runs_per_dataset=runs_per_dataset, seed=seed))
    return results


def memory_table(results: Sequence[dict[str, Any]]) -> str:
    """One markdown table for every store size."""
    lines = ["| records | store | fill s | similar median ms | p95 ms | "
             "with exclude_fingerprint median ms | p95 ms | recall@5 (new / lodo) |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for result in results:
        recall = result["recall_at_5"]
        for name, row in result["stores"].items():
            said = (f"{recall['fresh']:.3f} / {recall['lodo']:.3f}" if "chroma" in name
                    else "exact")
            lines.append(f"| {result['records']} | {name} | {row['fill_s']:.1f} | "
                         f"{row['similar']['median_ms']:.2f} | {row['similar']['p95_ms']:.2f} | "
                         f"{row['similar_exclude']['median_ms']:.2f} | "
                         f"{row['similar_exclude']['p95_ms']:.2f} | {said} |")
    if results:
        first = results[0]
        lines += ["", f"{first['queries']} queries per column (fewer where a store holds fewer "
                      f"datasets), k={first['k']}, {first['runs_per_dataset']} runs per "
                      f"dataset; HNSW {json.dumps(first['hnsw'])}"]
        for result in results:
            chroma = result["stores"]["chroma (embedded)"]["similar"]["median_ms"]
            exact = result["stores"]["in-memory (exact)"]["similar"]["median_ms"]
            lines.append(f"- {result['records']} records: chroma answers in a median "
                         f"{chroma:.2f} ms, the exact in-memory store in {exact:.2f} ms.")
    return "\n".join(lines)


def planner(args: argparse.Namespace) -> dict[str, Any]:
    """The planner's latency, or ``{"skipped": why}``."""
    if args.no_llm:
        return {"skipped": "--no-llm was given"}
    try:
        return planner_latency.measure(args.llm, home=args.home, n_threads=args.threads,
                                       datasets=args.llm_datasets.split(","),
                                       n_calls=args.llm_calls, batch=args.llm_batch)
    except (LLMError, ImportError, OSError) as exc:
        logger.warning("planner latency skipped: %s", exc)
        return {"skipped": f"the model {args.llm!r} cannot be loaded: {exc}"}


def markdown(report: dict[str, Any]) -> str:
    """The whole report as markdown."""
    m = report["machine"]
    memory = f"{m['memory_gib']:.0f} GiB" if m["memory_gib"] else "unknown memory"
    load = (", ".join(f"{x:.2f}" for x in m["load_average"]) if m["load_average"]
            else "unknown")
    out = ["# mlpilot overheads", "",
           f"- machine: {m['cpu']}, {m['cores']} cores, {memory}; {m['os']}, "
           f"Python {m['python']}; load average when it began {load}",
           f"- command: `{report['command']}`",
           f"- started {report['started_at']}, took {report['elapsed_s']:.0f} s", "",
           "## 1. Per-trial overhead: mlpilot against an in-process optuna objective", "",
           "Overhead = a trial's wall time (optuna's ask to tell) minus the model's own "
           "fit+predict time summed over the folds. mlpilot asks its study, builds the "
           "catalog pipeline, dumps it, runs it in a sandbox worker, scores the out-of-fold "
           "predictions and tells the study; the peer is `study.optimize` with an objective "
           "that builds the same pipeline and cross-validates it in-process.", "",
           overhead.optuna_table(report["against_optuna"]), "",
           "## 2. The executors on fixed models", "",
           "The same two small models (logistic regression, depth-3 tree; 5 folds) through "
           "the sandbox pool, the in-process executor and a plain loop.", "",
           overhead.table(report["executors"]), "",
           "## 3. Memory retrieval latency", "",
           memory_table(report["memory"]), "",
           "## 4. LLM planner latency", ""]
    plan = report["planner"]
    if "skipped" in plan:
        out.append(f"Skipped: {plan['skipped']}.")
    else:
        out.append(planner_latency.table(plan))
    out += ["", "## 5. A code trial against a catalog trial", "",
            "The same logistic regression run both ways through one started sandbox pool: as "
            "the catalog's linear family (`build_pipeline`, dumped, run as a cv job, scored by "
            "`score_result`) and as a code proposal (a module whose `build_model` returns it, "
            "statically checked, then run by `run_code_trial`).", "",
            overhead.code_table(report["code_vs_catalog"])]
    return "\n".join(out) + "\n"


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas; "
                                         f"got {text!r}")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evals.overheads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the two reports")
    parser.add_argument("--trials", type=int, default=30, help="measured trials per variant")
    parser.add_argument("--isolation", choices=("auto", "bwrap", "process"), default="auto")
    parser.add_argument("--preload", default=",".join(overhead.DEFAULT_PRELOAD),
                        help="comma-separated modules the sandbox workers import up front")
    parser.add_argument("--families", default=",".join(overhead.PEER_FAMILIES),
                        help="catalog families whose defaults the optuna comparison runs")
    parser.add_argument("--records", type=_sizes, default=list(DEFAULT_RECORDS),
                        help="memory store sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=100, help="memory queries per column")
    parser.add_argument("--llm", default="local", help="the planner's model")
    parser.add_argument("--no-llm", action="store_true", help="skip the planner latency")
    parser.add_argument("--llm-datasets", default="iris,breast_cancer")
    parser.add_argument("--llm-calls", type=int, default=2, help="planner calls per dataset")
    parser.add_argument("--llm-batch", type=int, default=4, help="configurations per call")
    parser.add_argument("--threads", type=int, default=local_threads(),
                        help="the local model's threads (default: the cores, at most 4)")
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot",
                        help="where the local model's weights are kept")
    parser.add_argument("--code-rounds", type=int, default=20,
                        help="measured rounds of one code and one catalog trial")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.trials, args.queries, args.llm_calls, args.llm_batch, args.code_rounds) < 1:
        parser.error("--trials, --queries, --llm-calls, --llm-batch and --code-rounds must "
                     "be >= 1")
    unknown = [d for d in args.llm_datasets.split(",") if d not in BUNDLED]
    if unknown:
        parser.error(f"--llm-datasets must name bundled datasets; got {', '.join(unknown)}")
    return args


def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Every measurement; the report as a dict (what ``overheads.json`` holds)."""
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "command": command,
                              "started_at": started_at.isoformat(timespec="seconds")}
    preload = [m for m in args.preload.split(",") if m]
    logger.info("1/5 mlpilot against an in-process optuna objective (%d trials each)",
                   args.trials)
    report["against_optuna"] = overhead.compare_with_optuna(
        args.trials, isolation=args.isolation, preload=preload,
        families=[f for f in args.families.split(",") if f], seed=args.seed)
    logger.info("2/5 the executors on fixed models")
    report["executors"] = overhead.measure(args.trials, args.isolation, preload)
    logger.info("3/5 memory retrieval at %s records", args.records)
    report["memory"] = memory_sizes(args.records, args.queries, seed=args.seed)
    logger.info("4/5 planner latency (%s)", "skipped" if args.no_llm else args.llm)
    report["planner"] = planner(args)
    logger.info("5/5 a code trial against a catalog trial (%d rounds)", args.code_rounds)
    report["code_vs_catalog"] = overhead.compare_code_with_catalog(
        args.code_rounds, isolation=args.isolation, preload=preload, seed=args.seed)
    report["elapsed_s"] = time.perf_counter() - start
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)  # this command's progress lines, not the libraries' logs
    command = shlex.join(["python", "-m", "evals.overheads",
                          *(sys.argv[1:] if argv is None else argv)])
    try:
        report = run(args, command)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / JSON_FILE).write_text(json.dumps(report, indent=2) + "\n")
    (args.out / MD_FILE).write_text(markdown(report))
    print(f"wrote {args.out / MD_FILE} and {args.out / JSON_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
