"""FeaturePrep: what a messy real table turns into, and how new rows are treated."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from schemas import ConfigError, DataError
from tools.datasets import load_bundled
from tools.features import FeaturePrep


def _messy() -> pd.DataFrame:
    """Penguins plus what exports carry: ids, dates, a constant, notes, flags, holes."""
    df = load_bundled("penguins").drop(columns="species")
    rng = np.random.default_rng(7)
    n = len(df)
    df.insert(0, "customer_id", rng.permutation(n) + 1000)
    df.insert(1, "tag", [f"T-{i:05d}" for i in rng.permutation(n)])
    stamps = pd.Timestamp("2008-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    df["observed_on"] = stamps.strftime("%Y-%m-%d")
    df["station"] = "palmer"
    df["empty"] = np.nan
    df["notes"] = [f"nest {i} seen near the colony edge by observer {i % 7}" for i in range(n)]
    df["tagged"] = rng.choice(["Yes", "no"], n)
    df["banded"] = rng.choice([True, False], n)
    df["income"] = rng.integers(20_000, 200_000, n)  # integer, nearly unique, but a measurement
    for col in ("bill_length_mm", "island", "observed_on", "tagged", "income"):
        df.loc[rng.random(n) < 0.1, col] = np.nan
    return df


@pytest.fixture(scope="module")
def fitted() -> tuple[FeaturePrep, pd.DataFrame]:
    df = _messy()
    return FeaturePrep().fit(df), df


def test_each_column_gets_the_right_kind(fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, _ = fitted
    kinds = {c.name: c.kind for c in prep.column_profiles_}
    assert kinds == {
        "customer_id": "id", "tag": "id", "island": "categorical", "bill_length_mm": "numeric",
        "bill_depth_mm": "numeric", "flipper_length_mm": "numeric", "body_mass_g": "numeric",
        "sex": "categorical", "year": "numeric", "observed_on": "datetime",
        "station": "constant", "empty": "constant", "notes": "text", "tagged": "boolean",
        "banded": "boolean", "income": "numeric"}
    used = {c.name for c in prep.column_profiles_ if c.used}
    assert used == set(prep.input_columns_)
    assert not used & {"customer_id", "tag", "station", "empty", "notes"}


def test_every_drop_is_explained(fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, _ = fitted
    notices = "\n".join(prep.notices_)
    assert "dropped 'customer_id': looks like an identifier (every value unique)" in notices
    assert "dropped 'station': constant (a single value, 'palmer')" in notices
    assert "dropped 'empty': all values missing" in notices
    assert "dropped 'notes': free text" in notices
    profile = {c.name: c for c in prep.column_profiles_}
    assert profile["island"].n_missing > 0 and profile["island"].n_unique == 3


def test_output_columns_and_types(fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, df = fitted
    out = prep.transform(df)
    assert list(out.columns) == [*prep.numeric_columns_, *prep.categorical_columns_]
    assert prep.categorical_columns_ == ["island", "sex"]
    assert {"observed_on_year", "observed_on_month", "observed_on_day", "observed_on_dayofweek",
            "observed_on_elapsed_days"} <= set(prep.numeric_columns_)
    assert "observed_on_hour" not in out.columns  # the dates carry no time of day
    assert all(out[c].dtype == np.float64 for c in prep.numeric_columns_)
    assert all(out[c].dtype == object for c in prep.categorical_columns_)
    assert set(out["tagged"].dropna()) == {0.0, 1.0}
    assert out["tagged"].isna().sum() == df["tagged"].isna().sum()
    assert out["island"].isna().sum() == df["island"].isna().sum()
    assert set(out["island"].dropna()) == {"Biscoe", "Dream", "Torgersen"}
    first = pd.Timestamp(df["observed_on"].dropna().min())
    row = df.index[df["observed_on"] == first.strftime("%Y-%m-%d")][0]
    assert out.loc[row, "observed_on_elapsed_days"] == 0.0
    assert out.loc[row, "observed_on_year"] == first.year


def test_new_rows_with_unseen_categories_and_extra_columns(
        fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, df = fitted
    new = df.head(3).copy()
    new["island"] = ["Atlantis", None, "Dream"]
    new["tagged"] = ["maybe", "YES", None]
    new["brand_new_column"] = 1
    out = prep.transform(new)
    assert list(out["island"])[::2] == ["Atlantis", "Dream"] and pd.isna(out["island"].iloc[1])
    assert out["tagged"].iloc[1] == 1.0 and out["tagged"].iloc[[0, 2]].isna().all()
    assert "brand_new_column" not in out.columns
    assert list(out.index) == list(new.index)


def test_flags_read_back_from_text(fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, df = fitted
    new = df.head(4).copy()
    new["banded"] = ["True", "false", None, "1"]  # a boolean column as a CSV gives it back
    assert prep.transform(new)["banded"].tolist()[:2] == [1.0, 0.0]
    assert prep.transform(new)["banded"].iloc[3] == 1.0


def test_missing_training_column_is_named(fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, df = fitted
    with pytest.raises(DataError, match=r"lacks 2 training column\(s\) \['island', 'year'\]"):
        prep.transform(df.drop(columns=["island", "year"]))
    prep.transform(df.drop(columns=["notes", "customer_id"]))  # dropped columns are not needed


def test_pickles_with_joblib(tmp_path: Path, fitted: tuple[FeaturePrep, pd.DataFrame]) -> None:
    prep, df = fitted
    joblib.dump(prep, tmp_path / "prep.joblib")
    again = joblib.load(tmp_path / "prep.joblib")
    pd.testing.assert_frame_equal(again.transform(df), prep.transform(df))


def test_dates_with_times_and_day_first(tmp_path: Path) -> None:
    days = pd.date_range("2021-01-13 08:30", periods=60, freq="37h")
    df = pd.DataFrame({"when": days.strftime("%d/%m/%Y %H:%M"), "x": np.arange(60) % 7})
    prep = FeaturePrep().fit(df)
    out = prep.transform(df)
    assert "when_hour" in out.columns
    np.testing.assert_array_equal(out["when_day"], days.day)
    np.testing.assert_array_equal(out["when_hour"], days.hour)
    parsed_again = prep.transform(pd.DataFrame({"when": ["not a date"], "x": [1]}))
    assert parsed_again["when_year"].isna().all()


def test_real_datetime_dtype_with_time_zone() -> None:
    stamps = pd.date_range("2020-03-01", periods=50, freq="5h", tz="Europe/Berlin")
    prep = FeaturePrep().fit(pd.DataFrame({"at": stamps, "v": np.linspace(0, 1, 50)}))
    out = prep.transform(pd.DataFrame({"at": stamps, "v": 0.0}))
    assert out["at_hour"].iloc[0] == 23.0  # midnight in Berlin is 23:00 UTC
    assert out["at_elapsed_days"].iloc[-1] == pytest.approx(49 * 5 / 24)


def test_numbers_written_as_text_with_missing_markers() -> None:
    values = [str(v) for v in np.random.default_rng(0).normal(size=100).round(3)]
    values[5] = "?"
    prep = FeaturePrep().fit(pd.DataFrame({"reading": values}))
    assert prep.column_profiles_[0].kind == "numeric"
    assert any("treated ['?'] as missing" in n for n in prep.notices_)
    out = prep.transform(pd.DataFrame({"reading": ["1.5", "?", "n/a"]}))
    assert out["reading"].iloc[0] == 1.5 and out["reading"].iloc[1:].isna().all()


def test_a_missing_marker_in_many_rows_does_not_turn_numbers_into_categories() -> None:
    values = [str(v) for v in np.random.default_rng(1).normal(size=200).round(2)]
    values[::8] = ["Unknown"] * 25  # an eighth of the rows
    values[3] = "#N/A"
    prep = FeaturePrep().fit(pd.DataFrame({"reading": values, "word": ["a", "b"] * 100}))
    assert prep.column_profiles_[0].kind == "numeric"
    assert any("treated ['#n/a', 'unknown'] as missing" in n for n in prep.notices_)
    # a word that is no missing marker still makes the column text
    values[::8] = ["large"] * 25
    assert FeaturePrep().fit(pd.DataFrame({"reading": values})).column_profiles_[0].kind != \
        "numeric"


def test_small_integer_feature_is_not_an_id() -> None:
    df = pd.DataFrame({"rooms": np.arange(10) + 1, "pk": np.arange(10)})
    prep = FeaturePrep().fit(df)
    assert [c.kind for c in prep.column_profiles_] == ["numeric", "numeric"]
    named = FeaturePrep().fit(pd.DataFrame({"id": np.arange(10), "rooms": np.arange(10) % 3}))
    assert named.column_profiles_[0].kind == "id"


def test_nearly_unique_short_strings_are_ids_but_categories_are_kept() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"sku": [f"A{i}" for i in rng.permutation(200)],
                       "city": rng.choice(["Oslo", "Rome", "Lima"], 200)})
    kinds = [c.kind for c in FeaturePrep().fit(df).column_profiles_]
    assert kinds == ["id", "categorical"]


def test_sklearn_conventions() -> None:
    prep = FeaturePrep(max_text_levels=0.7)
    assert clone(prep).get_params()["max_text_levels"] == 0.7
    with pytest.raises(ConfigError, match="'id_unique_ratio' parameter of FeaturePrep must lie"):
        FeaturePrep(id_unique_ratio=1.5).fit(pd.DataFrame({"a": [1, 2]}))
    fitted = FeaturePrep().fit(load_bundled("iris"))
    assert list(fitted.get_feature_names_out()) == [*fitted.numeric_columns_,
                                                     *fitted.categorical_columns_]


def test_non_numbers_in_a_numeric_column_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    train = pd.DataFrame({"x": [1.0, 2.5, 3.0, 4.5] * 10, "c": ["a", "b"] * 20})
    prep = FeaturePrep().fit(train)
    new = pd.DataFrame({"x": ["abc", "2.0", None], "c": ["a", "b", "a"]})
    with caplog.at_level("WARNING", logger="tools.features"):
        out = prep.transform(new)
    assert np.isnan(out["x"].iloc[0]) and out["x"].iloc[1] == 2.0
    assert "1 value(s) are not numbers" in caplog.text and "abc" in caplog.text


def test_numbers_formatted_by_a_spreadsheet_are_read_as_numbers() -> None:
    rng = np.random.default_rng(3)
    income = rng.lognormal(10, 0.6, 300)
    df = pd.DataFrame({"income": [f"{v:,.2f}" for v in income],
                       "price": [f"${v:,.0f}" for v in income * 3],
                       "discount": [f"{v}%" for v in rng.integers(0, 30, 300)],
                       "code": [f"{v:,}" for v in rng.permutation(300) + 5000]})
    df.loc[7, "income"] = "n/a"
    prep = FeaturePrep().fit(df)
    kinds = {c.name: c.kind for c in prep.column_profiles_}
    assert kinds == {"income": "numeric", "price": "numeric", "discount": "numeric",
                     "code": "id"}  # dense unique integers stay an identifier
    assert any("'income': read as numbers" in n and "['n/a'] as missing" in n
               for n in prep.notices_)
    out = prep.transform(df)
    np.testing.assert_allclose(out["income"].drop(index=7), income.round(2)[df.index != 7])
    assert np.isnan(out["income"].iloc[7])
    new = pd.DataFrame({"income": ["1,234.5", "12", "1,2,3"], "price": ["$1,200", "-$5", "x"],
                        "discount": ["12%", "0 %", "5"]})
    out = prep.transform(new)
    assert out["income"].tolist()[:2] == [1234.5, 12.0] and np.isnan(out["income"].iloc[2])
    assert out["price"].tolist()[:2] == [1200.0, -5.0] and np.isnan(out["price"].iloc[2])
    assert out["discount"].tolist() == [12.0, 0.0, 5.0]


def test_numbers_written_with_a_decimal_comma_are_read_as_numbers() -> None:
    rng = np.random.default_rng(5)
    amount = rng.normal(0, 2000, 200).round(2)
    # a comma-separated export that quoted them: "1.234,56" cannot be a thousands grouping
    df = pd.DataFrame({"umsatz": [f"{v:,.2f}".replace(",", "_").replace(".", ",")
                                  .replace("_", ".") for v in amount],
                       "rabatt": [f"{v:.1f} %".replace(".", ",") for v in amount / 100]})
    df.loc[3, "umsatz"] = "n/a"
    prep = FeaturePrep().fit(df)
    assert [c.kind for c in prep.column_profiles_] == ["numeric", "numeric"]
    assert any("'umsatz': read as numbers written with a decimal comma" in n
               for n in prep.notices_)
    out = prep.transform(df)
    np.testing.assert_allclose(out["umsatz"].drop(index=3), amount[df.index != 3])
    np.testing.assert_allclose(out["rabatt"], (amount / 100).round(1))
    new = pd.DataFrame({"umsatz": ["1.234,5", "-7", "1,234.5"], "rabatt": ["3,5 %", "2", "x"]})
    out = prep.transform(new)
    assert out["umsatz"].tolist()[:2] == [1234.5, -7.0] and np.isnan(out["umsatz"].iloc[2])
    assert out["rabatt"].tolist()[:2] == [3.5, 2.0] and np.isnan(out["rabatt"].iloc[2])


def test_text_that_only_looks_numeric_in_part_stays_text() -> None:
    df = pd.DataFrame({"size": ["1,200", "large", "small", "medium"] * 30,
                       "version": ["1.2.3", "1.2.4", "2.0.1", "2.1.0"] * 30})
    kinds = [c.kind for c in FeaturePrep().fit(df).column_profiles_]
    assert kinds == ["categorical", "categorical"]


def test_categories_that_differ_only_in_case_are_kept_apart_with_a_notice() -> None:
    df = pd.DataFrame({"plan": ["Pro", "pro", "Basic ", "basic", "Free"] * 20,
                       "city": ["Oslo", "Rome"] * 50})
    prep = FeaturePrep().fit(df)
    [notice] = prep.notices_
    assert notice == ("'plan': categories that differ only in letter case are kept apart: "
                      "'Basic'/'basic', 'Pro'/'pro'")
    assert prep.transform(df)["plan"].nunique() == 5  # "Basic " stripped, nothing merged
