"""The coder: asks the LLM to write a model as Python code, or to repair one that failed.

The answer comes in parts, not as a whole module: a name, the import lines, up to
four typed tunable parameters and the body of ``build_model(params)``. A
grammar-constrained local model writes these parts far more reliably than a free
module (it tends to forget the ``def`` line or ``SPACE``), and the parameters
arrive typed, so their ranges are repaired by rules (bounds swapped into order,
defaults clamped into range) instead of by another LLM round. ``assemble_module``
turns the parts into the module text of the code-proposal contract
(``tools.code``); the text is checked and run by others, never here.

The result is a ``CodeDraft``; its static check and its trial happen in the graph
(``agents.graph``), so a module that fails either becomes a failed trial that the
verifier can send back here for repair.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field

from agents._answers import RATIONALE_CHARS
from agents._describe import context_messages, describe_trials, shown_spaces
from prompts import render
from schemas import (
    CodeDraft,
    DatasetProfile,
    FamilySpace,
    LLMError,
    TaskSpec,
    TrialResult,
)

if TYPE_CHECKING:
    from tools.llm import LLMClient

log = logging.getLogger(__name__)

MAX_PARAMS = 4
MAX_IMPORTS = 8
ERROR_LINES = 12  # the end of a failed trial's traceback, as the repair request shows it
_NAME = r"^[a-z][a-z0-9_]{0,29}$"
_PARAM = r"^[A-Za-z_][A-Za-z0-9_]{0,29}$"
_IMPORT = r"^(from [A-Za-z_][A-Za-z0-9_.]{0,60} )?import [A-Za-z_][A-Za-z0-9_., ]{0,100}$"
_SHORT_TEXT = r"^[^\"\\\n]{1,%d}$"
# ideas the catalog lacks, one per code proposal of a run, in turn
IDEAS = (
    "an ensemble of different kinds of models (voting or stacking)",
    "feature engineering inside a Pipeline (polynomial or spline features, binning) "
    "before a simple model",
    "a bagged or boosted ensemble built from scikit-learn parts",
    "a small torch neural network wrapped in a class with fit and predict",
)


# -- the answer's shape ------------------------------------------------------------------------


class RawCodeParam(BaseModel):
    """One tunable parameter as the LLM declares it (checked and repaired later)."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None
    default: Any = None


class CodeAnswer(BaseModel):
    """What the LLM answers for a new module or a repair: parsed leniently, so that rules
    can repair a parameter instead of losing the whole answer; ``CodeParts`` is the strict
    shape sent as its JSON schema."""

    name: str = "proposal"
    rationale: str = ""
    imports: list[str] = Field(default_factory=list)
    params: list[RawCodeParam] = Field(default_factory=list)
    body: str = ""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _STRICT_SCHEMA


_ParamName = Annotated[str, Field(pattern=_PARAM)]
_Choice = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,30}$")]
_Import = Annotated[str, Field(pattern=_IMPORT)]


class IntParam(BaseModel):
    name: _ParamName
    type: Literal["int"]
    low: int
    high: int
    default: int


class FloatParam(BaseModel):
    name: _ParamName
    type: Literal["float"]
    low: float
    high: float
    log: bool
    default: float


class CategoricalParam(BaseModel):
    name: _ParamName
    type: Literal["categorical"]
    choices: list[_Choice] = Field(min_length=2, max_length=8)
    default: str


class CodeParts(BaseModel):
    """The strict shape sent to the model (its JSON schema becomes the local grammar)."""

    name: str = Field(pattern=_NAME)
    rationale: str = Field(pattern=_SHORT_TEXT % RATIONALE_CHARS)
    imports: list[_Import] = Field(max_length=MAX_IMPORTS)
    params: list[IntParam | FloatParam | CategoricalParam] = Field(max_length=MAX_PARAMS)
    body: str


_STRICT_SCHEMA = CodeParts.model_json_schema()


# -- the module text ---------------------------------------------------------------------------


def assemble_module(answer: CodeAnswer, *, header: str = "") -> str:
    """The module text of an answer: a docstring, the imports, ``SPACE``, ``build_model``.

    Rules repair what they safely can: parameter bounds are put in order, defaults
    clamped into range, a categorical default outside its choices replaced by the
    first choice, parameters without a usable type or range dropped. When the body
    already defines ``build_model`` it is kept as the module's own code.
    """
    lines = [f'"""{_docstring(answer, header)}"""', ""]
    imports = [line.strip() for line in answer.imports if line.strip()]
    lines.extend(imports)
    space = _space_literal(answer.params)
    body = textwrap.dedent(answer.body.replace("\t", "    ")).strip("\n")
    if re.search(r"^\s*def\s+build_model\s*\(", body, flags=re.MULTILINE):
        if space and not re.search(r"^SPACE\s*=", body, flags=re.MULTILINE):
            lines += ["", space]
        lines += ["", "", textwrap.dedent(body), ""]
        return "\n".join(lines)
    if space:
        lines += ["", space]
    lines += ["", "", "def build_model(params):"]
    lines += [("    " + line) if line.strip() else ""
              for line in _balanced(body or "pass").splitlines()]
    return "\n".join(lines) + "\n"


def _balanced(body: str) -> str:
    """The body with its brackets balanced, when that alone makes it parse: a small model
    often appends the JSON object's closing brace to the string, or stops before the last
    closing parentheses. Anything else is left for the static check to report."""
    if _parses(body):
        return body
    trimmed = body.rstrip()
    for _ in range(3):
        if not trimmed or trimmed[-1] not in "}]":
            break
        trimmed = trimmed[:-1].rstrip()
        if _parses(trimmed):
            return trimmed
    missing = _unclosed(body)
    if missing and _parses(body.rstrip() + missing):
        return body.rstrip() + missing
    return body


def _unclosed(text: str) -> str:
    """The closing brackets that the open ones of ``text`` lack, innermost first (strings
    and comments are not looked into); empty when a closer does not match."""
    closer = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif ch in closer:
            stack.append(closer[ch])
        elif ch in ")]}" and (not stack or stack.pop() != ch):
            return ""
        i += 1
    return "".join(reversed(stack))


def _parses(body: str) -> bool:
    try:
        ast.parse("def build_model(params):\n" + textwrap.indent(body, "    "))
    except (SyntaxError, ValueError):
        return False
    return True


def _docstring(answer: CodeAnswer, header: str) -> str:
    text = " ".join(answer.rationale.split()).replace('"""', "'''").replace("\\", "/")
    first = f"{_safe_name(answer.name)}: {text}" if text else _safe_name(answer.name)
    return f"{first}\n\n{header}\n" if header else first


def _space_literal(params: Sequence[RawCodeParam]) -> str:
    entries = []
    seen = set()
    for raw in params[:MAX_PARAMS]:
        name = raw.name.strip()
        if not re.fullmatch(_PARAM[1:-1], name) or name in seen:
            continue
        entry = _space_entry(raw)
        if entry is None:
            log.info("dropped the code parameter %r: %s %s", name, raw.type, raw)
            continue
        seen.add(name)
        entries.append(f"    {name!r}: {entry},")
    if not entries:
        return ""
    return "SPACE = {\n" + "\n".join(entries) + "\n}"


def _space_entry(raw: RawCodeParam) -> str | None:
    kind = raw.type.strip().lower()
    if kind == "categorical":
        choices = [c for c in (raw.choices or []) if isinstance(c, (str, int, float, bool))]
        choices = list(dict.fromkeys(choices))
        if len(choices) < 2:
            return None
        default = raw.default if raw.default in choices else choices[0]
        return f'{{"type": "categorical", "choices": {choices!r}, "default": {default!r}}}'
    if kind not in ("int", "float") or raw.low is None or raw.high is None:
        return None
    if not (math.isfinite(raw.low) and math.isfinite(raw.high)):
        return None
    low, high = sorted((raw.low, raw.high))
    if kind == "int":
        low, high = math.ceil(low), math.floor(high)
        if low >= high:
            return None
    elif low == high:
        return None
    log_scale = bool(raw.log) and low > 0
    default = raw.default if isinstance(raw.default, (int, float)) and not isinstance(
        raw.default, bool) and math.isfinite(raw.default) else (
        math.sqrt(low * high) if log_scale else (low + high) / 2)
    default = min(max(default, low), high)
    if kind == "int":
        return (f'{{"type": "int", "low": {int(low)}, "high": {int(high)}, '
                f'"log": {log_scale}, "default": {round(default)}}}')
    return (f'{{"type": "float", "low": {float(low)!r}, "high": {float(high)!r}, '
            f'"log": {log_scale}, "default": {float(default)!r}}}')


def _safe_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name.strip())[:40]
    return clean if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", clean) else f"m_{clean}"[:40]


# -- the coder ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRequest:
    """Ask for a new module: the task, the data, the catalog and the trials so far."""

    task: TaskSpec
    profile: DatasetProfile
    spaces: Sequence[FamilySpace]
    trials: Sequence[TrialResult]
    n_written: int = 0  # code proposals written earlier in this run (picks the idea)


@dataclass(frozen=True)
class RepairRequest:
    """Ask for a repaired version of ``draft``, whose trial failed with ``trial.error``."""

    task: TaskSpec
    profile: DatasetProfile
    spaces: Sequence[FamilySpace]
    draft: CodeDraft
    trial: TrialResult


class Coder(Protocol):
    def write(self, request: CodeRequest) -> CodeDraft | None: ...
    def repair(self, request: RepairRequest) -> CodeDraft | None: ...


class LLMCoder:
    """A ``Coder`` backed by an ``LLMClient``; None when the LLM gave no usable answer."""

    def __init__(self, llm: LLMClient, *, max_tokens: int = 1200) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    def write(self, request: CodeRequest) -> CodeDraft | None:
        shown = shown_spaces(request.spaces, request.profile)
        idea = IDEAS[request.n_written % len(IDEAS)]
        job = render("coder", contract=render("code_contract"), idea=idea,
                     trials=describe_trials(request.trials, request.task, shown=shown,
                                            top=6, failed=2))
        answer = self._ask(context_messages(request.task, request.profile, shown, job), "code")
        if answer is None:
            return None
        source = assemble_module(answer, header="Written by mlpilot's LLM planner.")
        return CodeDraft(name=_safe_name(answer.name), source=source,
                         rationale=_one_line(answer.rationale), origin="llm")

    def repair(self, request: RepairRequest) -> CodeDraft | None:
        draft = request.draft
        shown = shown_spaces(request.spaces, request.profile)
        parts = module_parts(draft.source)
        earlier = (json.dumps(parts) if parts is not None
                   else "(the module, which did not parse)\n" + _numbered(draft.source))
        job = render("code_repair", contract=render("code_contract"), answer=earlier,
                     error=error_tail(request.trial), fault=fault_line(request.trial))
        answer = self._ask(context_messages(request.task, request.profile, shown, job),
                           "code_repair")
        if answer is None:
            return None
        attempt = draft.attempt + 1
        source = assemble_module(answer, header=f"Repair {attempt} of {draft.root_family}, "
                                                 "written by mlpilot's LLM critic.")
        return CodeDraft(name=_safe_name(answer.name), source=source,
                         rationale=_one_line(answer.rationale), origin="repair",
                         attempt=attempt, parent=draft.family, root=draft.root_family)

    def _ask(self, messages: list[dict[str, str]], purpose: str) -> CodeAnswer | None:
        try:
            return self.llm.complete(messages, CodeAnswer, purpose=purpose,
                                     max_tokens=self.max_tokens)
        except LLMError as exc:
            log.warning("coder (%s): %s", purpose, exc)
            return None


def module_parts(source: str) -> dict[str, Any] | None:
    """A module in the answer's parts (name, rationale, imports, params, body), so that a
    repair request shows the model its own earlier answer in the form it answers in; None
    when the text does not parse or does not define ``build_model``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    func = next((n for n in tree.body
                 if isinstance(n, ast.FunctionDef) and n.name == "build_model"), None)
    if func is None or not func.body:
        return None
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    params: list[dict[str, Any]] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "SPACE" for t in node.targets):
            try:
                space = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError):
                space = {}
            if isinstance(space, dict):
                params = [{"name": k, **v} for k, v in space.items() if isinstance(v, dict)]
    lines = source.splitlines()
    start = func.body[0].lineno - 1
    if isinstance(func.body[0], ast.Expr) and isinstance(func.body[0].value, ast.Constant) \
            and len(func.body) > 1:  # the function's docstring is not part of the answer
        start = func.body[1].lineno - 1
    end = func.end_lineno or len(lines)
    body = textwrap.dedent("\n".join(lines[start:end]))
    doc = ast.get_docstring(tree) or ""
    name, _, rationale = doc.split("\n", 1)[0].partition(": ")
    return {"name": name.strip() or "proposal", "rationale": rationale.strip(),
            "imports": imports, "params": params, "body": body}


def same_code(a: str, b: str) -> bool:
    """Whether two modules differ at most in comments, docstrings and layout (a repair
    that only renames or re-explains itself fixes nothing)."""
    return _code_only(a) == _code_only(b)


def _code_only(source: str) -> str:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source.strip()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree)


def fault_line(trial: TrialResult) -> str:
    """The line of a failed trial's error that names the fault: a traceback's last line."""
    lines = [line.strip() for line in (trial.error or "").strip().splitlines() if line.strip()]
    if not lines:
        return f"the trial failed ({trial.failure})"
    last = lines[-1]
    return last.split("refused before it ran: ", 1)[-1][:400]


def error_tail(trial: TrialResult, n_lines: int = ERROR_LINES) -> str:
    """The last lines of a failed trial's error: where a traceback names the actual fault."""
    text = (trial.error or f"the trial failed ({trial.failure})").strip()
    lines = text.splitlines()
    kept = lines[-n_lines:]
    prefix = [f"({trial.failure}; the first {len(lines) - n_lines} lines are left out)"] \
        if len(lines) > n_lines else [f"({trial.failure})"]
    return "\n".join(prefix + kept)


def _numbered(source: str) -> str:
    return "\n".join(f"{i:3d}| {line}" for i, line in enumerate(source.splitlines(), start=1))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:RATIONALE_CHARS]
