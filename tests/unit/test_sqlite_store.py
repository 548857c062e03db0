"""The SQLite store: schema versions and migrations, integrity, isolation."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rekog_compat.store import (
    Collection,
    CollectionExists,
    CollectionMissing,
    FaceMissing,
    Scope,
    SqliteStore,
    StoredFace,
    TooManyTags,
)
from rekog_compat.store.sqlite import DB_FILENAME, SCHEMA_VERSION, SchemaTooNew

SCOPE = Scope("123456789012", "us-east-1")


def collection(collection_id: str, scope: Scope = SCOPE) -> Collection:
    return Collection(scope, collection_id, f"arn:{collection_id}", "Dlib", 1.0)


def test_a_new_store_is_at_the_current_schema_version_with_wal(tmp_path):
    store = SqliteStore(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_data_and_the_secret(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("a"), {"k": "v"})
    secret = store.secret()
    store.close()
    again = SqliteStore(tmp_path)
    assert again.get_collection(SCOPE, "a").collection_id == "a"
    assert again.get_tags(SCOPE, "a") == {"k": "v"}
    assert again.secret() == secret


def test_a_store_written_by_a_newer_release_is_refused(tmp_path):
    SqliteStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew):
        SqliteStore(tmp_path)


def test_duplicate_and_missing_collections_raise(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("a"), {})
    with pytest.raises(CollectionExists):
        store.create_collection(collection("a"), {})
    with pytest.raises(CollectionMissing):
        store.get_collection(Scope("999999999999", "us-east-1"), "a")
    with pytest.raises(CollectionMissing):
        store.delete_collection(SCOPE, "b")


def test_tag_limit_is_enforced_atomically(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("a"), {"x": "1"})
    with pytest.raises(TooManyTags):
        store.set_tags(SCOPE, "a", {"y": "1", "z": "1"}, max_tags=2)
    assert store.get_tags(SCOPE, "a") == {"x": "1"}
    store.set_tags(SCOPE, "a", {"x": "2", "y": "1"}, max_tags=2)
    assert store.get_tags(SCOPE, "a") == {"x": "2", "y": "1"}


def test_listing_pages_by_creation_order(tmp_path):
    store = SqliteStore(tmp_path)
    for name in ("b", "a", "c"):
        store.create_collection(collection(name), {})
    first = store.list_collections(SCOPE, None, 2)
    assert [c.collection_id for c in first.collections] == ["b", "a"] and first.has_more
    second = store.list_collections(SCOPE, first.last_seq, 2)
    assert [c.collection_id for c in second.collections] == ["c"] and not second.has_more


def stored_face(face_id: str, external: str = "img", user: str | None = None) -> StoredFace:
    return StoredFace(face_id, "image-" + external, external, (0.1, 0.2, 0.3, 0.4), 99.0, "1.0", user)


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_faces_are_stored_once_counted_listed_and_deleted(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("c"), {})
    faces = [stored_face(f"face-{i}") for i in range(5)]
    vectors = np.stack([unit(i) for i in range(5)])
    assert store.add_faces(SCOPE, "c", faces, vectors) == faces
    assert store.add_faces(SCOPE, "c", faces[:2], vectors[:2]) == []  # duplicates: nothing new
    assert store.get_collection(SCOPE, "c").face_count == 5
    page = store.list_faces(SCOPE, "c", None, 3)
    assert [f.face_id for f in page.faces] == ["face-0", "face-1", "face-2"] and page.has_more
    rest = store.list_faces(SCOPE, "c", page.last_seq, 3)
    assert [f.face_id for f in rest.faces] == ["face-3", "face-4"] and not rest.has_more
    assert [f.face_id for f in store.list_faces(SCOPE, "c", None, 10, face_ids=["face-4", "x"]).faces] == ["face-4"]
    assert store.delete_faces(SCOPE, "c", ["face-1", "face-1", "missing"]) == (["face-1"], {})
    assert store.get_collection(SCOPE, "c").face_count == 4
    with pytest.raises(FaceMissing):
        store.get_face(SCOPE, "c", "face-1")
    face, vector = store.get_face(SCOPE, "c", "face-2")
    assert face == faces[2] and np.allclose(vector, vectors[2])


def test_search_index_is_rebuilt_from_disk_on_reopen(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("c"), {})
    vectors = np.stack([unit(i) for i in range(4)])
    store.add_faces(SCOPE, "c", [stored_face(f"face-{i}") for i in range(4)], vectors)
    store.delete_faces(SCOPE, "c", ["face-0"])
    store.close()
    again = SqliteStore(tmp_path)
    hits = again.search_faces(SCOPE, "c", vectors[2], 10, 2.0)
    assert [face.face_id for face, _ in hits][0] == "face-2"
    assert {face.face_id for face, _ in hits} == {"face-1", "face-2", "face-3"}
    excluded = again.search_faces(SCOPE, "c", vectors[2], 10, 2.0, exclude_face_id="face-2")
    assert {face.face_id for face, _ in excluded} == {"face-1", "face-3"}


def test_deleting_a_collection_deletes_its_faces(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("c"), {})
    store.add_faces(SCOPE, "c", [stored_face("f")], np.stack([unit(0)]))
    store.search_faces(SCOPE, "c", unit(0), 1, 2.0)  # load the index
    store.delete_collection(SCOPE, "c")
    store.create_collection(collection("c"), {})
    assert store.get_collection(SCOPE, "c").face_count == 0
    assert store.search_faces(SCOPE, "c", unit(0), 1, 2.0) == []


def test_a_data_dir_of_the_first_release_is_migrated_keeping_its_collections(tmp_path):
    from rekog_compat.store.sqlite import MIGRATIONS

    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO collections (account, region, collection_id, arn, face_model_version, created_at)"
        " VALUES (?, ?, 'old', 'arn:old', 'Dlib', 1.0)",
        (SCOPE.account, SCOPE.region),
    )
    conn.commit()
    conn.close()
    store = SqliteStore(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get_collection(SCOPE, "old").face_count == 0
    store.add_faces(SCOPE, "old", [stored_face("f")], np.stack([unit(0)]))
    assert store.get_collection(SCOPE, "old").face_count == 1


def test_a_users_vector_is_the_normalised_mean_of_its_faces_and_survives_reopen(tmp_path):
    from rekog_compat.store import UserExists

    store = SqliteStore(tmp_path)
    store.create_collection(collection("c"), {})
    vectors = np.stack([unit(i) for i in range(3)])
    store.add_faces(SCOPE, "c", [stored_face(f"face-{i}") for i in range(3)], vectors)
    store.create_user(SCOPE, "c", "u")
    with pytest.raises(UserExists):
        store.create_user(SCOPE, "c", "u")
    result = store.associate_faces(SCOPE, "c", "u", ["face-0", "face-1", "nope"], max_distance=2.0, max_faces=100)
    assert result.changed == ["face-0", "face-1"] and result.face_count == 2
    assert [(r.face_id, r.reason) for r in result.refused] == [("nope", "FACE_NOT_FOUND")]
    expected = (vectors[0] + vectors[1]) / np.linalg.norm(vectors[0] + vectors[1])
    assert np.allclose(store.user_vector(SCOPE, "c", "u"), expected, atol=1e-6)
    store.close()
    again = SqliteStore(tmp_path)
    assert np.allclose(again.user_vector(SCOPE, "c", "u"), expected, atol=1e-6)
    assert [(u.user_id, u.face_count) for u, _ in again.search_users(SCOPE, "c", expected, 5, 0.01)] == [("u", 2)]
    assert again.get_collection(SCOPE, "c").user_count == 1
    assert again.delete_faces(SCOPE, "c", ["face-0", "face-2"]) == (["face-2"], {"face-0": "u"})


def test_an_association_too_far_from_the_user_is_refused(tmp_path):
    store = SqliteStore(tmp_path)
    store.create_collection(collection("c"), {})
    near = unit(0)
    far = -near
    store.add_faces(SCOPE, "c", [stored_face("seed"), stored_face("far")], np.stack([near, far]))
    store.create_user(SCOPE, "c", "u")
    result = store.associate_faces(SCOPE, "c", "u", ["seed", "far"], max_distance=0.5, max_faces=100)
    assert result.changed == ["seed"]
    assert result.refused[0].reason == "LOW_MATCH_CONFIDENCE" and result.refused[0].distance == pytest.approx(2.0)
