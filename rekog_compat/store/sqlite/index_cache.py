"""The SQLite store's in-memory search indexes, kept in step with the change log.

A collection's face index and user index are filled from the file on first use and, before each
search, brought up to date with the change log (changes.py): writes from any process sharing the
file are seen by the next search. Indexes answer labels (faces.seq, users.seq), which the store
reads back into rows. A face index is exact (vectors.py) until the collection is large enough
for an approximate one (ann_builder.py), which this cache then swaps in. Bringing an index up to
date takes its lock; the search itself takes none (indexes are searched by many threads at once).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import numpy as np

from ..ann import IvfIndex
from ..rules import mean_direction
from ..vectors import SearchIndex, VectorIndex
from .ann_builder import AnnBuilder, AnnSettings
from .changes import catch_up, last_change, pruned_through
from .database import Database, snapshot
from .rows import LOAD_BATCH, read_faces, return_freed_memory, vector
from .vector_file import VectorFiles

log = logging.getLogger("rekog_compat")


class IndexCache:
    """Collection seq -> its face and user indexes in this process (filled on first use)."""

    def __init__(self, database: Database, ann_dir: Path, vectors_dir: Path, settings: AnnSettings) -> None:
        self._faces: dict[int, SearchIndex] = {}
        self._users: dict[int, SearchIndex] = {}
        self._lock = threading.Lock()
        self._connect = database.connect
        self.ann = AnnBuilder(ann_dir, settings, database.connect, self._install)
        self.vector_files = VectorFiles(vectors_dir)
        self._writing: set[int] = set()  # collections whose vector file is being written

    def search(
        self,
        conn: sqlite3.Connection,
        seq: int,
        kind: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude: int | None,
    ) -> list[tuple[int, float]]:
        """(label, distance) hits of a search of the collection's face ("face") or user ("user") index."""
        return self._synced(conn, seq, kind).search(probe, limit, max_distance, exclude)

    def face_index(self, seq: int) -> SearchIndex | None:
        """The index this process searches the collection's faces with now (None before the first search)."""
        with self._lock:
            return self._faces.get(seq)

    def forget(self, seq: int) -> None:
        """Drop a deleted collection's indexes, and its persisted approximate index."""
        with self._lock:
            self._faces.pop(seq, None)
            self._users.pop(seq, None)
        self.ann.delete(seq)
        self.vector_files.delete(seq)

    def _synced(self, conn: sqlite3.Connection, seq: int, kind: str) -> SearchIndex:
        """The collection's face or user index, up to date with the change log."""
        cache = self._faces if kind == "face" else self._users
        while True:
            with self._lock:
                index = cache.setdefault(seq, VectorIndex())
            with index.lock:
                with self._lock:
                    if cache.get(seq) is not index:
                        continue  # replaced (reloaded, or approximate now) while this thread waited
                with snapshot(conn):  # one snapshot for the change log and the rows it names
                    if not index.loaded or index.applied_seq < pruned_through(conn):
                        index = self._reload(conn, seq, kind)
                        with self._lock:
                            cache[seq] = index
                    else:
                        catch_up(conn, index, seq, kind)
            break
        if kind == "face":
            self.ann.maybe_build(seq, index)
            if isinstance(index, VectorIndex) and self.vector_files.wanted(index):
                self._write_vectors(seq, index)
        return index

    def _write_vectors(self, seq: int, index: VectorIndex) -> None:
        """In the background: write the exact index's vector file (the next process loads it in one read)."""
        with self._lock:
            if seq in self._writing:
                return
            self._writing.add(seq)

        def run() -> None:
            conn = self._connect()
            try:
                self.vector_files.write(conn, seq, index)
            except Exception:  # the file is a cache: the next process reads the table instead
                log.exception("vector file of collection %d not written", seq)
            finally:
                conn.close()
                with self._lock:
                    self._writing.discard(seq)

        threading.Thread(target=run, name=f"vectors-{seq}", daemon=True).start()

    def _reload(self, conn: sqlite3.Connection, seq: int, kind: str) -> SearchIndex:
        """A fresh index of the collection as of the current snapshot: its persisted approximate
        index brought up to date if there is a usable one, else exact, read from the table (or, for
        a collection too large to hold exact, a new approximate index built from it now)."""
        if kind == "face":
            if (ann := self.ann.read(conn, seq)) is not None or (ann := self.ann.build_if_too_large(conn, seq)):
                return ann
            if (copy := self.vector_files.read(conn, seq)) is not None:
                return copy
            index = read_faces(conn, seq)
            if len(index) > LOAD_BATCH:
                return_freed_memory()  # the rows read on the way
        else:
            index = _read_users(conn, seq)
        index.applied_seq, index.loaded = last_change(conn), True
        return index

    def _install(self, conn: sqlite3.Connection, seq: int, index: IvfIndex) -> None:
        """Bring a new approximate index up to date and make it the collection's face index."""
        with self._lock:
            current = self._faces.get(seq)
        if current is None:
            return  # the collection was deleted (or not searched in this process)
        with current.lock:
            with snapshot(conn):
                if index.applied_seq < pruned_through(conn):
                    return  # fell behind the change log while building; the next search rebuilds
                catch_up(conn, index, seq, "face")
            with self._lock:
                if self._faces.get(seq) is not current:
                    return
                self._faces[seq] = index
        log.info("collection %d: faces now searched approximately (%d faces, %d lists)", seq, len(index), index.nlist)


def _read_users(conn: sqlite3.Connection, seq: int) -> VectorIndex:
    """Every user of the collection that holds faces, with its vector (the mean of its faces)."""
    index = VectorIndex()
    rows = conn.execute(
        "SELECT u.seq AS label, f.embedding FROM faces f JOIN users u"
        " ON u.collection_seq = f.collection_seq AND u.user_id = f.user_id"
        " WHERE f.collection_seq = ? AND f.user_id IS NOT NULL ORDER BY u.seq, f.seq",
        (seq,),
    ).fetchall()
    grouped: dict[int, list[np.ndarray]] = {}
    for r in rows:
        grouped.setdefault(int(r["label"]), []).append(vector(r["embedding"]))
    if grouped:
        index.add(
            np.array(list(grouped), dtype=np.int64),
            np.stack([mean_direction(vectors) for vectors in grouped.values()]),
        )
    return index
