"""Many writers on one store, on both backends: runs started at once all finish with every fold
stored once, a writer killed inside a fold's transaction leaves nothing of that fold, and the
same submission imported twice at once is stored once. Writers are forked processes (the tiny
model and the flows fixture are inherited), each with its own `Store`."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import traceback

import numpy as np
import pytest
from leaderboard_fixtures import add_fixture_run
from sqlalchemy import event, text

from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import MerBenchError
from mer_bench.results.export import export_json
from mer_bench.data.sources import source_options
from mer_bench.results.store import Store
from mer_bench.results.submission import import_submission

WRITERS = 8
FORK = multiprocessing.get_context("fork")  # children inherit the registered test model
pytestmark = pytest.mark.usefixtures("one_thread")


def flows_config(model: str, root) -> RunConfig:
    """A run whose folds are quick to make (no training epoch): the store is what is tested."""
    return RunConfig(
        model=model,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor="sequential",
        epochs=1,
        source_options=source_options("flows", data_root=root),
    )


def _child(work, args, barrier, errors) -> None:
    try:
        barrier.wait(60)
        work(*args)
    except BaseException as exc:  # reported to the parent, which fails the test
        errors.put(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}")
        raise SystemExit(1) from None


def at_once(work, args_list: list[tuple], timeout: float = 240) -> list[str]:
    """Run `work(*args)` in one forked process per entry, all released together; the errors."""
    barrier, errors = FORK.Barrier(len(args_list)), FORK.SimpleQueue()
    children = [
        FORK.Process(target=_child, args=(work, args, barrier, errors)) for args in args_list
    ]
    for child in children:
        child.start()
    deadline = time.monotonic() + timeout
    for child in children:
        child.join(max(1.0, deadline - time.monotonic()))
    hung = [c for c in children if c.is_alive()]
    for child in hung:
        child.kill()
        child.join()
    out = []
    while not errors.empty():
        out.append(errors.get())
    assert not hung, f"{len(hung)} writers still running after {timeout} s: {out}"
    failed = [c.exitcode for c in children if c.exitcode]
    return out + [f"exit code {code}" for code in failed[len(out) :]]


def _run(location: str, config: RunConfig) -> None:
    with Store(location) as store:
        run_benchmark(config, store)


def _warm_torch() -> None:
    """Import what the first optimizer imports (torch._dynamo) once, before forking."""
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def test_eight_runs_at_once_store_every_fold_once(store_location, tiny_model, flows_dir):
    _warm_torch()
    config = flows_config(tiny_model, flows_dir)
    started = time.perf_counter()
    errors = at_once(_run, [(store_location, config)] * WRITERS)  # a new store: schema race too
    seconds = time.perf_counter() - started
    assert errors == []
    with Store(store_location, read_only=True) as store:
        runs = store.runs()
        assert len(runs) == WRITERS and {r.status for r in runs} == {"finished"}
        assert store.fold_counts() == {r.run_id: 68 for r in runs}
        with store.engine.connect() as conn:
            (meta,) = conn.execute(text("SELECT COUNT(*) FROM meta")).one()
            distinct = conn.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT DISTINCT run_id, dataset, subject, sample "
                    "FROM predictions) AS d"
                )
            ).scalar_one()
            total = conn.execute(text("SELECT COUNT(*) FROM predictions")).scalar_one()
        assert meta == 1 and total == distinct == WRITERS * 442
        probs = [np.array(store.predictions(r.run_id)["probs"].tolist()) for r in runs]
    assert all(np.array_equal(p, probs[0]) for p in probs)  # same config and seed, same numbers
    backend = store_location.split("://")[0] if "://" in store_location else "sqlite"
    print(f"{WRITERS} runs x 68 folds at once on {backend}: {seconds:.1f} s")


def _killed_inside_fold(location: str, config: RunConfig, fold: int, ready) -> None:
    """Run, and stop for good inside the transaction of fold `fold`, after its fold row and its
    predictions were sent but before the commit (the parent kills the process there)."""
    store = Store(location)
    seen = []

    @event.listens_for(store.engine, "after_cursor_execute")
    def _pause(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO PREDICTIONS"):
            seen.append(1)
            if len(seen) == fold + 1:
                ready.set()
                time.sleep(600)

    run_benchmark(config, store)


def test_killed_writer_leaves_no_half_written_fold(store_location, tiny_model, flows_dir):
    _warm_torch()
    config = flows_config(tiny_model, flows_dir)
    with Store(store_location):
        pass  # schema in place before the child starts
    ready, errors = FORK.Event(), FORK.SimpleQueue()
    child = FORK.Process(
        target=_child,
        args=(_killed_inside_fold, (store_location, config, 5, ready), FORK.Barrier(1), errors),
    )
    child.start()
    assert ready.wait(120), errors.get() if not errors.empty() else "child never reached fold 5"
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    with Store(store_location) as store:
        (run,) = store.runs()
        assert run.status == "running"  # killed: nothing could mark it
        assert store.finished_folds(run.run_id) == set(range(5))
        predictions = store.predictions(run.run_id)
        assert set(predictions["fold_index"]) == set(range(5))
        assert len(predictions) == store.folds(run.run_id)["n_test"].sum() > 0
        summary = run_benchmark(config, store, resume=run.run_id)
        assert summary.n_samples == 442 and store.run(run.run_id).status == "finished"
        assert store.fold_counts() == {run.run_id: 68}


def _import(location: str, path: str, results) -> None:
    with Store(location) as store:
        try:
            run_id, _ = import_submission(path, store)
            results.put(("stored", run_id))
        except MerBenchError as exc:
            results.put(("refused", str(exc)))


@pytest.mark.parametrize("second", ["same file", "same predictions, other run id"])
def test_the_same_submission_imported_twice_at_once_is_stored_once(
    store_location, tmp_path, megc_manifest, second
):
    with Store(tmp_path / "src.sqlite") as source:
        run_id = add_fixture_run(source, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
        data = export_json(source, source.run(run_id))
    first = tmp_path / "a.json"
    first.write_text(json.dumps(data))
    other = tmp_path / "b.json"
    if second != "same file":
        data["run"]["run_id"] = "other-id"
    other.write_text(json.dumps(data))
    with Store(store_location):
        pass
    results = FORK.SimpleQueue()
    assert (
        at_once(
            _import, [(store_location, str(first), results), (store_location, str(other), results)]
        )
        == []
    )
    outcomes = sorted(results.get() for _ in range(2) if not results.empty())
    assert [o[0] for o in outcomes] == ["refused", "stored"]
    assert "already in" in outcomes[0][1] or "same predictions as run" in outcomes[0][1]
    with Store(store_location, read_only=True) as store:
        (run,) = store.runs()
        assert run.run_id == outcomes[1][1] and store.fold_counts() == {run.run_id: 68}
        assert len(store.predictions(run.run_id)) == 442


def test_a_sqlite_writer_outwaits_a_lock_held_past_its_busy_timeout(
    tmp_path, megc_manifest, monkeypatch
):
    """Another process holds the write lock for 1 s, five times the busy timeout: the write is
    retried until it lands, and the caller never sees 'database is locked'."""
    import sqlite3
    import threading

    from mer_bench.results.store import database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "results.sqlite"
    store = Store(path)
    run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 10, finish=False)
    held = threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(1.0)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait(10)
    started = time.perf_counter()
    store.set_status(run_id, "finished")
    waited = time.perf_counter() - started
    holder.join()
    assert waited >= 0.8 and store.run(run_id).status == "finished"
    store.close()


def test_opening_waits_out_a_lock_that_sqlite_reports_at_once(tmp_path, monkeypatch):
    """SQLite reports "database is locked" without its busy timeout when a new file switches to
    write-ahead logging while others open it (seen with eight runs started at once on a loaded
    machine): opening again succeeds; a lock that outlasts every attempt, and any other database
    error, is a one-line StoreError that says which."""
    from sqlalchemy.exc import OperationalError

    from mer_bench.results.store import database
    from mer_bench.results.store.database import StoreError

    prepare, failures = database.Store._prepare, []

    def locked_twice(self):
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("PRAGMA journal_mode = WAL", {}, Exception("database is locked"))
        return prepare(self)

    monkeypatch.setattr(database.Store, "_prepare", locked_twice)
    with Store(tmp_path / "r.sqlite") as store:
        assert store.schema_version() is not None and len(failures) == 2

    def locked(self):
        raise OperationalError("PRAGMA journal_mode = WAL", {}, Exception("database is locked"))

    monkeypatch.setattr(database.time, "sleep", lambda seconds: None)  # the back-off, skipped
    monkeypatch.setattr(database.Store, "_prepare", locked)
    with pytest.raises(
        StoreError,
        match="still held by another process after 5 attempts "
        r"\(database is locked\)",
    ):
        Store(tmp_path / "held.sqlite")

    def corrupt(self):
        raise OperationalError("SELECT", {}, Exception("file is not a database"))

    monkeypatch.setattr(database.Store, "_prepare", corrupt)
    with pytest.raises(StoreError, match="not a mer-bench results database"):
        Store(tmp_path / "other.sqlite")
