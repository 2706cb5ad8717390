"""The run report: one Markdown page that says what was tried, what won and how well.

A data scientist reads ``report.md`` after a run to decide whether to trust
the model. So the page leads with the answer (winner, CV score, holdout score
against the dummy baseline), then shows the evidence: the data as the search
saw it, every family tried, every failure, and plots of the search and of the
holdout. Every number is formatted by one helper, so no "nan" reaches the page.
The plots use matplotlib's Agg canvas (no screen, no pyplot state), imported
lazily inside the plotting functions so ``import tools`` stays cheap.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from schemas import METRICS, ConfigError, DatasetProfile, RunRecord, TrialResult
from tools.leaderboard import (
    FamilySummary,
    check_direction,
    error_summary,
    family_summary,
    is_scored,
    leaderboard_frame,
    write_leaderboard,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["HoldoutResult", "leaderboard_frame", "write_leaderboard", "write_report"]

logger = logging.getLogger(__name__)

_TASK_WORDS = {"binary": "binary classification", "multiclass": "multiclass classification",
               "regression": "regression"}
_ISOLATION_WORDS = {
    "bwrap": "bubblewrap: each trial ran in its own namespaces with no network, a read-only "
             "system, only its work folder writable, a cleared environment and resource limits.",
    "process": "a plain subprocess with resource limits (rlimits) only: no namespaces, the "
               "network was not blocked and a trial could read what mlpilot can read.",
    "in-process": "none: trials ran inside the mlpilot process itself (a test or debugging "
                  "mode).",
}
_MAX_CLASS_ROWS = 20
MAX_CM_CLASSES = 20  # above this many classes a confusion matrix is skipped with a note
_FIG_WIDTH_IN, _DPI = 8.0, 100  # 800 px wide: readable without zooming
_MAX_POINTS = 5000  # scatter plots sample down to this many points


@dataclass(frozen=True)
class HoldoutResult:
    """The final model's and the dummy baseline's predictions on the held-out rows."""

    y_true: np.ndarray  # int codes 0..K-1 or float values
    pred: np.ndarray  # probabilities (n, K) for classification, values (n,) for regression
    dummy_pred: np.ndarray  # same shape: the dummy baseline's prediction
    classes: tuple[Any, ...] | None  # label of each code, None for regression


def write_report(run_dir: Path, *, record: RunRecord, trials: Sequence[TrialResult],
                 profile: DatasetProfile, holdout: HoldoutResult | None) -> Path:
    """Write ``run_dir/report.md`` and its plots under ``run_dir/plots``; return the report path.

    Bad input (an unknown direction, holdout arrays of the wrong shape) raises
    ``ConfigError`` before anything is written.
    """
    check_direction(record.direction)
    if holdout is not None:
        _check_holdout(holdout, record.task_type)
    run_dir = Path(run_dir)
    plots = run_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = [
        *_headline(record, holdout),
        *_data_section(record, profile),
        *_search_section(record, trials, plots),
        *_holdout_section(record, holdout, plots),
        *_honesty_section(record),
    ]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    logger.info("wrote the run report to %s", path)
    return path


def _check_holdout(holdout: HoldoutResult, task_type: str) -> None:
    """The holdout arrays must agree with each other and with the task type."""
    y, pred, dummy = (np.asarray(a) for a in (holdout.y_true, holdout.pred, holdout.dummy_pred))
    n = len(y)
    for name, arr in (("y_true", y), ("pred", pred), ("dummy_pred", dummy)):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise ConfigError(f"The 'holdout.{name}' parameter must be a numeric array (class "
                              f"codes, probabilities or values); got dtype {arr.dtype} instead.")
        if arr.shape[:1] != (n,):
            raise ConfigError(f"The 'holdout.{name}' parameter must have one row per y_true "
                              f"value ({n}); got shape {arr.shape} instead.")
        if not np.all(np.isfinite(arr.astype(float))):
            raise ConfigError(f"The 'holdout.{name}' parameter must hold finite numbers only; "
                              f"got {int(np.sum(~np.isfinite(arr.astype(float))))} "
                              "non-finite values instead.")
    if task_type == "regression":
        return
    if pred.ndim != 2 and not (task_type == "binary" and pred.ndim == 1):
        raise ConfigError("The 'holdout.pred' parameter must be an (n, K) array of class "
                          f"probabilities for {task_type} tasks; got shape {pred.shape} instead.")
    n_cols = pred.shape[1] if pred.ndim == 2 else 2
    if n and (y.min() < 0 or y.max() >= n_cols or not np.all(np.mod(y, 1) == 0)):
        raise ConfigError(f"The 'holdout.y_true' parameter must hold class codes 0..{n_cols - 1}; "
                          f"got values from {y.min()} to {y.max()} instead.")
    if holdout.classes is not None and len(holdout.classes) != n_cols:
        raise ConfigError(f"The 'holdout.classes' parameter must name one class per probability "
                          f"column ({n_cols}); got {len(holdout.classes)} names instead.")


# --- headline ------------------------------------------------------------------------------


def _direction_words(direction: str) -> str:
    return "higher is better" if direction == "maximize" else "lower is better"


def _improvement(score: float | None, dummy: float | None, direction: str) -> str:
    """How the model's holdout score compares with the dummy baseline's, in words."""
    if score is None or dummy is None or _num(score) == "n/a" or _num(dummy) == "n/a":
        return "no comparison available"
    gain = score - dummy if direction == "maximize" else dummy - score
    if gain == 0:
        return "no better than the dummy baseline"
    word = "better" if gain > 0 else "worse"
    if abs(dummy) < 1e-12:
        return f"{_num(abs(gain))} {word} than the dummy baseline (absolute difference)"
    return (f"{abs(gain) / abs(dummy) * 100:.1f}% {word} than the dummy baseline "
            f"(by {_num(abs(gain))})")


def _headline(record: RunRecord, holdout: HoldoutResult | None) -> list[str]:
    info = METRICS.get(record.metric)
    metric = f"`{record.metric}`"
    if info is not None:
        metric += f", {info.description}"
    metric += f": **{_direction_words(record.direction)}**"
    data_name = Path(str(record.task.data_path)).name
    rows = [
        ("Status", f"{record.status}; stopped because: {_cell(record.stop_reason)}"),
        ("Task", f"{_TASK_WORDS.get(record.task_type, record.task_type)} of "
                 f"`{_cell(record.task.target)}` in `{_cell(data_name)}`"),
        ("Metric", metric),
        ("Trials", f"{record.n_trials} run, {record.n_failed} failed"),
    ]
    best = record.best
    if best is not None:
        cv = _num(best.cv_score)
        if best.cv_std is not None:
            cv += f" ± {_num(best.cv_std)}"
        rows += [
            ("Best model", f"**{_cell(best.config.family)}** (trial {best.trial_id}, "
                           f"proposed by {best.source})"),
            ("CV score", f"{cv} ({record.task.n_folds}-fold cross-validation on the training "
                         "part)"),
            ("Holdout score", f"{_num(record.holdout_score)}, dummy baseline "
                              f"{_num(record.dummy_holdout_score)}: " + _improvement(
                                  record.holdout_score, record.dummy_holdout_score,
                                  record.direction)),
        ]
    lines = ["# mlpilot run report", "",
             f"Run `{record.run_id}`, mlpilot {record.mlpilot_version}, started "
             f"{record.created_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() + ".", ""]
    if record.task.description:
        lines += [f"> {_cell(record.task.description)}", ""]
    if best is None:
        lines += ["**No trial succeeded**, so no model was selected, nothing was refitted and "
                  "the holdout was not scored. The failures below say why.", ""]
    return [*lines, *_table(("", ""), rows), ""]


# --- the data ------------------------------------------------------------------------------


def _data_section(record: RunRecord, profile: DatasetProfile) -> list[str]:
    n_train = max(record.n_rows - record.n_holdout, 0)
    lines = [
        "## The data", "",
        f"- **{record.n_rows}** rows with a target; **{profile.n_rows_dropped}** dropped because "
        f"the target `{_cell(profile.target)}` was missing.",
        f"- **{record.n_holdout}** rows held out for the final test; **{n_train}** used for the "
        f"search. The profile below describes the training part ({profile.n_rows} rows).",
        f"- Features used: {profile.n_numeric} numeric, {profile.n_categorical} categorical; "
        f"{_num(profile.missing_fraction * 100, 1)}% of their cells are missing.",
    ]
    kinds = Counter(c.kind for c in profile.columns)
    if kinds:
        lines.append("- Raw columns by kind: "
                     + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ".")
    lines.append("")
    noted = [c for c in profile.columns if not c.used or c.note]
    if noted:
        lines += ["Columns dropped or changed:", ""]
        lines += _table(("column", "kind", "dtype", "missing", "distinct", "used", "why"),
                       [(f"`{_cell(c.name)}`", c.kind, _cell(c.dtype), str(c.n_missing),
                         str(c.n_unique), "yes" if c.used else "no", _cell(c.note or ""))
                        for c in noted])
        lines.append("")
    notices = [*profile.notices, *(n for n in record.notices if n not in profile.notices)]
    if notices:
        lines += ["Notices:", "", *(f"- {_cell(n)}" for n in notices), ""]
    return [*lines, *_target_lines(profile)]


def _target_lines(profile: DatasetProfile) -> list[str]:
    if profile.class_counts:
        total = sum(profile.class_counts.values()) or 1
        ordered = sorted(profile.class_counts.items(), key=lambda kv: -kv[1])
        rows = [(f"`{_cell(k)}`", str(v), f"{v / total * 100:.1f}%")
                for k, v in ordered[:_MAX_CLASS_ROWS]]
        lines = [f"Class balance in the training part ({len(ordered)} classes):", "",
                 *_table(("class", "rows", "share"), rows)]
        if len(ordered) > _MAX_CLASS_ROWS:
            lines.append(f"\n… and {len(ordered) - _MAX_CLASS_ROWS} smaller classes.")
        return [*lines, ""]
    if profile.task_type == "regression":
        return [f"Target distribution (training part): mean {_num(profile.target_mean)}, "
                f"standard deviation {_num(profile.target_std)}, skewness "
                f"{_num(profile.target_skew)}.", ""]
    return []


# --- the search ----------------------------------------------------------------------------


def _search_section(record: RunRecord, trials: Sequence[TrialResult], plots: Path) -> list[str]:
    direction = record.direction
    by_source = sorted(Counter(t.source for t in trials).items())
    lines = ["## The search", "",
             f"{_plural(len(trials), 'trial')} ran"
             + (": " + ", ".join(f"{n} from {s}" for s, n in by_source) if by_source else "")
             + ".", ""]
    families = family_summary(trials, direction)
    if len(families) == 1:
        lines += ["Only one model family was tried.", ""]
    if families:
        lines += [f"Best CV score per family ({_direction_words(direction)}):", ""]
        lines += _table(("family", "trials", "ok", "failed", "best CV score", "± std", "trial"),
                       [(f"`{_cell(f.family)}`", str(f.n_trials), str(f.n_ok), str(f.n_failed),
                         _num(f.best.cv_score if f.best else None),
                         _num(f.best.cv_std if f.best else None),
                         str(f.best.trial_id) if f.best else "n/a") for f in families])
        lines.append("")
    lines += _failure_lines(trials)
    lines += _winner_lines(record)
    lines += _time_lines(record)
    if any(is_scored(t) for t in trials):
        _plot_history(plots / "optimisation_history.png", trials, record.metric, direction)
        _plot_family_best(plots / "family_best.png", families, record.metric, direction)
        lines += ["![Optimisation history](plots/optimisation_history.png)", "",
                  "![Best CV score per family](plots/family_best.png)", ""]
    else:
        lines += ["No trial produced a CV score, so there is no search plot.", ""]
    return lines


def _failure_lines(trials: Sequence[TrialResult]) -> list[str]:
    failed = [t for t in trials if not t.ok]
    if not failed:
        return ["No trial failed.", ""]
    by_kind: dict[str, list[TrialResult]] = {}
    for t in failed:
        by_kind.setdefault(t.failure or "unknown", []).append(t)
    rows = []
    for kind, group in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        examples = list(dict.fromkeys(error_summary(t.error) or "(no message)" for t in group))
        rows.append((kind, str(len(group)), ", ".join(str(t.trial_id) for t in group[:10]),
                     "; ".join(f"`{_cell(e)}`" for e in examples[:2])))
    return [f"{_plural(len(failed), 'trial')} failed (a failed trial ranks last, it does not "
            "stop the run):",
            "", *_table(("failure", "count", "trials", "first error lines"), rows), ""]


def _winner_lines(record: RunRecord) -> list[str]:
    best = record.best
    if best is None:
        return []
    lines = [f"The winning configuration, `{_cell(best.config.family)}` (trial {best.trial_id}):",
             ""]
    if best.config.params:
        lines += _table(("parameter", "value"),
                       [(f"`{_cell(k)}`", _cell(_param_value(v)))
                        for k, v in sorted(best.config.params.items())])
    else:
        lines.append("(no parameters: the family's fixed defaults)")
    if best.fold_scores:
        lines += ["", "Fold scores: " + ", ".join(_num(s) for s in best.fold_scores) + "."]
    return [*lines, ""]


def _time_lines(record: RunRecord) -> list[str]:
    llm = record.llm
    if llm.model == "none" or llm.n_calls == 0:
        planner = f"no LLM calls (model: `{_cell(llm.model)}`); proposals came from defaults, " \
                  "memory and Bayesian optimisation."
    else:
        planner = (f"`{_cell(llm.model)}`, {llm.n_calls} calls, "
                   f"{llm.prompt_tokens + llm.completion_tokens} tokens, "
                   f"${llm.cost_usd:.4f}, {_seconds(llm.time_s)}.")
    return [
        f"- Time: {_seconds(record.search_time_s)} searching, {_seconds(record.finalize_time_s)} "
        f"finalizing (refit and holdout), {_seconds(record.total_time_s)} in all.",
        f"- Planner: {planner}",
        f"- Similar past runs consulted: {len(record.retrieved_runs)}.",
        f"- Sandbox isolation: **{_cell(record.isolation)}**, "
        f"{_ISOLATION_WORDS.get(record.isolation, 'not described')}",
        "",
    ]


# --- the holdout ---------------------------------------------------------------------------


def _holdout_section(record: RunRecord, holdout: HoldoutResult | None,
                     plots: Path) -> list[str]:
    lines = ["## The holdout", ""]
    if holdout is None:
        return [*lines, "No model was fitted, so the holdout was not used.", ""]
    y = np.asarray(holdout.y_true)
    pred, dummy = np.asarray(holdout.pred, dtype=float), np.asarray(holdout.dummy_pred, float)
    lines += [f"{len(y)} held-out rows; `{record.metric}`: model {_num(record.holdout_score)}, "
              f"dummy baseline {_num(record.dummy_holdout_score)}.", ""]
    if record.task_type == "regression":
        return [*lines, *_regression_lines(y.astype(float), pred.ravel(), dummy.ravel(), plots)]
    y = y.astype(int)
    if pred.ndim == 1:
        pred, dummy = np.column_stack([1 - pred, pred]), np.column_stack([1 - dummy, dummy])
    n_classes = pred.shape[1]
    classes = [str(c) for c in (holdout.classes or range(n_classes))]
    if record.task_type == "binary":
        threshold_note = " at a 0.5 threshold on the positive class"
        labels, dummy_labels = (pred[:, 1] >= 0.5).astype(int), (dummy[:, 1] >= 0.5).astype(int)
    else:
        threshold_note = " (most probable class)"
        labels, dummy_labels = pred.argmax(axis=1), dummy.argmax(axis=1)
    lines += [f"Accuracy{threshold_note}: model {np.mean(labels == y) * 100:.1f}%, dummy "
              f"baseline {np.mean(dummy_labels == y) * 100:.1f}%.", ""]
    if record.task_type == "binary":
        if _plot_roc(plots / "holdout_roc.png", y, pred[:, 1], dummy[:, 1], classes[1]):
            lines += ["![ROC curve on the holdout](plots/holdout_roc.png)", ""]
        else:
            lines += ["The holdout holds a single class, so there is no ROC curve.", ""]
    if n_classes > MAX_CM_CLASSES:
        return [*lines, f"With {n_classes} classes a confusion matrix would not be readable "
                        f"(the limit is {MAX_CM_CLASSES}); it was skipped.", ""]
    cm = _confusion_matrix(y, labels, n_classes)
    _plot_confusion(plots / "holdout_confusion.png", cm, classes, threshold_note.strip())
    if n_classes == 2:
        lines += _table(("actual \\ predicted", f"`{_cell(classes[0])}`", f"`{_cell(classes[1])}`"),
                       [(f"`{_cell(classes[i])}`", str(cm[i, 0]), str(cm[i, 1])) for i in (0, 1)])
        lines.append("")
    return [*lines, "![Confusion matrix on the holdout](plots/holdout_confusion.png)", ""]


def _regression_lines(y: np.ndarray, pred: np.ndarray, dummy: np.ndarray,
                      plots: Path) -> list[str]:
    def mae(p: np.ndarray) -> float:
        return float(np.mean(np.abs(y - p)))

    def rmse(p: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y - p) ** 2)))

    _plot_regression(plots, y, pred, dummy)
    return [f"Mean absolute error: model {_num(mae(pred))}, dummy baseline {_num(mae(dummy))}; "
            f"root mean squared error: model {_num(rmse(pred))}, dummy baseline "
            f"{_num(rmse(dummy))}.", "",
            "![Predicted vs actual on the holdout](plots/holdout_pred_vs_actual.png)", "",
            "![Residuals on the holdout](plots/holdout_residuals.png)", ""]


def _honesty_section(record: RunRecord) -> list[str]:
    lines = [
        "## How these numbers were made", "",
        f"- The holdout ({record.n_holdout} rows) was split off before the search and kept out "
        "of every trial, every proposal and every prompt; "
        + ("it was scored once, with the final model." if record.best is not None
           else "it was never scored, since no model was fitted."),
        "- Every score was computed by mlpilot's harness from the models' predictions; none "
        "was reported by a model, by generated code or by an LLM.",
        f"- CV scores are means over {record.task.n_folds} folds of the training part; "
        "\"± std\" is their standard deviation across folds.",
        "- The dummy baseline predicts the training class shares (classification) or the "
        "training mean (regression).",
    ]
    if record.direction == "minimize":
        lines.append(f"- `{record.metric}` is minimised: lower is better everywhere on this "
                     "page.")
    return [*lines, ""]


# --- formatting ----------------------------------------------------------------------------


def _num(value: float | None, digits: int = 4) -> str:
    """A number for the page: "n/a" for a missing or non-finite one, never "nan"."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) >= 1e6 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:.{digits}f}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _seconds(value: float) -> str:
    """A duration in the largest unit that keeps it short."""
    if not math.isfinite(value) or value < 0:
        return "n/a"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{int(value // 60)} min {int(value % 60):02d} s"
    return f"{int(value // 3600)} h {int(value % 3600 // 60):02d} min"


def _param_value(value: object) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.4g}" if math.isfinite(value) else "n/a"
    return "none" if value is None else str(value)


def _cell(text: object) -> str:
    """Text safe inside a Markdown table cell or inline code span."""
    return str(text).replace("\n", " ").replace("|", "\\|").replace("`", "'")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows)]


# --- plots ---------------------------------------------------------------------------------


def _figure(height_in: float) -> tuple[Figure, Axes]:
    """A pyplot-free figure on an Agg canvas, 800 px wide."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_FIG_WIDTH_IN, height_in), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=_DPI, format="png")
    logger.debug("wrote plot %s", path)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _plot_history(path: Path, trials: Sequence[TrialResult], metric: str,
                 direction: str) -> None:
    """Each trial's CV score in trial order, coloured by family, with the best-so-far line."""
    ordered = sorted(trials, key=lambda t: t.trial_id)
    scored = [t for t in ordered if is_scored(t)]
    families = list(dict.fromkeys(t.config.family for t in scored))
    fig, ax = _figure(5.0)
    for family, color in zip(families, _colors(len(families)), strict=True):
        points = [t for t in scored if t.config.family == family]
        ax.scatter([t.trial_id for t in points], [float(t.cv_score or 0.0) for t in points], s=40,
                   color=color, label=family, zorder=3)
    best: list[float] = []
    for t in scored:
        value = float(t.cv_score or 0.0)
        better = not best or (value > best[-1] if direction == "maximize" else value < best[-1])
        best.append(value if better else best[-1])
    ax.step([t.trial_id for t in scored], best, where="post", color="black", lw=1.5,
            label="best so far", zorder=2)
    winner = next(t for t in scored if float(t.cv_score or 0.0) == best[-1])
    ax.scatter([winner.trial_id], [best[-1]], s=200, facecolors="none", edgecolors="black",
               lw=1.5, label=f"winner (trial {winner.trial_id})", zorder=5)
    failed = [t.trial_id for t in ordered if not t.ok]
    if failed:
        edge = 0.03 if direction == "maximize" else 0.97  # at the worse end of the axis
        ax.scatter(failed, [edge] * len(failed), transform=ax.get_xaxis_transform(),
                   marker="x", s=50, color="red", label=f"failed ({len(failed)})", zorder=4)
    ids = [t.trial_id for t in ordered]
    ax.set_xlim(min(ids) - 0.5, max(ids) + 0.5)
    ax.margins(y=0.15)  # room at the edge for the failed trials' marks
    ax.set_title("Optimisation history: CV score of each trial", fontsize=13)
    ax.set_xlabel("trial number", fontsize=11)
    ax.set_ylabel(f"CV {metric} ({_direction_words(direction)})", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path)


def _plot_family_best(path: Path, families: Sequence[FamilySummary], metric: str,
                     direction: str) -> None:
    """Horizontal bars of each family's best CV score with its fold std, best on top."""
    bests = [(f.family, f.best) for f in families if f.best is not None][::-1]
    names = [name for name, _ in bests]
    values = np.array([float(b.cv_score or 0.0) for _, b in bests])
    errors = np.array([float(b.cv_std or 0.0) for _, b in bests])
    errors = np.where(np.isfinite(errors), errors, 0.0)
    fig, ax = _figure(max(2.8, 0.45 * len(names) + 1.6))
    colors = ["tab:blue"] * (len(names) - 1) + ["tab:orange"]
    ax.barh(names, values, xerr=errors, color=colors, capsize=4, height=0.6)
    lo, hi = float(np.min(values - errors)), float(np.max(values + errors))
    span = (hi - lo) or abs(hi) or 1.0
    if lo > 0 and lo - 0.6 * span > 0:  # zoom in where the differences are
        ax.set_xlim(lo - 0.6 * span, hi + 0.4 * span)
    for y, (value, err) in enumerate(zip(values, errors, strict=True)):
        ax.annotate(_num(value), (value + err, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=9)
    ax.set_title("Best CV score per model family (winner in orange)", fontsize=13)
    ax.set_xlabel(f"best CV {metric} ({_direction_words(direction)}); "
                  "error bars: std over folds", fontsize=11)
    ax.tick_params(axis="y", labelsize=10)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def _roc_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-score, kind="mergesort")
    y, score = y[order], score[order]
    cut = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(y)[cut]
    fps = cut + 1 - tps
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def _plot_roc(path: Path, y: np.ndarray, score: np.ndarray, dummy: np.ndarray,
             positive: str) -> bool:
    """ROC curves of the model and the dummy; False (nothing drawn) for a one-class holdout."""
    if len(np.unique(y)) < 2:
        return False
    fig, ax = _figure(6.5)
    for name, s, style in (("model", score, "-"), ("dummy baseline", dummy, "--")):
        fpr, tpr = _roc_points(y, s)
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        ax.plot(fpr, tpr, style, lw=2, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_aspect("equal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(f"ROC curve on the holdout (positive class: {positive})", fontsize=13)
    ax.set_xlabel("false positive rate", fontsize=11)
    ax.set_ylabel("true positive rate", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=10)
    _save(fig, path)
    return True


def _confusion_matrix(y: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(cm, (y, labels), 1)
    return cm


def _plot_confusion(path: Path, cm: np.ndarray, classes: Sequence[str], rule: str) -> None:
    """Counts of actual (rows) against predicted (columns) classes."""
    k = len(classes)
    fig, ax = _figure(6.0 if k <= 4 else 7.5)
    ax.imshow(cm, cmap="Blues")
    size = 14 if k <= 4 else 11 if k <= 8 else 9 if k <= 14 else 7
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=size,
                color="white" if count > cm.max() / 2 else "black")
    names = [c if len(c) <= 14 else c[:6] + "…" + c[-7:] for c in classes]  # keep both ends
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center",
                  fontsize=max(size - 1, 8))
    ax.set_yticks(range(k), names, fontsize=max(size - 1, 8))
    ax.set_title(f"Confusion matrix on the holdout\n{rule}", fontsize=13)
    ax.set_xlabel("predicted class", fontsize=11)
    ax.set_ylabel("actual class", fontsize=11)
    _save(fig, path)


def _plot_regression(plots: Path, y: np.ndarray, pred: np.ndarray, dummy: np.ndarray) -> None:
    """Predicted vs actual and residuals vs predicted, sampled down for big holdouts."""
    idx = np.arange(len(y))
    if len(y) > _MAX_POINTS:
        idx = np.sort(np.random.default_rng(0).choice(len(y), _MAX_POINTS, replace=False))
    y, pred, dummy = y[idx], pred[idx], dummy[idx]
    alpha = 0.7 if len(y) < 500 else 0.3
    fig, ax = _figure(6.5)
    ax.scatter(y, pred, s=14, alpha=alpha, label="model")
    ax.scatter(y, dummy, s=10, alpha=alpha, color="tab:grey", marker=".", label="dummy baseline")
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "--", color="black", lw=1, label="perfect prediction")
    ax.set_title("Predicted vs actual on the holdout", fontsize=13)
    ax.set_xlabel("actual value", fontsize=11)
    ax.set_ylabel("predicted value", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    _save(fig, plots / "holdout_pred_vs_actual.png")
    fig, ax = _figure(5.0)
    ax.scatter(pred, y - pred, s=14, alpha=alpha)
    ax.axhline(0.0, color="black", lw=1, ls="--")
    ax.set_title("Residuals on the holdout", fontsize=13)
    ax.set_xlabel("predicted value", fontsize=11)
    ax.set_ylabel("residual (actual − predicted)", fontsize=11)
    ax.grid(alpha=0.3)
    _save(fig, plots / "holdout_residuals.png")
