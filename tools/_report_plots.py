"""The run report's plots: the search and the holdout, as 800-px-wide PNGs.

The plots use matplotlib's Agg canvas (no screen, no pyplot state), imported
lazily inside the functions so ``import tools.report`` stays cheap and never
loads matplotlib.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from schemas import TrialResult
from tools._report_fmt import direction_words, num
from tools.leaderboard import FamilySummary, is_scored

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["confusion_matrix", "plot_confusion", "plot_family_best", "plot_history",
           "plot_regression", "plot_roc", "roc_points"]

logger = logging.getLogger(__name__)

_FIG_WIDTH_IN, _DPI = 8.0, 100  # 800 px wide: readable without zooming
_MAX_POINTS = 5000  # scatter plots sample down to this many points


def _figure(height_in: float) -> tuple[Figure, Axes]:
    """A pyplot-free figure on an Agg canvas, 800 px wide."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_FIG_WIDTH_IN, height_in), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _label(ax: Axes, title: str, xlabel: str, ylabel: str | None = None) -> None:
    """Title and axis labels in the same sizes on every plot."""
    ax.set_title(title, fontsize=13)
    ax.set_xlabel(xlabel, fontsize=11)
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=11)


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=_DPI, format="png")
    logger.debug("wrote plot %s", path)


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_history(path: Path, trials: Sequence[TrialResult], metric: str,
                 direction: str) -> None:
    """Each trial's CV score in trial order, coloured by family, with the best-so-far line.

    Needs at least one scored trial.
    """
    ordered = sorted(trials, key=lambda t: t.trial_id)
    scored = [t for t in ordered if is_scored(t)]
    families = list(dict.fromkeys(t.config.family for t in scored))
    fig, ax = _figure(5.0)
    for family, color in zip(families, _colors(len(families)), strict=True):
        points = [t for t in scored if t.config.family == family]
        ax.scatter([t.trial_id for t in points], [float(t.cv_score or 0.0) for t in points], s=40,
                   color=color, label=family, zorder=3)
    values = np.array([float(t.cv_score or 0.0) for t in scored])
    accumulate = np.maximum.accumulate if direction == "maximize" else np.minimum.accumulate
    best = accumulate(values)
    ax.step([t.trial_id for t in scored], best, where="post", color="black", lw=1.5,
            label="best so far", zorder=2)
    winner = scored[int(np.flatnonzero(values == best[-1])[0])]
    ax.scatter([winner.trial_id], [best[-1]], s=200, facecolors="none", edgecolors="black",
               lw=1.5, label=f"winner (trial {winner.trial_id})", zorder=5)
    failed = [t.trial_id for t in ordered if not t.ok]
    if failed:
        edge = 0.03 if direction == "maximize" else 0.97  # at the worse end of the axis
        ax.scatter(failed, [edge] * len(failed), transform=ax.get_xaxis_transform(),
                   marker="x", s=50, color="red", label=f"failed ({len(failed)})", zorder=4)
    ax.set_xlim(ordered[0].trial_id - 0.5, ordered[-1].trial_id + 0.5)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.15)  # room at the edge for the failed trials' marks
    _label(ax, "Optimisation history: CV score of each trial", "trial number",
           f"CV {metric} ({direction_words(direction)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path)


def plot_family_best(path: Path, families: Sequence[FamilySummary], metric: str,
                     direction: str) -> None:
    """Horizontal bars of each family's best CV score with its fold std, best on top.

    Needs at least one family with a scored trial.
    """
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
        ax.annotate(num(value), (value + err, y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=9)
    _label(ax, "Best CV score per model family (winner in orange)",
           f"best CV {metric} ({direction_words(direction)}); error bars: std over folds")
    ax.tick_params(axis="y", labelsize=10)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def roc_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score threshold, from (0, 0)."""
    order = np.argsort(-score, kind="mergesort")
    y, score = y[order], score[order]
    cut = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(y)[cut]
    fps = cut + 1 - tps
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def plot_roc(path: Path, y: np.ndarray, score: np.ndarray, dummy: np.ndarray,
             positive: str) -> bool:
    """ROC curves of the model and the dummy; False (nothing drawn) for a one-class holdout."""
    if len(np.unique(y)) < 2:
        return False
    fig, ax = _figure(6.5)
    for name, s, style in (("model", score, "-"), ("dummy baseline", dummy, "--")):
        fpr, tpr = roc_points(y, s)
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        ax.plot(fpr, tpr, style, lw=2, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_aspect("equal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    _label(ax, f"ROC curve on the holdout (positive class: {positive})", "false positive rate",
           "true positive rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=10)
    _save(fig, path)
    return True


def confusion_matrix(y: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of actual class codes (rows) against predicted ones (columns)."""
    cm = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(cm, (y, labels), 1)
    return cm


def plot_confusion(path: Path, cm: np.ndarray, classes: Sequence[str], rule: str) -> None:
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
    _label(ax, f"Confusion matrix on the holdout\n{rule}", "predicted class", "actual class")
    _save(fig, path)


def plot_regression(plots: Path, y: np.ndarray, pred: np.ndarray, dummy: np.ndarray) -> None:
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
    _label(ax, "Predicted vs actual on the holdout", "actual value", "predicted value")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10)
    _save(fig, plots / "holdout_pred_vs_actual.png")
    fig, ax = _figure(5.0)
    ax.scatter(pred, y - pred, s=14, alpha=alpha)
    ax.axhline(0.0, color="black", lw=1, ls="--")
    _label(ax, "Residuals on the holdout", "predicted value", "residual (actual − predicted)")
    ax.grid(alpha=0.3)
    _save(fig, plots / "holdout_residuals.png")
