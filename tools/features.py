"""Decide what each raw column is, and turn a raw table into model-ready columns.

``FeaturePrep`` is fitted once on the training rows and saved inside the final model, so
``mlpilot predict`` applies exactly the same decisions to new rows. It keeps numbers and
categories, reads numbers written as text ("1,234.50", "$1,200", "12%", with "n/a" as
missing), turns yes/no columns into 0/1, expands dates into parts, and drops what would
only hurt or leak: identifiers, constants, free text and empty columns. Each drop is
reported as a notice a person can read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from schemas import ColumnKind, ColumnProfile, ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = ["FeaturePrep", "case_variants", "formatted_numbers", "missing_markers"]

_BOOL_TOKENS = ({"true": 1.0, "false": 0.0}, {"yes": 1.0, "no": 0.0},
                {"y": 1.0, "n": 0.0}, {"t": 1.0, "f": 0.0})
# new rows may spell a yes/no column differently (a CSV of a boolean column, "1.0"...)
_ANY_BOOL = {k: v for tokens in _BOOL_TOKENS for k, v in tokens.items()} | {
    "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
# what databases and spreadsheets write for "no value" (compared in lower case)
_MISSING_TOKENS = frozenset({"?", "-", "--", "—", ".", "na", "n/a", "n.a.", "nan", "null",
                             "none", "nil", "missing", "unknown", "not available", "#n/a",
                             "#na", "#value!", "#div/0!", "#ref!", "#num!", "#null!"})
_DATE_SHAPE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
                         r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_DATE_FORMATS = ("ISO8601", "%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%d-%m-%Y",
                 "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
                 "%d.%m.%Y %H:%M", "%Y/%m/%d %H:%M:%S")
# numbers as spreadsheets export them: "1,234.50", "$1,200", "-€3.5", "12.5 %"
_FORMATTED_NUMBER = re.compile(r"^[+-]?[$€£¥]?\s?[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s?%?$")
_NUMBER_MARKS = re.compile(r"[,$€£¥%\s]")
# as many European locales write them: "1.234,50", "-3,5", "12,5 %", "1.200 €"
_DECIMAL_COMMA_NUMBER = re.compile(
    r"^[+-]?[$€£¥]?\s?[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s?[%$€£¥]?$")
_DECIMAL_COMMA_MARKS = re.compile(r"[.$€£¥%\s]")
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index|idx)$")
_DATE_PARTS = ("year", "month", "day", "dayofweek")


@dataclass(frozen=True)
class _Plan:
    """What to do with one raw column; plain data so the fitted object pickles."""

    column: Hashable
    kind: ColumnKind
    outputs: tuple[str, ...] = ()
    from_strings: bool = False  # numbers or dates that arrive as text
    formatted: bool = False  # numbers with thousands separators, currency or % signs
    decimal_comma: bool = False  # ...and a comma before the decimals ("1.234,5")
    date_format: str | None = None
    date_ref: pd.Timestamp | None = None
    with_hour: bool = False


@dataclass(frozen=True)
class _Finding:
    kind: ColumnKind
    note: str | None = None  # why dropped / how used, shown to the person
    from_strings: bool = False
    formatted: bool = False
    decimal_comma: bool = False
    date_format: str | None = None
    n_unique: int = 0


def _constant(value: Any) -> _Finding:
    return _Finding("constant", f"constant (a single value, {value!r})", n_unique=1)


def _id_finding(share: float, n_unique: int) -> _Finding:
    unique = "every value unique" if share == 1.0 else f"{share:.0%} of values unique"
    return _Finding("id", f"looks like an identifier ({unique})", n_unique=n_unique)


def _id_name(name: str) -> bool:
    """'id', 'customer_id', 'row key', 'CustomerID'..."""
    return bool(_ID_NAME.search(name.lower()) or re.search(r"[a-z](ID|Id)$", name))


class FeaturePrep(TransformerMixin, BaseEstimator):
    """Column preparation fitted on training rows and replayed on new rows.

    Parameters
    ----------
    max_text_levels : share of distinct values above which a multi-word string column is
        free text (dropped) rather than a category.
    id_unique_ratio : share of distinct values at or above which a single-token string or
        integer column is an identifier (dropped).
    min_date_fraction : share of sampled values that must parse with one date format for a
        text column to be read as dates.
    sample_size : rows looked at for the text and date checks (all rows for counts).
    """

    def __init__(self, max_text_levels: float = 0.5, id_unique_ratio: float = 0.95,
                 min_date_fraction: float = 0.9, sample_size: int = 5000) -> None:
        self.max_text_levels = max_text_levels
        self.id_unique_ratio = id_unique_ratio
        self.min_date_fraction = min_date_fraction
        self.sample_size = sample_size

    # ----------------------------------------------------------------- fit
    def fit(self, X: pd.DataFrame, y: Any = None) -> FeaturePrep:
        """Classify every column of ``X``; nothing is learned from ``y``."""
        X = _as_frame(X)
        self._check_params()
        plans: list[_Plan] = []
        profiles: list[ColumnProfile] = []
        notices: list[str] = []
        taken: set[str] = set()
        for column in X.columns:
            s = X[column]
            finding = self._classify(str(column), s)
            plan = self._plan(column, s, finding, taken)
            plans.append(plan)
            note = finding.note
            if plan.kind == "datetime":
                note = f"dates expanded to {', '.join(plan.outputs)}"
            profiles.append(_profile(column, s, finding, note, used=bool(plan.outputs)))
            if not plan.outputs:
                notices.append(f"dropped {str(column)!r}: {note}")
            elif finding.note:
                notices.append(f"{str(column)!r}: {note}")
        self._plans = tuple(plans)
        self.input_columns_ = [p.column for p in plans if p.outputs]
        self.numeric_columns_ = [o for p in plans if p.kind != "categorical" for o in p.outputs]
        self.categorical_columns_ = [o for p in plans if p.kind == "categorical" for o in p.outputs]
        self.output_kinds_: dict[str, ColumnKind] = {o: p.kind for p in plans for o in p.outputs}
        self.column_profiles_ = tuple(profiles)
        self.notices_ = tuple(notices)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        for note in notices:
            log.info("features: %s", note)
        return self

    def _check_params(self) -> None:
        for name in ("max_text_levels", "id_unique_ratio", "min_date_fraction"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"The '{name}' parameter of FeaturePrep must lie in (0, 1]; "
                                  f"got {value!r} instead.")
        if self.sample_size < 10:
            raise ConfigError(f"The 'sample_size' parameter of FeaturePrep must be at least 10; "
                              f"got {self.sample_size} instead.")

    def _classify(self, name: str, s: pd.Series) -> _Finding:
        if not s.notna().any():
            return _Finding("constant", "all values missing")
        if ptypes.is_bool_dtype(s) or ptypes.is_datetime64_any_dtype(s):
            n_unique = int(s.nunique(dropna=True))
            if n_unique <= 1:
                return _constant(s.dropna().iloc[0])
            return _Finding("boolean" if ptypes.is_bool_dtype(s) else "datetime", n_unique=n_unique)
        if ptypes.is_numeric_dtype(s) or ptypes.is_timedelta64_dtype(s):
            return self._classify_numbers(name, _to_float(s).dropna())
        return self._classify_strings(name, s, _to_text(s).value_counts())

    def _classify_numbers(self, name: str, values: pd.Series, note: str | None = None,
                          from_strings: bool = False, formatted: bool = False,
                          decimal_comma: bool = False) -> _Finding:
        n_unique = int(values.nunique())
        if n_unique <= 1:
            return _constant(values.iloc[0] if len(values) else None)
        if n_unique == 2 and set(values.unique()) <= {0.0, 1.0} and not formatted:
            return _Finding("boolean", note, from_strings=from_strings, n_unique=n_unique)
        if bool((values == values.round()).all()) and self._looks_like_id(name, values, n_unique):
            return _id_finding(n_unique / len(values), n_unique)
        return _Finding("numeric", note, from_strings=from_strings, formatted=formatted,
                        decimal_comma=decimal_comma,
                        n_unique=n_unique)

    def _looks_like_id(self, name: str, values: pd.Series, n_unique: int) -> bool:
        """Unique integers named like an id, or dense/sorted nearly-unique integers."""
        share = n_unique / len(values)
        if share == 1.0 and _id_name(name):
            return True
        if share < self.id_unique_ratio or len(values) < 20:
            return False
        dense = float(values.max() - values.min() + 1) <= 2.0 * n_unique
        return dense or values.is_monotonic_increasing or values.is_monotonic_decreasing

    def _classify_strings(self, name: str, s: pd.Series, counts: pd.Series) -> _Finding:
        """``counts``: how often each distinct stripped string occurs."""
        n_unique, n_present = len(counts), int(counts.sum())
        if n_unique <= 1:
            return _constant(counts.index[0]) if n_unique else _Finding(
                "constant", "all values missing")
        uniques = pd.Series(counts.index, dtype=object)
        lowered = set(uniques.str.lower()) if n_unique == 2 else set()
        for tokens in _BOOL_TOKENS:
            if lowered and lowered <= set(tokens):
                return _Finding("boolean", from_strings=True, n_unique=2)
        bad = _non_numbers(uniques)
        if bad is not None:
            note = f"read as numbers; treated {bad} as missing" if bad else None
            numbers = _to_float(_to_text(s)).dropna()
            return self._classify_numbers(name, numbers, note, from_strings=True)
        for decimal_comma in (False, True):
            bad = _non_numbers(uniques, formatted=True, decimal_comma=decimal_comma)
            if bad is None:
                continue
            note = "read as numbers, without thousands separators, currency and % signs"
            if decimal_comma:
                example = next(v for v in uniques if "," in v)
                value = formatted_numbers(pd.Series([example]), decimal_comma=True)[0]
                note = f"read as numbers written with a decimal comma ({example!r} is {value:g})"
            if bad:
                note += f"; treated {bad} as missing"
            numbers = formatted_numbers(_to_text(s), decimal_comma=decimal_comma).dropna()
            return self._classify_numbers(name, numbers, note, from_strings=True,
                                          formatted=True, decimal_comma=decimal_comma)
        sample = uniques.iloc[: self.sample_size]
        fmt = self._date_format(sample)
        if fmt is not None:
            return _Finding("datetime", from_strings=True, date_format=fmt, n_unique=n_unique)
        share = n_unique / n_present
        words = float(sample.str.count(r"\S+").mean())
        if share > self.max_text_levels and (words >= 2 or sample.str.len().mean() >= 30):
            return _Finding("text", f"free text ({share:.0%} distinct values, "
                            f"{words:.1f} words on average)", n_unique=n_unique)
        if share >= self.id_unique_ratio and (n_present >= 20 or _id_name(name)):
            return _id_finding(share, n_unique)
        clashes = case_variants(uniques)
        note = None if clashes is None else (
            f"categories that differ only in letter case are kept apart: {clashes}")
        return _Finding("categorical", note, n_unique=n_unique)

    def _date_format(self, sample: pd.Series) -> str | None:
        """The one format that parses (nearly) all sampled values, or None."""
        if sample.str.match(_DATE_SHAPE).mean() < self.min_date_fraction:
            return None
        best, best_share = None, 0.0
        for fmt in _DATE_FORMATS:
            share = float(_parse_dates(sample, fmt).notna().mean())
            if share > best_share:
                best, best_share = fmt, share
            if share == 1.0:
                break  # formats are tried most common first
        return best if best_share >= self.min_date_fraction else None

    def _plan(self, column: Hashable, s: pd.Series, f: _Finding, taken: set[str]) -> _Plan:
        name = str(column)
        if f.kind in ("id", "constant", "text"):
            return _Plan(column, f.kind)
        if f.kind != "datetime":
            return _Plan(column, f.kind, (_unique(name, taken),), f.from_strings,
                         formatted=f.formatted, decimal_comma=f.decimal_comma)
        stamps = _dates(s, f.date_format).dropna()
        with_hour = bool((stamps != stamps.dt.normalize()).any())
        parts = (*_DATE_PARTS, *(("hour",) if with_hour else ()), "elapsed_days")
        outputs = tuple(_unique(f"{name}_{part}", taken) for part in parts)
        return _Plan(column, "datetime", outputs, f.from_strings, date_format=f.date_format,
                     date_ref=stamps.min(), with_hour=with_hour)

    # ----------------------------------------------------------- transform
    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Model-ready columns: ``numeric_columns_`` (float) then ``categorical_columns_``."""
        check_is_fitted(self, "_plans")
        X = _as_frame(X)
        lacking = [str(c) for c in self.input_columns_ if c not in X.columns]
        if lacking:
            shown = lacking if len(lacking) <= 8 else [*lacking[:8], "..."]
            raise DataError(f"The input lacks {len(lacking)} training column(s) {shown}; "
                            "add them (extra columns are ignored).")
        out: dict[str, pd.Series] = {}
        for plan in self._plans:
            if plan.outputs:
                out.update(_apply(plan, X[plan.column]))
                if plan.kind == "numeric" and not plan.from_strings:
                    _warn_unparsed(plan.column, X[plan.column], out[plan.outputs[0]])
        order = [*self.numeric_columns_, *self.categorical_columns_]
        return pd.DataFrame({name: out[name] for name in order}, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "_plans")
        return np.asarray([*self.numeric_columns_, *self.categorical_columns_], dtype=object)


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    raise DataError(f"FeaturePrep needs a pandas DataFrame; got {type(X).__name__} instead.")


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out


def _warn_unparsed(column: Hashable, raw: pd.Series, parsed: pd.Series) -> None:
    """Values of a numeric training column that are not numbers become missing: say so."""
    if ptypes.is_numeric_dtype(raw) or ptypes.is_bool_dtype(raw):
        return
    text = _to_text(raw)
    bad = text.notna() & parsed.isna()
    if bad.any():
        examples = sorted({str(v) for v in text[bad].head(50)})[:3]
        log.warning("column %r: %d value(s) are not numbers (e.g. %s); they are treated as "
                    "missing", str(column), int(bad.sum()), examples)


def _to_float(s: pd.Series) -> pd.Series:
    if ptypes.is_timedelta64_dtype(s):
        return s.dt.total_seconds() / 86400.0
    values = pd.Series(pd.to_numeric(s, errors="coerce"), index=s.index)
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    arr[~np.isfinite(arr)] = np.nan
    return pd.Series(arr, index=s.index)


def _to_text(s: pd.Series) -> pd.Series:
    """Stripped strings (object dtype), blanks and missing as NaN."""
    if ptypes.is_string_dtype(s) and not ptypes.is_object_dtype(s):
        stripped = s.str.strip()
        return stripped.where(stripped != "").astype(object).where(stripped.notna(), np.nan)
    obj = s.astype(object)
    mask = obj.notna().to_numpy()
    values = np.full(len(s), np.nan, dtype=object)
    values[mask] = [str(v).strip() for v in obj[mask]]
    text = pd.Series(values, index=s.index, dtype=object)
    return text.where(text != "", np.nan)


def formatted_numbers(text: pd.Series, *, decimal_comma: bool = False) -> pd.Series:
    """Numbers written with thousands separators, currency or % signs (``"$1,200.50"``,
    ``"12 %"``) as floats, the signs dropped; anything else becomes NaN.

    ``decimal_comma``: the comma marks the decimals and dots group the thousands
    (``"1.234,50 €"`` is 1234.5).
    """
    if not decimal_comma:
        shaped = text.where(text.str.match(_FORMATTED_NUMBER, na=False))
        return _to_float(shaped.str.replace(_NUMBER_MARKS, "", regex=True))
    shaped = text.where(text.str.match(_DECIMAL_COMMA_NUMBER, na=False))
    plain = shaped.str.replace(_DECIMAL_COMMA_MARKS, "", regex=True).str.replace(",", ".")
    return _to_float(plain)


def case_variants(uniques: pd.Series) -> str | None:
    """The distinct strings that differ only in letter case ("'Pro'/'pro', 'NY'/'ny'"), or
    None. They stay apart, since a code's case may matter, but a person may want to merge
    them, so the intake names them."""
    folded = uniques.str.casefold()
    clashes = uniques[folded.duplicated(keep=False)]
    if clashes.empty:
        return None
    groups = clashes.groupby(folded[clashes.index], sort=True)
    shown = ["/".join(sorted(map(repr, g))) for _, g in list(groups)[:3]]
    more = "" if groups.ngroups <= 3 else f" and {groups.ngroups - 3} more"
    return ", ".join(shown) + more


def missing_markers(uniques: pd.Series) -> list[str]:
    """The missing-value tokens of distinct stripped strings that are otherwise all numbers
    (plain, formatted or with a decimal comma), in lower case; [] when there are none or the
    values are not numbers."""
    for formatted, decimal_comma in ((False, False), (True, False), (True, True)):
        tokens = _non_numbers(uniques, formatted=formatted, decimal_comma=decimal_comma)
        if tokens is not None:
            return tokens
    return []


def _non_numbers(uniques: pd.Series, *, formatted: bool = False,
                 decimal_comma: bool = False) -> list[str] | None:
    """The missing-value tokens ('?', 'n/a', 'unknown'...) of a column of numbers written as
    text, or None when it is not such a column: one whose every other value is a number,
    however many rows hold the tokens. Works on distinct values, so it is cheap.

    ``formatted``: numbers may carry thousands separators, currency or % signs, and at
    least one does. ``decimal_comma``: and they write the decimals after a comma, which at
    least one does.
    """
    def parse(values: pd.Series) -> pd.Series:
        if formatted:
            return formatted_numbers(values, decimal_comma=decimal_comma)
        return pd.Series(pd.to_numeric(values, errors="coerce"), index=values.index)

    head = parse(uniques.iloc[:1000])
    if head.isna().sum() > max(3, 0.05 * len(head)):
        return None
    if formatted and not uniques.str.contains("," if decimal_comma else _NUMBER_MARKS).any():
        return None
    parsed = parse(uniques)
    failed = parsed.isna().to_numpy()
    tokens = sorted(set(uniques[failed].str.lower()))
    if failed.all():
        return None
    return tokens if set(tokens) <= _MISSING_TOKENS else None


def _parse_dates(text: pd.Series, fmt: str | None) -> pd.Series:
    parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    return pd.Series(parsed, index=text.index).dt.tz_localize(None)


def _dates(s: pd.Series, fmt: str | None) -> pd.Series:
    if ptypes.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            return s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s
    return _parse_dates(_to_text(s), fmt or "ISO8601")


def _apply(plan: _Plan, s: pd.Series) -> dict[str, pd.Series]:
    """The output column(s) of one raw column."""
    if plan.kind == "categorical":
        return {plan.outputs[0]: _to_text(s)}
    if plan.kind == "datetime":
        return _expand_dates(plan, s)
    if plan.kind == "boolean" and not (ptypes.is_bool_dtype(s) or ptypes.is_numeric_dtype(s)):
        lowered = _to_text(s).str.lower()
        return {plan.outputs[0]: lowered.map(_ANY_BOOL).astype(float)}
    if plan.formatted:
        return {plan.outputs[0]: formatted_numbers(_to_text(s), decimal_comma=plan.decimal_comma)}
    return {plan.outputs[0]: _to_float(_to_text(s) if plan.from_strings else s)}


def _expand_dates(plan: _Plan, s: pd.Series) -> dict[str, pd.Series]:
    stamps = _dates(s, plan.date_format)
    dt = stamps.dt
    parts = [dt.year, dt.month, dt.day, dt.day_of_week, *((dt.hour,) if plan.with_hour else ())]
    ref = plan.date_ref if plan.date_ref is not None else pd.Timestamp(0)
    elapsed = (stamps - ref) / pd.Timedelta(days=1)
    cols = [*parts, elapsed]
    return {name: col.astype(float) for name, col in zip(plan.outputs, cols, strict=True)}


def _profile(column: Hashable, s: pd.Series, f: _Finding, note: str | None,
             used: bool) -> ColumnProfile:
    return ColumnProfile(name=str(column), kind=f.kind, dtype=str(s.dtype),
                         n_missing=int(s.isna().sum()), n_unique=f.n_unique, used=used, note=note)
