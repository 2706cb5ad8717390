"""The import direction of ARCHITECTURE.md, and one owner per outside library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "prompts", "memory", "sandbox", "tools", "agents", "evals", "cli")
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "prompts": set(),
    "memory": {"schemas"},
    "sandbox": {"schemas"},
    "tools": {"schemas"},
    "agents": {"schemas", "prompts", "tools", "memory", "sandbox"},
    "evals": {"schemas", "prompts", "tools", "memory", "sandbox", "agents"},
    "cli": set(PACKAGES),
}
# outside library -> the only places that may import it
OWNERS: dict[str, tuple[str, ...]] = {
    # evals/overhead times a plain optuna objective, the peer a user writes by hand
    "optuna": ("tools/bo", "evals/overhead.py"),
    "litellm": ("tools/llm",),
    "llama_cpp": ("tools/llm",),
    "chromadb": ("memory/",),
    "subprocess": ("sandbox/", "evals/"),
    "multiprocessing": ("sandbox/",),
    "resource": ("sandbox/",),
    "flaml": ("evals/_flaml",),
    "autorank": ("evals/stats", "evals/report"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), _modules(), ids=lambda v: str(v))
def test_imports_go_one_way(package: str, path: Path) -> None:
    inside = _imports(path) & set(PACKAGES) - {package}
    forbidden = inside - ALLOWED[package]
    assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


@pytest.mark.parametrize(("package", "path"), _modules(), ids=lambda v: str(v))
def test_outside_libraries_have_one_owner(package: str, path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    for lib in _imports(path) & set(OWNERS):
        assert rel.startswith(OWNERS[lib]), f"{rel} imports {lib}; only {OWNERS[lib]} may"


def test_an_isolated_interpreter_finds_our_packages(tmp_path: Path) -> None:
    """What a sandbox worker does (``python -I``, another folder) must find our packages, not
    a same-named folder a dependency installed (chromadb ships a ``schemas`` data folder)."""
    code = ("import importlib.util as u; "
            f"print('\\n'.join(str(u.find_spec(n).origin) for n in {list(PACKAGES)!r}))")
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(ROOT / p / "__init__.py") for p in PACKAGES]
