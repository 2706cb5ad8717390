"""A whole run through the agent layer with the in-process executor (fast, no sandbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents import SearchSettings, SilentObserver, execute_run, read_request, read_run_record
from sandbox import DataBundle, InProcessExecutor
from schemas import Budget, TaskSpec
from tools.datasets import load_bundled
from tools.metrics import fold_scores
from tools.model import load_model, prediction_frame


@contextmanager
def in_process(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
    yield InProcessExecutor(bundle)


def test_iris_run_writes_a_complete_run_folder(tmp_path: Path) -> None:
    table = load_bundled("iris")
    task = TaskSpec(data_path=Path("bundled:iris"), target="species", metric="accuracy",
                    budget=Budget(n_trials=6), n_folds=3)
    result = execute_run(task, table, run_dir=tmp_path / "run", make_executor=in_process,
                         version="test")
    record = result.record
    assert record.status == "completed"
    assert record.task_type == "multiclass"
    assert record.n_trials == 6
    assert sum(record.trials_by_source.values()) == 6
    assert record.best is not None and record.best.cv_score is not None
    assert record.best.cv_score > 0.85
    assert record.best.train_score is not None and record.best.train_score >= 0.85
    assert record.holdout_score is not None and record.holdout_score > 0.8
    assert record.dummy_holdout_score is not None and record.dummy_holdout_score < 0.5
    assert read_run_record(tmp_path / "run") == record

    ledger = (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    assert [json.loads(line)["trial_id"] for line in ledger] == list(range(6))

    model = load_model(tmp_path / "run")
    frame = prediction_frame(model, table.drop(columns=["species"]).head(10))
    assert list(frame.columns[:1]) == ["prediction"]
    assert frame.shape == (10, 1 + 3)
    assert np.allclose(frame.filter(like="proba_").sum(axis=1), 1.0)


def test_holdout_is_never_given_to_trials(tmp_path: Path) -> None:
    table = load_bundled("breast_cancer")
    task = TaskSpec(data_path=Path("bundled:breast_cancer"), target="diagnosis",
                    budget=Budget(n_trials=1), holdout_fraction=0.25)
    seen: list[int] = []

    @contextmanager
    def spy(bundle: DataBundle, scratch: Path) -> Iterator[InProcessExecutor]:
        seen.append(bundle.n_rows)
        yield InProcessExecutor(bundle)

    record = execute_run(task, table, run_dir=tmp_path / "run", make_executor=spy,
                         version="test").record
    assert seen == [record.n_rows - record.n_holdout]
    assert record.n_holdout == pytest.approx(0.25 * len(table), abs=1)


@pytest.mark.parametrize("sampler", ["random", "gp"])
def test_search_settings_change_the_sampler_and_drop_the_defaults(tmp_path: Path,
                                                                   sampler: str) -> None:
    table = load_bundled("iris")
    task = TaskSpec(data_path=Path("bundled:iris"), target="species", seed=3,
                    budget=Budget(n_trials=4), n_folds=3)
    settings = SearchSettings(sampler=sampler, defaults=False,  # type: ignore[arg-type]
                              n_startup_trials=2)
    record = execute_run(task, table, run_dir=tmp_path / "run", make_executor=in_process,
                         version="test", settings=settings).record
    assert record.status == "completed"
    assert record.trials_by_source == {"bo": 4}  # no family default went first
    assert read_request(tmp_path / "run").settings == settings  # a resume searches the same way
    with_defaults = execute_run(task, table, run_dir=tmp_path / "defaults",
                                make_executor=in_process, version="test").record
    assert with_defaults.trials_by_source == {"default": 4}


def test_a_run_for_f1_on_rare_positives_chooses_a_decision_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 800
    x = rng.normal(size=(n, 3))
    y = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=1.0, size=n) > 2.0, "yes", "no")
    table = pd.DataFrame(x, columns=["a", "b", "c"]).assign(churn=y)
    task = TaskSpec(data_path=Path("churn.csv"), target="churn", metric="f1",
                    budget=Budget(n_trials=1), n_folds=3, families=("linear",))
    record = execute_run(task, table, run_dir=tmp_path / "run", make_executor=in_process,
                         version="test").record
    assert record.decision_threshold is not None and record.decision_threshold < 0.5
    best = record.best
    assert record.ensemble_cv_score is not None and best is not None and best.cv_score is not None
    # the search scored the trial at thresholds chosen on the other folds, far above 0.5
    assert record.ensemble_cv_score == pytest.approx(best.cv_score)
    assert best.predictions_path is not None
    oof = np.load(best.predictions_path)
    data = tmp_path / "run" / "data"
    codes, folds = np.load(data / "y.npy"), np.load(data / "folds.npy")
    assert best.cv_score > np.mean(fold_scores("f1", codes, oof, folds, n_classes=2)) + 0.05
    # the dummy says "yes" to every row rather than never (F1 0)
    assert record.dummy_holdout_score is not None and record.dummy_holdout_score > 0.1
    model = load_model(tmp_path / "run")
    assert model.threshold == record.decision_threshold
    frame = prediction_frame(model, table.drop(columns=["churn"]))
    at_cut = np.where(frame["proba_yes"] >= record.decision_threshold, "yes", "no")
    assert (frame["prediction"] == at_cut).all()
    report = (tmp_path / "run" / "report.md").read_text()
    assert "decision threshold" in report and "labels every row with one class" in report


def test_a_run_for_roc_auc_keeps_the_most_probable_class(tmp_path: Path) -> None:
    table = load_bundled("breast_cancer")
    task = TaskSpec(data_path=Path("bundled:breast_cancer"), target="diagnosis",
                    budget=Budget(n_trials=1), n_folds=3)
    record = execute_run(task, table, run_dir=tmp_path / "run", make_executor=in_process,
                         version="test").record
    assert record.decision_threshold is None
    assert load_model(tmp_path / "run").threshold is None


class _Stages(SilentObserver):
    def __init__(self) -> None:
        self.stages: list[str] = []

    def on_stage(self, message: str) -> None:
        self.stages.append(message)


def test_fewer_folds_than_asked_is_said_before_the_search(tmp_path: Path) -> None:
    table = load_bundled("iris")
    rare = table.iloc[:3].assign(species="rare")  # 2 training rows after the holdout
    task = TaskSpec(data_path=Path("iris.csv"), target="species", budget=Budget(n_trials=1),
                    families=("linear",))
    observer = _Stages()
    record = execute_run(task, pd.concat([table, rare], ignore_index=True),
                         run_dir=tmp_path / "run", make_executor=in_process, version="test",
                         observer=observer).record
    (said,) = [s for s in observer.stages if "number of folds" in s]
    assert observer.stages.index(said) == 1  # right after the task's line, before any trial
    assert said in record.notices
