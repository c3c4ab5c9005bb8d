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
        tiny_fixed = [r for r in runs.values() if r.model == "htnet-tiny" and r.selection == "fixed"
                      and r.identity["data"]["difficulty"] == "easy" and r.status != "interrupted"]
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
