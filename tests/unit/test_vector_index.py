"""The in-memory indexes: exact search gives the brute-force answer through adds and removes; the
approximate (faiss IVF) one finds the same nearest face almost always, and never a removed one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rekog_compat.engine.embedding import unit_rows
from rekog_compat.store.ann import IvfIndex, lists_for
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
    keys = [f"f{i}" for i in range(500)]
    labels = labels_for(500)
    index = VectorIndex()
    for start in range(0, 500, 37):  # grows several times
        index.add(keys[start:start + 37], labels[start:start + 37], vectors[start:start + 37])
    removed = set(keys[::3])
    index.remove(sorted(removed) + ["never-there"])
    kept = [i for i, key in enumerate(keys) if key not in removed]
    assert len(index) == len(kept)
    for probe in random_unit(20, seed=2):
        expected = brute_force(labels[kept], vectors[kept], probe, limit=10, max_distance=0.9)
        assert [label for label, _ in index.search(probe, 10, 0.9)] == expected


def test_exact_search_respects_the_distance_bound_limit_and_exclusion():
    vectors = random_unit(50, seed=3)
    index = VectorIndex()
    index.add([f"f{i}" for i in range(50)], labels_for(50, start=0), vectors)
    hits = index.search(vectors[7], 50, 2.0, exclude="f7")
    assert 7 not in {label for label, _ in hits} and len(hits) == 49
    distances = [d for _, d in hits]
    assert distances == sorted(distances)
    assert index.search(vectors[7], 1, 2.0)[0][0] == 7
    assert all(d <= 0.5 for _, d in index.search(vectors[7], 50, 0.5))


def test_a_removed_entry_is_gone_and_its_row_reused():
    index = VectorIndex()
    vectors = random_unit(3, seed=4)
    index.add(["a", "b", "c"], np.array([1, 2, 3]), vectors)
    index.remove(["a"])
    assert "a" not in index and len(index) == 2
    assert index.search(vectors[2], 1, 2.0) == [(3, index.search(vectors[2], 1, 2.0)[0][1])]
    index.add(["d"], np.array([4]), vectors[:1])
    assert [label for label, _ in index.search(vectors[0], 1, 2.0)] == [4]


def test_reserving_allocates_the_loaded_size_exactly():
    index = VectorIndex()
    index.reserve(1000, 16)
    index.add([f"f{i}" for i in range(1000)], labels_for(1000), random_unit(1000, seed=6))
    keys, labels, vectors = index.entries()
    assert vectors.shape == (1000, 16) and index._vectors.shape == (1000, 16)
    assert list(labels[:3]) == [1000, 1001, 1002] and keys[:2] == ["f0", "f1"]


def test_an_empty_index_finds_nothing():
    assert VectorIndex().search(random_unit(1, seed=5)[0], 10, 2.0) == []


def test_the_approximate_index_finds_the_exact_nearest_face_for_almost_every_probe():
    vectors = clustered(400, 10, seed=7)  # 4,000 faces of 400 people
    labels = labels_for(len(vectors))
    index = IvfIndex.train(vectors, nprobe=8)
    index.add([f"f{i}" for i in range(len(vectors))], labels, vectors)
    assert index.nlist == lists_for(len(vectors)) and len(index) == len(vectors)
    probes = unit_rows(vectors[::10] + 0.1 * np.random.default_rng(8).normal(size=vectors[::10].shape))
    agree = sum(
        index.search(probe, 1, 2.0)[0][0] == brute_force(labels, vectors, probe, 1, 2.0)[0] for probe in probes
    )
    assert agree / len(probes) >= 0.97
    distance = index.search(probes[0], 1, 2.0)[0][1]
    assert abs(distance - (1.0 - float(np.max(vectors @ probes[0])))) < 1e-5  # exact distances


def test_the_approximate_index_never_returns_a_removed_or_excluded_face(tmp_path: Path):
    vectors = clustered(50, 8, seed=9)
    keys = [f"f{i}" for i in range(len(vectors))]
    index = IvfIndex.train(vectors, nprobe=64)
    index.add(keys, labels_for(len(vectors), start=0), vectors)
    index.remove(keys[:200])
    assert len(index) == 200
    for probe in vectors[:200:7]:
        assert all(label >= 200 for label, _ in index.search(probe, 20, 2.0))
    hits = index.search(vectors[300], 5, 2.0, exclude="f300")
    assert len(hits) == 5 and 300 not in [label for label, _ in hits]
    assert all(d <= 0.2 for _, d in index.search(vectors[300], 400, 0.2))

    index.write(tmp_path / "ivf.faiss")
    again = IvfIndex.read(tmp_path / "ivf.faiss", nprobe=64)
    assert sorted(again.stored_labels().tolist()) == list(range(200, 400))
    again.name(keys[200:], labels_for(200, start=200))
    assert again.search(vectors[300], 5, 2.0, exclude="f300") == hits
