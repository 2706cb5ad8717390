"""``mlpilot chat``: ask for a model in plain words, confirm, watch it run, ask about it.

One conversation, in a terminal:

- a request ("predict churn in data/churn.csv, optimise F1, ten minutes") is
  understood by rules, with the LLM filling only what the rules left open;
  what is still missing (the file, the target) is asked for;
- the run stops after intake (a graph interrupt) and shows the task as
  mlpilot understood it; nothing trains before the person says yes;
- follow-ups are answered from the finished run's own record ("why did the
  forest win?", "what failed?"); "try only linear models with 10 more trials"
  starts a new run with those limits; "export the model to m.joblib" copies it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from cli.settings import Settings
from schemas import Budget, FollowUp, MlpilotError, TaskRequest, TaskSpec, TrialResult

if TYPE_CHECKING:
    import pandas as pd

    from agents import MemoryUse, RunResult
    from tools.llm import LLMClient

Ask = Callable[[str], str]
DEFAULT_TRIALS = 20
_QUIT = {"quit", "exit", "bye", "q", ":q"}
_YES = {"", "y", "yes", "ok", "go", "sure", "yes please", "run it"}


@dataclass
class _Last:
    result: RunResult
    table: pd.DataFrame
    task: TaskSpec


class Chat:
    """The conversation's state: settings, the LLM, the last finished run."""

    def __init__(self, console: Console, settings: Settings, *, ask: Ask,
                 llm: LLMClient | None, llm_name: str, version: str,
                 runs_dir: Path = Path("runs"), memory: MemoryUse | None = None) -> None:
        self.console = console
        self.settings = settings
        self.ask = ask
        self.llm = llm
        self.llm_name = llm_name
        self.version = version
        self.runs_dir = runs_dir
        self.memory = memory
        self.last: _Last | None = None

    def loop(self) -> int:
        self.console.print("[bold]mlpilot chat[/bold] — say what to predict, e.g. "
                           "[italic]predict species in bundled:iris, 20 trials[/italic]. "
                           "'quit' leaves.")
        while True:
            try:
                text = self.ask("you> ").strip()
            except EOFError:
                return 0
            if text.lower() in _QUIT:
                return 0
            if not text:
                continue
            try:
                self.handle(text)
            except MlpilotError as exc:
                self.console.print(f"[red]error:[/red] {exc}")

    def handle(self, text: str) -> None:
        from tools.request import parse_followup, parse_request

        followup = parse_followup(text)
        request = parse_request(text)
        if self.last is not None and (followup.kind != "unknown" or request.data is None):
            self._follow_up(followup)
        else:
            self._request(text)

    # -- new runs ----------------------------------------------------------------------------

    def _request(self, text: str) -> None:
        from prompts import render
        from tools.io import load_table
        from tools.request import understand_request

        request = understand_request(text, llm=self.llm, render=render)
        data = request.data or self.ask("Which data file (CSV, TSV, Parquet or bundled:NAME)? ")
        table = load_table(data.strip())
        columns = [str(c) for c in table.columns]
        request = understand_request(text, llm=self.llm, columns=columns, render=render)
        target = request.target
        while target not in columns:
            shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
            target = self.ask(f"Which column should I predict? ({shown}) ").strip()
        self._run(_task_from(request, data.strip(), target), table)

    def _run(self, task: TaskSpec, table: pd.DataFrame) -> None:
        from agents import SearchSettings, begin_run, default_code_mode
        from cli.console import RichObserver, print_summary
        from cli.main import executor_factory

        run_dir = self.runs_dir / f"chat-{datetime.now():%Y%m%d-%H%M%S-%f}"
        with RichObserver(self.console) as observer:
            pending = begin_run(task, table, run_dir=run_dir, version=self.version,
                                make_executor=executor_factory(task.n_workers,
                                                               self.settings.isolation),
                                observer=observer, llm=self.llm, llm_name=self.llm_name,
                                memory=self.memory,
                                settings=SearchSettings(code=default_code_mode(self.llm_name)))
            self.console.print(_describe(pending.task))
            if self.ask("Go ahead? [Y/n] ").strip().lower() not in _YES:
                pending.cancel()
                self.console.print("Cancelled; nothing was trained.")
                return
            result = pending.confirm()
        print_summary(self.console, result.record, str(run_dir))
        self.last = _Last(result=result, table=table, task=task)
        self.console.print("Ask me about it (why did it win? what failed?), or for more "
                           "trials, or to export the model.")

    # -- follow-ups --------------------------------------------------------------------------

    def _follow_up(self, followup: FollowUp) -> None:
        from prompts import render
        from tools.explain import answer

        assert self.last is not None
        last = self.last
        if followup.kind == "more_trials":
            n = followup.n_trials or DEFAULT_TRIALS
            task = last.task.model_copy(update={
                "families": followup.families or last.task.families,
                "budget": last.task.budget.model_copy(update={"n_trials": n})})
            self._run(task, last.table)
            return
        if followup.kind == "export":
            self._export(followup)
            return
        trials = _trials(last.result.run_dir)
        self.console.print(answer(followup, record=last.result.record, trials=trials,
                                  llm=self.llm, render=render))

    def _export(self, followup: FollowUp) -> None:
        assert self.last is not None
        source = self.last.result.run_dir / "model.joblib"
        if not source.exists():
            self.console.print("That run has no model to export (no trial succeeded).")
            return
        target = Path(followup.path or self.ask("Export to which file? ").strip())
        if target.suffix == "" or target.is_dir():
            target = target / "model.joblib"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        self.console.print(f"Exported the model to {target}. Load it with "
                           "tools.model.load_model, or predict with "
                           f"mlpilot predict {self.last.result.run_dir} NEW.csv.")


def _task_from(request: TaskRequest, data: str, target: str) -> TaskSpec:
    return TaskSpec(data_path=Path(data), target=target, task_type=request.task_type,
                    metric=request.metric, families=request.families, description=request.text,
                    budget=Budget(n_trials=request.n_trials or DEFAULT_TRIALS,
                                  time_budget_s=request.time_budget_s))


def _describe(task: TaskSpec) -> str:
    budget = f"{task.budget.n_trials} trials"
    if task.budget.time_budget_s:
        budget += f" or {task.budget.time_budget_s:g} s, whichever comes first"
    families = ", ".join(task.families) if task.families else "all model families"
    better = "higher" if task.direction == "maximize" else "lower"
    return (f"I understood: predict [bold]{task.target}[/bold] in {task.data_path} "
            f"({task.task_type}), scored by {task.metric} ({better} is better), "
            f"{budget}, {families}.")


def _trials(run_dir: Path) -> list[TrialResult]:
    path = run_dir / "trials.jsonl"
    if not path.exists():
        return []
    return [TrialResult.model_validate_json(line) for line in path.read_text().splitlines()
            if line.strip()]
