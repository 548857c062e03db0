"""The SQLite file and its connections: one per thread, WAL, and the transactions the store runs.

Many threads and several processes share the file. A write takes the write lock up front
(`BEGIN IMMEDIATE`: no deadlock upgrading a read), a snapshot (`BEGIN ... COMMIT`) keeps several
reads consistent with each other; outside them every statement commits on its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..rules import StoreUnreadable
from .schema import migrate


class Database:
    """The store's file: opened (and migrated) on construction, a connection per thread until `close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        try:
            with self.write() as conn:
                migrate(conn, str(path))
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreUnreadable(
                f"{path} cannot be read as a rekog-compat store ({exc}); nothing was changed. "
                "Restore it from a backup or point --data-dir elsewhere."
            ) from exc

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made on first use; closed by `close`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def connect(self) -> sqlite3.Connection:
        """A new connection, the caller's to close (a background thread's own)."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (no upgrade deadlocks)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: the statements within see one state of the file (the change log and the rows it names)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")
