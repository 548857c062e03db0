"""The in-memory indexes: exact search gives the brute-force answer through adds and removes; the
approximate (faiss IVF) one finds the same nearest face almost always, and never a removed one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rekog_compat.engine.embedding import unit_rows
from rekog_compat.store.ann import MAX_LISTS, IvfIndex, lists_for, needs_retraining
from rekog_compat.store.vectors import VectorIndex


def random_unit(count: int, seed: int, dims: int = 16) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).normal(size=(count, dims)))


def clustered(identities: int, per_identity: int, seed: int, dims: int = 32) -> np.ndarray:
    """Unit vectors in tight clusters, as one person's faces are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, dims))
    return unit_rows(np.repeat(centres, per_identity, axis=0) + 0.15 * rng.normal(size=(identities * per_identity, dims)))


def labels_for(count: int, start: int = 1000) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.int64)


def brute_force(labels: np.ndarray, vectors: np.ndarray, probe: np.ndarray, limit: int, max_distance: float):
    distances = 1.0 - vectors @ probe
    order = [i for i in np.argsort(distances, kind="stable") if distances[i] <= max_distance][:limit]
    return [int(labels[i]) for i in order]


def test_exact_search_matches_brute_force_after_adds_and_removes():
    vectors = random_unit(500, seed=1)
    labels = labels_for(500)
    index = VectorIndex()
    for start in range(0, 500, 37):  # grows several times
        index.add(labels[start:start + 37], vectors[start:start + 37])
    removed = set(labels[::3].tolist())
    index.remove(np.array(sorted(removed) + [99_999]))
    kept = [i for i, label in enumerate(labels) if int(label) not in removed]
    assert len(index) == len(kept)
    for probe in random_unit(20, seed=2):
        expected = brute_force(labels[kept], vectors[kept], probe, limit=10, max_distance=0.9)
        assert [label for label, _ in index.search(probe, 10, 0.9)] == expected


def test_exact_search_respects_the_distance_bound_limit_and_exclusion():
    vectors = random_unit(50, seed=3)
    index = VectorIndex()
    index.add(labels_for(50, start=0), vectors)
    hits = index.search(vectors[7], 50, 2.0, exclude=7)
    assert 7 not in {label for label, _ in hits} and len(hits) == 49
    distances = [d for _, d in hits]
    assert distances == sorted(distances)
    assert index.search(vectors[7], 1, 2.0)[0][0] == 7
    assert all(d <= 0.5 for _, d in index.search(vectors[7], 50, 0.5))


def test_a_large_search_split_over_the_cores_matches_brute_force(monkeypatch):
    import rekog_compat.store.vectors as module

    monkeypatch.setattr(module, "CHUNK_ROWS", 64)  # many chunks per row range, the bar rising between them
    monkeypatch.setattr(module, "PARALLEL_MIN_ROWS", 256)
    vectors = random_unit(3000, seed=11)
    labels = labels_for(3000)
    index = VectorIndex()
    index.add(labels, vectors)
    index.remove(labels[1::5])
    kept = np.setdiff1d(np.arange(3000), np.arange(1, 3000, 5))
    for probe in random_unit(10, seed=12):
        for limit, bound in ((1, 2.0), (25, 2.0), (4000, 0.8)):
            expected = brute_force(labels[kept], vectors[kept], probe, limit, bound)
            assert [label for label, _ in index.search(probe, limit, bound)] == expected


def test_an_updated_entry_replaces_the_old_one_and_tombstones_are_compacted(monkeypatch):
    import rekog_compat.store.vectors as module

    monkeypatch.setattr(module, "MIN_DEAD_TO_COMPACT", 4)
    index = VectorIndex()
    vectors = random_unit(40, seed=4)
    index.add(labels_for(20, start=0), vectors[:20])
    index.add(np.array([3]), vectors[30:31])  # user 3's faces changed: its vector is replaced
    assert len(index) == 20 and 3 in index
    assert index.search(vectors[30], 1, 2.0)[0][0] == 3
    assert 3 not in {label for label, _ in index.search(vectors[3], 20, 2.0)[:1]}
    index.remove(labels_for(10, start=10))  # past the threshold: live rows copied into new arrays
    assert len(index) == 10 and index._view.count == 10 and not len(index._view.dead)
    labels, _ = index.entries()
    assert sorted(labels.tolist()) == list(range(10))
    assert index.search(vectors[30], 1, 2.0)[0][0] == 3


def test_reserving_allocates_the_loaded_size_exactly():
    index = VectorIndex()
    index.reserve(1000, 16)
    index.add(labels_for(1000), random_unit(1000, seed=6))
    labels, vectors = index.entries()
    assert vectors.shape == (1000, 16) and index._view.vectors.shape == (1000, 16)
    assert list(labels[:3]) == [1000, 1001, 1002]


def test_an_empty_index_finds_nothing():
    assert VectorIndex().search(random_unit(1, seed=5)[0], 10, 2.0) == []


def test_the_approximate_index_finds_the_exact_nearest_face_for_almost_every_probe():
    vectors = clustered(400, 10, seed=7)  # 4,000 faces of 400 people
    labels = labels_for(len(vectors))
    index = IvfIndex.train(vectors, len(vectors), nprobe=8)
    index.add(labels, vectors)
    assert index.nlist == lists_for(len(vectors)) and len(index) == len(vectors)
    probes = unit_rows(vectors[::10] + 0.1 * np.random.default_rng(8).normal(size=vectors[::10].shape))
    agree = sum(
        index.search(probe, 1, 2.0)[0][0] == brute_force(labels, vectors, probe, 1, 2.0)[0] for probe in probes
    )
    assert agree / len(probes) >= 0.97
    distance = index.search(probes[0], 1, 2.0)[0][1]
    assert abs(distance - (1.0 - float(np.max(vectors @ probes[0])))) < 2e-3  # float16 codes: near-exact


def test_faces_added_to_their_precomputed_lists_are_found_as_if_added_plainly():
    vectors = clustered(100, 10, seed=15)
    labels = labels_for(len(vectors))
    plain = IvfIndex.train(vectors, len(vectors), nprobe=4)
    plain.add(labels, vectors)
    built = IvfIndex.train(vectors, len(vectors), nprobe=4)
    lists = built.assign(vectors)
    built.reserve(np.bincount(lists, minlength=built.nlist))
    for first in range(0, len(vectors), 300):  # in batches, as the store builds
        built.add(labels[first:first + 300], vectors[first:first + 300], lists[first:first + 300])
    assert len(built) == len(vectors) and built.labels().tolist() == labels.tolist()
    for probe in vectors[::37]:
        assert built.search(probe, 5, 2.0) == plain.search(probe, 5, 2.0)


def test_an_index_is_retrained_when_doubled_until_it_has_every_list_a_new_one_would():
    assert not needs_retraining(1_900_000, 1_000_000, lists_for(1_000_000))
    assert needs_retraining(2_000_000, 1_000_000, lists_for(1_000_000))
    assert lists_for(5_000_000) == lists_for(20_000_000) == MAX_LISTS
    assert not needs_retraining(20_000_000, 5_000_000, MAX_LISTS)  # no second 20M index beside the first


def test_the_approximate_index_never_returns_a_removed_or_excluded_face(tmp_path: Path, monkeypatch):
    import rekog_compat.store.ann as module

    vectors = clustered(50, 8, seed=9)
    index = IvfIndex.train(vectors, len(vectors), nprobe=64)
    index.add(labels_for(len(vectors), start=0), vectors)
    index.remove(labels_for(100, start=0))  # tombstones
    monkeypatch.setattr(module, "PURGE_AT", 50)
    index.remove(labels_for(100, start=100))  # past PURGE_AT: taken out of the lists
    assert len(index) == 200 and 150 not in index and 300 in index
    for probe in vectors[:200:7]:
        assert all(label >= 200 for label, _ in index.search(probe, 20, 2.0))
    hits = index.search(vectors[300], 5, 2.0, exclude=300)
    assert len(hits) == 5 + module.RERANK_MARGIN and 300 not in [label for label, _ in hits]
    assert all(d <= 0.2 + module.CODE_TOLERANCE for _, d in index.search(vectors[300], 400, 0.2))

    index.remove(np.array([399]))  # a tombstone at write time does not come back with the file
    index.write(tmp_path / "ivf.faiss")
    again = IvfIndex.read(tmp_path / "ivf.faiss", nprobe=64)
    assert again.labels().tolist() == list(range(200, 399)) and len(again) == 199
    assert again.search(vectors[300], 5, 2.0, exclude=300) == [h for h in hits if h[0] != 399][: 5 + module.RERANK_MARGIN]


def test_the_approximate_index_counts_its_entries_through_merges_tombstones_and_purges(monkeypatch):
    import rekog_compat.store.ann as module

    monkeypatch.setattr(module, "MERGE_AT", 16)
    monkeypatch.setattr(module, "PURGE_AT", 40)
    vectors = clustered(40, 10, seed=13)
    index = IvfIndex.train(vectors, len(vectors), nprobe=16)
    live: set[int] = set()
    for start in range(0, 400, 10):  # adds merged into the sorted labels while removals are pending
        index.add(labels_for(10, start=start), vectors[start:start + 10])
        live |= set(range(start, start + 10))
        index.remove(np.array([start, start + 3]))
        live -= {start, start + 3}
        assert len(index) == len(live) and index.labels().tolist() == sorted(live)
    assert all(label in live for label, _ in index.search(vectors[0], 50, 2.0))
