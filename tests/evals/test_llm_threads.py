"""evals.llm_threads: the busy cores it starts, and its summary table."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from evals import llm_threads


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_busy_cores_burn_cpu_until_the_block_ends() -> None:
    with llm_threads.busy_cores(2) as procs:
        assert len(procs) == 2
        time.sleep(1.0)
        for p in procs:
            assert p.poll() is None and _cpu_seconds(p.pid) > 0.2
    assert all(p.poll() is not None for p in procs)


def test_the_summary_gives_medians_and_the_ratio_to_the_first_arm() -> None:
    def row(busy: int, threads: int, seconds: float, ok: bool = True) -> dict[str, object]:
        return {"busy": busy, "threads": threads, "seconds": seconds, "ok": ok,
                "tokens_per_s": 100.0 / seconds}

    rows = [row(0, 1, 20.0), row(0, 2, 12.0), row(0, 1, 22.0), row(0, 2, 14.0),
            row(2, 1, 20.0), row(2, 2, 80.0, ok=False), row(2, 1, 20.0), row(2, 2, 60.0)]
    text = llm_threads.summary(rows, [1, 2])
    assert "| 0 | 1 | 2 | 21.0 | 4.8 | 1.00 |" in text
    assert "| 0 | 2 | 2 | 13.0 | 7.7 | 0.62 |" in text
    assert "| 2 | 2 | 2 (1 failed) | 70.0 | 1.5 | 3.50 |" in text
