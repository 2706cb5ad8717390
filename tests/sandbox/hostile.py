"""Misbehaving estimators for the sandbox tests.

They live in an importable module (``tests.sandbox.hostile``) so a sandbox
worker can unpickle them once the tests folder is bound in read-only.
Each records what it saw by raising: the message reaches ``TrialResult.error``.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class _Base(ClassifierMixin, BaseEstimator):
    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


class Raising(_Base):
    """Fails in fit with a recognisable message."""

    def fit(self, X: Any, y: Any) -> Raising:
        raise ValueError("hostile estimator refuses to fit")


class Sleep(_Base):
    """Sleeps ``seconds`` in total over the folds, then predicts zeros."""

    def __init__(self, seconds: float = 1.0, n_folds: int = 5) -> None:
        self.seconds = seconds
        self.n_folds = n_folds

    def fit(self, X: Any, y: Any) -> Sleep:
        time.sleep(self.seconds / self.n_folds)
        return self


class MemoryHog(_Base):
    """Allocates (and touches) 64 MiB blocks until something stops it."""

    def fit(self, X: Any, y: Any) -> MemoryHog:
        blocks = []
        while True:
            blocks.append(np.ones(8 << 20))


class DiskFiller(_Base):
    """Writes 4 MiB files into its working folder until something stops it (or 1 GiB)."""

    def fit(self, X: Any, y: Any) -> DiskFiller:
        block = b"\1" * (4 << 20)
        for i in range(256):
            with open(f"fill-{i}.bin", "wb") as handle:
                handle.write(block)
        return self


class ConnectBack(_Base):
    """Tries to reach a TCP server of the test process on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        self.port = port

    def fit(self, X: Any, y: Any) -> ConnectBack:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                conn.sendall(b"hello from the sandbox")
        except OSError as exc:
            raise RuntimeError(f"connect failed: {exc}") from exc
        raise RuntimeError("connect succeeded")


class EnvSpy(_Base):
    """Reports what it sees of the environment."""

    def fit(self, X: Any, y: Any) -> EnvSpy:
        secret = os.environ.get("MLPILOT_TEST_SECRET")
        raise RuntimeError(f"secret={secret!r} keys={sorted(os.environ)}")


class WriteOutside(_Base):
    """Tries to create a file at each path; reports every outcome."""

    def __init__(self, paths: tuple[str, ...] = ()) -> None:
        self.paths = paths

    def fit(self, X: Any, y: Any) -> WriteOutside:
        outcomes = []
        for path in self.paths:
            try:
                with open(path, "w") as handle:
                    handle.write("written from a trial")
                outcomes.append(f"WROTE {path}")
            except OSError as exc:
                outcomes.append(f"DENIED {path}: {exc.strerror}")
        raise RuntimeError("; ".join(outcomes))


class LeaveDaemon(_Base):
    """Starts a setsid'd, double-forked grandchild tagged ``token``, then sleeps or returns."""

    def __init__(self, token: str = "", hang: bool = True) -> None:
        self.token = token
        self.hang = hang

    def fit(self, X: Any, y: Any) -> LeaveDaemon:
        faulthandler.dump_traceback_later(20)  # a test that waits in vain shows where this hung
        code = "import os, time\nos.setsid()\nif os.fork(): os._exit(0)\ntime.sleep(600)"
        print("starting the daemon", file=sys.stderr, flush=True)
        subprocess.Popen([sys.executable, "-c", code, self.token],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).wait()
        print("the daemon started", file=sys.stderr, flush=True)
        while self.hang:
            time.sleep(1)
        return self


class LookAround(_Base):
    """Reports what it finds in its working folder and the folder above it."""

    def fit(self, X: Any, y: Any) -> LookAround:
        here = sorted(os.listdir("."))
        above = sorted(os.listdir(".."))
        raise RuntimeError(f"here={here} above={above} cwd={os.path.basename(os.getcwd())}")


class ExitsHard(_Base):
    """Leaves the process without a report: ``os._exit`` or a fatal signal."""

    def __init__(self, code: int = 3, sig: int = 0) -> None:
        self.code = code
        self.sig = sig

    def fit(self, X: Any, y: Any) -> ExitsHard:
        print("about to leave", file=sys.stderr, flush=True)
        if self.sig:
            os.kill(os.getpid(), self.sig)
        os._exit(self.code)


class PrintsALot(_Base):
    """Writes to stdout and stderr, then fails: the error should carry the output's tail."""

    def fit(self, X: Any, y: Any) -> PrintsALot:
        for i in range(200):
            print(f"progress line {i}")
        print("last words on stderr", file=sys.stderr)
        raise RuntimeError("failed after printing")


class BadProba(_Base):
    """Returns probabilities of the wrong shape."""

    def fit(self, X: Any, y: Any) -> BadProba:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 7), 1 / 7)


class NaNValues(_Base):
    """Predicts NaN: finite-ness is checked by the executor."""

    def fit(self, X: Any, y: Any) -> NaNValues:
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), np.nan)


class ShowThreads(_Base):
    """Reports the thread limits it runs under."""

    def fit(self, X: Any, y: Any) -> ShowThreads:
        from threadpoolctl import threadpool_info

        counts = sorted({info["num_threads"] for info in threadpool_info()})
        raise RuntimeError(f"threads={counts} omp_env={os.environ.get('OMP_NUM_THREADS')}")
