"""Answer a question about a finished run from the run's own record, never from guesses.

``answer`` builds the facts deterministically (best family and parameters, CV
mean ± std, holdout against the dummy baseline, runner-up families and the gap,
failed trials grouped by family and failure kind, trials by source, why the
search stopped). Without an LLM those facts are the answer. With one, the facts,
and nothing else, go into ``prompts/explain.md`` and the model may phrase them;
an answer that quotes a number the facts do not hold is discarded, as is any
``LLMError``, and the facts are returned instead.

For ``more_trials`` and ``export`` the answer says what will be done; the
caller does it, acting on the ``FollowUp`` itself.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from schemas import ConfigError, FollowUp, LLMError, RunRecord, TrialResult
from tools._report_fmt import direction_words, num, param_value, plural, seconds
from tools.leaderboard import FamilySummary, family_summary, is_scored

if TYPE_CHECKING:
    from tools.llm import LLMClient
    from tools.request import Renderer

log = logging.getLogger(__name__)

__all__ = ["ExplainAnswer", "answer", "facts"]

_MAX_RUNNERS_UP = 3
_MAX_ERROR_CHARS = 200
_FREE_INTEGERS = 10  # small counts ("two families") need no backing fact
_PHRASED = ("why_best", "failures", "compare", "summary", "unknown")
_SOURCES = {"default": "the family's default configuration", "bo": "Bayesian optimisation",
            "llm": "the LLM planner", "memory": "a similar past run",
            "repair": "the LLM critic's repair"}


class ExplainAnswer(BaseModel):
    """The LLM's answer: the facts, phrased for the question."""

    answer: str


def answer(followup: FollowUp, *, record: RunRecord, trials: Sequence[TrialResult],
           llm: LLMClient | None = None, render: Renderer | None = None) -> str:
    """A grounded answer to ``followup`` about the run of ``record`` and its ``trials``.

    ``render`` is ``prompts.render`` (``tools`` does not import ``prompts``); it
    is needed whenever ``llm`` is.
    """
    lines = facts(followup, record=record, trials=trials)
    text = "\n".join(lines)
    if llm is None or followup.kind not in _PHRASED:
        return text
    if render is None:
        raise ConfigError("The 'render' parameter must be given with 'llm' (pass "
                          "prompts.render); got None instead.")
    context = lines if followup.kind != "unknown" else _summary(record, trials)
    prompt = render("explain", question=followup.text,
                    facts="\n".join(f"- {line}" for line in context))
    try:
        reply = llm.complete([{"role": "user", "content": prompt}], ExplainAnswer,
                             purpose="explain")
    except LLMError as exc:
        log.warning("explain: the LLM gave no usable answer (%s); using the facts", exc)
        return text
    phrased = reply.answer.strip()
    stray = _ungrounded_numbers(phrased, "\n".join([*context, followup.text]))
    if not phrased or stray:
        log.warning("explain: dropped the LLM's answer (numbers not in the facts: %s)", stray)
        return text
    return phrased


def facts(followup: FollowUp, *, record: RunRecord, trials: Sequence[TrialResult]) -> list[str]:
    """The deterministic answer, one sentence per line (``answer`` joins them with newlines)."""
    if followup.kind == "why_best":
        return _why_best(record, trials, followup.families)
    if followup.kind == "failures":
        return _failures(record, trials, followup.families)
    if followup.kind == "compare":
        return _compare(record, trials, followup.families)
    if followup.kind == "summary":
        return _summary(record, trials)
    if followup.kind == "more_trials":
        return _more_trials(record, followup)
    if followup.kind == "export":
        return _export(record, followup)
    return ["I can explain why the best model won, list what failed, compare model families, "
            "run more trials, export the model or summarize the run."]


# ----------------------------------------------------------------------------- pieces
def _score(trial: TrialResult) -> str:
    spread = f" ± {num(trial.cv_std)}" if trial.cv_std is not None else ""
    return f"{num(trial.cv_score)}{spread}"


def _metric(record: RunRecord) -> str:
    return f"{record.metric} ({direction_words(record.direction)})"


def _best_line(record: RunRecord) -> str:
    best = record.best
    assert best is not None
    return (f"The best trial was #{best.trial_id}, a {best.config.family} model from "
            f"{_SOURCES.get(best.source, best.source)}, with a cross-validated {record.metric} "
            f"of {_score(best)} "
            f"(mean ± std over {record.task.n_folds} folds; {direction_words(record.direction)}).")


def _params_line(trial: TrialResult) -> str:
    params = ", ".join(f"{k}={param_value(trial.config.params[k])}"
                       for k in sorted(trial.config.params))
    return f"Its parameters: {params or 'the defaults'}."


def _holdout_line(record: RunRecord) -> str | None:
    if record.holdout_score is None:
        return None
    final = "ensemble" if len(record.ensemble) > 1 else "model"
    line = (f"On the {record.n_holdout} holdout rows, never seen during the search, the final "
            f"{final} scored {num(record.holdout_score)}")
    if record.dummy_holdout_score is None:
        return line + "."
    better = (record.holdout_score > record.dummy_holdout_score
              if record.direction == "maximize"
              else record.holdout_score < record.dummy_holdout_score)
    return (f"{line} against {num(record.dummy_holdout_score)} for the dummy baseline "
            f"({'better' if better else 'not better'} than the baseline).")


def _ensemble_line(record: RunRecord) -> str | None:
    if len(record.ensemble) < 2:
        return None
    members = ", ".join(f"#{m.trial_id} {m.family} ({m.weight:.2f})" for m in record.ensemble)
    cv = (f"; its CV {record.metric} is {num(record.ensemble_cv_score)}, chosen on the same "
          "folds and so slightly optimistic" if record.ensemble_cv_score is not None else "")
    return f"The final model averages {len(record.ensemble)} trials: {members}{cv}."


def _threshold_line(record: RunRecord) -> str | None:
    if record.decision_threshold is None:
        return None
    return (f"It says the positive class from a probability of "
            f"{record.decision_threshold:.3g} on: the decision threshold that scored best for "
            f"{record.metric} on the out-of-fold predictions (the holdout never chose it).")


def _gap(record: RunRecord, a: TrialResult, b: TrialResult) -> float:
    """How far ``b`` is behind ``a`` (positive when ``a`` is better)."""
    diff = float(a.cv_score or 0.0) - float(b.cv_score or 0.0)
    return diff if record.direction == "maximize" else -diff


def _gap_words(record: RunRecord, a: TrialResult, b: TrialResult) -> str:
    gap = _gap(record, a, b)
    spread = max(a.cv_std or 0.0, b.cv_std or 0.0)
    within = ("within the fold-to-fold spread, so the order is not certain"
              if abs(gap) <= spread else "more than the fold-to-fold spread")
    return f"{num(abs(gap))} ({within})"


def _families(record: RunRecord, trials: Sequence[TrialResult]) -> list[FamilySummary]:
    return family_summary(trials, record.direction)


def _why_best(record: RunRecord, trials: Sequence[TrialResult],
              asked: tuple[str, ...] | None) -> list[str]:
    if record.best is None or not is_scored(record.best):
        return ["No trial produced a score, so no model won.",
                *_failures(record, trials, None)]
    best = record.best
    lines = [_best_line(record), _params_line(best)]
    lines += [line for line in (_ensemble_line(record), _threshold_line(record),
                                _holdout_line(record)) if line]
    others = [s for s in _families(record, trials)
              if s.family != best.config.family and s.best is not None]
    if others:
        lines += [f"Runner-up {s.family}: best {_score(b)}, behind by "
                  f"{_gap_words(record, best, b)}."
                  for s in others[:_MAX_RUNNERS_UP] if (b := s.best) is not None]
    else:
        lines.append("No other family produced a score.")
    for family in asked or ():
        if family == best.config.family:
            continue
        summary = next((s for s in _families(record, trials) if s.family == family), None)
        if summary is None:
            lines.append(f"{family} was not tried in this run.")
        elif summary.best is None:
            lines.append(f"{family} did not win: none of its {summary.n_trials} trials "
                         "produced a score.")
        else:
            lines.append(f"{family} did not win: its best was {_score(summary.best)}, "
                         f"behind by {_gap_words(record, best, summary.best)}.")
    return lines


def _last_line(error: str | None) -> str:
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return "no error message"
    line = lines[-1]
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


def _failures(record: RunRecord, trials: Sequence[TrialResult],
              asked: tuple[str, ...] | None) -> list[str]:
    failed = [t for t in trials if not t.ok and (not asked or t.config.family in asked)]
    scope = f" among {', '.join(asked)} trials" if asked else ""
    if not failed:
        n = sum(1 for t in trials if not asked or t.config.family in asked)
        return [f"No trial failed{scope}: all {plural(n, 'trial')} produced predictions."]
    lines = [f"{len(failed)} of {plural(len(trials), 'trial')} failed{scope}."]
    groups: dict[tuple[str, str], list[TrialResult]] = defaultdict(list)
    for t in failed:
        groups[t.config.family, t.failure or "exception"].append(t)
    for (family, kind), group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        ids = ", ".join(f"#{t.trial_id}" for t in group)
        messages = list(dict.fromkeys(_last_line(t.error) for t in group))
        shown = "; ".join(f'"{m}"' for m in messages[:2])
        more = f" (and {len(messages) - 2} other messages)" if len(messages) > 2 else ""
        lines.append(f"{family}, {kind}: {plural(len(group), 'trial')} ({ids}), "
                     f"last error line {shown}{more}.")
    flagged = [v for v in record.verdicts if v.status == "suspicious"]
    if flagged:
        flags = sorted({f for v in flagged for f in v.flags})
        lines.append(f"The verifier flagged {plural(len(flagged), 'more trial')} as suspicious "
                     f"({', '.join(flags)}).")
    return lines


def _compare(record: RunRecord, trials: Sequence[TrialResult],
             asked: tuple[str, ...] | None) -> list[str]:
    summaries = {s.family: s for s in _families(record, trials)}
    names = list(asked or ())
    if len(names) < 2:  # compare the named family with the winner, or the top two
        ranked = [f for f in summaries if f not in names]
        names = (names + ranked)[:2]
    if not names:
        return ["No model family was tried in this run."]
    lines = [f"Metric: {_metric(record)}."]
    for family in names:
        s = summaries.get(family)
        if s is None:
            lines.append(f"{family}: not tried in this run.")
        elif s.best is None:
            lines.append(f"{family}: {plural(s.n_trials, 'trial')}, none with a score "
                         f"({s.n_failed} failed).")
        else:
            lines.append(f"{family}: {plural(s.n_trials, 'trial')} ({s.n_failed} failed), best "
                         f"CV {_score(s.best)} (trial #{s.best.trial_id}).")
    scored = [b for f in names if f in summaries and (b := summaries[f].best) is not None]
    if len(scored) >= 2:
        a, b = scored[0], scored[1]
        if _gap(record, a, b) < 0:
            a, b = b, a
        lines.append(f"{a.config.family} is ahead of {b.config.family} by "
                     f"{_gap_words(record, a, b)}.")
    return lines


def _summary(record: RunRecord, trials: Sequence[TrialResult]) -> list[str]:
    task = record.task
    lines = [f"The run {record.status}: a {record.task_type} task predicting {task.target!r} "
             f"from {record.n_rows} rows ({record.n_holdout} kept aside as holdout), scored by "
             f"{_metric(record)}."]
    sources = ", ".join(f"{n} {s}" for s, n in sorted(record.trials_by_source.items()))
    lines.append(f"{plural(record.n_trials, 'trial')} ran ({sources}); {record.n_failed} failed.")
    if record.best is not None and is_scored(record.best):
        lines.append(_best_line(record))
    else:
        lines.append("No trial produced a score.")
    lines += [line for line in (_ensemble_line(record), _threshold_line(record),
                                _holdout_line(record)) if line]
    lines.append(f"The search stopped because: {record.stop_reason}. It took "
                 f"{seconds(record.search_time_s)} of search and {seconds(record.total_time_s)} "
                 "in all.")
    if record.llm.model == "none" or record.llm.n_calls == 0:
        lines.append("No LLM was used.")
    else:
        lines.append(f"The LLM {record.llm.model} answered {record.llm.n_calls} calls "
                     f"({record.llm.n_failed} failed).")
    if record.llm_handover:
        lines.append(f"BO ran alone from some point on because: {record.llm_handover}.")
    lines += [f"Note: {n}." for n in record.notices[:3]]
    return lines


def _more_trials(record: RunRecord, followup: FollowUp) -> list[str]:
    count = plural(followup.n_trials, "more trial") if followup.n_trials else "more trials"
    scope = (f"only over {', '.join(followup.families)}" if followup.families
             else "over all model families")
    return [f"Will run {count} {scope}, with the same data, folds and holdout, scored by "
            f"{_metric(record)}; every trial so far stays in the search."]


def _export(record: RunRecord, followup: FollowUp) -> list[str]:
    if record.status != "completed" or record.best is None:
        return ["There is no fitted model to export: the run failed."]
    what = ("the final ensemble" if len(record.ensemble) > 1
            else f"the final {record.best.config.family} model")
    where = f"to {followup.path}" if followup.path else "to the run folder (no path was given)"
    return [f"Will export {what} {where}."]


# ----------------------------------------------------------------------------- grounding
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?P<pct>\s*%)?")


def _ungrounded_numbers(text: str, source: str) -> list[str]:
    """The numbers of ``text`` that no number of ``source`` rounds to."""
    known = [float(m.group().rstrip("% ").replace(",", "")) for m in _NUMBER.finditer(source)]
    stray = []
    for m in _NUMBER.finditer(text):
        raw = m.group().rstrip("% ").replace(",", "")
        value = float(raw)
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        if not m.group("pct") and value == int(value) and 0 <= value <= _FREE_INTEGERS:
            continue
        tolerance = 0.5 * 10.0 ** -decimals + 1e-12
        readings = [(value, tolerance)]
        if m.group("pct"):
            readings.append((value / 100, tolerance / 100))  # "95%" for 0.9533
        if not any(abs(v - k) <= tol for v, tol in readings for k in known):
            stray.append(m.group().strip())
    return stray
