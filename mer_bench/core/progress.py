"""Progress of long work, reported by the library and drawn (or not) by whoever runs it.

Library code never draws: it opens a task (`task("preprocessing", total=120)`) and advances it.
What that shows is up to the installed reporter: none by default (tests, scripts, notebooks get
silence), rich progress bars with time remaining once the CLI installs its reporter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class ProgressTask(Protocol):
    """One unit of long work: advance it, change its total, close it when done."""

    def advance(self, steps: int = 1) -> None: ...

    def update(self, completed: int | None = None, total: int | None = None) -> None: ...

    def close(self) -> None: ...


class _SilentTask:
    def advance(self, steps: int = 1) -> None:
        pass

    def update(self, completed: int | None = None, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class Reporter:
    """Makes progress tasks. The default makes silent ones."""

    def task(self, description: str, total: int | None, completed: int = 0) -> ProgressTask:
        return _SilentTask()

    def message(self, text: str) -> None:
        """A line beside the bars (e.g. the run id), where a reporter shows them."""


_reporter: Reporter = Reporter()


def set_reporter(reporter: Reporter | None) -> Reporter:
    """Install `reporter` (None: silence); returns the one it replaces."""
    global _reporter
    previous, _reporter = _reporter, reporter or Reporter()
    return previous


def task(description: str, total: int | None, completed: int = 0) -> ProgressTask:
    """A new task from the installed reporter."""
    return _reporter.task(description, total, completed)


def message(text: str) -> None:
    _reporter.message(text)


@contextmanager
def tracked(description: str, total: int | None, completed: int = 0) -> Iterator[ProgressTask]:
    """`task(...)`, closed when the block ends (also on errors)."""
    handle = task(description, total, completed)
    try:
        yield handle
    finally:
        handle.close()
