"""Attack: use far more memory than the trial's limit, in this process or spread over
``n_processes`` helper processes (each one under any per-process limit), bounded at
``max_mb`` in all so the machine survives if nothing stops it.

Helpers are Python processes with the test's token in their command line; each allocates
its share, reports on stdout, and sleeps ``hold_s`` at most.
See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
BLOCK_MB = 64
HELPER = """import sys, time
blocks = [b"x" * (1 << 20) for _ in range(int(sys.argv[1]))]
print("allocated", flush=True)
time.sleep(float(sys.argv[2]))
"""


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, token: str = "", max_mb: int = 4096, n_processes: int = 1,
                 hold_s: float = 20.0) -> None:
        self.token = token
        self.max_mb = max_mb
        self.n_processes = n_processes
        self.hold_s = hold_s

    def fit(self, X: Any, y: Any) -> Attack:
        if self.n_processes > 1:
            self._spread()
        blocks = []
        for _ in range(self.max_mb // BLOCK_MB):
            blocks.append(np.ones(BLOCK_MB << 17))  # 64 MiB of float64, every page touched
        raise RuntimeError(f"ATTACK memory_bomb: ESCAPED allocated {len(blocks) * BLOCK_MB} MiB")

    def _spread(self) -> None:
        share = self.max_mb // self.n_processes
        helpers = [subprocess.Popen([sys.executable, "-c", HELPER, str(share), str(self.hold_s),
                                     self.token], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
                   for _ in range(self.n_processes)]
        n_ok = 0
        for helper in helpers:
            assert helper.stdout is not None
            n_ok += helper.stdout.readline().startswith(b"allocated")
        if n_ok == self.n_processes:
            time.sleep(1)
            raise RuntimeError(f"ATTACK memory_bomb: ESCAPED {n_ok} processes hold "
                               f"{share} MiB each")
        codes = [h.poll() for h in helpers]
        raise RuntimeError(f"ATTACK memory_bomb: BLOCKED only {n_ok} of {self.n_processes} "
                           f"processes allocated {share} MiB; exit codes {codes}")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
