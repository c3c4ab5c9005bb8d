"""`mer-bench leaderboard`: the Streamlit board on a results database (read only), on loopback."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.cli.options import STORE_HELP
from mer_bench.core.errors import MerBenchError, UsageError
from mer_bench.core.paths import default_store_path

STORE_ENV = "MER_BENCH_STORE"


def app_file() -> Path:
    """The installed Streamlit script of the board (package mer_bench_leaderboard)."""
    spec = importlib.util.find_spec("mer_bench_leaderboard")
    if spec is None or not spec.submodule_search_locations:
        raise MerBenchError("the leaderboard package (mer_bench_leaderboard) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "app.py"


def streamlit_command(store: str, port: int, address: str) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, given address and port,
    and the toolbar of a viewer (no Deploy button, rerun or cache items: the board is read-only
    and served from a user's machine, not deployed from it)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_file()),
        "--server.headless",
        "true",
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
        "--",
    ]  # the store travels in $MER_BENCH_STORE: never a password on a command line


def serve(command: list[str], env: dict[str, str], grace_s: float = 10.0) -> int:
    """Run the Streamlit server as a child and stop it, with its own children, when this process
    gets SIGINT or SIGTERM (an orphaned server would keep the port). The handler only signals:
    waiting on the child happens here, in one place, so it never waits on itself."""
    child = subprocess.Popen(command, env=env, start_new_session=True)
    stopped_at: list[float] = []

    def stop(signum: int, _frame: object) -> None:
        if not stopped_at:
            stopped_at.append(time.monotonic())
            _signal_group(child, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopped_at and time.monotonic() - stopped_at[0] > grace_s:
                    _signal_group(child, signal.SIGKILL)
    finally:
        if child.poll() is None:  # an error here: do not leave the server behind
            _signal_group(child, signal.SIGKILL)
            child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopped_at else code


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


@app.command("leaderboard")
def leaderboard_command(
    store_path: str | None = typer.Option(None, "--store", help=STORE_HELP),
    port: int = typer.Option(8501, "--port", help="Port to serve on."),
    address: str = typer.Option(
        "127.0.0.1", "--address", help="Address to bind (loopback by default; 0.0.0.0 exposes it)."
    ),
) -> None:
    """Serve the leaderboard (Streamlit) on the results database; the board only reads it."""
    from mer_bench.results.store import Store
    from mer_bench.results.store.database import is_url, redact

    if not 1 <= port <= 65535:  # else Streamlit's traceback, after the line saying it serves
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    if importlib.util.find_spec("streamlit") is None:
        raise MerBenchError("streamlit is not installed: pip install streamlit")
    location = store_path or default_store_path()
    if is_url(location):
        store = str(location)
        # unreachable, refused, not a results database: a one-line error here, not in the page
        Store(store, read_only=True).close()
    else:
        store = str(Path(location).expanduser().resolve())
        from mer_bench.results.reference import reference_sets

        # Without a database of one's own, the board still shows mer-bench's reference runs.
        if not Path(store).exists() and not reference_sets():
            raise MerBenchError(
                f"no results database at {store}: run a benchmark or import a file first"
            )
    typer.echo(f"leaderboard on http://{address}:{port} for {redact(store)} (Ctrl-C stops it)")
    env = {**os.environ, STORE_ENV: store}
    code = serve(streamlit_command(store, port, address), env)
    if code:
        raise typer.Exit(code)
