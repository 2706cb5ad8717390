"""The bench report: ``report.md`` with PNG plots, and ``results.json`` for machines.

``write_report`` turns a bench's finished cells into a folder a person reads on GitHub and a
program reads back. The statistics and their protocol are ``evals.stats``; this module only
lays them out. Plots use matplotlib's Agg canvas (no screen, no pyplot figures).

``results.json`` (``RESULTS_VERSION`` 1) holds one object with these keys, which stay stable;
a score that does not exist (one task, a failed method) is ``null``, never NaN:

* ``version``: 1; ``suite``; ``command``: the command line as run; ``created_at``: ISO time (UTC).
* ``settings``: ``n_trials``, ``time_budget_s``, ``n_workers``, ``seeds``, ``methods`` (as
  asked), ``tasks`` (as found in the cells).
* ``machine``: ``cpu``, ``cores``, ``memory_gib``, ``os``, ``python``, ``mlpilot``.
* ``methods``: one object per method (``evals.stats.MethodSummary``): ``method``,
  ``n_tasks``, ``mean_score``, ``se_score``, ``avg_rank``, ``tasks_best``, ``n_cells``,
  ``n_failed``, ``median_wall_s``, ``total_wall_s``, ``llm_calls``, ``llm_tokens``,
  ``llm_cost_usd``.
* ``rank_test`` (``evals.stats.RankTest``): ``methods``, ``tasks`` (the rows used), ``alpha``,
  ``test`` (``friedman``, ``wilcoxon`` or null), ``posthoc``, ``p_value``, ``cd``,
  ``mean_ranks`` (method -> average rank), ``significant_pairs`` ([better, worse] pairs),
  ``decision`` (autorank's own words), ``skipped`` (the reason, or null).
* ``tasks``: one object per task (``evals.stats.TaskRow``): ``task``, ``metric``,
  ``direction``, ``holdout`` (method -> mean holdout score over scored seeds), ``n_scored``,
  ``n_cells``, ``best`` (the best methods).
* ``task_means``: task -> method -> seed-mean normalized score.
* ``cells``: one object per cell (``evals.stats.CellScore``): ``task``, ``method``, ``seed``,
  ``status``, ``scored``, ``holdout``, ``dummy_holdout`` and ``best_holdout`` (the group's 0
  and 1), ``normalized``.
* ``anytime``: ``trials`` and ``time``, each a list of ``evals.stats.AnytimeCurve``:
  ``method``, ``x``, ``mean``, ``q25``, ``q75``, ``n_cells``.
* ``plots``: ``cd``, ``anytime_trials``, ``anytime_time``: the PNG's path relative to the
  folder, or null when it was not drawn; ``cd_kind``: ``autorank``, ``mlpilot`` or null.
* ``remarks``: data problems found; ``notes``: the caller's notes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals._ledger import CellResult
from evals.stats import AnytimeCurve, BenchStats, MethodSummary, RankTest, TaskRow, analyze

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

__all__ = ["RESULTS_VERSION", "machine_info", "write_report"]

RESULTS_VERSION = 1
_DPI = 100
_NORMALIZATION = ("per (task, seed), 0 = the dummy predictor's holdout score, 1 = the best "
                  "holdout score any method reached; not clipped (below 0 = worse than the "
                  "dummy); a failed cell scores 0; per task the mean over seeds")


def write_report(cells: Sequence[CellResult], out_dir: Path, *, suite: str, command: str,
                 n_trials: int, time_budget_s: float | None, n_workers: int,
                 seeds: Sequence[int], methods: Sequence[str],
                 notes: Sequence[str] = ()) -> Path:
    """Write ``report.md``, ``plots/*.png`` and ``results.json`` into ``out_dir``; return the
    report's path."""
    out_dir = Path(out_dir)
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    stats = analyze(cells, methods=methods, n_trials=n_trials, seeds=seeds)
    machine = machine_info()
    now = datetime.now(UTC)
    drawn = _draw_plots(stats, plots)
    settings = {"n_trials": n_trials, "time_budget_s": time_budget_s, "n_workers": n_workers,
                "seeds": list(seeds), "methods": list(methods), "tasks": list(stats.tasks)}
    results = {
        "version": RESULTS_VERSION, "suite": suite, "command": command,
        "created_at": now.isoformat(), "settings": settings, "machine": machine,
        "methods": _plain(stats.summaries), "rank_test": _plain(stats.rank_test),
        "tasks": _plain(stats.task_rows), "task_means": _plain(stats.task_means),
        "cells": _plain(stats.scores),
        "anytime": {"trials": _plain(stats.anytime_trials), "time": _plain(stats.anytime_time)},
        "partial": {t: {"cells": n, "of": of} for t, (n, of) in stats.partial.items()},
        "plots": drawn, "remarks": list(stats.remarks), "notes": list(notes)}
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    lines = [
        f"# Benchmark: {_cell(suite)}", "",
        *_how(stats, cells, command=command, machine=machine, now=now, n_trials=n_trials,
              time_budget_s=time_budget_s, n_workers=n_workers, seeds=seeds),
        *_headline(stats), *_test_section(stats.rank_test, drawn, len(stats.task_means)),
        *_anytime_section(stats, drawn),
        *_task_section(stats.task_rows, stats.methods, stats.partial)]
    extra = [*notes, *stats.remarks]
    if extra:
        lines += ["## Notes", "", *(f"- {_cell(n)}" for n in extra), ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    log.info("wrote the bench report %s", path)
    return path


# --- numbers and tables -----------------------------------------------------------------------

def _num(value: float | None, digits: int = 4) -> str:
    """``digits`` significant digits; "n/a" for a missing or non-finite value."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    if v == round(v) and abs(v) < 10 ** digits:
        return str(int(v))  # counts and ranks that came out whole: "4", not "4.000"
    return f"{v:#.{digits}g}".rstrip(".")  # '#' keeps trailing zeros: 0.010, not 0.01


def _fixed(value: float | None) -> str:
    """A normalized score: three decimals, so a column of them lines up."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\n", " ").replace("|", "\\|")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def _plain(obj: Any) -> Any:
    """Dataclasses, mappings and sequences as JSON values; non-finite floats as None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("json", True)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


# --- machine ----------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and mlpilot version of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory: float | None = round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory = None
    try:
        mlpilot = version("mlpilot")
    except PackageNotFoundError:
        mlpilot = "unknown (not installed)"
    return {"cpu": cpu or "unknown", "cores": os.cpu_count(), "memory_gib": memory,
            "os": platform.platform(), "python": platform.python_version(), "mlpilot": mlpilot}


# --- sections ---------------------------------------------------------------------------------

def _how(stats: BenchStats, cells: Sequence[CellResult], *, command: str,
         machine: Mapping[str, Any], now: datetime, n_trials: int,
         time_budget_s: float | None, n_workers: int, seeds: Sequence[int]) -> list[str]:
    budget = f"{n_trials} trials per cell"
    if time_budget_s is not None:
        budget += f", at most {_num(time_budget_s)} s per cell"
    finished = sorted(c.finished_at for c in cells)
    date = now.strftime("%Y-%m-%d %H:%M UTC")
    if finished:
        date += (f" (cells finished {finished[0]:%Y-%m-%d %H:%M} to "
                 f"{finished[-1]:%Y-%m-%d %H:%M} UTC)")
    names = f" ({', '.join(stats.tasks)})" if stats.tasks else ""
    if stats.partial and len(stats.partial) < len(stats.tasks):
        names += (f", {len(stats.tasks) - len(stats.partial)} complete and compared "
                  f"(partial: {', '.join(stats.partial)})")
    memory = "n/a" if machine["memory_gib"] is None else f"{machine['memory_gib']} GiB"
    test = ("Friedman test with the Nemenyi post-hoc test (autorank, non-parametric, "
            "α = 0.05) on tasks × methods of seed-mean normalized scores; with two methods "
            "autorank uses the one-sided Wilcoxon signed-rank test")
    return [
        "## How this was measured", "", "```sh", command, "```", "",
        f"- **Machine:** {_cell(machine['cpu'])}, {machine['cores']} cores, {memory}, "
        f"{_cell(machine['os'])}, Python {machine['python']}, mlpilot {machine['mlpilot']}",
        f"- **Budget:** {budget}, {n_workers} worker{'s' if n_workers != 1 else ''}",
        f"- **Seeds:** {', '.join(map(str, seeds)) or 'none'}",
        f"- **Methods:** {', '.join(stats.methods) or 'none'}",
        f"- **Tasks:** {len(stats.tasks)}{names}; "
        f"{len(cells)} cell{'s' if len(cells) != 1 else ''}",
        f"- **Date:** {date}",
        f"- **Normalized score:** {_NORMALIZATION}",
        f"- **Test:** {test}", ""]


def _headline(stats: BenchStats) -> list[str]:
    def order(s: MethodSummary) -> tuple[float, float]:
        return (s.avg_rank if s.avg_rank is not None else math.inf,
                -(s.mean_score if s.mean_score is not None else -math.inf))

    rows = []
    for s in sorted(stats.summaries, key=order):
        score = _fixed(s.mean_score)
        if s.se_score is not None:
            score += f" ± {_fixed(s.se_score)}"
        rows.append([_cell(s.method), score, _num(s.avg_rank, 3), _num(s.tasks_best, 3),
                     f"{s.n_failed} / {s.n_cells}", _num(s.median_wall_s, 3),
                     f"{s.llm_calls:,}", f"{s.llm_tokens:,}", f"${s.llm_cost_usd:.3g}"])
    return ["## Results", "",
            "Sorted by average rank. Normalized score: mean over tasks ± standard error over "
            "tasks (1 = the best method of each task and seed, 0 = the dummy predictor).", "",
            *_table(["method", "normalized score", "avg rank", "tasks best", "failed cells",
                     "median wall s", "LLM calls", "LLM tokens", "LLM cost"], rows)]


def _test_section(test: RankTest, drawn: Mapping[str, str | None], n_all: int) -> list[str]:
    lines = ["## Rank test", ""]
    if test.skipped is not None:
        return [*lines, f"Skipped: {test.skipped}. No critical-difference plot is drawn.", ""]
    n = len(test.tasks)
    if test.test == "friedman":
        lines.append(f"Methods whose average ranks differ by more than CD = {_num(test.cd, 3)} "
                     f"are significantly different (Friedman p = {_num(test.p_value, 3)}; "
                     f"Nemenyi post-hoc test, α = {test.alpha:g}, {n} tasks).")
        if not test.significant:
            lines.append(f"The Friedman test does not reject that all methods perform alike "
                         f"(p ≥ {test.alpha:g}), so no pair is called different.")
    else:
        lines.append(f"With two methods autorank uses the one-sided Wilcoxon signed-rank test "
                     f"(the Friedman test needs three): p = {_num(test.p_value, 3)} "
                     f"(α = {test.alpha:g}, {n} tasks); there is no critical difference.")
    if n < n_all:
        lines.append(f"It uses the {n} of {n_all} tasks that every method ran.")
    pairs = ", ".join(f"{a} better than {b}" for a, b in test.significant_pairs)
    lines += ["", f"Significantly different: {pairs}." if pairs
              else "No pair of methods differs significantly.", ""]
    ranks = ", ".join(f"{m} {_num(r, 3)}" for m, r in
                      sorted(test.mean_ranks.items(), key=lambda kv: kv[1]))
    lines += [f"Average ranks over these tasks: {ranks}.", ""]
    if drawn.get("cd"):
        if drawn.get("cd_kind") == "autorank":
            caption = ("Average ranks (1 = best), drawn by autorank's `plot_stats`; methods "
                       "joined by a thick bar do not differ significantly.")
        else:
            caption = ("Average ranks (1 = best), drawn by mlpilot: autorank draws no diagram "
                       "for this test.")
        lines += [f"![Critical-difference diagram]({drawn['cd']})", "", f"*{caption}*", ""]
    if test.decision:
        lines += ["<details><summary>autorank's own report</summary>", "",
                  _cell(test.decision), "", "</details>", ""]
    return lines


def _anytime_section(stats: BenchStats, drawn: Mapping[str, str | None]) -> list[str]:
    lines = ["## Anytime performance", ""]
    if not (drawn.get("anytime_trials") or drawn.get("anytime_time")):
        return [*lines, "No cell recorded a scored trial, so there are no anytime curves.", ""]
    lines += ["The best cross-validated score so far, normalized per task and seed (0 = the "
              "dummy's CV score, 1 = the best CV score any method reached); lines are means "
              "over tasks and seeds, bands the 25–75 % range.", ""]
    if drawn.get("anytime_trials"):
        lines += [f"![Anytime, by trials]({drawn['anytime_trials']})", ""]
    if drawn.get("anytime_time"):
        lines += [f"![Anytime, by wall time]({drawn['anytime_time']})", ""]
    return lines


def _task_section(rows: Sequence[TaskRow], methods: Sequence[str],
                  partial: Mapping[str, tuple[int, int]]) -> list[str]:
    body = []
    for row in rows:
        arrow = "↑" if row.direction == "maximize" else "↓"
        name = _cell(row.task)
        if row.task in partial:
            name += " (partial: {} of {} cells)".format(*partial[row.task])
        cells = [name, f"{row.metric} {arrow}"]
        for m in methods:
            if m not in row.n_cells:
                cells.append("—")
                continue
            value = row.holdout.get(m)
            text = "failed" if value is None else _num(value)
            if m in row.best:
                text = f"**{text}**"
            if 0 < row.n_scored[m] < row.n_cells[m]:
                text += f" ({row.n_scored[m]}/{row.n_cells[m]} seeds)"
            cells.append(text)
        body.append(cells)
    return ["## Per-task holdout scores", "",
            "Mean holdout score over the seeds that gave a model (↑ higher is better, ↓ lower "
            "is better); the best per task in bold; \"failed\": no seed gave a model.", "",
            *_table(["task", "metric", *map(_cell, methods)], body)]


# --- plots ------------------------------------------------------------------------------------

def _figure(width_in: float, height_in: float, *, axes: bool = True) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=_DPI,
                 layout="constrained" if axes else None)
    FigureCanvasAgg(fig)
    return fig, (fig.add_subplot() if axes else fig.add_axes((0.0, 0.0, 1.0, 1.0)))


def _draw_plots(stats: BenchStats, plots: Path) -> dict[str, str | None]:
    drawn: dict[str, str | None] = {"cd": None, "cd_kind": None, "anytime_trials": None,
                                    "anytime_time": None}
    for stale in ("cd.png", "anytime_trials.png", "anytime_time.png"):
        (plots / stale).unlink(missing_ok=True)  # a rerun must not show an old plot
    if stats.rank_test.skipped is None:
        drawn["cd_kind"] = _plot_cd(plots / "cd.png", stats.rank_test)
        drawn["cd"] = "plots/cd.png"
    if stats.anytime_trials:
        _plot_anytime(plots / "anytime_trials.png", stats.anytime_trials, log_x=False,
                      xlabel="finished trials", title="Anytime performance by trials")
        drawn["anytime_trials"] = "plots/anytime_trials.png"
    if stats.anytime_time:
        _plot_anytime(plots / "anytime_time.png", stats.anytime_time, log_x=True,
                      xlabel="seconds since the cell started (log scale)",
                      title="Anytime performance by wall time")
        drawn["anytime_time"] = "plots/anytime_time.png"
    return drawn


def _plot_cd(path: Path, test: RankTest) -> str:
    """autorank's CD diagram where it draws one (Friedman/Nemenyi), else our rank plot."""
    if test.test == "friedman" and test.raw is not None and test.cd is not None:
        import warnings

        from autorank import plot_stats

        k = len(test.methods)
        width = 8.0  # autorank lays out in units of its default width (6) and scales to ours
        height = (0.65 + (k + 1) / 2 * 0.2 + max(0.4, 0.4 + (_n_bars(test) - 1) * 0.1)) * width / 6
        fig, ax = _figure(width, height, axes=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plot_stats(test.raw, allow_insignificant=True, ax=ax)
            fig.savefig(path, dpi=_DPI, format="png", facecolor="white")
            return "autorank"
        except Exception as exc:  # a third-party plot: fall back to ours rather than lose it
            log.warning("autorank could not draw the CD diagram (%s); drawing a rank plot", exc)
    _plot_ranks(path, test)
    return "mlpilot"


def _n_bars(test: RankTest) -> int:
    """How many 'not different' bars autorank's diagram draws (sets its height)."""
    ranks = sorted(test.mean_ranks.values())
    bars, reach = 0, -1
    for i, r in enumerate(ranks):
        last = max((j for j in range(i + 1, len(ranks)) if ranks[j] - r <= (test.cd or 0)),
                   default=None)
        if last is not None and last > reach:
            bars, reach = bars + 1, last
    return bars


def _plot_ranks(path: Path, test: RankTest) -> None:
    """Average ranks on a line (1 = best on the left), with the CD as a bar when known."""
    order = sorted(test.mean_ranks.items(), key=lambda kv: kv[1])
    fig, ax = _figure(8.0, 1.2 + 0.35 * len(order))
    for i, (name, rank) in enumerate(order):
        ax.plot([rank], [i], "o", color="tab:blue")
        ax.annotate(f"{name} ({rank:.2f})", (rank, i), xytext=(8, 0), textcoords="offset points",
                    va="center", fontsize=10)
    k = len(test.methods)
    ax.set_xlim(0.8, k + 0.6)
    ax.set_xticks(range(1, k + 1))
    ax.set_ylim(len(order) - 0.5, -1.0)
    ax.set_yticks([])
    if test.cd is not None:
        ax.plot([1, 1 + test.cd], [-0.6, -0.6], color="black", lw=2)
        ax.text(1 + test.cd / 2, -0.75, f"CD = {test.cd:.3g}", ha="center", fontsize=9)
    ax.set_xlabel("average rank over tasks (1 = best)", fontsize=11)
    ax.set_title(f"Average ranks ({(test.test or '').capitalize()} p = "
                 f"{_num(test.p_value, 3)})", fontsize=12)
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path, dpi=_DPI, format="png")


def _plot_anytime(path: Path, curves: Sequence[AnytimeCurve], *, log_x: bool, xlabel: str,
                  title: str) -> None:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(curves) <= 10 else "tab20"]
    fig, ax = _figure(8.0, 4.8)
    for i, c in enumerate(curves):
        color = cmap(i % cmap.N)
        marker = "o" if len(c.x) <= 1 else None
        ax.plot(c.x, c.mean, color=color, lw=2, marker=marker,
                label=f"{c.method} ({c.n_cells} cells)")
        ax.fill_between(c.x, c.q25, c.q75, color=color, alpha=0.15, lw=0)
    if log_x:
        ax.set_xscale("log")
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_title(title, fontsize=13)
    ax.set_xlabel(xlabel, fontsize=11)
    ax.set_ylabel("normalized CV score (0 dummy, 1 best)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=_DPI, format="png")
