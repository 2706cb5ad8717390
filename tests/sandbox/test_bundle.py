"""Writing and reading the data bundle: round trip and the checks on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sandbox import read_data_bundle, write_data_bundle
from sandbox._bundle import load_bundle_data
from schemas import ConfigError, DataError
from tests.sandbox.conftest import make_data


def test_round_trip_keeps_rows_dtypes_and_folds(tmp_path: Path) -> None:
    X, y, folds = make_data()
    bundle = write_data_bundle(tmp_path / "b", X, y, folds, n_classes=3)
    assert (bundle.n_rows, bundle.n_folds, bundle.n_classes) == (len(y), 4, 3)
    assert read_data_bundle(tmp_path / "b") == bundle
    loaded = load_bundle_data(bundle)
    pd.testing.assert_frame_equal(loaded.X, X)
    np.testing.assert_array_equal(loaded.y, y)
    assert sorted(np.concatenate(loaded.test_indices).tolist()) == list(range(len(y)))
    for train, test in zip(loaded.train_indices, loaded.test_indices, strict=True):
        assert not set(train) & set(test)


def test_regression_target_is_stored_as_float64(tmp_path: Path) -> None:
    X = pd.DataFrame({"x": np.arange(10.0)}, index=np.arange(100, 110))
    bundle = write_data_bundle(tmp_path, X, np.arange(10), np.arange(10) % 2, n_classes=None)
    loaded = load_bundle_data(bundle)
    assert loaded.y.dtype == np.float64 and bundle.n_classes is None
    assert list(loaded.X.index) == list(range(10))


@pytest.mark.parametrize(("change", "error", "words"), [
    ({"X": np.zeros((4, 2))}, DataError, "'X' parameter must be a pandas DataFrame"),
    ({"y": np.array([0, 1, 2, 0])}, DataError, "class codes in 0..1"),
    ({"y": np.array([0.0, 1.0, 1.0, 0.0])}, DataError, "integer class codes"),
    ({"y": np.array([0, 1])}, DataError, "one value per row"),
    ({"folds": np.array([0, 0, 0, 0])}, DataError, "every fold id 0..k-1 with k >= 2"),
    ({"folds": np.array([0, 2, 0, 2])}, DataError, "every fold id"),
    ({"n_classes": 1}, ConfigError, "'n_classes' parameter"),
])
def test_bad_input_is_rejected_with_a_clear_message(tmp_path: Path, change: dict,
                                                    error: type[Exception], words: str) -> None:
    args = {"X": pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), "y": np.array([0, 1, 1, 0]),
            "folds": np.array([0, 1, 0, 1]), "n_classes": 2, **change}
    with pytest.raises(error, match=words.replace("(", r"\(").replace(".", r"\.")):
        write_data_bundle(tmp_path, **args)


def test_non_finite_regression_target_is_rejected(tmp_path: Path) -> None:
    X = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(DataError, match="'y' parameter must be finite"):
        write_data_bundle(tmp_path, X, np.array([1.0, np.nan]), np.array([0, 1]), None)


def test_non_string_column_names_are_rejected(tmp_path: Path) -> None:
    X = pd.DataFrame({0: [1.0, 2.0]})
    with pytest.raises(DataError, match="string column names"):
        write_data_bundle(tmp_path, X, np.array([0, 1]), np.array([0, 1]), 2)


def test_reading_a_folder_without_a_bundle_fails(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'directory' parameter must be a data bundle folder"):
        read_data_bundle(tmp_path)
