"""Running trials: the ``Executor`` protocol, the sandboxed worker pool and the trial harness.

The executor fits an unfitted estimator on every cross-validation fold of
the training data (a ``DataBundle``) and writes out-of-fold predictions; it
never scores. ``SandboxPool`` runs trials in warm, forked, isolated workers
(bubblewrap when it works here); ``InProcessExecutor`` runs the same
harness in the calling process, for tests.
"""

from __future__ import annotations

from sandbox._bundle import DataBundle, read_data_bundle, write_data_bundle
from sandbox._executor import Executor
from sandbox._harness import LOG_FILE, PREDICTIONS_FILE, RESULT_FILE
from sandbox._inprocess import InProcessExecutor
from sandbox._launch import bwrap_available
from sandbox._pool import DEFAULT_PRELOAD, SandboxPool

__all__ = [
    "DEFAULT_PRELOAD",
    "LOG_FILE",
    "PREDICTIONS_FILE",
    "RESULT_FILE",
    "DataBundle",
    "Executor",
    "InProcessExecutor",
    "SandboxPool",
    "bwrap_available",
    "read_data_bundle",
    "write_data_bundle",
]
