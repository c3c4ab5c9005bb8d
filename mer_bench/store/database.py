"""`Store`: the results database, and the only code that writes it.

Runs, folds, predictions and imports all go through this class, on any backend SQLAlchemy
reaches (SQLite files by default). Each method is one transaction; each finished fold is
committed on its own, so a run killed mid-way keeps every finished fold and can be resumed.
Opening an older database migrates it (see `mer_bench.store.migrations`); a read-only open of an
older database migrates an in-memory copy and leaves the file untouched.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, inspect, select, update
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from mer_bench.errors import MerBenchError
from mer_bench.store import schema
from mer_bench.store.records import FoldRecord, RunRecord, check_run_id, content_hash, dumps, now

log = logging.getLogger(__name__)

#: Seconds a writer waits for another writer's lock before giving up (SQLite).
BUSY_TIMEOUT_S = 60
#: Attempts of a write transaction that hit a lock (after the busy timeout).
WRITE_ATTEMPTS = 5


class StoreError(MerBenchError):
    """A results database that cannot be opened or read as one."""


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


def redact(location: str | Path) -> str:
    """The location as it may be shown: a URL's password replaced by ***."""
    text = str(location)
    if not is_url(text):
        return text
    from sqlalchemy.engine import make_url

    try:
        return make_url(text).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show the scheme only
        return text.split("://", 1)[0] + "://***"


class Store:
    """A results database. Open one per process; every method is one transaction."""

    def __init__(self, location: str | Path, read_only: bool = False) -> None:
        self.read_only = read_only
        self.url = str(location) if is_url(location) else None
        self.path = None if self.url else Path(location).expanduser()
        self.where = redact(location)
        try:
            self.engine = self._connect()
            self._prepare()
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            raise StoreError(f"{self.where}: not a mer-bench results database "
                             f"({_reason(exc)})") from exc

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> Engine:
        if self.url:
            return self._connect_url()
        if self.read_only:
            if not self.path.is_file():
                raise StoreError(f"no results database at {self.path}")
            mode = "mode=ro" if _opens_read_only(self.path) else "mode=ro&immutable=1"
            engine = create_engine(f"sqlite:///file:{self.path.resolve()}?{mode}&uri=true",
                                   connect_args={"timeout": BUSY_TIMEOUT_S})
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{self.path}",
                                   connect_args={"timeout": BUSY_TIMEOUT_S})
        _sqlite_events(engine, writer=not self.read_only)
        return engine

    def _connect_url(self) -> Engine:
        url = self.url
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except Exception as exc:  # unknown dialect, missing driver
            raise StoreError(f"{self.where}: cannot use this database URL ({exc})") from exc
        if self.read_only:
            @event.listens_for(engine, "begin")
            def _read_only(conn: Connection) -> None:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        return engine

    def _prepare(self) -> None:
        """Create the schema in a new database, migrate an older one, refuse a newer one."""
        from mer_bench.store import migrations

        version = self.schema_version()
        if version == schema.SCHEMA_VERSION:
            return
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreError(f"{self.where}: results schema version {version} was written by a "
                             f"newer mer-bench (this one reads version {schema.SCHEMA_VERSION}); "
                             "upgrade mer-bench")
        if self.read_only:
            if version is None:
                raise StoreError(f"{self.where}: not a mer-bench results database (no runs table)")
            self.engine = migrations.migrated_copy_in_memory(self.path, version)
            return
        if version is None:
            with self.transaction() as conn:
                schema.metadata.create_all(conn)
                conn.execute(insert(schema.meta).values(key="schema_version",
                                                        value=str(schema.SCHEMA_VERSION)))
            return
        migrations.migrate(self, version)

    def schema_version(self) -> int | None:
        """The stored schema version; None for an empty database."""
        with self.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if "runs" not in tables:
                if tables - {"meta"}:
                    raise StoreError(f"{self.where}: not a mer-bench results database "
                                     f"(tables {', '.join(sorted(tables))})")
                return None
            if "meta" not in tables:
                return 1
            row = conn.execute(select(schema.meta.c.value).where(
                schema.meta.c.key == "schema_version")).first()
            return int(row[0]) if row else 1

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """All-or-nothing: an exception rolls every statement back."""
        with self.engine.begin() as conn:
            yield conn

    def _write(self, work) -> Any:
        """Run `work(conn)` in a write transaction, retrying when another writer holds the lock."""
        if self.read_only:
            raise StoreError(f"{self.where} is open read-only")
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.transaction() as conn:
                    return work(conn)
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == WRITE_ATTEMPTS - 1:
                    raise StoreError(f"{self.where}: could not write ({_reason(exc)})") from exc
                log.info("results database busy, retrying (%d)", attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- writing ------------------------------------------------------------------------------
    def create_run(self, record: RunRecord) -> str:
        """Insert a run row; returns its id."""
        check_run_id(record.run_id)
        self._write(lambda conn: conn.execute(insert(schema.runs).values(**record.to_row())))
        return record.run_id

    def add_fold(self, run_id: str, fold: FoldRecord) -> None:
        """Commit one finished fold and its predictions atomically (and the run's heartbeat)."""
        fold_row, prediction_rows = _fold_rows(run_id, fold)

        def work(conn: Connection) -> None:
            conn.execute(insert(schema.folds).values(**fold_row))
            conn.execute(insert(schema.predictions), prediction_rows)
            conn.execute(update(schema.runs).where(schema.runs.c.run_id == run_id)
                         .values(heartbeat_at=now()))
        self._write(work)

    def set_status(self, run_id: str, status: str, **fields: Any) -> None:
        """Change a run's status (and any other runs-table fields given)."""
        if status not in schema.STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        values = {"status": status, **fields}
        if status in ("finished", "failed", "interrupted", "imported"):
            values.setdefault("finished_at", now())
        if status == "finished":
            values.setdefault("content_hash", self._content_hash(run_id))
        self._write(lambda conn: conn.execute(
            update(schema.runs).where(schema.runs.c.run_id == run_id).values(**values)))

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Update runs-table fields (provenance as a dict, the rest as stored)."""
        if "provenance" in fields:
            fields["provenance_json"] = dumps(fields.pop("provenance"))
        self._write(lambda conn: conn.execute(
            update(schema.runs).where(schema.runs.c.run_id == run_id).values(**fields)))

    def import_run(self, record: RunRecord, folds: Sequence[FoldRecord]) -> str:
        """Store a complete run read from elsewhere (a submission) in one transaction; refuses a
        run id already present and predictions equal to a stored run's."""
        check_run_id(record.run_id)
        rows = [(d, s, n, int(p)) for f in folds
                for d, s, n, p in zip(f.datasets, f.subjects, f.samples, f.preds)]
        digest = content_hash(rows)

        def work(conn: Connection) -> None:
            if conn.execute(select(schema.runs.c.run_id).where(
                    schema.runs.c.run_id == record.run_id)).first():
                raise MerBenchError(f"run {record.run_id} is already in {self.where} (imported "
                                    "twice?); nothing written")
            same = conn.execute(select(schema.runs.c.run_id).where(
                schema.runs.c.content_hash == digest)).first()
            if same:
                raise MerBenchError(f"run {record.run_id} has the same predictions as run "
                                    f"{same[0]} already in {self.where}; nothing written")
            row = {**record.to_row(), "content_hash": digest}
            conn.execute(insert(schema.runs).values(**row))
            for fold in folds:
                fold_row, prediction_rows = _fold_rows(record.run_id, fold)
                conn.execute(insert(schema.folds).values(**fold_row))
                conn.execute(insert(schema.predictions), prediction_rows)
        try:
            self._write(work)
        except IntegrityError as exc:  # a concurrent import of the same file won the race
            raise MerBenchError(f"run {record.run_id} is already in {self.where} (imported "
                                f"concurrently?); nothing written") from exc
        return record.run_id

    def _content_hash(self, run_id: str) -> str:
        p = schema.predictions.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(p.dataset, p.subject, p.sample, p.pred)
                                .where(p.run_id == run_id)).all()
        return content_hash([tuple(r) for r in rows])

    # -- reading ------------------------------------------------------------------------------
    def run(self, run_id: str) -> RunRecord:
        """The run `run_id` (a unique prefix of it is accepted)."""
        r = schema.runs.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.runs).where(
                (r.run_id == run_id) | r.run_id.startswith(run_id, autoescape=True))).mappings().all()
        exact = [row for row in rows if row["run_id"] == run_id]
        rows = exact or rows
        if not rows:
            raise MerBenchError(f"no run '{run_id}' in {self.where}")
        if len(rows) > 1:
            raise MerBenchError(f"run id prefix '{run_id}' is ambiguous in {self.where}: "
                                f"{', '.join(sorted(row['run_id'] for row in rows)[:5])}")
        return RunRecord.from_row(dict(rows[0]))

    def runs(self, protocol: str | None = None) -> list[RunRecord]:
        query = select(schema.runs).order_by(schema.runs.c.started_at, schema.runs.c.run_id)
        if protocol:
            query = query.where(schema.runs.c.protocol == protocol)
        with self.engine.connect() as conn:
            return [RunRecord.from_row(dict(row)) for row in conn.execute(query).mappings()]

    def fold_counts(self) -> dict[str, int]:
        """Finished folds per run id (one query for a whole listing)."""
        f = schema.folds.c
        with self.engine.connect() as conn:
            return {run_id: n for run_id, n in conn.execute(
                select(f.run_id, func.count()).group_by(f.run_id))}

    def finished_folds(self, run_id: str) -> set[int]:
        f = schema.folds.c
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(select(f.fold_index).where(f.run_id == run_id))}

    def folds(self, run_id: str) -> pd.DataFrame:
        """The folds table of a run, with `n_test` counted from its predictions."""
        f, p = schema.folds.c, schema.predictions.c
        counts = (select(p.fold_index, func.count().label("n_test")).where(p.run_id == run_id)
                  .group_by(p.fold_index).subquery())
        query = (select(schema.folds, counts.c.n_test)
                 .join(counts, counts.c.fold_index == f.fold_index, isouter=True)
                 .where(f.run_id == run_id).order_by(f.fold_index))
        with self.engine.connect() as conn:
            table = pd.DataFrame(conn.execute(query).mappings().all(),
                                 columns=[c.name for c in schema.folds.columns] + ["n_test"])
        table["n_test"] = table["n_test"].fillna(0).astype(int)
        table["selection"] = table.pop("selection_json").map(
            lambda v: json.loads(v) if isinstance(v, str) else None)
        return table

    def predictions(self, run_id: str) -> pd.DataFrame:
        """Per-sample predictions with class probabilities (column `probs`, a list per row)."""
        p = schema.predictions.c
        query = (select(schema.predictions).where(p.run_id == run_id)
                 .order_by(p.fold_index, p.dataset, p.subject, p.sample))
        with self.engine.connect() as conn:
            table = pd.DataFrame(conn.execute(query).mappings().all(),
                                 columns=[c.name for c in schema.predictions.columns])
        table["probs"] = table.pop("probs_json").map(json.loads)
        return table

    def fold_records(self, run_id: str) -> list[FoldRecord]:
        """Every stored fold of a run as records, predictions included (for export)."""
        folds = self.folds(run_id)
        predictions = self.predictions(run_id)
        out = []
        for row in folds.itertuples(index=False):
            part = predictions[predictions["fold_index"] == row.fold_index]
            out.append(FoldRecord(
                fold_index=int(row.fold_index), fold_key=row.fold_key, seed=int(row.seed),
                n_train=int(row.n_train), epochs_trained=int(row.epochs_trained),
                selected_epoch=None if pd.isna(row.selected_epoch) else int(row.selected_epoch),
                seconds=float(row.seconds), datasets=part["dataset"].tolist(),
                subjects=part["subject"].tolist(), samples=part["sample"].tolist(),
                labels=part["label"].to_numpy(), probs=np.array(part["probs"].tolist()),
                selection=row.selection, finished_at=row.finished_at, artifact=row.artifact,
                preds_declared=part["pred"].to_numpy()))
        return out


def _fold_rows(run_id: str, fold: FoldRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fold_row = {"run_id": run_id, "fold_index": fold.fold_index, "fold_key": fold.fold_key,
                "seed": fold.seed, "n_train": fold.n_train, "epochs_trained": fold.epochs_trained,
                "selected_epoch": fold.selected_epoch,
                "selection_json": None if fold.selection is None else dumps(fold.selection),
                "seconds": float(fold.seconds), "finished_at": fold.finished_at,
                "artifact": fold.artifact}
    preds = fold.preds
    probs = np.asarray(fold.probs, dtype=np.float64)
    prediction_rows = [
        {"run_id": run_id, "fold_index": fold.fold_index, "dataset": d, "subject": s,
         "sample": n, "label": int(y), "pred": int(p), "probs_json": json.dumps(pr.tolist())}
        for d, s, n, y, p, pr in zip(fold.datasets, fold.subjects, fold.samples, fold.labels,
                                     preds, probs)]
    return fold_row, prediction_rows


def _sqlite_events(engine: Engine, writer: bool) -> None:
    """SQLite the way several writers need it: write-ahead log, a busy timeout, foreign keys,
    and write transactions that take the write lock when they begin (BEGIN IMMEDIATE), so two
    writers queue instead of failing on a read-to-write lock upgrade."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions begin where we say, below
        dbapi_conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        dbapi_conn.execute("PRAGMA foreign_keys = ON")
        if writer:
            dbapi_conn.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _opens_read_only(path: Path) -> bool:
    """Whether SQLite opens `path` read-only as it is. A database in write-ahead-log mode whose
    folder (or file) this user cannot write does not open (SQLite cannot create its shared-memory
    file); such a file can only be read as immutable: nobody can be writing it."""
    try:
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "unable to open" in str(exc):
            log.debug("%s: read-only folder or file, read as immutable", path)
            return False
    except sqlite3.DatabaseError:
        pass  # not a database: the real open reports it
    return True


def memory_engine() -> Engine:
    """An in-memory SQLite database shared by every connection of the engine."""
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    _sqlite_events(engine, writer=False)
    return engine


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).splitlines()[0]
