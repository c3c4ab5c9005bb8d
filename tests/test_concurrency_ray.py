"""Ray: `mer-bench run --executor ray --ray-address ADDR` on a two-node Ray cluster on this machine
(`ray start --head` and a second `ray start --address` node) stores every fold in a PostgreSQL
store, and only the driver connects to the database (the server logs every connection with
the process id mer-bench gives it as its application name)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from _postgres import FIXTURE_APPLICATION, WRITER_PASSWORD
from sqlalchemy import text

from mer_bench.results.store import Store

#: Both nodes and the driver: no token authentication (a token in ~/.ray would turn it on for
#: the head only), no usage statistics.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    """Ports two nodes on one machine must not share (Ray's defaults are fixed numbers)."""
    return [
        "--dashboard-agent-listen-port",
        str(_free_port()),
        "--dashboard-agent-grpc-port",
        str(_free_port()),
        "--metrics-export-port",
        str(_free_port()),
        "--runtime-env-agent-port",
        str(_free_port()),
    ]


class Cluster:
    """`ray start --block` processes, each in its own session, so that stopping them stops
    exactly what they started."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short socket paths
        self.nodes: list[subprocess.Popen] = []

    def start_node(self, name: str, args: list[str]) -> None:
        log = self.folder / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--block",
            "--num-cpus",
            "1",
            "--disable-usage-stats",
            *args,
            *_node_ports(),
        ]
        with open(log, "w") as out:
            node = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **RAY_ENV},
            )
        self.nodes.append(node)
        deadline = time.monotonic() + 180
        while "block forever" not in log.read_text():
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray node {name} did not start: {log.read_text()[-1500:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        sessions = {node.pid for node in self.nodes}
        for node in self.nodes:
            try:
                os.killpg(node.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for node in self.nodes:
            try:
                node.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                if os.getsid(pid) in sessions:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for node in self.nodes:
            node.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def two_node_cluster():
    pytest.importorskip("ray")
    cluster = Cluster()
    port = _free_port()
    try:
        cluster.start_node(
            "head",
            [
                "--head",
                "--port",
                str(port),
                "--node-ip-address",
                "127.0.0.1",
                "--include-dashboard",
                "false",
                "--dashboard-port",
                str(_free_port()),
                "--temp-dir",
                str(cluster.folder),
            ],
        )
        cluster.start_node("second", ["--address", f"127.0.0.1:{port}"])
        yield f"127.0.0.1:{port}"
    finally:
        cluster.stop()


@pytest.mark.slow
def test_ray_two_node_run_stores_every_fold_and_only_the_driver_connects(
    two_node_cluster, postgres_server, postgres_database, flows_dir, tmp_path
):
    url = postgres_server.url(postgres_database)
    summary_path = tmp_path / "summary.json"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mer_bench.cli import main; main()",
            "run",
            "--model",
            "svm-hoof",
            "--protocol",
            "megc2019",
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--executor",
            "ray",
            "--ray-address",
            two_node_cluster,
            "--device",
            "cpu",
            "--json",
            str(summary_path),
        ],
        env={**os.environ, **RAY_ENV, "MER_BENCH_STORE": url, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = driver.communicate(timeout=900)
    assert driver.returncode == 0, err[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["n_samples"] == 442
    with Store(url, read_only=True) as store:
        run = store.run(summary["run_id"])
        assert run.status == "finished" and run.executor == "ray"
        assert store.fold_counts() == {run.run_id: 68} and len(store.predictions(run.run_id)) == 442
        executor = run.provenance["executor"]
        assert executor["address"] == two_node_cluster and executor["cluster_cpus"] == 2
        with store.engine.connect() as conn:
            rows = [
                str(tuple(r))
                for t in ("runs", "folds", "predictions")
                for r in conn.execute(text(f"SELECT * FROM {t}"))
            ]
    assert not any(WRITER_PASSWORD in r for r in rows)
    assert WRITER_PASSWORD not in out + err
    # every connection to this database came from the driver (the reader above is this process)
    connections = re.findall(
        rf"connection authorized: user=\S+ database={postgres_database}"
        r"(?: application_name=(.*))?$",
        postgres_server.log_path.read_text(),
        flags=re.M,
    )
    connections = [c for c in connections if c != FIXTURE_APPLICATION]
    writers = {c for c in connections if "writer" in c}
    assert writers == {f"mer-bench writer {socket.gethostname()} pid {driver.pid}"[:63]}
    assert set(connections) - writers == {
        f"mer-bench reader {socket.gethostname()} pid {os.getpid()}"[:63]
    }
