"""The results schema: a version-1 database made by mer-bench 0.1.0 is migrated and every run read."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from mer_bench.results.store import SCHEMA_VERSION, Store, StoreError
from mer_bench.results.summary import summarize_run

V1 = Path(__file__).parent / "data" / "v1" / "results_v1.sqlite"


def _tables(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}
    finally:
        conn.close()


def test_version_1_database_is_migrated_and_every_run_read(tmp_path):
    path = tmp_path / "results.sqlite"
    shutil.copy(V1, path)
    before = _tables(path)
    assert before["runs"] == 7 and before["folds"] == 84 and before["predictions"] == 602
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        runs = {r.run_id: r for r in store.runs()}
        assert len(runs) == 7
        counts = store.fold_counts()
        for run in runs.values():
            assert run.identity["model"] == run.model and run.config_hash and run.group_hash
            if counts.get(run.run_id):
                summary = summarize_run(store, run, device="cpu")
                assert summary.n_samples == len(store.predictions(run.run_id))
                assert 0 <= summary.report.pooled.uf1 <= 1
        statuses = sorted(r.status for r in runs.values())
        # version 1 left the interrupted run 'running'; nothing runs it after a migration
        assert statuses == ["finished"] * 5 + ["imported", "interrupted"]
        interrupted = next(r for r in runs.values() if r.status == "interrupted")
        assert counts[interrupted.run_id] == 1 and interrupted.n_folds == 3
        # seeds and copies of one configuration share a group; other policies and data do not
        tiny_fixed = [
            r
            for r in runs.values()
            if r.model == "htnet-tiny"
            and r.selection == "fixed"
            and r.identity["data"]["difficulty"] == "easy"
            and r.status != "interrupted"
        ]
        assert len(tiny_fixed) == 3 and len({r.group_hash for r in tiny_fixed}) == 1
        assert len({r.config_hash for r in tiny_fixed if r.status == "finished"}) == 2
        best = next(r for r in runs.values() if r.selection == "best-on-test")
        assert best.group_hash != tiny_fixed[0].group_hash
        hard = next(r for r in runs.values() if r.model == "svm-hoof")
        assert hard.identity["data"]["difficulty"] == "hard"
        flows = next(r for r in runs.values() if r.source == "flows")
        assert len(store.predictions(flows.run_id)) == 442 and len(store.folds(flows.run_id)) == 68
        assert store.folds(flows.run_id)["n_test"].sum() == 442
        assert flows.epochs == 1 and flows.recipe["betas"] == [0.9, 0.999]
        assert flows.provenance["migrated_from"]["schema_version"] == 1
    assert (tmp_path / "results.sqlite.v1.bak").is_file()
    assert _tables(tmp_path / "results.sqlite.v1.bak") == before
    after = _tables(path)
    assert after["predictions"] == before["predictions"] and after["folds"] == before["folds"]


def test_read_only_open_of_an_old_database_leaves_the_file_alone(tmp_path):
    path = tmp_path / "results.sqlite"
    shutil.copy(V1, path)
    path.chmod(0o444)
    original = path.read_bytes()
    with Store(path, read_only=True) as store:
        assert len(store.runs()) == 7 and store.schema_version() == SCHEMA_VERSION
    assert path.read_bytes() == original and not (tmp_path / "results.sqlite.v1.bak").exists()


def test_newer_and_foreign_databases_are_refused(tmp_path):
    newer = tmp_path / "newer.sqlite"
    with Store(newer) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="version 99 was written by a newer mer-bench"):
        Store(newer)
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a mer-bench results database"):
        Store(foreign)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a mer-bench results database"):
        Store(garbage)


def _schema_of(conn) -> dict:
    """Tables, columns (type, nullability, default), keys, indexes and checks, as SQLAlchemy's
    inspector reads them from the database itself (not from the metadata that made them)."""
    from sqlalchemy import inspect

    found = inspect(conn)
    out = {}
    for table in sorted(found.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in found.get_columns(table)
            ],
            "pk": sorted(found.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    str(f.get("options")),
                )
                for f in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "checks": sorted(
                (c.get("name"), " ".join(c["sqltext"].split()))
                for c in found.get_check_constraints(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
        }
    return out


def _fresh_schema(metadata) -> dict:
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        metadata.create_all(conn)
        return _schema_of(conn)


def test_each_step_makes_its_frozen_version_and_the_last_is_todays_schema(tmp_path):
    """From the version-1 file through every step: after step v -> v + 1 the database has
    exactly version v + 1's frozen tables, and the last frozen version is a fresh database's."""
    from sqlalchemy import create_engine

    from mer_bench.results.store import schema
    from mer_bench.results.store.migrations import FROZEN, MIGRATIONS

    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))
    assert sorted(FROZEN) == list(range(2, SCHEMA_VERSION + 1))
    path = tmp_path / "results.sqlite"
    shutil.copy(V1, path)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        for step in sorted(MIGRATIONS):
            MIGRATIONS[step](conn)
            made = _schema_of(conn)
            assert made == _fresh_schema(FROZEN[step + 1]()), f"after {step} -> {step + 1}"
    engine.dispose()
    fresh = tmp_path / "fresh.sqlite"
    Store(fresh).close()
    with Store(path) as migrated:  # stamps the version; nothing left to migrate
        assert migrated.schema_version() == SCHEMA_VERSION
    schemas = []
    for db in (path, fresh):
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            schemas.append(_schema_of(conn))
        engine.dispose()
    assert schemas[0] == schemas[1] == _fresh_schema(schema.metadata)
    assert set(schemas[0]) == {"meta", "runs", "folds", "predictions"}
    assert {name for name, _ in schemas[0]["runs"]["checks"]} == {"runs_status", "runs_kind"}


def test_a_step_uses_its_own_tables_not_todays(tmp_path, monkeypatch):
    """Today's schema gains a column: the step to version 2 still makes version 2's tables (a
    later step would add the column), so its result differs from today's schema."""
    from sqlalchemy import Column, MetaData, Text, create_engine

    from mer_bench.results.store import schema
    from mer_bench.results.store.migrations import FROZEN, MIGRATIONS

    changed = MetaData()
    for table in schema.metadata.sorted_tables:
        copy = table.to_metadata(changed)
        if table.name == "runs":
            copy.append_column(Column("added_later", Text))
    monkeypatch.setattr(schema, "metadata", changed)
    monkeypatch.setattr(schema, "runs", changed.tables["runs"])
    path = tmp_path / "results.sqlite"
    shutil.copy(V1, path)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        MIGRATIONS[1](conn)
        got = _schema_of(conn)
    engine.dispose()
    assert got == _fresh_schema(FROZEN[2]())
    assert "added_later" not in [c[0] for c in got["runs"]["columns"]]
    assert got != _fresh_schema(changed)
