"""`mer-bench leaderboard`: the Streamlit board on a results database (read only), on loopback."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import typer

from mer_bench.cli import app
from mer_bench.errors import MerBenchError
from mer_bench.paths import default_store_path

STORE_ENV = "MER_BENCH_STORE"


def app_file() -> Path:
    """The installed Streamlit script of the board (package mer_bench_leaderboard)."""
    spec = importlib.util.find_spec("mer_bench_leaderboard")
    if spec is None or not spec.submodule_search_locations:
        raise MerBenchError("the leaderboard package (mer_bench_leaderboard) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "app.py"


def streamlit_command(store: Path, port: int, address: str) -> list[str]:
    """The `streamlit run` command line: headless, no usage statistics, given address and port."""
    return [sys.executable, "-m", "streamlit", "run", str(app_file()),
            "--server.headless", "true", "--server.address", address, "--server.port", str(port),
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--", "--store", str(store)]


@app.command("leaderboard")
def leaderboard_command(
    store_path: Path | None = typer.Option(None, "--store", help="Results database [default: per-user]."),
    port: int = typer.Option(8501, "--port", help="Port to serve on."),
    address: str = typer.Option("127.0.0.1", "--address",
                                help="Address to bind (loopback by default; 0.0.0.0 exposes it)."),
) -> None:
    """Serve the leaderboard (Streamlit) on the results database; the board only reads it."""
    if importlib.util.find_spec("streamlit") is None:
        raise MerBenchError("streamlit is not installed: pip install streamlit")
    store = (store_path or default_store_path()).expanduser().resolve()
    if not store.exists():
        raise MerBenchError(f"no results database at {store}: run a benchmark or import a file first")
    typer.echo(f"leaderboard on http://{address}:{port} for {store} (Ctrl-C stops it)")
    env = {**os.environ, STORE_ENV: str(store)}
    try:
        code = subprocess.call(streamlit_command(store, port, address), env=env)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise typer.Exit(code)
