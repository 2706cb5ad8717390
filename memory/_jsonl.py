"""Export and import of records as JSON lines, and the bundled seed runs.

A file starts with a header line ``{"mlpilot_memory": 1, ...}``, then holds one
record (``MemoryRecord`` JSON) per line.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sized
from pathlib import Path
from typing import Any

from memory._store import RunStore, json_object, parse_record
from schemas import MemoryRecord, StoreError

logger = logging.getLogger(__name__)

FORMAT_KEY = "mlpilot_memory"
FORMAT_VERSION = 1
SEED_FILE = Path(__file__).with_name("seed_runs.jsonl")


def write_jsonl(path: Path, records: Iterable[MemoryRecord], *, header: dict[str, Any]) -> int:
    """Write the header and the records; a reader never sees half a file. Returns the count."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n_records = 0
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(json.dumps({**header, FORMAT_KEY: FORMAT_VERSION}) + "\n")
            for record in records:
                out.write(record.model_dump_json() + "\n")
                n_records += 1
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"Cannot write the memory export {path}: {exc}") from exc
    return n_records


def read_jsonl(path: Path) -> tuple[dict[str, Any], list[MemoryRecord], int]:
    """The header, the records, and how many lines were skipped (unreadable, or written
    by a newer mlpilot). A missing file or a first line that is not a header is a
    ``StoreError``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"Cannot read the memory file {path}: {exc}") from exc
    header = _header(lines[0] if lines else "")
    if header is None:
        raise StoreError(f"{path} is not an mlpilot memory file: its first line must be a "
                         f'header such as {{"{FORMAT_KEY}": {FORMAT_VERSION}}}.')
    if header[FORMAT_KEY] > FORMAT_VERSION:
        raise StoreError(f"{path} was written by a newer mlpilot (format "
                         f"{header[FORMAT_KEY]}; this one reads {FORMAT_VERSION}).")
    records: list[MemoryRecord] = []
    n_skipped = 0
    for line in lines[1:]:
        if not line.strip():
            continue
        record = parse_record(line)
        if record is None:
            n_skipped += 1
        else:
            records.append(record)
    if n_skipped:
        logger.warning("%s: skipped %d record(s) written by a newer mlpilot or unreadable.",
                       path, n_skipped)
    return header, records, n_skipped


def ensure_seeded(store: RunStore) -> int:
    """Import the bundled seed runs into an empty store; returns how many were added."""
    if not SEED_FILE.is_file():
        return 0
    empty = len(store) == 0 if isinstance(store, Sized) else not store.list()
    if not empty:
        return 0
    _, records, _ = read_jsonl(SEED_FILE)
    store.add(*records)
    return len(records)


def _header(line: str) -> dict[str, Any] | None:
    data = json_object(line)
    if data is None:
        return None
    version = data.get(FORMAT_KEY)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return None
    return data
