"""Loading tables: every format we accept, and one clear DataError for every bad file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from schemas import DataError
from tools.datasets import load_bundled
from tools.io import load_table


@pytest.fixture
def iris() -> pd.DataFrame:
    return load_bundled("iris")


def test_csv_round_trip_keeps_values(tmp_path: Path, iris: pd.DataFrame) -> None:
    path = tmp_path / "iris.csv"
    iris.to_csv(path, index=False)
    df = load_table(path)
    assert list(df.columns) == list(iris.columns)
    assert df.shape == (150, 5)
    np.testing.assert_allclose(df["petal_length_cm"], iris["petal_length_cm"])


@pytest.mark.parametrize(("name", "sep"), [("t.tsv", "\t"), ("t.tab", "\t"), ("t.txt", ";"),
                                           ("t.csv", ";"), ("t.txt", "|")])
def test_delimited_text_is_sniffed(tmp_path: Path, iris: pd.DataFrame, name: str,
                                   sep: str) -> None:
    path = tmp_path / name
    iris.to_csv(path, index=False, sep=sep)
    df = load_table(path)
    assert df.shape == (150, 5)
    assert df["species"].iloc[0] == "setosa"


def test_compressed_csv_and_parquet(tmp_path: Path, iris: pd.DataFrame) -> None:
    gz = tmp_path / "iris.csv.gz"
    iris.to_csv(gz, index=False, compression="gzip")
    pq = tmp_path / "iris.parquet"
    iris.to_parquet(pq, index=False)
    assert load_table(gz).shape == (150, 5)
    assert load_table(str(pq)).equals(load_table(tmp_path / "iris.parquet"))
    assert load_table(pq).shape == (150, 5)


def test_latin1_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes("city,temp\nZürich,3\nMálaga,18\n".encode("latin-1"))
    df = load_table(path)
    assert list(df["city"]) == ["Zürich", "Málaga"]


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("name;price;qty\nbolt;1,5;3\nnut;0,25;10\n")
    df = load_table(path)
    assert df["price"].tolist() == [1.5, 0.25]
    assert df["qty"].tolist() == [3, 10]


def test_column_names_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(" a , b\n1,2\n3,4\n")
    assert list(load_table(path).columns) == ["a", "b"]


def test_bundled_prefix_loads_a_dataset() -> None:
    df = load_table(Path("bundled:breast_cancer"))
    assert df.shape == (569, 31)
    assert set(df["diagnosis"]) == {"malignant", "benign"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "nope.csv")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        load_table(tmp_path)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        load_table(path)


@pytest.mark.parametrize("content", ["\n\n  \n", "a,b,c\n"])
def test_file_without_rows(tmp_path: Path, content: str) -> None:
    path = tmp_path / "blank.csv"
    path.write_text(content)
    with pytest.raises(DataError, match="is empty"):
        load_table(path)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="not a text table"):
        load_table(path)


def test_not_really_gzip(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"could not be decompressed as '\.gz'"):
        load_table(path)


def test_broken_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="could not be read as Parquet"):
        load_table(path)


def test_unknown_extension_lists_accepted(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"unknown extension '\.json'; accepted are \['\.csv'"):
        load_table(path)


def test_a_spreadsheet_is_asked_for_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "Data.XLSX"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="is a spreadsheet; save the sheet as CSV"):
        load_table(path)


def test_duplicate_column_names(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(DataError, match=r"duplicate column names \['a'\]"):
        load_table(path)


def test_duplicate_after_stripping(tmp_path: Path) -> None:
    path = tmp_path / "dupes.parquet"
    pd.DataFrame({"a": [1], " a": [2]}).to_parquet(path)
    with pytest.raises(DataError, match="duplicate column names"):
        load_table(path)


def test_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match="could not be read as CSV"):
        load_table(path)


def test_gzip_of_garbage_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x00\x01\x02" * 100)
    with pytest.raises(DataError, match="not a text table"):
        load_table(path)


def test_trailing_delimiter_does_not_shift_columns(tmp_path: Path) -> None:
    path = tmp_path / "trailing.csv"
    path.write_text("a,x,y\n1,2,u,\n3,4,v,\n")
    df = load_table(path)
    assert list(df.columns) == ["a", "x", "y"]
    assert df["y"].tolist() == ["u", "v"]
