"""``mlpilot memory ls | show | export | import | seed`` and the memory a run uses.

The store is the embedded chroma folder under the mlpilot home unless
``--memory`` or ``MLPILOT_MEMORY`` names another folder or a ``chroma run``
server (``http://host:port``); ``off`` turns the memory off. A store that is
empty on first use gets the shipped seed records, so a fresh install already
has priors.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from cli.settings import Settings
from schemas import Budget, ConfigError, MemoryRecord, StoreError, TaskSpec

if TYPE_CHECKING:
    from agents import MemoryUse
    from memory import RunStore

log = logging.getLogger(__name__)

EXIT_OK = 0


def add_memory_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]
                      ) -> argparse.ArgumentParser:
    mem = sub.add_parser("memory", help="the run memory: list, show, export, import, seed")
    actions = mem.add_subparsers(dest="memory_command", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", help="list the remembered runs")
    show = actions.add_parser("show", help="one remembered run, as JSON")
    show.add_argument("run_id")
    export = actions.add_parser("export", help="write every record to a JSONL file")
    export.add_argument("file", type=Path)
    imp = actions.add_parser("import", help="add the records of a JSONL file")
    imp.add_argument("file", type=Path)
    seed = actions.add_parser(
        "seed", help="run BO (no LLM) on bundled datasets and remember the runs")
    seed.add_argument("--datasets", default=None,
                      help="comma-separated bundled names (default: all; see 'datasets')")
    seed.add_argument("--trials", type=int, default=30, help="trials per dataset (default 30)")
    seed.add_argument("--workers", type=int, default=1)
    seed.add_argument("--seed", type=int, default=0)
    seed.add_argument("--out", type=Path, default=None,
                      help="write the records to this JSONL file instead of the store")
    for p in (ls, show, export, imp, seed):
        p.add_argument("--memory", default=None, metavar="WHERE",
                       help="a store folder or http://host:port (default: MLPILOT_MEMORY, "
                            "else the embedded store under the mlpilot home)")
        p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return mem


def memory_location(arg: str | None, settings: Settings) -> str | None:
    """The store named by the flag, else by the setting; None: the embedded default."""
    return arg or settings.memory


def open_run_memory(arg: str | None, settings: Settings, err: Console) -> MemoryUse | None:
    """The memory a run uses, or None (turned off, or broken: then a warning, not a failure)."""
    location = memory_location(arg, settings)
    if location == "off":
        return None
    from agents import MemoryUse
    from memory import ensure_seeded, open_store

    try:
        store = open_store(location, home=settings.home)
        n_seeded = ensure_seeded(store)
    except StoreError as exc:
        err.print(f"[yellow]warning:[/yellow] the run memory is unavailable, running without "
                  f"it: {exc}", soft_wrap=True)
        return None
    if n_seeded:
        log.info("the run memory was empty: imported %d seed records", n_seeded)
    return MemoryUse(store=store, location=location or str(settings.home / "memory"))


def cmd_memory(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from memory import ensure_seeded, open_store

    location = memory_location(args.memory, settings)
    if location == "off":
        raise ConfigError("The run memory is turned off (MLPILOT_MEMORY=off); name a store "
                          "with '--memory'.")
    store = open_store(location, home=settings.home)
    if args.memory_command == "seed":
        return _seed(args, store, console)
    if args.memory_command == "import":
        return _import(args.file, store, console)
    ensure_seeded(store)
    if args.memory_command == "ls":
        _print_records(console, store.list())
    elif args.memory_command == "show":
        record = store.get(args.run_id)
        if record is None:
            raise ConfigError(f"The run memory holds no run with id {args.run_id!r}; "
                              "'mlpilot memory ls' lists them.")
        console.print_json(record.model_dump_json())
    else:
        _export(args.file, store, console)
    return EXIT_OK


def _print_records(console: Console, records: tuple[MemoryRecord, ...]) -> None:
    if not records:
        console.print("the run memory is empty")
        return
    table = Table(title=f"{len(records)} remembered runs", box=None, pad_edge=False)
    for col in ("run id", "dataset", "task", "metric", "best", "source"):
        table.add_column(col, no_wrap=True)
    for r in records:
        best = "-" if r.best_score is None else f"{r.best_family} {r.best_score:.4g}"
        table.add_row(r.run_id, r.dataset, r.task_type, r.metric, best, r.source)
    console.print(table)


def _export(path: Path, store: RunStore, console: Console) -> None:
    from memory import write_jsonl

    records = store.list()
    write_jsonl(path, records, header={"exported_at": datetime.now(UTC).isoformat()})
    console.print(f"wrote {len(records)} records to {path}")


def _import(path: Path, store: RunStore, console: Console) -> int:
    from memory import read_jsonl

    _, records, n_skipped = read_jsonl(path)
    store.add(*records)
    skipped = f" ({n_skipped} skipped: unreadable or from a newer mlpilot)" if n_skipped else ""
    console.print(f"imported {len(records)} records from {path}{skipped}")
    return EXIT_OK


def _seed(args: argparse.Namespace, store: RunStore, console: Console) -> int:
    """One BO run per bundled dataset, each with a fresh memory of its own (no run sees
    another), so the records depend only on the dataset, the trials and the seed."""
    from agents import MemoryUse, execute_run
    from cli.main import executor_factory, mlpilot_version
    from memory import InMemoryRunStore, write_jsonl
    from tools.datasets import BUNDLED, load_bundled

    names = list(BUNDLED) if args.datasets is None else [
        n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in BUNDLED]
    if unknown or not names:
        raise ConfigError(f"The '--datasets' parameter must list bundled names from "
                          f"{sorted(BUNDLED)}; got {unknown or args.datasets!r} instead.")
    if args.trials < 1 or args.workers < 1:
        raise ConfigError("The '--trials' and '--workers' parameters must be at least 1.")
    records: list[MemoryRecord] = []
    with tempfile.TemporaryDirectory(prefix="mlpilot-seed-") as tmp:
        for name in names:
            spec = BUNDLED[name]
            task = TaskSpec(data_path=Path(f"bundled:{name}"), target=spec.target,
                            seed=args.seed, n_workers=args.workers,
                            budget=Budget(n_trials=args.trials))
            own = InMemoryRunStore()
            result = execute_run(task, load_bundled(name), run_dir=Path(tmp) / name,
                                 make_executor=executor_factory(args.workers, "auto"),
                                 version=mlpilot_version(), memory=MemoryUse(store=own))
            got = [r.model_copy(update={"source": "seed"}) for r in own.list()]
            records.extend(got)
            best = result.record.best
            console.print(f"{name}: {len(got)} record, best "
                          f"{best.config.family if best else '-'} "
                          f"{result.record.metric} {best.cv_score if best else float('nan'):.4f}")
    if args.out is not None:
        command = (f"mlpilot memory seed --datasets {','.join(names)} --trials {args.trials} "
                   f"--workers {args.workers} --seed {args.seed} "
                   f"--out {shlex.quote(str(args.out))}")
        write_jsonl(args.out, records, header={
            "command": command, "mlpilot_version": mlpilot_version(),
            "created_at": datetime.now(UTC).isoformat(), "datasets": names,
            "trials": args.trials, "seed": args.seed})
        console.print(f"wrote {len(records)} seed records to {args.out}")
    else:
        store.add(*records)
        console.print(f"added {len(records)} seed records to the run memory")
    return EXIT_OK
