"""The in-memory exact search index: same answers as a brute-force scan, through adds and removes."""

from __future__ import annotations

import numpy as np

from rekog_compat.engine.embedding import unit_rows
from rekog_compat.store.vectors import VectorIndex


def random_unit(count: int, seed: int, dims: int = 16) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).normal(size=(count, dims)))


def brute_force(ids: list[str], vectors: np.ndarray, probe: np.ndarray, limit: int, max_distance: float):
    distances = 1.0 - vectors @ probe
    order = [i for i in np.argsort(distances, kind="stable") if distances[i] <= max_distance][:limit]
    return [ids[i] for i in order]


def test_search_matches_brute_force_after_adds_and_removes():
    vectors = random_unit(500, seed=1)
    ids = [f"f{i}" for i in range(500)]
    index = VectorIndex()
    for start in range(0, 500, 37):  # grows through several doublings
        index.add(ids[start:start + 37], vectors[start:start + 37])
    removed = set(ids[::3])
    index.remove(sorted(removed) + ["never-there"])
    kept = [i for i, face_id in enumerate(ids) if face_id not in removed]
    assert len(index) == len(kept)
    for probe in random_unit(20, seed=2):
        expected = brute_force([ids[i] for i in kept], vectors[kept], probe, limit=10, max_distance=0.9)
        assert [face_id for face_id, _ in index.search(probe, 10, 0.9)] == expected


def test_search_respects_the_distance_bound_limit_and_exclusion():
    vectors = random_unit(50, seed=3)
    index = VectorIndex()
    index.add([f"f{i}" for i in range(50)], vectors)
    hits = index.search(vectors[7], 50, 2.0, exclude="f7")
    assert "f7" not in {face_id for face_id, _ in hits} and len(hits) == 49
    distances = [d for _, d in hits]
    assert distances == sorted(distances)
    assert index.search(vectors[7], 1, 2.0)[0][0] == "f7"
    assert all(d <= 0.5 for _, d in index.search(vectors[7], 50, 0.5))


def test_a_removed_face_is_gone_and_its_row_reused():
    index = VectorIndex()
    vectors = random_unit(3, seed=4)
    index.add(["a", "b", "c"], vectors)
    index.remove(["a"])
    assert "a" not in index and index.vector("a") is None
    assert np.allclose(index.vector("c"), vectors[2])
    index.add(["d"], vectors[:1])
    assert [face_id for face_id, _ in index.search(vectors[0], 1, 2.0)] == ["d"]


def test_an_empty_index_finds_nothing():
    assert VectorIndex().search(random_unit(1, seed=5)[0], 10, 2.0) == []
