"""Exact nearest-neighbour search over one collection's embeddings, held in memory.

A collection's unit vectors live in one float32 matrix (grown by a quarter at a time, rows
removed by moving the last row into the hole), so a search is one matrix-vector product over
every face: exact, 100 % recall. Each entry has a key (the face or user id) and a label (the
store's row number for it): searches answer labels, which the store turns back into rows, so
that an approximate index (`ann.IvfIndex`), which knows only labels, is a drop-in replacement.
The SQLite store fills an index once from disk and, before each search, applies the writes of
every process recorded in its change log since; the owner serialises updates and searches
with `lock`.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np

GROWTH = 1.25  # spare rows kept when the matrix grows: memory stays within 1.25x the vectors


class SearchIndex(Protocol):
    """What the store needs from an in-memory index of one collection's faces or users."""

    kind: str  # "exact" or "ivf"
    lock: threading.RLock
    loaded: bool  # whether the owner has filled it from disk yet
    applied_seq: int  # the owner's change-log position this index reflects

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def add(self, keys: list[str], labels: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, keys: list[str]) -> None: ...

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: str | None = None
    ) -> list[tuple[int, float]]: ...


class VectorIndex:
    """Keys, labels and unit embeddings; search returns the closest labels by cosine distance. Exact."""

    kind = "exact"

    def __init__(self, dimensions: int = 0) -> None:
        self.lock = threading.RLock()
        self._vectors = np.zeros((0, dimensions), dtype=np.float32)
        self._labels = np.zeros(0, dtype=np.int64)
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._scores = np.empty(0, dtype=np.float32)  # search buffers (see `search`)
        self._passing = np.empty(0, dtype=bool)
        self.loaded = False
        self.applied_seq = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def reserve(self, count: int, dimensions: int) -> None:
        """Room for `count` entries in all, allocated once (loading a large collection)."""
        if count > len(self._vectors) or self._vectors.shape[1] != dimensions:
            self._resize(count, dimensions)

    def _resize(self, rows: int, dimensions: int) -> None:
        used = len(self._keys)
        vectors = np.zeros((rows, dimensions), dtype=np.float32)
        labels = np.zeros(rows, dtype=np.int64)
        if used:
            vectors[:used] = self._vectors[:used]
            labels[:used] = self._labels[:used]
        self._vectors, self._labels = vectors, labels

    def add(self, keys: list[str], labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add new entries (keys not yet present)."""
        if not keys:
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), -1)
        dimensions = vectors.shape[1]
        if self._vectors.shape[1] != dimensions and self._keys:
            raise ValueError(f"{dimensions}-d vectors in a {self._vectors.shape[1]}-d index")
        start, needed = len(self._keys), len(self._keys) + len(keys)
        if needed > len(self._vectors) or self._vectors.shape[1] != dimensions:
            self._resize(max(needed, int(len(self._vectors) * GROWTH), 64), dimensions)
        self._vectors[start:needed] = vectors
        self._labels[start:needed] = np.asarray(labels, dtype=np.int64).reshape(-1)
        for offset, key in enumerate(keys):
            self._rows[key] = start + offset
        self._keys.extend(keys)

    def remove(self, keys: list[str]) -> None:
        """Remove entries; keys that are not present are ignored."""
        for key in keys:
            row = self._rows.pop(key, None)
            if row is None:
                continue
            last = len(self._keys) - 1
            if row != last:
                moved = self._keys[last]
                self._vectors[row] = self._vectors[last]
                self._labels[row] = self._labels[last]
                self._keys[row] = moved
                self._rows[moved] = row
            self._keys.pop()

    def entries(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(keys, labels, vectors) of every entry, as views valid until the next change."""
        count = len(self._keys)
        return self._keys, self._labels[:count], self._vectors[:count]

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: str | None = None
    ) -> list[tuple[int, float]]:
        """Up to `limit` (label, cosine distance) pairs within `max_distance`, closest first. The caller
        holds `lock`: the similarities and the threshold mask go to buffers kept with the index, so a
        search allocates nothing the size of the collection (memory stays flat under many threads)."""
        count = len(self._keys)
        if count == 0 or limit <= 0:
            return []
        if len(self._scores) < count:
            self._scores = np.empty(len(self._vectors), dtype=np.float32)
            self._passing = np.empty(len(self._vectors), dtype=bool)
        scores = self._scores[:count]
        np.dot(self._vectors[:count], np.asarray(probe, dtype=np.float32), out=scores)
        if exclude is not None and exclude in self._rows:
            scores[self._rows[exclude]] = -np.inf
        candidates = np.flatnonzero(np.greater_equal(scores, 1.0 - max_distance, out=self._passing[:count]))
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(self._labels[i]), float(1.0 - scores[i])) for i in ordered]
