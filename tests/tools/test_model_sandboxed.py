"""A sandboxed ``FittedModel``: its pipelines are bytes that only a runner (the sandbox) reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from schemas import ConfigError, DataError, SandboxError
from tools.datasets import load_bundled
from tools.features import FeaturePrep
from tools.model import FittedModel, load_model, prediction_frame, sandboxed_model

# not a pickle at all: anything that tried to unpickle it here would fail loudly
FITTED = b"fitted pipelines that must never be unpickled in this process"
CLASSES = ("setosa", "versicolor", "virginica")


class Runner:
    """Stands in for the sandbox: returns fixed per-member predictions, records its calls."""

    def __init__(self, blocks: np.ndarray) -> None:
        self.blocks = blocks
        self.calls: list[tuple[bytes, pd.DataFrame]] = []

    def __call__(self, fitted: bytes, rows: pd.DataFrame) -> np.ndarray:
        self.calls.append((fitted, rows))
        return self.blocks


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, FeaturePrep]:
    X = load_bundled("iris").drop(columns="species")
    return X, FeaturePrep().fit(X)


def _classifier(prep: FeaturePrep, weights: tuple[float, ...] = (3.0, 1.0)) -> FittedModel:
    return sandboxed_model(FITTED, weights, prep, task_type="multiclass", target="species",
                           classes=CLASSES, mlpilot_version="test")


def _blocks(n_rows: int) -> np.ndarray:
    """Member 0 says setosa for every row, member 1 virginica."""
    blocks = np.zeros((2, n_rows, 3))
    blocks[0, :, 0] = 1.0
    blocks[1, :, 2] = 1.0
    return blocks


def test_a_sandboxed_model_predicts_nothing_without_a_runner(
        iris: tuple[pd.DataFrame, FeaturePrep]) -> None:
    X, prep = iris
    model = _classifier(prep)
    assert model.contains_code and model.pipelines == () and model.sandboxed == FITTED
    for predict in (model.predict_raw, model.predict, model.predict_proba):
        with pytest.raises(DataError) as caught:
            predict(X.head(3))
        message = str(caught.value)
        assert "LLM-written code" in message and "mlpilot predict" in message
        assert "\n" not in message
    with pytest.raises(DataError, match="LLM-written code"):
        prediction_frame(model, X.head(3))


def test_the_runner_gets_the_prepared_rows_and_its_blocks_are_weighted(
        iris: tuple[pd.DataFrame, FeaturePrep]) -> None:
    X, prep = iris
    rows = X.iloc[[0, 60, 120, 5]]
    model = _classifier(prep)
    runner = Runner(_blocks(len(rows)))
    proba = model.predict_proba(rows, runner=runner)
    np.testing.assert_allclose(proba, np.tile([0.75, 0.0, 0.25], (4, 1)), atol=1e-4)
    [(fitted, prepared)] = runner.calls
    assert fitted == FITTED
    pd.testing.assert_frame_equal(prepared, prep.transform(rows))
    assert list(model.predict(rows, runner=runner)) == ["setosa"] * 4
    flipped = _classifier(prep, weights=(1.0, 3.0))
    frame = prediction_frame(flipped, rows, runner=runner)
    assert list(frame.columns) == ["prediction", *(f"proba_{c}" for c in CLASSES)]
    assert list(frame["prediction"]) == ["virginica"] * 4
    np.testing.assert_allclose(frame["proba_virginica"], 0.75, atol=1e-4)


def test_a_sandboxed_regressor_averages_member_values() -> None:
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    model = sandboxed_model(FITTED, [1, 1], FeaturePrep().fit(X), task_type="regression",
                            target="y", classes=None, mlpilot_version="test")
    runner = Runner(np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]))
    np.testing.assert_allclose(model.predict(X, runner=runner), [2.0, 3.0, 4.0])
    assert prediction_frame(model, X, runner=runner)["prediction"].tolist() == [2.0, 3.0, 4.0]


def test_a_runner_answer_of_the_wrong_shape_is_a_sandbox_error(
        iris: tuple[pd.DataFrame, FeaturePrep]) -> None:
    X, prep = iris
    model = _classifier(prep)
    for blocks in (_blocks(4)[:1], _blocks(3), _blocks(4)[:, :, :2]):
        with pytest.raises(SandboxError, match=r"must have shape \(2, 4, 3\)"):
            model.predict_raw(X.head(4), runner=Runner(blocks))


def test_a_saved_sandboxed_model_loads_with_its_bytes_untouched(
        iris: tuple[pd.DataFrame, FeaturePrep], tmp_path: Path) -> None:
    _, prep = iris
    _classifier(prep).save(tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.contains_code and loaded.sandboxed == FITTED
    assert loaded.weights == (0.75, 0.25) and loaded.classes == CLASSES


def test_a_plain_model_holds_no_code_and_ignores_a_runner(
        iris: tuple[pd.DataFrame, FeaturePrep]) -> None:
    from sklearn.dummy import DummyClassifier

    X, prep = iris
    y = np.arange(len(X)) % 3
    model = FittedModel(prep=prep, pipelines=(DummyClassifier().fit(prep.transform(X), y),),
                        weights=(1.0,), task_type="multiclass", target="species",
                        classes=CLASSES, mlpilot_version="test")
    assert not model.contains_code
    runner = Runner(_blocks(3))
    np.testing.assert_allclose(model.predict_raw(X.head(3), runner=runner),
                               np.full((3, 3), 1 / 3))
    assert runner.calls == []


@pytest.mark.parametrize(("fitted", "weights", "needle"), [
    (b"", [1.0], "'fitted' parameter"),
    ("text", [1.0], "'fitted' parameter"),
    (FITTED, [], "'weights' parameter"),
    (FITTED, [1.0, -1.0], "'weights' parameter"),
    (FITTED, [0.0], "'weights' parameter"),
])
def test_sandboxed_model_checks_its_arguments(iris: tuple[pd.DataFrame, FeaturePrep],
                                              fitted: bytes, weights: list[float],
                                              needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        sandboxed_model(fitted, weights, iris[1], task_type="multiclass", target="species",
                        classes=CLASSES, mlpilot_version="test")
