"""Interrupting and resuming runs, and the status every reader shows: Ctrl-C exits 130 with the
run id and the resume command, `--resume RUN_ID` alone continues a run from its stored identity,
a finished run is left as it is, and a run whose process is gone says so (partial scores marked)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from _cli import cli
from leaderboard_fixtures import add_fixture_run

from mer_bench.run.engine import RunConfig, resume_config, run_benchmark
from mer_bench.core.errors import RunInterrupted
from mer_bench.results.run_status import status_label
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store


class StopAfter(Store):
    """A store whose add_fold raises KeyboardInterrupt (as Ctrl-C would) after `limit` folds."""

    limit: int | None = None

    def add_fold(self, run_id, record) -> None:
        super().add_fold(run_id, record)
        if self.limit is not None and len(self.finished_folds(run_id)) >= self.limit:
            raise KeyboardInterrupt


def _row(path, run_id) -> tuple:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    finally:
        conn.close()


def test_resume_alone_continues_and_a_finished_run_is_left_alone(
    tiny_model, flows_dir, tmp_path, capsys
):
    path = tmp_path / "results.sqlite"
    store = StopAfter(path)
    store.limit = 3
    config = RunConfig(
        model=tiny_model,
        protocol="megc2019",
        source="flows",
        epochs=1,
        seed=4,
        source_options=source_options("flows", data_root=flows_dir),
        executor="sequential",
        device="cpu",
    )
    with pytest.raises(RunInterrupted) as stopped:
        run_benchmark(config, store)
    run_id = stopped.value.run_id
    assert (stopped.value.done, stopped.value.total) == (3, 68)
    before = store.run(run_id)
    first_folds = store.folds(run_id)[["fold_index", "finished_at"]]
    store.close()
    assert before.status == "interrupted"

    # the stored run knows its model, source, data folder, recipe and seed: the id is enough
    code, out, err = cli(["run", "--resume", run_id[:15], "--store", str(path), "-q"], capsys)
    assert code == 0, err
    with Store(path) as store:
        after = store.run(run_id)
        folds = store.folds(run_id)
        assert after.status == "finished" and len(folds) == 68
        assert after.config_hash == before.config_hash and after.seed == 4
        assert after.recipe["epochs"] == 1 and after.executor == "sequential"
        kept = folds.set_index("fold_index").loc[first_folds["fold_index"], "finished_at"]
        assert list(kept) == list(first_folds["finished_at"])  # not trained again
        summary_uf1 = json.loads(json.dumps(store.run(run_id).identity))  # stored, unchanged
        assert summary_uf1 == before.identity
    assert run_id in out and "UF1" in out

    # resuming the finished run changes nothing, through the CLI and the engine, and says so
    row = _row(path, run_id)
    code, out, err = cli(["run", "--resume", run_id, "--store", str(path)], capsys)
    assert code == 0 and "nothing to resume, nothing changed" in err
    with Store(path) as store:
        summary = run_benchmark(
            resume_config(store.run(run_id), device="cpu"), store, resume=run_id
        )
    assert summary.run_id == run_id and summary.n_samples == 442
    assert _row(path, run_id) == row  # wall_seconds, finished_at, executor: all as they were


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_run_says_its_process_is_gone_and_partial_scores_are_marked(
    tmp_path, megc_manifest, capsys
):
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        killed = add_fixture_run(
            store, megc_manifest, "killed-net", "fixed", 0, 0.8, 10, folds_stored=3, finish=False
        )
        store.update_run(killed, host=socket.gethostname(), pid=_dead_pid())
        record = store.run(killed)
        assert status_label(record, 3) == "stopped (process gone), 3/68 folds"
        live = add_fixture_run(
            store, megc_manifest, "live-net", "fixed", 0, 0.8, 10, folds_stored=2, finish=False
        )
        store.update_run(live, host=socket.gethostname(), pid=os.getpid())
        assert status_label(store.run(live), 2) == "running, 2/68 folds"
        elsewhere = add_fixture_run(
            store, megc_manifest, "far-net", "fixed", 0, 0.8, 10, folds_stored=1, finish=False
        )
        store.update_run(elsewhere, host="another-host", pid=1)
        assert status_label(store.run(elsewhere), 1) == "running on another-host?, 1/68 folds"
    code, out, _ = cli(["results", "--store", str(path), "--json"], capsys)
    rows = {r["run_id"]: r for r in json.loads(out)}
    assert rows[killed]["status"] == "running"  # what is stored; the label is what it means
    assert rows[killed]["status_label"] == "stopped (process gone), 3/68 folds"
    assert rows[killed]["partial"] and rows[killed]["folds_done"] == 3
    code, out, _ = cli(["results", "--store", str(path)], capsys)
    line = next(s for s in out.splitlines() if killed in s)
    assert "stopped" in line and "3/68" in line and "*" in line
    assert "* partial: scores of the finished folds only" in out
    code, out, _ = cli(["show", killed, "--store", str(path)], capsys)
    assert "partial: 3/68 folds; the scores below are those of the finished folds only" in out


def test_resume_refuses_a_run_that_a_live_process_trains(tmp_path, megc_manifest, capsys):
    path = tmp_path / "results.sqlite"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Store(path) as store:
            run_id = add_fixture_run(
                store, megc_manifest, "busy-net", "fixed", 0, 0.8, 10, folds_stored=2, finish=False
            )
            store.update_run(run_id, host=socket.gethostname(), pid=child.pid)
        code, _, err = cli(["run", "--resume", run_id, "--store", str(path)], capsys)
        assert code == 1 and err.count("\n") == 1
        assert f"is being trained by process {child.pid} on this host" in err
    finally:
        child.kill()
        child.wait()


def test_results_fit_80_columns_with_whole_run_ids(tmp_path, megc_manifest, capsys):
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        ids = [
            add_fixture_run(
                store,
                megc_manifest,
                "a-rather-long-model-name",
                selection,
                0,
                0.8,
                10,
                source="flows",
            )
            for selection in ("fixed", "best-on-test")
        ]
        ids.append(
            add_fixture_run(
                store,
                megc_manifest,
                "svm-like",
                "fixed",
                0,
                0.7,
                0,
                epochs=0,
                framework="estimator",
                folds_stored=4,
                finish=False,
            )
        )
    code, out, _ = cli(["results", "--store", str(path)], capsys, columns=80)
    assert code == 0
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for run_id in ids:
        assert sum(run_id in line for line in out.splitlines()) == 1  # whole, on one line
    assert "best-on-test!" in out and "test-set selection" in out


@pytest.mark.slow
def test_ctrl_c_prints_the_run_id_and_the_resume_command(flows_dir, tmp_path):
    """A real process, interrupted as a terminal does (SIGINT to its process group)."""
    path = tmp_path / "results.sqlite"
    script = [sys.executable, "-c", "from mer_bench.cli import main; main()"]
    proc = subprocess.Popen(
        script
        + [
            "run",
            "--model",
            "ststnet",
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--epochs",
            "3",
            "--executor",
            "local",
            "--workers",
            "2",
            "--device",
            "cpu",
            "--store",
            str(path),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            conn = sqlite3.connect(path)
            if conn.execute("SELECT count(*) FROM folds").fetchone()[0] >= 1:
                break
        except sqlite3.Error:
            pass
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    with Store(path) as store:
        (run,) = store.runs()
        done = len(store.finished_folds(run.run_id))
    assert run.status == "interrupted" and 1 <= done < 68
    assert last == (
        f"error: interrupted: run {run.run_id} stopped with {done}/68 folds stored; "
        f"resume it with: mer-bench run --resume {run.run_id} --store {path}"
    )
