"""The leaderboard and the run report, as a data scientist reading them would check them."""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from schemas import (
    ColumnProfile,
    ConfigError,
    DatasetProfile,
    Direction,
    FailureKind,
    LLMUsage,
    RunRecord,
    TaskSpec,
    TaskType,
    TrialConfig,
    TrialResult,
    TrialSource,
)
from tools.leaderboard import error_summary, family_summary, leaderboard_frame
from tools.report import HoldoutResult, write_leaderboard, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRACEBACK = ("Traceback (most recent call last):\n  File \"x.py\", line 3, in fit\n"
             "ValueError: Input contains NaN\n")


def trial(trial_id: int, family: str, score: float | None, *, std: float | None = 0.01,
          source: TrialSource = "bo", error: str | None = None,
          failure: FailureKind | None = None, params: dict[str, Any] | None = None) -> TrialResult:
    failed = score is None
    return TrialResult(
        trial_id=trial_id, source=source,
        config=TrialConfig(family=family, params=params or {"alpha": 0.1 * (trial_id + 1)}),
        status="failed" if failed else "ok", error=error, failure=failure,
        cv_score=score, cv_std=None if failed else std, fit_time_s=0.5, wall_time_s=0.7,
        fold_scores=() if failed else (score or 0.0,) * 3)


def profile(task_type: TaskType, *, class_counts: dict[str, int] | None = None) -> DatasetProfile:
    columns = (
        ColumnProfile(name="age", kind="numeric", dtype="float64", n_missing=3, n_unique=50,
                      used=True),
        ColumnProfile(name="customer_id", kind="id", dtype="int64", n_missing=0, n_unique=400,
                      used=False, note="looks like an identifier (every value unique)"),
        ColumnProfile(name="signup", kind="datetime", dtype="object", n_missing=0, n_unique=300,
                      used=True, note="expanded into year, month, day, dayofweek"),
    )
    regression = task_type == "regression"
    return DatasetProfile(
        n_rows=400, n_rows_dropped=7, target="churned", task_type=task_type,
        n_classes=None if regression else len(class_counts or {}), class_counts=class_counts,
        target_mean=3.2 if regression else None, target_std=1.1 if regression else None,
        target_skew=0.4 if regression else None, columns=columns, n_numeric=6, n_categorical=0,
        missing_fraction=0.01, notices=("dropped 'customer_id': looks like an identifier",),
        sampled_rows=400, meta_features=(0.0,) * 23)


def record(task_type: TaskType, metric: str, direction: Direction,
           trials: Sequence[TrialResult], *, holdout: float | None = 0.9,
           dummy: float | None = 0.5) -> RunRecord:
    scored = [t for t in trials if t.ok]
    sign = -1 if direction == "maximize" else 1
    best = min(scored, key=lambda t: sign * (t.cv_score or 0.0)) if scored else None
    task = TaskSpec(data_path=Path("/data/customers.csv"), target="churned",
                    task_type=task_type, metric=metric, direction=direction)
    return RunRecord(
        run_id="abc123", mlpilot_version="0.1.0", status="completed" if best else "failed",
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), task=task, task_type=task_type,
        metric=metric, direction=direction, n_rows=500, n_holdout=100, best=best,
        holdout_score=holdout if best else None, dummy_holdout_score=dummy if best else None,
        n_trials=len(trials), n_failed=sum(not t.ok for t in trials),
        trials_by_source={"bo": len(trials)}, llm=LLMUsage(), isolation="bwrap",
        search_time_s=75.0, finalize_time_s=2.5, total_time_s=78.0,
        stop_reason="trial budget used" if best else "no trial succeeded")


def binary_holdout(n: int = 100) -> HoldoutResult:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return HoldoutResult(y_true=y, pred=np.column_stack([1 - p1, p1]),
                         dummy_pred=np.tile([0.5, 0.5], (n, 1)), classes=("no", "yes"))


def multiclass_holdout(k: int, n: int = 120) -> HoldoutResult:
    rng = np.random.default_rng(1)
    y = rng.integers(0, k, n)
    pred = rng.random((n, k)) + 0.6 * np.eye(k)[y]
    pred /= pred.sum(axis=1, keepdims=True)
    return HoldoutResult(y_true=y, pred=pred, dummy_pred=np.full((n, k), 1 / k),
                         classes=tuple(f"class_{i}" for i in range(k)))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def has_nan(text: str) -> bool:
    return re.search(r"\bnan\b|\binf\b", text, flags=re.IGNORECASE) is not None


def image_names(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\((plots/[^)]+)\)", markdown)


MIXED = [
    trial(0, "logistic", 0.81, source="default"),
    trial(1, "random_forest", 0.88, std=0.02, source="llm"),
    trial(2, "random_forest", None, error=TRACEBACK, failure="exception"),
    trial(3, "hist_gbm", 0.91, std=0.015, source="bo",
          params={"learning_rate": 0.0523456, "max_depth": 6, "loss": "log_loss"}),
    trial(4, "hist_gbm", None, error="trial exceeded 600 s", failure="timeout"),
    trial(5, "logistic", 0.84, source="memory"),
]


# --- leaderboard ---------------------------------------------------------------------------


def test_leaderboard_ranks_best_first_and_failed_last_when_maximizing() -> None:
    frame = leaderboard_frame(MIXED, "maximize")
    assert list(frame["trial_id"]) == [3, 1, 5, 0, 2, 4]
    assert list(frame["rank"]) == [1, 2, 3, 4, 5, 6]
    assert list(frame["status"])[-2:] == ["failed", "failed"]
    assert list(frame.columns) == ["rank", "trial_id", "status", "source", "family", "cv_score",
                                   "cv_std", "fit_time_s", "wall_time_s", "failure", "error",
                                   "params"]


def test_leaderboard_honours_minimize_and_still_puts_failed_last() -> None:
    trials = [trial(0, "ridge", 3.0), trial(1, "ridge", None, failure="memory", error="OOM"),
              trial(2, "lasso", 1.5), trial(3, "knn", 2.2)]
    frame = leaderboard_frame(trials, "minimize")
    assert list(frame["trial_id"]) == [2, 3, 0, 1]
    assert list(frame["cv_score"])[:3] == [1.5, 2.2, 3.0]


def test_leaderboard_shows_the_exception_line_and_compact_params() -> None:
    frame = leaderboard_frame(MIXED, "maximize").set_index("trial_id")
    assert frame.loc[2, "error"] == "ValueError: Input contains NaN"
    assert frame.loc[2, "failure"] == "exception"
    assert frame.loc[4, "error"] == "trial exceeded 600 s"
    assert frame.loc[3, "params"] == ('{"learning_rate":0.0523456,"loss":"log_loss",'
                                      '"max_depth":6}')
    assert frame["cv_score"].isna().tolist() == [False] * 4 + [True] * 2


def test_error_summary_keeps_the_first_meaningful_line() -> None:
    assert error_summary("\n\n  MemoryError: out of memory\nmore detail") == (
        "MemoryError: out of memory")
    assert error_summary(None) == ""


def test_write_leaderboard_round_trips_through_csv(tmp_path: Path) -> None:
    path = write_leaderboard(tmp_path / "sub" / "leaderboard.csv", MIXED, "maximize")
    frame = pd.read_csv(path)
    assert list(frame["trial_id"]) == [3, 1, 5, 0, 2, 4]
    assert frame["cv_score"].iloc[0] == pytest.approx(0.91)


def test_empty_leaderboard_keeps_its_columns(tmp_path: Path) -> None:
    frame = pd.read_csv(write_leaderboard(tmp_path / "lb.csv", [], "minimize"))
    assert len(frame) == 0 and "cv_score" in frame.columns


def test_an_unknown_direction_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match=r"'direction'.*'upward'"):
        leaderboard_frame(MIXED, "upward")  # type: ignore[arg-type]


def test_family_summary_orders_families_by_their_best_trial() -> None:
    summary = family_summary(MIXED, "maximize")
    assert [f.family for f in summary] == ["hist_gbm", "random_forest", "logistic"]
    gbm = summary[0]
    assert (gbm.n_trials, gbm.n_ok, gbm.n_failed) == (2, 1, 1)
    assert gbm.best is not None and gbm.best.trial_id == 3


# --- report --------------------------------------------------------------------------------


def test_binary_report_names_the_winner_the_dummy_and_the_failures(tmp_path: Path) -> None:
    rec = record("binary", "roc_auc", "maximize", MIXED, holdout=0.9, dummy=0.5)
    path = write_report(tmp_path, record=rec, trials=MIXED,
                        profile=profile("binary", class_counts={"no": 300, "yes": 100}),
                        holdout=binary_holdout())
    text = path.read_text()
    assert path == tmp_path / "report.md"
    headline = text.split("## The data")[0]
    assert "**hist_gbm**" in headline and "0.9100 ± 0.0150" in headline
    assert ("0.9000 against the dummy baseline's 0.5000: better, 80.0% higher (by 0.4000)"
            in headline)
    assert "higher is better" in headline and "trial budget used" in headline
    assert "ValueError: Input contains NaN" in text and "trial exceeded 600 s" in text
    assert "| exception | 1 |" in text and "| timeout | 1 |" in text
    assert "`learning_rate` | 0.05235" in text and "`max_depth` | 6" in text
    assert "customer_id" in text and "looks like an identifier" in text
    assert "| `no` | 300 | 75.0% |" in text
    assert "7** dropped because" in text
    assert "namespaces" in text and "no network" in text
    assert "kept out of every trial" in text and "scored once" in text
    assert not has_nan(text.replace("Input contains NaN", ""))
    for name in ("optimisation_history.png", "family_best.png", "holdout_roc.png",
                 "holdout_confusion.png"):
        assert f"plots/{name}" in image_names(text)


def test_every_linked_plot_is_a_readable_png(tmp_path: Path) -> None:
    rec = record("binary", "roc_auc", "maximize", MIXED)
    text = write_report(tmp_path, record=rec, trials=MIXED,
                        profile=profile("binary", class_counts={"no": 300, "yes": 100}),
                        holdout=binary_holdout()).read_text()
    for name in image_names(text):
        width, height = png_size(tmp_path / name)
        assert 780 <= width <= 1000 and height >= 250, (name, width, height)


def test_minimized_metric_report_says_lower_is_better(tmp_path: Path) -> None:
    trials = [trial(0, "ridge", 3.0), trial(1, "lasso", 2.0), trial(2, "knn", None,
                                                                   failure="memory",
                                                                   error="MemoryError")]
    rec = record("regression", "rmse", "minimize", trials, holdout=2.1, dummy=3.0)
    n = 80
    rng = np.random.default_rng(2)
    y = rng.normal(3.2, 1.1, n)
    holdout = HoldoutResult(y_true=y, pred=y + rng.normal(0, 0.3, n),
                            dummy_pred=np.full(n, 3.2), classes=None)
    text = write_report(tmp_path, record=rec, trials=trials, profile=profile("regression"),
                        holdout=holdout).read_text()
    assert "lower is better" in text
    assert "**lasso**" in text.split("## The data")[0]
    assert "2.1000 against the dummy baseline's 3.0000: better, 30.0% lower (by 0.9000)" in text
    assert "mean 3.2000" in text
    for name in ("holdout_pred_vs_actual.png", "holdout_residuals.png"):
        assert f"plots/{name}" in image_names(text)
        png_size(tmp_path / "plots" / name)


def test_a_model_worse_than_the_dummy_is_called_worse(tmp_path: Path) -> None:
    trials = [trial(0, "ridge", 3.0)]
    rec = record("regression", "rmse", "minimize", trials, holdout=3.3, dummy=3.0)
    text = write_report(tmp_path, record=rec, trials=trials, profile=profile("regression"),
                        holdout=None).read_text()
    assert "3.3000 against the dummy baseline's 3.0000: worse, 10.0% higher (by 0.3000)" in text
    assert "Only one model family was tried" in text


def test_report_without_any_successful_trial_says_so(tmp_path: Path) -> None:
    trials = [trial(0, "svm", None, failure="timeout", error="trial exceeded 60 s"),
              trial(1, "knn", None, failure="exception", error=TRACEBACK)]
    rec = record("binary", "roc_auc", "maximize", trials)
    text = write_report(tmp_path, record=rec, trials=trials,
                        profile=profile("binary", class_counts={"a": 5, "b": 5}),
                        holdout=None).read_text()
    assert "No trial succeeded" in text
    assert "2 trials failed" in text and "never scored" in text
    assert "ValueError: Input contains NaN" in text
    assert image_names(text) == []
    assert not has_nan(text.replace("Input contains NaN", ""))


def test_multiclass_report_draws_a_confusion_matrix(tmp_path: Path) -> None:
    trials = [trial(0, "logistic", 0.6), trial(1, "hist_gbm", 0.4)]
    rec = record("multiclass", "log_loss", "minimize", trials, holdout=0.45, dummy=1.1)
    text = write_report(tmp_path, record=rec, trials=trials,
                        profile=profile("multiclass", class_counts={"a": 1, "b": 2, "c": 3}),
                        holdout=multiclass_holdout(3)).read_text()
    assert "plots/holdout_confusion.png" in image_names(text)
    assert "plots/holdout_roc.png" not in text
    png_size(tmp_path / "plots" / "holdout_confusion.png")


def test_many_classes_skip_the_confusion_matrix_with_a_note(tmp_path: Path) -> None:
    trials = [trial(0, "logistic", 0.7)]
    rec = record("multiclass", "accuracy", "maximize", trials, holdout=0.7, dummy=0.04)
    counts = {f"class_{i}": 10 + i for i in range(25)}
    text = write_report(tmp_path, record=rec, trials=trials,
                        profile=profile("multiclass", class_counts=counts),
                        holdout=multiclass_holdout(25, n=300)).read_text()
    assert "With 25 classes a confusion matrix would not be readable" in text
    assert "holdout_confusion.png" not in text
    assert "… and 5 smaller classes" in text


def test_holdout_arrays_of_the_wrong_length_are_refused(tmp_path: Path) -> None:
    bad = HoldoutResult(y_true=np.zeros(10, dtype=int), pred=np.full((9, 2), 0.5),
                        dummy_pred=np.full((10, 2), 0.5), classes=("a", "b"))
    rec = record("binary", "roc_auc", "maximize", MIXED)
    with pytest.raises(ConfigError, match=r"'holdout.pred'.*\(9, 2\)"):
        write_report(tmp_path, record=rec, trials=MIXED,
                     profile=profile("binary", class_counts={"a": 5, "b": 5}), holdout=bad)
    assert not (tmp_path / "report.md").exists()


def test_class_codes_outside_the_probability_columns_are_refused(tmp_path: Path) -> None:
    bad = HoldoutResult(y_true=np.array([0, 1, 2]), pred=np.full((3, 2), 0.5),
                        dummy_pred=np.full((3, 2), 0.5), classes=None)
    rec = record("binary", "roc_auc", "maximize", MIXED)
    with pytest.raises(ConfigError, match=r"'holdout.y_true'.*0..1"):
        write_report(tmp_path, record=rec, trials=MIXED,
                     profile=profile("binary", class_counts={"a": 5, "b": 5}), holdout=bad)


def test_the_roc_curve_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    from tools._report_plots import roc_points

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.random(200) + 0.5 * y, 1)  # rounded: many ties
    fpr, tpr = roc_points(y, score)
    ref_fpr, ref_tpr, _ = roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    assert float(np.trapezoid(tpr, fpr)) == pytest.approx(roc_auc_score(y, score))


def test_importing_the_report_does_not_load_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, tools.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_string_labels_instead_of_class_codes_are_refused(tmp_path: Path) -> None:
    bad = HoldoutResult(y_true=np.array(["no", "yes"]), pred=np.full((2, 2), 0.5),
                        dummy_pred=np.full((2, 2), 0.5), classes=("no", "yes"))
    rec = record("binary", "roc_auc", "maximize", MIXED)
    with pytest.raises(ConfigError, match=r"'holdout.y_true'.*numeric.*<U3"):
        write_report(tmp_path, record=rec, trials=MIXED,
                     profile=profile("binary", class_counts={"no": 1, "yes": 1}), holdout=bad)
