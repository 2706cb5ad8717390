"""The FLAML peer of ``mlpilot bench``: real FLAML on bundled data, scored by our harness."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents import holdout_rows, prepare_data
from evals._flaml import LOG_FILE, PREDICTIONS_FILE, _fit, flaml_metric, run_flaml
from evals._ledger import CellResult
from schemas import METRICS, Budget, ConfigError, DataError, TaskSpec
from tools.datasets import BUNDLED, load_bundled
from tools.metrics import score


def _task(name: str, *, n_trials: int = 5, time_budget_s: float | None = None,
          metric: str | None = None) -> TaskSpec:
    return TaskSpec(data_path=Path(f"bundled:{name}"), target=BUNDLED[name].target, seed=0,
                    metric=metric, budget=Budget(n_trials=n_trials, time_budget_s=time_budget_s))


def _run(name: str, work_dir: Path, **kwargs: Any) -> CellResult:
    return run_flaml(_task(name, **kwargs), load_bundled(name), work_dir=work_dir,
                     task_name=name)


def _log_records(work_dir: Path) -> list[dict[str, Any]]:
    lines = (work_dir / LOG_FILE).read_text().splitlines()
    return [r for r in map(json.loads, lines) if "learner" in r]


def _assert_curve(cell: CellResult) -> None:
    assert [p.trial for p in cell.curve] == list(range(1, cell.n_trials + 1))
    elapsed = [p.elapsed_s for p in cell.curve]
    assert elapsed == sorted(elapsed) and elapsed[-1] <= cell.wall_s
    scores = [p.best_cv for p in cell.curve if p.best_cv is not None]
    assert scores, "no iteration was scored"
    ordered = sorted(scores, reverse=cell.direction == "minimize")
    assert scores == ordered  # never gets worse
    assert cell.best_cv == pytest.approx(scores[-1])


def test_iris_log_loss_beats_the_dummy_on_our_holdout(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    root_before = (root.level, list(root.handlers))
    cell = _run("iris", tmp_path)
    assert cell.status == "done" and cell.error is None
    assert (cell.task, cell.method, cell.seed, cell.metric) == ("iris", "flaml", 0, "log_loss")
    assert 1 <= cell.n_trials <= 5 and cell.trials_by_source == {"flaml": cell.n_trials}
    assert cell.holdout is not None and cell.dummy_holdout is not None
    assert cell.holdout < cell.dummy_holdout
    assert cell.best_cv is not None and cell.dummy_cv is not None and cell.best_cv < cell.dummy_cv
    assert cell.best_family in ("lgbm", "rf", "extra_tree", "lrl1")
    _assert_curve(cell)
    # FLAML trained on the training rows only; the holdout score is ours, on our holdout rows
    p = prepare_data(_task("iris"), load_bundled("iris"))
    assert {r["sample_size"] for r in _log_records(tmp_path)} == {len(p.split.train_idx)}
    pred = np.load(tmp_path / PREDICTIONS_FILE)
    _, y_holdout = holdout_rows(p)
    assert pred.shape == (len(p.split.holdout_idx), 3)
    assert score("log_loss", y_holdout, pred, n_classes=3) == pytest.approx(cell.holdout)
    # nothing printed, the root logger as it was, FLAML's stdout handler gone
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert (root.level, list(root.handlers)) == root_before
    assert logging.getLogger("flaml.automl.logger").handlers == []


def _logger_states() -> dict[str, tuple[object, ...]]:
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    return {lg.name: (lg.level, tuple(lg.handlers), lg.propagate, lg.disabled) for lg in loggers}


def test_flaml_logs_nothing_below_error_and_leaves_every_logger_as_it_was(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _run("diabetes", tmp_path / "first")  # FLAML imported and its loggers made
    before = _logger_states()
    with caplog.at_level(logging.INFO):  # 10 iris trials reach lrl1: FLAML logs at INFO
        cell = _run("iris", tmp_path / "second", n_trials=10)
    assert cell.status == "done"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("flaml")] == []
    assert _logger_states() == before


def test_breast_cancer_roc_auc(tmp_path: Path) -> None:
    cell = _run("breast_cancer", tmp_path)
    assert cell.status == "done" and cell.direction == "maximize"
    assert cell.n_trials <= 5
    assert cell.holdout is not None and cell.dummy_holdout is not None
    assert cell.dummy_holdout == pytest.approx(0.5) and cell.holdout > 0.9
    assert cell.best_cv is not None and 0.9 < cell.best_cv <= 1.0
    _assert_curve(cell)


def test_diabetes_rmse(tmp_path: Path) -> None:
    cell = _run("diabetes", tmp_path)
    assert cell.status == "done" and cell.task_type == "regression"
    assert cell.n_trials <= 5
    assert cell.holdout is not None and cell.dummy_holdout is not None
    assert cell.holdout < cell.dummy_holdout
    assert cell.best_family in ("lgbm", "rf", "extra_tree")
    _assert_curve(cell)
    assert np.load(tmp_path / PREDICTIONS_FILE).shape == (round(442 * 0.2),)


def test_flaml_validates_on_our_folds_and_never_sees_the_holdout(tmp_path: Path) -> None:
    p = prepare_data(_task("wine"), load_bundled("wine"))
    seen: list[tuple[int, frozenset[int]]] = []

    def probe(X_val: Any, y_val: Any, estimator: Any, labels: Any,
              X_train: Any, *args: Any) -> tuple[float, dict[str, float]]:
        seen.append((len(X_val) + len(X_train), frozenset(int(i) for i in X_val.index)))
        accuracy = float(np.mean(np.asarray(estimator.predict(X_val)) == np.asarray(y_val)))
        return 1.0 - accuracy, {}

    _fit(p, probe, tmp_path / LOG_FILE)
    folds = {frozenset(np.flatnonzero(p.split.folds == f).tolist())
             for f in range(p.split.n_folds)}
    assert seen and {rows for _, rows in seen} == folds
    assert {n for n, _ in seen} == {len(p.split.train_idx)}


def test_a_time_budget_stops_flaml_within_a_few_seconds(tmp_path: Path) -> None:
    t0 = time.monotonic()
    cell = _run("fair", tmp_path, n_trials=1000, time_budget_s=2.0)
    wall = time.monotonic() - t0
    assert cell.status == "done"
    assert 1 <= cell.n_trials < 1000
    assert wall < 6.0 and cell.wall_s <= wall


def test_one_trial_is_one_default_model_without_cv(tmp_path: Path) -> None:
    cell = _run("iris", tmp_path, n_trials=1)
    assert cell.status == "done" and cell.n_trials == 1
    assert cell.best_cv is None and len(cell.curve) == 1 and cell.curve[0].best_cv is None
    assert cell.holdout is not None and cell.dummy_holdout is not None
    assert cell.holdout < cell.dummy_holdout


def test_no_model_within_the_budget_is_a_failed_cell(tmp_path: Path) -> None:
    cell = _run("iris", tmp_path, n_trials=1000, time_budget_s=0.001)
    assert cell.status == "failed" and cell.holdout is None
    assert cell.error is not None and "\n" not in cell.error
    assert cell.error.startswith("RuntimeError: FLAML trained no model")
    assert cell.dummy_holdout is not None and cell.dummy_cv is not None


def test_a_flaml_error_is_a_failed_cell_with_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / LOG_FILE).mkdir()  # FLAML cannot open its training log
    cell = _run("diabetes", tmp_path)
    assert cell.status == "failed" and cell.n_trials == 0 and cell.curve == ()
    assert cell.error is not None and cell.error.startswith("IsADirectoryError: ")
    assert "\n" not in cell.error and "Traceback" not in cell.error
    assert cell.wall_s > 0


def test_bad_input_still_raises(tmp_path: Path) -> None:
    table = load_bundled("iris")
    with pytest.raises(DataError, match="target column 'nope'"):
        run_flaml(TaskSpec(data_path=Path("bundled:iris"), target="nope"), table,
                  work_dir=tmp_path, task_name="iris")
    with pytest.raises(ConfigError):
        run_flaml(_task("iris", metric="rmse"), table, work_dir=tmp_path, task_name="iris")


def test_every_metric_maps_to_flaml_for_its_task_types() -> None:
    for name, info in METRICS.items():
        for task_type in info.task_types:
            assert flaml_metric(name, task_type)
    assert flaml_metric("roc_auc", "binary") == "roc_auc"
    assert flaml_metric("roc_auc", "multiclass") == "roc_auc_ovr"
    assert flaml_metric("f1_macro", "multiclass") == "macro_f1"
    assert callable(flaml_metric("balanced_accuracy", "multiclass"))
    with pytest.raises(ConfigError, match="'metric' parameter"):
        flaml_metric("f1_weighted", "regression")
    with pytest.raises(ConfigError, match="'metric' parameter"):
        flaml_metric("mape", "regression")


def test_a_custom_metric_run_reports_our_metric(tmp_path: Path) -> None:
    cell = _run("wine", tmp_path, metric="balanced_accuracy")
    assert cell.status == "done" and cell.metric == "balanced_accuracy"
    assert cell.best_cv is not None and 0.5 < cell.best_cv <= 1.0
    assert cell.holdout is not None and cell.dummy_holdout is not None
    assert cell.holdout > cell.dummy_holdout
    _assert_curve(cell)
