"""Progress of a long run: a bar on a terminal, one plain line per step everywhere else.

A rich bar redraws itself in place, so under nohup, SLURM or a pipe (no terminal) it shows
nothing until the end; there each finished step prints one line instead, which a log file
and `tail -f` can follow. Phases inside a step (sampling 3/8, ...) show on the bar only: as
lines they would bury the steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn


class StepProgress:
    """The progress of `total` steps named `description`, from `completed` on."""

    def __init__(
        self,
        console: Console,
        description: str,
        total: int,
        bar: Progress | None = None,
        task: TaskID | None = None,
    ) -> None:
        self.description, self.total = description, total
        self._console, self._bar, self._task = console, bar, task

    def step(self, completed: int, stats: str = "") -> None:
        """Step `completed` is done; `stats` says how it went."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=completed, stats=stats)
            return
        line = f"{self.description} {completed}/{self.total}" + (f" {stats}" if stats else "")
        # straight to the file, not through rich's buffer: a stop signal landing between rich's
        # write and its clearing of the buffer made the next print repeat this line
        print(line, file=self._console.file, flush=True)

    def phase(self, text: str) -> None:
        """What the current step is doing (on a terminal's bar only)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, stats=text)


@contextmanager
def step_progress(
    console: Console, description: str, total: int, completed: int = 0, *, enabled: bool = True
) -> Iterator[StepProgress]:
    """A StepProgress for the block: a bar when `console` is a terminal, plain lines when it is
    not, nothing at all when not `enabled` (e.g. on all processes of a launch but the main)."""
    if console.is_terminal or not enabled:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
        )
        with Progress(*columns, console=console, disable=not enabled) as bar:
            task = bar.add_task(description, total=total, completed=completed, stats="")
            yield StepProgress(console, description, total, bar, task)
        return
    yield StepProgress(console, description, total)
