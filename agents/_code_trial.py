"""One trial of a code proposal, through the same path as every other trial.

The proposal's pipeline (our preprocessing, then a ``CodeModel``) is built and
saved here without running any of the code, run by the given executor on the
training part's folds, and scored here from its out-of-fold predictions. The
code never sees the holdout: the executor only holds the training part's data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agents._context import Prepared
from agents._search import dump_trial, resolved, score_result
from sandbox import Executor
from schemas import CodeProposal, TrialConfig, TrialResult, TrialSource
from tools.code import code_params
from tools.code_model import code_pipeline

log = logging.getLogger(__name__)

PROPOSAL_FILE = "proposal.py"


def run_code_trial(proposal: CodeProposal, params: dict[str, Any] | None, *,
                   prepared: Prepared, executor: Executor, work_dir: Path, trial_id: int = 0,
                   timeout_s: float, memory_mb: int, source: TrialSource = "llm") -> TrialResult:
    """Run one trial of ``proposal`` with ``params`` (completed from its SPACE's defaults).

    ``work_dir`` is the trial's own folder: it gets ``proposal.py`` (the module text, for
    people), ``estimator.joblib`` and the executor's outputs. Bad ``params`` raise
    ``ConfigError``; a proposal that fails in the sandbox is a failed result.
    """
    task_type, metric, _ = resolved(prepared.task)
    data = prepared.search_data
    values = code_params(proposal, params)
    config = TrialConfig(family=proposal.family, params=values)
    pipeline = code_pipeline(proposal, values, task_type=task_type,
                             numeric_columns=data.numeric_columns,
                             categorical_columns=data.categorical_columns)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / PROPOSAL_FILE).write_text(proposal.source, encoding="utf-8")
    spec = dump_trial(pipeline, trial_id=trial_id, config=config, source=source,
                      work_dir=work_dir, n_classes=data.n_classes, timeout_s=timeout_s,
                      memory_mb=memory_mb)
    result = score_result(executor.run(spec), metric=metric, data=data)
    if result.ok:
        log.info("code trial %d %s (%s): %.5f", trial_id, proposal.name, proposal.family,
                 result.cv_score)
    else:
        log.info("code trial %d %s (%s) failed (%s)", trial_id, proposal.name, proposal.family,
                 result.failure)
    return result
