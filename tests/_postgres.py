"""A throwaway PostgreSQL server for the tests, and the `store_location` fixture that runs a test
on both backends (a SQLite file and a fresh PostgreSQL database).

The server is a cluster in a temporary folder (`initdb`, `pg_ctl`), on 127.0.0.1 only, with
password authentication (scram-sha-256) and the roles docs/team.md describes: `mer_writer`
(owns each test database: runs, imports) and `mer_board` (reads only). It starts once per session,
on first use, and is stopped and deleted at the end. As root (CI runs as root) it runs as the
`postgres` user, else `nobody`: initdb refuses root. Without server binaries the tests that need
it skip with the reason, except under CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ADMIN, ADMIN_PASSWORD = "mer_admin", "admin-Pw-7c1e"
#: The writer's password: tests grep stored rows and output for it (it must never appear).
WRITER, WRITER_PASSWORD = "mer_writer", "wr1ter-S3cret-9f2b"
BOARD, BOARD_PASSWORD = "mer_board", "b0ard-S3cret-4d7a"
#: How this fixture's own connections appear in the server's log.
FIXTURE_APPLICATION = "mer-bench test fixture"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def server_binaries() -> tuple[Path, Path] | None:
    """initdb and pg_ctl: on PATH, else the newest Debian/Ubuntu install."""
    found = [shutil.which("initdb"), shutil.which("pg_ctl")]
    if all(found):
        return Path(found[0]), Path(found[1])
    for folder in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda f: int(Path(f).parent.name) if Path(f).parent.name.isdigit() else 0,
        reverse=True,
    ):
        initdb, pg_ctl = Path(folder) / "initdb", Path(folder) / "pg_ctl"
        if initdb.is_file() and pg_ctl.is_file():
            return initdb, pg_ctl
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PostgresServer:
    """A running throwaway cluster."""

    folder: Path
    pg_ctl: Path
    port: int
    user: pwd.struct_passwd | None

    host = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str, role: str = WRITER, password: str | None = WRITER_PASSWORD) -> str:
        auth = f"{role}:{password}" if password else role
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def admin(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            self.url(database, ADMIN, ADMIN_PASSWORD),
            autocommit=True,
            application_name=FIXTURE_APPLICATION,
        )

    def create_database(self) -> str:
        """A new, empty database owned by the writer, readable by the board role; its name."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {WRITER}')
        with psycopg.connect(
            self.url(name),
            autocommit=True,  # as the owner, docs/team.md
            application_name=FIXTURE_APPLICATION,
        ) as conn:
            conn.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {BOARD}"
            )
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _as_user(self, command: list[str], **kw) -> subprocess.CompletedProcess:
        ids = (
            {}
            if self.user is None
            else {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        )
        return subprocess.run(
            [str(c) for c in command],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
            **ids,
            **kw,
        )

    def start(self, initdb: Path) -> None:
        password_file = self.folder / "admin-password"
        password_file.write_text(ADMIN_PASSWORD + "\n")
        if self.user is not None:
            for path in (self.folder, password_file):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        out = self._as_user(
            [
                initdb,
                "-D",
                self.data,
                "-U",
                ADMIN,
                "--pwfile",
                password_file,
                "--auth",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        if out.returncode:
            raise RuntimeError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"""
listen_addresses = '{self.host}'
port = {self.port}
unix_socket_directories = ''
max_connections = 80
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_connections = on
log_line_prefix = '%m [%p] '
""")
        out = self._as_user(
            [self.pg_ctl, "-D", self.data, "-l", self.log_path, "-w", "-t", "60", "start"]
        )
        if out.returncode:
            log = self.log_path.read_text() if self.log_path.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {out.stderr.strip()} {log[-500:]}")
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {WRITER} LOGIN PASSWORD '{WRITER_PASSWORD}'")
            conn.execute(f"CREATE ROLE {BOARD} LOGIN PASSWORD '{BOARD_PASSWORD}'")
            conn.execute(f"ALTER ROLE {BOARD} SET default_transaction_read_only = on")

    def stop(self) -> None:
        self._as_user([self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop"])


def start_server() -> PostgresServer:
    binaries = server_binaries()
    if binaries is None:
        raise FileNotFoundError(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
            "/usr/lib/postgresql/*/bin: apt-get install postgresql"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise FileNotFoundError("psycopg 3 is not installed: pip install '.[postgres]'") from None
    initdb, pg_ctl = binaries
    folder = Path(tempfile.mkdtemp(prefix="mer-bench-pg-"))
    last: Exception | None = None
    for _ in range(3):  # the free port may be taken between choosing and binding
        server = PostgresServer(folder, pg_ctl, _free_port(), _unprivileged_user())
        try:
            server.start(initdb)
            return server
        except RuntimeError as exc:
            last = exc
            server.stop()
            shutil.rmtree(server.data, ignore_errors=True)
            time.sleep(0.5)
    shutil.rmtree(folder, ignore_errors=True)
    raise RuntimeError(f"could not start a throwaway PostgreSQL server: {last}")


def server_or_skip() -> PostgresServer:
    """A started server; without server binaries a skip with the reason, or under CI a failure."""
    try:
        return start_server()
    except FileNotFoundError as exc:
        if in_ci():
            pytest.fail(f"CI is set but {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server():
    """The session's throwaway PostgreSQL server (skips without one, fails under CI)."""
    server = server_or_skip()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture()
def postgres_database(postgres_server) -> str:
    """A fresh database on the server, dropped after the test; its name."""
    name = postgres_server.create_database()
    yield name
    postgres_server.drop_database(name)


@pytest.fixture()
def postgres_url(postgres_server, postgres_database) -> str:
    """The writer's URL of a fresh database (with its password)."""
    return postgres_server.url(postgres_database)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path) -> str:
    """Where a test's results database lives: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "results.sqlite")
    return request.getfixturevalue("postgres_url")
