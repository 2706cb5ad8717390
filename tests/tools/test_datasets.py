"""The bundled datasets: real data, readable names, written to disk by extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from schemas import ConfigError, DataError
from tools.datasets import BUNDLED, load_bundled, write_bundled
from tools.io import load_table


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_dataset_has_its_target_and_snake_case_names(name: str) -> None:
    ds = BUNDLED[name]
    df = load_bundled(name)
    assert ds.target in df.columns
    assert len(df) >= 100
    assert all(c == c.lower() and " " not in c and "(" not in c for c in df.columns)


@pytest.mark.parametrize(("name", "shape", "labels"), [
    ("breast_cancer", (569, 31), {"malignant", "benign"}),
    ("iris", (150, 5), {"setosa", "versicolor", "virginica"}),
    ("wine", (178, 14), {"cultivar_1", "cultivar_2", "cultivar_3"}),
    ("penguins", (344, 8), {"Adelie", "Chinstrap", "Gentoo"}),
])
def test_classification_labels_are_words(name: str, shape: tuple[int, int],
                                         labels: set[str]) -> None:
    df = load_bundled(name)
    assert df.shape == shape
    assert set(df[BUNDLED[name].target].dropna()) == labels


def test_diabetes_is_in_original_units() -> None:
    df = load_bundled("diabetes")
    assert df.shape == (442, 11)
    assert df["age"].between(18, 90).all()
    assert {"bmi", "blood_pressure", "progression"} <= set(df.columns)


def test_loader_returns_a_fresh_copy() -> None:
    first = load_bundled("iris")
    first.loc[0, "species"] = "changed"
    assert load_bundled("iris").loc[0, "species"] == "setosa"


def test_unknown_name_lists_the_names() -> None:
    with pytest.raises(DataError, match=r"must be one of \['breast_cancer', 'diabetes'"):
        load_bundled("titanic")


@pytest.mark.parametrize("filename", ["wine.csv", "wine.parquet", "sub/wine.tsv"])
def test_write_then_load_round_trips(tmp_path: Path, filename: str) -> None:
    path = write_bundled("wine", tmp_path / filename)
    back = load_table(path)
    pd.testing.assert_frame_equal(back, load_bundled("wine"), check_dtype=False)


def test_write_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must end with one of"):
        write_bundled("iris", tmp_path / "iris.xlsx")
