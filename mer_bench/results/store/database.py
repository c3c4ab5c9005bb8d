"""`Store`: the results database, and the only code that writes it.

Runs, folds, predictions and imports all go through this class, on any backend SQLAlchemy
reaches: a SQLite file by default, or a database server by URL (`postgresql://user@host/db`,
through the psycopg 3 driver). Each method is one transaction; each finished fold is committed on
its own, so a run killed mid-way keeps every finished fold (and nothing of the fold it was
writing) and can be resumed. Many processes may write one store at once: SQLite writers queue on
its write lock (write-ahead log, busy timeout, `BEGIN IMMEDIATE`, retries), server writers only
meet on the rows they share, and the steps that must not interleave (creating or migrating the
schema, an import's duplicate checks) hold a lock for their transaction. Opening an older
database migrates it (see `mer_bench.results.store.migrations`); a read-only open of an older SQLite file
migrates an in-memory copy and leaves the file untouched. A URL's password is never shown:
messages and logs name the store by `redact(location)`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError, OperationalError

from mer_bench.core.errors import MerBenchError
from mer_bench.core.redact import is_url, redact, scrub  # noqa: F401 (is_url: re-exported)
from mer_bench.results.store import schema
from mer_bench.results.store.connection import (
    BUSY_TIMEOUT_S,
    StoreError,
    sqlite_events,
    stored_version,
)
from mer_bench.results.store.records import (
    DamagedRow,
    FoldRecord,
    RunRecord,
    check_run_id,
    content_hash,
    dumps,
    load_json,
    now,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Attempts of a write transaction that hit a lock, a serialization failure or a deadlock.
WRITE_ATTEMPTS = 5
#: Seconds to wait for a database server to answer a new connection.
CONNECT_TIMEOUT_S = 10
#: The driver a `postgresql://` URL gets (SQLAlchemy's default would be psycopg2).
POSTGRES_DRIVER = "postgresql+psycopg"
#: Transaction-scoped advisory locks on a PostgreSQL server (a SQLite writer's BEGIN IMMEDIATE
#: already excludes every other writer): keys are arbitrary but fixed 64-bit numbers.
LOCK_KEYS = {"schema": 0x6D65_7262_0001, "import": 0x6D65_7262_0002}
#: SQLSTATEs of a transaction that may simply be run again (serialization failure, deadlock).
RETRY_SQLSTATES = ("40001", "40P01")


def sqlite_file(location: str | Path) -> Path | None:
    """The file a location names when it is a SQLite file (a path or a `sqlite:///path` URL)."""
    location = str(location)
    if not is_url(location):
        return Path(location).expanduser()
    prefix = "sqlite:///"
    if location.startswith(prefix) and len(location) > len(prefix) and "?" not in location:
        return Path(location[len(prefix) :]).expanduser()
    return None


def server_url(location: str) -> URL:
    """A database URL as SQLAlchemy reads it; `postgresql://` and `postgres://` get psycopg 3."""
    try:
        url = make_url(location)
    except Exception:  # ArgumentError, or ValueError for a bad port
        # The parser's message quotes pieces of the URL (a password cut at a delimiter among
        # them), so it is not shown; the usual cause is.
        raise StoreError(
            f"{redact(location)}: not a database URL (write it as "
            "dialect://user:password@host:port/database, with @ : / ? # % + and "
            "spaces in the password percent-encoded)"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername=POSTGRES_DRIVER)
    return url


def application_name(read_only: bool) -> str:
    """How a server lists this process's connections (pg_stat_activity, its log)."""
    role = "reader" if read_only else "writer"
    return f"mer-bench {role} {socket.gethostname()} pid {os.getpid()}"[:63]


class Store:
    """A results database. Open one per process; every method is one transaction."""

    def __init__(self, location: str | Path, read_only: bool = False, lazy: bool = False) -> None:
        """Open (or create) the database at `location`. `lazy`: a SQLite file that does not
        exist yet is made at the first write, not now (what a command wants: failing before it
        writes anything, it leaves no empty database and no folder behind); until then it reads
        as an empty database."""
        self.read_only = read_only
        self.path = sqlite_file(location)
        self.url = None if self.path else str(location)
        self.where = str(self.path) if self.path else redact(location)
        self._secrets = [] if self.path else [str(location)]
        #: Runs left out of readings because a stored column is damaged: run id -> the reason.
        self.damaged: dict[str, str] = {}
        if self.path is not None:
            _check_name_lengths(self.path)
        self._deferred = lazy and self.path is not None and not read_only and not self.path.exists()
        if self._deferred:
            _check_can_make(self.path)  # a location that can never be written fails now
            self.engine = _empty_database()
            return
        self._open()

    def _open(self) -> None:
        """Connect, then create, migrate or check the schema."""
        self.engine = self._connect()
        try:
            self._prepare_when_free()
        except (DatabaseError, sqlite3.DatabaseError) as exc:
            self.engine.dispose()
            if isinstance(exc, DBAPIError) and _retryable(exc):
                raise StoreError(
                    f"{self.where}: still held by another process after "
                    f"{WRITE_ATTEMPTS} attempts ({self._reason(exc)})"
                ) from None
            raise StoreError(
                f"{self.where}: not a mer-bench results database ({self._reason(exc)})"
            ) from None
        except BaseException:
            self.engine.dispose()
            raise

    def _made(self, writing: bool) -> None:
        """A store whose file was not made yet: opened once the file exists (another process
        may have made it), and made now when `writing`."""
        if not self._deferred or not (writing or self.path.exists()):
            return
        empty, self._deferred = self.engine, False
        empty.dispose()
        self._open()

    def _prepare_when_free(self) -> None:
        """`_prepare`, again when another process held the database. SQLite answers "database is
        locked" at once, without the busy timeout, when a new file switches to write-ahead
        logging while other writers open it (seen with eight runs opening one new file)."""
        self._again_when_busy(self._prepare, "opening")

    def _again_when_busy(self, work: Callable[[], T], doing: str) -> T:
        """`work()`, run again (at most WRITE_ATTEMPTS times in all, with a growing pause) while
        it fails only because another writer held the database; any other error, and the last
        attempt's, is raised as it came."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return work()
            except DBAPIError as exc:
                if (
                    isinstance(exc, IntegrityError)
                    or not _retryable(exc)
                    or attempt == WRITE_ATTEMPTS - 1
                ):
                    raise
                log.debug(
                    "results database busy while %s (%s), retrying (%d)",
                    doing,
                    _sqlstate(exc) or self._reason(exc),
                    attempt + 1,
                )
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    @property
    def backend(self) -> str:
        """The SQLAlchemy dialect name: 'sqlite', 'postgresql', ..."""
        return self.engine.dialect.name

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> Engine:
        if self.url:
            return self._connect_url()
        if self.read_only:
            if not self.path.is_file():
                raise StoreError(f"no results database at {self.path}")
            if _opens_read_only(self.path):
                mode = "mode=ro"
            else:
                _refuse_unread_log(self.path)
                mode = "mode=ro&immutable=1"
            engine = create_engine(
                f"sqlite:///file:{self.path.resolve()}?{mode}&uri=true",
                connect_args={"timeout": BUSY_TIMEOUT_S},
            )
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"{self.path}: cannot make its folder ({exc.strerror or exc})"
                ) from None
            engine = create_engine(
                f"sqlite:///{self.path}", connect_args={"timeout": BUSY_TIMEOUT_S}
            )
        sqlite_events(engine, wal=not self.read_only)
        return engine

    def _connect_url(self) -> Engine:
        url = server_url(self.url)
        options: dict[str, Any] = {"pool_pre_ping": True}
        if url.get_backend_name() == "postgresql":
            if url.get_driver_name() == "psycopg":
                _require_psycopg(self.where)
            options["connect_args"] = {
                "application_name": application_name(self.read_only),
                "connect_timeout": CONNECT_TIMEOUT_S,
            }
        try:
            engine = create_engine(url, **options)
        except Exception as exc:  # an unknown dialect or driver
            raise StoreError(
                f"{self.where}: cannot use this database URL ({self._reason(exc)})"
            ) from None
        if self.read_only and url.get_backend_name() == "postgresql":

            @event.listens_for(engine, "begin")
            def _read_only(conn: Connection) -> None:  # the server refuses any write
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")

        try:
            with engine.connect():
                pass
        except Exception as exc:  # server down, refused, authentication, no such database
            engine.dispose()
            raise StoreError(
                f"cannot connect to the results database {self.where} ({self._reason(exc)})"
            ) from None
        return engine

    def _prepare(self) -> None:
        """Create the schema in a new database, migrate an older one, refuse a newer one."""
        from mer_bench.results.store import migrations

        version = self.schema_version()
        if version == schema.SCHEMA_VERSION:
            return
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.where}: results schema version {version} was written by a "
                f"newer mer-bench (this one reads version {schema.SCHEMA_VERSION}); "
                "upgrade mer-bench"
            )
        if self.read_only:
            if version is None:
                raise StoreError(f"{self.where}: not a mer-bench results database (no runs table)")
            if self.path is None:
                raise StoreError(
                    f"{self.where}: results schema version {version}; a writer "
                    f"(any mer-bench run or import) migrates it to version "
                    f"{schema.SCHEMA_VERSION} when it first opens it"
                )
            file_engine, self.engine = (
                self.engine,
                migrations.migrated_copy_in_memory(self.path, version),
            )
            file_engine.dispose()
            return
        migrations.migrate(self, version)

    def schema_version(self) -> int | None:
        """The stored schema version; None for an empty database."""
        with self.engine.connect() as conn:
            return stored_version(conn, self.where)

    def lock(self, conn: Connection, name: str) -> None:
        """Hold the lock `name` ('schema', 'import') until `conn`'s transaction ends: on a server,
        an advisory lock; a SQLite write transaction already excludes every other writer."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEYS[name]})

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, all-or-nothing: an exception rolls every statement back. On
        SQLite it takes the write lock when it begins (BEGIN IMMEDIATE)."""
        self._made(writing=True)
        with self.engine.connect() as conn:
            conn.execution_options(mer_bench_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection for reading (one transaction); a database error is a one-line error."""
        self._made(writing=False)
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StoreError(f"{self.where}: could not read ({self._reason(exc)})") from None

    def _write(self, work) -> Any:
        """Run `work(conn)` in a write transaction, again when another writer held the lock (or
        a server aborted it as a serialization failure or deadlock). Duplicate keys are left to
        the caller (IntegrityError); any other database error is a one-line StoreError."""
        if self.read_only:
            raise StoreError(f"{self.where} is open read-only")

        def once() -> Any:
            with self.transaction() as conn:
                return work(conn)

        try:
            return self._again_when_busy(once, "writing")
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise StoreError(f"{self.where}: could not write ({self._reason(exc)})") from None

    def _reason(self, exc: BaseException) -> str:
        """The first line of a driver's message, with the URL's password (if any) hidden."""
        return scrub(_reason(exc), self._secrets)

    # -- writing ------------------------------------------------------------------------------
    def create_run(self, record: RunRecord) -> str:
        """Insert a run row; returns its id."""
        check_run_id(record.run_id)
        try:
            self._write(lambda conn: conn.execute(insert(schema.runs).values(**record.to_row())))
        except IntegrityError:
            raise StoreError(f"run {record.run_id} is already in {self.where}") from None
        return record.run_id

    def add_fold(self, run_id: str, fold: FoldRecord) -> None:
        """Commit one finished fold and its predictions atomically (and the run's heartbeat)."""
        fold_row, prediction_rows = _fold_rows(run_id, fold)

        def work(conn: Connection) -> None:
            conn.execute(insert(schema.folds).values(**fold_row))
            if prediction_rows:  # a final model's one fold predicts nothing
                conn.execute(insert(schema.predictions), prediction_rows)
            conn.execute(
                update(schema.runs).where(schema.runs.c.run_id == run_id).values(heartbeat_at=now())
            )

        try:
            self._write(work)
        except IntegrityError:
            raise StoreError(
                f"fold {fold.fold_index} ({fold.fold_key}) of run {run_id} is already "
                f"in {self.where} (is another process running this run?)"
            ) from None

    def set_status(self, run_id: str, status: str, **fields: Any) -> None:
        """Change a run's status (and any other runs-table fields given)."""
        if status not in schema.STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        values = {"status": status, **fields}
        if status in ("finished", "failed", "interrupted", "imported"):
            values.setdefault("finished_at", now())
        if status == "finished":
            values.setdefault("content_hash", self._content_hash(run_id))
        self._write(
            lambda conn: conn.execute(
                update(schema.runs).where(schema.runs.c.run_id == run_id).values(**values)
            )
        )

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Update runs-table fields (provenance as a dict, the rest as stored)."""
        if "provenance" in fields:
            fields["provenance_json"] = dumps(fields.pop("provenance"))
        self._write(
            lambda conn: conn.execute(
                update(schema.runs).where(schema.runs.c.run_id == run_id).values(**fields)
            )
        )

    def import_run(self, record: RunRecord, folds: Sequence[FoldRecord]) -> str:
        """Store a complete run read from elsewhere (a submission) in one transaction; refuses a
        run id already present and predictions equal to a stored run's. Concurrent imports take
        the 'import' lock, so the same submission imported twice at once is stored once."""
        check_run_id(record.run_id)
        rows = [
            (d, s, n, int(p))
            for f in folds
            for d, s, n, p in zip(f.datasets, f.subjects, f.samples, f.preds)
        ]
        digest = content_hash(rows)

        def work(conn: Connection) -> None:
            self.lock(conn, "import")
            if conn.execute(
                select(schema.runs.c.run_id).where(schema.runs.c.run_id == record.run_id)
            ).first():
                raise MerBenchError(
                    f"run {record.run_id} is already in {self.where} (imported "
                    "twice?); nothing written"
                )
            same = conn.execute(
                select(schema.runs.c.run_id).where(schema.runs.c.content_hash == digest)
            ).first() or _same_predictions(conn, record.protocol, digest, len(rows))
            if same:
                raise MerBenchError(
                    f"run {record.run_id} has the same predictions as run "
                    f"{same[0]} already in {self.where}; nothing written"
                )
            row = {**record.to_row(), "content_hash": digest}
            conn.execute(insert(schema.runs).values(**row))
            for fold in folds:
                fold_row, prediction_rows = _fold_rows(record.run_id, fold)
                conn.execute(insert(schema.folds).values(**fold_row))
                conn.execute(insert(schema.predictions), prediction_rows)

        try:
            self._write(work)
        except IntegrityError:  # a concurrent writer of the same run id won the race
            raise MerBenchError(
                f"run {record.run_id} is already in {self.where} (imported "
                f"concurrently?); nothing written"
            ) from None
        return record.run_id

    def _content_hash(self, run_id: str) -> str:
        p = schema.predictions.c
        with self._connection() as conn:
            rows = conn.execute(
                select(p.dataset, p.subject, p.sample, p.pred).where(p.run_id == run_id)
            ).all()
        return content_hash([tuple(r) for r in rows])

    # -- reading ------------------------------------------------------------------------------
    def run(self, run_id: str) -> RunRecord:
        """The run `run_id` (a unique prefix of it is accepted)."""
        r = schema.runs.c
        with self._connection() as conn:
            rows = (
                conn.execute(
                    select(schema.runs).where(
                        (r.run_id == run_id) | r.run_id.startswith(run_id, autoescape=True)
                    )
                )
                .mappings()
                .all()
            )
        exact = [row for row in rows if row["run_id"] == run_id]
        rows = exact or rows
        if not rows:
            raise MerBenchError(f"no run '{run_id}' in {self.where}")
        if len(rows) > 1:
            raise MerBenchError(
                f"run id prefix '{run_id}' is ambiguous in {self.where}: "
                f"{', '.join(sorted(row['run_id'] for row in rows)[:5])}"
            )
        return RunRecord.from_row(dict(rows[0]))

    def runs(self, protocol: str | None = None) -> list[RunRecord]:
        """Every run (of `protocol`), by start time then id (the same order on every backend)."""
        query = select(schema.runs)
        if protocol:
            query = query.where(schema.runs.c.protocol == protocol)
        with self._connection() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        rows.sort(key=lambda row: (row["started_at"], row["run_id"]))
        out = []
        for row in rows:
            try:
                out.append(RunRecord.from_row(row))
            except DamagedRow as exc:  # one damaged row must not hide every other run
                self.leave_out(exc)
        return out

    def leave_out(self, damaged: DamagedRow) -> None:
        """Record a run left out of a reading because of a damaged column, and say so once (a
        warning naming the run: never silently)."""
        if damaged.run_id not in self.damaged:
            self.damaged[damaged.run_id] = str(damaged)
            log.warning("%s: %s; left out", self.where, damaged)

    def fold_counts(self) -> dict[str, int]:
        """Finished folds per run id (one query for a whole listing)."""
        f = schema.folds.c
        with self._connection() as conn:
            return {
                run_id: n
                for run_id, n in conn.execute(select(f.run_id, func.count()).group_by(f.run_id))
            }

    def finished_folds(self, run_id: str) -> set[int]:
        f = schema.folds.c
        with self._connection() as conn:
            return {row[0] for row in conn.execute(select(f.fold_index).where(f.run_id == run_id))}

    def change_key(self) -> tuple:
        """A value that changes whenever a run, a fold or a status is written (one short read
        transaction): a readers' cache key that works on a server as on a file."""
        r = schema.runs.c
        with self._connection() as conn:
            runs = conn.execute(
                select(
                    func.count(),
                    func.max(r.started_at),
                    func.max(r.finished_at),
                    func.max(r.heartbeat_at),
                )
            ).one()
            statuses = conn.execute(select(r.status, func.count()).group_by(r.status)).all()
            folds = conn.execute(select(func.count()).select_from(schema.folds)).scalar_one()
        return (*runs, *sorted(tuple(s) for s in statuses), folds)

    def folds(self, run_id: str) -> pd.DataFrame:
        """The folds table of a run, with `n_test` counted from its predictions."""
        f, p = schema.folds.c, schema.predictions.c
        counts = (
            select(p.fold_index, func.count().label("n_test"))
            .where(p.run_id == run_id)
            .group_by(p.fold_index)
            .subquery()
        )
        query = (
            select(schema.folds, counts.c.n_test)
            .join(counts, counts.c.fold_index == f.fold_index, isouter=True)
            .where(f.run_id == run_id)
            .order_by(f.fold_index)
        )
        with self._connection() as conn:
            table = pd.DataFrame(
                conn.execute(query).mappings().all(),
                columns=[c.name for c in schema.folds.columns] + ["n_test"],
            )
        table["n_test"] = table["n_test"].fillna(0).astype(int)
        table["selection"] = table.pop("selection_json").map(
            lambda v: load_json(v, run_id, "folds.selection_json") if isinstance(v, str) else None
        )
        return table

    def predictions(self, run_id: str) -> pd.DataFrame:
        """Per-sample predictions with class probabilities (column `probs`, a list per row), by
        fold then sample (sorted here, so the order does not depend on a server's collation)."""
        p = schema.predictions.c
        with self._connection() as conn:
            table = pd.DataFrame(
                conn.execute(select(schema.predictions).where(p.run_id == run_id)).mappings().all(),
                columns=[c.name for c in schema.predictions.columns],
            )
        table = table.sort_values(
            ["fold_index", "dataset", "subject", "sample"], kind="stable", ignore_index=True
        )
        table["probs"] = table.pop("probs_json").map(
            lambda v: load_json(v, run_id, "predictions.probs_json", list)
        )
        return table

    def fold_records(self, run_id: str) -> list[FoldRecord]:
        """Every stored fold of a run as records, predictions included (for export)."""
        folds = self.folds(run_id)
        predictions = self.predictions(run_id)
        out = []
        for row in folds.itertuples(index=False):
            part = predictions[predictions["fold_index"] == row.fold_index]
            out.append(
                FoldRecord(
                    fold_index=int(row.fold_index),
                    fold_key=row.fold_key,
                    seed=int(row.seed),
                    n_train=int(row.n_train),
                    epochs_trained=int(row.epochs_trained),
                    selected_epoch=None if pd.isna(row.selected_epoch) else int(row.selected_epoch),
                    seconds=float(row.seconds),
                    datasets=part["dataset"].tolist(),
                    subjects=part["subject"].tolist(),
                    samples=part["sample"].tolist(),
                    labels=part["label"].to_numpy(),
                    probs=np.array(part["probs"].tolist())
                    if len(part)
                    else np.zeros((0, len(self.run(run_id).classes))),  # a final model's fold
                    selection=row.selection,
                    finished_at=row.finished_at,
                    artifact=row.artifact,
                    preds_declared=part["pred"].to_numpy(),
                )
            )
        return out


def _same_predictions(conn: Connection, protocol: str, digest: str, n: int) -> tuple[str] | None:
    """A stored run of `protocol` with `n` predictions whose canonical content hash is `digest`,
    recomputed from its rows: a run stored before hashes were taken on canonical sample keys
    (SAMM '10' beside '010') keeps its old hash, and a respelled copy must still collide."""
    p = schema.predictions.c
    counts = select(p.run_id).group_by(p.run_id).having(func.count() == n).subquery()
    candidates = conn.execute(
        select(schema.runs.c.run_id).where(
            schema.runs.c.protocol == protocol, schema.runs.c.run_id.in_(select(counts.c.run_id))
        )
    ).all()
    for (run_id,) in candidates:
        rows = conn.execute(
            select(p.dataset, p.subject, p.sample, p.pred).where(p.run_id == run_id)
        ).all()
        if content_hash([tuple(r) for r in rows]) == digest:
            return (run_id,)
    return None


def _fold_rows(run_id: str, fold: FoldRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fold_row = {
        "run_id": run_id,
        "fold_index": fold.fold_index,
        "fold_key": fold.fold_key,
        "seed": fold.seed,
        "n_train": fold.n_train,
        "epochs_trained": fold.epochs_trained,
        "selected_epoch": fold.selected_epoch,
        "selection_json": None if fold.selection is None else dumps(fold.selection),
        "seconds": float(fold.seconds),
        "finished_at": fold.finished_at,
        "artifact": fold.artifact,
    }
    preds = fold.preds
    probs = np.asarray(fold.probs, dtype=np.float64)
    prediction_rows = [
        {
            "run_id": run_id,
            "fold_index": fold.fold_index,
            "dataset": d,
            "subject": s,
            "sample": n,
            "label": int(y),
            "pred": int(p),
            "probs_json": json.dumps(pr.tolist()),
        }
        for d, s, n, y, p, pr in zip(
            fold.datasets, fold.subjects, fold.samples, fold.labels, preds, probs
        )
    ]
    return fold_row, prediction_rows


def _check_name_lengths(path: Path) -> None:
    """StoreError (naming the start of the path) when a name in it, or the whole of it, is too
    long for the system."""
    try:
        name_max = os.pathconf(path.anchor or "/", "PC_NAME_MAX")
        path_max = os.pathconf(path.anchor or "/", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        name_max, path_max = 255, 4096
    long = next((part for part in path.parts if len(part.encode()) > name_max), None)
    if long is not None or len(str(path).encode()) >= path_max:
        size, limit = (
            (len(long.encode()), name_max) if long else (len(str(path).encode()), path_max)
        )
        raise StoreError(
            f"{str(path)[:60]}...: {'a name in ' if long else ''}the path is "
            f"{size} bytes long, over the system's {limit}"
        )


def _check_can_make(path: Path) -> None:
    """StoreError when a database file can never be made at `path`: a file where a folder must
    be, a folder this user cannot write."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise StoreError(f"{path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: cannot write in {folder}")


def _empty_database() -> Engine:
    """An in-memory database with the current schema: what a store reads before its file is
    made."""
    from mer_bench.results.store.connection import create_schema, memory_engine

    engine = memory_engine()
    with engine.begin() as conn:
        create_schema(conn)
    return engine


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


def _refuse_unread_log(path: Path) -> None:
    """A database read as immutable is read without its write-ahead log: refuse it while the log
    beside it holds writes (committed runs would be silently missing)."""
    log_file = path.with_name(f"{path.name}-wal")
    try:
        size = log_file.stat().st_size
    except OSError:
        return
    if size > 0:
        raise StoreError(
            f"{path}: its latest writes are still in {log_file.name} ({size} "
            "bytes), which SQLite cannot read in a folder it may not write; reading "
            "without them would leave runs out. Copy both files to a folder you can "
            "write and give that copy to --store"
        )


def _require_psycopg(where: str) -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            f"{where}: a PostgreSQL store needs the psycopg 3 driver: pip install "
            "'mer-bench[postgres]' (or pip install '.[postgres]' in a checkout)"
        ) from None


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _retryable(exc: DBAPIError) -> bool:
    """A transaction that failed only because of another writer, and may run again as it was."""
    if _sqlstate(exc) in RETRY_SQLSTATES:
        return True
    message = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, OperationalError) and ("locked" in message or "busy" in message)


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0].strip() if lines else type(original).__name__
