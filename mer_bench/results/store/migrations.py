"""Schema migrations: every older results database is brought to `schema.SCHEMA_VERSION`.

One function per step (`MIGRATIONS[v]` takes a database from version v to v + 1), run in one
transaction; a SQLite file is copied to `<name>.v<version>.bak` first. Each step builds its tables
from the definitions frozen for the version it produces (`FROZEN[v + 1]`, written out here as they
were at that revision, Alembic's habit), never from today's `schema`: once a later version changes
a table, an old database still passes through every step as it was and reaches today's schema
through the later steps. `tests/test_store_migration.py` checks that the last frozen version is
today's schema and that a version-1 file ends up with a fresh database's tables.

Version 1 (mer-bench 0.1.0, before December 2026) had no meta table, stored the epoch count and
each fold's test size beside what they derive from, and had no run identity; step 1 -> 2 rebuilds
the tables, derives each run's identity from its stored fields and provenance, and keeps
everything else.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    insert,
    inspect,
    text,
)

from mer_bench.core.cards import Recipe
from mer_bench.core.identity import RunIdentity
from mer_bench.results.store import schema
from mer_bench.results.store.records import content_hash, dumps

if TYPE_CHECKING:
    from mer_bench.results.store.database import Store

log = logging.getLogger(__name__)


def _tables_v2() -> MetaData:
    """Schema version 2's tables, frozen as they were written (December 2026). Never edit: a
    change to the schema is a new version, its own frozen tables and a step to it."""
    md = MetaData()
    Table("meta", md, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))
    statuses = ("running", "interrupted", "failed", "finished", "imported")
    Table(
        "runs",
        md,
        Column("run_id", Text, primary_key=True),
        Column("kind", Text, nullable=False, default="benchmark"),
        Column("experiment_id", Text),
        Column("model", Text, nullable=False),
        Column("protocol", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("view", Text, nullable=False),
        Column("selection", Text, nullable=False),
        Column("seed", Integer, nullable=False),
        Column("identity_json", Text, nullable=False),
        Column("config_hash", Text, nullable=False),
        Column("group_hash", Text, nullable=False),
        Column("recipe_json", Text, nullable=False),
        Column("classes_json", Text, nullable=False),
        Column("card_json", Text, nullable=False),
        Column("provenance_json", Text, nullable=False),
        Column("mer_bench_version", Text, nullable=False),
        Column("git_commit", Text),
        Column("torch_version", Text),
        Column("device_name", Text),
        Column("executor", Text, nullable=False),
        Column("n_folds", Integer, nullable=False),
        Column("started_at", Text, nullable=False),
        Column("finished_at", Text),
        Column("status", Text, nullable=False),
        Column("estimated_seconds", Float),
        Column("wall_seconds", Float),
        Column("content_hash", Text),
        Column("host", Text),
        Column("pid", Integer),
        Column("heartbeat_at", Text),
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in statuses)), name="runs_status"
        ),
        CheckConstraint("kind IN ('benchmark', 'final')", name="runs_kind"),
    )
    Table(
        "folds",
        md,
        Column("run_id", Text, nullable=False),
        Column("fold_index", Integer, nullable=False),
        Column("fold_key", Text, nullable=False),
        Column("seed", Integer, nullable=False),
        Column("n_train", Integer, nullable=False),
        Column("epochs_trained", Integer, nullable=False),
        Column("selected_epoch", Integer),
        Column("selection_json", Text),
        Column("seconds", Float, nullable=False),
        Column("finished_at", Text, nullable=False),
        Column("artifact", Text),
        PrimaryKeyConstraint("run_id", "fold_index"),
        ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
    )
    Table(
        "predictions",
        md,
        Column("run_id", Text, nullable=False),
        Column("fold_index", Integer, nullable=False),
        Column("dataset", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("sample", Text, nullable=False),
        Column("label", Integer, nullable=False),
        Column("pred", Integer, nullable=False),
        Column("probs_json", Text, nullable=False),
        PrimaryKeyConstraint("run_id", "dataset", "subject", "sample"),
        ForeignKeyConstraint(
            ["run_id", "fold_index"], ["folds.run_id", "folds.fold_index"], ondelete="CASCADE"
        ),
        Index("predictions_by_run", "run_id"),
    )
    return md


#: FROZEN[v]: schema version v's tables as that version wrote them (version 1 is read with plain
#: SQL by the step from it and is never created any more).
FROZEN: dict[int, Callable[[], MetaData]] = {2: _tables_v2}


def v1_identity(
    run: dict[str, Any], recipe: dict[str, Any], provenance: dict[str, Any]
) -> RunIdentity:
    """A version-1 run's identity, from what it stored (`run`: its model, protocol, source,
    selection and seed; its recipe with today's defaults filled in; data options from its
    provenance, as version 1 recorded them). Version-1 submission files are read the same way."""
    data: dict[str, Any] = {}
    if run["source"] == "flows" and provenance.get("data_root"):
        data = {"data_root": str(provenance["data_root"])}
    elif run["source"] in ("demo", "raw"):
        demo = provenance.get("demo") or {}
        data = {
            k: demo[k] for k in ("subjects", "difficulty", "seed", "clips_per_subject") if k in demo
        }
        if "preprocessing_hash" in provenance:
            data["preprocessing"] = provenance["preprocessing_hash"]
        method = (provenance.get("preprocessing") or {}).get("flow", {}).get("method")
        if method:
            data["flow_method"] = method
    recipe = Recipe.from_dict(recipe).as_dict()
    return RunIdentity(
        model=run["model"],
        protocol=run["protocol"],
        source=run["source"],
        data=data,
        view={"name": "flow28"},
        selection=run["selection"],
        recipe=recipe,
        seed=int(run["seed"]),
    )


def _migrate_1_to_2(conn: Connection) -> None:
    # version 1 wrote meta later in its life, with a nullable key: rebuilt like the others
    had_meta = inspect(conn).has_table("meta")
    for table in ("predictions", "folds", "runs", *(("meta",) if had_meta else ())):
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_v1"))
    conn.execute(text("DROP INDEX IF EXISTS predictions_by_run"))
    v2 = _tables_v2()
    v2.create_all(conn)
    if had_meta:
        conn.execute(
            text(
                "INSERT INTO meta (key, value) SELECT key, value FROM meta_v1 "
                "WHERE key IS NOT NULL AND key != 'schema_version'"
            )
        )
        conn.execute(text("DROP TABLE meta_v1"))
    old_runs = [dict(r) for r in conn.execute(text("SELECT * FROM runs_v1")).mappings()]
    for run in old_runs:
        provenance = json.loads(run["provenance_json"])
        identity = v1_identity(run, json.loads(run["recipe_json"]), provenance)
        provenance["migrated_from"] = {"schema_version": 1, "config_hash": run["config_hash"]}
        rows = conn.execute(
            text("SELECT dataset, subject, sample, pred FROM predictions_v1 WHERE run_id = :r"),
            {"r": run["run_id"]},
        ).all()
        complete = run["status"] in ("finished", "imported")
        conn.execute(
            insert(v2.tables["runs"]).values(
                run_id=run["run_id"],
                kind="benchmark",
                experiment_id=None,
                model=run["model"],
                protocol=run["protocol"],
                source=run["source"],
                view="flow28",
                selection=run["selection"],
                seed=run["seed"],
                identity_json=dumps(identity.as_dict()),
                config_hash=identity.config_hash,
                group_hash=identity.group_hash,
                recipe_json=dumps(identity.recipe),
                classes_json=run["classes_json"],
                card_json=run["card_json"],
                provenance_json=dumps(provenance),
                mer_bench_version=run["mer_bench_version"],
                git_commit=run["git_commit"],
                torch_version=run["torch_version"],
                device_name=run["device_name"],
                executor=run["executor"],
                n_folds=run["n_folds"],
                started_at=run["started_at"],
                finished_at=run["finished_at"],
                # version 1 left interrupted runs 'running' forever; none of them still runs
                status="interrupted" if run["status"] == "running" else run["status"],
                estimated_seconds=None,
                wall_seconds=provenance.get("wall_seconds"),
                content_hash=content_hash([tuple(r) for r in rows]) if complete else None,
            )
        )
    conn.execute(
        text(
            "INSERT INTO folds (run_id, fold_index, fold_key, seed, n_train, epochs_trained, "
            "selected_epoch, selection_json, seconds, finished_at, artifact) "
            "SELECT run_id, fold_index, fold_key, seed, n_train, epochs_trained, selected_epoch, "
            "NULL, seconds, finished_at, NULL FROM folds_v1"
        )
    )
    conn.execute(
        text(
            "INSERT INTO predictions (run_id, fold_index, dataset, subject, sample, label, pred, "
            "probs_json) SELECT run_id, fold_index, dataset, subject, sample, label, pred, "
            "probs_json FROM predictions_v1"
        )
    )
    for table in ("predictions_v1", "folds_v1", "runs_v1"):
        conn.execute(text(f"DROP TABLE {table}"))


#: MIGRATIONS[v] takes a database from schema version v to v + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_1_to_2}


def _run_steps(conn: Connection, version: int) -> None:
    """Every step from `version` to today's on `conn`, then the version stamped in `meta` (a
    table every version from 2 on has, in the same two columns)."""
    for step in range(version, schema.SCHEMA_VERSION):
        log.info("migrating results schema %d -> %d", step, step + 1)
        MIGRATIONS[step](conn)
    conn.execute(text("DELETE FROM meta WHERE key = 'schema_version'"))
    conn.execute(
        text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
        {"v": str(schema.SCHEMA_VERSION)},
    )


def migrate(store: Store, version: int | None) -> None:
    """Bring `store` from `version` (None: a new, empty database) to the current schema, in one
    transaction that holds the store's 'schema' lock and reads the version again under it, so
    that many processes opening one new or old database at once create or migrate it once.
    SQLite files are backed up first."""
    from mer_bench.results.store.connection import create_schema, stored_version

    if version is not None:
        if store.path is not None:
            backup = store.path.with_name(f"{store.path.name}.v{version}.bak")
            if not backup.exists():
                _sqlite_copy(store.path, backup)
            log.warning(
                "results database %s is schema version %d: migrating to %d (backup: %s)",
                store.path,
                version,
                schema.SCHEMA_VERSION,
                backup,
            )
        else:
            log.warning(
                "results database %s is schema version %d: migrating to %d",
                store.where,
                version,
                schema.SCHEMA_VERSION,
            )

    def work(conn: Connection) -> None:
        store.lock(conn, "schema")
        current = stored_version(conn, store.where)
        if current is None:
            create_schema(conn)
        elif current < schema.SCHEMA_VERSION:
            _run_steps(conn, current)

    store._write(work)


def migrated_copy_in_memory(path: Path, version: int) -> Engine:
    """An in-memory copy of the read-only database at `path`, migrated; the file is untouched."""
    from mer_bench.results.store.connection import memory_engine

    engine = memory_engine()
    source = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        with engine.connect() as conn:
            source.backup(conn.connection.driver_connection)
    finally:
        source.close()
    with engine.begin() as conn:
        _run_steps(conn, version)
    log.info(
        "read-only results database %s (schema %d) read through a migrated copy", path, version
    )
    return engine


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its write-ahead log included)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    if not target.exists():
        shutil.copy2(source, target)
