"""How much a sandboxed trial costs beyond the model's own fit time.

Runs the same small models on scikit-learn's breast-cancer data (5 folds)
three ways: through ``SandboxPool`` (warm forked workers), through
``InProcessExecutor`` (the same harness, no sandbox) and as a plain loop of
the same fit/predict calls. The harness overhead of a trial is its wall
time minus the model's own fit+predict time.

    python -m evals.overhead [--trials 30] [--isolation auto] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sandbox import DataBundle, Executor, InProcessExecutor, SandboxPool, write_data_bundle
from schemas import TrialConfig, TrialSpec

logger = logging.getLogger(__name__)

N_FOLDS = 5
MODELS: dict[str, Callable[[], BaseEstimator]] = {
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
}


def _bundle(directory: Path) -> DataBundle:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    folds = np.empty(len(y), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=0)
    for fold, (_, test) in enumerate(splitter.split(X, y)):
        folds[test] = fold
    return write_data_bundle(directory, X, y.to_numpy().astype(np.int64), folds, n_classes=2)


def _specs(root: Path, n_trials: int) -> list[TrialSpec]:
    specs = []
    for i in range(n_trials):
        name = list(MODELS)[i % len(MODELS)]
        work_dir = root / f"trial-{i}"
        work_dir.mkdir(parents=True)
        joblib.dump(MODELS[name](), work_dir / "estimator.joblib")
        specs.append(TrialSpec(trial_id=i, config=TrialConfig(family=name, params={}),
                               source="default", work_dir=work_dir,
                               estimator_path=work_dir / "estimator.joblib",
                               predict_kind="proba", timeout_s=60, memory_mb=2048))
    return specs


def _through(executor: Executor, specs: Sequence[TrialSpec]) -> list[dict[str, float]]:
    rows = []
    for spec in specs:
        result = executor.run(spec)
        if not result.ok:
            raise RuntimeError(f"trial {spec.trial_id} failed: {result.error}")
        rows.append({"wall_s": result.wall_time_s, "fit_s": result.fit_time_s})
    return rows


def _plain_loop(bundle: DataBundle, specs: Sequence[TrialSpec]) -> list[dict[str, float]]:
    """The same fit/predict calls with no harness at all: the floor for comparison."""
    from sandbox._bundle import load_bundle_data

    data = load_bundle_data(bundle)
    rows = []
    for spec in specs:
        start = time.perf_counter()
        estimator = joblib.load(spec.estimator_path)
        fit_s = 0.0
        for train, test in zip(data.train_indices, data.test_indices, strict=True):
            t = time.perf_counter()
            model = clone(estimator).fit(data.X.iloc[train], data.y[train])
            model.predict_proba(data.X.iloc[test])
            fit_s += time.perf_counter() - t
        rows.append({"wall_s": time.perf_counter() - start, "fit_s": fit_s})
    return rows


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    overhead = sorted(r["wall_s"] - r["fit_s"] for r in rows)
    return {"n_trials": len(rows),
            "median_wall_ms": 1000 * statistics.median(r["wall_s"] for r in rows),
            "median_fit_ms": 1000 * statistics.median(r["fit_s"] for r in rows),
            "median_overhead_ms": 1000 * statistics.median(overhead),
            "p90_overhead_ms": 1000 * overhead[min(len(overhead) - 1,
                                                   int(0.9 * len(overhead)))]}


def measure(n_trials: int, isolation: str, preload: Sequence[str]) -> dict[str, Any]:
    """Run the three variants and summarise each."""
    with tempfile.TemporaryDirectory(prefix="mlpilot-overhead-") as tmp:
        root = Path(tmp)
        bundle = _bundle(root / "bundle")
        pool = SandboxPool(bundle, isolation=isolation,  # type: ignore[arg-type]
                           scratch_dir=root / "scratch", preload=preload)
        start = time.perf_counter()
        with pool:
            startup_s = time.perf_counter() - start
            _through(pool, _specs(root / "warmup", 2))
            sandbox_rows = _through(pool, _specs(root / "sandbox", n_trials))
            level = pool.isolation_level
        inprocess = InProcessExecutor(bundle)
        _through(inprocess, _specs(root / "warmup-inproc", 2))
        inprocess_rows = _through(inprocess, _specs(root / "inproc", n_trials))
        plain_rows = _plain_loop(bundle, _specs(root / "plain", n_trials))
    return {"isolation": level, "startup_s": startup_s, "preload": list(preload),
            "sandbox": _summary(sandbox_rows), "in_process_executor": _summary(inprocess_rows),
            "plain_loop": _summary(plain_rows)}


def _table(report: dict[str, Any]) -> str:
    lines = [f"sandbox isolation: {report['isolation']}, worker start {report['startup_s']:.2f} s",
             f"{'variant':<22}{'trials':>7}{'wall ms':>10}{'fit ms':>10}{'overhead ms':>13}"
             f"{'p90 ovh ms':>12}"]
    for key in ("sandbox", "in_process_executor", "plain_loop"):
        s = report[key]
        lines.append(f"{key:<22}{s['n_trials']:>7}{s['median_wall_ms']:>10.1f}"
                     f"{s['median_fit_ms']:>10.1f}{s['median_overhead_ms']:>13.1f}"
                     f"{s['p90_overhead_ms']:>12.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--isolation", choices=("auto", "bwrap", "process"), default="auto")
    parser.add_argument("--preload", default="numpy,pandas,sklearn,torch",
                        help="comma-separated modules the workers import up front")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = measure(args.trials, args.isolation, [m for m in args.preload.split(",") if m])
    print(_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
