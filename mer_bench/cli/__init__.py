"""The `mer-bench` command line. Each verb lives in its own module of this package.

A module adds its commands to `app`; importing it here is all that is needed. Library code logs
through module loggers; here the CLI turns those records into lines on stderr (`-v` for debug,
`-q` for warnings only) and draws progress and tables with rich. Errors derived from
MerBenchError become one line on stderr and their exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer

from mer_bench.errors import MerBenchError

app = typer.Typer(
    name="mer-bench",
    help="Benchmark micro-expression recognition models with honest LOSO evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class UI:
    """What the root options chose for every command: how much to say."""

    quiet = False
    verbose = False


def setup_logging(verbose: bool, quiet: bool) -> None:
    """mer-bench's loggers to stderr: INFO by default, DEBUG with -v, WARNING with -q."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if not verbose
                                           else "%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("mer_bench")
    logger.handlers[:] = [handler]
    logger.setLevel(level)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug messages from the library."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Warnings and results only: no progress bars or messages."),
) -> None:
    """Benchmark micro-expression recognition models with honest LOSO evaluation."""
    UI.quiet, UI.verbose = quiet, verbose
    setup_logging(verbose, quiet)
    show_progress(not quiet)


def show_progress(enabled: bool) -> None:
    """Draw the library's progress tasks as rich bars on stderr (or draw nothing)."""
    from mer_bench.cli.progress_bars import RichReporter
    from mer_bench.progress import set_reporter

    set_reporter(RichReporter() if enabled else None)


# Command modules register themselves on `app` when imported (order = order in --help).
from mer_bench.cli import list_cmd, run_cmd, results_cmd, score_cmd  # noqa: E402,F401
from mer_bench.cli import check_cmd  # noqa: E402,F401
from mer_bench.cli import prepare_cmd  # noqa: E402,F401
from mer_bench.cli import import_cmd  # noqa: E402,F401
from mer_bench.cli import leaderboard_cmd  # noqa: E402,F401
from mer_bench.cli import doctor_cmd  # noqa: E402,F401
from mer_bench.cli import synth_cmd  # noqa: E402,F401
from mer_bench.cli import train_cmd, predict_cmd  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    try:
        app()  # standalone mode: usage errors print and exit 2 by themselves
    except MerBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: finished folds are stored; resume with --resume RUN_ID", file=sys.stderr)
        sys.exit(130)
