"""The fixed holdout and the cross-validation folds of a run.

The holdout is drawn once, stratified and seeded, and nothing in the search ever sees it;
the folds cover only the training part. Same inputs give the same split, so a resumed or
repeated run scores its trials on exactly the same rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from schemas import ConfigError, DataError, TaskType

log = logging.getLogger(__name__)

__all__ = ["Split", "make_split"]


@dataclass(frozen=True, eq=False)
class Split:
    """Row positions of the training part and the holdout, and each training row's fold."""

    train_idx: np.ndarray
    holdout_idx: np.ndarray
    folds: np.ndarray
    n_folds: int
    notices: tuple[str, ...]


def make_split(y: np.ndarray, task_type: TaskType, *, holdout_fraction: float, n_folds: int,
               seed: int) -> Split:
    """A seeded holdout (stratified for classes) and K folds over the remaining rows."""
    if not 0.0 < holdout_fraction < 0.9:
        raise ConfigError(f"The 'holdout_fraction' parameter must lie in (0, 0.9); "
                          f"got {holdout_fraction!r} instead.")
    if n_folds < 2:
        raise ConfigError(f"The 'n_folds' parameter must be at least 2; got {n_folds} instead.")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    notices: list[str] = []
    if task_type == "regression":
        train_idx, holdout_idx = _random_holdout(len(y), holdout_fraction, n_folds, rng)
        splitter: KFold | StratifiedKFold = KFold(n_folds, shuffle=True, random_state=seed)
    else:
        codes = y.astype(np.int64)
        train_idx, holdout_idx = _stratified_holdout(codes, holdout_fraction, rng)
        present = np.bincount(codes[train_idx])
        smallest = int(present[present > 0].min())
        if smallest < n_folds:
            notices.append(f"lowered the number of folds from {n_folds} to {smallest}: the "
                           f"smallest class has only {smallest} training rows")
            n_folds = smallest
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    folds = np.empty(len(train_idx), dtype=np.int64)
    y_train = y[train_idx]
    for fold, (_, valid) in enumerate(splitter.split(np.zeros((len(train_idx), 1)), y_train)):
        folds[valid] = fold
    for note in notices:
        log.info("split: %s", note)
    return Split(train_idx=train_idx, holdout_idx=holdout_idx, folds=folds, n_folds=n_folds,
                 notices=tuple(notices))


def _random_holdout(n: int, fraction: float, n_folds: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n_holdout = max(1, round(n * fraction))
    if n - n_holdout < n_folds:
        needed = n_folds + 1
        raise DataError(f"The data has {n} rows; at least {needed} are needed for a holdout and "
                        f"{n_folds}-fold cross-validation.")
    order = rng.permutation(n)
    return np.sort(order[n_holdout:]).astype(np.int64), np.sort(order[:n_holdout]).astype(np.int64)


def _stratified_holdout(codes: np.ndarray, fraction: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each class gives its share to the holdout and keeps at least 2 rows for training."""
    counts = np.bincount(codes)
    lonely = [int(c) for c in np.flatnonzero((counts > 0) & (counts < 2))]
    if lonely:
        raise DataError(f"The class code(s) {lonely} have only 1 row; every class needs at least "
                        "2 rows to appear in training and cross-validation.")
    share = _largest_remainder(counts, fraction)
    share = np.minimum(np.maximum(share, (counts >= 3).astype(int)), np.maximum(counts - 2, 0))
    if share.sum() == 0:
        raise DataError(f"The data has {len(codes)} rows; too few to set a holdout aside "
                        f"({fraction:.0%}) and keep 2 rows of every class for training.")
    train: list[np.ndarray] = []
    holdout: list[np.ndarray] = []
    for cls in np.flatnonzero(counts):
        rows = rng.permutation(np.flatnonzero(codes == cls))
        holdout.append(rows[: share[cls]])
        train.append(rows[share[cls]:])
    return (np.sort(np.concatenate(train)).astype(np.int64),
            np.sort(np.concatenate(holdout)).astype(np.int64))


def _largest_remainder(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Integer shares of ``counts * fraction`` summing to round(total * fraction)."""
    exact = counts * fraction
    share = np.floor(exact).astype(int)
    missing = round(counts.sum() * fraction) - int(share.sum())
    if missing > 0:
        order = np.argsort(-(exact - share), kind="stable")
        share[order[:missing]] += 1
    return share
