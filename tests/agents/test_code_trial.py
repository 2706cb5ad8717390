"""One code proposal through the trial path, with the in-process executor (fast)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import Prepared, prepare_data, run_code_trial
from sandbox import InProcessExecutor, write_data_bundle
from schemas import Budget, ConfigError, TaskSpec
from tools.code import check_code
from tools.datasets import load_bundled

KNN = '''
SPACE = {"n_neighbors": {"type": "int", "low": 1, "high": 30, "default": 5}}


def build_model(params):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=params["n_neighbors"])
'''


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    task = TaskSpec(data_path=Path("bundled:iris"), target="species", metric="accuracy",
                    budget=Budget(n_trials=1), n_folds=3)
    return prepare_data(task, load_bundled("iris"))


@pytest.fixture
def executor(prepared: Prepared, tmp_path: Path) -> Iterator[InProcessExecutor]:
    bundle = write_data_bundle(tmp_path / "data", prepared.X_train, prepared.train.y,
                               prepared.split.folds, prepared.n_classes)
    with InProcessExecutor(bundle) as executor:
        yield executor


def test_a_code_trial_is_run_scored_and_kept(prepared: Prepared, executor: InProcessExecutor,
                                            tmp_path: Path) -> None:
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    work_dir = tmp_path / "trial"
    result = run_code_trial(proposal, {"n_neighbors": 9}, prepared=prepared, executor=executor,
                            work_dir=work_dir, trial_id=4, timeout_s=30, memory_mb=1024)
    assert result.ok, result.error
    assert result.trial_id == 4 and result.source == "llm"
    assert result.config.family == proposal.family
    assert result.config.params == {"n_neighbors": 9}
    assert result.cv_score is not None and result.cv_score > 0.85
    assert len(result.fold_scores) == 3
    assert (work_dir / "proposal.py").read_text() == KNN
    assert (work_dir / "estimator.joblib").is_file()


def test_a_failing_proposal_is_a_failed_result(prepared: Prepared, executor: InProcessExecutor,
                                              tmp_path: Path) -> None:
    source = "def build_model(params):\n    return {'not': 'a model'}\n"
    proposal = check_code(source, name="broken", task_type="multiclass")
    result = run_code_trial(proposal, None, prepared=prepared, executor=executor,
                            work_dir=tmp_path / "trial", timeout_s=30, memory_mb=1024,
                            source="repair")
    assert not result.ok and result.failure == "exception" and result.source == "repair"
    assert result.error is not None and "which has no fit, predict, predict_proba" in result.error


def test_bad_params_are_refused_before_anything_runs(prepared: Prepared,
                                                     executor: InProcessExecutor,
                                                     tmp_path: Path) -> None:
    proposal = check_code(KNN, name="knn", task_type="multiclass")
    with pytest.raises(ConfigError, match="n_neighbors' parameter must be an int in"):
        run_code_trial(proposal, {"n_neighbors": 99}, prepared=prepared, executor=executor,
                       work_dir=tmp_path / "trial", timeout_s=30, memory_mb=1024)
    assert not (tmp_path / "trial").exists()
