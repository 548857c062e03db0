"""The PostgreSQL server as the store reaches it: a pool of connections, the transactions the store
runs on them, and the error (with the URL's password left out) when it cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from ..rules import StoreUnreadable


class StoreUnavailable(StoreUnreadable):
    """The PostgreSQL server cannot be reached or used (the CLI stops with this message)."""


def redact(url: str) -> str:
    """The URL without its password, fit for logs and /health."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Database:
    """A pool of autocommit connections to `url`, each able to send and load vectors."""

    def __init__(self, url: str, *, min_size: int, max_size: int) -> None:
        self._pool: ConnectionPool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=register_vector,
            check=ConnectionPool.check_connection,
            name="rekog-compat",
            open=True,
        )

    @contextmanager
    def write(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection: committed on success, rolled back on any exception."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def read(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit: each statement sees everything committed before it."""
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self._pool.close()
