"""Read a table from disk (CSV, TSV, Parquet) or from the bundled datasets.

Every way a file can be unusable ends in one ``DataError`` with a one-line message, so
the CLI can print it and exit with code 2 instead of showing a pandas traceback.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import logging
import lzma
from collections import Counter
from pathlib import Path
from typing import IO, Any, Literal

import pandas as pd

from schemas import DataError

log = logging.getLogger(__name__)

__all__ = ["ACCEPTED_EXTENSIONS", "load_table"]

_CSV_EXT = (".csv", ".txt")
_TSV_EXT = (".tsv", ".tab")
_PARQUET_EXT = (".parquet", ".pq")
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
ACCEPTED_EXTENSIONS: tuple[str, ...] = (
    *_CSV_EXT, *_TSV_EXT, *_PARQUET_EXT,
    *(f"{ext}{comp}" for ext in (*_CSV_EXT, *_TSV_EXT) for comp in _COMPRESSED),
)
_SAMPLE_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t", "|")
_ENCODINGS = ("utf-8", "latin-1")


def load_table(path: str | Path) -> pd.DataFrame:
    """Load a table; ``"bundled:NAME"`` loads a dataset shipped inside a package."""
    text = str(path).strip()
    if text.lower().startswith("bundled:") and not Path(text).exists():
        from tools.datasets import load_bundled

        return load_bundled(text[len("bundled:"):])
    p = Path(path).expanduser()
    _check_file(p)
    kind, compression = _kind_of(p)
    df = _read_parquet(p) if kind == "parquet" else _read_text(p, kind, compression)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"The data file '{p}' is empty: it has {df.shape[0]} rows and "
                        f"{df.shape[1]} columns.")
    df.columns = pd.Index([str(c).strip() for c in df.columns])
    _check_duplicates(p, list(df.columns))
    log.info("loaded %s: %d rows x %d columns", p, *df.shape)
    return df


def _check_file(p: Path) -> None:
    if not p.exists():
        raise DataError(f"The data file '{p}' does not exist.")
    if p.is_dir():
        raise DataError(f"The data path '{p}' is a directory; give the path of a file.")
    if p.stat().st_size == 0:
        raise DataError(f"The data file '{p}' is empty (0 bytes).")


def _kind_of(p: Path) -> tuple[str, str | None]:
    """('csv' | 'tsv' | 'parquet', compression suffix or None) from the file name."""
    suffixes = [s.lower() for s in p.suffixes]
    compression = suffixes[-1] if suffixes and suffixes[-1] in _COMPRESSED else None
    base = suffixes[-2] if compression and len(suffixes) >= 2 else (
        suffixes[-1] if suffixes and not compression else "")
    if base in _PARQUET_EXT and compression is None:
        return "parquet", None
    if base in _TSV_EXT:
        return "tsv", compression
    if base in _CSV_EXT:
        return "csv", compression
    if base in (".xlsx", ".xls", ".xlsm", ".ods"):
        raise DataError(f"The data file '{p}' is a spreadsheet; save the sheet as CSV "
                        "(File > Save As > CSV) and pass that file.")
    raise DataError(f"The data file '{p}' has an unknown extension "
                    f"{''.join(p.suffixes)!r}; accepted are {list(ACCEPTED_EXTENSIONS)} "
                    "or 'bundled:NAME'.")


def _open(p: Path, compression: str | None) -> IO[bytes]:
    if compression is None:
        return p.open("rb")
    opener: Any = _COMPRESSED[compression]
    handle: IO[bytes] = opener(p, "rb")
    return handle


def _read_sample(p: Path, compression: str | None) -> bytes:
    try:
        with _open(p, compression) as fh:
            return fh.read(_SAMPLE_BYTES)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        how = f"decompressed as '{compression}'" if compression else "read"
        raise DataError(f"The data file '{p}' could not be {how}: {exc}.") from exc


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes or many control characters: not a text table (e.g. an image or a zip)."""
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return controls > 0.05 * max(len(sample), 1)


def _sniff_delimiter(text: str, kind: str) -> str:
    """The delimiter giving the same number (> 1) of fields on the first lines."""
    if kind == "tsv":
        return "\t"
    lines = text.splitlines()
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line short
    lines = [ln for ln in lines[:50] if ln.strip()]
    best, best_score = ",", -1.0
    for delim in _DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        if not counts:
            continue
        width, freq = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = width * freq / len(counts) + (1.0 if freq == len(counts) else 0.0)
        if score > best_score:
            best, best_score = delim, score
    return best


def _header(text: str, delim: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text), delimiter=delim))
    except (StopIteration, csv.Error):
        return []


def _read_text(p: Path, kind: str, compression: str | None) -> pd.DataFrame:
    sample = _read_sample(p, compression)
    if not sample.strip():
        raise DataError(f"The data file '{p}' is empty (only blank space).")
    if _looks_binary(sample):
        raise DataError(f"The data file '{p}' is not a text table (it holds binary data); "
                        f"expected {kind.upper()} text.")
    for encoding in _ENCODINGS:
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue  # a cut multi-byte character or a wrong guess; try the next one
        delim = _sniff_delimiter(text, kind)
        _check_duplicates(p, [h.strip() for h in _header(text, delim)])
        try:
            # semicolon files come from locales that write decimals with a comma;
            # index_col=False: a trailing delimiter on every row must not shift the columns
            return pd.read_csv(p, sep=delim, encoding=encoding, low_memory=False, index_col=False,
                               decimal="," if delim == ";" else ".",
                               compression=_pandas_comp(compression))
        except UnicodeDecodeError:
            log.debug("%s is not %s; trying the next encoding", p, encoding)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"The data file '{p}' is empty (no rows or columns).") from exc
        except (pd.errors.ParserError, ValueError, csv.Error, OSError, EOFError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"The data file '{p}' could not be read as {kind.upper()}: "
                            f"{first}.") from exc
    raise DataError(f"The data file '{p}' could not be decoded as {' or '.join(_ENCODINGS)}.")


def _pandas_comp(compression: str | None) -> Literal["gzip", "bz2", "xz"] | None:
    names: dict[str, Literal["gzip", "bz2", "xz"]] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
    return names.get(compression or "")


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(p)
    except (OSError, ValueError, TypeError) as exc:  # pyarrow's errors derive from these
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"The data file '{p}' could not be read as Parquet: {first}.") from exc


def _check_duplicates(p: Path, names: list[str]) -> None:
    dupes = sorted({n for n, k in Counter(names).items() if k > 1})
    if dupes:
        raise DataError(f"The data file '{p}' has duplicate column names {dupes}; "
                        "every column needs its own name.")
