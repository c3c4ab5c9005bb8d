"""The store on both backends (a SQLite file and a PostgreSQL server): the same schema and
behaviour (fold-by-fold commits, resume, imports in one transaction, read-only opens), the board's
data and the CLI's reads, and one-line errors that never show a URL's password."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from _postgres import BOARD, BOARD_PASSWORD, WRITER_PASSWORD
from leaderboard_fixtures import add_fixture_run, fill_store
from sqlalchemy import text
from test_cli import cli

import mer_bench.run.executors.base as executors
from mer_bench.run.engine import RunConfig, run_benchmark
from mer_bench.core.errors import MerBenchError, RunInterrupted
from mer_bench.results.export import export_json
from mer_bench.data.sources import source_options
from mer_bench.results.store import SCHEMA_VERSION, Store, StoreError
from mer_bench.results.store import database
from mer_bench.results.submission import import_submission
from mer_bench_leaderboard import data as board_data
from mer_bench_leaderboard import tables


def flows_config(model: str, root, **kw) -> RunConfig:
    return RunConfig(
        model=model,
        protocol="megc2019",
        source="flows",
        device="cpu",
        executor="sequential",
        epochs=1,
        source_options=source_options("flows", data_root=root),
        **kw,
    )


def counts(store: Store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(
            conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("runs", "folds", "predictions")
        )


def test_run_interrupted_then_resumed_commits_fold_by_fold(
    store_location, tiny_model, flows_dir, monkeypatch
):
    store = Store(store_location)
    assert store.schema_version() == SCHEMA_VERSION
    real_run_fold = executors.run_fold
    calls: list[int] = []

    def interrupted(ctx, task, on_epoch=None):
        if len(calls) == 7:
            raise KeyboardInterrupt
        calls.append(task.fold.index)
        return real_run_fold(ctx, task, on_epoch)

    monkeypatch.setattr(executors, "run_fold", interrupted)
    with pytest.raises(RunInterrupted):  # Ctrl-C, as the engine reports it
        run_benchmark(flows_config(tiny_model, flows_dir), store)
    (partial,) = store.runs()
    assert partial.status == "interrupted" and store.finished_folds(partial.run_id) == set(range(7))
    assert store.fold_counts() == {partial.run_id: 7}
    assert len(store.predictions(partial.run_id)) == store.folds(partial.run_id)["n_test"].sum()
    store.close()

    calls.clear()
    monkeypatch.setattr(
        executors,
        "run_fold",
        lambda ctx, task, on_epoch=None: (
            calls.append(task.fold.index),
            real_run_fold(ctx, task, on_epoch),
        )[1],
    )
    store = Store(store_location)
    summary = run_benchmark(flows_config(tiny_model, flows_dir), store, resume=partial.run_id[:15])
    assert sorted(calls) == list(range(7, 68)) and summary.n_samples == 442
    run = store.run(partial.run_id)
    assert run.status == "finished" and run.content_hash and counts(store) == (1, 68, 442)
    predictions = store.predictions(run.run_id)
    assert predictions[["fold_index", "dataset", "subject", "sample"]].equals(
        predictions[["fold_index", "dataset", "subject", "sample"]].sort_values(
            ["fold_index", "dataset", "subject", "sample"], ignore_index=True
        )
    )
    assert np.allclose(np.array(predictions["probs"].tolist()).sum(axis=1), 1.0)
    with pytest.raises(StoreError, match=f"fold 0 .* of run {run.run_id} is already in"):
        store.add_fold(run.run_id, store.fold_records(run.run_id)[0])
    store.close()


def test_both_backends_store_and_read_the_same_run(tmp_path, postgres_url, megc_manifest):
    """One fixture run written to each backend reads back identically (export, folds, scores)."""
    exported = {}
    for name, location in (("sqlite", tmp_path / "r.sqlite"), ("postgresql", postgres_url)):
        with Store(location) as store:
            run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
            data = export_json(store, store.run(run_id))
            data["run"].pop("run_id"), data["run"].pop("started_at"), data["run"].pop("finished_at")
            for fold in data["folds"]:
                fold.pop("finished_at")
            exported[name] = json.loads(json.dumps(data))
    assert exported["sqlite"] == exported["postgresql"]
    assert len(exported["postgresql"]["predictions"]) == 442


def test_import_is_one_transaction_and_refuses_duplicates(
    store_location, tmp_path, megc_manifest, monkeypatch
):
    with Store(tmp_path / "src.sqlite") as source:
        run_id = add_fixture_run(source, megc_manifest, "good-net", "fixed", 0, 0.8, 5000)
        path = tmp_path / "sub.json"
        path.write_text(json.dumps(export_json(source, source.run(run_id))))
    store = Store(store_location)
    real_rows, written = database._fold_rows, []

    def failing_late(run, fold):  # the 60th fold cannot be written: nothing of the import stays
        written.append(fold.fold_index)
        if len(written) == 60:
            raise OSError("disk full")
        return real_rows(run, fold)

    monkeypatch.setattr(database, "_fold_rows", failing_late)
    with pytest.raises(OSError, match="disk full"):
        import_submission(path, store)
    assert counts(store) == (0, 0, 0)
    monkeypatch.setattr(database, "_fold_rows", real_rows)
    new_id, _ = import_submission(path, store)
    assert new_id == run_id and counts(store) == (1, 68, 442)
    assert store.run(run_id).status == "imported"
    with pytest.raises(MerBenchError, match=f"run {run_id} is already in"):
        import_submission(path, store)
    renamed = json.loads(path.read_text())
    renamed["run"]["run_id"] = "renamed-copy"
    path.write_text(json.dumps(renamed))
    with pytest.raises(MerBenchError, match=f"same predictions as run {run_id}"):
        import_submission(path, store)
    assert counts(store) == (1, 68, 442)
    store.close()


def test_read_only_open_never_writes(store_location, megc_manifest):
    with Store(store_location) as store:
        run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 10)
    reader = board_data.open_read_only(store_location)
    with pytest.raises(Exception, match="read-only|readonly"), reader.engine.connect() as conn:
        conn.exec_driver_sql("DELETE FROM predictions")
        conn.commit()
    with pytest.raises(StoreError, match="open read-only"):
        reader.set_status(run_id, "failed")
    assert len(reader.predictions(run_id)) == 442 and reader.run(run_id).status == "finished"
    reader.close()


def test_board_role_reads_and_cannot_write(postgres_server, postgres_database, megc_manifest):
    """The board's role (docs/team.md) may only SELECT: even a writer's open of it cannot write."""
    with Store(postgres_server.url(postgres_database)) as store:
        run_id = add_fixture_run(store, megc_manifest, "good-net", "fixed", 0, 0.8, 10)
    board_url = postgres_server.url(postgres_database, BOARD, BOARD_PASSWORD)
    with Store(board_url, read_only=True) as reader:
        assert reader.run(run_id).status == "finished" and len(reader.predictions(run_id)) == 442
    with Store(board_url) as misused:
        with pytest.raises(
            StoreError, match="could not write .*(permission denied|read-only)"
        ) as caught:
            misused.set_status(run_id, "failed")
    assert BOARD_PASSWORD not in str(caught.value) and "***" in str(caught.value)


def test_change_key_follows_every_write(store_location, megc_manifest):
    with Store(store_location) as store:
        keys = [store.change_key(), board_data.store_version(store_location)]
        run_id = add_fixture_run(
            store, megc_manifest, "good-net", "fixed", 0, 0.8, 10, finish=False
        )
        keys += [store.change_key(), board_data.store_version(store_location)]
        store.set_status(run_id, "finished")
        keys += [store.change_key(), board_data.store_version(store_location)]
        assert store.change_key() == keys[-2]  # nothing written: the same key
    assert keys[0][0] == 0 and keys[2][0] == 1 and keys[2][-1] == 68
    assert len(set(keys[0::2])) == 3 and len(set(keys[1::2])) == 3


def test_board_data_is_the_same_on_both_backends(
    tmp_path, postgres_server, postgres_database, monkeypatch
):
    from mer_bench.results import ranking

    monkeypatch.setattr(ranking, "N_RESAMPLES", 200)  # the same draws on both: fewer will do
    location = postgres_server.url(postgres_database)
    rankings = []
    for where in (str(tmp_path / "board.sqlite"), location):
        fill_store(where)
        reader = board_data.open_read_only(
            where
            if where != location
            else postgres_server.url(postgres_database, BOARD, BOARD_PASSWORD)
        )
        runs = board_data.runs_frame(reader)
        predictions = {r: board_data.predictions_frame(reader, r) for r in runs["run_id"]}
        reader.close()
        table = tables.ranking(runs, predictions)
        rankings.append(table.drop(columns=[c for c in ("run_ids", "date") if c in table]))
    pd.testing.assert_frame_equal(rankings[0], rankings[1])
    assert {"good-net", "weak-net", "demo-net"} <= set(rankings[0]["model"])


def test_board_page_on_a_server_shows_no_password(postgres_server, postgres_database, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from test_leaderboard_app import APP

    fill_store(postgres_server.url(postgres_database))
    monkeypatch.setenv(
        "MER_BENCH_STORE", postgres_server.url(postgres_database, BOARD, BOARD_PASSWORD)
    )
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and not at.error
    caption = " ".join(c.value for c in at.caption)
    assert f"postgresql://{BOARD}:***@" in caption
    ranking = next(t.value for t in at.table if "UF1 95% CI" in t.value.columns)
    assert list(ranking["model"]) == ["good-net", "weak-net"]  # honest, real data, complete
    page = repr(at) + " ".join(
        str(e.value)
        for kind in (at.markdown, at.caption, at.info, at.warning, at.table, at.dataframe)
        for e in kind
    )
    assert "good-net" in page and BOARD_PASSWORD not in page


def test_cli_run_results_show_export_on_a_server(
    postgres_url, tiny_model, flows_dir, tmp_path, capsys, monkeypatch
):
    """A run, `results`, `show` and `export` from the command line against PostgreSQL
    ($MER_BENCH_STORE), and the password nowhere: not in output, logs or any stored row."""
    monkeypatch.setenv("MER_BENCH_STORE", postgres_url)
    code, out, err = cli(
        [
            "-v",
            "run",
            "--model",
            tiny_model,
            "--source",
            "flows",
            "--data-root",
            str(flows_dir),
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--executor",
            "sequential",
        ],
        capsys,
    )
    assert code == 0, err
    with Store(postgres_url, read_only=True) as store:
        (run,) = store.runs()
        assert run.status == "finished" and len(store.finished_folds(run.run_id)) == 68
        with store.engine.connect() as conn:
            stored = [
                str(tuple(row))
                for table in ("meta", "runs", "folds", "predictions")
                for row in conn.execute(text(f"SELECT * FROM {table}"))
            ]
    outputs = [out, err]
    for argv in (
        ["results"],
        ["show", run.run_id],
        ["show", run.run_id, "--json"],
        ["results", "--json"],
    ):
        code, out, err = cli(argv, capsys)
        assert code == 0 and run.run_id in out, err
        outputs += [out, err]
    assert json.loads(out)[0]["folds_done"] == 68
    target = tmp_path / "run.json"
    code, out, err = cli(["export", run.run_id, "--format", "json", "-o", str(target)], capsys)
    assert code == 0 and len(json.loads(target.read_text())["predictions"]) == 442
    outputs += [out, err, target.read_text()]
    assert len(stored) > 442 + 68
    for text_ in stored + outputs:
        assert WRITER_PASSWORD not in text_


def test_unreachable_server_wrong_password_and_no_driver_are_one_line_errors(
    postgres_server, postgres_database, monkeypatch, capsys
):
    good = postgres_server.url(postgres_database)
    cases = {
        good.replace(str(postgres_server.port), "1"): "cannot connect .*(refused|failed)",
        good.replace(WRITER_PASSWORD, "not-" + WRITER_PASSWORD): "password authentication failed",
        good.rsplit("/", 1)[0] + "/no_such_db": 'database "no_such_db" does not exist',
        "mysqlx://u:" + WRITER_PASSWORD + "@h/db": "cannot use this database URL",
    }
    for url, message in cases.items():
        with pytest.raises(StoreError, match=message) as caught:
            Store(url)
        text_ = str(caught.value)
        assert "\n" not in text_ and WRITER_PASSWORD not in text_ and "***" in text_
    monkeypatch.setitem(sys.modules, "psycopg", None)  # the driver is not installed
    with pytest.raises(
        StoreError,
        match=r"needs the psycopg 3 driver: pip install 'mer-bench\["
        r"postgres\]'",
    ):
        Store(good)
    monkeypatch.delitem(sys.modules, "psycopg")
    code, out, err = cli(
        ["results", "--store", good.replace(str(postgres_server.port), "1")], capsys
    )
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: cannot connect")
    assert WRITER_PASSWORD not in out + err
    code, _, err = cli(
        ["leaderboard", "--store", good.replace(WRITER_PASSWORD, "not-" + WRITER_PASSWORD)], capsys
    )
    assert code == 1 and "password authentication failed" in err and WRITER_PASSWORD not in err


def test_newer_schema_on_a_server_is_refused(postgres_url):
    with Store(postgres_url) as store, store.transaction() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="version 99 was written by a newer mer-bench"):
            Store(postgres_url, read_only=read_only)


def test_locations_and_redaction():
    assert database.sqlite_file("sqlite:////tmp/x.sqlite").as_posix() == "/tmp/x.sqlite"
    assert database.sqlite_file("postgresql://u@h/db") is None
    assert str(database.server_url("postgres://u:p@h:5/db").drivername) == "postgresql+psycopg"
    for url in (
        "postgresql://u:p%40ss@h/db",
        "postgresql://u:p@ss@h/db",
        "postgresql://u:p/s:s@h/db",
    ):
        assert database.redact(url) == "postgresql://u:***@h/db"
    assert (
        database.redact("postgresql://h/db?sslmode=require&password=pw1")
        == "postgresql://h/db?sslmode=require&password=***"
    )
    assert database.redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert board_data.store_location("postgresql://u:p@h/db") == "postgresql://u:p@h/db"
    assert board_data.display_location("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    with pytest.raises(StoreError, match="not a database URL"):
        database.server_url("postgresql://u:secret@h:port/db")


def test_without_server_binaries_postgres_tests_skip_but_fail_under_ci(monkeypatch):
    import _postgres

    monkeypatch.setattr(_postgres, "server_binaries", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server binaries"):
        _postgres.server_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set but no PostgreSQL server binaries"):
        _postgres.server_or_skip()
