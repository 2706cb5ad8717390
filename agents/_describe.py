"""Compact text views of a task, a profile, the catalog and the trials, for prompts."""

from __future__ import annotations

import math
from collections.abc import Sequence

from prompts import render
from schemas import (
    METRICS,
    CategoricalParam,
    DatasetProfile,
    FamilySpace,
    FloatParam,
    Param,
    ParamValue,
    TaskSpec,
    TrialConfig,
    TrialResult,
)
from tools.leaderboard import error_summary, is_scored, rank_trials

SYSTEM = "You are a careful machine-learning engineer. You answer with JSON only."


def context_messages(task: TaskSpec, profile: DatasetProfile, spaces: Sequence[FamilySpace],
                     job: str) -> list[dict[str, str]]:
    """The messages of a planner or critic request: a shared opening, then ``job``.

    Both start with the same system message and the same context (task,
    profile, catalog), so a local model reuses its evaluated prefix between
    requests instead of reading the long catalog again.
    """
    context = render("context", task=describe_task(task), profile=describe_profile(profile),
                     catalog=describe_catalog(spaces))
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": context + "\n" + job}]


def describe_task(task: TaskSpec) -> str:
    metric = task.metric or "?"
    info = METRICS.get(metric)
    lines = [f"- predict column {task.target!r} ({task.task_type} task)",
             f"- metric: {metric} ({task.direction}; {info.description if info else ''})",
             f"- budget: {task.budget.n_trials} trials"
             + (f", {task.budget.time_budget_s:g} s" if task.budget.time_budget_s else "")]
    if task.description:
        lines.append(f"- the user asked: {task.description}")
    return "\n".join(lines)


def describe_profile(profile: DatasetProfile) -> str:
    mf = profile.meta_feature_dict()
    n_feat = profile.n_numeric + profile.n_categorical
    lines = [f"- {profile.n_rows} rows, {n_feat} features ({profile.n_numeric} numeric, "
             f"{profile.n_categorical} categorical), {profile.missing_fraction:.1%} cells missing"]
    if profile.class_counts:
        counts = ", ".join(f"{k}: {v}" for k, v in list(profile.class_counts.items())[:10])
        lines.append(f"- classes: {counts}")
    if profile.task_type == "regression" and profile.target_mean is not None:
        lines.append(f"- target mean {profile.target_mean:.4g}, std {profile.target_std:.4g}, "
                     f"skew {profile.target_skew or 0:.2f}")
    lines.append(f"- quick landmarks (3-fold, sample): stump {mf['landmark_stump']:.3f}, "
                 f"linear {mf['landmark_linear']:.3f}, depth-3 tree {mf['landmark_nb']:.3f}")
    lines.append(f"- mean |correlation| between numeric features {mf['mean_abs_corr']:.2f}, "
                 f"mean |skew| {10 * mf['mean_abs_skew']:.1f}")
    return "\n".join(lines)


def describe_catalog(spaces: Sequence[FamilySpace]) -> str:
    """One short block per family: what it is, then each parameter's range and default."""
    blocks = []
    for space in spaces:
        params = ", ".join(f"{k} ({_param(p)}; default {_value(space.default[k])})"
                           for k, p in space.params.items())
        blocks.append(f"- {space.name}: {space.description}\n  {params}")
    return "\n".join(blocks)


def shown_spaces(spaces: Sequence[FamilySpace], profile: DatasetProfile
                 ) -> tuple[FamilySpace, ...]:
    """The spaces as the LLM sees them: without parameters that cannot matter on this data.

    Imputation cannot matter without missing values, the categorical encoding not
    without categorical columns. Hiding them shortens the prompt and every answer
    (prompt tokens are most of a local model's latency); a proposal comes back
    without them and validation fills in the family's default.
    """
    hidden = set()
    if profile.missing_fraction == 0:
        hidden.add("num_impute")
    if profile.n_categorical == 0:
        hidden.add("cat_encode")
    if not hidden:
        return tuple(spaces)
    return tuple(s.model_copy(update={
        "params": {k: v for k, v in s.params.items() if k not in hidden},
        "default": {k: v for k, v in s.default.items() if k not in hidden}}) for s in spaces)


def describe_trials(trials: Sequence[TrialResult], task: TaskSpec, *, top: int = 12,
                    failed: int = 5, shown: Sequence[FamilySpace] = ()) -> str:
    """The best and the latest failed trials, a line each; parameters hidden from the
    ``shown`` spaces are left out (they are at their defaults, or cannot matter)."""
    if not trials:
        return "none yet"
    direction = task.direction or "maximize"
    ranked = [t for t in rank_trials(trials, direction) if is_scored(t)]
    lines = [f"{len(trials)} trials, {sum(not t.ok for t in trials)} failed."]
    keep = {s.name: set(s.params) for s in shown}
    for t in ranked[:top]:
        config = describe_config(t.config, keep.get(t.config.family))
        lines.append(f"- {config}: {t.cv_score:.4f} ± {t.cv_std or 0:.4f}"
                     f" ({t.source})")
    bad = [t for t in trials if not t.ok][-failed:]
    for t in bad:
        config = describe_config(t.config, keep.get(t.config.family))
        lines.append(f"- FAILED {config}: {error_summary(t.error)}")
    return "\n".join(lines)


def describe_trial(trial: TrialResult) -> str:
    if trial.ok:
        folds = ", ".join(f"{s:.4f}" for s in trial.fold_scores)
        outcome = f"cv score {trial.cv_score:.4f} ± {trial.cv_std or 0:.4f} (folds: {folds})"
    else:
        outcome = f"failed ({trial.failure}): {error_summary(trial.error)}"
    return (f"- family {trial.config.family}, parameters {_params(trial.config)}\n- {outcome}\n"
            f"- fit time {trial.fit_time_s:.1f} s")


def describe_config(config: TrialConfig, keep: set[str] | None = None) -> str:
    """``family {param: value, ...}``; with ``keep``, only those parameters."""
    return f"{config.family} {_params(config, keep)}"


def _params(config: TrialConfig, keep: set[str] | None = None) -> str:
    items = [(k, v) for k, v in config.params.items() if keep is None or k in keep]
    return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in items) + "}"


def _param(param: Param) -> str:
    if isinstance(param, CategoricalParam):
        return ", ".join(_value(c) for c in param.choices)
    kind = "float" if isinstance(param, FloatParam) else "int"
    scale = ", log" if param.log else ""
    return f"{kind} {_value(param.low)} to {_value(param.high)}{scale}"


def _value(v: ParamValue) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        text = f"{v:.4g}"  # 1e-06 -> 1e-6: each digit is a token to the model
        return text.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)
