"""The run report: one Markdown page that says what was tried, what won and how well.

A data scientist reads ``report.md`` after a run to decide whether to trust
the model. So the page leads with the answer (winner, CV score, holdout score
against the dummy baseline), then shows the evidence: the data as the search
saw it, every family tried, every failure, and plots of the search and of the
holdout. Numbers and table cells are formatted in ``tools._report_fmt``, so no
"nan" reaches the page; the plots are drawn in ``tools._report_plots``, which
loads matplotlib only when a plot is drawn.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas import METRICS, ConfigError, DatasetProfile, RunRecord, TrialResult
from tools._report_agents import agents_section, code_section, memory_section
from tools._report_fmt import cell, direction_words, num, param_value, plural, seconds, table
from tools._report_plots import (
    confusion_matrix,
    plot_confusion,
    plot_family_best,
    plot_history,
    plot_regression,
    plot_roc,
)
from tools.leaderboard import (
    check_direction,
    error_summary,
    family_summary,
    is_scored,
    leaderboard_frame,
    write_leaderboard,
)

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


@dataclass(frozen=True)
class HoldoutResult:
    """The final model's and the dummy baseline's predictions on the held-out rows."""

    y_true: np.ndarray  # int codes 0..K-1 or float values
    pred: np.ndarray  # probabilities (n, K) for classification, values (n,) for regression
    dummy_pred: np.ndarray  # same shape: the dummy baseline's prediction
    classes: tuple[Any, ...] | None  # label of each code, None for regression
    threshold: float | None = None  # the final model's decision threshold (binary), if any
    dummy_threshold: float | None = None  # the dummy's own, chosen the same way


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
        *memory_section(record),
        *agents_section(record),
        *code_section(record, trials),
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


def _improvement(score: float | None, dummy: float | None, direction: str) -> str:
    """How the model's holdout score compares with the dummy baseline's, in words."""
    if score is None or dummy is None or not (math.isfinite(score) and math.isfinite(dummy)):
        return "no comparison available"
    gain = score - dummy if direction == "maximize" else dummy - score
    if gain == 0:
        return "no better"
    word = "better" if gain > 0 else "worse"
    side = "higher" if score > dummy else "lower"
    if abs(dummy) < 1e-12:
        return f"{word}, {num(abs(gain))} {side}"
    return f"{word}, {abs(gain) / abs(dummy) * 100:.1f}% {side} (by {num(abs(gain))})"


def _final_model_words(record: RunRecord) -> str:
    threshold = "" if record.decision_threshold is None else (
        f"; it says the positive class from a probability of {record.decision_threshold:.3g} "
        f"on, the decision threshold that scored best for {record.metric} on the out-of-fold "
        "predictions (every CV score here labels each fold at the threshold chosen on the "
        "other folds, so the choice does not flatter it)")
    if len(record.ensemble) <= 1:
        return "the best trial alone, refitted on all training rows" + threshold
    parts = ", ".join(f"{cell(m.family)} #{m.trial_id} ({m.weight:.0%})" for m in record.ensemble)
    return (f"a weighted average of {len(record.ensemble)} trials chosen greedily on their "
            f"out-of-fold predictions: {parts}; CV {num(record.ensemble_cv_score)} (chosen on "
            "the same folds, so slightly optimistic), each refitted on all training rows"
            + threshold)


def _headline(record: RunRecord, holdout: HoldoutResult | None) -> list[str]:
    info = METRICS.get(record.metric)
    metric = f"`{record.metric}`"
    if info is not None:
        metric += f", {info.description}"
    metric += f": **{direction_words(record.direction)}**"
    data_name = Path(str(record.task.data_path)).name
    rows = [
        ("Status", f"{record.status}; stopped because: {cell(record.stop_reason)}"),
        ("Task", f"{_TASK_WORDS.get(record.task_type, record.task_type)} of "
                 f"`{cell(record.task.target)}` in `{cell(data_name)}`"),
        ("Metric", metric),
        ("Trials", f"{record.n_trials} run, {record.n_failed} failed"),
    ]
    best = record.best
    if best is not None:
        cv = num(best.cv_score)
        if best.cv_std is not None:
            cv += f" ± {num(best.cv_std)}"
        rows += [
            ("Best model", f"**{cell(best.config.family)}** (trial {best.trial_id}, "
                           f"proposed by {best.source})"),
            ("CV score", f"{cv} ({record.task.n_folds}-fold cross-validation on the training "
                         "part)"),
            ("Final model", _final_model_words(record)),
            ("Holdout score", f"{num(record.holdout_score)} against the dummy baseline's "
                              f"{num(record.dummy_holdout_score)}: " + _improvement(
                                  record.holdout_score, record.dummy_holdout_score,
                                  record.direction)),
        ]
    lines = ["# mlpilot run report", "",
             f"Run `{record.run_id}`, mlpilot {record.mlpilot_version}, started "
             f"{record.created_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() + ".", ""]
    if record.task.description:
        lines += [f"> {cell(record.task.description)}", ""]
    if best is None:
        lines += ["**No trial succeeded**, so no model was selected, nothing was refitted and "
                  "the holdout was not scored. The failures below say why.", ""]
    return [*lines, *table(("", ""), rows), ""]


# --- the data ------------------------------------------------------------------------------


def _data_section(record: RunRecord, profile: DatasetProfile) -> list[str]:
    n_train = max(record.n_rows - record.n_holdout, 0)
    n_dates = sum(c.kind == "datetime" and c.used for c in profile.columns)
    lines = [
        "## The data", "",
        f"- **{record.n_rows}** rows with a target; **{profile.n_rows_dropped}** dropped because "
        f"the target `{cell(profile.target)}` was missing.",
        f"- **{record.n_holdout}** rows held out for the final test; **{n_train}** used for the "
        f"search. The profile below describes the training part ({profile.n_rows} rows).",
        f"- Features used: {profile.n_numeric} numeric, {profile.n_categorical} categorical"
        + (f", {n_dates} date (expanded into parts)" if n_dates else "")
        + f"; {num(profile.missing_fraction * 100, 1)}% of their cells are missing.",
    ]
    kinds = Counter(c.kind for c in profile.columns)
    if kinds:
        lines.append("- Raw columns by kind: "
                     + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ".")
    lines.append("")
    noted = [c for c in profile.columns if not c.used or c.note]
    if noted:
        lines += ["Columns dropped or changed:", ""]
        lines += table(("column", "kind", "dtype", "missing", "distinct", "used", "why"),
                      [(f"`{cell(c.name)}`", c.kind, cell(c.dtype), str(c.n_missing),
                        str(c.n_unique), "yes" if c.used else "no", cell(c.note or ""))
                       for c in noted])
        lines.append("")
    notices = [*profile.notices, *(n for n in record.notices if n not in profile.notices)]
    if notices:
        lines += ["Notices:", "", *(f"- {cell(n)}" for n in notices), ""]
    return [*lines, *_target_lines(profile)]


def _target_lines(profile: DatasetProfile) -> list[str]:
    if profile.class_counts:
        total = sum(profile.class_counts.values()) or 1
        ordered = sorted(profile.class_counts.items(), key=lambda kv: -kv[1])
        rows = [(f"`{cell(k)}`", str(v), f"{v / total * 100:.1f}%")
                for k, v in ordered[:_MAX_CLASS_ROWS]]
        lines = [f"Class balance in the training part ({len(ordered)} classes):", "",
                 *table(("class", "rows", "share"), rows)]
        if len(ordered) > _MAX_CLASS_ROWS:
            lines.append(f"\n… and {len(ordered) - _MAX_CLASS_ROWS} smaller classes.")
        return [*lines, ""]
    if profile.task_type == "regression":
        return [f"Target distribution (training part): mean {num(profile.target_mean)}, "
                f"standard deviation {num(profile.target_std)}, skewness "
                f"{num(profile.target_skew)}.", ""]
    return []


# --- the search ----------------------------------------------------------------------------


def _search_section(record: RunRecord, trials: Sequence[TrialResult], plots: Path) -> list[str]:
    direction = record.direction
    by_source = sorted(Counter(t.source for t in trials).items())
    lines = ["## The search", "",
             f"{plural(len(trials), 'trial')} ran"
             + (": " + ", ".join(f"{n} from {s}" for s, n in by_source) if by_source else "")
             + ".", ""]
    families = family_summary(trials, direction)
    if len(families) == 1:
        lines += ["Only one model family was tried.", ""]
    if families:
        lines += [f"Best CV score per family ({direction_words(direction)}):", ""]
        lines += table(("family", "trials", "ok", "failed", "best CV score", "± std", "trial"),
                      [(f"`{cell(f.family)}`", str(f.n_trials), str(f.n_ok), str(f.n_failed),
                        num(f.best.cv_score if f.best else None),
                        num(f.best.cv_std if f.best else None),
                        str(f.best.trial_id) if f.best else "n/a") for f in families])
        lines.append("")
    lines += _failure_lines(trials)
    lines += _winner_lines(record)
    lines += _time_lines(record)
    if any(is_scored(t) for t in trials):
        plot_history(plots / "optimisation_history.png", trials, record.metric, direction)
        plot_family_best(plots / "family_best.png", families, record.metric, direction)
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
                     "; ".join(f"`{cell(e)}`" for e in examples[:2])))
    return [f"{plural(len(failed), 'trial')} failed (a failed trial ranks last, it does not "
            "stop the run):",
            "", *table(("failure", "count", "trials", "first error lines"), rows), ""]


def _winner_lines(record: RunRecord) -> list[str]:
    best = record.best
    if best is None:
        return []
    lines = [f"The winning configuration, `{cell(best.config.family)}` (trial {best.trial_id}):",
             ""]
    if best.config.params:
        lines += table(("parameter", "value"),
                      [(f"`{cell(k)}`", cell(param_value(v)))
                       for k, v in sorted(best.config.params.items())])
    else:
        lines.append("(no parameters: the family's fixed defaults)")
    if best.fold_scores:
        lines += ["", "Fold scores: " + ", ".join(num(s) for s in best.fold_scores) + "."]
    return [*lines, ""]


def _time_lines(record: RunRecord) -> list[str]:
    llm = record.llm
    if llm.model == "none" or llm.n_calls == 0:
        planner = f"no LLM calls (model: `{cell(llm.model)}`); proposals came from defaults, " \
                  "memory and Bayesian optimisation."
    else:
        planner = (f"`{cell(llm.model)}`, {llm.n_calls} calls, "
                   f"{llm.prompt_tokens + llm.completion_tokens} tokens, "
                   f"${llm.cost_usd:.4f}, {seconds(llm.time_s)}.")
    return [
        f"- Time: {seconds(record.startup_time_s)} starting (intake, profile, sandbox workers), "
        f"{seconds(record.search_time_s)} searching, {seconds(record.finalize_time_s)} "
        f"finalizing (refit and holdout), {seconds(record.total_time_s)} in all.",
        f"- Planner: {planner}",
        f"- Similar past runs consulted: {len(record.retrieved_runs)}.",
        f"- Sandbox isolation: **{cell(record.isolation)}**, "
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
    lines += [f"{len(y)} held-out rows; `{record.metric}`: model {num(record.holdout_score)}, "
              f"dummy baseline {num(record.dummy_holdout_score)}.", ""]
    if record.task_type == "regression":
        return [*lines, *_regression_lines(y.astype(float), pred.ravel(), dummy.ravel(), plots)]
    if pred.ndim == 1:
        pred, dummy = np.column_stack([1 - pred, pred]), np.column_stack([1 - dummy, dummy])
    classes = [str(c) for c in (holdout.classes or range(pred.shape[1]))]
    return [*lines, *_classification_lines(record.task_type == "binary", y.astype(int), pred,
                                           dummy, classes, plots, holdout.threshold)]


def _classification_lines(binary: bool, y: np.ndarray, pred: np.ndarray, dummy: np.ndarray,
                          classes: Sequence[str], plots: Path,
                          threshold: float | None = None) -> list[str]:
    """Accuracy against the dummy, the ROC curve (binary) and the confusion matrix."""
    if binary:
        cut = 0.5 if threshold is None else threshold
        rule = (f"at a {cut:.3g} threshold on the positive class"
                + ("" if threshold is None else " (the model's decision threshold)"))
        labels, dummy_labels = (pred[:, 1] >= cut).astype(int), (dummy[:, 1] >= 0.5).astype(int)
    else:
        rule = "(most probable class)"
        labels, dummy_labels = pred.argmax(axis=1), dummy.argmax(axis=1)
    lines = [f"Accuracy {rule}: model {np.mean(labels == y) * 100:.1f}%, dummy "
             f"baseline {np.mean(dummy_labels == y) * 100:.1f}%.", ""]
    if binary:
        if plot_roc(plots / "holdout_roc.png", y, pred[:, 1], dummy[:, 1], classes[1]):
            lines += ["![ROC curve on the holdout](plots/holdout_roc.png)", ""]
        else:
            lines += ["The holdout holds a single class, so there is no ROC curve.", ""]
    n_classes = len(classes)
    if n_classes > MAX_CM_CLASSES:
        return [*lines, f"With {n_classes} classes a confusion matrix would not be readable "
                        f"(the limit is {MAX_CM_CLASSES}); it was skipped.", ""]
    cm = confusion_matrix(y, labels, n_classes)
    plot_confusion(plots / "holdout_confusion.png", cm, classes, rule)
    if n_classes == 2:
        lines += table(("actual \\ predicted", f"`{cell(classes[0])}`", f"`{cell(classes[1])}`"),
                       [(f"`{cell(classes[i])}`", str(cm[i, 0]), str(cm[i, 1])) for i in (0, 1)])
        lines.append("")
    return [*lines, "![Confusion matrix on the holdout](plots/holdout_confusion.png)", ""]


def _regression_lines(y: np.ndarray, pred: np.ndarray, dummy: np.ndarray,
                      plots: Path) -> list[str]:
    def mae(p: np.ndarray) -> float:
        return float(np.mean(np.abs(y - p)))

    def rmse(p: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y - p) ** 2)))

    plot_regression(plots, y, pred, dummy)
    return [f"Mean absolute error: model {num(mae(pred))}, dummy baseline {num(mae(dummy))}; "
            f"root mean squared error: model {num(rmse(pred))}, dummy baseline "
            f"{num(rmse(dummy))}.", "",
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
        "training mean (regression)"
        + ("; for this label metric it labels every row with one class, whichever scores "
           "better on the training folds (for F1, usually the positive one)."
           if record.decision_threshold is not None else "."),
    ]
    if record.direction == "minimize":
        lines.append(f"- `{record.metric}` is minimised: lower is better everywhere on this "
                     "page.")
    return [*lines, ""]
