"""``InProcessExecutor``: the same harness, run in the calling process, without any limit.

For fast tests and debugging. It shares the harness and the result checks
with ``SandboxPool``, so both pass the same contract suite, but it neither
isolates nor limits a trial: a trial that hangs hangs the caller. Without a
bundle (``InProcessExecutor(None)``) it runs "predict" jobs only.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from types import TracebackType

from sandbox._bundle import BundleData, DataBundle, load_bundle_data
from sandbox._harness import NO_BUNDLE, run_trial
from sandbox._outcome import failed_result, job_shape, result_from_report
from schemas import IsolationLevel, TrialResult, TrialSpec


class InProcessExecutor:
    """An ``Executor`` that fits in this process; the data are loaded on the first trial."""

    def __init__(self, bundle: DataBundle | None) -> None:
        self.bundle = bundle
        self._data: BundleData | None = None
        self._lock = threading.Lock()

    @property
    def isolation_level(self) -> IsolationLevel:
        return "in-process"

    def start(self) -> None:
        """Load the data now rather than on the first trial."""
        self._load()

    def close(self) -> None:
        self._data = None

    def __enter__(self) -> InProcessExecutor:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def run(self, spec: TrialSpec) -> TrialResult:
        """Run one job; its outputs are written straight into ``spec.work_dir``."""
        t0 = time.monotonic()
        started_at = datetime.now(UTC)
        if self.bundle is None and spec.kind != "predict":
            return failed_result(spec, "exception", NO_BUNDLE.format(kind=spec.kind),
                                 wall_time_s=time.monotonic() - t0, started_at=started_at)
        try:
            n_rows, n_classes = job_shape(spec, *self._bundle_shape())
        except (OSError, ValueError) as exc:
            return failed_result(spec, "exception", f"cannot read the rows to predict: {exc}",
                                 wall_time_s=time.monotonic() - t0, started_at=started_at)
        data = self._load()
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        report = run_trial(data, spec.estimator_path, spec.work_dir, spec.predict_kind,
                           kind=spec.kind, rows_path=spec.rows_path, n_classes=spec.n_classes)
        return result_from_report(spec, report, n_rows=n_rows, n_classes=n_classes,
                                  wall_time_s=time.monotonic() - t0, started_at=started_at)

    def _bundle_shape(self) -> tuple[int | None, int | None]:
        if self.bundle is None:
            return None, None
        return self.bundle.n_rows, self.bundle.n_classes

    def _load(self) -> BundleData | None:
        with self._lock:
            if self._data is None and self.bundle is not None:
                self._data = load_bundle_data(self.bundle)
            return self._data
