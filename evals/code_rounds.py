"""Code rounds (the LLM writes a model as Python) in ``auto``, against no code rounds.

For each bundled dataset and seed, two runs of the full agent with the embedded
LLM, the real sandbox and the same trial budget: ``auto`` (mlpilot's default: an
LLM round becomes a code round once the best score has stalled for two rounds)
and ``off``. The LLM's answer cache is off, so both pay for every call. Reported
per run: the holdout score, the search and LLM time, the modules written and run,
and whether a module was the best trial or part of the final ensemble; then per
dataset and seed the ratio of search times (auto / off) and the holdout
difference. Rerunning the command with the same ``--out`` skips finished runs.

    python -m evals.code_rounds [--datasets iris,breast_cancer] [--seeds 0]
                                [--trials 20] [--workers 2] [--out DIR]
"""

from __future__ import annotations

from collections.abc import Sequence

from agents import SearchSettings
from evals import _agent_runs

ARMS = {"auto": SearchSettings(code="auto"), "off": SearchSettings(code="off")}


def main(argv: Sequence[str] | None = None) -> int:
    return _agent_runs.main(argv, description=__doc__.split("\n")[0], arms=ARMS, arm="auto",
                            baseline="off", prefix="mlpilot-code-rounds-", code=True)


if __name__ == "__main__":
    raise SystemExit(main())
