"""The rules behind ``tools.request``: numbers, budgets, metrics, families, data and target.

Each rule blanks the span it used, so a number, a path or a metric is read once:
"predict churn in data/churn.csv, ten minutes" leaves "predict churn in" for the
target rule. ``tools.request`` chains these rules; import from there, not from here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal, TypeVar

from schemas import METRIC_ALIASES, METRICS, TaskType
from tools.catalog import FAMILY_NAMES
from tools.datasets import BUNDLED

_GONE = "\x00"  # replaces a span a rule has used; no word, no space
_MAX_TRIALS = 100_000
_V = TypeVar("_V")

# ----------------------------------------------------------------------------- numbers
_SMALL = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen"))}
_TENS = {w: 10 * i for i, w in enumerate(
    ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), start=2)}
_NUM_WORD = "|".join(sorted([*_SMALL, *_TENS, "hundred", "thousand", "dozen"], key=len,
                            reverse=True))
_SPELLED = rf"(?:(?:an?\s+)?(?:{_NUM_WORD})(?:(?:\s+and\s+|[\s-]+)(?:{_NUM_WORD})){{0,5}})"
_NUMBER = rf"(?:\d+(?:\.\d+)?|{_SPELLED})"


def _number(text: str) -> float | None:
    """12, 1.5, "ten", "twenty-five", "a hundred and five", "a dozen"; None if not a number."""
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    total, current, last = 0, 0, ""  # last: the kind of the previous word
    for word in re.split(r"[\s-]+", text):
        if word == "and" and last == "hundred":
            continue
        if word in ("a", "an") and not last:
            current, last = 1, "a"
        elif word in _SMALL and (last in ("", "hundred", "thousand")
                                 or (last == "tens" and _SMALL[word] < 10)):
            current, last = current + _SMALL[word], "small"
        elif word in _TENS and last in ("", "hundred", "thousand"):
            current, last = current + _TENS[word], "tens"
        elif word in ("hundred", "dozen") and last in ("a", "small") and current < 10:
            current, last = current * (100 if word == "hundred" else 12), "hundred"
        elif word == "thousand" and last in ("a", "small", "tens", "hundred"):
            total, current, last = total + current * 1000, 0, "thousand"
        else:
            return None
    return float(total + current) if last not in ("", "a") else None


# ----------------------------------------------------------------------------- budget
_UNIT_S = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
           "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
           "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600}
_UNIT_WORD = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)"
_TIME = re.compile(
    rf"(?<![\w.])half\s+(?:an?\s+)?(?P<half>hour|minute|min)(?!\w)"
    rf"|(?<![\w.])(?P<num>{_NUMBER}|an?)(?P<half1>\s+and\s+a\s+half)?\s*(?:-\s*)?"
    rf"(?P<unit>{_UNIT_WORD})(?P<half2>\s+and\s+a\s+half)?(?!\w)"
    rf"|(?<![\w.])(?P<num_short>\d+(?:\.\d+)?)(?P<unit_short>[smh])(?!\w)"
    rf"|(?<![\w.])(?P<hm_h>\d+)h(?P<hm_m>\d+)m?(?!\w)"
    rf"|(?<![\w.])(?:(?P<quarters>{_NUMBER})\s+|an?\s+)?quarters?\s+(?:of\s+)?an?\s+hour(?!\w)",
    re.IGNORECASE)
_PER_TRIAL = re.compile(r"\s*(?:per|each|a|for\s+each)\s+(?:trial|model|fit)\b", re.IGNORECASE)
_TRIAL_WORD = (r"(?:trials?|iterations?|iters?|evals?|evaluations?|runs?|configs?|"
               r"configurations?|candidates?|attempts?|tries|models?)")
_TRIALS = re.compile(
    rf"(?<![\w.])(?P<num>{_NUMBER})\s+(?:more\s+|extra\s+|additional\s+|new\s+|other\s+)?"
    rf"(?:(?:bo|optuna|search|hpo|tuning)\s+)?{_TRIAL_WORD}(?!\w)"
    r"|(?:--|\bn_?)?trials\s*[=:]\s*(?P<num_kv>\d+)(?!\w)"
    r"|--trials\s+(?P<num_flag>\d+)(?!\w)",
    re.IGNORECASE)


def _take_time(work: str) -> tuple[float | None, str]:
    total: float | None = None
    last_end = -1
    for m in list(_TIME.finditer(work)):
        if _PER_TRIAL.match(work, m.end()):
            continue  # "60 seconds per trial" is a trial limit, not the run's budget
        if m.group(0).lower().rstrip().endswith("hour") and "quarter" in m.group(0).lower():
            quarters = _number(m.group("quarters")) if m.group("quarters") else 1.0
            if quarters is None:
                continue
            seconds = 900.0 * quarters
        elif m.group("half"):
            seconds = 0.5 * _UNIT_S[m.group("half").lower()]
        elif m.group("hm_h"):
            seconds = 3600.0 * int(m.group("hm_h")) + 60.0 * int(m.group("hm_m"))
        elif m.group("num_short"):
            seconds = float(m.group("num_short")) * _UNIT_S[m.group("unit_short").lower()]
        else:
            word = m.group("num").lower()
            value = 1.0 if word in ("a", "an") else _number(word)
            if value is None:
                continue
            if m.group("half1") or m.group("half2"):
                value += 0.5
            seconds = value * _UNIT_S[m.group("unit").lower()]
        joined = last_end >= 0 and re.fullmatch(r"[\s,]*(?:and\s*)?", work[last_end:m.start()])
        if total is not None and not joined:
            break  # a second, separate duration: keep the first
        total = (total or 0.0) + seconds
        last_end = m.end()
        work = _blank(work, m.start(), m.end())
    return (total if total and math.isfinite(total) else None), work


def _take_trials(work: str) -> tuple[int | None, str]:
    for m in _TRIALS.finditer(work):
        text = m.group("num") or m.group("num_kv") or m.group("num_flag")
        value = _number(text)
        if value is not None and value == int(value) and 1 <= value <= _MAX_TRIALS:
            return int(value), _blank(work, m.start(), m.end())
    return None, work


# ----------------------------------------------------------------------------- phrases
def _phrase(words: str) -> str:
    """"roc auc" matches "roc auc", "roc-auc", "roc_auc" and "rocauc"."""
    return r"[\s_-]*".join(re.escape(w) for w in re.split(r"[\s_]+", words.strip()))


_METRIC_EXTRA = {
    "auroc": "roc_auc", "area under the curve": "roc_auc", "area under the roc curve": "roc_auc",
    "roc": "roc_auc", "f1 score": "f1", "macro averaged f1": "f1_macro",
    "macro f1 score": "f1_macro", "f1 score macro": "f1_macro", "weighted f1 score": "f1_weighted",
    "r^2": "r2", "r²": "r2", "rsquared": "r2", "coefficient of determination": "r2",
    "balanced acc": "balanced_accuracy", "root mse": "rmse", "cross entropy loss": "log_loss",
    "negative log likelihood": "log_loss",
}
_METRIC_PHRASES: dict[str, str] = {
    **{name: name for name in METRICS},
    **{alias: name for alias, name in METRIC_ALIASES.items() if name in METRICS},
    **_METRIC_EXTRA,
}
_METRIC_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"(?<![\w^²-])(?:{_phrase(p)})(?![\w^²])", re.IGNORECASE), name)
    for p, name in _METRIC_PHRASES.items()
]

_FAMILY_PHRASES: dict[str, tuple[str, ...]] = {
    "linear": (r"linear(?:\s+(?:models?|regressions?|classifiers?|regressors?))?",
               r"logistic\s+regressions?", r"logit", r"ridge", r"lasso",
               r"elastic[\s_-]*nets?", r"glms?"),
    "random_forest": (r"random[\s_-]*forests?", r"rfs?", r"forests?"),
    "extra_trees": (r"extra[\s_-]*trees?", r"extremely\s+randomi[sz]ed\s+trees"),
    "hist_gb": (r"(?:hist(?:ogram)?(?:[\s-]+based)?\s+)?gradient[\s_-]*boost(?:ing|ed)"
                r"(?:\s+(?:trees|machines?|models?|decision\s+trees))?",
                r"boosted\s+trees", r"boosting", r"hist[\s_-]*gb", r"hgb", r"gbm", r"gbdt"),
    "knn": (r"k[\s_-]*nn", r"(?:k[\s-]+)?nearest[\s-]+neighbou?rs?", r"k[\s-]+neighbou?rs"),
    "svm": (r"svms?", r"support[\s-]+vector(?:\s+(?:machines?|classifiers?|regression|"
            r"regressors?))?", r"svc", r"svr"),
    "mlp": (r"neural[\s-]+net(?:work)?s?", r"mlps?", r"multi[\s-]*layer\s+perceptrons?",
            r"perceptrons?"),
}
_TREE_FAMILIES = ("random_forest", "extra_trees", "hist_gb")
_FAMILY_RULES: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    *((re.compile(rf"(?<![\w-])(?:{p})(?![\w-])", re.IGNORECASE), (fam,))
      for fam, patterns in _FAMILY_PHRASES.items() for p in patterns),
    *((re.compile(rf"(?<![\w-])(?:{p})(?![\w-])", re.IGNORECASE), (fam,))
      for fam in FAMILY_NAMES for p in (_phrase(fam),)),
    (re.compile(r"(?<![\w-])(?:tree[\s-]*based(?:\s+models?)?|tree\s+(?:models|ensembles)|"
                r"trees)(?![\w-])", re.IGNORECASE), _TREE_FAMILIES),
]
_RESTRICT = {"only", "just", "exclusively", "solely", "restrict", "restricted", "limit",
             "limited", "stick"}
_EXCLUDE = {"no", "not", "without", "except", "excluding", "exclude", "but", "skip",
            "skipping", "avoid", "avoiding", "never", "nor", "don't", "dont", "drop", "minus"}
_EXCLUDED_AFTER = re.compile(r"\s*(?:models?\s+)?(?:(?:are|is)\s+)?(?:excluded|not\s+allowed|"
                            r"disallowed|banned|forbidden)\b", re.IGNORECASE)
_CONNECTOR = re.compile(r"(?:[\s,/&+]|\band\b|\bor\b|\bplus\b|\bmodels?\b|\bthe\b|\ban?\b)*",
                        re.IGNORECASE)


def _blank(work: str, start: int, end: int) -> str:
    return work[:start] + _GONE * (end - start) + work[end:]


def _spans(work: str, rules: Sequence[tuple[re.Pattern[str], _V]]) -> list[tuple[int, int, _V]]:
    """Leftmost-longest, non-overlapping matches of any rule: (start, end, value)."""
    found = sorted(((m.start(), -m.end(), value) for pattern, value in rules
                    for m in pattern.finditer(work) if m.end() > m.start()),
                   key=lambda t: (t[0], t[1]))
    chosen: list[tuple[int, int, _V]] = []
    for start, neg_end, value in found:
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, -neg_end, value))
    return chosen


_NAMES_A_COLUMN = re.compile(r"(?:predict(?:s|ing)?|forecast(?:s|ing)?|classify|target|column|"
                             r"label|y)(?:\s+(?:the|is))?\s*[=:]?\s*$", re.IGNORECASE)
_METRIC_CUE = re.compile(r"(?:optimi[sz]\w*|maximi[sz]\w*|minimi[sz]\w*|metric|scor\w*|"
                         r"measur\w*|evaluat\w*|judg\w*)\W+(?:\w+\W+){0,2}$", re.IGNORECASE)


def _take_metric(work: str) -> tuple[str | None, str]:
    """The metric the text asks for: after "optimise", "metric"... first, else the first named.

    A metric word where a column is named ("predict f1_score") is a column, not the metric.
    """
    spans = [s for s in _spans(work, _METRIC_RULES) if not _NAMES_A_COLUMN.search(work[:s[0]])]
    if not spans:
        return None, work
    start, end, name = next((s for s in spans if _METRIC_CUE.search(work[:s[0]])), spans[0])
    return name, _blank(work, start, end)


def _metric_name(value: str) -> str | None:
    """A known metric for an LLM's (or a person's) spelling of one, else None."""
    key = re.sub(r"[\s-]+", "_", value.strip().lower())
    key = METRIC_ALIASES.get(key, key)
    if key in METRICS:
        return key
    spans = _spans(value, _METRIC_RULES)
    if len(spans) == 1 and not (value[:spans[0][0]] + value[spans[0][1]:]).strip():
        return str(spans[0][2])
    return None


def family_mentions(text: str) -> tuple[tuple[str, ...] | None, str]:
    """The families a sentence restricts a search to, and the text with them blanked.

    Named families are wanted ("with linear models and random forests", "only
    svm"); after "no", "without", "except"... they are excluded ("no svm" is every
    family but svm). None when no family is named.
    """
    spans = _spans(text, _FAMILY_RULES)
    groups: list[list[tuple[int, int, tuple[str, ...]]]] = []
    for span in spans:
        if groups and _CONNECTOR.fullmatch(text[groups[-1][-1][1]:span[0]]):
            groups[-1].append(span)
        else:
            groups.append([span])
    wanted: set[str] = set()
    unwanted: set[str] = set()
    previous_end = 0
    for group in groups:
        families = {f for _, _, fams in group for f in fams}
        mode = _marker(text[previous_end:group[0][0]])
        if _EXCLUDED_AFTER.match(text, group[-1][1]):
            mode = "exclude"  # "knn not allowed"
        (unwanted if mode == "exclude" else wanted).update(families)
        previous_end = group[-1][1]
        for start, end, _ in group:
            text = _blank(text, start, end)
    if not wanted and not unwanted:
        return None, text
    chosen = [f for f in FAMILY_NAMES if (f in wanted or not wanted) and f not in unwanted]
    return (tuple(chosen) if chosen else None), text


def _marker(before: str) -> Literal["restrict", "exclude", "neutral"]:
    """Whether the words just before a family mention restrict or exclude it."""
    clause = re.split(r"[.;:!?()\n" + _GONE + "]", before)[-1]
    words = re.findall(r"[\w']+", clause.lower())[-5:]
    for word in reversed(words):
        if word in _EXCLUDE:
            return "exclude"
        if word in _RESTRICT:
            return "restrict"
    return "neutral"


# ----------------------------------------------------------------------------- data
_DATA_EXTS = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".csv.gz", ".tsv.gz", ".txt.gz")
_MODEL_EXTS = (".joblib", ".pkl", ".pickle", ".skops", ".onnx")
_NOT_PATHS = {"and/or", "or/and", "w/", "w/o", "n/a", "yes/no", "true/false", "he/she", "s/he",
              "km/h", "i/o"}
_QUOTED = (r"(?<!\w)(?:'[^'\n]+'|\"[^\"\n]+\"|‘[^’\n]+’|“[^”\n]+”|`[^`\n]+`)(?!\w)")  # not "don't"
_TOKEN = re.compile(rf"(?P<quoted>{_QUOTED})|(?P<bare>[^\s'\"‘’“”`]+)")
_BUNDLED_TOKEN = re.compile(r"(?<![\w:])bundled:(?P<name>[^\W\d]\w*)", re.IGNORECASE)
# bundled names that are everyday words ("a fair model", "3 digits", "cars", "predict
# salaries", "sales in Chile", "the biopsy result") count as the dataset only when followed
# by data, dataset or table
_EVERYDAY_NAMES = {"fair", "digits", "cars", "salaries", "computers", "benefits",
                   "participation", "schooling", "chile", "biopsy"}
_BUNDLED_WORDS = [
    (re.compile(rf"(?<![\w/.:-])(?:{'penguins?' if name == 'penguins' else _phrase(name)}"
                r"(?:e?s)?)"
                r"(?:\s+(?:data\s*set|data|table))" + ("" if name in _EVERYDAY_NAMES else "?")
                + r"(?![\w/.-])", re.IGNORECASE), name)
    for name in BUNDLED
]


def _is_path(token: str, exts: tuple[str, ...] = _DATA_EXTS) -> bool:
    low = token.lower()
    if low in _NOT_PATHS or not re.search(r"[^\W\d_]", token):
        return False
    if any(low.endswith(ext) and len(low) > len(ext) for ext in exts):
        return True
    return ("/" in token or "\\" in token) and "://" not in token


def _take_path(work: str, exts: tuple[str, ...] = _DATA_EXTS) -> tuple[str | None, str]:
    """The first path-like token (quoted ones may hold spaces), blanked from the text."""
    for m in _TOKEN.finditer(work):
        if m.group("quoted"):
            value, start, end = m.group("quoted")[1:-1].strip(), m.start(), m.end()
        else:
            raw = m.group("bare")
            lead = len(raw) - len(raw.lstrip("(["))
            value = raw.lstrip("([").rstrip(",;:!?)]").rstrip(".")
            if "=" in value:
                value = value.rsplit("=", 1)[1]
            start = m.start() + lead
            end = start + len(raw.lstrip("([").rstrip(",;:!?)]").rstrip("."))
        if value and _is_path(value, exts):
            return value, _blank(work, start, end)
    return None, work


def _take_data(work: str) -> tuple[str | None, str]:
    m = _BUNDLED_TOKEN.search(work)
    if m:
        return f"bundled:{m.group('name').lower()}", _blank(work, m.start(), m.end())
    return _take_path(work)


def _take_bundled_words(work: str, columns: Sequence[str] | None) -> tuple[str | None, str]:
    """A bundled dataset named in words: "the iris data", "on penguins"."""
    for start, end, name in _spans(work, _BUNDLED_WORDS):
        if columns is not None and _match_column(str(name), columns) is not None:
            continue  # a column of the data, not a dataset
        return f"bundled:{name}", _blank(work, start, end)
    return None, work


# ----------------------------------------------------------------------------- target
_WORD = r"[^\W\d]\w*(?:[.\-]\w+)*"
_CANDIDATE = rf"(?:(?P<quoted>{_QUOTED})|(?P<word>{_WORD}))"
_TARGET_RULES = [re.compile(p, re.IGNORECASE) for p in (
    rf"(?<![\w-])(?:--)?target(?:\s+(?:column|variable|col))?"
    rf"(?:\s*[=:]\s*|\s+is\s+|\s+(?:should|will)\s+be\s+|\s+|(?=['\"‘“`])){_CANDIDATE}",
    rf"(?<![\w-])(?:label|y)\s*[=:]\s*{_CANDIDATE}",
    rf"(?<![\w-])(?:column|col)\s+(?:named\s+|called\s+)?{_CANDIDATE}",
    rf"(?<![\w-])(?:predict(?:s|ing)?|forecast(?:s|ing)?|estimat(?:e|es|ing)|classify(?:ing)?)"
    rf"\s+(?:the\s+|a\s+|an\s+)?{_CANDIDATE}",
)]
_STOP = {"on", "in", "from", "with", "using", "for", "the", "a", "an", "to", "of", "at", "by",
         "it", "this", "that", "these", "those", "what", "which", "whether", "if", "how", "and",
         "or", "data", "dataset", "column", "columns", "col", "target", "my", "our", "their",
         "its", "is", "are", "be", "as", "into", "per", "each", "all", "some", "any", "use",
         "file", "table", "should", "will", "can", "me", "us", "them", "well", "best", "only",
         "just", "no", "not", "without", "then", "so", "please"}


def _norm(name: str) -> str:
    return re.sub(r"[\W_]+", "", name).lower()


def _match_column(name: str, columns: Sequence[str]) -> str | None:
    """The real column a name means: exact, then ignoring case, spaces and punctuation
    ("sale price" is ``Sale_Price``, "churn" is ``Churn?``)."""
    if name in columns:
        return name
    key = _norm(name)
    hits = [c for c in columns if _norm(str(c)) == key]
    return str(hits[0]) if hits else None


def _candidate(work: str, m: re.Match[str], columns: Sequence[str] | None
               ) -> tuple[str, int, int] | None:
    """The target a rule's match names, with the span it covers, or None."""
    if m.group("quoted"):
        name = m.group("quoted")[1:-1].strip()
        found = name if columns is None else _match_column(name, columns)
        return (found, m.start("quoted"), m.end("quoted")) if found else None
    start, word = m.start("word"), m.group("word")
    if word.lower() in _STOP:
        return None
    if columns is None:
        return word, start, m.end("word")
    words = list(re.finditer(r"[\w.\-]+", work[start:]))[:4]  # "sale price" -> sale_price
    for n in range(len(words), 0, -1):
        if not re.fullmatch(r"[\w.\-]+(?:\s+[\w.\-]+)*", work[start:start + words[n - 1].end()]):
            continue
        column = _match_column(work[start:start + words[n - 1].end()], columns)
        if column is not None:
            return column, start, start + words[n - 1].end()
    return None


def _take_target(work: str, columns: Sequence[str] | None) -> tuple[str | None, str]:
    found: list[tuple[bool, str, int, int]] = []
    for rule in _TARGET_RULES:
        for m in rule.finditer(work):
            hit = _candidate(work, m, columns)
            if hit is not None:
                found.append((m.group("quoted") is not None, *hit))
    if not found and columns is not None:  # a quoted column name anywhere
        for m in re.finditer(_QUOTED, work):
            column = _match_column(m.group()[1:-1].strip(), columns)
            if column is not None:
                found.append((True, column, m.start(), m.end()))
    if not found and columns is not None:
        found += _the_one_column_named(work, columns)
    if not found:
        return None, work
    _, name, start, end = next((f for f in found if f[0]), found[0])  # a quoted name wins
    return name, _blank(work, start, end)


def _the_one_column_named(work: str, columns: Sequence[str]) -> list[tuple[bool, str, int, int]]:
    """A column the sentence names without a rule around it ("will the customer churn?" on
    a table with ``Churn``): the span of its first mention, when exactly one column is named
    (up to three words, as ``_match_column`` matches them); none when several are."""
    words = list(re.finditer(r"[\w.\-]+", work))
    hits: dict[str, tuple[int, int]] = {}
    for i, first in enumerate(words):
        for last in words[i:i + 3]:
            text = work[first.start():last.end()]
            if first.group().lower() in _STOP or not re.fullmatch(r"[\w.\-]+(?:\s+[\w.\-]+)*",
                                                                   text):
                continue
            column = _match_column(text, columns)
            if column is not None:
                hits.setdefault(column, (first.start(), last.end()))
    if len(hits) != 1:
        return []
    [(column, (start, end))] = hits.items()
    return [(False, column, start, end)]


# ----------------------------------------------------------------------------- task type
_TASK_TYPE_RULES: list[tuple[re.Pattern[str], TaskType]] = [
    (re.compile(r"(?<![\w-])regress(?:ion|or|ing)?(?![\w-])", re.IGNORECASE), "regression"),
    (re.compile(r"(?<![\w-])binary(?![\w-])", re.IGNORECASE), "binary"),
    (re.compile(r"(?<![\w-])(?:multi[\s-]?class(?:ification)?|multinomial)(?![\w-])",
                re.IGNORECASE), "multiclass"),
]


def _take_task_type(work: str) -> tuple[TaskType | None, str]:
    spans = _spans(work, _TASK_TYPE_RULES)
    if not spans:
        return None, work
    start, end, task_type = spans[0]
    return task_type, _blank(work, start, end)
