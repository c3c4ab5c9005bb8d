"""`mer-bench leaderboard` stops its Streamlit server when it is itself stopped (SIGTERM, SIGINT):
no orphan server keeps the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from leaderboard_fixtures import fill_store
from test_leaderboard_browser import _command, _free_port, _wait_healthy

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie has exited


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child processes from /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_command_stops_the_server(tmp_path, signum):
    store = tmp_path / "results.sqlite"
    fill_store(store)
    port = _free_port()
    # not a new session: only the command itself gets the signal, as from a process manager
    proc = subprocess.Popen(
        _command(store, port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        servers = _children(proc.pid)
        assert servers, "the command should run the server as its child"
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in servers), "the Streamlit server outlived the command"
        with socket.socket() as sock:  # the port is free again (for a server: SO_REUSEADDR)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
