"""Understand what a person typed: a run to start, or a question about a finished one.

``parse_request`` and ``parse_followup`` are rules, no LLM: they find the data
(a path, ``bundled:NAME`` or a bundled dataset named in words), the target, the
metric (mapped through ``schemas.METRICS`` and its aliases), the budget (numbers
as digits or words, with units) and the model families to search ("only ...",
"no ..."). ``understand_request`` may then ask an LLM to fill what the rules left
empty; every value it returns passes the same checks, and it never overrides
what the rules found. The rules themselves live in ``tools._request_rules``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from schemas import (
    METRICS,
    ConfigError,
    FollowUp,
    FollowUpKind,
    LLMError,
    RequestField,
    TaskRequest,
    TaskType,
)
from tools._request_rules import (
    _BUNDLED_TOKEN,
    _BUNDLED_WORDS,
    _DATA_EXTS,
    _FAMILY_RULES,
    _MAX_TRIALS,
    _MODEL_EXTS,
    _NUMBER,
    _QUOTED,
    _STOP,
    _UNIT_S,
    _blank,
    _is_path,
    _match_column,
    _metric_name,
    _number,
    _phrase,
    _spans,
    _take_bundled_words,
    _take_data,
    _take_metric,
    _take_path,
    _take_target,
    _take_task_type,
    _take_time,
    _take_trials,
    family_mentions,
)
from tools.catalog import FAMILY_NAMES
from tools.datasets import BUNDLED

if TYPE_CHECKING:
    from tools.llm import LLMClient

log = logging.getLogger(__name__)

__all__ = ["IntakeAnswer", "Renderer", "family_mentions", "parse_followup", "parse_request",
           "understand_request"]

Renderer = Callable[..., str]  # ``prompts.render``: agents and the CLI pass it in


# ----------------------------------------------------------------------------- requests
def parse_request(text: str, *, columns: Sequence[str] | None = None) -> TaskRequest:
    """What a sentence asks for, by rules alone; ``missing`` names what it left open.

    With ``columns`` the target must be one of them (matched ignoring case,
    spaces and underscores); a name that is not a column is left missing.
    """
    work = text
    data, work = _take_data(work)
    time_budget_s, work = _take_time(work)
    n_trials, work = _take_trials(work)
    metric, work = _take_metric(work)
    families, work = family_mentions(work)
    task_type, work = _take_task_type(work)
    if data is None:
        data, work = _take_bundled_words(work, columns)
    target, work = _take_target(work, columns)
    return _complete(TaskRequest(text=text, data=data, target=target, task_type=task_type,
                                 metric=metric, n_trials=n_trials, time_budget_s=time_budget_s,
                                 families=families), columns)


def _complete(request: TaskRequest, columns: Sequence[str] | None) -> TaskRequest:
    """A bundled dataset's own target when none was named; what is still missing."""
    target = request.target
    name = (request.data or "").removeprefix("bundled:")
    if target is None and request.data and request.data.startswith("bundled:") \
            and name in BUNDLED:
        default = BUNDLED[name].target
        target = default if columns is None else _match_column(default, columns)
    missing: list[RequestField] = []
    if request.data is None:
        missing.append("data")
    if target is None:
        missing.append("target")
    return request.model_copy(update={"target": target, "missing": tuple(missing)})


class IntakeAnswer(BaseModel):
    """What the LLM returns for a sentence (parsed leniently; every value checked after)."""

    data: str | None = None
    target: str | None = None
    task_type: TaskType | None = None
    metric: str | None = None
    n_trials: float | None = None
    time_budget_s: float | None = None
    families: list[str] | None = None


_FILLABLE = tuple(IntakeAnswer.model_fields)
_TYPE_CUES: dict[str, re.Pattern[str]] = {  # words that back an LLM's task type
    "regression": re.compile(r"continuous|numeric|number|amount|how\s+(?:much|many)|quantity|"
                             r"price|cost|value|sales|revenue|count|regress", re.IGNORECASE),
    "binary": re.compile(r"whether|yes\s*/?\s*(?:or\s+)?no|true\s*/?\s*(?:or\s+)?false|"
                         r"two\s+classes|binary|fraud|churn|classif", re.IGNORECASE),
    "multiclass": re.compile(r"classes|categor|kinds?\b|types?\b|species|classif|which\s+",
                             re.IGNORECASE),
}


# words without which a sentence names no model family: an LLM's families for it are dropped
_FAMILY_CUES = re.compile(r"model|forest|tree|boost|gbm|linear|logistic|ridge|lasso|neighbo|knn|"
                          r"svm|support\s+vector|kernel|network|mlp|neural|perceptron|deep",
                          re.IGNORECASE)


def understand_request(text: str, *, llm: LLMClient | None,
                       columns: Sequence[str] | None = None,
                       render: Renderer | None = None) -> TaskRequest:
    """Rules first; then, with an LLM, ask it only for the fields the rules left empty.

    Every value the LLM gives passes the rules' own checks (a known metric and
    families, a real column, a path or dataset the sentence names, a number the
    sentence holds) or is dropped. It never replaces what the rules found. On
    ``LLMError`` the rules' answer stands. ``render`` is ``prompts.render``
    (``tools`` does not import ``prompts``); it is needed whenever ``llm`` is.
    """
    found = parse_request(text, columns=columns)
    wanted = [f for f in _FILLABLE if getattr(found, f) is None]
    if llm is None or not wanted:
        return found
    if render is None:
        raise ConfigError("The 'render' parameter must be given with 'llm' (pass "
                          "prompts.render); got None instead.")
    known = {k: v for k, v in found.model_dump(include=set(_FILLABLE)).items() if v is not None}
    prompt = render("intake", sentence=text,
                    columns="unknown" if columns is None else ", ".join(map(str, columns)),
                    bundled=", ".join(sorted(BUNDLED)), metrics=", ".join(METRICS),
                    families=", ".join(FAMILY_NAMES), found=json.dumps(known),
                    wanted=", ".join(wanted))
    try:
        answer = llm.complete([{"role": "user", "content": prompt}], IntakeAnswer,
                              purpose="intake")
    except LLMError as exc:
        log.warning("intake: the LLM gave no usable answer (%s); using the rules alone", exc)
        return found
    filled = _checked(answer, text, columns)
    update = {k: v for k, v in filled.items() if k in wanted and v is not None}
    if update:
        log.info("intake: the LLM filled %s", sorted(update))
    return _complete(found.model_copy(update=update), columns)


def _checked(answer: IntakeAnswer, text: str, columns: Sequence[str] | None) -> dict[str, object]:
    """The LLM's values that pass the rules; None for each that does not."""
    families = None
    if answer.families and _FAMILY_CUES.search(text):
        names = {f for value in answer.families for f in (_family_names(value) or ())}
        families = tuple(f for f in FAMILY_NAMES if f in names) or None
    task_type = answer.task_type
    if task_type is not None and not _TYPE_CUES[task_type].search(text):
        task_type = None
    return {
        "data": _checked_data(answer.data, text),
        "target": _checked_target(answer.target, text, columns),
        "task_type": task_type,
        "metric": None if answer.metric is None else _metric_name(answer.metric),
        "n_trials": _checked_trials(answer.n_trials, text),
        "time_budget_s": _checked_seconds(answer.time_budget_s, text),
        "families": families,
    }


def _family_names(value: str) -> tuple[str, ...] | None:
    key = re.sub(r"[\s-]+", "_", value.strip().lower())
    if key in FAMILY_NAMES:
        return (key,)
    spans = _spans(value, _FAMILY_RULES)
    if len(spans) == 1 and not (value[:spans[0][0]] + value[spans[0][1]:]).strip():
        return spans[0][2]
    return None


def _in_text(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){_phrase(value)}(?!\w)", text, re.IGNORECASE) is not None


def _checked_data(value: str | None, text: str) -> str | None:
    """A path the sentence holds, or a bundled dataset it names; else None."""
    if not value or not value.strip():
        return None
    value = value.strip()
    name = value.lower().removeprefix("bundled:")
    if name in BUNDLED:
        named = {f"bundled:{n}" for _, _, n in _spans(text, _BUNDLED_WORDS)}
        named |= {f"bundled:{m.group('name').lower()}" for m in _BUNDLED_TOKEN.finditer(text)}
        return f"bundled:{name}" if f"bundled:{name}" in named else None
    return value if _is_path(value) and value in text else None


def _checked_target(value: str | None, text: str, columns: Sequence[str] | None) -> str | None:
    if not value or not value.strip() or value.strip().lower() in _STOP:
        return None
    if columns is not None:
        return _match_column(value.strip(), columns)
    return value.strip() if _in_text(value.strip(), text) else None


def _numbers_in(text: str) -> set[float]:
    numbers = {v for m in re.finditer(rf"(?<![\w.]){_NUMBER}(?!\w)", text, re.IGNORECASE)
               if (v := _number(m.group())) is not None}
    if re.search(r"\ban?\s+(?:hour|minute|min|second)", text, re.IGNORECASE):
        numbers.add(1.0)
    if re.search(r"\bhalf\b", text, re.IGNORECASE):
        numbers.update({0.5, *(n + 0.5 for n in numbers)})
    return numbers


def _checked_trials(value: float | None, text: str) -> int | None:
    if value is None or not math.isfinite(value) or value != int(value):
        return None
    n = int(value)
    return n if 1 <= n <= _MAX_TRIALS and float(n) in _numbers_in(text) else None


def _checked_seconds(value: float | None, text: str) -> float | None:
    """A duration the sentence holds: one of its numbers in a time unit it names."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    units = {factor for word, factor in _UNIT_S.items() if len(word) > 1 and
             re.search(rf"(?<![^\W\d]){word}(?![^\W\d])", text, re.IGNORECASE)}
    units |= {_UNIT_S[u.lower()] for u in re.findall(r"\d\s*([smh])\b", text, re.IGNORECASE)}
    if re.search(r"\bquarters?\b", text, re.IGNORECASE) and 3600 in units:
        units.add(900)
    said = any(math.isclose(value / unit, n) for unit in units for n in _numbers_in(text))
    return float(value) if said else None


# ----------------------------------------------------------------------------- follow-ups
_MORE = re.compile(rf"(?<![\w.])(?:another\s+(?P<a>{_NUMBER})|(?P<b>{_NUMBER})\s+more)(?!\w)",
                   re.IGNORECASE)
_KIND_PATTERNS: tuple[tuple[FollowUpKind, str], ...] = (
    ("export", r"\b(?:export|save|download|dump|persist|pickle|serialize|serialise)\b"),
    ("more_trials", r"\b(?:more|additional|extra|another)\s+(?:\w+\s+)?(?:trials?|iterations?|"
                    r"runs?|rounds?|search|tuning|models?|time)\b|^\W*(?:please\s+|now\s+|ok\W+)?"
                    r"(?:try|run|search|tune|continue|keep|resume|retry|rerun|re-run|go\s+on)\b"
                    r"|\bkeep\s+(?:going|searching|tuning)\b"),
    ("compare", r"\b(?:compare|comparison|compared|versus|vs\.?|against|better\s+than|"
                r"worse\s+than|difference\s+between)\b"),
    ("failures", r"\b(?:fail(?:ed|ure|ures|s|ing)?|errors?|crash(?:ed|es)?|broke|broken|"
                 r"(?:go|goes|went|gone)\s+wrong|exceptions?|timed?\s*out|timeouts?|problems?|issues?)\b"),
    ("why_best", r"\b(?:why|win|wins|won|winner|winning|best|chosen|choose|chose|pick(?:ed)?|"
                 r"select(?:ed)?|top)\b"),
    ("summary", r"\b(?:summary|summari[sz]e|overview|recap|results?|report|status|tl;?dr)\b|"
                r"\bhow\s+(?:did\s+(?:it|the\s+run|that|things|we)\s+go|good|well|accurate)\b"),
)
_KINDS = [(kind, re.compile(p, re.IGNORECASE)) for kind, p in _KIND_PATTERNS]


def parse_followup(text: str) -> FollowUp:
    """A question or order about a finished run, by rules (no LLM).

    "why did the forest win?" is why_best for random_forest; "try only linear
    models with 10 more trials" is more_trials(families=("linear",), n_trials=10);
    "export the model to out/m.joblib" is export(path="out/m.joblib").
    """
    work = text
    kind: FollowUpKind = next((k for k, pattern in _KINDS if pattern.search(text)), "unknown")
    path = None
    if kind == "export":
        path, work = _take_path(work, _MODEL_EXTS + _DATA_EXTS)
        if path is None:
            m = re.search(rf"\b(?:to|into|as|at|in)\s+(?P<p>{_QUOTED}|[\w.~\-]+)\s*[.!?]?\s*$",
                          work, re.IGNORECASE)
            if m and m.group("p").lower() not in _STOP | {"disk", "file"}:
                path = m.group("p").strip("'\"‘’“”`")
    n_trials = None
    if kind == "more_trials":
        m = _MORE.search(work)
        value = _number(m.group("a") or m.group("b")) if m else None
        if m and value is not None and value == int(value) and 1 <= value <= _MAX_TRIALS:
            n_trials, work = int(value), _blank(work, m.start(), m.end())
        else:
            n_trials, work = _take_trials(work)
    families, _ = family_mentions(work)
    return FollowUp(kind=kind, families=families, n_trials=n_trials, path=path, text=text)
