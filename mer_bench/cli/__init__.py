"""The `mer-bench` command line. Each verb lives in its own module of this package.

A module adds its commands to `app`; importing it here is all that is needed. Library code logs
through module loggers; here the CLI turns those records into lines on stderr (`-v` for debug,
`-q` for warnings only) and draws progress and tables with rich. Errors derived from
MerBenchError become one line on stderr and their exit code, never a traceback.

Start-up is kept short: command modules import only typer at load time and import the heavy
libraries (torch, pandas, SQLAlchemy, OpenCV, Streamlit) inside the command that needs them, so
`mer-bench --help`, `list` of a light registry and unknown-name errors answer at once.
"""

from __future__ import annotations

import logging
import sys

import typer

from mer_bench.core.errors import MerBenchError
from mer_bench.core.redact import locations_in, scrub

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


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time: while rich draws progress bars it is
    rich's proxy, which prints the line above the bars instead of under them."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging sets it in __init__; the property wins
        pass


def setup_logging(verbose: bool, quiet: bool) -> None:
    """mer-bench's loggers to stderr: INFO by default, DEBUG with -v, WARNING with -q."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(message)s" if not verbose else "%(levelname)s %(name)s: %(message)s")
    )
    logger = logging.getLogger("mer_bench")
    logger.handlers[:] = [handler]
    logger.setLevel(level)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug messages from the library."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Warnings and results only: no progress bars or messages."
    ),
) -> None:
    """Benchmark micro-expression recognition models with honest LOSO evaluation."""
    UI.quiet, UI.verbose = quiet, verbose
    setup_logging(verbose, quiet)
    show_progress(not quiet)


def show_progress(enabled: bool) -> None:
    """Draw the library's progress tasks as rich bars on stderr (or draw nothing)."""
    from mer_bench.cli.progress_bars import RichReporter
    from mer_bench.core.progress import set_reporter

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
from mer_bench.cli import table_cmd  # noqa: E402,F401
from mer_bench.cli import reproduce_cmd  # noqa: E402,F401
from mer_bench.cli import reference_cmd  # noqa: E402,F401
from mer_bench.cli import spot_cmd  # noqa: E402,F401
from mer_bench.cli import robustness_cmd  # noqa: E402,F401


def main() -> None:
    """Console-script entry point: every failure becomes one line on stderr and an exit code
    (MerBenchError: its own; a usage error: 2; Ctrl-C: 130); an unexpected exception too, with
    its traceback only under -v."""
    click = click_module()
    try:
        code = app(standalone_mode=False)
    except MerBenchError as exc:
        _fail(f"error: {exc}", exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as exc:  # the system refused a file: a full disk, no permission, a long name
        if UI.verbose:
            logging.getLogger(__name__).exception("system error")
        _fail(f"error: {os_error_line(exc)}", 1)
    except Exception as exc:  # a bug: one line, the traceback with -v
        if UI.verbose:
            logging.getLogger(__name__).exception("unexpected error")
        _fail(
            f"error: unexpected {type(exc).__name__}: {exc} (a mer-bench bug? -v shows the "
            "traceback)",
            1,
        )
    if code == 130:  # typer turns a Ctrl-C outside a run into exit code 130, silently
        _fail("interrupted: nothing was stored", 130)
    sys.exit(code if isinstance(code, int) else 0)


def os_error_line(exc: OSError) -> str:
    """An OSError as the file it names (shortened when very long) and the system's reason;
    without a file name, the output being written (standard output or a file) is what failed."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"could not write the output ({reason})"
    name = str(exc.filename)
    if len(name) > 160:
        name = f"{name[:60]}...{name[-60:]}"
    return f"{name}: {reason}"


def click_module():
    """The click that typer runs on (recent typer vendors its own copy as `typer._click`)."""
    try:
        from typer import _click as click
    except ImportError:
        import click
    return click


def _fail(message: str, code: int) -> None:
    # Every failure line passes the one redaction: a database URL given on the command line or
    # in $MER_BENCH_STORE never shows its password, nor any piece of it, whatever raised.
    message = scrub(message, locations_in(sys.argv))
    print(" ".join(message.split()), file=sys.stderr)
    sys.exit(code)
