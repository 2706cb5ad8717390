"""Turn a ``TaskSpec`` and a raw table into clean training data.

Intake fixes what the rest of a run relies on: the task type, the metric and its
direction (taken from ``schemas.METRICS``, never from a user or an LLM), the target
encoded as class codes or floats, and a clear error for every table that cannot work.
"""

from __future__ import annotations

import difflib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from schemas import (
    DEFAULT_METRIC,
    METRIC_ALIASES,
    METRICS,
    ConfigError,
    DataError,
    MetricInfo,
    TaskSpec,
    TaskType,
)
from tools.features import case_variants, formatted_numbers, missing_markers

log = logging.getLogger(__name__)

__all__ = ["PreparedData", "infer_task_type", "prepare", "resolve_metric"]

_MAX_INT_CLASSES = 10  # integer targets with at most this many values may be classes
_ROWS_PER_CLASS = 20  # ... if each value has this many rows on average
_MANY_CLASSES = 50


@dataclass(frozen=True, eq=False)
class PreparedData:
    """The table split into features and an encoded target, with the task fully resolved."""

    task: TaskSpec
    X: pd.DataFrame
    y: np.ndarray
    classes: tuple[Any, ...] | None
    n_rows_dropped: int
    notices: tuple[str, ...]


def resolve_metric(name: str | None, task_type: TaskType) -> MetricInfo:
    """The metric by name or alias (case-insensitive), or the task type's default."""
    if name is None or not name.strip():
        return METRICS[DEFAULT_METRIC[task_type]]
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in METRICS:
        close = difflib.get_close_matches(key, [*METRICS, *METRIC_ALIASES], n=1, cutoff=0.6)
        hint = f" Did you mean {METRIC_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise ConfigError(f"The 'metric' parameter must be one of {sorted(METRICS)}; "
                          f"got {name!r} instead.{hint}")
    info = METRICS[key]
    if task_type not in info.task_types:
        fits = sorted(m.name for m in METRICS.values() if task_type in m.task_types)
        raise ConfigError(f"The metric {info.name!r} does not fit a {task_type} task (it is for "
                          f"{' and '.join(info.task_types)}); use one of {fits}.")
    return info


def infer_task_type(y: pd.Series) -> TaskType:
    """Binary, multiclass or regression from the target's values (missing values ignored)."""
    task_type, _ = _infer(_clean_target(y).dropna())
    return task_type


def prepare(task: TaskSpec, df: pd.DataFrame) -> PreparedData:
    """Check the table against the task; encode the target; resolve type and metric."""
    _check_target_column(task.target, df)
    y_all = _clean_target(df[task.target])
    notices: list[str] = []
    y_all, markers = _without_missing_markers(y_all)
    if markers:
        notices.append(f"treated {markers} in the target {task.target!r} as missing values")
    keep = y_all.notna().to_numpy()
    n_dropped = int((~keep).sum())
    if not keep.any():
        raise DataError(f"The target column {task.target!r} has no values: every one of its "
                        f"{len(df)} rows is missing.")
    if n_dropped:
        notices.append(f"dropped {n_dropped} of {len(df)} rows because the target "
                       f"{task.target!r} was missing")
    y = y_all[keep].reset_index(drop=True)
    X = df.loc[keep, [c for c in df.columns if c != task.target]].reset_index(drop=True)
    if X.shape[1] == 0:
        raise DataError(f"The table has no feature column besides the target {task.target!r}.")

    if task.task_type is None:
        task_type, note = _infer(y)
        if note:
            notices.append(note)
    else:
        task_type = _check_given_type(task.task_type, y, task.target)
    info = resolve_metric(task.metric, task_type)
    if task.direction is not None and task.direction != info.direction:
        notices.append(f"the metric {info.name!r} is always {info.direction}d; ignored the "
                       f"requested direction {task.direction!r}")

    if task_type == "regression":
        numbers = _numeric(y)
        assert numbers is not None, "checked by _infer or _check_given_type"
        if not ptypes.is_numeric_dtype(y) and pd.to_numeric(y, errors="coerce").isna().any():
            notices.append(f"read the target {task.target!r} as numbers, without thousands "
                           "separators, currency and % signs")
        y_arr, classes = numbers.to_numpy(dtype=np.float64), None
    else:
        y_arr, classes = _encode_classes(y, task.target)
        names = pd.Series([c for c in classes if isinstance(c, str)], dtype=object)
        if (clashes := case_variants(names)) is not None:
            notices.append(f"classes of the target {task.target!r} that differ only in letter "
                           f"case are kept apart: {clashes}; merge them in the file if they "
                           "mean the same")
        if len(classes) > _MANY_CLASSES:
            notices.append(f"the target {task.target!r} has {len(classes)} classes; if it is a "
                           "measured number, set task_type='regression'")
    _check_row_count(len(y_arr), task)
    resolved = task.model_copy(update={"task_type": task_type, "metric": info.name,
                                       "direction": info.direction})
    for note in notices:
        log.info("intake: %s", note)
    return PreparedData(task=resolved, X=X, y=y_arr, classes=classes,
                        n_rows_dropped=n_dropped, notices=tuple(notices))


def _check_target_column(target: str, df: pd.DataFrame) -> None:
    if target in df.columns:
        return
    names = [str(c) for c in df.columns]
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(target.lower(), list(lowered), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(lowered[c]) for c in close)}?" if close else ""
    shown = names if len(names) <= 20 else [*names[:20], "..."]
    raise DataError(f"The target column {target!r} is not in the data.{hint} "
                    f"Columns: {shown}.")


def _clean_target(y: pd.Series) -> pd.Series:
    """Blank strings and infinite numbers count as missing."""
    if ptypes.is_bool_dtype(y):
        return y
    if ptypes.is_numeric_dtype(y):
        values = y.to_numpy(dtype=np.float64, na_value=np.nan)
        return y.where(np.isfinite(values))
    if ptypes.is_string_dtype(y) and not ptypes.is_object_dtype(y):
        y = y.str.strip()
        return y.where(y != "")
    if ptypes.is_object_dtype(y):
        y = y.map(lambda v: v.strip() if isinstance(v, str) else v)
        return y.where(y.map(lambda v: v != ""))
    return y


def _without_missing_markers(y: pd.Series) -> tuple[pd.Series, list[str]]:
    """A target of numbers written as text with missing markers among them ('n/a',
    'unknown'...): the markers become missing. A target of words keeps every word, since a
    class may well be called 'unknown'."""
    if ptypes.is_bool_dtype(y) or ptypes.is_numeric_dtype(y) or not y.notna().any():
        return y, []
    text = y.astype(object).map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")
    markers = missing_markers(pd.Series(text.dropna().unique(), dtype=object))
    if not markers:
        return y, []
    return y.where(~text.str.lower().isin(markers)), markers


def _numeric(y: pd.Series) -> pd.Series | None:
    """The values as floats (booleans as 0/1), or None when some value is not a number."""
    if ptypes.is_bool_dtype(y) or ptypes.is_numeric_dtype(y):
        return pd.Series(y.to_numpy(dtype=np.float64, na_value=np.nan), index=y.index)
    if ptypes.is_datetime64_any_dtype(y) or ptypes.is_timedelta64_dtype(y):
        return None
    uniques = pd.unique(y.astype(object))  # parse each distinct value once
    parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    if parsed.isna().any():  # "$1,200", "12%"...
        parsed = formatted_numbers(text)
    if parsed.isna().any() and text.str.contains(",").any():  # "1.234,5"
        parsed = formatted_numbers(text, decimal_comma=True)
    if parsed.isna().any():
        return None
    lookup = dict(zip(uniques, parsed.astype(float), strict=True))
    return y.astype(object).map(lookup).astype(float)


def _infer(y: pd.Series) -> tuple[TaskType, str | None]:
    """The task type of non-missing target values, and a notice when a guess was close."""
    if ptypes.is_datetime64_any_dtype(y) or ptypes.is_timedelta64_dtype(y):
        raise DataError(f"The target {y.name!r} holds dates or durations; mlpilot predicts "
                        "classes or numbers.")
    n_unique = _n_unique(y, str(y.name))
    values = None if ptypes.is_bool_dtype(y) else _numeric(y)
    if values is None or n_unique == 2:
        return ("binary" if n_unique == 2 else "multiclass"), None
    integral = bool((values == values.round()).all())
    if integral and 3 <= n_unique <= _MAX_INT_CLASSES and len(y) >= _ROWS_PER_CLASS * n_unique:
        return "multiclass", (f"treated the target {y.name!r} as multiclass: it has only "
                              f"{n_unique} integer values; set task_type='regression' "
                              "to predict it as a number")
    return "regression", None


def _n_unique(y: pd.Series, target: str) -> int:
    n_unique = int(y.nunique())
    if n_unique < 2:
        first = _to_python(y.iloc[0]) if len(y) else None
        raise DataError(f"The target {target!r} has a single value ({first!r}); "
                        "there is nothing to predict.")
    return n_unique


def _check_given_type(task_type: TaskType, y: pd.Series, target: str) -> TaskType:
    n_unique = _n_unique(y, target)
    if task_type == "regression" and _numeric(y) is None:
        example = _to_python(next(v for v in y if pd.isna(pd.to_numeric(v, errors="coerce"))))
        raise ConfigError(f"The 'task_type' parameter is 'regression' but the target {target!r} "
                          f"is not numeric (it holds {example!r}); use 'binary' or 'multiclass'.")
    if task_type == "binary" and n_unique > 2:
        raise ConfigError(f"The 'task_type' parameter is 'binary' but the target {target!r} has "
                          f"{n_unique} classes; use 'multiclass'.")
    return task_type


def _to_python(value: Any) -> Any:
    """A JSON-friendly label: numpy scalars become Python ones, 3.0 becomes 3."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _encode_classes(y: pd.Series, target: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Class codes 0..K-1 in sorted label order, and the labels in code order."""
    numbers = None if ptypes.is_bool_dtype(y) else _numeric(y)
    if ptypes.is_bool_dtype(y):
        labels = y.astype(bool)
    elif numbers is not None:
        labels = numbers
    else:
        labels = y.astype(object).map(lambda v: v if isinstance(v, str) else str(v))
    counts = labels.value_counts()
    try:
        ordered = sorted(counts.index)
    except TypeError:
        ordered = sorted(counts.index, key=str)
    lonely = [_to_python(c) for c in ordered if counts[c] < 2]
    if lonely:
        shown = lonely[:5] + (["..."] if len(lonely) > 5 else [])
        raise DataError(f"The class(es) {shown} of target {target!r} have only 1 row; every "
                        "class needs at least 2 rows (one to train on, one to check). "
                        "Remove or merge those rows.")
    codes = pd.Categorical(labels, categories=ordered).codes.astype(np.int64)
    return codes, tuple(_to_python(c) for c in ordered)


def _check_row_count(n_rows: int, task: TaskSpec) -> None:
    needed = math.ceil(2 * task.n_folds / (1.0 - task.holdout_fraction))
    if n_rows < needed:
        raise DataError(f"The data has {n_rows} rows with a target; at least {needed} are needed "
                        f"for {task.n_folds}-fold cross-validation after a "
                        f"{task.holdout_fraction:.0%} holdout (add rows or use fewer folds).")
