"""Approximate search for very large collections: a faiss IVF index of the unit embeddings, stored
as float16 codes.

Exact search costs a matrix-vector product over every face (~8 ms at 300k 128-d faces on 2 cores,
~40 ms per core at 5M). An inverted-file index clusters the vectors around `nlist` k-means
centroids and compares a probe with the faces of the `nprobe` nearest clusters only. The vectors
are kept as float16 (half the memory of float32: 5.1 GB at 20M faces; a float16 code also scans
faster than a float32 one, 13 vs 18 ns per face here), so the similarities it reports are within
~1e-3 of the exact ones: the store re-ranks the short list it returns with the stored float32
embeddings, so the distances a caller sees are exact. Labels are the store's row numbers, so the
index can be written to disk and read back by a later process, which then applies the writes
made since (change log). recall@1 against exact search is measured in `benchmarks/scale.py`
(docs/scaling.md).

Removals are tombstones (skipped by the search) until there are PURGE_AT of them; then they are
taken out of the lists in one pass. faiss is imported here only, when a collection first needs it.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .rwlock import ReadWriteLock

MIN_LISTS = 16
MAX_LISTS = 8192  # past this, assigning 20M faces to their lists takes longer than ~10 min on 2 cores
MIN_POINTS_PER_LIST = 39  # faiss's own minimum for k-means to learn a centroid
TRAINING_POINTS_PER_LIST = 48  # the k-means sample: 48 x nlist points at most
TRAINING_ITERATIONS = 10
PURGE_AT = 1024  # tombstones taken out of the lists at once (one pass over every list)
MERGE_AT = 65_536  # labels added since the last merge are kept apart from the sorted array up to this (or 1/8)
CODE_TOLERANCE = 2e-3  # float16 codes: a distance within this of the bound may be within it exactly
RERANK_MARGIN = 8  # candidates past the limit returned for the store's exact re-ranking


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a dependency
        raise RuntimeError("approximate search needs faiss: pip install faiss-cpu") from exc
    return faiss


def lists_for(count: int) -> int:
    """nlist for a collection of `count` faces: ~4 sqrt(N) (at most MAX_LISTS), so a list holds
    ~sqrt(N)/4 faces. At 5M faces 4 sqrt(N) lists found the exact nearest face more often than
    2 sqrt(N) for the same search time (recall@1 0.993 vs 0.987: docs/scaling.md)."""
    lists = min(MAX_LISTS, max(MIN_LISTS, 4 * math.isqrt(count)))
    return max(1, min(lists, count // MIN_POINTS_PER_LIST))


def needs_retraining(faces: int, trained_on: int, nlist: int) -> bool:
    """Whether an index trained on `trained_on` faces in `nlist` lists is retrained now it holds
    `faces`: once the collection has doubled, and only if a new index would have more lists. Past
    MAX_LISTS (~4.2M faces) a new index learns as many centroids from as large a sample, so the
    old one is kept: no second index is built beside it, which at 20M faces would double the
    memory (docs/scaling.md)."""
    return faces >= 2 * trained_on and lists_for(faces) > nlist


class IvfIndex:
    """Labels and float16-coded vectors in a faiss IVF (inner product) index; a `SearchIndex`
    (vectors.py). Searches share the index; changes take it alone."""

    kind = "ivf"

    def __init__(self, index: Any, nprobe: int) -> None:
        self.lock = threading.Lock()  # the owner's, while it brings the index up to date
        self._rw = ReadWriteLock()
        self._index = index
        self._index.nprobe = nprobe
        self._labels = np.sort(self._stored_labels())  # labels in the lists (merged)
        self._added: set[int] = set()  # labels in the lists, added since the last merge
        self._dead: set[int] = set()  # labels in the lists that were removed (tombstones)
        self._max_label = int(self._labels[-1]) if len(self._labels) else -1
        self.loaded = False
        self.applied_seq = 0
        self.trained_on = 0  # faces in the collection when its clusters were learnt
        self.written_seq = 0  # the change-log position of its file on disk
        self.written_at = 0.0  # when that file was written (time.time())

    @classmethod
    def train(cls, sample: np.ndarray, count: int, nprobe: int, seed: int = 0) -> IvfIndex:
        """An empty index for a collection of `count` faces, its clusters learnt from `sample` (an
        unbiased sample of the collection's vectors)."""
        faiss = _faiss()
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        nlist = min(lists_for(count), max(1, len(sample) // MIN_POINTS_PER_LIST))
        dimensions = sample.shape[1]
        if len(sample) > nlist * TRAINING_POINTS_PER_LIST:
            chosen = np.random.default_rng(seed).choice(len(sample), nlist * TRAINING_POINTS_PER_LIST, replace=False)
            sample = sample[np.sort(chosen)]
        quantizer = faiss.IndexFlatIP(dimensions)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimensions, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False
        )
        index.cp.seed = seed
        index.cp.niter = TRAINING_ITERATIONS
        index.train(sample)
        return cls(index, nprobe)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The list (nearest centroid) of each vector, as `add` would put it."""
        _, lists = self._index.quantizer.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
        return np.asarray(lists, dtype=np.int64).reshape(-1)

    def reserve(self, sizes: np.ndarray) -> None:
        """Allocate each empty list for `sizes[list]` entries: filled one batch at a time, a list would
        otherwise grow by doubling (a build's peak was 7.8 GB for 5.3 GB of lists at 20M faces)."""
        lists = _faiss().downcast_InvertedLists(self._index.invlists)
        for list_no, size in enumerate(np.asarray(sizes).tolist()):
            if size and lists.list_size(list_no) == 0:
                lists.resize(list_no, int(size))  # the capacity stays after the shrink
                lists.resize(list_no, 0)

    @classmethod
    def read(cls, path: Path, nprobe: int) -> IvfIndex:
        """An index written by `write`."""
        return cls(_faiss().read_index(str(path)), nprobe)

    def write(self, path: Path) -> None:
        """Write the index to `path` atomically (a temporary file renamed over it); searches go on."""
        partial = path.with_name(path.name + ".partial")
        if self._dead:  # removals would come back with the file
            with self._rw.exclusive():
                self._purge()
        with self._rw.shared():
            _faiss().write_index(self._index, str(partial))
        partial.replace(path)

    @property
    def nlist(self) -> int:
        return int(self._index.nlist)

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._index.nprobe = value

    def __len__(self) -> int:
        return len(self._labels) + len(self._added) - len(self._dead)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, (int, np.integer)) and self._holds(int(label)) and int(label) not in self._dead

    def _holds(self, label: int) -> bool:
        """Whether `label` is in the lists (removed or not)."""
        at = int(np.searchsorted(self._labels, label))
        return (at < len(self._labels) and int(self._labels[at]) == label) or label in self._added

    def labels(self) -> np.ndarray:
        """Every live label, sorted."""
        merged = np.union1d(self._labels, np.fromiter(self._added, dtype=np.int64, count=len(self._added)))
        return np.setdiff1d(merged, np.fromiter(self._dead, dtype=np.int64, count=len(self._dead)), assume_unique=True)

    def _stored_labels(self) -> np.ndarray:
        """Every label in the lists (read back from them)."""
        faiss = _faiss()
        lists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), size).copy()
            for i in range(self._index.nlist)
            if (size := lists.list_size(i))
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def add(self, labels: np.ndarray, vectors: np.ndarray, lists: np.ndarray | None = None) -> None:
        """Add entries; a label already present is replaced. `lists`: their lists, when already
        known (`assign`), so the build does not assign them twice."""
        labels = np.ascontiguousarray(labels, dtype=np.int64).reshape(-1)
        if not len(labels):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(labels), -1)
        newer = labels.min() > self._max_label  # new faces: past every label held, nothing to replace
        if not newer:
            self.remove(labels)
        with self._rw.exclusive():
            if not newer and any(self._holds(int(label)) for label in labels):
                self._purge()  # a label coming back must leave the lists before it is added again
            if lists is None:
                self._index.add_with_ids(vectors, labels)
            else:
                pointer = _faiss().swig_ptr
                lists = np.ascontiguousarray(lists, dtype=np.int64)
                self._index.add_core(len(labels), pointer(vectors), pointer(labels), pointer(lists))
            self._max_label = max(self._max_label, int(labels.max()))
            self._added.update(int(label) for label in labels)
            if len(self._added) >= max(MERGE_AT, len(self._labels) // 8):  # amortised: O(1) a label
                added = np.sort(np.fromiter(self._added, dtype=np.int64, count=len(self._added)))
                later = not len(self._labels) or added[0] > self._labels[-1]
                self._labels = np.concatenate([self._labels, added]) if later else np.union1d(self._labels, added)
                self._added.clear()  # (tombstones stay counted apart until purged)

    def remove(self, labels: np.ndarray) -> None:
        """Remove entries by label; labels that are not present are ignored."""
        gone = [label for label in (int(x) for x in np.asarray(labels).reshape(-1)) if label in self]
        if not gone:
            return
        with self._rw.exclusive():
            self._dead.update(gone)
            if len(self._dead) >= PURGE_AT:
                self._purge()

    def _purge(self) -> None:
        """Take the tombstones out of the lists (the caller holds the index alone)."""
        if not self._dead:
            return
        faiss = _faiss()
        dead = np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))
        self._index.remove_ids(faiss.IDSelectorBatch(len(dead), faiss.swig_ptr(dead)))
        self._labels = np.setdiff1d(self._labels, dead, assume_unique=True)
        self._added -= self._dead
        self._dead.clear()

    def search(
        self, probe: np.ndarray, limit: int, max_distance: float, exclude: int | None = None
    ) -> list[tuple[int, float]]:
        """Up to `limit` + RERANK_MARGIN (label, approximate cosine distance) pairs within
        `max_distance` (+ CODE_TOLERANCE), closest first, among the faces of the `nprobe` clusters
        nearest to the probe. When those clusters ran out of faces before the limit and every one
        matched, there may be more elsewhere: the search widens (4x the clusters, up to all of
        them), so that every face within `max_distance` is returned up to `limit`."""
        if limit <= 0:
            return []
        faiss = _faiss()
        faiss.omp_set_num_threads(1)  # this (request) thread only: one probe gains nothing from a thread team
        query = np.asarray(probe, dtype=np.float32).reshape(1, -1)
        bound = max_distance + CODE_TOLERANCE
        with self._rw.shared():
            skipped = self._dead | ({exclude} if exclude is not None else set())
            size = len(self._labels) + len(self._added)
            wanted = min(limit + RERANK_MARGIN + len(skipped), size)
            if wanted <= 0:
                return []
            nprobe = self._index.nprobe
            while True:
                params = faiss.SearchParametersIVF(nprobe=nprobe)
                similarities, labels = self._index.search(query, wanted, params=params)
                returned = [
                    (int(label), float(1.0 - similarity))
                    for similarity, label in zip(similarities[0], labels[0], strict=True)
                    if label >= 0
                ]
                found = [(label, distance) for label, distance in returned if label not in skipped]
                hits = [(label, distance) for label, distance in found if distance <= bound]
                exhausted = len(returned) < wanted and len(hits) == len(found)
                if not exhausted or nprobe >= self.nlist:
                    return hits[: limit + RERANK_MARGIN]
                nprobe = min(self.nlist, 4 * nprobe)
