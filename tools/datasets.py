"""Real datasets that ship inside installed packages, so demos and tests never download.

Each loader returns a fresh ``DataFrame`` with readable snake_case column names and the
target as its last column, labelled the way a person would write it (``"malignant"``,
not ``0``). ``load_table("bundled:NAME")`` goes through here.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from schemas import ConfigError, DataError, TaskType

log = logging.getLogger(__name__)

__all__ = ["BUNDLED", "BundledDataset", "load_bundled", "write_bundled"]


@dataclass(frozen=True)
class BundledDataset:
    """One dataset shipped in a package: where it comes from and what to predict."""

    name: str
    target: str
    task_type: TaskType
    description: str
    loader: Callable[[], pd.DataFrame]


def _snake(name: str) -> str:
    """'mean radius' -> 'mean_radius'; 'sepal length (cm)' -> 'sepal_length_cm'."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    df = bunch.data.rename(columns=_snake)
    df["diagnosis"] = [str(bunch.target_names[code]) for code in bunch.target]
    return df


_DIABETES_NAMES = {
    "bp": "blood_pressure", "s1": "total_cholesterol", "s2": "ldl_cholesterol",
    "s3": "hdl_cholesterol", "s4": "cholesterol_hdl_ratio", "s5": "log_triglycerides",
    "s6": "blood_sugar",
}


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    df = bunch.data.rename(columns=_DIABETES_NAMES)
    df["progression"] = bunch.target.astype(float)
    return df


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    df = bunch.data.rename(columns=_snake)
    df["species"] = [str(bunch.target_names[code]) for code in bunch.target]
    return df


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    df = bunch.data.rename(columns=lambda c: _snake(c.replace("od280/od315_of_", "od280_od315_")))
    df["cultivar"] = [f"cultivar_{code + 1}" for code in bunch.target]
    return df


def _penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins

    df = load_penguins()
    return df[[c for c in df.columns if c != "species"] + ["species"]]


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    bunch = load_digits(as_frame=True)
    df = bunch.data.astype("int64")  # grey levels 0..16; columns already read pixel_row_col
    df["digit"] = [str(code) for code in bunch.target]
    return df


_FAIR_NAMES = {"educ": "education", "occupation_husb": "husband_occupation"}
_FAIR_CODES = ("rate_marriage", "religious", "education", "occupation", "husband_occupation")


def _fair() -> pd.DataFrame:
    from statsmodels.datasets import fair

    df = fair.load_pandas().data.rename(columns=_FAIR_NAMES)
    df = df.astype({name: "int64" for name in _FAIR_CODES})  # ratings and codes are whole
    had_affair = ["yes" if hours > 0 else "no" for hours in df["affairs"]]
    df = df.drop(columns="affairs")  # the time spent would give the answer away
    df["had_affair"] = had_affair
    return df


_RANDHIE_NAMES = {
    "lncoins": "log_coinsurance", "idp": "individual_deductible",
    "lpi": "log_participation_incentive", "fmde": "log_max_dollar_expenditure",
    "physlm": "physical_limitation", "disea": "chronic_diseases",
    "hlthg": "health_good", "hlthf": "health_fair", "hlthp": "health_poor",
}


def _randhie() -> pd.DataFrame:
    from statsmodels.datasets import randhie

    df = randhie.load_pandas().data.rename(columns=_RANDHIE_NAMES)
    return df[[c for c in df.columns if c != "mdvis"] + ["mdvis"]]


def _vega_file(name: str) -> io.BytesIO:
    """The raw bytes of a dataset bundled in vega_datasets (``local_data`` never downloads)."""
    from vega_datasets import local_data

    return io.BytesIO(getattr(local_data, name).raw())


def _cars() -> pd.DataFrame:
    df = pd.read_json(_vega_file("cars")).rename(columns=_snake)
    df["year"] = pd.to_datetime(df["year"], format="%Y-%m-%d")  # the model year, as a date
    return df[[c for c in df.columns if c != "miles_per_gallon"] + ["miles_per_gallon"]]


def _seattle_weather() -> pd.DataFrame:
    df = pd.read_csv(_vega_file("seattle_weather"), parse_dates=["date"]).rename(columns=_snake)
    return df[[c for c in df.columns if c != "weather"] + ["weather"]]


BUNDLED: dict[str, BundledDataset] = {
    ds.name: ds
    for ds in (
        BundledDataset("breast_cancer", "diagnosis", "binary",
                       "Wisconsin breast cancer: 569 tumours, 30 cell measurements "
                       "(scikit-learn)", _breast_cancer),
        BundledDataset("diabetes", "progression", "regression",
                       "Diabetes progression after one year: 442 patients, 10 measurements "
                       "(scikit-learn)", _diabetes),
        BundledDataset("iris", "species", "multiclass",
                       "Iris flowers: 150 plants, 4 measurements, 3 species (scikit-learn)", _iris),
        BundledDataset("wine", "cultivar", "multiclass",
                       "Italian wines: 178 wines, 13 chemical measurements, 3 cultivars "
                       "(scikit-learn)", _wine),
        BundledDataset("penguins", "species", "multiclass",
                       "Palmer penguins: 344 birds, measurements, island and sex, with missing "
                       "values (palmerpenguins)", _penguins),
        BundledDataset("digits", "digit", "multiclass",
                       "Handwritten digits: 1797 8x8 images, 64 grey levels 0-16, 10 digits "
                       "(scikit-learn)", _digits),
        BundledDataset("fair", "had_affair", "binary",
                       "Extramarital affairs survey (Fair 1978): 6366 married women, marriage "
                       "rating, age, years married, children, religion, education and "
                       "occupations (statsmodels)", _fair),
        BundledDataset("randhie", "mdvis", "regression",
                       "RAND health insurance experiment: 20190 person-years, outpatient doctor "
                       "visits, 9 insurance and health measures (statsmodels)", _randhie),
        BundledDataset("cars", "miles_per_gallon", "regression",
                       "Cars of 1970-1982: 406 cars, name, engine, weight, model year and "
                       "origin, with missing values (vega_datasets)", _cars),
        BundledDataset("seattle_weather", "weather", "multiclass",
                       "Seattle weather 2012-2015: 1461 days, date, rain, temperatures and wind, "
                       "5 kinds of weather (vega_datasets)", _seattle_weather),
    )
}


def _lookup(name: str) -> BundledDataset:
    key = name.strip().lower().removeprefix("bundled:")
    if key not in BUNDLED:
        raise DataError(f"The bundled dataset name must be one of {sorted(BUNDLED)}; "
                        f"got {name!r} instead.")
    return BUNDLED[key]


def load_bundled(name: str) -> pd.DataFrame:
    """A fresh copy of a bundled dataset (callers may modify it freely)."""
    ds = _lookup(name)
    df = ds.loader().reset_index(drop=True)
    log.debug("loaded bundled dataset %s: %d rows x %d columns", ds.name, *df.shape)
    return df


def write_bundled(name: str, path: Path) -> Path:
    """Write a bundled dataset to ``path``: Parquet for .parquet/.pq, TSV for .tsv, else CSV."""
    ds = _lookup(name)
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower()
    formats = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")
    if not any(suffix.endswith(ext) for ext in formats):
        raise ConfigError(f"The output path of a bundled dataset must end with one of "
                          f"{list(formats)}; got {str(path)!r} instead.")
    df = load_bundled(ds.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix.endswith((".parquet", ".pq")):
        df.to_parquet(path, index=False)
    elif suffix.endswith(".tsv"):
        df.to_csv(path, index=False, sep="\t")
    else:
        df.to_csv(path, index=False)
    return path
