"""The run as one langgraph graph, checkpointed after every step.

    intake → profile → retrieve → plan → execute → verify → decide ─┬─► plan (next round)
                                                                     └─► finalize → END

A round is a BO round, an LLM round (the planner's configurations) or a code
round (modules the LLM wrote or repaired; see ``agents._policy``, rule 5). The
plan node of a BO round also starts the planner's call for the next LLM round
in the background (``agents._plan_ahead``), so the model writes while the BO
round trains.

Nodes are plain functions ``(state, runtime) -> partial update``; the
dependencies (data, study, workers, LLM) come in through the runtime context
(``RunContext``) and are never checkpointed. The state holds what must
survive a crash: the finished trials, the verdicts, the hybrid policy, the
queue of proposals waiting for a BO round, and the seconds spent.

A node killed midway runs again from its start on resume, so every node is
safe to re-run: the planner's answer comes back from the LLM cache, optuna's
queue skips what it already holds, and the execute step takes finished trials
from the ledger and re-asks nothing (see ``agents._search``).
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import time
from typing import Annotated, Any, Literal, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents._code_round import run_code_round
from agents._context import RunContext
from agents._finalize import finalize_run
from agents._memory import merge_queue
from agents._memory import retrieve as retrieve_runs
from agents._policy import (
    PolicyState,
    RoundKind,
    after_round,
    code_asked,
    initial_policy,
    llm_failed,
    round_size,
    wants_code,
)
from agents._search import TRIALS_FILE, SearchLoop, SearchOutcome, read_trials
from agents.coder import CodeRequest
from agents.planner import PlanRequest, PlanResult
from schemas import (
    CodeDraft,
    CodeEntry,
    Proposal,
    RetrievedRun,
    TaskSpec,
    TrialResult,
    Verdict,
    is_code_family,
)
from tools.catalog import cheapest_first, default_config
from tools.leaderboard import is_scored, rank_trials

log = logging.getLogger(__name__)


class RunState(TypedDict, total=False):
    task: TaskSpec  # resolved by intake
    trials: Annotated[list[TrialResult], operator.add]
    verdicts: Annotated[list[Verdict], operator.add]
    queue: list[Proposal]  # memory, defaults and repairs waiting for a BO round
    retrieved: list[RetrievedRun]  # past runs the memory brought in
    evidence: str  # what the planner is told about them
    memory_notes: list[str]  # why the memory was not used, if it failed
    search_notes: Annotated[list[str], operator.add]  # what the trial loop left out, and why
    policy: PolicyState
    round_kind: RoundKind
    round_start: int  # trials before the current round
    round_size: int
    plan_ahead: tuple[int, int] | None  # (trials seen, batch) of the planner call begun early
    round_proposals: int  # valid proposals of the current LLM round
    round_error: str | None  # why the current LLM round has no proposal, if it has none
    round_code: list[CodeDraft]  # the modules of the current code round
    code_queue: list[CodeDraft]  # repaired modules waiting for the next round
    code_entries: Annotated[list[CodeEntry], operator.add]  # every module written, in order
    best_before: float | None
    startup_s: float
    search_s: float  # seconds of plan/execute/verify so far: what the time budget counts
    stop_reason: str
    status: Literal["running", "completed", "failed", "cancelled"]


def intake(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    task = ctx.prepared.task
    if ctx.confirm:
        answer = interrupt({"task": task.model_dump(mode="json")})
        if not answer:
            return {"task": task, "status": "cancelled", "stop_reason": "not confirmed"}
    return {"task": task, "status": "running"}


def route_after_intake(state: RunState) -> Literal["profile", "__end__"]:
    return "__end__" if state.get("status") == "cancelled" else "profile"


def profile(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    t0 = time.monotonic()
    p = ctx.prepared
    ctx.run_dir.joinpath("profile.json").write_text(p.profile.model_dump_json(indent=2))
    ctx.observer.on_stage(
        f"{p.task.task_type} task on {len(p.data.y)} rows; metric {p.task.metric} "
        f"({p.task.direction}); holdout {len(p.split.holdout_idx)} rows kept aside")
    for notice in p.split.notices:  # fewer folds than asked: the user should know now
        ctx.observer.on_stage(notice)
    ctx.search  # noqa: B018 - open (or reload) the study now
    _ = ctx.executor  # workers ready before the clock starts
    ctx.observer.on_search_start(p.task, p.profile, len(p.spaces))
    queue = [Proposal(config=default_config(s), source="default",
                      rationale="the family's expert default")
             for s in cheapest_first(p.spaces)] if ctx.settings.defaults else []
    return {"queue": queue, "policy": initial_policy(ctx.planner is not None,
                                               plan_ahead=ctx.settings.plan_ahead),
            "startup_s": time.monotonic() - t0, "search_s": 0.0, "trials": [],
            "verdicts": [], "code_entries": [], "code_queue": [], "round_code": []}


def retrieve(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Similar past runs: warm-start points ahead of the defaults, evidence for the planner."""
    ctx = runtime.context
    if ctx.memory is None:
        return {"retrieved": [], "evidence": "none", "memory_notes": []}
    t0 = time.monotonic()
    p = ctx.prepared
    found = retrieve_runs(ctx.memory, profile=p.profile, spaces=p.spaces,
                          fingerprint=ctx.fingerprint)
    if found.notice:
        ctx.observer.on_stage(found.notice)
    elif found.runs:
        nearest, n_runs, n_points = found.runs[0], len(found.runs), len(found.proposals)
        ctx.observer.on_stage(
            f"memory: {n_runs} similar past run{'s' if n_runs != 1 else ''} (nearest "
            f"{nearest.dataset}, distance {nearest.distance:.2f}); {n_points} warm-start "
            f"configuration{'s' if n_points != 1 else ''}")
    else:
        ctx.observer.on_stage("memory: no similar past run yet")
    return {"retrieved": list(found.runs), "evidence": found.evidence,
            "memory_notes": [found.notice] if found.notice else [],
            "queue": merge_queue(found.proposals, state.get("queue", []),
                                 cheapest_first=p.task.budget.time_budget_s is not None),
            "startup_s": state.get("startup_s", 0.0) + time.monotonic() - t0}


def plan(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    t0 = time.monotonic()
    p = ctx.prepared
    ctx.llm_deadline(_deadline(state, ctx, t0))  # also the planner's that overlaps the round
    policy = state["policy"]
    trials = state["trials"]
    remaining = p.task.budget.n_trials - len(trials)
    queue = list(state.get("queue", []))
    update: dict[str, Any] = {"best_before": _best_score(state), "round_proposals": 0,
                              "round_error": None,
                              "round_start": len(trials), "round_code": []}
    code, after_code = _plan_code(state, ctx, remaining)
    if code is not None:
        return update | code | {"search_s": state["search_s"] + time.monotonic() - t0}
    if after_code is not policy:
        policy = update["policy"] = after_code
    if policy.llm_active and policy.next_round == "llm" and ctx.planner is not None:
        ahead = state.get("plan_ahead")  # the call begun during the last BO round, if any
        seen, n = ahead or (len(trials), min(ctx.rule.llm_batch, remaining))
        if ahead is None:
            ctx.observer.on_stage(f"planner: asking the LLM for up to {n} configurations")
        update["plan_ahead"] = None
        try:
            result = ctx.plan_ahead.take(ctx.planner, _plan_request(state, ctx, seen, n))
        except Exception as exc:  # a broken provider must not end the run: BO goes on
            log.warning("planner failed: %s: %s", type(exc).__name__, exc)
            update["policy"] = llm_failed(policy, f"the LLM failed: {type(exc).__name__}")
            result = None
        if result is not None and seen < len(trials):
            result = _still_new(result, trials, remaining)
        if result is not None and result.proposals:
            for proposal in result.proposals:
                ctx.search.enqueue(proposal.config, "llm")
            ctx.observer.on_stage("planner proposed: " + "; ".join(
                f"{pr.config.family} ({pr.rationale})" for pr in result.proposals))
            update |= {"round_kind": "llm", "round_size": len(result.proposals),
                       "round_proposals": len(result.proposals),
                       "search_s": state["search_s"] + time.monotonic() - t0}
            return update
        if result is not None:
            ctx.observer.on_stage(f"planner: no usable proposal ({result.error}); "
                                  "BO runs this round")
            update["round_kind"] = "llm"  # an LLM round without proposals: counted as invalid
            update["round_error"] = result.error
        else:
            update["round_kind"] = "bo"
        pol = update.get("policy", policy)
    else:
        update["round_kind"] = "bo"
        pol = policy
    size = round_size(pol, ctx.rule, n_workers=p.task.n_workers, remaining=remaining)
    for proposal in queue[:size]:
        ctx.search.enqueue(proposal.config, proposal.source)
    update |= {"queue": queue[size:], "round_size": size,
               "search_s": state["search_s"] + time.monotonic() - t0}
    if (update["round_kind"] == "bo" and pol.llm_active and ctx.planner is not None
            and ctx.settings.plan_ahead and remaining > size
            and state.get("plan_ahead") is None):
        n = min(ctx.rule.llm_batch, remaining - size)
        ctx.observer.on_stage(f"planner: asking the LLM for up to {n} configurations "
                              f"while BO runs {size} trial{'s' if size > 1 else ''}")
        ctx.plan_ahead.start(ctx.planner, _plan_request(state, ctx, len(trials), n))
        update["plan_ahead"] = (len(trials), n)
    return update


def _plan_request(state: RunState, ctx: RunContext, seen: int, n: int) -> PlanRequest:
    """The planner's request: the first ``seen`` trials (the same on resume), ``n`` wanted."""
    p = ctx.prepared
    return PlanRequest(task=p.task, profile=p.profile, spaces=p.spaces,
                       trials=state["trials"][:seen], n=n,
                       retrieved=state.get("evidence", "none"))


def _still_new(result: PlanResult, trials: list[TrialResult], remaining: int) -> PlanResult:
    """An answer begun before the latest trials, without what they already ran."""
    ran = {t.config.key() for t in trials}
    kept = [pr for pr in result.proposals if pr.config.key() not in ran][:remaining]
    dropped = len(result.proposals) - len(kept)
    error = result.error if kept or not result.proposals else (
        "every proposal had already run while the planner was thinking")
    return dataclasses.replace(result, proposals=tuple(kept),
                               n_rejected=result.n_rejected + dropped, error=error)


def _plan_code(state: RunState, ctx: RunContext,
               remaining: int) -> tuple[dict[str, Any] | None, PolicyState]:
    """A code round's plan (the queued repairs, else a new module when rule 5 asks for one)
    and the policy after it; None: no code round now."""
    policy = state["policy"]
    queued = list(state.get("code_queue", []))
    if queued:
        drafts = queued[:remaining]
        ctx.observer.on_stage("running the critic's repaired module" + (
            "s" if len(drafts) > 1 else "") + ": " + ", ".join(d.name for d in drafts))
        return {"round_kind": "code", "round_code": drafts, "round_size": len(drafts),
                "code_queue": queued[len(drafts):]}, policy
    if ctx.coder is None or not wants_code(policy, ctx.rule, ctx.settings.code):
        return None, policy
    p = ctx.prepared
    ctx.plan_ahead.settle()  # one LLM call at a time, in a fixed order
    why = "the best score has stalled; " if ctx.settings.code == "auto" else ""
    ctx.observer.on_stage(f"planner: {why}asking the LLM to write a model as code")
    try:
        draft = ctx.coder.write(CodeRequest(task=p.task, profile=p.profile, spaces=p.spaces,
                                            trials=state["trials"],
                                            n_written=policy.n_code_proposals))
    except Exception as exc:  # a broken provider must not end the run
        log.warning("coder failed: %s: %s", type(exc).__name__, exc)
        draft = None
    policy = code_asked(policy)
    if draft is None:  # no usable answer: this LLM round goes on with the catalog
        ctx.observer.on_stage("planner: no usable module came back")
        return None, policy
    ctx.observer.on_stage(f"planner wrote a model as code: {draft.name} ({draft.rationale})")
    return {"round_kind": "code", "round_code": [draft], "round_size": 1,
            "policy": policy}, policy


def execute(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    t0 = time.monotonic()
    p = ctx.prepared
    trials = state["trials"]
    first = len(trials)
    finished = {t.trial_id: t for t in _ledger(ctx) if t.trial_id >= first}
    deadline = _deadline(state, ctx, t0)
    all_trials = list(trials)

    def on_trial(result: TrialResult, _best: TrialResult | None = None) -> None:
        with (ctx.run_dir / TRIALS_FILE).open("a") as fh:
            fh.write(result.model_dump_json() + "\n")
        all_trials.append(result)
        ranked = [t for t in rank_trials(all_trials, p.task.direction or "maximize")
                  if is_scored(t)]
        ctx.observer.on_trial(result, ranked[0] if ranked else None)

    if state["round_kind"] == "code":
        new, entries = run_code_round(ctx, state["round_code"], first_trial_id=first,
                                      finished=finished, deadline=deadline, on_trial=on_trial)
        return {"trials": new, "code_entries": entries,
                "search_s": state["search_s"] + time.monotonic() - t0}
    loop = SearchLoop(p.task, search=ctx.search, executor=ctx.executor, data=p.search_data,
                      trials_dir=ctx.run_dir / "trials", on_trial=on_trial,
                      first_trial_id=first, finished=finished, history=trials)
    outcome: SearchOutcome = loop.run(deadline=deadline, n_trials=state["round_size"])
    new = sorted(outcome.trials, key=lambda t: t.trial_id)
    update: dict[str, Any] = {"trials": new,
                              "search_s": state["search_s"] + time.monotonic() - t0}
    if outcome.stop_reason.startswith("time budget"):
        update["stop_reason"] = outcome.stop_reason
    if (note := outcome.skipped_note()) is not None:
        update["search_notes"] = [note]
    return update


def verify(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    t0 = time.monotonic()
    p = ctx.prepared
    trials = state["trials"]
    new, earlier = trials[state["round_start"]:], trials[:state["round_start"]]
    drafts = {d.family: d for d in state.get("round_code", [])}
    ctx.llm_deadline(_deadline(state, ctx, t0))
    ctx.plan_ahead.settle()  # the critic asks after the planner, whatever the timing
    verdicts = ctx.verifier.verify(new, earlier=earlier, ctx=ctx.checks, task=p.task,
                                   profile=p.profile, spaces=p.spaces, drafts=drafts)
    repairs = [v.repair for v in verdicts if v.repair is not None]
    code_repairs = [v.code_repair for v in verdicts if v.code_repair is not None]
    for v in verdicts:
        if v.status != "ok":
            note = f" — critic: {v.critic}" if v.critic else ""
            log.info("trial %d %s: %s%s", v.trial_id, v.status, "; ".join(v.details), note)
    if repairs:
        ctx.observer.on_stage("critic proposed repairs: " + "; ".join(
            f"{r.config.family} ({r.rationale})" for r in repairs))
    for v in verdicts:
        if v.code_repair is not None:
            ctx.observer.on_stage(f"critic repaired the module of trial {v.trial_id} "
                                  f"(repair {v.code_repair.attempt}): {v.critic or ''}")
        elif v.critic and v.status == "failed" and v.trial_id in _code_trial_ids(new):
            ctx.observer.on_stage(f"module of trial {v.trial_id} rejected: {v.critic}")
    return {"verdicts": verdicts, "queue": [*repairs, *state.get("queue", [])],
            "code_queue": [*state.get("code_queue", []), *code_repairs],
            "search_s": state["search_s"] + time.monotonic() - t0}


def decide(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    p = ctx.prepared
    trials = state["trials"]
    policy = after_round(state["policy"], ctx.rule, kind=state["round_kind"],
                         n_valid_proposals=state.get("round_proposals", 0),
                         error=state.get("round_error"),
                         new_trials=trials[state["round_start"]:],
                         best_before=state.get("best_before"),
                         direction=p.task.direction or "maximize")
    if policy.handover and not state["policy"].handover:
        ctx.observer.on_stage(f"BO continues alone: {policy.handover}")
    update: dict[str, Any] = {"policy": policy}
    budget = p.task.budget
    if state.get("stop_reason"):
        return update
    if len(trials) >= budget.n_trials:
        update["stop_reason"] = f"trial budget reached ({budget.n_trials} trials)"
    elif budget.time_budget_s is not None and state["search_s"] >= budget.time_budget_s:
        update["stop_reason"] = f"time budget reached ({budget.time_budget_s:g} s)"
    return update


def route_after_decide(state: RunState) -> Literal["plan", "finalize"]:
    return "finalize" if state.get("stop_reason") else "plan"


def finalize(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    runtime.context.plan_ahead.settle()  # its tokens count in the record
    record = finalize_run(runtime.context, state)
    return {"status": record.status}


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[
        RunState, RunContext, RunState, RunState]:
    graph = StateGraph(RunState, context_schema=RunContext)
    for name, node in (("intake", intake), ("profile", profile), ("retrieve", retrieve),
                       ("plan", plan),
                       ("execute", execute), ("verify", verify), ("decide", decide),
                       ("finalize", finalize)):
        graph.add_node(name, node)
    graph.add_edge(START, "intake")
    graph.add_conditional_edges("intake", route_after_intake)
    graph.add_edge("profile", "retrieve")
    graph.add_edge("retrieve", "plan")
    graph.add_edge("plan", "execute")
    graph.add_edge("execute", "verify")
    graph.add_edge("verify", "decide")
    graph.add_conditional_edges("decide", route_after_decide)
    graph.add_edge("finalize", END)
    return graph.compile(checkpointer=checkpointer)


def _deadline(state: RunState, ctx: RunContext, t0: float) -> float | None:
    """When the time budget runs out (``time.monotonic()``), for a node begun at ``t0``."""
    budget_s = ctx.prepared.task.budget.time_budget_s
    return None if budget_s is None else t0 + max(0.0, budget_s - state["search_s"])


def _best_score(state: RunState) -> float | None:
    task = state["task"]
    ranked = [t for t in rank_trials(state["trials"], task.direction or "maximize")
              if is_scored(t)]
    return ranked[0].cv_score if ranked else None


def _code_trial_ids(trials: list[TrialResult]) -> set[int]:
    return {t.trial_id for t in trials if is_code_family(t.config.family)}


def _ledger(ctx: RunContext) -> list[TrialResult]:
    return read_trials(ctx.run_dir)
