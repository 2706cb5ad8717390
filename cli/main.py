"""The ``mlpilot`` command. Exit codes: 0 done, 1 the run failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from cli.settings import Settings
from schemas import Budget, ConfigError, DataError, MlpilotError, TaskSpec

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def mlpilot_version() -> str:
    try:
        return version("mlpilot")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlpilot", description="AutoML assistant: a table and a target in, a tuned, "
                                    "verified, deployable model out.")
    parser.add_argument("--version", action="version", version=f"mlpilot {mlpilot_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="search for the best model for a table")
    run.add_argument("data", help="CSV, TSV or Parquet file, or bundled:NAME (see 'datasets')")
    run.add_argument("--target", required=True, help="the column to predict")
    run.add_argument("--task", default=None, help="the request in plain words (kept in the record)")
    run.add_argument("--task-type", choices=("binary", "multiclass", "regression"), default=None,
                     help="override the inferred task type")
    run.add_argument("--metric", default=None,
                     help="roc_auc, log_loss, accuracy, balanced_accuracy, f1, f1_macro, "
                          "f1_weighted, rmse, mae, r2 (default by task type)")
    run.add_argument("--trials", type=int, default=30, help="number of trials (default 30)")
    run.add_argument("--time-budget", type=float, default=None, metavar="S",
                     help="wall seconds for the search, from when the workers are ready; "
                          "no trial starts after it and running ones are stopped at it")
    run.add_argument("--trial-timeout", type=float, default=600.0, metavar="S",
                     help="seconds one trial may take before it is killed (default 600)")
    run.add_argument("--trial-memory", type=int, default=4096, metavar="MB",
                     help="memory one trial may use (default 4096)")
    run.add_argument("--llm", default="none",
                     help="LLM used by the planner; only 'none' (memory-free BO) is built so far")
    run.add_argument("--workers", type=int, default=1, help="trials run in parallel (default 1)")
    run.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    run.add_argument("--holdout", type=float, default=0.2,
                     help="share of rows kept out for the final score (default 0.2)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, default=None, help="run folder (default runs/NAME-TIME)")
    run.add_argument("--no-memory", action="store_true",
                     help="do not use past runs (there is no run memory yet; accepted for scripts)")
    run.add_argument("--no-ensemble", action="store_true",
                     help="final model: the best trial alone, not an ensemble of the best")
    run.add_argument("--isolation", choices=("auto", "bwrap", "process"), default=None,
                     help="sandbox: bubblewrap when present (auto), or require one")

    pred = sub.add_parser("predict", help="apply a saved run's model to new rows")
    pred.add_argument("run_dir", type=Path)
    pred.add_argument("data")
    pred.add_argument("--out", type=Path, default=None, help="CSV or Parquet file (default stdout)")

    data = sub.add_parser("datasets", help="list the bundled datasets, or write one to a file")
    data.add_argument("name", nargs="?")
    data.add_argument("--out", type=Path, default=None)

    for p in (run, pred, data):
        p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    _setup_logging(err, args.debug)
    try:
        settings = Settings.from_env()
        if args.command == "run":
            return _cmd_run(args, settings, console)
        if args.command == "predict":
            return _cmd_predict(args, console)
        return _cmd_datasets(args, console)
    except MlpilotError as exc:
        if args.debug:
            raise
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        return 130
    except BrokenPipeError:  # the reader of stdout went away (``mlpilot predict ... | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        err.print(f"[red]error:[/red] internal failure: {type(exc).__name__}: {exc} "
                  "(rerun with --debug for the traceback)", soft_wrap=True)
        return EXIT_FAILED


def _setup_logging(err: Console, debug: bool) -> None:
    handler = RichHandler(console=err, show_time=False, show_path=debug)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler],
                        format="%(message)s", force=True)
    for noisy in ("matplotlib", "PIL", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _cmd_run(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from agents import execute_run
    from cli.console import RichObserver, print_summary
    from sandbox import DataBundle, SandboxPool
    from tools.io import load_table

    if args.llm != "none":
        raise ConfigError(f"The '--llm' parameter must be 'none' in this version; got "
                          f"{args.llm!r} instead (the LLM planner is not built yet).")
    _check_range("--trials", args.trials, 1, None)
    _check_range("--workers", args.workers, 1, None)
    _check_range("--folds", args.folds, 2, 20)
    _check_range("--trial-memory", args.trial_memory, 256, None)
    _check_range("--trial-timeout", args.trial_timeout, 1e-3, None)
    if args.time_budget is not None:
        _check_range("--time-budget", args.time_budget, 1e-3, None)
    _check_range("--holdout", args.holdout, 0.01, 0.89)
    run_dir = args.out or Path("runs") / f"{_stem(args.data)}-{datetime.now():%Y%m%d-%H%M%S}"
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(f"The '--out' folder '{run_dir}' is not empty; choose a new one.")

    try:
        task = TaskSpec(
            data_path=Path(args.data), target=args.target, task_type=args.task_type,
            metric=args.metric, seed=args.seed, n_folds=args.folds,
            holdout_fraction=args.holdout, n_workers=args.workers, description=args.task,
            ensemble=not args.no_ensemble,
            budget=Budget(n_trials=args.trials, time_budget_s=args.time_budget,
                          trial_timeout_s=args.trial_timeout, trial_memory_mb=args.trial_memory))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"The '{where}' setting is invalid: {first['msg']}.") from exc
    table = load_table(args.data)
    isolation = args.isolation or settings.isolation

    @contextmanager
    def make_executor(bundle: DataBundle, scratch: Path) -> Iterator[SandboxPool]:
        pool = SandboxPool(bundle, n_workers=args.workers, isolation=isolation,
                           scratch_dir=scratch)
        with pool:
            yield pool

    with RichObserver(console) as observer:
        result = execute_run(task, table, run_dir=run_dir, make_executor=make_executor,
                             version=mlpilot_version(), observer=observer)
    print_summary(console, result.record, str(run_dir))
    return EXIT_OK if result.record.status == "completed" else EXIT_FAILED


def _cmd_predict(args: argparse.Namespace, console: Console) -> int:
    from tools.io import load_table
    from tools.model import load_model, prediction_frame

    if not args.run_dir.exists():
        raise DataError(f"The run folder '{args.run_dir}' does not exist.")
    if args.out is not None and args.out.is_dir():
        raise ConfigError(f"The '--out' parameter must name a file; '{args.out}' is a folder.")
    model = load_model(args.run_dir)
    frame = prediction_frame(model, load_table(args.data))
    if args.out is None:
        frame.to_csv(sys.stdout, index=False)
        return EXIT_OK
    with _atomic_path(args.out) as tmp:
        if args.out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, sep="\t" if args.out.suffix == ".tsv" else ",")
    console.print(f"wrote {len(frame)} predictions to {args.out}")
    return EXIT_OK


def _cmd_datasets(args: argparse.Namespace, console: Console) -> int:
    from tools.datasets import BUNDLED, write_bundled

    if args.name is None:
        for name, ds in BUNDLED.items():
            console.print(f"bundled:{name:<15} target {ds.target!r:<14} {ds.task_type:<11} "
                          f"{ds.description}")
        return EXIT_OK
    if args.out is None:
        raise ConfigError("Give '--out FILE' to write a bundled dataset.")
    path = write_bundled(args.name, args.out)
    console.print(f"wrote {path}")
    return EXIT_OK


def _check_range(name: str, value: float, low: float, high: float | None) -> None:
    """Flags a person types: finite, and within the documented range."""
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bound = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise ConfigError(f"The '{name}' parameter must be a finite number {bound}; "
                          f"got {value:g} instead.")


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _stem(data: str) -> str:
    name = data.split(":", 1)[1] if data.startswith("bundled:") else Path(data).name
    return name.split(".")[0] or "run"


if __name__ == "__main__":
    raise SystemExit(main())
