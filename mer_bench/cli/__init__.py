"""The `mer-bench` command line. Each verb lives in its own module of this package.

A module adds its commands to `app`; importing it here is all that is needed. Errors derived from
MerBenchError become one line on stderr and their exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from mer_bench.errors import MerBenchError

app = typer.Typer(
    name="mer-bench",
    help="Benchmark micro-expression recognition models with honest LOSO evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """Benchmark micro-expression recognition models with honest LOSO evaluation."""


# Command modules register themselves on `app` when imported (order = order in --help).
from mer_bench.cli import list_cmd, run_cmd, results_cmd, score_cmd  # noqa: E402,F401
# Helpers' command modules (one import per line):
from mer_bench.cli import prepare_cmd  # noqa: E402,F401
from mer_bench.cli import import_cmd  # noqa: E402,F401
from mer_bench.cli import leaderboard_cmd  # noqa: E402,F401
from mer_bench.cli import doctor_cmd  # noqa: E402,F401
from mer_bench.cli import synth_cmd  # noqa: E402,F401


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
