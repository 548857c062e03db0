"""Approximate search for very large collections: a faiss IVF-Flat index over the unit embeddings.

Exact search costs a matrix-vector product over every face (~16 ms at 1M 128-d faces here,
~80 ms at 5M). An inverted-file index clusters the vectors around `nlist` k-means centroids and
compares a probe with the faces of the `nprobe` nearest clusters only: a few ms at 5M, with
recall@1 against exact search measured in `benchmarks/scale.py` (docs/scaling.md). Vectors
are stored whole (IVF-Flat, no compression), so the distances it reports are exact; only the
candidates are approximate. Labels are the store's row numbers, so the index can be written to
disk and read back by a later process, which then applies the writes made since (change log).

faiss is imported here only, when a collection first needs it.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

MIN_LISTS = 16
MAX_LISTS = 16384
MIN_POINTS_PER_LIST = 39  # faiss's own minimum for k-means to learn a centroid
TRAINING_POINTS_PER_LIST = 64  # the k-means sample: 64 x nlist points at most


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a dependency
        raise RuntimeError("approximate search needs faiss: pip install faiss-cpu") from exc
    return faiss


def lists_for(count: int) -> int:
    """nlist for a collection of `count` faces: ~4 sqrt(N), so a list holds ~sqrt(N)/4 faces. At 5M faces
    4 sqrt(N) lists found the exact nearest face more often than 2 sqrt(N) for the same search time
    (recall@1 0.993 at 7.7 ms with nprobe 384, vs 0.987 at 6.7 ms: docs/scaling.md)."""
    lists = min(MAX_LISTS, max(MIN_LISTS, 4 * math.isqrt(count)))
    return max(1, min(lists, count // MIN_POINTS_PER_LIST))


class IvfIndex:
    """Keys, labels and vectors in a faiss IVF-Flat (inner product) index; a `SearchIndex` (vectors.py)."""

    kind = "ivf"

    def __init__(self, index: Any, nprobe: int) -> None:
        self.lock = threading.RLock()
        self._index = index
        self._index.nprobe = nprobe
        self._labels: dict[str, int] = {}
        self.loaded = False
        self.applied_seq = 0
        self.trained_on = 0  # faces in the collection when its clusters were learnt

    @classmethod
    def train(cls, vectors: np.ndarray, nprobe: int, seed: int = 0) -> IvfIndex:
        """An empty index whose clusters are learnt from (a sample of) `vectors`."""
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dimensions = vectors.shape
        nlist = lists_for(count)
        sample_size = min(count, nlist * TRAINING_POINTS_PER_LIST)
        sample = vectors[np.sort(np.random.default_rng(seed).choice(count, sample_size, replace=False))]
        quantizer = faiss.IndexFlatIP(dimensions)
        index = faiss.IndexIVFFlat(quantizer, dimensions, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(sample)
        return cls(index, nprobe)

    @classmethod
    def read(cls, path: Path, nprobe: int) -> IvfIndex:
        """An index written by `write` (its keys are added back by the owner with `name`)."""
        return cls(_faiss().read_index(str(path)), nprobe)

    def write(self, path: Path) -> None:
        """Write the index to `path` atomically (a temporary file renamed over it)."""
        partial = path.with_name(path.name + ".partial")
        _faiss().write_index(self._index, str(partial))
        partial.replace(path)

    @property
    def nlist(self) -> int:
        return int(self._index.nlist)

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, key: object) -> bool:
        return key in self._labels

    def name(self, keys: list[str], labels: np.ndarray) -> None:
        """Attach keys to labels already in the index (after `read`)."""
        self._labels.update(zip(keys, (int(label) for label in labels), strict=True))

    def stored_labels(self) -> np.ndarray:
        """Every label in the index (read back from its inverted lists)."""
        faiss = _faiss()
        lists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), size).copy()
            for i in range(self._index.nlist)
            if (size := lists.list_size(i))
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def drop_labels(self, labels: np.ndarray) -> None:
        """Remove entries by label (those no key was attached to: gone from the store)."""
        if len(labels):
            self._index.remove_ids(np.asarray(labels, dtype=np.int64))

    def add(self, keys: list[str], labels: np.ndarray, vectors: np.ndarray) -> None:
        if not keys:
            return
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), -1), labels)
        self.name(keys, labels)

    def remove(self, keys: list[str]) -> None:
        self.drop_labels(np.array([label for key in keys if (label := self._labels.pop(key, None)) is not None]))

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: str | None = None
    ) -> list[tuple[int, float]]:
        """Up to `limit` (label, cosine distance) pairs within `max_distance`, closest first, among the
        faces of the `nprobe` clusters nearest to the probe. When those clusters ran out of faces before
        `limit` and every one matched, there may be more elsewhere: the search widens (4x the clusters,
        up to all of them), so that every face within `max_distance` is returned up to `limit`."""
        if not self._labels or limit <= 0:
            return []
        faiss = _faiss()
        faiss.omp_set_num_threads(1)  # this (request) thread only: one probe gains nothing from a thread team
        excluded = self._labels.get(exclude) if exclude is not None else None
        wanted = min(limit + (excluded is not None), len(self._labels))
        query = np.asarray(probe, dtype=np.float32).reshape(1, -1)
        nprobe = self._index.nprobe
        while True:
            similarities, labels = self._index.search(query, wanted, params=faiss.SearchParametersIVF(nprobe=nprobe))
            found = [
                (int(label), float(1.0 - similarity))
                for similarity, label in zip(similarities[0], labels[0], strict=True)
                if label >= 0 and label != excluded
            ]
            hits = [(label, distance) for label, distance in found if distance <= max_distance]
            exhausted = len(found) < wanted - (excluded is not None) and len(hits) == len(found)
            if not exhausted or nprobe >= self.nlist:
                return hits[:limit]
            nprobe = min(self.nlist, 4 * nprobe)
