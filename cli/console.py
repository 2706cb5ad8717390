"""What a person watches: a live progress bar, the running leaderboard, the summary."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schemas import DatasetProfile, Direction, RunRecord, TaskSpec, TrialResult
from tools.leaderboard import is_scored, rank_trials

_TOP = 5


class RichObserver:
    """Implements ``agents.RunObserver``.

    On a terminal, one live region (the progress bar and the top of the leaderboard)
    stays at the bottom from the first trial to the end of the run, and the stage
    messages scroll above it. Elsewhere (a pipe, a file, a CI log) nothing is redrawn:
    each finished trial is one line, and the leaderboard is printed once at the end.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.description}"),
                                  console=console)
        self._task_id = self._progress.add_task("", total=None)
        self._trials: list[TrialResult] = []
        self._direction: Direction = "maximize"
        self._live: Live | None = None

    def __enter__(self) -> RichObserver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()  # the last frame stays on the screen
            self._live = None
        elif self._trials and not self.console.is_terminal:
            self.console.print(self._table())

    def on_stage(self, message: str) -> None:
        self.console.print(f"[cyan]•[/cyan] {message}")  # above the live region, if any

    def on_search_start(self, task: TaskSpec, profile: DatasetProfile, n_families: int) -> None:
        self._direction = task.direction or "maximize"
        for notice in profile.notices:
            self.console.print(f"[yellow]•[/yellow] {notice}")
        budget = f"{task.budget.n_trials} trials"
        if task.budget.time_budget_s is not None:
            budget += f" or {task.budget.time_budget_s:g} s, whichever comes first"
        self.console.print(f"[cyan]•[/cyan] searching {n_families} model families, {budget}, "
                           f"{task.n_workers} worker{'s' if task.n_workers > 1 else ''} "
                           "at a time")
        self._progress.update(self._task_id, total=task.budget.n_trials)
        if self.console.is_terminal:
            self._live = Live(Group(self._progress, self._table()), console=self.console,
                              refresh_per_second=4, transient=False)
            self._live.start()

    def on_trial(self, result: TrialResult, best: TrialResult | None) -> None:
        self._trials.append(result)
        best_text = "" if best is None or best.cv_score is None else (
            f"best {best.cv_score:.4f} ({best.config.family})")
        self._progress.update(self._task_id, advance=1, description=best_text)
        if self._live is not None:
            self._live.update(Group(self._progress, self._table()))
            return
        total = self._progress.tasks[0].total
        count = f"[{len(self._trials)}/{total:g}]" if total else f"[{len(self._trials)}]"
        line = (f"  {count} trial {result.trial_id} {result.config.family} ({result.source}): "
                f"{_outcome(result)} in {result.wall_time_s:.1f} s")
        self.console.print(line + (f"; {best_text}" if best_text else ""), highlight=False,
                           markup=False)

    def _table(self) -> Table:
        table = Table(title="leaderboard (CV)", title_justify="left", expand=False)
        for col in ("#", "family", "source", "cv score", "± std", "fit s"):
            table.add_column(col)
        done = [t for t in rank_trials(self._trials, self._direction) if is_scored(t)]
        for t in done[:_TOP]:
            table.add_row(str(t.trial_id), t.config.family, t.source, f"{t.cv_score:.4f}",
                          f"{t.cv_std or 0.0:.4f}", f"{t.fit_time_s:.1f}")
        n_failed = sum(not t.ok and t.failure != "cancelled" for t in self._trials)
        n_stopped = sum(t.failure == "cancelled" for t in self._trials)
        caption = [f"{n_failed} failed trial{'s' if n_failed > 1 else ''}"] if n_failed else []
        if n_stopped:
            caption.append(f"{n_stopped} stopped at the deadline")
        table.caption = "; ".join(caption) or None
        return table


def _outcome(result: TrialResult) -> str:
    if result.ok and result.cv_score is not None:
        return f"cv {result.cv_score:.4f}"
    if result.failure == "cancelled":
        return "stopped at the deadline"
    return f"{result.status}: {_error_line(result.error)}"


def _error_line(error: str | None, limit: int = 80) -> str:
    """A trial's error in one line: a traceback's last line (the exception), else the first."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return "no error message"
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= limit else line[:limit - 1] + "…"


def print_summary(console: Console, record: RunRecord, run_dir: str) -> None:
    direction = "higher is better" if record.direction == "maximize" else "lower is better"
    console.print()
    if record.best is None:
        console.print(f"[red bold]No trial succeeded[/red bold] ({record.n_failed} failed). "
                      f"See {run_dir}/report.md and leaderboard.csv.")
        return
    best = record.best
    outcomes = f"{record.n_failed - record.n_cancelled} failed"
    if record.n_cancelled:
        outcomes += f", {record.n_cancelled} stopped at the deadline"
    console.print(f"[bold green]Done.[/bold green] {record.n_trials} trials "
                  f"({outcomes}), start-up {record.startup_time_s:.1f} s, "
                  f"search {record.search_time_s:.1f} s, "
                  f"finalize {record.finalize_time_s:.1f} s — {record.stop_reason}.")
    console.print(f"  best model   {best.config.family} (trial {best.trial_id}, {best.source})")
    console.print(f"  CV {record.metric:<9} {best.cv_score:.4f} ± {best.cv_std or 0.0:.4f}"
                  f"   ({direction})")
    if len(record.ensemble) > 1:
        members = ", ".join(f"{m.family} #{m.trial_id} {m.weight:.0%}" for m in record.ensemble)
        console.print(f"  final model  ensemble of {len(record.ensemble)}: {members}")
        console.print(f"               ensemble CV {record.ensemble_cv_score:.4f} "
                      "(chosen on the same folds)")
    if record.decision_threshold is not None:
        console.print(f"  threshold    {record.decision_threshold:.3g} on the positive class's "
                      f"probability, chosen on out-of-fold predictions for {record.metric}")
    if record.holdout_score is not None and record.dummy_holdout_score is not None:
        console.print(f"  holdout      {record.holdout_score:.4f}   dummy baseline "
                      f"{record.dummy_holdout_score:.4f}   ({record.n_holdout} rows, scored once)")
    sources = ", ".join(f"{n} {src}" for src, n in sorted(record.trials_by_source.items()))
    console.print(f"  trials from  {sources}")
    if record.retrieved:
        near, n_runs = record.retrieved[0], len(record.retrieved)
        console.print(f"  memory       {n_runs} similar past run{'s' if n_runs != 1 else ''} "
                      f"(nearest {near.dataset}, distance {near.distance:.2f})")
    if record.llm.n_calls:
        llm = record.llm
        calls = f"{llm.n_calls} call" + ("s" if llm.n_calls != 1 else "")
        console.print(f"  LLM          {llm.model}: {calls} ({llm.n_cached} cached, "
                      f"{llm.n_failed} failed), {llm.prompt_tokens + llm.completion_tokens} "
                      f"tokens, {llm.time_s:.1f} s" + (f", ${llm.cost_usd:.4f}"
                                                       if llm.cost_usd else ""))
    if record.llm_handover:
        console.print(f"  BO alone     {record.llm_handover}")
    console.print(f"  sandbox      {record.isolation}")
    console.print(f"  saved in     {run_dir}/ (model.joblib, report.md, leaderboard.csv, run.json)")
    console.print(f"  predict with mlpilot predict {run_dir} NEW.csv --out predictions.csv")
