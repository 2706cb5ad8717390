"""The warm worker: imports the libraries and loads the data once, then forks a child per job.

Run as ``python -I -m sandbox._zygote`` inside the sandbox (bwrap or a plain
subprocess). It talks JSON lines with the parent: the first line on stdin is
its configuration, it answers ``{"event": "ready"}``, then each further line
is a job and each answer a ``{"event": "done"}``.

Latency: forking a process that holds numpy, pandas, scikit-learn and torch
takes 15–25 ms, and so does tearing one down. So a *standby* child is always
forked ahead and waits for its job on a pipe; the next standby is forked
while the current trial runs, the answer goes out as soon as the trial says
it has finished, and the finished child is reaped before the next job.

Fork-safety: the zygote never starts CUDA, torch threads or BLAS/OpenMP
thread pools (the environment pins them to one thread); the child raises the
limits to the trial's ``n_threads`` after the fork.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sandbox._child import FINISHED, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, prctl, serve_one, vm_mb

# Submodules a pickled estimator usually needs: importing them per trial would cost ~0.2 s.
PRELOAD_EXTRAS: dict[str, tuple[str, ...]] = {
    "sklearn": tuple(f"sklearn.{name}" for name in (
        "base", "pipeline", "compose", "preprocessing", "impute", "linear_model", "ensemble",
        "tree", "neighbors", "svm", "naive_bayes", "dummy", "decomposition",
        "feature_selection", "kernel_approximation", "neural_network", "model_selection",
        "metrics", "calibration", "discriminant_analysis")),
    "torch": ("torch.nn", "torch.optim", "torch.utils.data"),
}


@dataclass
class Standby:
    """A forked child waiting for its job; the zygote keeps the other pipe ends."""

    pid: int
    job_w: int
    done_r: int


def main() -> None:
    """Serve jobs until stdin closes."""
    proto_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints of libraries must not corrupt the protocol
    config = json.loads(sys.stdin.readline())
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    prctl(PR_SET_DUMPABLE, 0)  # a trial must not open our pipes through /proc
    data, controller = _warm_up(config)
    own_fds = [proto_out.fileno()]
    standby = _fork_standby(data, controller, own_fds)
    _send(proto_out, {"event": "ready", "vm_mb": vm_mb(), "standby_pid": standby.pid})
    for line in sys.stdin:
        # Finished children are reaped without waiting: tearing one down takes as long
        # as a fork, and it proceeds on its own while the next trial runs.
        _reap_exited()
        current = _alive_or_new(standby, data, controller, own_fds)
        os.write(current.job_w, line.encode())
        os.close(current.job_w)
        standby = _fork_standby(data, controller, [*own_fds, current.done_r])
        reply, reaped = _wait(current)
        _sweep(current.pid, keep=standby.pid, pidns=config["pidns"], reaped=reaped)
        _send(proto_out, {**reply, "standby_pid": standby.pid,
                          "child_pid": None if reaped else current.pid})


def _warm_up(config: dict[str, Any]) -> tuple[Any, Any]:
    """Import the libraries and load the data that every child inherits (no data for a pool
    without a bundle, which runs "predict" jobs only)."""
    # first, so that our packages win over a same-named one in site-packages (autorank
    # installs a top-level ``tests`` package, chromadb a ``schemas`` folder)
    for entry in reversed(config["sys_path"]):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    _preload(config["preload"])
    import sandbox._harness  # noqa: F401  (joblib and scikit-learn's clone, for every child)
    from sandbox._bundle import DataBundle, load_bundle_data

    bundle = config["bundle"]
    data = None if bundle is None else load_bundle_data(  # None: a pool for "predict" jobs
        DataBundle(path=Path(bundle["path"]), n_rows=bundle["n_rows"],
                   n_folds=bundle["n_folds"], n_classes=bundle["n_classes"]))
    if "sklearn" in config["preload"]:
        _exercise_sklearn()
    controller = _thread_controller()
    gc.collect()
    gc.freeze()  # children then leave the inherited objects' pages shared
    return data, controller


def _preload(names: list[str]) -> None:
    for name in names:
        for module in (name, *PRELOAD_EXTRAS.get(name, ())):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                print(f"zygote: cannot preload {module}: {exc}", file=sys.stderr)
                break


def _exercise_sklearn() -> None:
    """Fit a tiny pipeline once, so each child does not pay for the first-use work again.

    scikit-learn imports helpers lazily and fills caches on a first fit (30–40 %
    of a small trial's fit time here). Nothing used starts a thread: BLAS and
    OpenMP are pinned to one thread in the zygote's environment.
    """
    try:
        import io

        import joblib
        import numpy as np
        import pandas as pd
        from sklearn.base import clone
        from sklearn.compose import make_column_transformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler
        from sklearn.tree import DecisionTreeClassifier

        rng = np.random.default_rng(0)
        X = pd.DataFrame({"x": rng.normal(size=40),
                          "c": rng.choice(np.array(["a", "b", None], dtype=object), size=40)})
        y = (X["x"] > 0).to_numpy().astype(np.int64)
        columns = make_column_transformer(
            (make_pipeline(SimpleImputer(), StandardScaler()), ["x"]),
            (make_pipeline(SimpleImputer(strategy="most_frequent"),
                           OneHotEncoder(handle_unknown="ignore")), ["c"]))
        for final in (LogisticRegression(), DecisionTreeClassifier(max_depth=2)):
            buffer = io.BytesIO()
            joblib.dump(make_pipeline(columns, final), buffer)
            buffer.seek(0)
            clone(joblib.load(buffer)).fit(X, y).predict_proba(X)
        clone(make_pipeline(columns, Ridge())).fit(X, y.astype(float)).predict(X)
    except Exception as exc:  # a warm-up only saves time; it must never stop the worker
        print(f"zygote: scikit-learn warm-up skipped: {exc!r}", file=sys.stderr)


def _thread_controller() -> Any:
    """Find the BLAS/OpenMP libraries once, so a child only has to set their limits."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _fork_standby(data: Any, controller: Any, zygote_fds: list[int]) -> Standby:
    """Fork the next child; it closes every pipe end of the zygote's it inherited."""
    job_r, job_w = os.pipe()
    done_r, done_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            serve_one(job_r, done_w, [*zygote_fds, job_w, done_r], data, controller)
            code = 0
        finally:
            os._exit(code)
    os.close(job_r)
    os.close(done_w)
    return Standby(pid=pid, job_w=job_w, done_r=done_r)


def _alive_or_new(standby: Standby, data: Any, controller: Any,
                  own_fds: list[int]) -> Standby:
    """The standby if it still waits; a new one if something killed it meanwhile."""
    try:
        pid, _ = os.waitpid(standby.pid, os.WNOHANG)
    except ChildProcessError:
        pid = standby.pid
    if pid == 0:
        return standby
    os.close(standby.job_w)
    os.close(standby.done_r)
    return _fork_standby(data, controller, own_fds)


def _wait(child: Standby) -> tuple[dict[str, Any], bool]:
    """Wait until the child says it finished (it is reaped later) or dies (reap it now).

    Returns the answer for the parent and whether the child was reaped.
    """
    select.select([child.done_r], [], [])
    signal_byte = os.read(child.done_r, 1)
    os.close(child.done_r)
    if signal_byte == FINISHED:
        return {"event": "done", "exit_code": 0, "signal": None}, False
    _, status = os.waitpid(child.pid, 0)
    return {"event": "done",
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}, True


def _reap_exited() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass


def _sweep(child_pid: int, keep: int, pidns: bool, reaped: bool) -> None:
    """Kill whatever the trial left behind, so the next trial starts alone.

    Inside our own pid namespace every process except its init (pid 1), us and
    the fresh standby is the trial's: that also catches a grandchild that
    called ``setsid``.
    """
    with contextlib.suppress(OSError):
        os.killpg(child_pid, signal.SIGKILL)
    if not reaped:  # (a reaped child's pid may already belong to another process)
        with contextlib.suppress(OSError):
            os.kill(child_pid, signal.SIGKILL)  # in case the child left its process group
    if not pidns:
        return
    spare = {1, os.getpid(), keep}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in spare:
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)
    for shm in list(Path("/dev/shm").glob("*")):
        with contextlib.suppress(OSError):
            shm.unlink()


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
