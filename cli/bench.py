"""``mlpilot bench SUITE``: run a benchmark suite, resumably, and write its report."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from cli.settings import Settings
from schemas import ConfigError

if TYPE_CHECKING:
    from evals._ledger import CellResult

DEFAULT_METHODS = "mlpilot,mlpilot-nollm,tpe-default,tpe,gp,random,flaml"


def add_bench_parser(sub: Any) -> argparse.ArgumentParser:
    bench = sub.add_parser(
        "bench", help="run a benchmark suite: methods x tasks x seeds, scored on holdouts",
        description="Run every method on every task of a suite with several seeds and the "
                    "same budget; write report.md, plots and results.json. Rerunning the same "
                    "command with the same --out runs only the cells not finished yet.")
    bench.add_argument("suite", help="a bundled suite (smoke, public) or a suite YAML file")
    bench.add_argument("--methods", default=DEFAULT_METHODS,
                       help=f"comma-separated (default: all: {DEFAULT_METHODS})")
    bench.add_argument("--seeds", default="3",
                       help="how many seeds (3: seeds 0, 1, 2), or a list such as 0,5,7")
    bench.add_argument("--trials", type=int, default=30, help="trials per cell (default 30)")
    bench.add_argument("--time-budget", type=float, default=None, metavar="S",
                       help="wall seconds of search per cell, for every method (default none)")
    bench.add_argument("--workers", type=int, default=1,
                       help="trials run in parallel within a cell (default 1)")
    bench.add_argument("--out", type=Path, default=None,
                       help="bench folder (default runs/bench-SUITE-TIME); reuse it to resume")
    bench.add_argument("--llm", default=None, metavar="MODEL",
                       help="the LLM of the 'mlpilot' method (default: as for 'run')")
    bench.add_argument("--isolation", choices=("auto", "bwrap", "process"), default=None,
                       help="sandbox of the trials (as for 'run')")
    bench.add_argument("--report-only", action="store_true",
                       help="run nothing: write the report of the cells finished so far")
    bench.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return bench


def cmd_bench(args: argparse.Namespace, settings: Settings, console: Console,
              err: Console, version: str) -> int:
    from cli.main import EXIT_OK, _check_range, _open_llm, executor_factory
    from evals._flaml import run_flaml
    from evals._ledger import BenchSettings, Ledger
    from evals.bench import (
        BenchEnv,
        load_seed_records,
        parse_methods,
        parse_seeds,
        run_bench,
    )
    from evals.report import write_report
    from evals.suite import load_suite

    suite = load_suite(args.suite)
    methods = parse_methods(args.methods)
    seeds = parse_seeds(args.seeds)
    _check_range("--trials", args.trials, 1, None)
    _check_range("--workers", args.workers, 1, None)
    if args.time_budget is not None:
        _check_range("--time-budget", args.time_budget, 1e-3, None)
    out = args.out or Path("runs") / f"bench-{suite.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"The '--out' path '{out}' is a file; it must be a bench folder.")
    llm_name = args.llm or settings.llm
    if "mlpilot" in methods and llm_name == "none" and not args.report_only:
        raise ConfigError("The method 'mlpilot' needs an LLM, and '--llm' (or MLPILOT_LLM) is "
                          "'none'; drop 'mlpilot' from '--methods' or name an LLM.")
    if "mlpilot" in methods and not args.report_only:
        # fail now, not at the first mlpilot cell
        _open_llm(llm_name, settings, seed=0, workers=args.workers)

    # every planner call is a real one: a cached answer would make a resumed cell look fast
    settings = dataclasses.replace(settings, llm_cache=False)
    bench_settings = BenchSettings(n_trials=args.trials, time_budget_s=args.time_budget,
                                   n_workers=args.workers)
    env = BenchEnv(
        make_executor=executor_factory(args.workers, args.isolation or settings.isolation),
        open_llm=None if llm_name == "none" else (
            lambda seed: _open_llm(llm_name, settings, seed=seed, workers=args.workers)),
        llm_name=llm_name, cache_dir=settings.home / "bench-data", version=version,
        seed_records=load_seed_records(), progress=_Progress(console), run_flaml=run_flaml)
    n_cells = len(suite.tasks) * len(methods) * len(seeds)
    console.print(f"bench {suite.name}: {len(suite.tasks)} tasks x {len(methods)} methods x "
                  f"{len(seeds)} seeds = {n_cells} cells, {args.trials} trials each; "
                  f"folder {out}")
    if args.report_only:
        if not (out / "bench.json").is_file():
            raise ConfigError(f"The '--out' folder '{out}' holds no bench to report on.")
        ledger = Ledger(out, bench_settings)
    else:
        try:
            ledger = run_bench(suite, methods, seeds, settings=bench_settings, out=out, env=env)
        except KeyboardInterrupt:
            err.print(f"[yellow]interrupted[/yellow]: finished cells are kept in {out}; rerun "
                      "the same command to run the others")
            raise
    wanted = {(t.name, m, s) for t in suite.tasks for m in methods for s in seeds}
    cells = [c for c in ledger.cells if c.key in wanted]
    notes = _notes(llm_name, methods)
    if len(cells) < n_cells:
        notes.insert(0, f"**Partial results: {len(cells)} of {n_cells} cells are finished**; "
                        "rerunning the command runs the others.")
    report = write_report(cells, out, suite=suite.name, command=_command(args, run_form=True),
                          n_trials=args.trials, time_budget_s=args.time_budget,
                          n_workers=args.workers, seeds=seeds, methods=methods, notes=notes)
    n_failed = sum(c.status == "failed" for c in cells)
    console.print(f"report: {report}" + (f" ({n_failed} failed cells)" if n_failed else ""))
    return EXIT_OK


class _Progress:
    def __init__(self, console: Console) -> None:
        self.console = console

    def on_cell(self, cell: CellResult, *, done: int, total: int, elapsed_s: float,
                left_s: float | None) -> None:
        if cell.status == "done" and cell.holdout is not None:
            result = f"holdout {cell.metric} {cell.holdout:.4g}"
        else:
            result = f"[red]failed[/red]: {cell.error}"
        left = "" if left_s is None else f", about {_duration(left_s)} left"
        self.console.print(f"[{done}/{total}] {cell.task} · {cell.method} · seed {cell.seed}: "
                           f"{result} ({cell.wall_s:.0f} s) — {_duration(elapsed_s)} "
                           f"elapsed{left}", soft_wrap=True)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _command(args: argparse.Namespace, *, run_form: bool = False) -> str:
    """The command as a person reruns it (``--report-only`` left out when ``run_form``)."""
    parts = ["mlpilot", "bench", args.suite, "--methods", args.methods, "--seeds", args.seeds,
             "--trials", str(args.trials)]
    if args.time_budget is not None:
        parts += ["--time-budget", f"{args.time_budget:g}"]
    if args.workers != 1:
        parts += ["--workers", str(args.workers)]
    if args.out is not None:
        parts += ["--out", str(args.out)]
    if args.llm is not None:
        parts += ["--llm", args.llm]
    if args.report_only and not run_form:
        parts.append("--report-only")
    return " ".join(shlex.quote(p) for p in parts)


def _notes(llm_name: str, methods: tuple[str, ...]) -> list[str]:
    notes = ["Every method sees the same holdout split, folds and feature preparation per "
             "task and seed; scores are computed by mlpilot's harness on the holdout.",
             "The memory methods retrieve from the shipped seed records with the task's own "
             "dataset left out, and write nothing."]
    if "mlpilot" in methods:
        notes.append(f"The 'mlpilot' method's LLM: {llm_name}; every planner call is made "
                     "afresh (no answer cache).")
    if "flaml" in methods:
        notes.append("FLAML runs in-process on the same training rows and folds with its own "
                     "estimators; one FLAML iteration counts as one trial.")
    return notes
