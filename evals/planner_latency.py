"""The planner's latency with a given LLM: a few real planning requests on bundled data.

For each dataset, the planner is asked ``--calls`` times in a row for a batch
of configurations, as in a run (the first request reads the whole prompt; the
next ones reuse the shared opening the local model has already evaluated).
Reported per call: seconds, prompt and completion tokens, valid proposals.

    python -m evals.planner_latency [--llm local] [--datasets iris,breast_cancer]
                                    [--calls 2] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from agents import LLMPlanner, PlanRequest, RunContext
from schemas import TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.llm import open_llm


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llm", default="local")
    parser.add_argument("--datasets", default="iris,breast_cancer")
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4, help="configurations per request")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot")
    args = parser.parse_args(argv)
    llm = open_llm(args.llm, home=args.home, cache=False, n_threads=args.threads)
    if llm is None:
        parser.error("--llm none has no planner to time")
    planner = LLMPlanner(llm)
    print("| dataset | call | seconds | prompt tokens | completion tokens | valid proposals |")
    print("|---|---|---|---|---|---|")
    seconds = []
    for name in args.datasets.split(","):
        spec = BUNDLED[name]
        ctx = RunContext(task=TaskSpec(data_path=Path(f"bundled:{name}"), target=spec.target),
                         table=load_bundled(name), run_id="latency",
                         created_at=datetime.now(UTC), run_dir=Path("."),
                         make_executor=None,  # type: ignore[arg-type]  # no trial runs
                         version="eval")
        p = ctx.prepared
        for call in range(args.calls):
            t0 = time.perf_counter()
            result = planner.propose(PlanRequest(task=p.task, profile=p.profile,
                                                 spaces=p.spaces, trials=(), n=args.batch))
            elapsed = time.perf_counter() - t0
            seconds.append(elapsed)
            usage = llm.calls[-1]
            print(f"| {name} | {call + 1} | {elapsed:.1f} | {usage.prompt_tokens} | "
                  f"{usage.completion_tokens} | {len(result.proposals)} |", flush=True)
    print(f"\n{args.llm}, {args.threads} threads: median {statistics.median(seconds):.1f} s "
          f"over {len(seconds)} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
