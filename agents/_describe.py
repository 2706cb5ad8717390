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
    blocks = []
    for space in spaces:
        params = "; ".join(f"{k} {_param(p)}" for k, p in space.params.items())
        default = ", ".join(f"{k}={_value(v)}" for k, v in space.default.items())
        blocks.append(f"- {space.name}: {space.description}\n  parameters: {params}\n"
                      f"  default: {default}")
    return "\n".join(blocks)


def describe_trials(trials: Sequence[TrialResult], task: TaskSpec, *, top: int = 12,
                    failed: int = 5) -> str:
    if not trials:
        return "none yet"
    direction = task.direction or "maximize"
    ranked = [t for t in rank_trials(trials, direction) if is_scored(t)]
    lines = [f"{len(trials)} trials, {sum(not t.ok for t in trials)} failed."]
    for t in ranked[:top]:
        lines.append(f"- {t.config.family} {_params(t)}: {t.cv_score:.4f} ± {t.cv_std or 0:.4f}"
                     f" ({t.source})")
    bad = [t for t in trials if not t.ok][-failed:]
    for t in bad:
        lines.append(f"- FAILED {t.config.family} {_params(t)}: {error_summary(t.error)}")
    return "\n".join(lines)


def describe_trial(trial: TrialResult) -> str:
    if trial.ok:
        folds = ", ".join(f"{s:.4f}" for s in trial.fold_scores)
        outcome = f"cv score {trial.cv_score:.4f} ± {trial.cv_std or 0:.4f} (folds: {folds})"
    else:
        outcome = f"failed ({trial.failure}): {error_summary(trial.error)}"
    return (f"- family {trial.config.family}, parameters {_params(trial)}\n- {outcome}\n"
            f"- fit time {trial.fit_time_s:.1f} s")


def _params(trial: TrialResult) -> str:
    return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in trial.config.params.items()) + "}"


def _param(param: Param) -> str:
    if isinstance(param, CategoricalParam):
        return "one of [" + ", ".join(_value(c) for c in param.choices) + "]"
    kind = "float" if isinstance(param, FloatParam) else "int"
    scale = ", log scale" if param.log else ""
    return f"{kind} in [{_value(param.low)}, {_value(param.high)}]{scale}"


def _value(v: ParamValue) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)
