"""Text for the run report: numbers, durations and Markdown tables.

Every number on the report page and in its plot annotations goes through
``num``, so a missing or non-finite value reads "n/a" and no "nan" or "inf"
ever reaches a reader. Cells go through ``cell`` so a user's column name or
error message cannot break a Markdown table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["cell", "direction_words", "num", "param_value", "plural", "seconds", "table"]


def num(value: float | None, digits: int = 4) -> str:
    """A number for the page: "n/a" for a missing or non-finite one, never "nan"."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) >= 1e6 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:.{digits}f}"


def plural(n: int, noun: str) -> str:
    """``n`` with ``noun``, adding an "s" unless n is one."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def seconds(value: float) -> str:
    """A duration in the largest unit that keeps it short."""
    if not math.isfinite(value) or value < 0:
        return "n/a"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60):02d} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60):02d} min"


def param_value(value: object) -> str:
    """A hyperparameter value, floats to four significant digits so a table stays narrow."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return "none" if value is None else str(value)


def direction_words(direction: str) -> str:
    """The metric's direction as a reader says it."""
    return "higher is better" if direction == "maximize" else "lower is better"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell or inline code span."""
    return str(text).replace("\n", " ").replace("|", "\\|").replace("`", "'")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, one line per row; cells must already be made safe with ``cell``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows)]
