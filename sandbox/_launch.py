"""How a worker process is started: the bwrap command line and the cleared environment.

Only what Python needs is bound into the sandbox, read-only: the system
directories, a few files of /etc, the interpreter, the virtual environment,
the project's own package folders and the caller's extra paths. The data
bundle is read-only; the slot's scratch folder is the one writable place.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

# The project's packages a pickled estimator may reference (custom transformers live in tools).
PROJECT_PACKAGES = ("schemas", "sandbox", "tools")
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
              "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@functools.lru_cache(maxsize=1)
def bwrap_available() -> bool:
    """Whether ``bwrap`` exists and can build the kind of sandbox the pool uses here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    argv = [exe, *_namespace_flags(), *_system_binds(), "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--remount-ro", "/", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("bwrap check failed: %s", exc)
        return False
    if done.returncode != 0:
        logger.debug("bwrap check failed: %s", done.stderr.decode(errors="replace").strip())
    return done.returncode == 0


def sandbox_env() -> dict[str, str]:
    """The whole environment of a worker: nothing of the parent's (no API keys)."""
    env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MALLOC_ARENA_MAX": "2",  # bounds the address space that thread arenas reserve
        "MPLBACKEND": "Agg",
        # pyarrow's jemalloc starts a background thread at import; a zygote forks, so it
        # should hold as few threads as possible
        "JE_ARROW_MALLOC_CONF": "background_thread:false",
    }
    env.update(dict.fromkeys(_THREAD_VARS, "1"))
    return env


def zygote_argv() -> list[str]:
    """The worker's own command, inside the sandbox or not."""
    return [sys.executable, "-I", "-m", "sandbox._zygote"]


def bwrap_argv(*, readonly: Sequence[Path], writable: Path, env: dict[str, str]) -> list[str]:
    """The full bwrap command that runs the worker with only the given paths visible."""
    exe = shutil.which("bwrap") or "bwrap"
    argv = [exe, *_namespace_flags(), "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += _system_binds()
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm"]
    for node in sorted(glob.glob("/dev/nvidia*")):
        argv += ["--dev-bind", node, node]
    argv += ["--remount-ro", "/dev", "--tmpfs", "/tmp"]
    for path in _dedupe([*python_paths(), *readonly]):
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(writable), str(writable), "--remount-ro", "/tmp",
             "--remount-ro", "/", "--chdir", str(writable)]
    return argv + zygote_argv()


def python_paths() -> list[Path]:
    """The interpreter, the virtual environment and the project's package folders."""
    paths = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.base_exec_prefix),
             Path(sys.exec_prefix), Path(sys.executable).resolve().parent]
    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths.append(Path(next(iter(spec.submodule_search_locations))))
    return paths


def import_roots(extra: Sequence[Path]) -> list[str]:
    """sys.path entries that make the extra paths importable inside the worker.

    A package folder (one with ``__init__.py``) is imported by its own name,
    so its parent goes on sys.path; any other folder goes on as it is.
    """
    roots = []
    for path in extra:
        root = path.parent if (path / "__init__.py").is_file() else path
        if path.is_dir() and str(root) not in roots:
            roots.append(str(root))
    return roots


def _namespace_flags() -> list[str]:
    return ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]


def _system_binds() -> list[str]:
    argv: list[str] = []
    for name in _SYSTEM_DIRS:
        if os.path.islink(name):
            argv += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            argv += ["--ro-bind", name, name]
    for name in _ETC_FILES:
        if os.path.exists(name):
            argv += ["--ro-bind", name, name]
    return argv


def _dedupe(paths: Sequence[Path]) -> list[Path]:
    """Existing paths, each once, leaving out any that lies under another or under /usr."""
    covered = [Path(p) for p in _SYSTEM_DIRS if os.path.isdir(p) and not os.path.islink(p)]
    kept: list[Path] = []
    for path in sorted({Path(os.path.abspath(p)) for p in paths}, key=lambda p: len(p.parts)):
        if path.exists() and not any(path.is_relative_to(c) for c in [*covered, *kept]):
            kept.append(path)
    return kept
