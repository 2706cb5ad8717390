"""Shared fixtures: a small classification bundle and real sandbox pools started once per session.

Starting a pool imports numpy, pandas and scikit-learn in each worker (a few
seconds), so the pools are session-scoped and the tests that break a worker
check that the pool goes on afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from sandbox import DataBundle, SandboxPool, bwrap_available, write_data_bundle
from schemas import PredictKind, TrialConfig, TrialSpec

TESTS_DIR = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-value-that-must-not-leak"
N_FOLDS = 4
PRELOAD = ("numpy", "pandas", "sklearn")


def executor_of(request: pytest.FixtureRequest, bundle: DataBundle) -> Iterator[Any]:
    """For an ``executor`` fixture parametrized by "in-process", "process" and "bwrap": the
    in-process executor on ``bundle``, or the session's started pool of that isolation."""
    from sandbox import InProcessExecutor

    if request.param == "in-process":
        with InProcessExecutor(bundle) as inprocess:
            yield inprocess
    else:
        yield request.getfixturevalue(f"{request.param}_pool")


def pipeline_around(final: object) -> Any:
    """``final`` after the preprocessing of ``make_data``'s columns (unfitted)."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = make_column_transformer(
        (make_pipeline(SimpleImputer(), StandardScaler()), ["a", "b"]),
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore")), ["color"]))
    return make_pipeline(columns, final)


def make_data(n_rows: int = 160, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Three classes; class 2 lives only in fold 0, so fold 0's training part lacks it."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n_rows), rng.normal(size=n_rows)
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), size=n_rows)
    color[rng.random(n_rows) < 0.1] = np.nan
    X = pd.DataFrame({"a": a, "b": b, "color": color})
    X.loc[rng.random(n_rows) < 0.05, "b"] = np.nan
    y = (a + 0.5 * np.nan_to_num(b) + (color == "red") > 0.3).astype(np.int64)
    folds = np.arange(n_rows, dtype=np.int64) % N_FOLDS
    rare = np.flatnonzero(folds == 0)[:4]
    y[rare] = 2
    return X, y, folds


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return make_data()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory,
           data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> DataBundle:
    X, y, folds = data
    return write_data_bundle(tmp_path_factory.mktemp("bundle"), X, y, folds, n_classes=3)


def _pool(tmp_path_factory: pytest.TempPathFactory, bundle: DataBundle, isolation: str,
          n_workers: int) -> Iterator[SandboxPool]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLPILOT_TEST_SECRET", SECRET)  # set in the parent before the workers start
        pool = SandboxPool(bundle, n_workers=n_workers, isolation=isolation,  # type: ignore[arg-type]
                           scratch_dir=tmp_path_factory.mktemp(f"scratch-{isolation}"),
                           preload=PRELOAD, extra_readonly_paths=[TESTS_DIR])
        pool.start()
    groups = [slot._cgroup for slot in pool._slots if slot._cgroup is not None]
    try:
        yield pool
    finally:
        pool.close()
    # close() must leave no cgroup behind (checked here, where the pool's life ends)
    assert not [g for g in groups if g.memory.exists() or g.pids.exists()]


@pytest.fixture(scope="session")
def bwrap_pool(tmp_path_factory: pytest.TempPathFactory,
               bundle: DataBundle) -> Iterator[SandboxPool]:
    if not bwrap_available():
        pytest.skip("bubblewrap (bwrap) is not installed or cannot run here")
    yield from _pool(tmp_path_factory, bundle, "bwrap", n_workers=2)


@pytest.fixture(scope="session")
def process_pool(tmp_path_factory: pytest.TempPathFactory,
                 bundle: DataBundle) -> Iterator[SandboxPool]:
    yield from _pool(tmp_path_factory, bundle, "process", n_workers=1)


_trial_ids = itertools.count()
SpecFactory = Callable[..., TrialSpec]


@pytest.fixture
def make_spec(tmp_path: Path) -> SpecFactory:
    """Save an estimator into a fresh work folder and describe the trial."""

    def factory(estimator: Any, *, predict_kind: PredictKind = "proba", timeout_s: float = 60,
                memory_mb: int = 1024, n_threads: int = 1, disk_mb: int = 1024) -> TrialSpec:
        trial_id = next(_trial_ids)
        work_dir = tmp_path / f"trial-{trial_id}"
        work_dir.mkdir()
        joblib.dump(estimator, work_dir / "estimator.joblib")
        return TrialSpec(trial_id=trial_id, config=TrialConfig(family="test", params={}),
                         source="default", work_dir=work_dir,
                         estimator_path=work_dir / "estimator.joblib", predict_kind=predict_kind,
                         timeout_s=timeout_s, memory_mb=memory_mb, n_threads=n_threads,
                         disk_mb=disk_mb)

    return factory


def processes_with(token: str) -> list[int]:
    """Live processes (not zombies) whose command line contains ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found
