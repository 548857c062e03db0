"""Exact nearest-neighbour search over one collection's embeddings, held in memory.

A collection's unit vectors live in one float32 matrix, so a search is a matrix-vector product
over every face: exact, 100 % recall. Entries are known by their label (the store's row number,
faces.seq or users.seq), which the store turns back into rows; an approximate index
(`ann.IvfIndex`) knows only labels too, so it is a drop-in replacement.

Searches take no lock. The index publishes an immutable view (`_View`) of its arrays; a search
reads the view current when it starts. Adds write into the spare rows past the view's end and
then publish a longer view; removals publish a view with more dead rows (tombstones), which are
dropped by copying into new arrays once they are many. So a search never sees a half-applied
write, and many run at once. The owner serialises writes with `lock`.

A large search is split into row ranges run on a small pool of threads, one per core, shared by
every search of the process: one client's search uses every core (as numpy's own BLAS threads
would), and concurrent searches share the cores without oversubscribing them.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

GROWTH = 1.25  # spare rows kept when the matrix grows: memory stays within 1.25x the vectors
CHUNK_ROWS = 32_768  # rows scored at a time (the scores stay in the core's cache)
PARALLEL_MIN_ROWS = 131_072  # below this a search runs in the caller's thread only
MIN_DEAD_TO_COMPACT = 4_096  # tombstones are dropped once past this and an eighth of the rows

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def search_pool() -> Executor:
    """The process's search threads (one per core), made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="search")
        return _pool


class SearchIndex(Protocol):
    """What the store needs from an in-memory index of one collection's faces or users."""

    kind: str  # "exact" or "ivf"
    lock: threading.Lock  # held by the owner while it changes the index or brings it up to date
    loaded: bool  # whether the owner has filled it from disk yet
    applied_seq: int  # the owner's change-log position this index reflects

    def __len__(self) -> int: ...

    def __contains__(self, label: object) -> bool: ...

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, labels: np.ndarray) -> None: ...

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: int | None = None
    ) -> list[tuple[int, float]]: ...


@dataclass(frozen=True)
class _View:
    """What one search reads: the first `count` rows of the arrays, less the `dead` rows (sorted)."""

    vectors: np.ndarray
    labels: np.ndarray
    count: int
    dead: np.ndarray
    labels_sorted: bool  # labels[:count] ascend (faces: always; users: until one is updated)

    def row_of(self, label: int) -> int | None:
        """The live row holding `label`, or None."""
        labels = self.labels[: self.count]
        if self.labels_sorted:
            row = int(np.searchsorted(labels, label))
            rows = [row] if row < self.count and labels[row] == label else []
        else:
            rows = np.flatnonzero(labels == label).tolist()
        live = [r for r in rows if not _holds(self.dead, r)]
        return live[-1] if live else None


def _holds(sorted_values: np.ndarray, value: int) -> bool:
    at = int(np.searchsorted(sorted_values, value))
    return at < len(sorted_values) and int(sorted_values[at]) == value


class VectorIndex:
    """Labels and unit embeddings; search returns the closest labels by cosine distance. Exact."""

    kind = "exact"

    def __init__(self, dimensions: int = 0) -> None:
        self.lock = threading.Lock()
        empty = np.zeros(0, dtype=np.int64)
        self._view = _View(np.zeros((0, dimensions), dtype=np.float32), empty, 0, empty, True)
        self.loaded = False
        self.applied_seq = 0
        self.written_seq = 0  # the change-log position of its copy on disk, if any (vector_file.py)
        self.written_at = 0.0

    def __len__(self) -> int:
        view = self._view
        return view.count - len(view.dead)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, (int, np.integer)) and self._view.row_of(int(label)) is not None

    def reserve(self, count: int, dimensions: int) -> None:
        """Room for `count` entries in all, allocated once (loading a large collection)."""
        view = self._view
        if count > len(view.vectors) or view.vectors.shape[1] != dimensions:
            self._resize(count, dimensions)

    def _resize(self, rows: int, dimensions: int) -> None:
        view = self._view
        vectors = np.zeros((rows, dimensions), dtype=np.float32)
        labels = np.zeros(rows, dtype=np.int64)
        if view.count:
            vectors[: view.count] = view.vectors[: view.count]
            labels[: view.count] = view.labels[: view.count]
        self._view = _View(vectors, labels, view.count, view.dead, view.labels_sorted)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add entries (a label already present is replaced: a user whose faces changed)."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if not len(labels):
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), -1)
        view = self._view
        if view.count and not (view.labels_sorted and labels.min() > view.labels[view.count - 1]):
            self.remove(labels)  # (new faces' labels are past every label held: nothing to replace)
            view = self._view
        dimensions = vectors.shape[1]
        if view.count and view.vectors.shape[1] != dimensions:
            raise ValueError(f"{dimensions}-d vectors in a {view.vectors.shape[1]}-d index")
        needed = view.count + len(labels)
        if needed > len(view.vectors) or view.vectors.shape[1] != dimensions:
            self._resize(max(needed, int(len(view.vectors) * GROWTH), 64), dimensions)
            view = self._view
        view.vectors[view.count : needed] = vectors  # past the published rows: no search reads them yet
        view.labels[view.count : needed] = labels
        ascending = bool(np.all(np.diff(view.labels[max(view.count - 1, 0) : needed]) > 0))
        self._view = _View(view.vectors, view.labels, needed, view.dead, view.labels_sorted and ascending)

    def remove(self, labels: np.ndarray) -> None:
        """Remove entries by label; labels that are not present are ignored."""
        view = self._view
        wanted = np.asarray(labels, dtype=np.int64).reshape(-1)
        rows = [row for label in wanted if (row := view.row_of(int(label))) is not None]
        if not rows:
            return
        dead = np.union1d(view.dead, np.asarray(rows, dtype=np.int64))
        self._view = _View(view.vectors, view.labels, view.count, dead, view.labels_sorted)
        if len(dead) > max(MIN_DEAD_TO_COMPACT, view.count // 8):
            self._compact()

    def _compact(self) -> None:
        """New arrays holding the live rows only, in label order (searches under way keep the old ones)."""
        view = self._view
        live = np.setdiff1d(np.arange(view.count), view.dead, assume_unique=True)
        live = live[np.argsort(view.labels[live], kind="stable")]
        capacity = max(int(len(live) * GROWTH), 64)
        vectors = np.zeros((capacity, view.vectors.shape[1]), dtype=np.float32)
        labels = np.zeros(capacity, dtype=np.int64)
        vectors[: len(live)] = view.vectors[live]
        labels[: len(live)] = view.labels[live]
        self._view = _View(vectors, labels, len(live), np.zeros(0, dtype=np.int64), True)

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, vectors) of every live entry: views of the published rows when none is dead (rows
        of a published view never change), else copies."""
        view = self._view
        if not len(view.dead):
            return view.labels[: view.count], view.vectors[: view.count]
        live = np.setdiff1d(np.arange(view.count), view.dead, assume_unique=True)
        return view.labels[live], view.vectors[live]

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: int | None = None
    ) -> list[tuple[int, float]]:
        """Up to `limit` (label, cosine distance) pairs within `max_distance`, closest first."""
        view = self._view
        if view.count == 0 or limit <= 0:
            return []
        probe = np.asarray(probe, dtype=np.float32).reshape(-1)
        skipped = view.dead
        if exclude is not None and (row := view.row_of(exclude)) is not None:
            skipped = np.union1d(skipped, [row])
        floor = np.float32(1.0 - max_distance)
        if view.count < PARALLEL_MIN_ROWS:
            parts = [_best_in(view, probe, 0, view.count, limit, floor, skipped)]
        else:
            bounds = np.linspace(0, view.count, (os.cpu_count() or 1) + 1).astype(int)
            futures = [
                search_pool().submit(_best_in, view, probe, int(a), int(b), limit, floor, skipped)
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                if b > a
            ]
            parts = [future.result() for future in futures]
        rows = np.concatenate([rows for rows, _ in parts])
        scores = np.concatenate([scores for _, scores in parts])
        order = np.lexsort((rows, -scores))[:limit]  # closest first; equal scores in row order
        return [(int(view.labels[rows[i]]), float(1.0 - scores[i])) for i in order]


_scratch = threading.local()  # each thread's chunk of scores, reused by its every search


def _best_in(
    view: _View, probe: np.ndarray, start: int, stop: int, limit: int, floor: np.float32, skipped: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the best `limit` live rows of start..stop scoring at least `floor`. Scored
    CHUNK_ROWS at a time; after each chunk the bar rises to the limit-th best score kept, so that
    only rows that could still make the answer are gathered (few, after the first chunk)."""
    kept_rows = np.zeros(0, dtype=np.int64)
    kept_scores = np.zeros(0, dtype=np.float32)
    bar = floor
    buffer = getattr(_scratch, "scores", None)
    if buffer is None:
        buffer = _scratch.scores = np.empty(CHUNK_ROWS, dtype=np.float32)
    for begin in range(start, stop, CHUNK_ROWS):
        end = min(begin + CHUNK_ROWS, stop)
        scores = np.dot(view.vectors[begin:end], probe, out=buffer[: end - begin])
        if len(skipped):
            lo, hi = np.searchsorted(skipped, [begin, end])
            scores[skipped[lo:hi] - begin] = -np.inf
        passing = np.flatnonzero(scores >= bar)
        if not len(passing):
            continue
        kept_rows = np.concatenate([kept_rows, passing + begin])
        kept_scores = np.concatenate([kept_scores, scores[passing]])  # (copies: the buffer is reused)
        if len(kept_rows) > limit:
            best = np.argpartition(-kept_scores, limit - 1)[:limit]
            kept_rows, kept_scores = kept_rows[best], kept_scores[best]
            bar = max(floor, kept_scores.min())
    return kept_rows, kept_scores
