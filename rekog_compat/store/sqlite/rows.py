"""Reads of the SQLite tables that several parts of the store make: a collection's or user's row
number, a collection's face count, a user's embeddings, and every face of a collection loaded
into an exact index (by the index cache, and by the approximate-index builder to train on).
"""

from __future__ import annotations

import ctypes
import sqlite3
from collections.abc import Iterator
from contextlib import suppress

import numpy as np

from ..base import CollectionMissing, Scope, UserMissing
from ..vectors import VectorIndex

LOAD_BATCH = 16_384  # rows read at a time when an index is filled from disk (bounds the transient memory)


def vector(blob: bytes) -> np.ndarray:
    """An embedding column as float32."""
    return np.frombuffer(blob, dtype=np.float32)


def collection_seq(conn: sqlite3.Connection, scope: Scope, collection_id: str) -> int:
    """The collection's row number; raises CollectionMissing."""
    row = conn.execute(
        "SELECT seq FROM collections WHERE account = ? AND region = ? AND collection_id = ?",
        (scope.account, scope.region, collection_id),
    ).fetchone()
    if row is None:
        raise CollectionMissing(collection_id)
    return int(row["seq"])


def user_seq(conn: sqlite3.Connection, seq: int, user_id: str) -> int:
    """The user's row number in collection `seq`; raises UserMissing."""
    row = conn.execute("SELECT seq FROM users WHERE collection_seq = ? AND user_id = ?", (seq, user_id)).fetchone()
    if row is None:
        raise UserMissing(user_id)
    return int(row["seq"])


def face_count(conn: sqlite3.Connection, seq: int) -> int:
    """The collection's face count (0 once it is deleted)."""
    row = conn.execute("SELECT face_count FROM collections WHERE seq = ?", (seq,)).fetchone()
    return int(row[0]) if row else 0


def user_faces(conn: sqlite3.Connection, seq: int, user_id: str) -> list[np.ndarray]:
    """The embeddings of the user's faces, in the order they were indexed."""
    rows = conn.execute(
        "SELECT embedding FROM faces WHERE collection_seq = ? AND user_id = ? ORDER BY seq", (seq, user_id)
    ).fetchall()
    return [vector(r["embedding"]) for r in rows]


def face_batches(
    conn: sqlite3.Connection, seq: int, batch: int = LOAD_BATCH
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(labels, vectors) of every face of the collection, `batch` rows at a time, in label order."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: no Row object per face
    cursor.execute("SELECT seq, embedding FROM faces WHERE collection_seq = ? ORDER BY seq", (seq,))
    while rows := cursor.fetchmany(batch):
        labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        yield labels, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)


def read_faces(conn: sqlite3.Connection, seq: int) -> VectorIndex:
    """Every face of the collection, in an exact index allocated once."""
    index = VectorIndex()
    count = face_count(conn, seq)
    for labels, vectors in face_batches(conn, seq):
        index.reserve(count, vectors.shape[1])
        index.add(labels, vectors)
    return index


def return_freed_memory() -> None:
    """Hand the heap memory freed after a large load back to the system (glibc keeps it otherwise:
    ~20 MB of row buffers per 300,000 faces); a no-op where the C library is not glibc."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
