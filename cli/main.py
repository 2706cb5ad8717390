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
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from cli.bench import add_bench_parser
from cli.exec_code import add_exec_code_parser
from cli.memory import add_memory_parser, open_run_memory
from cli.settings import Settings
from schemas import Budget, ConfigError, DataError, MlpilotError, TaskRequest, TaskSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from agents import ExecutorFactory
    from tools.llm import LLMClient

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_RUN_TRIALS = 30


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
    run.add_argument("--target", default=None,
                     help="the column to predict (may instead be named in --task)")
    run.add_argument("--task", default=None, metavar="TEXT",
                     help="the request in plain words, e.g. 'predict churn, optimise F1, ten "
                          "minutes': it fills the target, metric, task type, budget and model "
                          "families that no option sets (options win); kept in the record")
    run.add_argument("--task-type", choices=("binary", "multiclass", "regression"), default=None,
                     help="override the inferred task type")
    run.add_argument("--metric", default=None,
                     help="roc_auc, log_loss, accuracy, balanced_accuracy, f1, f1_macro, "
                          "f1_weighted, rmse, mae, r2 (default by task type)")
    run.add_argument("--trials", type=int, default=None,
                     help=f"number of trials (default {DEFAULT_RUN_TRIALS})")
    run.add_argument("--time-budget", type=float, default=None, metavar="S",
                     help="wall seconds for the search, from when the workers are ready; "
                          "no trial starts after it and running ones are stopped at it")
    run.add_argument("--trial-timeout", type=float, default=600.0, metavar="S",
                     help="seconds one trial may take before it is killed (default 600)")
    run.add_argument("--trial-memory", type=int, default=4096, metavar="MB",
                     help="memory one trial may use (default 4096)")
    run.add_argument("--llm", default=None, metavar="MODEL",
                     help="the planner's LLM: 'local' (the embedded model, the default unless "
                          "MLPILOT_LLM says otherwise), 'local-1.5b', any litellm model name "
                          "such as 'openai/gpt-4o-mini', or 'none' (BO alone)")
    run.add_argument("--workers", type=int, default=1, help="trials run in parallel (default 1)")
    run.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    run.add_argument("--holdout", type=float, default=0.2,
                     help="share of rows kept out for the final score (default 0.2)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, default=None, help="run folder (default runs/NAME-TIME)")
    run.add_argument("--memory", default=None, metavar="WHERE",
                     help="the run memory: a store folder or http://host:port of a 'chroma run' "
                          "server (default: MLPILOT_MEMORY, else the embedded store under the "
                          "mlpilot home)")
    run.add_argument("--no-memory", action="store_true",
                     help="neither use past runs nor remember this one")
    run.add_argument("--no-ensemble", action="store_true",
                     help="final model: the best trial alone, not an ensemble of the best")
    run.add_argument("--isolation", choices=("auto", "bwrap", "process"), default=None,
                     help="sandbox: bubblewrap when present (auto), or require one")
    run.add_argument("--code", choices=("auto", "on", "off"), default=None,
                     help="when the LLM writes a model as Python code (run in the sandbox): "
                          "auto, once the best score stalls; on, in its second round; off, "
                          "never (default: auto; off with the embedded 0.5B model, whose "
                          "modules have not paid for their time)")

    chat = sub.add_parser("chat", help="ask for a model in plain words, then ask about it")
    chat.add_argument("--llm", default=None, metavar="MODEL",
                      help="the LLM that reads requests and phrases answers (as for 'run')")
    chat.add_argument("--memory", default=None, metavar="WHERE",
                      help="the run memory (as for 'run')")
    chat.add_argument("--no-memory", action="store_true", help="run without the run memory")

    resume = sub.add_parser("resume", help="finish a run that was killed or interrupted")
    resume.add_argument("run_dir", type=Path)

    pred = sub.add_parser("predict", help="apply a saved run's model to new rows")
    pred.add_argument("run_dir", type=Path)
    pred.add_argument("data")
    pred.add_argument("--out", type=Path, default=None, help="CSV or Parquet file (default stdout)")

    data = sub.add_parser("datasets", help="list the bundled datasets, or write one to a file")
    data.add_argument("name", nargs="?")
    data.add_argument("--out", type=Path, default=None)

    llm_cmd = sub.add_parser("llm", help="the LLM: check that the configured model works")
    llm_sub = llm_cmd.add_subparsers(dest="llm_command", required=True, metavar="ACTION")
    llm_check = llm_sub.add_parser(
        "check", help="show which model a run would use and test one structured request")
    llm_check.add_argument("--llm", default=None, metavar="MODEL",
                           help="check this model instead of MLPILOT_LLM's (default 'local')")

    add_memory_parser(sub)
    add_bench_parser(sub)
    add_exec_code_parser(sub)

    for p in (run, chat, resume, pred, data, llm_check):
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
            return _cmd_run(args, settings, console, err)
        if args.command == "resume":
            return _cmd_resume(args, settings, console, err)
        if args.command == "chat":
            return _cmd_chat(args, settings, console, err)
        if args.command == "predict":
            return _cmd_predict(args, settings, console, err)
        if args.command == "memory":
            from cli.memory import cmd_memory

            return cmd_memory(args, settings, console)
        if args.command == "bench":
            from cli.bench import cmd_bench

            return cmd_bench(args, settings, console, err, mlpilot_version())
        if args.command == "exec-code":
            from cli.exec_code import cmd_exec_code

            return cmd_exec_code(args, settings, err)
        if args.command == "llm":
            from cli.llm_check import cmd_llm_check

            return cmd_llm_check(args, settings, console)
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


def _cmd_run(args: argparse.Namespace, settings: Settings, console: Console,
             err: Console) -> int:
    from agents import SearchSettings, default_code_mode, execute_run
    from cli.console import RichObserver, print_summary
    from tools.io import load_table

    if args.trials is not None:
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

    table = load_table(args.data)
    llm_name = args.llm or settings.llm
    llm = _open_llm(llm_name, settings, seed=args.seed, workers=args.workers)
    asked = _sentence(args, [str(c) for c in table.columns], llm, console)
    target = args.target or asked.target
    if target is None:
        raise ConfigError("Name the column to predict: --target COLUMN, or in --task "
                          "(e.g. --task 'predict churn').")
    try:
        task = TaskSpec(
            data_path=Path(args.data), target=target,
            task_type=args.task_type or asked.task_type, metric=args.metric or asked.metric,
            families=asked.families, seed=args.seed, n_folds=args.folds,
            holdout_fraction=args.holdout, n_workers=args.workers, description=args.task,
            ensemble=not args.no_ensemble,
            budget=Budget(n_trials=args.trials or asked.n_trials or DEFAULT_RUN_TRIALS,
                          time_budget_s=args.time_budget or asked.time_budget_s,
                          trial_timeout_s=args.trial_timeout, trial_memory_mb=args.trial_memory))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"The '{where}' setting is invalid: {first['msg']}.") from exc
    make_executor = executor_factory(args.workers, args.isolation or settings.isolation)
    memory = None if args.no_memory else open_run_memory(args.memory, settings, err)
    with RichObserver(console) as observer:
        result = execute_run(task, table, run_dir=run_dir, make_executor=make_executor,
                             version=mlpilot_version(), observer=observer, llm=llm,
                             llm_name=llm_name, memory=memory,
                             settings=SearchSettings(
                                 code=args.code or default_code_mode(llm_name)))
    print_summary(console, result.record, str(run_dir))
    return EXIT_OK if result.record.status == "completed" else EXIT_FAILED


def _cmd_resume(args: argparse.Namespace, settings: Settings, console: Console,
                err: Console) -> int:
    from agents import read_request, resume_run
    from cli.console import RichObserver, print_summary
    from tools.io import load_table

    if not args.run_dir.is_dir():
        raise DataError(f"The run folder '{args.run_dir}' does not exist.")
    request = read_request(args.run_dir)
    table = load_table(str(request.task.data_path))
    llm = _open_llm(request.llm, settings, seed=request.task.seed,
                    workers=request.task.n_workers)
    make_executor = executor_factory(request.task.n_workers, settings.isolation)
    memory = (None if request.memory is None
              else open_run_memory(request.memory, settings, err))
    console.print(f"resuming run {request.run_id} in {args.run_dir}")
    with RichObserver(console) as observer:
        result = resume_run(args.run_dir, table, make_executor=make_executor,
                            version=mlpilot_version(), observer=observer, llm=llm,
                            memory=memory)
    print_summary(console, result.record, str(args.run_dir))
    return EXIT_OK if result.record.status == "completed" else EXIT_FAILED


def _cmd_chat(args: argparse.Namespace, settings: Settings, console: Console,
              err: Console) -> int:
    from cli.chat import Chat

    llm_name = args.llm or settings.llm
    # the chat's runs use the default of one worker
    llm = _open_llm(llm_name, settings, seed=0, workers=TaskSpec.model_fields["n_workers"].default)
    memory = None if args.no_memory else open_run_memory(args.memory, settings, err)
    return Chat(console, settings, ask=console.input, llm=llm, llm_name=llm_name,
                version=mlpilot_version(), memory=memory).loop()


def _sentence(args: argparse.Namespace, columns: list[str], llm: LLMClient | None,
              console: Console) -> TaskRequest:
    """What ``--task`` asks for, by rules; the LLM is asked only when the rules find no
    target and ``--target`` names none. Prints what it took from the sentence."""
    if not args.task:
        return TaskRequest(text="")
    from prompts import render
    from tools.request import parse_request, understand_request

    found = parse_request(args.task, columns=columns)
    if found.target is None and args.target is None and llm is not None:
        found = understand_request(args.task, llm=llm, columns=columns, render=render)
    shown = (("target", args.target, found.target), ("task type", args.task_type, found.task_type),
             ("metric", args.metric, found.metric), ("trials", args.trials, found.n_trials),
             ("seconds", args.time_budget, found.time_budget_s))
    taken = [f"{label} {value!r}" if isinstance(value, str) else f"{label} {value:g}"
             for label, option, value in shown if option is None and value is not None]
    if found.families:
        taken.append(f"families {', '.join(found.families)}")
    if taken:
        console.print(f"[cyan]•[/cyan] from --task: {'; '.join(taken)}")
    return found


def _open_llm(name: str, settings: Settings, *, seed: int, workers: int) -> LLMClient | None:
    """The run's LLM client; an embedded model gets the threads that ``workers`` busy trial
    workers leave free, unless MLPILOT_LLM_THREADS says how many."""
    if name == "none":
        return None
    from tools.llm import local_threads, open_llm

    threads = settings.llm_threads or local_threads(busy=workers)
    return open_llm(name, home=settings.home, api_base=settings.llm_api_base,
                    api_key=settings.llm_api_key, model_path=settings.llm_model_path,
                    cache=settings.llm_cache, n_threads=threads, seed=seed,
                    timeout_s=settings.llm_timeout_s)


def executor_factory(n_workers: int, isolation: str,
                     preload: Sequence[str] | None = None) -> ExecutorFactory:
    """Sandbox pools for runs; ``preload``: the modules the warm workers import up front
    (default: numpy, pandas, scikit-learn and torch)."""
    from sandbox import DEFAULT_PRELOAD, DataBundle, SandboxPool

    modules = tuple(preload) if preload is not None else DEFAULT_PRELOAD

    @contextmanager
    def make_executor(bundle: DataBundle, scratch: Path) -> Iterator[SandboxPool]:
        pool = SandboxPool(bundle, n_workers=n_workers, isolation=isolation,  # type: ignore[arg-type]
                           scratch_dir=scratch, preload=modules)
        with pool:
            yield pool

    return make_executor


def _cmd_predict(args: argparse.Namespace, settings: Settings, console: Console,
                 err: Console) -> int:
    from tools.io import load_table
    from tools.model import PredictRunner, load_model, prediction_frame

    if not args.run_dir.exists():
        raise DataError(f"The run folder '{args.run_dir}' does not exist.")
    if args.out is not None and args.out.is_dir():
        raise ConfigError(f"The '--out' parameter must name a file; '{args.out}' is a folder.")
    model = load_model(args.run_dir)
    table = load_table(args.data)
    runner: PredictRunner | None = None
    if model.contains_code:
        from sandbox import predict_in_sandbox, resolve_isolation

        level = resolve_isolation(settings.isolation)
        err.print(f"The model holds LLM-written code: it runs inside the sandbox "
                  f"(isolation {level}).", soft_wrap=True, highlight=False)
        n_classes = None if model.classes is None else len(model.classes)

        def runner(fitted: bytes, rows: pd.DataFrame) -> np.ndarray:
            return predict_in_sandbox(fitted, rows, n_classes=n_classes, isolation=level,
                                      predict_kind="value" if n_classes is None else "proba")

    frame = prediction_frame(model, table, runner=runner)
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
