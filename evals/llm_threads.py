"""The embedded model's planner latency with fewer threads against more, beside busy cores.

A run's planner call overlaps a BO round, so the model shares the machine with the trial
workers. This eval starts ``--busy`` processes that keep one core each busy (as training
workers do), then times real planner requests on a bundled dataset with each thread count
of ``--threads``, alternating the order every repetition so that neither arm always goes
first. Each thread count has its own loaded model, so after the first repetition both
reuse the prompt's shared opening, as consecutive planner calls in a run do. Reported per
busy level and thread count: the median seconds and tokens a second over the repetitions,
and each arm's median time as a ratio of the first arm's. The requests' time limit is
``--timeout`` (default 600 s, well above a run's 120 s, so that slow requests are measured
rather than cut off).

    python -m evals.llm_threads [--threads 1,2] [--busy 0,1,2] [--reps 3]
                                [--dataset breast_cancer] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import planner_latency
from evals.report import machine_info
from tools.datasets import BUNDLED

_SPIN = "while True:\n    pass\n"


@contextmanager
def busy_cores(n: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``n`` processes that each keep one core busy until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(n)]
    try:
        time.sleep(0.5 if procs else 0.0)  # let them reach the loop
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def measure(*, threads: Sequence[int], busy: Sequence[int], reps: int, dataset: str,
            home: Path, timeout_s: float) -> list[dict[str, Any]]:
    """One row per request: busy level, threads, repetition, seconds, tokens, validity."""
    rows: list[dict[str, Any]] = []
    for n_busy in busy:
        with busy_cores(n_busy):
            for rep in range(reps):
                order = list(threads) if rep % 2 == 0 else list(reversed(threads))
                for n_threads in order:
                    result = planner_latency.measure(
                        "local", home=home, n_threads=n_threads, datasets=(dataset,),
                        n_calls=1, timeout_s=timeout_s)
                    call = result["calls"][0]
                    seconds = call["seconds"]
                    rows.append({"busy": n_busy, "threads": n_threads, "rep": rep,
                                 "seconds": seconds, "prompt_tokens": call["prompt_tokens"],
                                 "completion_tokens": call["completion_tokens"],
                                 "tokens_per_s": call["completion_tokens"] / seconds,
                                 "valid_proposals": call["valid_proposals"], "ok": call["ok"],
                                 "error": call["error"]})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(rows: Sequence[dict[str, Any]], threads: Sequence[int]) -> str:
    """Per busy level: each thread count's median seconds and tokens a second, and its
    median time over the first thread count's."""
    lines = ["| busy cores | threads | requests | median s | completion tokens / s | "
             f"time / {threads[0]} thread(s) |", "|---:|---:|---:|---:|---:|---:|"]
    for n_busy in dict.fromkeys(r["busy"] for r in rows):
        mine = [r for r in rows if r["busy"] == n_busy]
        base = statistics.median(r["seconds"] for r in mine if r["threads"] == threads[0])
        for n_threads in threads:
            arm = [r for r in mine if r["threads"] == n_threads]
            if not arm:
                continue
            median_s = statistics.median(r["seconds"] for r in arm)
            failed = sum(not r["ok"] for r in arm)
            note = f" ({failed} failed)" if failed else ""
            lines.append(f"| {n_busy} | {n_threads} | {len(arm)}{note} | {median_s:.1f} | "
                         f"{statistics.median(r['tokens_per_s'] for r in arm):.1f} | "
                         f"{median_s / base:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.llm_threads",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2", help="thread counts to compare")
    parser.add_argument("--busy", default="0,1,2", help="busy cores to measure beside")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dataset", default="breast_cancer")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot")
    parser.add_argument("--out", type=Path, default=None, help="folder for the results")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    busy = [int(b) for b in args.busy.split(",")]
    if min(threads) < 1 or min(busy) < 0 or args.reps < 1:
        parser.error("--threads must be >= 1, --busy >= 0 and --reps >= 1")
    if args.dataset not in BUNDLED:
        parser.error(f"--dataset must name a bundled dataset ({', '.join(sorted(BUNDLED))})")
    started = datetime.now(UTC)
    rows = measure(threads=threads, busy=busy, reps=args.reps, dataset=args.dataset,
                   home=args.home, timeout_s=args.timeout)
    table = summary(rows, threads)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        command = "python -m evals.llm_threads " + " ".join(argv or sys.argv[1:])
        (args.out / "results.json").write_text(json.dumps(
            {"command": command, "started_at": started.isoformat(), "machine": machine_info(),
             "dataset": args.dataset, "rows": rows}, indent=2) + "\n")
        (args.out / "results.md").write_text(
            f"```sh\n{command}\n```\n\n{table}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
