"""``mlpilot exec-code FILE --data DATA --target COL``: run one code proposal as one trial.

The data are loaded and split as for ``mlpilot run``; only the training part goes to
the sandbox (the holdout never reaches the code). The module is checked statically,
then run once, in a real sandbox worker, as the last step of our preprocessing
pipeline, on the cross-validation folds; the harness scores its out-of-fold
predictions. Standard output gets the ``TrialResult`` as one JSON object and nothing
else. Exit codes: 0 the trial ran (its status may be ok or failed: a failing proposal
is a result), 2 bad input (files, flags, ``--params``, a code that fails the static
check), 1 an internal failure (such as a sandbox worker that cannot start).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from cli.settings import Settings
from schemas import Budget, ConfigError, ProposalError, SandboxError, TaskSpec

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 2048


def add_exec_code_parser(sub: Any) -> argparse.ArgumentParser:
    cmd = sub.add_parser(
        "exec-code", help="run a code proposal (a module with build_model(params)) as one "
                          "sandboxed trial and print its result as JSON",
        description="Check a Python module that defines build_model(params) (and optionally "
                    "SPACE) without running it, then fit it in the sandbox on the training "
                    "part's cross-validation folds and print the TrialResult as JSON.")
    cmd.add_argument("file", type=Path, help="the module: build_model(params), optional SPACE")
    cmd.add_argument("--data", required=True,
                     help="CSV, TSV or Parquet file, or bundled:NAME (see 'datasets')")
    cmd.add_argument("--target", required=True, help="the column to predict")
    cmd.add_argument("--params", default=None, metavar="JSON",
                     help="values for SPACE's parameters, a JSON object such as "
                          "'{\"alpha\": 0.5}' (the others keep their defaults)")
    cmd.add_argument("--metric", default=None, help="as for 'run' (default by task type)")
    cmd.add_argument("--seed", type=int, default=0, help="the seed of the split and the folds")
    cmd.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                     help=f"seconds the trial may take (default {DEFAULT_TIMEOUT_S:g})")
    cmd.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                     help=f"memory the trial may use (default {DEFAULT_MEMORY_MB})")
    cmd.add_argument("--isolation", choices=("auto", "bwrap", "process"), default=None,
                     help="sandbox: bubblewrap when present (auto), or require one")
    cmd.add_argument("--out", type=Path, default=None,
                     help="keep the trial folder here (default: a temporary folder, removed "
                          "at the end)")
    cmd.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return cmd


def cmd_exec_code(args: argparse.Namespace, settings: Settings, err: Console) -> int:
    from agents import prepare_data, run_code_trial
    from cli.main import EXIT_FAILED, EXIT_OK, _check_range, executor_factory
    from sandbox import bwrap_available, write_data_bundle
    from tools.code import check_code, code_params, imported_packages
    from tools.io import load_table

    _check_range("--timeout", args.timeout, 1e-3, None)
    _check_range("--memory", args.memory, 256, None)
    source = read_code(args.file)
    params = parse_params(args.params)
    out: Path | None = args.out
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"The '--out' folder '{out}' is not empty; choose a new one.")
    isolation = args.isolation or settings.isolation
    if isolation == "bwrap" and not bwrap_available():
        raise ConfigError("The '--isolation' parameter is 'bwrap', but bubblewrap (bwrap) is "
                          "not installed or cannot create a sandbox here; use 'auto'.")
    try:
        task = TaskSpec(data_path=Path(args.data), target=args.target, metric=args.metric,
                        seed=args.seed, budget=Budget(n_trials=1, trial_timeout_s=args.timeout,
                                                      trial_memory_mb=args.memory))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"The '{where}' setting is invalid: {first['msg']}.") from exc
    prepared = prepare_data(task, load_table(args.data))
    assert prepared.task.task_type is not None  # resolved by prepare_data
    proposal = check_code(source, name=proposal_name(args.file),
                          task_type=prepared.task.task_type)
    code_params(proposal, params)  # bad values are refused before a worker starts
    with tempfile.TemporaryDirectory(prefix="mlpilot-exec-code-") as tmp:
        root = Path(tmp)
        bundle = write_data_bundle(root / "data", prepared.X_train, prepared.train.y,
                                   prepared.split.folds, prepared.n_classes)
        try:
            # one trial: the worker imports torch up front only if the proposal uses it
            preload = ["numpy", "pandas", "sklearn"]
            if "torch" in imported_packages(source):
                preload.append("torch")
            with executor_factory(1, isolation, preload)(bundle, root / "scratch") as executor:
                result = run_code_trial(proposal, params, prepared=prepared, executor=executor,
                                        work_dir=out or root / "trial",
                                        timeout_s=args.timeout, memory_mb=args.memory)
        except SandboxError as exc:  # broken infrastructure, not bad input
            if args.debug:
                raise
            err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            return EXIT_FAILED
    sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def read_code(path: Path) -> str:
    """The module's text; ``ConfigError`` for a missing file, ``ProposalError`` for one that
    is too long or not UTF-8."""
    from tools.code import MAX_SOURCE_BYTES

    if not path.is_file():
        raise ConfigError(f"The code file '{path}' does not exist or is not a file.")
    with open(path, "rb") as handle:
        data = handle.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise ProposalError(f"The code file '{path}' is longer than {MAX_SOURCE_BYTES} bytes "
                            "(64 KiB), the most a proposal may have.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProposalError(f"The code file '{path}' is not UTF-8 text (byte {exc.start}).") \
            from exc


def parse_params(text: str | None) -> dict[str, Any] | None:
    """``--params``: a JSON object, or None when the flag is not given."""
    if text is None:
        return None
    try:
        params = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"The '--params' parameter must be a JSON object such as "
                          f"'{{\"alpha\": 0.5}}'; got {text[:60]!r}, which is not JSON "
                          f"({exc.msg if isinstance(exc, json.JSONDecodeError) else exc}) "
                          "instead.") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"The '--params' parameter must be a JSON object such as "
                          f"'{{\"alpha\": 0.5}}'; got a JSON {type(params).__name__} instead.")
    return params


def proposal_name(path: Path) -> str:
    """A short identifier from the file's name (``my-knn.py`` -> ``my_knn``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)[:40]
    if not name or not name[0].isalpha():
        name = ("p_" + name)[:40]
    return name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) else "proposal"
