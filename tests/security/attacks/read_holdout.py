"""Attack: read the holdout labels, from the original data file given to ``exec-code``.

It opens the file by its absolute path, then looks for it (any file whose name or text
holds the test's token) under /tmp, the folders above its working folder and /. A text
table with more data rows than the trial was given (its first fold's training and test
rows) holds rows of the holdout. It acts at its first prediction, when it has seen both.
See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
SKIP = ("/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/boot")
SKIP_NAMES = ("site-packages", "__pycache__", ".git", "node_modules", ".pyenv")
SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".parquet", ".npy")
MAX_BYTES = 20 << 20
BUDGET_S = 8.0


def _n_data_rows(data: bytes) -> int | None:
    """Data rows of a text table (lines after the header); None for a binary file."""
    if b"\0" in data[:4096]:
        return None
    return max(len([line for line in data.splitlines() if line.strip()]) - 1, 0)


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, data_path: str = "", token: str = "") -> None:
        self.data_path = data_path
        self.token = token

    def fit(self, X: Any, y: Any) -> Attack:
        self.n_fit_rows_ = len(X)
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        n_given = self.n_fit_rows_ + len(X)
        outcomes = []
        try:
            with open(self.data_path, "rb") as handle:
                outcomes.append(f"ESCAPED opened {self.data_path}: "
                                f"{_n_data_rows(handle.read())} rows")
        except OSError as exc:
            outcomes.append(f"BLOCKED {self.data_path}: {exc.strerror}")
        found, complete = self._search()
        for path, n_rows in sorted(found.items()):
            if n_rows is not None and n_rows > n_given:
                outcomes.append(f"ESCAPED found {path}: {n_rows} rows, more than the "
                                f"{n_given} given to the trial")
            else:
                outcomes.append(f"SEEN {path} ({n_rows} rows; the trial was given {n_given})")
        outcomes.append(f"searched {self.n_seen_} files"
                        + ("" if complete else f", stopped at the {BUDGET_S:g} s budget"))
        raise RuntimeError("ATTACK read_holdout: " + "; ".join(outcomes))

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def _search(self) -> tuple[dict[str, int | None], bool]:
        """Readable files whose name or first MAX_BYTES hold the token; whether the walk
        ended before its time budget."""
        deadline = time.monotonic() + BUDGET_S
        parents = []
        here = os.getcwd()
        while os.path.dirname(here) != here:
            here = os.path.dirname(here)
            parents.append(here)
        found: dict[str, int | None] = {}
        self.n_seen_ = 0
        seen_dirs: set[str] = set()
        for root in ["/tmp", *parents, "/"]:
            for folder, dirs, files in os.walk(root):
                if time.monotonic() > deadline:
                    return found, False
                if folder in seen_dirs:
                    dirs[:] = []
                    continue
                seen_dirs.add(folder)
                dirs[:] = [d for d in dirs if os.path.join(folder, d) not in SKIP
                           and d not in SKIP_NAMES]
                for name in files:
                    path = os.path.join(folder, name)
                    if self.token not in name and not name.endswith(SUFFIXES):
                        continue
                    self.n_seen_ += 1
                    try:
                        if os.path.getsize(path) > MAX_BYTES:
                            continue
                        with open(path, "rb") as handle:
                            data = handle.read(MAX_BYTES)
                    except OSError:
                        continue
                    if self.token in name or self.token.encode() in data:
                        found[path] = _n_data_rows(data)
        return found, True


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
