"""Attack: signal the processes above the trial: its parent (the worker), its process group,
pid 1, or the ``mlpilot exec-code`` process itself.

``target`` picks one: ``parent`` (SIGKILL to the parent), ``group`` (SIGTERM to the process
group), ``pid1`` (SIGTERM, then SIGKILL, to pid 1 — only inside a pid namespace other than
the host's, whose inode the test passes: pid 1 of the host must never be hit) or
``exec_code`` (SIGKILL to the nearest ancestor with ``exec-code`` among its arguments; it
never goes further up, and never to pid 1). See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rpartition(")")[2].split()[1])


def _argv(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().split(b"\0")


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, target: str = "parent", host_pidns: str = "") -> None:
        self.target = target
        self.host_pidns = host_pidns

    def fit(self, X: Any, y: Any) -> Attack:
        try:
            outcome = getattr(self, f"_{self.target}")()
        except OSError as exc:
            outcome = f"BLOCKED {self.target}: {exc}"
        time.sleep(2)  # give a signal that did land the time to take effect
        raise RuntimeError(f"ATTACK signal_parent: {outcome}; still alive")

    def _parent(self) -> str:
        os.kill(os.getppid(), signal.SIGKILL)
        return f"SENT SIGKILL to the parent {os.getppid()}"

    def _group(self) -> str:
        os.killpg(os.getpgid(0), signal.SIGTERM)
        return f"SENT SIGTERM to the process group {os.getpgid(0)}"

    def _pid1(self) -> str:
        own = os.readlink("/proc/self/ns/pid")
        if not self.host_pidns or own == self.host_pidns:
            return f"SKIPPED pid 1: this is the host's pid namespace {own}"
        os.kill(1, signal.SIGTERM)
        time.sleep(0.5)
        os.kill(1, signal.SIGKILL)
        return f"SENT SIGTERM and SIGKILL to pid 1 of {own}"

    def _exec_code(self) -> str:
        pid = _parent_of(os.getpid())
        while pid > 1:  # pid 1 is never the exec-code process, and never to be hit
            if b"exec-code" in _argv(pid):
                os.kill(pid, signal.SIGKILL)
                return f"SENT SIGKILL to exec-code {pid}"
            pid = _parent_of(pid)
        return "BLOCKED exec_code: no exec-code process among the ancestors"

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
