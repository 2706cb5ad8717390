"""The planner's latency with a given LLM: a few real planning requests on bundled data.

For each dataset, the planner is asked ``--calls`` times in a row for a batch
of configurations, as in a run (the first request reads the whole prompt; the
next ones reuse the shared opening the local model has already evaluated).
Reported per call: seconds, prompt and completion tokens, valid proposals.
A local model's weights are loaded before the first call, and that load is
reported on its own.

    python -m evals.planner_latency [--llm local] [--datasets iris,breast_cancer]
                                    [--calls 2] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import LLMPlanner, PlanRequest, RunContext
from schemas import ConfigError, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.llm import LOCAL_MODELS, LLMClient, local_threads, open_llm


def open_planner_llm(name: str, *, home: Path, n_threads: int,
                     timeout_s: float = 120.0) -> tuple[LLMClient, float]:
    """The client for ``name`` (never answering from the cache) and the seconds its weights
    took to load (0 for a remote model). Raises ``LLMError`` when it cannot be loaded."""
    llm = open_llm(name, home=home, cache=False, n_threads=n_threads, timeout_s=timeout_s)
    if llm is None:
        raise ConfigError(f"The 'llm' parameter must name a model to time; got {name!r} "
                          f"instead.")
    if name.strip() not in LOCAL_MODELS:
        return llm, 0.0
    from tools.llm_local import ensure_weights, load_llama

    path = ensure_weights(home, LOCAL_MODELS[name.strip()][0])
    start = time.perf_counter()
    load_llama(path, n_threads)
    return llm, time.perf_counter() - start


def measure(name: str, *, home: Path, n_threads: int, datasets: Sequence[str] = ("iris",
            "breast_cancer"), n_calls: int = 2, batch: int = 4,
            timeout_s: float = 120.0) -> dict[str, Any]:
    """Time ``n_calls`` planner requests of ``batch`` configurations per bundled dataset;
    each may take ``timeout_s`` seconds."""
    if n_calls < 1 or batch < 1:
        raise ConfigError(f"The 'n_calls' and 'batch' parameters must be >= 1; got {n_calls!r} "
                          f"and {batch!r} instead.")
    llm, load_s = open_planner_llm(name, home=home, n_threads=n_threads, timeout_s=timeout_s)
    planner = LLMPlanner(llm)
    rows: list[dict[str, Any]] = []
    for dataset in datasets:
        spec = BUNDLED[dataset]
        ctx = RunContext(task=TaskSpec(data_path=Path(f"bundled:{dataset}"),
                                       target=spec.target),
                         table=load_bundled(dataset), run_id="latency",
                         created_at=datetime.now(UTC), run_dir=Path("."),
                         make_executor=None,  # type: ignore[arg-type]  # no trial runs
                         version="eval")
        p = ctx.prepared
        for call in range(n_calls):
            start = time.perf_counter()
            result = planner.propose(PlanRequest(task=p.task, profile=p.profile,
                                                 spaces=p.spaces, trials=(), n=batch))
            elapsed = time.perf_counter() - start
            usage = llm.calls[-1]
            rows.append({"dataset": dataset, "call": call + 1, "seconds": elapsed,
                         "prompt_tokens": usage.prompt_tokens,
                         "completion_tokens": usage.completion_tokens,
                         "valid_proposals": len(result.proposals), "ok": usage.ok,
                         "error": usage.error})
    return {"llm": name, "model": llm.model, "n_threads": n_threads, "load_s": load_s,
            "batch": batch, "calls": rows,
            "median_s": statistics.median(r["seconds"] for r in rows) if rows else None}


def table(result: dict[str, Any]) -> str:
    """``measure``'s numbers as a markdown table and the median."""
    lines = ["| dataset | call | seconds | prompt tokens | completion tokens | "
             "valid proposals |", "|---|---:|---:|---:|---:|---:|"]
    for r in result["calls"]:
        failed = "" if r["ok"] else f" (failed: {r['error']})"
        lines.append(f"| {r['dataset']} | {r['call']} | {r['seconds']:.1f} | "
                     f"{r['prompt_tokens']} | {r['completion_tokens']} | "
                     f"{r['valid_proposals']}{failed} |")
    if result["median_s"] is not None:
        lines += ["", f"{result['model']}, {result['n_threads']} threads, weights loaded in "
                      f"{result['load_s']:.1f} s: median {result['median_s']:.1f} s per "
                      f"request of {result['batch']} configurations over "
                      f"{len(result['calls'])} calls"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.planner_latency",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--llm", default="local")
    parser.add_argument("--datasets", default="iris,breast_cancer")
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4, help="configurations per request")
    parser.add_argument("--threads", type=int, default=local_threads(),
                        help="the local model's threads (default: the cores, at most 4)")
    parser.add_argument("--home", type=Path, default=Path.home() / ".mlpilot")
    args = parser.parse_args(argv)
    if args.llm.strip() == "none":
        parser.error("--llm none has no planner to time")
    unknown = [d for d in args.datasets.split(",") if d not in BUNDLED]
    if unknown:
        parser.error(f"--datasets must name bundled datasets ({', '.join(sorted(BUNDLED))}); "
                     f"got {', '.join(unknown)}")
    result = measure(args.llm, home=args.home, n_threads=args.threads,
                     datasets=args.datasets.split(","), n_calls=args.calls, batch=args.batch)
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
