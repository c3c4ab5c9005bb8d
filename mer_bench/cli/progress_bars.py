"""The CLI's progress reporter: the library's progress tasks as rich bars with time remaining."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mer_bench.core.progress import Reporter


class RichTask:
    def __init__(self, owner: RichReporter, task_id: TaskID) -> None:
        self.owner, self.task_id = owner, task_id

    def advance(self, steps: int = 1) -> None:
        self.owner.bars.advance(self.task_id, steps)

    def update(self, completed: int | None = None, total: int | None = None) -> None:
        self.owner.bars.update(self.task_id, completed=completed, total=total)

    def close(self) -> None:
        self.owner.closed(self.task_id)


class RichReporter(Reporter):
    """Bars on stderr; the display starts with the first task and stops with the last."""

    def __init__(self, console: Console | None = None) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("remaining"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.open: set[TaskID] = set()

    def task(self, description: str, total: int | None, completed: int = 0) -> RichTask:
        if not self.open:
            self.bars.start()
        task_id = self.bars.add_task(description, total=total, completed=completed)
        self.open.add(task_id)
        return RichTask(self, task_id)

    def message(self, text: str) -> None:
        self.bars.console.print(text, highlight=False)

    def closed(self, task_id: TaskID) -> None:
        """A finished task leaves the display while others run (a fold's bar when the fold is
        done); the last one stays on screen as the final line."""
        if task_id not in self.open:
            return
        self.open.discard(task_id)
        if self.open:
            self.bars.remove_task(task_id)
            return
        self.bars.stop_task(task_id)
        self.bars.stop()
        for tid in list(self.bars.task_ids):
            self.bars.remove_task(tid)
