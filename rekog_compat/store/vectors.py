"""Exact nearest-neighbour search over one collection's embeddings, held in memory.

A collection's unit vectors live in one float32 matrix (grown by doubling, rows removed by
moving the last row into the hole), so a search is one matrix-vector product over every
face: exact, 100 % recall. The SQLite store fills it once from disk and, before each
search, applies the writes of every process recorded in its change log since; the owner
serialises updates and searches with `lock`.
"""

from __future__ import annotations

import threading

import numpy as np


class VectorIndex:
    """Face ids and their unit embeddings; search returns the closest by cosine distance."""

    def __init__(self, dimensions: int = 0) -> None:
        self.lock = threading.RLock()
        self._vectors = np.zeros((0, dimensions), dtype=np.float32)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self.loaded = False  # whether the owner has filled it from disk yet
        self.applied_seq = 0  # the owner's change-log position this index reflects

    def clear(self) -> None:
        self._vectors = np.zeros((0, self._vectors.shape[1]), dtype=np.float32)
        self._ids.clear()
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, face_id: object) -> bool:
        return face_id in self._rows

    def add(self, face_ids: list[str], vectors: np.ndarray) -> None:
        """Add new faces (ids not yet present)."""
        if not face_ids:
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(face_ids), -1)
        if self._vectors.shape[1] != vectors.shape[1]:
            if self._ids:
                raise ValueError(f"{vectors.shape[1]}-d vectors in a {self._vectors.shape[1]}-d index")
            self._vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        needed = len(self._ids) + len(face_ids)
        if needed > len(self._vectors):
            grown = np.zeros((max(needed, 2 * len(self._vectors), 64), vectors.shape[1]), dtype=np.float32)
            grown[: len(self._ids)] = self._vectors[: len(self._ids)]
            self._vectors = grown
        start = len(self._ids)
        self._vectors[start:needed] = vectors
        for offset, face_id in enumerate(face_ids):
            self._rows[face_id] = start + offset
            self._ids.append(face_id)

    def remove(self, face_ids: list[str]) -> None:
        """Remove faces; ids that are not present are ignored."""
        for face_id in face_ids:
            row = self._rows.pop(face_id, None)
            if row is None:
                continue
            last = len(self._ids) - 1
            if row != last:
                moved = self._ids[last]
                self._vectors[row] = self._vectors[last]
                self._ids[row] = moved
                self._rows[moved] = row
            self._ids.pop()

    def vector(self, face_id: str) -> np.ndarray | None:
        row = self._rows.get(face_id)
        return None if row is None else self._vectors[row].copy()

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: str | None = None
    ) -> list[tuple[str, float]]:
        """Up to `limit` (face id, cosine distance) pairs within `max_distance`, closest first."""
        count = len(self._ids)
        if count == 0 or limit <= 0:
            return []
        distances = 1.0 - self._vectors[:count] @ np.asarray(probe, dtype=np.float32)
        if exclude is not None and exclude in self._rows:
            distances[self._rows[exclude]] = np.inf
        candidates = np.flatnonzero(distances <= max_distance)
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(distances[candidates], limit - 1)[:limit]]
        ordered = candidates[np.argsort(distances[candidates], kind="stable")]
        return [(self._ids[i], float(distances[i])) for i in ordered]
