"""Attack: start sleeping processes in a loop, bounded at ``max_processes`` so the machine
survives if nothing stops it.

Each process is ``/bin/sleep`` with the test's token in its environment (so the test can find
and remove leftovers); it sleeps ``sleep_s`` at most. ``posix_spawn`` keeps each start cheap,
so the bound, not the machine, decides when a loop that nothing stops ends.
See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, token: str = "", max_processes: int = 10_000, sleep_s: int = 20) -> None:
        self.token = token
        self.max_processes = max_processes
        self.sleep_s = sleep_s

    def fit(self, X: Any, y: Any) -> Attack:
        sleep = shutil.which("sleep") or "/bin/sleep"
        env = {"MLPILOT_ATTACK_TOKEN": self.token}
        n_started = 0
        error = "none"
        while n_started < self.max_processes:
            try:
                os.posix_spawn(sleep, [sleep, str(self.sleep_s)], env)
            except OSError as exc:
                error = str(exc)
                break
            n_started += 1
        if n_started >= self.max_processes:
            raise RuntimeError(f"ATTACK fork_bomb: ESCAPED started all {n_started} processes")
        raise RuntimeError(f"ATTACK fork_bomb: BLOCKED after {n_started} processes: {error}")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
