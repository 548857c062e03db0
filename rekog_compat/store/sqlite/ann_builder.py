"""The approximate (faiss IVF, ann.py) face index of a large SQLite collection: when to build it,
building it, writing it beside the database, keeping the file fresh, and reading it back.

A collection's face index is exact until it holds `AnnSettings.min_faces` faces; then an IVF
index is built from a snapshot of the table in a background thread (streamed: the table is read
for a training sample, for each face's list, and to fill the lists, so memory holds the float16
codes, each list allocated once at its size, and one batch), written under ANN_DIRNAME with the
change-log position it reflects, and handed to the index cache, which brings it up to date and
swaps it in. It is retrained once the collection has doubled, until it has all the lists a new
index would have (ann.needs_retraining). A collection too large to hold exact in memory
(EXACT_MAX_FACES) that has no usable file is built in the foreground instead: its first search
waits for it.

One process builds a collection's index at a time (a file lock); a later process reads the file
back, and the writes made since from the change log, instead of rebuilding. The change log is
never pruned past a persisted file's position (its row in `meta`), so a file cannot go stale; the
process searching with it rewrites it every REWRITE_AFTER_S while writes arrive, which bounds the
writes a later process replays at start-up (docs/scaling.md).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ann import TRAINING_POINTS_PER_LIST, IvfIndex, lists_for, needs_retraining
from ..vectors import SearchIndex
from .changes import ANN_POSITION_KEY, catch_up, last_change, pruned_through
from .database import snapshot
from .rows import face_batches, face_count

log = logging.getLogger("rekog_compat")

ANN_DIRNAME = "ann"  # persisted approximate indexes, beside the database
EXACT_MAX_FACES = 5_000_000  # an exact index of more (float32: 2.5 GB at 5M 128-d) is not loaded
REWRITE_AFTER_S = 1800  # a file older than this is rewritten when the index has changed since
BUILD_BATCH = 65_536  # rows assigned to their lists at a time while building


@dataclass(frozen=True)
class AnnSettings:
    """When a collection's face search switches from exact to approximate (faiss IVF, ann.py).

    Exact search stays the default while it is fast: ~20 ms at 1M 128-d faces on 2 cores, past
    the engine's ~80 ms per probe image only at several million (docs/scaling.md)."""

    min_faces: int = 1_000_000  # 0: never approximate
    nprobe: int = 0  # clusters searched per probe; 0: by the collection's size (`nprobe_for`)

    def nprobe_for(self, faces: int) -> int:
        """The clusters a search visits: `nprobe`, or by default 768 (of 8,192 from 5M faces) and 1,024
        from 10M faces: recall@1 1.0 on 83 real held-out probes at 5M and at 20M, where 768 missed one
        at 20M (docs/scaling.md)."""
        return self.nprobe or (1024 if faces >= 10_000_000 else 768)


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
        self._busy: set[int] = set()  # collections whose approximate index is being built or written
        self._busy_lock = threading.Lock()

    def files(self, seq: int) -> tuple[Path, Path]:
        """(faiss index, its JSON description) of a collection's persisted approximate index."""
        return self.ann_dir / f"faces-{seq}.faiss", self.ann_dir / f"faces-{seq}.json"

    def delete(self, seq: int) -> None:
        """Remove a deleted collection's persisted index (and its hold on the change log)."""
        for path in self.files(seq):
            path.unlink(missing_ok=True)
        self._record_position(seq, None)

    def maybe_build(self, seq: int, index: SearchIndex) -> None:
        """In the background: build the collection's approximate index when its exact index has
        reached `min_faces`, retrain it when it has outgrown its lists (`needs_retraining`), or
        rewrite its file when that is older than REWRITE_AFTER_S and the index has changed since.
        The clusters searched follow the collection's size."""
        minimum = self.settings.min_faces
        if minimum <= 0 or len(index) < minimum:
            return
        if isinstance(index, IvfIndex) and not needs_retraining(len(index), index.trained_on, index.nlist):
            index.nprobe = self.settings.nprobe_for(len(index))
            if index.applied_seq > index.written_seq and time.time() - index.written_at > REWRITE_AFTER_S:
                self._in_background(seq, self._rewrite, index)
            return
        self._in_background(seq, self._build)

    def _in_background(self, seq: int, work: Callable[..., None], *args: object) -> None:
        with self._busy_lock:
            if seq in self._busy:
                return
            self._busy.add(seq)

        def run() -> None:
            try:
                work(seq, *args)
            except Exception:  # the current index keeps serving; the next search tries again
                log.exception("approximate index of collection %d not built or written", seq)
            finally:
                with self._busy_lock:
                    self._busy.discard(seq)

        threading.Thread(target=run, name=f"ann-{seq}", daemon=True).start()

    def build_now(self, seq: int, count: int) -> None:
        """In this thread: build the index of a collection of `count` faces past the size (a bulk load's end)."""
        if self.settings.min_faces <= 0 or count < self.settings.min_faces:
            return
        with self._busy_lock:
            self._busy.add(seq)
        try:
            self._build(seq)
        finally:
            with self._busy_lock:
                self._busy.discard(seq)

    def build_if_too_large(self, conn: sqlite3.Connection, seq: int) -> IvfIndex | None:
        """Within the caller's snapshot: for a collection past the size with more faces than an exact
        index may hold, a new approximate index built now (written to disk too); else None."""
        count = face_count(conn, seq)
        if self.settings.min_faces <= 0 or count < max(self.settings.min_faces, EXACT_MAX_FACES + 1):
            return None
        log.info("collection %d: %d faces and no usable approximate index: building it now", seq, count)
        return self.train(conn, seq)

    def _build(self, seq: int) -> None:
        """Train, fill and persist an IVF index from a snapshot of the collection, then swap it in.
        One process builds at a time (a file lock); one that waited reads the index just written."""
        conn = self._connect()
        try:
            self.ann_dir.mkdir(parents=True, exist_ok=True)
            with open(self.ann_dir / f"faces-{seq}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                with snapshot(conn):
                    index = self.read(conn, seq, fresh_only=True) or self.train(conn, seq)
            if index is not None:
                self._install(conn, seq, index)
        finally:
            conn.close()

    def train(self, conn: sqlite3.Connection, seq: int) -> IvfIndex | None:
        """Within a snapshot: an IVF index of the collection's faces, written to disk. The table is
        read three times: every k-th face for the k-means sample, every face to find its list (so
        each list is allocated once, at its size), then every face into its list."""
        count = face_count(conn, seq)
        if not count:
            return None
        started = time.monotonic()
        change_seq = last_change(conn)
        step = max(1, count // (lists_for(count) * TRAINING_POINTS_PER_LIST))
        sample = np.concatenate(
            [vectors[(np.arange(len(labels)) + first) % step == 0] for first, (labels, vectors) in _numbered(conn, seq)]
        )
        _faiss_threads(os.cpu_count() or 1)  # this (builder) thread's faiss team: every core
        index = IvfIndex.train(sample, count, self.settings.nprobe_for(count))
        del sample
        trained = time.monotonic()
        lists = np.concatenate([index.assign(vectors) for _, vectors in face_batches(conn, seq, BUILD_BATCH)])
        index.reserve(np.bincount(lists, minlength=index.nlist))
        for first, (labels, vectors) in _numbered(conn, seq):
            index.add(labels, vectors, lists[first : first + len(labels)])
        index.applied_seq, index.loaded, index.trained_on = change_seq, True, len(index)
        self._write(seq, index)
        log.info(
            "approximate index of collection %d: %d faces, %d lists, built in %.1f s (trained in %.1f s)",
            seq,
            len(index),
            index.nlist,
            time.monotonic() - started,
            trained - started,
        )
        return index

    def _rewrite(self, seq: int, index: IvfIndex) -> None:
        """Write the index as it is now (the collection's searches wait for it)."""
        with index.lock:
            started = time.monotonic()
            self._write(seq, index)
        log.info("approximate index of collection %d rewritten in %.1f s", seq, time.monotonic() - started)

    def _write(self, seq: int, index: IvfIndex) -> None:
        """Persist the index at its change-log position, and hold the change log there."""
        self.ann_dir.mkdir(parents=True, exist_ok=True)
        faiss_path, info_path = self.files(seq)
        index.write(faiss_path)
        _write_json(info_path, {"change_seq": index.applied_seq, "faces": index.trained_on, "nlist": index.nlist})
        index.written_seq, index.written_at = index.applied_seq, time.time()
        self._record_position(seq, index.applied_seq)

    def _record_position(self, seq: int, change_seq: int | None) -> None:
        """Keep (or stop keeping) the change log from `change_seq` on for the collection's file."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            if change_seq is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (ANN_POSITION_KEY + str(seq),))
            else:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (ANN_POSITION_KEY + str(seq), change_seq),
                )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def read(self, conn: sqlite3.Connection, seq: int, fresh_only: bool = False) -> IvfIndex | None:
        """Within a read snapshot: the collection's persisted approximate index, brought up to date,
        or None (none, unreadable, older than the change log, not the collection's faces, or - with
        `fresh_only` - due to be retrained)."""
        faiss_path, info_path = self.files(seq)
        if self.settings.min_faces <= 0 or not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text())
            change_seq, trained_on, nlist = int(info["change_seq"]), int(info["faces"]), int(info["nlist"])
            if change_seq < pruned_through(conn):
                return None
            faces = face_count(conn, seq)
            if fresh_only and needs_retraining(faces, trained_on, nlist):
                return None
            started = time.monotonic()
            index = IvfIndex.read(faiss_path, self.settings.nprobe_for(faces))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("persisted approximate index of collection %d not used: %s", seq, exc)
            return None
        index.trained_on, index.written_seq, index.written_at = trained_on, change_seq, faiss_path.stat().st_mtime
        index.applied_seq, index.loaded = change_seq, True
        catch_up(conn, index, seq, "face")
        if len(index) != face_count(conn, seq):
            log.warning("persisted approximate index of collection %d does not hold its faces: rebuilt", seq)
            return None
        log.info(
            "collection %d: approximate index read back (%d faces, written at change %d) in %.1f s",
            seq, len(index), change_seq, time.monotonic() - started,
        )
        return index


def _numbered(conn: sqlite3.Connection, seq: int) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """(position of the batch's first row, (labels, vectors)) of the collection's faces."""
    position = 0
    for labels, vectors in face_batches(conn, seq, BUILD_BATCH):
        yield position, (labels, vectors)
        position += len(labels)


def _faiss_threads(count: int) -> None:
    import faiss

    faiss.omp_set_num_threads(count)


def _write_json(path: Path, document: dict[str, object]) -> None:
    """Write `document` to `path` atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document))
    partial.replace(path)
