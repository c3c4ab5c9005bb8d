"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggestions(name: str, known: Iterable[str]) -> str:
    """'; did you mean a, b?' (the closest known names), or '; known: ...' when none is close."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    return f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"


class MerBenchError(Exception):
    """Base class: the message is shown to the user as is; exit code 1."""

    exit_code = 1


class UnknownNameError(MerBenchError):
    """A model, protocol, source or policy name that is not registered (exit code 2)."""

    exit_code = 2

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown {kind} '{name}'{suggestions(name, known)}")
        self.name = name


class DataError(MerBenchError):
    """Missing or malformed input data; the message names the file (and row)."""

    exit_code = 3


class UsageError(MerBenchError):
    """An option or combination of options that cannot work (`--inner-folds 1`, a grid over an
    unknown recipe field, an option the chosen policy does not take); exit code 2, like a
    command-line usage error, and raised before any training."""

    exit_code = 2

    @classmethod
    def unknown(cls, what: str, name: str, known: Iterable[str]) -> UsageError:
        """`what` 'name' is unknown, with the closest known names as hints."""
        return cls(f"{what} '{name}' is unknown{suggestions(name, known)}")


class RunInterrupted(MerBenchError):
    """A run stopped by Ctrl-C or SIGTERM: its finished folds are stored (exit code 130)."""

    exit_code = 130

    def __init__(self, run_id: str, done: int, total: int, resume: str | None = None) -> None:
        self.run_id, self.done, self.total = run_id, done, total
        resume = resume or f"mer-bench run --resume {run_id}"
        super().__init__(
            f"interrupted: run {run_id} stopped with {done}/{total} folds stored; "
            f"resume it with: {resume}"
        )


class RunStoreFailed(MerBenchError):
    """The results database failed while a run was storing its folds (a full disk, a server that
    went away): every fold committed before is kept, nothing of the fold being written. The run
    is marked interrupted where the database still took that write; otherwise it stays
    'running', which readers show as stopped once its process is gone. Either way `--resume`
    continues it (exit code 1)."""

    exit_code = 1

    def __init__(
        self,
        run_id: str,
        done: int,
        total: int,
        cause: str,
        marked: bool,
        resume: str | None = None,
    ) -> None:
        self.run_id, self.done, self.total = run_id, done, total
        self.cause, self.marked = cause, marked
        resume = resume or f"mer-bench run --resume {run_id}"
        state = "marked interrupted" if marked else "not marked (the database took no write)"
        super().__init__(
            f"{cause}; run {run_id} stopped with {done}/{total} folds stored, "
            f"{state}; when the database works again, resume it with: {resume}"
        )

    def with_resume(self, resume: str) -> RunStoreFailed:
        """The same failure, with the command that resumes it spelled out in full."""
        return RunStoreFailed(self.run_id, self.done, self.total, self.cause, self.marked, resume)
