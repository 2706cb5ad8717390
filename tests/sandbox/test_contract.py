"""The executor contract, run against InProcessExecutor and the real SandboxPool alike."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import PredefinedSplit, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from sandbox import DataBundle, Executor, InProcessExecutor, SandboxPool
from tests.sandbox import hostile
from tests.sandbox.conftest import SpecFactory, executor_of, pipeline_around

Data = tuple[pd.DataFrame, np.ndarray, np.ndarray]



@pytest.fixture(params=["in-process",
                        pytest.param("process", marks=pytest.mark.slow),
                        pytest.param("bwrap", marks=pytest.mark.slow)])
def executor(request: pytest.FixtureRequest, bundle: DataBundle) -> Iterator[Executor]:
    yield from executor_of(request, bundle)


def test_executors_satisfy_the_protocol(bundle: DataBundle, tmp_path: object) -> None:
    assert isinstance(InProcessExecutor(bundle), Executor)
    assert isinstance(SandboxPool(bundle, scratch_dir=tmp_path), Executor)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:Number of classes in training fold:RuntimeWarning")
def test_good_trial_matches_cross_val_predict(executor: Executor, make_spec: SpecFactory,
                                              data: Data) -> None:
    X, y, folds = data
    estimator = pipeline_around(LogisticRegression())
    spec = make_spec(estimator)
    result = executor.run(spec)
    assert result.ok, result.error
    assert result.predictions_path == spec.work_dir / "predictions.npy"
    assert result.predictions_path is not None
    predictions = np.load(result.predictions_path, allow_pickle=False)
    assert predictions.dtype == np.float64 and predictions.shape == (len(y), 3)
    expected = cross_val_predict(estimator, X, y, cv=PredefinedSplit(folds),
                                 method="predict_proba")
    np.testing.assert_allclose(predictions, expected, atol=1e-8)
    assert log_loss(y, predictions) == pytest.approx(log_loss(y, expected))
    assert 0 < result.fit_time_s <= result.wall_time_s
    assert result.started_at is not None and result.cv_score is None


def test_value_predictions_match_cross_val_predict(executor: Executor, make_spec: SpecFactory,
                                                   data: Data) -> None:
    X, y, folds = data
    for estimator in (pipeline_around(Ridge()), pipeline_around(LogisticRegression())):
        result = executor.run(make_spec(estimator, predict_kind="value"))
        assert result.ok and result.predictions_path is not None, result.error
        predictions = np.load(result.predictions_path, allow_pickle=False)
        expected = cross_val_predict(estimator, X, y, cv=PredefinedSplit(folds))
        assert predictions.shape == (len(y),)
        np.testing.assert_allclose(predictions, expected, atol=1e-8)
    assert accuracy_score(y, predictions) == accuracy_score(y, expected)


def test_raising_estimator_is_a_failed_result(executor: Executor,
                                              make_spec: SpecFactory) -> None:
    result = executor.run(make_spec(hostile.Raising()))
    assert result.status == "failed" and result.failure == "exception"
    assert "hostile estimator refuses to fit" in (result.error or "")
    assert result.predictions_path is None and len(result.error or "") <= 2000


def test_proba_columns_are_aligned_when_a_fold_lacks_a_class(executor: Executor,
                                                             make_spec: SpecFactory,
                                                             data: Data) -> None:
    X, y, folds = data
    estimator = pipeline_around(DecisionTreeClassifier(max_depth=3, random_state=0))
    result = executor.run(make_spec(estimator))
    assert result.ok and result.predictions_path is not None, result.error
    predictions = np.load(result.predictions_path, allow_pickle=False)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0)
    # fold 0 holds every row of class 2: the model trained without it gives it probability 0
    assert (predictions[folds == 0, 2] == 0).all()
    model = pipeline_around(DecisionTreeClassifier(max_depth=3, random_state=0))
    model.fit(X[folds != 0], y[folds != 0])
    np.testing.assert_allclose(predictions[folds == 0, :2],
                               model.predict_proba(X[folds == 0]))
    # the other folds saw class 2 in training, so their probabilities use all three columns
    assert (predictions[folds != 0, 2] > 0).any()


@pytest.mark.parametrize(("estimator", "kind", "message"), [
    (hostile.BadProba(), "proba", "predict_proba"),
    (hostile.NaNValues(), "value", "finite"),
])
def test_bad_predictions_are_invalid_output(executor: Executor, make_spec: SpecFactory,
                                            estimator: object, kind: str, message: str) -> None:
    result = executor.run(make_spec(estimator, predict_kind=kind))
    assert result.status == "failed" and result.failure == "invalid_output"
    assert message in (result.error or "")


def test_missing_estimator_file_is_a_failed_result(executor: Executor,
                                                   make_spec: SpecFactory) -> None:
    spec = make_spec(hostile.Raising())
    spec.estimator_path.unlink()
    result = executor.run(spec)
    assert result.status == "failed" and result.failure == "exception"
    assert "estimator" in (result.error or "")
