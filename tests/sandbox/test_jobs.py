""""refit" and "predict" jobs: the same contract for InProcessExecutor and the real SandboxPool.

A refit fits a tuple of unfitted estimators on all rows of the bundle, keeps the fitted
tuple (``fitted.joblib``) and predicts new rows; a predict job loads such a tuple and
predicts, also in a pool started without any data. Loading a fitted object happens in the
sandbox child only.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import joblib
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

from sandbox import (
    FITTED_FILE,
    DataBundle,
    Executor,
    InProcessExecutor,
    SandboxPool,
    predict_in_sandbox,
)
from sandbox._outcome import result_from_report
from schemas import FailureKind, JobKind, PredictKind, SandboxError, TrialConfig, TrialSpec
from tests.sandbox import hostile, job_models
from tests.sandbox.conftest import (
    PRELOAD,
    TESTS_DIR,
    executor_of,
    make_data,
    pipeline_around,
)

Data = tuple[pd.DataFrame, np.ndarray, np.ndarray]
_ids = itertools.count(10_000)



def _new_rows(n_rows: int = 30) -> pd.DataFrame:
    return make_data(n_rows=n_rows, seed=1)[0]


def _spec(work_dir: Path, estimator: Any, rows: pd.DataFrame, *, kind: JobKind,
          predict_kind: PredictKind = "proba", n_classes: int | None = None,
          timeout_s: float = 60) -> TrialSpec:
    """Save the estimator (an object, or the bytes of a joblib file) and the rows."""
    work_dir.mkdir(parents=True)
    estimator_path = work_dir / "estimator.joblib"
    if isinstance(estimator, bytes):
        estimator_path.write_bytes(estimator)
    else:
        joblib.dump(estimator, estimator_path)
    rows_path = work_dir / "rows.parquet"
    rows.to_parquet(rows_path, index=False)
    return TrialSpec(trial_id=next(_ids), config=TrialConfig(family="test", params={}),
                     source="default", work_dir=work_dir / "out", estimator_path=estimator_path,
                     predict_kind=predict_kind, timeout_s=timeout_s, memory_mb=1024, kind=kind,
                     rows_path=rows_path, n_classes=n_classes)


def _predictions(spec: TrialSpec, executor: Executor) -> np.ndarray:
    result = executor.run(spec)
    assert result.ok, result.error
    assert result.predictions_path == spec.work_dir / "predictions.npy"
    return np.load(result.predictions_path, allow_pickle=False)


@pytest.fixture(params=["in-process", "process", "bwrap"])
def executor(request: pytest.FixtureRequest, bundle: DataBundle) -> Iterator[Executor]:
    yield from executor_of(request, bundle)


@pytest.fixture(scope="module")
def bare_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxPool]:
    """A pool started without a data bundle (bubblewrap when it works here)."""
    with SandboxPool(None, n_workers=1, scratch_dir=tmp_path_factory.mktemp("bare"),
                     preload=PRELOAD, extra_readonly_paths=[TESTS_DIR]) as pool:
        yield pool


@pytest.fixture(params=["in-process", "pool"])
def bare_executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    if request.param == "in-process":
        with InProcessExecutor(None) as inprocess:
            yield inprocess
    else:
        yield request.getfixturevalue("bare_pool")


# -- the spec ------------------------------------------------------------------------------------


def test_the_spec_requires_rows_exactly_for_refit_and_predict(tmp_path: Path) -> None:
    base = {"trial_id": 0, "config": TrialConfig(family="test", params={}), "source": "default",
            "work_dir": tmp_path, "estimator_path": tmp_path / "e.joblib",
            "predict_kind": "proba", "timeout_s": 1, "memory_mb": 64}
    assert TrialSpec(**base).kind == "cv"
    with pytest.raises(ValidationError, match="'rows_path' parameter must be None"):
        TrialSpec(**base, rows_path=tmp_path / "rows.parquet")
    for kind in ("refit", "predict"):
        with pytest.raises(ValidationError, match="'rows_path' parameter is required"):
            TrialSpec(**base, kind=kind, n_classes=3)
    with pytest.raises(ValidationError, match="'n_classes' parameter is required"):
        TrialSpec(**base, kind="predict", rows_path=tmp_path / "rows.parquet")
    spec = TrialSpec(**base, kind="refit", rows_path=tmp_path / "rows.parquet")
    assert spec.n_classes is None  # a refit takes the bundle's
    assert "rejected" in get_args(FailureKind)


# -- refit ---------------------------------------------------------------------------------------


def test_refit_fits_each_member_on_all_rows_and_predicts_the_rows(
        executor: Executor, data: Data, tmp_path: Path) -> None:
    X, y, _ = data
    members = (pipeline_around(LogisticRegression()),
               pipeline_around(DecisionTreeClassifier(max_depth=3)))
    rows = _new_rows()
    spec = _spec(tmp_path / "job", members, rows, kind="refit")
    result = executor.run(spec)
    assert result.ok, result.error
    predictions = np.load(spec.work_dir / "predictions.npy", allow_pickle=False)
    assert predictions.dtype == np.float64 and predictions.shape == (2, len(rows), 3)
    for member, block in zip(members, predictions, strict=True):
        expected = clone(member).fit(X, y).predict_proba(rows)
        np.testing.assert_allclose(block, expected, atol=1e-8)
    assert result.fitted_path == spec.work_dir / FITTED_FILE
    fitted = joblib.load(result.fitted_path)  # plain scikit-learn objects: safe to load here
    assert isinstance(fitted, tuple) and len(fitted) == 2
    np.testing.assert_allclose(fitted[0].predict_proba(rows), predictions[0], atol=1e-8)
    assert 0 < result.fit_time_s <= result.wall_time_s
    assert result.train_predictions_path is None


def test_refit_values_have_one_row_per_member(executor: Executor, data: Data,
                                              tmp_path: Path) -> None:
    X, y, _ = data
    rows = _new_rows(17)
    spec = _spec(tmp_path / "job", (pipeline_around(Ridge()),), rows, kind="refit",
                 predict_kind="value")
    predictions = _predictions(spec, executor)
    assert predictions.shape == (1, 17)
    np.testing.assert_allclose(predictions[0], pipeline_around(Ridge()).fit(X, y).predict(rows),
                               atol=1e-8)


def test_refit_puts_probability_columns_in_class_code_order(executor: Executor, data: Data,
                                                            tmp_path: Path) -> None:
    X, y, _ = data
    rows = _new_rows()
    shuffled = pipeline_around(job_models.ShuffledClasses(LogisticRegression()))
    predictions = _predictions(_spec(tmp_path / "job", (shuffled,), rows, kind="refit"),
                               executor)
    expected = pipeline_around(LogisticRegression()).fit(X, y).predict_proba(rows)
    np.testing.assert_allclose(predictions[0], expected, atol=1e-8)
    assert not np.allclose(predictions[0], expected[:, [2, 0, 1]])  # the order did matter


def test_a_refit_that_raises_is_a_failed_result(executor: Executor, tmp_path: Path) -> None:
    members = (pipeline_around(LogisticRegression()), hostile.Raising())
    spec = _spec(tmp_path / "job", members, _new_rows(), kind="refit")
    result = executor.run(spec)
    assert result.status == "failed" and result.failure == "exception"
    assert result.error is not None and "hostile estimator refuses to fit" in result.error
    assert result.predictions_path is None and result.fitted_path is None


def test_a_refit_of_a_single_estimator_not_a_tuple_fails(executor: Executor,
                                                         tmp_path: Path) -> None:
    spec = _spec(tmp_path / "job", pipeline_around(LogisticRegression()), _new_rows(), kind="refit")
    result = executor.run(spec)
    assert result.failure == "exception"
    assert result.error is not None and "must hold a non-empty tuple" in result.error


def test_a_refit_without_its_fitted_file_is_invalid(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "job", (), _new_rows(4), kind="refit")
    spec.work_dir.mkdir()
    np.save(spec.work_dir / "predictions.npy", np.full((1, 4, 3), 1 / 3))
    (spec.work_dir / FITTED_FILE).symlink_to(tmp_path / "job" / "estimator.joblib")

    def outcome() -> Any:
        return result_from_report(spec, {"status": "ok"}, n_rows=4, n_classes=3,
                                  wall_time_s=1.0, started_at=None)

    result = outcome()
    assert result.failure == "invalid_output" and "fitted-model file" in str(result.error)
    (spec.work_dir / FITTED_FILE).unlink()
    (spec.work_dir / FITTED_FILE).write_bytes(b"x")
    assert outcome().ok
    np.save(spec.work_dir / "predictions.npy", np.full((4, 3), 1 / 3))  # no member axis
    result = outcome()
    assert result.failure == "invalid_output"
    assert "shape (n_members, 4, 3)" in str(result.error)


# -- predict -------------------------------------------------------------------------------------


def _fitted_bytes(members: tuple[Any, ...], path: Path) -> bytes:
    joblib.dump(members, path)
    return path.read_bytes()


def test_predict_applies_what_a_refit_fitted(executor: Executor, tmp_path: Path) -> None:
    rows = _new_rows()
    members = (pipeline_around(LogisticRegression()),
               pipeline_around(DecisionTreeClassifier(max_depth=2)))
    refit = _spec(tmp_path / "refit", members, rows, kind="refit")
    refitted = _predictions(refit, executor)
    fitted_path = refit.work_dir / FITTED_FILE
    fitted = fitted_path.read_bytes()
    spec = _spec(tmp_path / "predict", fitted, rows, kind="predict", n_classes=3)
    result = executor.run(spec)
    assert result.ok, result.error
    assert result.fitted_path is None and not (spec.work_dir / FITTED_FILE).exists()
    np.testing.assert_array_equal(np.load(spec.work_dir / "predictions.npy"), refitted)
    # the refit's own folder and fitted file serve a predict job as they are, and stay
    again = refit.model_copy(update={"trial_id": next(_ids), "kind": "predict",
                                     "estimator_path": fitted_path, "n_classes": 3})
    np.testing.assert_array_equal(_predictions(again, executor), refitted)
    assert fitted_path.read_bytes() == fitted


def test_a_pool_without_a_bundle_runs_predict_jobs(bare_executor: Executor, data: Data,
                                                   tmp_path: Path) -> None:
    X, y, _ = data
    two_classes = y < 2
    fitted = (pipeline_around(LogisticRegression()).fit(X[two_classes], y[two_classes]),
              pipeline_around(Ridge()).fit(X, y))
    rows = _new_rows(12)
    spec = _spec(tmp_path / "proba", fitted[:1], rows, kind="predict", n_classes=3)
    predictions = _predictions(spec, bare_executor)
    assert predictions.shape == (1, 12, 3)
    np.testing.assert_allclose(predictions[0, :, :2], fitted[0].predict_proba(rows), atol=1e-8)
    assert (predictions[0, :, 2] == 0).all()  # a class the model never saw
    spec = _spec(tmp_path / "value", fitted[1:], rows, kind="predict", predict_kind="value")
    np.testing.assert_allclose(_predictions(spec, bare_executor)[0], fitted[1].predict(rows),
                               atol=1e-8)


def test_a_pool_without_a_bundle_refuses_cv_and_refit_jobs(bare_executor: Executor,
                                                           tmp_path: Path) -> None:
    rows = _new_rows(5)
    refit = _spec(tmp_path / "refit", (pipeline_around(Ridge()),), rows, kind="refit")
    cv = refit.model_copy(update={"kind": "cv", "rows_path": None})
    for spec in (refit, cv):
        result = bare_executor.run(spec)
        assert result.status == "failed" and result.failure == "exception"
        assert result.error is not None
        assert f"a {spec.kind!r} job needs the training data" in result.error


def test_predictions_of_the_wrong_shape_are_invalid(bare_executor: Executor, data: Data,
                                                    tmp_path: Path) -> None:
    X, y, _ = data
    fitted = (hostile.NaNValues().fit(X, y),)
    spec = _spec(tmp_path / "job", fitted, _new_rows(5), kind="predict", predict_kind="value")
    result = bare_executor.run(spec)
    assert result.failure == "invalid_output" and "must be finite" in str(result.error)


def test_a_fitted_object_is_only_ever_loaded_in_the_sandbox_child(
        bare_pool: SandboxPool, data: Data, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    X, y, _ = data
    tattletale = job_models.Tattletale(pipeline_around(LogisticRegression())).fit(X, y)
    fitted = pickle.dumps((tattletale,))
    control = tmp_path / "control"
    control.mkdir()
    monkeypatch.chdir(control)
    pickle.loads(fitted)  # loading it here does write into the current folder
    assert (control / job_models.MARKER).is_file()

    cwd = tmp_path / "parent"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    rows = _new_rows(8)
    spec = _spec(tmp_path / "job", fitted, rows, kind="predict", n_classes=3)
    predictions = _predictions(spec, bare_pool)
    np.testing.assert_allclose(predictions[0], tattletale.predict_proba(rows), atol=1e-8)
    assert "tattletale unpickled in" in (spec.work_dir / "output.log").read_text()  # the child
    assert list(cwd.iterdir()) == []
    assert [path.parent for path in tmp_path.rglob(job_models.MARKER)] == [control]


# -- predict_in_sandbox --------------------------------------------------------------------------


def test_predict_in_sandbox_returns_each_members_predictions(data: Data,
                                                             tmp_path: Path) -> None:
    X, y, _ = data
    fitted = (pipeline_around(LogisticRegression()).fit(X, y),
              pipeline_around(DecisionTreeClassifier(max_depth=2)).fit(X, y))
    rows = _new_rows(9).set_axis(range(100, 109))  # any index: rows keep their order
    scratch = tmp_path / "scratch"
    predictions = predict_in_sandbox(_fitted_bytes(fitted, tmp_path / "f.joblib"), rows,
                                     predict_kind="proba", n_classes=3, scratch_dir=scratch,
                                     timeout_s=60, memory_mb=1024)
    assert predictions.shape == (2, 9, 3)
    for model, block in zip(fitted, predictions, strict=True):
        np.testing.assert_allclose(block, model.predict_proba(rows), atol=1e-8)
    assert list(scratch.iterdir()) == []  # cleaned up


def test_predict_in_sandbox_raises_one_line_for_a_failed_job(tmp_path: Path) -> None:
    with pytest.raises(SandboxError) as caught:
        predict_in_sandbox(pickle.dumps(("not a model",)), _new_rows(3), predict_kind="value",
                           n_classes=None, scratch_dir=tmp_path, timeout_s=60, memory_mb=1024)
    message = str(caught.value)
    assert message.startswith("Prediction in the sandbox failed (exception): ")
    assert "\n" not in message and "AttributeError" in message, message
    assert list(tmp_path.iterdir()) == []


def test_predict_in_sandbox_checks_its_arguments(tmp_path: Path) -> None:
    from schemas import ConfigError

    with pytest.raises(ConfigError, match="'n_classes' parameter of predict_in_sandbox"):
        predict_in_sandbox(b"x", _new_rows(3), predict_kind="proba", n_classes=None)
    with pytest.raises(ConfigError, match="'fitted' parameter"):
        predict_in_sandbox(b"", _new_rows(3), predict_kind="value", n_classes=None)
    with pytest.raises(ConfigError, match="'isolation' parameter"):
        predict_in_sandbox(b"x", _new_rows(3), predict_kind="value", n_classes=None,
                           isolation="none", scratch_dir=tmp_path)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
