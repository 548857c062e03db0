"""A copy of a collection's exact face index on disk, so that a new process loads it in one read.

Filling an exact index from the faces table costs a row object per face (~1 s per 300,000 faces
here); the file holds the same labels and vectors as two contiguous arrays, read straight into
the index's matrix. It is only a cache of the table: written from a loaded index at its
change-log position, and used by a later process only when that position can still be caught
up from the change log, the file belongs to this database (a fingerprint of the store's
secret), and after catching up the index holds exactly the collection's face count. Anything
else and the table is read as before (and the file rewritten).

Layout: one JSON header line, then labels (int64) and vectors (float32, row-major).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from pathlib import Path

import numpy as np

from ..vectors import GROWTH, VectorIndex
from .changes import catch_up, pruned_through
from .rows import face_count

log = logging.getLogger("rekog_compat")

VECTORS_DIRNAME = "vectors"  # beside the database
MIN_FACES = 10_000  # smaller collections load from the table quickly enough
REWRITE_AFTER_S = 900  # a file older than this is rewritten when the index has changed since


def fingerprint(conn: sqlite3.Connection) -> str:
    """Which database a file was written from (the store's secret, hashed)."""
    secret = conn.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()[0]
    return hashlib.sha256(b"vector-file|" + bytes(secret)).hexdigest()[:32]


class VectorFiles:
    """The exact-index files of a store's collections, under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, seq: int) -> Path:
        return self.directory / f"faces-{seq}.vectors"

    def delete(self, seq: int) -> None:
        self.path(seq).unlink(missing_ok=True)

    def read(self, conn: sqlite3.Connection, seq: int) -> VectorIndex | None:
        """Within a read snapshot: the collection's exact index from its file, brought up to date
        with the change log, or None (no usable file)."""
        path = self.path(seq)
        if not path.exists():
            return None
        started = time.monotonic()
        try:
            with open(path, "rb") as file:
                header = json.loads(file.readline())
                if header["fingerprint"] != fingerprint(conn) or header["collection"] != seq:
                    return None
                if int(header["change_seq"]) < pruned_through(conn):
                    return None
                count, dimensions = int(header["count"]), int(header["dimensions"])
                labels = np.fromfile(file, dtype=np.int64, count=count)
                vectors = np.fromfile(file, dtype=np.float32, count=count * dimensions)
                if len(labels) != count or len(vectors) != count * dimensions:
                    raise ValueError("cut short")
            index = VectorIndex(dimensions)
            index.reserve(max(int(count * GROWTH), 64), dimensions)
            index.add(labels, vectors.reshape(count, dimensions))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("vector file of collection %d not used: %s", seq, exc)
            return None
        index.applied_seq, index.loaded = int(header["change_seq"]), True
        catch_up(conn, index, seq, "face")
        if len(index) != face_count(conn, seq):
            log.warning("vector file of collection %d does not hold its faces: read from the table", seq)
            return None
        index.written_seq, index.written_at = int(header["change_seq"]), path.stat().st_mtime
        log.info("collection %d: %d faces read from its vector file in %.2f s", seq, len(index),
                 time.monotonic() - started)
        return index

    def wanted(self, index: VectorIndex) -> bool:
        """Whether the index should be (re)written: large, and never written or changed since
        its file was written more than REWRITE_AFTER_S ago."""
        if len(index) < MIN_FACES:
            return False
        return not index.written_at or (
            index.applied_seq > index.written_seq and time.time() - index.written_at > REWRITE_AFTER_S
        )

    def write(self, conn: sqlite3.Connection, seq: int, index: VectorIndex) -> None:
        """Write the index as it is at its current change-log position (its entries are copied under
        its lock; the file is written outside it, while searches and catch-ups go on)."""
        with index.lock:
            labels, vectors = index.entries()
            change_seq = index.applied_seq
        header = {
            "collection": seq,
            "change_seq": change_seq,
            "count": len(labels),
            "dimensions": int(vectors.shape[1]),
            "fingerprint": fingerprint(conn),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(seq)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as file:
            file.write(json.dumps(header).encode() + b"\n")
            file.write(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
            file.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        partial.replace(path)
        index.written_seq, index.written_at = change_seq, time.time()
