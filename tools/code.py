"""The contract of a code proposal, checked statically: the module text is parsed, never run.

A code proposal is the text of one Python module (at most 64 KiB) that defines::

    SPACE = {   # optional: the parameters build_model reads, with ranges and defaults
        "n_neighbors": {"type": "int", "low": 1, "high": 50, "log": True, "default": 7},
        "alpha": {"type": "float", "low": 1e-4, "high": 10.0, "log": True, "default": 1.0},
        "weights": {"type": "categorical", "choices": ["uniform", "distance"],
                    "default": "uniform"},
    }

    def build_model(params):
        ...  # an unfitted scikit-learn-compatible estimator

``build_model`` receives a dict with a value for every ``SPACE`` parameter (an empty dict
without ``SPACE``) and returns an unfitted estimator with ``fit`` and ``predict``, and
``predict_proba`` for classification. scikit-learn, numpy, pandas and torch are available.
The estimator sees the features after the preprocessing of a scaled catalog family:
numeric columns imputed (median) and standardized, categorical columns one-hot encoded,
i.e. a dense float matrix with no missing values; for classification the labels are the
class codes 0..K-1.

``check_code`` reads the text with ``ast`` only (``SPACE`` with ``ast.literal_eval``):
nothing of the module runs in this process. The code runs only inside the sandbox, as the
last step of the trial's pipeline (``tools.code_model.CodeModel``). Every problem is a
one-line ``ProposalError`` that names the rule and the line, for a person or an LLM.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from schemas import (
    TASK_TYPES,
    CategoricalParam,
    CodeProposal,
    ConfigError,
    FamilySpace,
    FloatParam,
    IntParam,
    Param,
    ParamValue,
    ProposalError,
    TaskType,
    TrialConfig,
    code_family,
    source_digest,
)
from tools.catalog import validate_against

MAX_SOURCE_BYTES = 64 * 1024
MAX_PARAMS = 20
MAX_CHOICES = 50
MAX_NAME_CHARS = 40
ENTRY_POINT = "build_model"
SPACE_NAME = "SPACE"
DEFAULT_NAME = "proposal"
_NUMERIC_KEYS = ("type", "low", "high", "log", "default")
_CATEGORICAL_KEYS = ("type", "choices", "default")
_LITERAL_NODES = (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.UnaryOp, ast.USub,
                  ast.UAdd, ast.Load)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def check_code(source: str, *, name: str | None = None, task_type: TaskType) -> CodeProposal:
    """Check a code proposal's text against the contract without running any of it.

    ``name`` is a short identifier for people (default ``"proposal"``). Raises
    ``ProposalError`` (a ``ConfigError``) with a one-line message on the first problem.
    """
    if task_type not in TASK_TYPES:
        raise ConfigError(f"The 'task_type' parameter must be one of {list(TASK_TYPES)}; "
                          f"got {task_type!r} instead.")
    name = _check_name(name)
    tree = _parse(source)
    _check_entry_point(tree)
    params, default = _read_space(tree)
    _check_reads(tree, params)
    digest = source_digest(source)
    try:
        space = FamilySpace(name=code_family(digest), description=_describe(tree, name),
                            task_types=(task_type,), params=params, default=default)
        return CodeProposal(name=name, source=source, space=space, digest=digest)
    except ValidationError as exc:  # the checks above should have caught it; still one line
        raise ProposalError(f"The code's SPACE is invalid: {_first_error(exc)}.") from exc


def imported_packages(source: str) -> frozenset[str]:
    """The top-level packages a module's import statements name, wherever they stand
    (``import torch.nn as nn`` -> ``torch``); read from the syntax tree, never executed."""
    names: set[str] = set()
    for node in ast.walk(_parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return frozenset(names)


def code_params(proposal: CodeProposal, params: dict[str, Any] | None = None
                ) -> dict[str, ParamValue]:
    """The values ``build_model`` gets: the defaults of ``SPACE``, overridden by ``params``.

    Every value is checked against the proposal's space with the catalog's strict
    validation (``ConfigError`` naming the parameter, its rule and the value).
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"The parameters of a code proposal must be a dict (a JSON object); "
                          f"got {type(params).__name__} instead.")
    for key, value in params.items():
        if not isinstance(value, (bool, int, float, str, type(None))):
            raise ConfigError(f"The '{proposal.family}.{key}' parameter must be a number, a "
                              f"string, true/false or null; got {value!r} instead.")
    config = TrialConfig(family=proposal.family, params={**proposal.space.default, **params})
    return dict(validate_against(config, proposal.space).params)


# -- the module as a whole ---------------------------------------------------------------------


def _check_name(name: str | None) -> str:
    if name is None:
        return DEFAULT_NAME
    if (not isinstance(name, str) or not name.isascii() or not name.isidentifier()
            or not name[0].isalpha() or len(name) > MAX_NAME_CHARS):
        raise ConfigError(f"The 'name' parameter of a code proposal must be a short identifier "
                          f"(a letter, then letters, digits or _, at most {MAX_NAME_CHARS} "
                          f"characters); got {name!r} instead.")
    return name


def _parse(source: str) -> ast.Module:
    if not isinstance(source, str):
        raise ProposalError(f"The code must be the text of a Python module; got "
                            f"{type(source).__name__} instead.")
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ProposalError(f"The code must be valid UTF-8 text; character {exc.start} is "
                            "not.") from exc
    if size > MAX_SOURCE_BYTES:
        raise ProposalError(f"The code is {size} bytes long; a proposal may have at most "
                            f"{MAX_SOURCE_BYTES} bytes (64 KiB).")
    try:
        return ast.parse(source, filename="proposal.py")
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        raise ProposalError(f"The code has a syntax error{where}: {_one_line(exc.msg)}.") from exc
    except ValueError as exc:  # a NUL character (Python 3.11)
        raise ProposalError(f"The code cannot be parsed: {_one_line(str(exc))}.") from exc
    except (RecursionError, MemoryError) as exc:
        raise ProposalError("The code is nested too deeply to be parsed.") from exc


def _describe(tree: ast.Module, name: str) -> str:
    doc = ast.get_docstring(tree)
    first = doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""
    return first[:200] or f"code proposal {name}"


def _module_scope(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node that runs in the module's own scope (not inside a function or class body;
    a def or class statement itself, its decorators and defaults are included)."""
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            inner: list[ast.AST] = [*getattr(node, "decorator_list", ()),
                                    *getattr(node, "bases", ()),
                                    *getattr(node, "keywords", ())]
            if not isinstance(node, ast.ClassDef):
                inner += [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
            stack.extend(reversed(inner))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _bindings(tree: ast.Module, name: str) -> list[tuple[ast.AST, str]]:
    """The statements of the module's scope that bind ``name``, with how they bind it."""
    found: list[tuple[ast.AST, str]] = []
    for node in _module_scope(tree):
        how = _binds(node, name)
        if how:
            found.append((node, how))
    return found


def _binds(node: ast.AST, name: str) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {ast.FunctionDef: "a def", ast.AsyncFunctionDef: "an async def",
                ast.ClassDef: "a class"}[type(node)] if node.name == name else ""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        hit = any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
        return "an import" if hit else ""
    if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, (ast.Store,
                                                                                ast.Del)):
        return "a deletion" if isinstance(node.ctx, ast.Del) else "an assignment"
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name == name:
        return "an assignment"
    if isinstance(node, ast.Global) and name in node.names:
        return "a global statement"
    return ""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return _one_line(error["msg"])


# -- build_model -------------------------------------------------------------------------------


def _check_entry_point(tree: ast.Module) -> None:
    bindings = _bindings(tree, ENTRY_POINT)
    defs = [node for node, _ in bindings
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not bindings:
        raise ProposalError("The code must define a top-level function build_model(params) "
                            "that returns an unfitted estimator; it defines none.")
    if len(defs) > 1:
        lines = ", ".join(str(node.lineno) for node in defs)
        raise ProposalError(f"The code defines build_model {len(defs)} times (lines {lines}); "
                            "keep one.")
    if not defs:
        node, how = bindings[0]
        raise ProposalError(f"build_model must be defined by a top-level def build_model(params)"
                            f"; line {_line(node)} binds it by {how}.")
    func = defs[0]
    if func not in tree.body:
        raise ProposalError(f"build_model must be defined at the top level of the module, not "
                            f"inside another statement (line {func.lineno}).")
    others = [(node, how) for node, how in bindings if node is not func]
    if others:
        node, how = others[0]
        raise ProposalError(f"build_model must be defined once, by its def (line {func.lineno})"
                            f"; line {_line(node)} binds it again by {how}.")
    if isinstance(func, ast.AsyncFunctionDef):
        raise ProposalError(f"build_model must be a plain def, not an async def "
                            f"(line {func.lineno}).")
    _check_signature(func)


def _check_signature(func: ast.FunctionDef) -> None:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    if args.vararg is not None:
        raise ProposalError(f"build_model must take one argument, params; it also takes "
                            f"*{args.vararg.arg} (line {func.lineno}).")
    if len(positional) != 1:
        raise ProposalError(f"build_model must take one argument, params; it takes "
                            f"{len(positional)} (line {func.lineno}).")
    required = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if d is None]
    if required:
        raise ProposalError(f"build_model must take one argument, params; its keyword-only "
                            f"argument '{required[0]}' has no default (line {func.lineno}).")


def _check_reads(tree: ast.Module, params: dict[str, Param]) -> None:
    """Every ``params["name"]`` that build_model reads must be declared in ``SPACE``: the
    dict it gets holds exactly those keys (``params.get("name", default)`` is fine)."""
    func = next(node for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name == ENTRY_POINT)
    positional = [*func.args.posonlyargs, *func.args.args]
    arg = positional[0].arg
    for node in ast.walk(func):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name) and node.value.id == arg
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
                and node.slice.value not in params):
            declared = ", ".join(sorted(params)) or "nothing"
            raise ProposalError(f"build_model reads {arg}[{node.slice.value!r}] (line "
                                f"{node.lineno}), but SPACE does not declare "
                                f"{node.slice.value!r} (it declares {declared}); declare it "
                                "in SPACE or use a fixed value.")


def _line(node: ast.AST) -> int:
    return int(getattr(node, "lineno", 0))


# -- SPACE -------------------------------------------------------------------------------------


def _read_space(tree: ast.Module) -> tuple[dict[str, Param], dict[str, ParamValue]]:
    """The parameters and defaults declared by ``SPACE`` (none when it is absent)."""
    bindings = _bindings(tree, SPACE_NAME)
    if not bindings:
        return {}, {}
    assigns = [stmt for stmt in tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
               and _assigns_name(stmt, SPACE_NAME)]
    if len(bindings) > 1 or len(assigns) != 1:  # one binding: then it is this assignment
        lines = ", ".join(str(_line(node)) for node, _ in bindings)
        raise ProposalError(f"SPACE must be assigned exactly once, at the top level, as "
                            f"SPACE = {{...}} with a literal dict; it is bound at line(s) "
                            f"{lines}.")
    node = assigns[0]
    value = node.value
    assert value is not None  # _assigns_name requires a value
    raw = _literal(value)
    if not isinstance(raw, dict):
        raise ProposalError(f"SPACE must be a dict that maps parameter names to entries; got "
                            f"a {type(raw).__name__} (line {node.lineno}).")
    key_lines = _key_lines(value, node.lineno)
    if len(raw) > MAX_PARAMS:
        raise ProposalError(f"SPACE has {len(raw)} parameters; at most {MAX_PARAMS} are "
                            f"allowed (line {node.lineno}).")
    params: dict[str, Param] = {}
    default: dict[str, ParamValue] = {}
    for key, entry in raw.items():
        line = key_lines.get(key, node.lineno) if isinstance(key, str) else node.lineno
        label = _check_key(key, line)
        params[label], default[label] = _entry(label, entry, line)
    return params, default


def _assigns_name(node: ast.Assign | ast.AnnAssign, name: str) -> bool:
    """``name = value`` (one plain name target) or ``name: T = value``."""
    if isinstance(node, ast.AnnAssign):
        return node.value is not None and isinstance(node.target, ast.Name) \
            and node.target.id == name
    return len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
        and node.targets[0].id == name


def _literal(value: ast.expr) -> Any:
    for node in ast.walk(value):
        if not isinstance(node, _LITERAL_NODES) or (
                isinstance(node, ast.Dict) and None in node.keys):
            text = _one_line(ast.unparse(node))
            text = text if len(text) <= 40 else text[:37] + "..."
            raise ProposalError(f"SPACE must be a literal dict holding only numbers, strings, "
                                f"True/False/None, lists and dicts; {text!r} at line "
                                f"{_line(node) or _line(value)} is not a literal.")
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ProposalError(f"SPACE must be a literal dict; it cannot be read as one "
                            f"(line {_line(value)}): {_one_line(str(exc))[:80]}.") from exc


def _key_lines(value: ast.expr, default_line: int) -> dict[str, int]:
    """The line of each key of a dict display; a key given twice is an error."""
    lines: dict[str, int] = {}
    if not isinstance(value, ast.Dict):
        return lines
    for key in value.keys:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if key.value in lines:
                raise ProposalError(f"SPACE sets {key.value!r} twice (lines {lines[key.value]}, "
                                    f"{key.lineno}); keep one.")
            lines[key.value] = key.lineno or default_line
    return lines


def _check_key(key: Any, line: int) -> str:
    if not isinstance(key, str):
        raise ProposalError(f"SPACE keys must be parameter names (strings); got {key!r} "
                            f"(line {line}).")
    if not key.isidentifier() or keyword.iskeyword(key) or len(key) > MAX_NAME_CHARS:
        raise ProposalError(f"SPACE key {key!r} is not a valid parameter name: use a Python "
                            f"identifier of at most {MAX_NAME_CHARS} characters (line {line}).")
    return key


def _entry(key: str, entry: Any, line: int) -> tuple[Param, ParamValue]:
    where = f"SPACE[{key!r}]"
    if not isinstance(entry, dict):
        raise ProposalError(f"{where} must be a dict such as {{'type': 'float', 'low': 0.001, "
                            f"'high': 10.0, 'default': 1.0}}; got {_short(entry)} (line {line}).")
    kind = entry.get("type")
    if kind not in ("int", "float", "categorical"):
        got = "no 'type'" if "type" not in entry else f"type {_short(kind)}"
        raise ProposalError(f"{where} must have a 'type' of 'int', 'float' or 'categorical'; "
                            f"it has {got} (line {line}).")
    allowed = _CATEGORICAL_KEYS if kind == "categorical" else _NUMERIC_KEYS
    unknown = [k for k in entry if k not in allowed]
    if unknown:
        raise ProposalError(f"{where} has the unknown key {_short(unknown[0])}; a {kind} entry "
                            f"takes {', '.join(allowed)} (line {line}).")
    required = [k for k in allowed if k != "log" and k not in entry]
    if required:
        raise ProposalError(f"{where} needs a {required[0]!r}; a {kind} entry takes "
                            f"{', '.join(allowed)} (line {line}).")
    if kind == "categorical":
        return _categorical(where, entry, line)
    return _numeric(where, kind, entry, line)


def _numeric(where: str, kind: str, entry: dict[str, Any], line: int) -> tuple[Param, ParamValue]:
    low, high, log, default = entry["low"], entry["high"], entry.get("log", False), \
        entry["default"]
    for field, value in (("low", low), ("high", high), ("default", default)):
        if not _is_number(value, integral=kind == "int"):
            rule = "an int" if kind == "int" else "a finite number"
            raise ProposalError(f"{where} '{field}' must be {rule}; got {_short(value)} "
                                f"(line {line}).")
    if not isinstance(log, bool):
        raise ProposalError(f"{where} 'log' must be True or False; got {_short(log)} "
                            f"(line {line}).")
    if not low < high:
        raise ProposalError(f"{where} needs low < high; got low={low!r}, high={high!r} "
                            f"(line {line}).")
    if log and low <= 0:
        raise ProposalError(f"{where} is log-scaled, so its low must be > 0; got low={low!r} "
                            f"(line {line}).")
    if not low <= default <= high:
        raise ProposalError(f"{where} default {default!r} is outside [{low!r}, {high!r}] "
                            f"(line {line}).")
    if kind == "int":
        return IntParam(low=low, high=high, log=log), int(default)
    return FloatParam(low=float(low), high=float(high), log=log), float(default)


def _categorical(where: str, entry: dict[str, Any], line: int) -> tuple[Param, ParamValue]:
    choices, default = entry["choices"], entry["default"]
    if not isinstance(choices, (list, tuple)) or not 1 <= len(choices) <= MAX_CHOICES:
        raise ProposalError(f"{where} 'choices' must be a list of 1 to {MAX_CHOICES} values; "
                            f"got {_short(choices)} (line {line}).")
    for choice in choices:
        if not (choice is None or isinstance(choice, (bool, str))
                or _is_number(choice, integral=False)):
            raise ProposalError(f"{where} choices must be numbers, strings, True/False or None; "
                                f"got {_short(choice)} (line {line}).")
    param = CategoricalParam(choices=tuple(choices))
    if len({(type(c), c) for c in choices}) != len(choices):
        raise ProposalError(f"{where} 'choices' holds a value twice: {_short(choices)} "
                            f"(line {line}).")
    if not param.contains(default):
        raise ProposalError(f"{where} default {_short(default)} is not one of its choices "
                            f"{_short(choices)} (line {line}).")
    return param, default


def _is_number(value: Any, *, integral: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integral:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _short(value: Any) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."
