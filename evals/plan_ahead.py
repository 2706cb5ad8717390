"""The planner thinking while a BO round trains, against the planner waited for.

For each bundled dataset and seed, two runs of the full agent with the embedded
LLM, the real sandbox and the same trial budget: ``ahead`` (the default: the
planner is asked while a BO round trains) and ``serial`` (``plan_ahead`` off:
each planner call waits for the trials before it, and the workers wait for the
call). The LLM's answer cache is off, so both pay for every call. Reported per
run: the search time, the LLM's time, the holdout score and the trials by
source; then per dataset the ratio of search times (ahead / serial) and the
holdout difference, and over all pairs the geometric mean of the ratios. Each
finished run leaves ``eval_row.json`` in its folder: rerunning the command with
the same ``--out`` skips it.

    python -m evals.plan_ahead [--datasets iris,breast_cancer] [--seeds 0]
                               [--trials 20] [--workers 2] [--out DIR]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents import SearchSettings
from evals import _agent_runs

ARMS = {"ahead": SearchSettings(), "serial": SearchSettings(plan_ahead=False)}


def summary(rows: Sequence[dict[str, Any]]) -> str:
    """Per (dataset, seed) pair: search time ahead / serial and the holdout difference."""
    return _agent_runs.paired_summary(rows, "ahead", "serial")


def main(argv: Sequence[str] | None = None) -> int:
    return _agent_runs.main(argv, description=__doc__.split("\n")[0], arms=ARMS, arm="ahead",
                            baseline="serial", prefix="mlpilot-plan-ahead-")


if __name__ == "__main__":
    raise SystemExit(main())
