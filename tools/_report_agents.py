"""The report's sections on the run memory, the planner, the verifier, the hand-over to BO
and the models the LLM wrote as code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from schemas import RunRecord, TrialResult, is_code_family
from tools._report_fmt import cell, plural, table
from tools.leaderboard import error_summary


def memory_section(record: RunRecord) -> list[str]:
    lines = ["## Run memory", ""]
    if not record.retrieved:
        note = next((n for n in record.notices if "run memory" in n), None)
        lines += [note[0].upper() + note[1:] + "." if note else
                  "No similar past run was used (memory off, empty, or nothing of this task "
                  "type).", ""]
        return lines
    n_used = record.trials_by_source.get("memory", 0)
    rows = [(cell(r.dataset), f"{r.distance:.2f}", r.best_family or "-",
             str(r.n_configs_used), f"`{r.run_id}`") for r in record.retrieved]
    lines += [f"{plural(len(record.retrieved), 'similar past run')} came back from the memory; "
              f"{plural(n_used, 'trial')} ran their best configurations (source `memory`), "
              "and the planner saw them as evidence.", "",
              *table(("dataset", "distance", "best family there", "configs used", "run id"),
                     rows), ""]
    return lines


def agents_section(record: RunRecord) -> list[str]:
    lines = ["## The planner and the verifier", ""]
    llm = record.llm
    if llm.n_calls == 0:
        lines += ["No LLM took part: every configuration came from the family defaults and "
                  "Bayesian optimisation (optuna TPE)" + (f" ({record.llm_handover})."
                                                          if record.llm_handover else "."), ""]
    else:
        latency = ", ".join(f"{p} {s:.1f} s" for p, s in llm.median_latency_s.items())
        lines += [f"The LLM `{cell(llm.model)}` answered {plural(llm.n_calls, 'request')} "
                  f"({llm.n_cached} from the cache, {llm.n_failed} without a valid answer), "
                  f"{llm.prompt_tokens} prompt and {llm.completion_tokens} completion tokens, "
                  f"{llm.time_s:.1f} s in all"
                  + (f", ${llm.cost_usd:.4f}" if llm.cost_usd else "") + "."
                  + (f" Median latency: {latency}." if latency else ""), ""]
        if record.llm_handover:
            lines += [f"BO ran alone from some point on: {record.llm_handover}.", ""]
        else:
            lines += ["The LLM took part until the end of the search.", ""]
    if not record.verdicts:
        return lines
    statuses = Counter(v.status for v in record.verdicts)
    flags = Counter(f for v in record.verdicts for f in v.flags)
    lines += [f"The verifier checked {plural(len(record.verdicts), 'trial')}: "
              + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + "."
              + (" Flags: " + ", ".join(f"{f} {n}" for f, n in flags.most_common()) + "."
                 if flags else ""), ""]
    critiques = [v for v in record.verdicts if v.critic]
    if critiques:
        rows = [(str(v.trial_id), ", ".join(v.flags), cell(v.critic or ""),
                 f"`{cell(v.repair.config.key())}`" if v.repair else
                 f"module `{v.code_repair.family}`" if v.code_repair else "none")
                for v in critiques[:10]]
        lines += ["What the critic said:", "",
                  *table(("trial", "flags", "diagnosis", "repair"), rows), ""]
    return lines


def code_section(record: RunRecord, trials: Sequence[TrialResult]) -> list[str]:
    """The models the LLM wrote as code: each module's file, origin and outcome."""
    if not record.code_proposals:
        return []
    by_family = {t.config.family: t for t in trials}
    rows = []
    for entry in record.code_proposals:
        trial = by_family.get(entry.family)
        if entry.rejected is not None:
            outcome = f"refused by the static check: {entry.rejected}"
        elif trial is None:
            outcome = "not run (the budget was spent)"
        elif trial.ok and trial.cv_score is not None:
            outcome = f"trial {trial.trial_id}: cv {trial.cv_score:.4f} ± {trial.cv_std or 0:.4f}"
        else:
            outcome = f"trial {trial.trial_id} failed ({trial.failure}): " \
                      f"{error_summary(trial.error)}"
        origin = "written" if entry.origin == "llm" else f"repair {entry.attempt} of " \
                                                         f"`{entry.parent}`"
        rows.append((f"[`{entry.family}`]({entry.path})", cell(entry.name), origin,
                     cell(outcome)))
    n_written = sum(e.origin == "llm" for e in record.code_proposals)
    n_repairs = len(record.code_proposals) - n_written
    final = [m.family for m in record.ensemble] or (
        [record.best.config.family] if record.best is not None else [])
    winner = [family for family in final if is_code_family(family)]
    lines = ["## Models written as code", "",
             f"The LLM wrote {plural(n_written, 'model')} as Python code, and the critic "
             f"{plural(n_repairs, 'repaired version')} of them. Each module is kept in this folder "
             "(linked below); `mlpilot exec-code FILE --data DATA --target COL` reruns one "
             "through the same sandbox and harness. Code trials ran in the sandbox, were "
             "scored by mlpilot's harness like every other trial, and were not told to the "
             "optuna study.", "",
             *table(("module", "name", "origin", "outcome"), rows), ""]
    if winner:
        lines += ["The final model contains LLM-written code: it was refitted inside the "
                  "sandbox, and `mlpilot predict` runs it inside the sandbox too (never in "
                  "the calling process).", ""]
    return lines
