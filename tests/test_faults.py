"""Faults from outside mer-bench while a run trains: the results database fails (a full disk, a
PostgreSQL server stopped), the driver is stopped (SIGTERM) or killed (SIGKILL). Each ends the
run with one line and no traceback, keeps every committed fold, leaves the run resumable and
leaves no process behind.

A full disk is a file-size limit (RLIMIT_FSIZE) on a forked writer; a stopped server is a
throwaway PostgreSQL cluster of the test's own, stopped with `pg_ctl stop -m immediate`; signals
go to a `mer-bench run --executor local --workers 2` started in a session of its own.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mer_bench.core.errors import RunStoreFailed
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store, StoreError
from mer_bench.run.engine import RunConfig, run_benchmark

FORK = multiprocessing.get_context("fork")  # the child inherits the registered test model
pytestmark = pytest.mark.usefixtures("one_thread")


def flows_argv(model: str, flows: Path, store: str, *extra: str) -> list[str]:
    return [
        "run",
        "--model",
        model,
        "--source",
        "flows",
        "--data-root",
        str(flows),
        "--executor",
        "sequential",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--store",
        store,
        "-q",
        *extra,
    ]


def _cli_child(argv: list[str], out_path: str, file_limit: int | None, patch) -> None:
    """`mer-bench ARGV` in a forked child, its stdout and stderr into `out_path`."""
    stream = open(out_path, "w", buffering=1)
    os.dup2(stream.fileno(), 1)
    os.dup2(stream.fileno(), 2)
    sys.stdout = sys.stderr = stream
    if patch is not None:
        patch()
    if file_limit is not None:  # a full disk: no file of this process grows past the limit
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
    sys.argv = ["mer-bench", *argv]
    from mer_bench.cli import main

    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    stream.flush()
    os._exit(code)


def cli_in_child(
    argv: list[str], tmp_path: Path, file_limit: int | None = None, patch=None, timeout: float = 180
) -> tuple[int, str]:
    out = tmp_path / "child.out"
    child = FORK.Process(target=_cli_child, args=(argv, str(out), file_limit, patch))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"mer-bench {' '.join(argv)} still running after {timeout} s")
    return child.exitcode, out.read_text()


def _warm_torch() -> None:
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def test_full_disk_mid_run_is_one_line_and_the_run_resumes(tmp_path, tiny_model, flows_dir):
    """The store's file cannot grow past 300 kB: a few folds are stored, then the write fails.
    One line names the database, the run and how to resume; no traceback; the run, which the
    database could not mark, reads as stopped and resumes to all 68 folds."""
    _warm_torch()
    store = str(tmp_path / "results.sqlite")
    with Store(store):
        pass  # the schema, before the limit
    code, out = cli_in_child(flows_argv(tiny_model, flows_dir, store), tmp_path, file_limit=300_000)
    assert code == 1, out
    assert "Traceback" not in out
    (last,) = out.strip().splitlines()
    assert last.startswith(f"error: {store}: could not write (")
    with Store(store) as db:
        (run,) = db.runs()
        done = len(db.finished_folds(run.run_id))
    assert 0 < done < 68 and f"run {run.run_id} stopped with {done}/68 folds stored" in last
    assert last.endswith(f"resume it with: mer-bench run --resume {run.run_id} --store {store}")
    from mer_bench.results.run_status import resumable, status_label

    # Whether the one-row status update still fit under the limit depends on the log's pages:
    # the line says which, and the stored status agrees.
    if "folds stored, not marked (the database took no write)" in last:
        assert run.status == "running"  # nothing could mark it; its process is gone
        assert status_label(run, done).startswith("stopped (process gone)")
    else:
        assert "folds stored, marked interrupted" in last and run.status == "interrupted"
    assert resumable(run, done)
    code, out = cli_in_child(["run", "--resume", run.run_id, "--store", store, "-q"], tmp_path)
    assert code == 0, out
    with Store(store, read_only=True) as db:
        assert db.run(run.run_id).status == "finished"
        assert len(db.finished_folds(run.run_id)) == 68


def test_store_failing_while_it_still_takes_writes_marks_the_run_interrupted(
    tmp_path, tiny_model, flows_dir, monkeypatch
):
    """A fold the database refuses (here the fourth) while it still takes other writes: the run
    is marked interrupted with its three folds, and the error says so."""
    store = Store(tmp_path / "results.sqlite")
    original = Store.add_fold

    def add_fold(self, run_id, fold):
        if fold.fold_index == 3:
            raise StoreError(f"{self.where}: could not write (the disk went away)")
        original(self, run_id, fold)

    monkeypatch.setattr(Store, "add_fold", add_fold)
    config = RunConfig(
        model=tiny_model,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor="sequential",
        epochs=1,
        source_options=source_options("flows", data_root=flows_dir),
    )
    with pytest.raises(RunStoreFailed) as caught:
        run_benchmark(config, store)
    (run,) = store.runs()
    assert run.status == "interrupted" and store.finished_folds(run.run_id) == {0, 1, 2}
    assert str(caught.value) == (
        f"{store.where}: could not write (the disk went away); run {run.run_id} stopped with "
        f"3/68 folds stored, marked interrupted; when the database works again, resume it "
        f"with: mer-bench run --resume {run.run_id}"
    )
    store.close()


def _pause_after_fold(ready, go, fold: int):
    """In the child: after fold `fold` is committed, say so and wait for the parent."""

    def patch() -> None:
        original = Store.add_fold

        def add_fold(self, run_id, record):
            original(self, run_id, record)
            if record.fold_index == fold:
                ready.set()
                go.wait(60)

        Store.add_fold = add_fold

    return patch


@pytest.mark.slow
def test_postgres_server_stopped_mid_run(tmp_path, tiny_model, flows_dir):
    """A throwaway cluster stopped with `-m immediate` after fold 4: the run ends with one line,
    keeps its 5 folds, and resumes once the server is back."""
    from _postgres import server_or_skip

    _warm_torch()
    server = server_or_skip()  # a cluster of this test's own: it is stopped mid-run
    try:
        name = server.create_database()
        with server.admin() as conn:  # the fixture's cluster commits asynchronously (fast)
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
        url = server.url(name)
        ready, go = FORK.Event(), FORK.Event()
        out = tmp_path / "child.out"
        child = FORK.Process(
            target=_cli_child,
            args=(
                flows_argv(tiny_model, flows_dir, url),
                str(out),
                None,
                _pause_after_fold(ready, go, 4),
            ),
        )
        child.start()
        assert ready.wait(120), out.read_text()
        server.stop()  # pg_ctl stop -m immediate
        go.set()
        child.join(120)
        text = out.read_text()
        assert child.exitcode == 1, text
        assert "Traceback" not in text
        (last,) = text.strip().splitlines()
        assert last.startswith("error: ") and "folds stored, not marked" in last, last
        assert "wr1ter-S3cret" not in text  # the URL's password never shows
        restart = server._as_user(
            [server.pg_ctl, "-D", server.data, "-l", server.log_path, "-w", "start"]
        )
        assert restart.returncode == 0, restart.stderr
        with Store(url) as db:
            (run,) = db.runs()
            assert db.finished_folds(run.run_id) == set(range(5))
            assert f"run {run.run_id} stopped with 5/68 folds stored" in last
            assert run.status == "running"
        code, text = cli_in_child(["run", "--resume", run.run_id, "--store", url, "-q"], tmp_path)
        assert code == 0, text
        with Store(url, read_only=True) as db:
            assert db.run(run.run_id).status == "finished"
            assert len(db.finished_folds(run.run_id)) == 68
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


# --- signals to the driver of a local run ----------------------------------------------------

TESTS = Path(__file__).parent
LAUNCH = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import _fault_model; _fault_model.main()"


def _processes() -> dict[int, tuple[str, int, int]]:
    """Every process: pid -> (state, parent pid, process group)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(name)] = (fields[0], int(fields[1]), int(fields[2]))
    return out


def _family(root: int) -> set[int]:
    """`root`, its process group and every descendant (alive or zombie)."""
    table = _processes()
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, (_, parent, group) in table.items():
            if pid not in family and (parent in family or group == root):
                family.add(pid)
                grew = True
    return family


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][0] != "Z"}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize(
    "signum,target,when",
    [
        (signal.SIGTERM, "driver", "training"),
        (signal.SIGTERM, "driver", "starting"),
        (signal.SIGINT, "group", "training"),  # Ctrl-C in a terminal reaches every process
        (signal.SIGTERM, "group", "starting"),
        (signal.SIGKILL, "driver", "training"),
        (signal.SIGKILL, "driver", "starting"),  # a worker's arguments cut short
    ],
    ids=[
        "term-training",
        "term-starting",
        "ctrl-c-group",
        "term-group-starting",
        "kill-training",
        "kill-starting",
    ],
)
def test_a_stopped_or_killed_driver_leaves_no_process_and_no_traceback(
    tmp_path, flows_dir, signum, target, when
):
    markers = tmp_path / "markers"
    markers.mkdir()
    store = tmp_path / "results.sqlite"
    err_path = tmp_path / "stderr"
    argv = [
        sys.executable,
        "-c",
        LAUNCH,
        "run",
        "--model",
        "test-tiny-cnn",
        "--source",
        "flows",
        "--data-root",
        str(flows_dir),
        "--executor",
        "local",
        "--workers",
        "2",
        "--epochs",
        "100000",
        "--device",
        "cpu",
        "--store",
        str(store),
        "-q",
    ]
    env = {**os.environ, "MER_BENCH_TEST_MARKERS": str(markers), "MER_BENCH_REFERENCE": "0"}
    with open(err_path, "w") as err:
        driver = subprocess.Popen(argv, stdout=err, stderr=err, start_new_session=True, env=env)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            seen |= _family(driver.pid)
            workers = [p for p in seen if p != driver.pid]
            if when == "starting" and len(workers) >= 3:
                break  # resource tracker, manager, a worker reading its arguments (seconds)
            training = {int(m.name.split("-")[1]) for m in markers.iterdir()} - {driver.pid}
            if when == "training" and len(training) >= 2:
                break  # both workers train their first fold (the driver's ETA trial builds too)
            time.sleep(0.05)
        else:
            pytest.fail(f"the run never reached '{when}': {err_path.read_text()[-2000:]}")
        seen |= _family(driver.pid)
        (os.killpg if target == "group" else os.kill)(driver.pid, signum)
        code = driver.wait(60)
        deadline = time.monotonic() + 20
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _alive(seen)
        text = err_path.read_text()
        assert not left, f"still running after the driver ended: {left}"
        assert "Traceback" not in text, text
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
        else:
            assert code == 130, text
            last = text.strip().splitlines()[-1]  # after the ETA line
            assert last.startswith("error: interrupted: run "), text
            with Store(store, read_only=True) as db:
                (run,) = db.runs()
                assert run.status == "interrupted"
    finally:
        for pid in _alive(seen | {driver.pid}):
            os.kill(pid, signal.SIGKILL)
        driver.wait(10)


# --- a read-only store whose latest writes are in its write-ahead log ---------------------------


def test_read_only_store_with_writes_in_its_log_is_refused_not_read_short(
    tmp_path, megc_manifest, capsys
):
    """A database copied with its -wal file (committed runs not yet checkpointed) into a folder
    nobody may write: SQLite can only read it as immutable, without the log. Refused with one
    line naming the log, instead of listing the runs without the newest one (exit 0)."""
    from _cli import cli
    from leaderboard_fixtures import add_fixture_run

    source = tmp_path / "live" / "results.sqlite"
    with Store(source) as store:
        first = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    holder = __import__("sqlite3").connect(source)  # keeps the log from being checkpointed away
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("SELECT count(*) FROM runs").fetchone()  # opens the log's shared index
    try:
        with Store(source) as store:
            second = add_fixture_run(store, megc_manifest, "weak-net", "fixed", 0, 0.5, 1200)
        folder = tmp_path / "ro"
        folder.mkdir()
        for suffix in ("", "-wal"):
            shutil.copy(f"{source}{suffix}", folder / f"results.sqlite{suffix}")
    finally:
        holder.close()
    assert (folder / "results.sqlite-wal").stat().st_size > 0
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode:
        pytest.skip("cannot make a folder read-only here (chattr +i)")
    try:
        store = str(folder / "results.sqlite")
        code, out, err = cli(["results", "--store", store, "--json"], capsys)
        assert code == 1 and out == "", (out, err)
        (line,) = err.strip().splitlines()
        assert line.startswith(
            f"error: {store}: its latest writes are still in results.sqlite-wal ("
        )
    finally:
        subprocess.run(["chattr", "-i", str(folder)])
    # where the folder can be written, both runs are read
    code, out, err = cli(["results", "--store", store, "--json"], capsys)
    assert code == 0, err
    assert {first, second} <= {r["run_id"] for r in __import__("json").loads(out)}


# --- damaged rows: one run left out with a line naming it, every other run still shown --------


def _damage(path: Path, sql: str, *args) -> None:
    conn = __import__("sqlite3").connect(path)
    with conn:
        conn.execute(sql, args)
    conn.close()


@pytest.fixture()
def damaged_store(tmp_path):
    """The board's fixture runs, with good-net seed 1's card and weak-net's predictions damaged
    (not JSON; nested too deep to decode)."""
    from leaderboard_fixtures import fill_store

    path = tmp_path / "results.sqlite"
    ids = fill_store(path)
    card = ids[("good-net", "fixed", 1)]
    probs = ids[("weak-net", "fixed", 0)]
    _damage(path, 'UPDATE runs SET card_json = \'{"name": "good-net", \' WHERE run_id = ?', card)
    _damage(
        path,
        "UPDATE predictions SET probs_json = ? WHERE run_id = ? AND fold_index = 3",
        "[" * 100_000 + "]" * 100_000,
        probs,
    )
    return path, ids, card, probs


def test_results_and_table_leave_a_damaged_run_out_with_a_warning(damaged_store, capsys):
    from _cli import cli

    path, ids, card, probs = damaged_store
    code, out, err = cli(["results", "--store", str(path), "--json"], capsys)
    assert code == 0 and "Traceback" not in err, err
    shown = {r["run_id"] for r in __import__("json").loads(out)}
    assert card not in shown and probs not in shown
    assert ids[("good-net", "fixed", 0)] in shown and ids[("stopped-net", "fixed", 0)] in shown
    warnings = err.strip().splitlines()
    assert len(warnings) == 2, err
    assert any(
        f"run {card}: its stored card_json is damaged (not valid JSON" in w for w in warnings
    )
    assert any(f"run {probs}: its stored predictions.probs_json is damaged" in w for w in warnings)
    code, out, err = cli(["table", "--protocol", "megc2019", "--store", str(path)], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert "good-net" in out and "weak-net" not in out
    assert f"run {probs}: its stored predictions.probs_json is damaged" in err
    code, _, err = cli(["show", card, "--store", str(path)], capsys)
    assert code == 3 and err.strip() == (
        f"error: run {card}: its stored card_json is damaged "
        "(not valid JSON: Expecting property name enclosed in "
        "double quotes: line 1 column 22 (char 21))"
    )


def test_board_shows_a_damaged_run_as_a_notice_and_everything_else(damaged_store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    path, ids, card, probs = damaged_store
    monkeypatch.setenv("MER_BENCH_STORE", str(path))
    app = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60).run()
    assert not at.exception and not at.error
    notices = [w.value for w in at.warning if w.value.startswith("left out: ")]
    assert len(notices) == 2 and all("\n" not in n for n in notices)
    assert any(card in n and "card_json" in n for n in notices)
    shown = " ".join(str(t.value.to_dict()) for t in at.table) + " ".join(
        str(d.value.to_dict()) for d in at.dataframe
    )
    assert "good-net" in shown


def test_a_malformed_schema_version_is_one_line(tmp_path, capsys, monkeypatch):
    from _cli import cli
    from leaderboard_fixtures import fill_store
    from streamlit.testing.v1 import AppTest

    path = tmp_path / "results.sqlite"
    fill_store(path)
    _damage(path, "UPDATE meta SET value = 'x2' WHERE key = 'schema_version'")
    for argv in (["results"], ["table", "--protocol", "megc2019"], ["run", "--model", "ststnet"]):
        code, _, err = cli([*argv, "--store", str(path)], capsys)
        assert code == 1 and err.strip() == (
            f"error: {path}: its stored schema version 'x2' (table meta) is not a number: a "
            "damaged or foreign database; mer-bench leaves it as it is"
        ), (argv, err)
    monkeypatch.setenv("MER_BENCH_STORE", str(path))
    app = Path(__file__).resolve().parents[1] / "leaderboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"{path}: its stored schema version 'x2' (table meta) is not a number: a damaged or "
        "foreign database; mer-bench leaves it as it is"
    ]


# --- what the system refuses: one line naming the file, nothing created -----------------------


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path, capsys, monkeypatch):
    from _cli import cli

    config = tmp_path / "config.toml"
    config.write_bytes(b'data_root = "/data/\xff\xfe"\n')
    monkeypatch.setenv("MER_BENCH_CONFIG", str(config))
    code, _, err = cli(["doctor"], capsys)
    assert code == 3 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: {config}: the config file is not UTF-8 text (byte 19: b'\\xff')"
    )


def test_a_weights_path_that_is_a_file_is_refused_before_training(
    tmp_path, capsys, tiny_model, flows_dir, monkeypatch
):
    from _cli import cli

    import mer_bench.run.engine as engine

    store = tmp_path / "results.sqlite"
    (tmp_path / "results-weights").write_text("in the way")
    monkeypatch.setattr(engine, "say_estimate", lambda *a: pytest.fail("trained"))
    code, _, err = cli(
        [
            "run",
            "--model",
            tiny_model,
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--executor",
            "sequential",
            "--epochs",
            "1",
            "--save-weights",
            "--store",
            str(store),
            "-q",
        ],
        capsys,
    )
    assert code == 2 and "Traceback" not in err, err
    assert err.strip() == (
        f"error: --save-weights keeps the weights in {tmp_path}/results-"
        "weights, which is a file, not a folder: move it, or give another "
        "--store"
    )
    assert not store.exists()  # nothing written: not even an empty database


def test_failed_commands_leave_no_new_database_behind(tmp_path, capsys, no_dataset_env):
    """Each command fails after opening --store for writing; the database file (and its folder)
    did not exist before and does not exist after."""
    from _cli import cli

    fresh = tmp_path / "fresh" / "results.sqlite"
    (tmp_path / "empty.json").write_text("{}")
    for argv in (
        ["run", "--model", "ststnet", "--source", "flows", "--data-root", str(tmp_path / "none")],
        ["run", "--model", "ststnet", "--protocol", "casme2", "--source", "raw"],
        ["import", str(tmp_path / "empty.json")],
    ):
        code, _, err = cli([*argv, "--store", str(fresh)], capsys)
        assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not fresh.parent.exists(), argv
    code, out, err = cli(["results", "--store", str(fresh)], capsys)
    assert code == 1 and f"no results database at {fresh}" in err


def test_output_into_a_folder_nobody_may_write_is_one_line(tmp_path, capsys, megc_manifest):
    from _cli import cli
    from leaderboard_fixtures import add_fixture_run

    store = tmp_path / "results.sqlite"
    with Store(store) as db:
        run_id = add_fixture_run(db, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    folder = tmp_path / "ro"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode:
        pytest.skip("cannot make a folder read-only here (chattr +i)")
    try:
        for argv in (
            ["export", run_id, "-o", str(folder / "x.json")],
            ["table", "--protocol", "megc2019", "-o", str(folder / "t.md")],
        ):
            code, _, err = cli([*argv, "--store", str(store)], capsys)
            assert code == 1 and "Traceback" not in err, err
            assert err.strip().splitlines()[-1] == (
                f"error: -o {argv[-1]}: cannot write it (Operation not permitted); nothing was "
                "written there"
            )
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(folder)])


def test_standard_output_on_a_full_disk_is_one_line(tmp_path, megc_manifest):
    from leaderboard_fixtures import add_fixture_run

    store = tmp_path / "results.sqlite"
    with Store(store) as db:
        add_fixture_run(db, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "mer_bench", "results", "--json", "--store", str(store)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "MER_BENCH_REFERENCE": "0"},
        )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: could not write the output (No space left on device)"
