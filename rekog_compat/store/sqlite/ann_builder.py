"""The approximate (faiss IVF, ann.py) face index of a large SQLite collection: when to build it,
building it in the background, writing it beside the database, and reading it back.

A collection's face index is exact until it holds `AnnSettings.min_faces` faces; then an IVF
index is trained on a snapshot of the table in a background thread, written under ANN_DIRNAME
with the change-log position it reflects, and handed to the index cache, which brings it up to
date and swaps it in. It is retrained once the collection has doubled. One process builds a
collection's index at a time (a file lock); a later process reads the file back, and the writes
made since from the change log, instead of rebuilding (docs/scaling.md).
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ann import IvfIndex
from ..vectors import SearchIndex, VectorIndex
from .changes import catch_up, last_change, pruned_through
from .database import snapshot
from .rows import face_count, read_faces

log = logging.getLogger("rekog_compat")

ANN_DIRNAME = "ann"  # persisted approximate indexes, beside the database


@dataclass(frozen=True)
class AnnSettings:
    """When a collection's face search switches from exact to approximate (faiss IVF, ann.py).

    Exact search stays the default while it is fast: ~16 ms at 1M 128-d faces on 2 cores, past
    the engine's ~80 ms per probe image only at several million (docs/scaling.md)."""

    min_faces: int = 1_000_000  # 0: never approximate
    nprobe: int = 384  # clusters searched per probe (recall@1 0.99 at 5M faces in 8 ms: docs/scaling.md)


Install = Callable[[sqlite3.Connection, int, IvfIndex], None]


class AnnBuilder:
    """Builds, persists and reads back collections' IVF indexes; `install` swaps a new one in."""

    def __init__(
        self, ann_dir: Path, settings: AnnSettings, connect: Callable[[], sqlite3.Connection], install: Install
    ) -> None:
        self.ann_dir = ann_dir
        self.settings = settings
        self._connect = connect
        self._install = install
        self._building: set[int] = set()  # collections whose approximate index is being built
        self._building_lock = threading.Lock()

    def files(self, seq: int) -> tuple[Path, Path]:
        """(faiss index, its JSON description) of a collection's persisted approximate index."""
        return self.ann_dir / f"faces-{seq}.faiss", self.ann_dir / f"faces-{seq}.json"

    def delete(self, seq: int) -> None:
        """Remove a deleted collection's persisted index."""
        for path in self.files(seq):
            path.unlink(missing_ok=True)

    def maybe_build(self, seq: int, index: SearchIndex) -> None:
        """Start building the collection's approximate index in the background when its exact index has
        reached `min_faces`, or retraining it when it has doubled since it was trained."""
        minimum = self.settings.min_faces
        if minimum <= 0 or len(index) < minimum:
            return
        if isinstance(index, IvfIndex) and len(index) < 2 * index.trained_on:
            return
        with self._building_lock:
            if seq in self._building:
                return
            self._building.add(seq)
        threading.Thread(target=self._build, args=(seq,), name=f"ann-build-{seq}", daemon=True).start()

    def build_now(self, seq: int, count: int) -> None:
        """In this thread: build the index of a collection of `count` faces past the size (a bulk load's end)."""
        if self.settings.min_faces <= 0 or count < self.settings.min_faces:
            return
        with self._building_lock:
            self._building.add(seq)
        self._build(seq)

    def _build(self, seq: int) -> None:
        """Train, fill and persist an IVF index from a snapshot of the collection, then swap it in.
        One process builds at a time (a file lock); one that waited reads the index just written."""
        conn = self._connect()
        try:
            self.ann_dir.mkdir(parents=True, exist_ok=True)
            with open(self.ann_dir / f"faces-{seq}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                with snapshot(conn):  # held while reading only, not while training
                    index = self.read(conn, seq, fresh_only=True)
                    change_seq = last_change(conn)
                    faces = read_faces(conn, seq) if index is None else None
                if index is None:
                    index = self._train(seq, change_seq, faces)
            if index is not None:
                self._install(conn, seq, index)
        except Exception:  # the exact index keeps serving; the next search tries again
            log.exception("approximate index of collection %d not built", seq)
        finally:
            conn.close()
            with self._building_lock:
                self._building.discard(seq)

    def _train(self, seq: int, change_seq: int, faces: VectorIndex | None) -> IvfIndex | None:
        """An IVF index of the faces read at change-log position `change_seq`, written to disk."""
        if not faces:
            return None
        started = time.monotonic()
        keys, labels, vectors = faces.entries()
        index = IvfIndex.train(vectors, self.settings.nprobe)
        index.add(keys, labels, vectors)
        index.applied_seq, index.loaded, index.trained_on = change_seq, True, len(faces)
        faiss_path, info_path = self.files(seq)
        index.write(faiss_path)
        _write_json(info_path, {"change_seq": change_seq, "faces": len(faces), "nlist": index.nlist})
        log.info(
            "approximate index of collection %d: %d faces, %d lists, built in %.1f s",
            seq,
            len(faces),
            index.nlist,
            time.monotonic() - started,
        )
        return index

    def read(self, conn: sqlite3.Connection, seq: int, fresh_only: bool = False) -> IvfIndex | None:
        """Within a read snapshot: the collection's persisted approximate index, with its keys and
        brought up to date, or None (none, unreadable, older than the change log, or - with
        `fresh_only` - trained on fewer than half of today's faces)."""
        faiss_path, info_path = self.files(seq)
        if self.settings.min_faces <= 0 or not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text())
            change_seq, trained_on = int(info["change_seq"]), int(info["faces"])
            if change_seq < pruned_through(conn):
                return None
            if fresh_only and face_count(conn, seq) >= 2 * trained_on:
                return None
            index = IvfIndex.read(faiss_path, self.settings.nprobe)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("persisted approximate index of collection %d not used: %s", seq, exc)
            return None
        index.trained_on = trained_on
        stored = index.stored_labels()
        keys: list[str] = []
        labels: list[int] = []
        for row in conn.execute("SELECT seq, face_id FROM faces WHERE collection_seq = ?", (seq,)):
            keys.append(row[1])
            labels.append(row[0])
        known = np.asarray(labels, dtype=np.int64)
        present = np.isin(known, stored)
        index.name([key for key, kept in zip(keys, present, strict=True) if kept], known[present])
        index.drop_labels(stored[~np.isin(stored, known)])  # faces deleted since it was written
        index.applied_seq, index.loaded = change_seq, True
        catch_up(conn, index, seq, "face")
        return index


def _write_json(path: Path, document: dict[str, object]) -> None:
    """Write `document` to `path` atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document))
    partial.replace(path)
