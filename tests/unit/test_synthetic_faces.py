"""Synthetic faces for benchmarks: shaped like the real faces they are fitted to, stored once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rekog_compat.engine.embedding import unit_rows
from rekog_compat.seeding import FaceDistribution, RealFace, seed_collection
from rekog_compat.store import Scope, SqliteStore, StoredFace

SCOPE = Scope("123456789012", "us-east-1")


def fake_real_faces(people: int, photos: int, seed: int) -> list[RealFace]:
    """Stand-ins for engine output: tight clusters around a shared mean direction."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=128)
    faces = []
    for person in range(people):
        centre = mean + 0.6 * rng.normal(size=128)
        for photo in range(photos):
            vector = unit_rows((centre + 0.25 * rng.normal(size=128))[np.newaxis, :])[0]
            face = StoredFace(f"real-{person}-{photo}", f"img-{person}-{photo}", f"P{person}_{photo}",
                              (0.1, 0.1, 0.5, 0.5), 99.0, "1.0")
            faces.append(RealFace(f"P{person}", face, vector))
    return faces


def pair_distances(vectors: np.ndarray, owners: np.ndarray) -> tuple[float, float]:
    distances = 1.0 - vectors @ vectors.T
    same = owners[:, None] == owners[None, :]
    np.fill_diagonal(same, False)
    different = owners[:, None] != owners[None, :]
    return float(np.median(distances[same])), float(np.median(distances[different]))


def test_synthetic_faces_follow_the_spread_of_the_real_ones():
    real = fake_real_faces(people=60, photos=3, seed=1)
    vectors = np.stack([f.vector for f in real])
    owners = np.array([int(f.person[1:]) for f in real])
    real_same, real_different = pair_distances(vectors, owners)

    synthetic, identities = FaceDistribution.fit(real).sample(3000, np.random.default_rng(2))
    assert np.allclose(np.linalg.norm(synthetic, axis=1), 1.0, atol=1e-5)
    same, different = pair_distances(synthetic, identities)
    assert same < different
    assert real_same * 0.6 < same < real_same * 1.4
    assert real_different * 0.7 < different < real_different * 1.3


def test_fitting_needs_several_people_and_a_repeated_one():
    with pytest.raises(ValueError, match="at least 2 people"):
        FaceDistribution.fit(fake_real_faces(people=5, photos=1, seed=3))


def test_seeding_fills_the_collection_once(tmp_path: Path):
    store = SqliteStore(tmp_path)
    try:
        real = fake_real_faces(people=10, photos=2, seed=4)
        report = seed_collection(store, SCOPE, "big", 1000, "Dlib", real, batch=300)
        assert (report.real, report.synthetic) == (20, 980)
        assert store.get_collection(SCOPE, "big").face_count == 1000
        seed_collection(store, SCOPE, "big", 1000, "Dlib", real, batch=300)  # the same ids again
        assert store.get_collection(SCOPE, "big").face_count == 1000
        page = store.list_faces(SCOPE, "big", None, 1000)
        external = [f.external_image_id or "" for f in page.faces]
        assert external[:2] == ["P0_0", "P0_1"]
        assert sum(e.startswith("synthetic-") for e in external) == 980
    finally:
        store.close()


def test_seeding_without_real_faces_uses_the_default_spread(tmp_path: Path):
    store = SqliteStore(tmp_path)
    try:
        seed_collection(store, SCOPE, "plain", 600, "Dlib", [])
        hits = store.search_faces(SCOPE, "plain", store.get_face(SCOPE, "plain", store.list_faces(
            SCOPE, "plain", None, 1).faces[0].face_id)[1], 600, 2.0)
        assert len(hits) == 600 and hits[0][1] < 1e-5
    finally:
        store.close()
