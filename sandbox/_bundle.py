"""The training data of a run, written once to a folder that every worker reads.

A worker loads the bundle once and keeps it in memory for all of its trials,
so a trial costs a fork, not a parquet read. The folder is bound read-only
into the sandbox; nothing a trial does can change it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from schemas import ConfigError, DataError

BUNDLE_FORMAT = 1
X_FILE = "X.parquet"
Y_FILE = "y.npy"
FOLDS_FILE = "folds.npy"
META_FILE = "bundle.json"


@dataclass(frozen=True)
class DataBundle:
    """Where the training data lies and its shape; fixed for a run."""

    path: Path
    n_rows: int
    n_folds: int
    n_classes: int | None


@dataclass(frozen=True)
class BundleData:
    """The bundle loaded into memory, with the row indices of each fold precomputed."""

    X: pd.DataFrame
    y: np.ndarray
    folds: np.ndarray
    n_classes: int | None
    test_indices: tuple[np.ndarray, ...]
    train_indices: tuple[np.ndarray, ...]

    @property
    def n_rows(self) -> int:
        return len(self.y)


def write_data_bundle(directory: Path, X: pd.DataFrame, y: np.ndarray, folds: np.ndarray,
                      n_classes: int | None) -> DataBundle:
    """Check and write the training data; return the bundle that describes it.

    ``y`` holds float64 targets (regression, ``n_classes`` None) or int64 class
    codes 0..K-1; ``folds`` the fold id 0..k-1 of each row. ``bundle.json`` is
    written last, so a folder without it is an unfinished bundle.
    """
    _check_frame(X)
    y_arr = _check_target(np.asarray(y), n_classes, len(X))
    folds_arr = _check_folds(np.asarray(folds), len(X))
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    X.reset_index(drop=True).to_parquet(directory / X_FILE, index=False)
    np.save(directory / Y_FILE, y_arr, allow_pickle=False)
    np.save(directory / FOLDS_FILE, folds_arr, allow_pickle=False)
    n_folds = int(folds_arr.max()) + 1
    meta = {"format": BUNDLE_FORMAT, "n_rows": len(X), "n_folds": n_folds,
            "n_classes": n_classes, "columns": [str(c) for c in X.columns]}
    (directory / META_FILE).write_text(json.dumps(meta, indent=1))
    return DataBundle(path=directory, n_rows=len(X), n_folds=n_folds, n_classes=n_classes)


def read_data_bundle(directory: Path) -> DataBundle:
    """Describe a bundle written earlier by ``write_data_bundle``."""
    directory = Path(directory).resolve()
    meta_path = directory / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"The 'directory' parameter must be a data bundle folder with a readable "
                        f"{META_FILE}; got {str(directory)!r} instead ({exc}).") from exc
    if meta.get("format") != BUNDLE_FORMAT:
        raise DataError(f"The data bundle format must be {BUNDLE_FORMAT}; got "
                        f"{meta.get('format')!r} instead in {str(meta_path)!r}.")
    for name in (X_FILE, Y_FILE, FOLDS_FILE):
        if not (directory / name).is_file():
            raise DataError(f"The data bundle {str(directory)!r} must contain {name}; "
                            f"it is missing.")
    return DataBundle(path=directory, n_rows=int(meta["n_rows"]), n_folds=int(meta["n_folds"]),
                      n_classes=None if meta["n_classes"] is None else int(meta["n_classes"]))


def load_bundle_data(bundle: DataBundle) -> BundleData:
    """Read the arrays of a bundle into memory (done once per worker)."""
    X = pd.read_parquet(bundle.path / X_FILE)
    y = np.load(bundle.path / Y_FILE, allow_pickle=False)
    folds = np.load(bundle.path / FOLDS_FILE, allow_pickle=False)
    rows = np.arange(len(folds))
    test = tuple(rows[folds == f] for f in range(bundle.n_folds))
    train = tuple(rows[folds != f] for f in range(bundle.n_folds))
    return BundleData(X=X, y=y, folds=folds, n_classes=bundle.n_classes,
                      test_indices=test, train_indices=train)


def _check_frame(X: object) -> None:
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"The 'X' parameter must be a pandas DataFrame; "
                        f"got {type(X).__name__} instead.")
    bad = [c for c in X.columns if not isinstance(c, str)]
    if bad:
        raise DataError(f"The 'X' parameter must have string column names; "
                        f"got {bad[:5]!r} instead.")
    if X.columns.has_duplicates:
        dup = sorted(set(X.columns[X.columns.duplicated()]))
        raise DataError(f"The 'X' parameter must have unique column names; "
                        f"got duplicates {dup[:5]!r} instead.")


def _check_target(y: np.ndarray, n_classes: int | None, n_rows: int) -> np.ndarray:
    if y.ndim != 1 or len(y) != n_rows:
        raise DataError(f"The 'y' parameter must be one-dimensional with one value per row of X "
                        f"({n_rows}); got shape {y.shape} instead.")
    if n_classes is None:
        if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
            raise DataError(f"The 'y' parameter must be numeric for regression; "
                            f"got dtype {y.dtype} instead.")
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise DataError("The 'y' parameter must be finite for regression; "
                            "got NaN or infinite values instead.")
        return y
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"The 'n_classes' parameter must be None (regression) or an int >= 2; "
                          f"got {n_classes!r} instead.")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"The 'y' parameter must hold integer class codes for classification; "
                        f"got dtype {y.dtype} instead.")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"The 'y' parameter must hold class codes in 0..{n_classes - 1}; "
                        f"got values from {y.min()} to {y.max()} instead.")
    return y.astype(np.int64)


def _check_folds(folds: np.ndarray, n_rows: int) -> np.ndarray:
    if folds.ndim != 1 or len(folds) != n_rows:
        raise DataError(f"The 'folds' parameter must be one-dimensional with one fold id per row "
                        f"of X ({n_rows}); got shape {folds.shape} instead.")
    if not np.issubdtype(folds.dtype, np.integer):
        raise DataError(f"The 'folds' parameter must hold integer fold ids; "
                        f"got dtype {folds.dtype} instead.")
    present = np.unique(folds)
    k = int(present.max()) + 1 if len(present) else 0
    if k < 2 or present.min() < 0 or len(present) != k:
        raise DataError(f"The 'folds' parameter must use every fold id 0..k-1 with k >= 2; "
                        f"got ids {present[:10].tolist()} instead.")
    return folds.astype(np.int64)
