"""Running trials: the ``Executor`` protocol, the sandboxed worker pool and the trial harness.

The executor fits an unfitted estimator on every cross-validation fold of
the training data (a ``DataBundle``) and writes out-of-fold predictions; it
never scores. It also refits estimators on all training rows and applies
fitted ones ("refit" and "predict" jobs), so that a model holding LLM-written
code is only ever fitted and loaded inside the sandbox (``predict_in_sandbox``).
``SandboxPool`` runs jobs in warm, forked, isolated workers (bubblewrap when it
works here); ``InProcessExecutor`` runs the same harness in the calling
process, for tests.
"""

from __future__ import annotations

from sandbox._bundle import DataBundle, read_data_bundle, write_data_bundle
from sandbox._executor import Executor
from sandbox._harness import FITTED_FILE, LOG_FILE, PREDICTIONS_FILE, RESULT_FILE
from sandbox._inprocess import InProcessExecutor
from sandbox._launch import bwrap_available
from sandbox._pool import DEFAULT_PRELOAD, Isolation, SandboxPool, resolve_isolation
from sandbox._predict import predict_in_sandbox

__all__ = [
    "DEFAULT_PRELOAD",
    "FITTED_FILE",
    "LOG_FILE",
    "PREDICTIONS_FILE",
    "RESULT_FILE",
    "DataBundle",
    "Executor",
    "InProcessExecutor",
    "Isolation",
    "SandboxPool",
    "bwrap_available",
    "predict_in_sandbox",
    "read_data_bundle",
    "resolve_isolation",
    "write_data_bundle",
]
