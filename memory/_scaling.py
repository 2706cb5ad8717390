"""Distance between datasets: Euclidean distance of standardized meta-features.

Raw meta-features mix scales (log10 row counts next to shares in [0, 1]), so a
store embeds each record as ``(raw - mean) / std``, per feature. The
standardizer (a zero std counts as 1) is fitted on the raw vectors of the
store's own records and kept with the store; queries are scaled with the same
standardizer, and with none (the identity) before the first fit.

Refit rule: fit when the store first holds at least 2 records, and fit again
whenever the number of records has doubled since the last fit. A refit
re-embeds every stored record (in batches). One ``add`` call refits at most
once, after its records are stored. So a store of n records has been fitted
about log2(n) times and has re-embedded fewer than 2n vectors in all.

Embeddings have ``len(META_FEATURE_NAMES)`` dimensions. A vector of another
length (a record of another meta-feature version) takes no part in a fit and is
stored cut or zero-padded to that length; queries never meet it, because they
only match records of the query's own meta-feature version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from schemas import META_FEATURE_NAMES, ConfigError

EMBEDDING_DIM = len(META_FEATURE_NAMES)


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and scale, fitted when the store held ``n_records`` records."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    n_records: int

    @classmethod
    def fit(cls, vectors: Sequence[Sequence[float]], *, n_records: int) -> Standardizer:
        """Fit on the vectors of full length; with none of them, the identity."""
        rows = [v for v in vectors if len(v) == EMBEDDING_DIM]
        if not rows:
            return cls(mean=(0.0,) * EMBEDDING_DIM, scale=(1.0,) * EMBEDDING_DIM,
                       n_records=n_records)
        matrix = np.asarray(rows, dtype=np.float64)
        std = matrix.std(axis=0)
        std[~(std > 1e-12)] = 1.0
        return cls(mean=tuple(float(x) for x in matrix.mean(axis=0)),
                   scale=tuple(float(x) for x in std), n_records=n_records)

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean, "scale": self.scale, "n_records": self.n_records})

    @classmethod
    def from_json(cls, text: str) -> Standardizer:
        """Parse what ``to_json`` wrote; ``ValueError`` when it is not that."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        mean = tuple(float(x) for x in data["mean"])
        scale = tuple(float(x) for x in data["scale"])
        if len(mean) != EMBEDDING_DIM or len(scale) != EMBEDDING_DIM:
            raise ValueError(f"expected {EMBEDDING_DIM} values, got {len(mean)} and {len(scale)}")
        if not all(math.isfinite(x) for x in mean) or not all(x > 0 for x in scale):
            raise ValueError("non-finite mean or non-positive scale")
        return cls(mean=mean, scale=scale, n_records=int(data["n_records"]))


def needs_refit(scaler: Standardizer | None, n_records: int) -> bool:
    """The refit rule of the module docstring."""
    if scaler is None:
        return n_records >= 2
    return n_records >= 2 * max(scaler.n_records, 1)


def raw_matrix(vectors: Sequence[Sequence[float]], *, owner: str = "meta_features") -> np.ndarray:
    """Vectors as an (n, EMBEDDING_DIM) float array, cut or zero-padded; all values finite."""
    if all(len(v) == EMBEDDING_DIM for v in vectors):
        matrix = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), EMBEDDING_DIM)
    else:
        matrix = np.zeros((len(vectors), EMBEDDING_DIM), dtype=np.float64)
        for i, vector in enumerate(vectors):
            row = np.asarray(vector[:EMBEDDING_DIM], dtype=np.float64)
            matrix[i, : len(row)] = row
    finite = np.isfinite(matrix)
    if not finite.all():
        bad = META_FEATURE_NAMES[int(np.argwhere(~finite)[0][1])]
        raise ConfigError(f"The {owner} must be finite. Got a non-finite value for {bad!r} "
                          "instead.")
    return matrix


def standardize(scaler: Standardizer | None, matrix: np.ndarray) -> np.ndarray:
    """Scale raw rows with the store's standardizer (identity when there is none)."""
    if scaler is None:
        return matrix
    return (matrix - np.asarray(scaler.mean)) / np.asarray(scaler.scale)


def distances(scaler: Standardizer | None, query: Sequence[float],
              vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """Euclidean distances of standardized vectors, from one query to each vector."""
    if not vectors:
        return np.zeros(0)
    q = standardize(scaler, raw_matrix([query], owner="query profile's meta_features"))
    return np.linalg.norm(standardize(scaler, raw_matrix(vectors)) - q, axis=1)
