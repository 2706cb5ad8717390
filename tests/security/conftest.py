"""The world a hostile code proposal is run in, and what the battery measures around it.

Each test gets a fresh ``World``: an API key in the parent's environment, a temp HOME
holding a credentials file, a data file, a marker folder, a TCP and a UDP listener on
127.0.0.1 and a random token that names everything an attack may leave behind. ``run``
runs ``python -m cli exec-code`` on one attack module as a subprocess (its own session);
the checks look at what came back and at what changed around it.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
ATTACKS_DIR = Path(__file__).resolve().parent / "attacks"
SETTINGS_LINE = "SETTINGS: dict[str, Any] = {}\n"
CREDENTIALS = ".config/mlpilot-test/credentials"
N_ROWS = 120
GRACE_S = 3.0
_CHUNK = 1 << 24


class Listener:
    """A TCP or UDP server on 127.0.0.1 that records every connection and datagram."""

    def __init__(self, kind: int) -> None:
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.n_connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(kind,), daemon=True)
        self._thread.start()

    def _serve(self, kind: int) -> None:
        while not self._stop.is_set():
            try:
                if kind == socket.SOCK_DGRAM:
                    self.received.append(self.sock.recv(65536))
                    continue
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.n_connections += 1
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    self.received.append(conn.recv(1 << 20))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@dataclass
class Run:
    """What one ``exec-code`` call gave back."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    out_dir: Path
    result: dict[str, Any] | None

    @property
    def error(self) -> str:
        return str((self.result or {}).get("error") or "")

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.wall_s:.1f} s\nstdout: {self.stdout[-3000:]}"
                f"\nstderr: {self.stderr[-3000:]}")


@dataclass
class World:
    """Everything around one attack; see the module docstring."""

    root: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    secret: str = field(default_factory=lambda: f"sk-test-{uuid.uuid4().hex}")
    home_secret: str = field(default_factory=lambda: f"home-secret-{uuid.uuid4().hex}")
    tcp: Listener = field(default_factory=lambda: Listener(socket.SOCK_STREAM))
    udp: Listener = field(default_factory=lambda: Listener(socket.SOCK_DGRAM))

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.marker_dir = self.root / "markers"
        self.out_dir = self.root / "out"
        self.data_path = self.root / "data" / f"holdout-{self.token}.csv"
        credentials = self.home / CREDENTIALS
        credentials.parent.mkdir(parents=True)
        credentials.write_text(f"api_key = {self.home_secret}\n")
        (self.home / ".bashrc").write_text("# the user's shell settings\n")
        self.marker_dir.mkdir()
        self.data_path.parent.mkdir()
        write_data(self.data_path, self.token)
        self.before = self.snapshot()

    # -- running --------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """What every attack may know: where things are, never a secret."""
        return {"port": self.tcp.port, "udp_port": self.udp.port, "home": str(self.home),
                "relative": CREDENTIALS, "data_path": str(self.data_path),
                "marker_dir": str(self.marker_dir), "repo": str(REPO), "token": self.token,
                "host_pidns": os.readlink("/proc/self/ns/pid")}

    def module(self, attack: str, **overrides: Any) -> Path:
        """The attack's module with its settings written in (only the keys its class takes)."""
        text = (ATTACKS_DIR / f"{attack}.py").read_text()
        assert text.count(SETTINGS_LINE) == 1, attack
        values = {**self.settings(), **overrides}
        wanted = {k: v for k, v in values.items() if k in _settings_read(text)}
        text = text.replace(SETTINGS_LINE, f"SETTINGS: dict[str, Any] = {wanted!r}\n")
        path = self.root / "proposals" / f"{attack}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path

    def run(self, attack: str, *, isolation: str, timeout_s: float = 20, memory_mb: int = 1024,
            wait_s: float = 90, **overrides: Any) -> Run:
        """``mlpilot exec-code`` on the attack, with the secret in the parent's environment."""
        argv = [sys.executable, "-m", "cli", "exec-code", str(self.module(attack, **overrides)),
                "--data", str(self.data_path), "--target", "label", "--timeout", f"{timeout_s:g}",
                "--memory", str(memory_mb), "--isolation", isolation, "--out", str(self.out_dir)]
        # exec-code's temp folder (bundle, scratch) goes under the test's own: a case that
        # kills exec-code must not leave it in /tmp
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {**os.environ, "OPENAI_API_KEY": self.secret, "HOME": str(self.home),
               "TMPDIR": str(tmp)}
        start = time.monotonic()
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=wait_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        wall = time.monotonic() - start
        text = stdout.decode(errors="replace")
        return Run(proc.returncode, text, stderr.decode(errors="replace"), wall, self.out_dir,
                   _json_object(text))

    # -- what changed ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, tuple[int, int, bytes]]:
        """Size, mtime and content of the data file and every file of HOME and the markers."""
        files = [self.data_path]
        for root in (self.home, self.marker_dir):
            files += sorted(p for p in root.rglob("*") if not p.is_dir())
        shot = {}
        for path in files:
            with contextlib.suppress(OSError):
                info = path.lstat()
                shot[str(path)] = (info.st_size, info.st_mtime_ns, path.read_bytes())
        return shot

    def escapes(self) -> list[Path]:
        """Files named after the token outside the test's own folders."""
        name = f"escape-{self.token}.txt"
        places = [REPO / name, REPO / "tools" / name, Path("/tmp") / name]
        places += Path("/dev/shm").glob(f"*{self.token}*")
        places += Path("/tmp").glob(f"fill-{self.token}-*")
        return [p for p in places if p.exists()]

    def leftovers(self, timeout_s: float = GRACE_S) -> list[int]:
        """Processes still carrying the token after a grace period."""
        deadline = time.monotonic() + timeout_s
        while processes_with(self.token) and time.monotonic() < deadline:
            time.sleep(0.1)
        return processes_with(self.token)

    def leaks(self, run: Run) -> list[str]:
        """Where a secret shows: stdout, stderr or any file under ``--out``."""
        secrets = [s.encode() for s in (self.secret, self.home_secret)]
        found = [f"{where} holds {s.decode()[:12]}..."
                 for where, text in (("stdout", run.stdout), ("stderr", run.stderr))
                 for s in secrets if s in text.encode()]
        if run.out_dir.exists():
            for path in sorted(p for p in run.out_dir.rglob("*") if p.is_file()):
                found += [f"{path} holds {s.decode()[:12]}..." for s in secrets
                          if _file_holds(path, s)]
        return found

    def clean_up(self) -> None:
        """Remove what an attack that got out left behind: processes, then files."""
        for pid in processes_with(self.token):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for path in self.escapes():
            with contextlib.suppress(OSError):
                path.unlink()
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(root=tmp_path)
    try:
        yield made
    finally:
        made.clean_up()


def write_data(path: Path, token: str, n_rows: int = N_ROWS) -> None:
    """A binary classification table; a column named after the token marks the file."""
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, n_rows))
    frame = pd.DataFrame({"a": a, "b": b, "c": c, f"canary_{token}": rng.normal(size=n_rows),
                          "label": (a + 0.5 * b > 0).astype(int)})
    frame.to_csv(path, index=False)


def processes_with(token: str) -> list[int]:
    """Live processes (not zombies) with the token in their command line or environment."""
    found = []
    needle = token.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            state = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0]
            if state in ("Z", "X"):
                continue
            if needle in Path(f"/proc/{entry}/cmdline").read_bytes() \
                    or needle in Path(f"/proc/{entry}/environ").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


def _settings_read(text: str) -> set[str]:
    """The settings a module reads: its ``Attack.__init__`` arguments and ``SETTINGS.get`` keys."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            names.update(a.arg for a in [*node.args.args, *node.args.kwonlyargs])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "SETTINGS"
              and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(str(node.args[0].value))
    return names - {"self"}


def _file_holds(path: Path, needle: bytes) -> bool:
    """Whether a (possibly huge) file contains ``needle``, read in chunks."""
    overlap = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            if needle in overlap + chunk:
                return True
            overlap = chunk[-len(needle):]
    return False


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
