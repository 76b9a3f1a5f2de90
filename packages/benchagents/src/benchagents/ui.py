"""What a benchagents run shows on the terminal (rich consoles, progress bars, tables) and
asks a person (one line from stdin; end of input answers "quit")."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchagents.agents import ProgressFactory, metric_rows
from benchagents.scoring import ScoreReport


class UI:
    """What the pipeline shows (rich consoles) and asks (a line from stdin)."""

    def __init__(self, out: Console, err: Console, ask: Callable[[str], str] | None = None) -> None:
        self.out = out
        self.err = err
        self._ask = ask or _ask_stdin

    def ask(self, prompt: str) -> str:
        try:
            return self._ask(prompt)
        except EOFError:
            return "q"

    @contextmanager
    def progress(self) -> Iterator[ProgressFactory]:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err, transient=False) as bar:

            def start(description: str, total: int) -> Callable[[int], None]:
                task = bar.add_task(description, total=total)
                return lambda done: bar.advance(task, done)

            yield start

    def show_report(self, report: ScoreReport, metrics: Sequence[str]) -> None:
        """A report's `metrics` as a table."""
        table = Table(title=f"{report.name}: {len(report.instances)} instances x {report.samples}")
        for column in ("metric", "value", ""):
            table.add_column(column)
        for row in metric_rows(report, metrics):
            table.add_row(*row)
        self.out.print(table)


def verification_line(stats: dict[str, Any]) -> str:
    """The verification stage's outcome in one line: kept, repaired, rejected by reason."""
    rejected = stats["rejected"]
    reasons = ", ".join(f"{k}: {v}" for k, v in rejected.items()) or "none"
    llm = ", ".join(f"{k}: {v}" for k, v in stats["llm_checks"].items()) or "none"
    return (
        f"verified {stats['verified']} of {stats['generated']} "
        f"(repaired {stats['repaired']}, rewrites reverted {stats['rewrites_reverted']}); "
        f"rejected {sum(rejected.values())} ({reasons}); llm checks ({llm})"
    )


def _ask_stdin(prompt: str) -> str:
    print(prompt, end="", flush=True)
    return input()
