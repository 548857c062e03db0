"""The store backends: every behaviour of the Store protocol, on SQLite and on PostgreSQL + pgvector alike.

`store_factory` opens a store on one backing storage (a data dir; a fresh PostgreSQL database), so a
test can open it again ("reopen", or a second process). The SQLite-only tests (WAL, schema file,
first-release migration) and the PostgreSQL-only ones (schema in `meta`, two processes, HNSW,
concurrent writers) follow the shared ones.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from harness.postgres import fresh_database
from rekog_compat.store import (
    Collection,
    CollectionExists,
    CollectionMissing,
    FaceMissing,
    Scope,
    SqliteStore,
    StoredFace,
    TooManyFaces,
    TooManyTags,
    UserExists,
    UserMissing,
    open_store,
)
from rekog_compat.store.rules import SchemaTooNew
from rekog_compat.store.sqlite import DB_FILENAME, SCHEMA_VERSION

SCOPE = Scope("123456789012", "us-east-1")
StoreFactory = Callable[..., Any]  # the store_factory fixture (conftest.py)


def collection(collection_id: str, scope: Scope = SCOPE) -> Collection:
    return Collection(scope, collection_id, f"arn:{collection_id}", "Dlib", 1.0)


def stored_face(face_id: str, external: str = "img", user: str | None = None) -> StoredFace:
    return StoredFace(face_id, "image-" + external, external, (0.1, 0.2, 0.3, 0.4), 99.0, "1.0", user)


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def planar(degrees: float) -> np.ndarray:
    """A unit vector at `degrees` from e0 in the (e0, e1) plane: cosine distances are 1 - cos(angle)."""
    vector = np.zeros(128, dtype=np.float32)
    vector[0], vector[1] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return vector


# -- shared behaviour: both backends ------------------------------------------------


def test_reopening_keeps_data_and_the_secret(store_factory):
    store = store_factory()
    store.create_collection(collection("a"), {"k": "v"})
    secret = store.secret()
    assert len(secret) == 32
    store.close()
    again = store_factory()
    assert again.get_collection(SCOPE, "a").collection_id == "a"
    assert again.get_tags(SCOPE, "a") == {"k": "v"}
    assert again.secret() == secret


def test_duplicate_and_missing_collections_raise(store):
    store.create_collection(collection("a"), {})
    with pytest.raises(CollectionExists):
        store.create_collection(collection("a"), {})
    with pytest.raises(CollectionMissing):
        store.get_collection(Scope("999999999999", "us-east-1"), "a")
    with pytest.raises(CollectionMissing):
        store.delete_collection(SCOPE, "b")
    for call in (store.get_tags, lambda s, c: store.list_faces(s, c, None, 10), lambda s, c: store.get_user(s, c, "u")):
        with pytest.raises(CollectionMissing):
            call(SCOPE, "b")


def test_tag_limit_is_enforced_atomically(store):
    store.create_collection(collection("a"), {"x": "1"})
    with pytest.raises(TooManyTags):
        store.set_tags(SCOPE, "a", {"y": "1", "z": "1"}, max_tags=2)
    assert store.get_tags(SCOPE, "a") == {"x": "1"}
    store.set_tags(SCOPE, "a", {"x": "2", "y": "1"}, max_tags=2)
    assert store.get_tags(SCOPE, "a") == {"x": "2", "y": "1"}
    store.remove_tags(SCOPE, "a", ["x", "absent"])
    assert store.get_tags(SCOPE, "a") == {"y": "1"}


def test_listing_pages_by_creation_order_within_a_scope(store):
    for name in ("b", "a", "c"):
        store.create_collection(collection(name), {})
    store.create_collection(collection("other", Scope("111122223333", "us-east-1")), {})
    first = store.list_collections(SCOPE, None, 2)
    assert [c.collection_id for c in first.collections] == ["b", "a"] and first.has_more
    second = store.list_collections(SCOPE, first.last_seq, 2)
    assert [c.collection_id for c in second.collections] == ["c"] and not second.has_more
    assert store.list_collections(SCOPE, second.last_seq, 2).collections == []
    assert store.count_collections() == 4
    assert store.list_collections(Scope("123456789012", "eu-west-1"), None, 10).collections == []


def test_faces_are_stored_once_counted_listed_and_deleted(store):
    store.create_collection(collection("c"), {})
    faces = [stored_face(f"face-{i}") for i in range(5)]
    vectors = np.stack([unit(i) for i in range(5)])
    assert store.add_faces(SCOPE, "c", faces, vectors) == faces
    assert store.add_faces(SCOPE, "c", faces[:2], vectors[:2]) == []  # duplicates: nothing new
    again = [stored_face("face-5"), stored_face("face-5")]
    assert store.add_faces(SCOPE, "c", again, np.stack([unit(5), unit(5)])) == again[:1]  # once within a call
    assert store.get_collection(SCOPE, "c").face_count == 6
    page = store.list_faces(SCOPE, "c", None, 3)
    assert [f.face_id for f in page.faces] == ["face-0", "face-1", "face-2"] and page.has_more
    rest = store.list_faces(SCOPE, "c", page.last_seq, 3)
    assert [f.face_id for f in rest.faces] == ["face-3", "face-4", "face-5"] and not rest.has_more
    assert [f.face_id for f in store.list_faces(SCOPE, "c", None, 10, face_ids=["face-4", "x"]).faces] == ["face-4"]
    assert store.list_faces(SCOPE, "c", None, 10, face_ids=[]).faces == []
    assert store.delete_faces(SCOPE, "c", ["face-1", "face-1", "missing"]) == (["face-1"], {})
    assert store.get_collection(SCOPE, "c").face_count == 5
    with pytest.raises(FaceMissing):
        store.get_face(SCOPE, "c", "face-1")
    face, vector = store.get_face(SCOPE, "c", "face-2")
    assert face == faces[2] and vector.dtype == np.float32 and np.array_equal(vector, vectors[2])


def test_search_is_exact_closest_first_within_the_distance(store):
    store.create_collection(collection("c"), {})
    assert store.search_faces(SCOPE, "c", planar(0), 5, 2.0) == []  # empty collection
    angles = [0, 10, 20, 30, 60, 90, 180]
    store.add_faces(SCOPE, "c", [stored_face(f"a{a}") for a in angles], np.stack([planar(a) for a in angles]))
    hits = store.search_faces(SCOPE, "c", planar(12), 3, 2.0)
    assert [f.face_id for f, _ in hits] == ["a10", "a20", "a0"]
    assert [d for _, d in hits] == pytest.approx([1 - np.cos(np.radians(x)) for x in (2, 8, 12)], abs=1e-6)
    within = store.search_faces(SCOPE, "c", planar(0), 10, 1 - np.cos(np.radians(35)))
    assert [f.face_id for f, _ in within] == ["a0", "a10", "a20", "a30"]
    assert [f.face_id for f, _ in store.search_faces(SCOPE, "c", planar(0), 2, 2.0, exclude_face_id="a0")] == [
        "a10", "a20"]
    assert store.search_faces(SCOPE, "c", planar(45), 5, 0.01) == []


def test_search_index_is_rebuilt_from_disk_on_reopen(store_factory):
    store = store_factory()
    store.create_collection(collection("c"), {})
    vectors = np.stack([unit(i) for i in range(4)])
    store.add_faces(SCOPE, "c", [stored_face(f"face-{i}") for i in range(4)], vectors)
    store.delete_faces(SCOPE, "c", ["face-0"])
    store.close()
    again = store_factory()
    hits = again.search_faces(SCOPE, "c", vectors[2], 10, 2.0)
    assert [face.face_id for face, _ in hits][0] == "face-2"
    assert {face.face_id for face, _ in hits} == {"face-1", "face-2", "face-3"}
    excluded = again.search_faces(SCOPE, "c", vectors[2], 10, 2.0, exclude_face_id="face-2")
    assert {face.face_id for face, _ in excluded} == {"face-1", "face-3"}


def test_deleting_a_collection_deletes_its_faces_users_and_tags(store):
    store.create_collection(collection("c"), {"k": "v"})
    store.add_faces(SCOPE, "c", [stored_face("f")], np.stack([unit(0)]))
    store.create_user(SCOPE, "c", "u")
    store.associate_faces(SCOPE, "c", "u", ["f"], 2.0, 100)
    store.search_faces(SCOPE, "c", unit(0), 1, 2.0)  # load the index
    store.delete_collection(SCOPE, "c")
    with pytest.raises(CollectionMissing):
        store.get_collection(SCOPE, "c")
    store.create_collection(collection("c"), {})
    assert store.get_collection(SCOPE, "c").face_count == 0
    assert store.get_collection(SCOPE, "c").user_count == 0
    assert store.get_tags(SCOPE, "c") == {}
    assert store.search_faces(SCOPE, "c", unit(0), 1, 2.0) == []
    assert store.search_users(SCOPE, "c", unit(0), 1, 2.0) == []


def test_a_users_vector_is_the_normalised_mean_of_its_faces_and_survives_reopen(store_factory):
    store = store_factory()
    store.create_collection(collection("c"), {})
    vectors = np.stack([unit(i) for i in range(3)])
    store.add_faces(SCOPE, "c", [stored_face(f"face-{i}") for i in range(3)], vectors)
    store.create_user(SCOPE, "c", "u")
    with pytest.raises(UserExists):
        store.create_user(SCOPE, "c", "u")
    assert store.user_vector(SCOPE, "c", "u") is None
    result = store.associate_faces(SCOPE, "c", "u", ["face-0", "face-1", "nope"], max_distance=2.0, max_faces=100)
    assert result.changed == ["face-0", "face-1"] and result.face_count == 2
    assert [(r.face_id, r.reason) for r in result.refused] == [("nope", "FACE_NOT_FOUND")]
    expected = (vectors[0] + vectors[1]) / np.linalg.norm(vectors[0] + vectors[1])
    assert np.allclose(store.user_vector(SCOPE, "c", "u"), expected, atol=1e-6)
    store.close()
    again = store_factory()
    assert np.allclose(again.user_vector(SCOPE, "c", "u"), expected, atol=1e-6)
    assert [(u.user_id, u.face_count) for u, _ in again.search_users(SCOPE, "c", expected, 5, 0.01)] == [("u", 2)]
    assert again.get_collection(SCOPE, "c").user_count == 1
    assert again.delete_faces(SCOPE, "c", ["face-0", "face-2"]) == (["face-2"], {"face-0": "u"})


def test_an_association_too_far_from_the_user_is_refused(store):
    store.create_collection(collection("c"), {})
    near = unit(0)
    far = -near
    store.add_faces(SCOPE, "c", [stored_face("seed"), stored_face("far")], np.stack([near, far]))
    store.create_user(SCOPE, "c", "u")
    result = store.associate_faces(SCOPE, "c", "u", ["seed", "far"], max_distance=0.5, max_faces=100)
    assert result.changed == ["seed"]
    assert result.refused[0].reason == "LOW_MATCH_CONFIDENCE" and result.refused[0].distance == pytest.approx(2.0)


def test_low_match_confidence_is_judged_against_the_user_vector_as_it_grows_within_the_call(store):
    store.create_collection(collection("c"), {})
    store.add_faces(SCOPE, "c", [stored_face(f"a{a}") for a in (0, 30, 60)], np.stack([planar(a) for a in (0, 30, 60)]))
    limit = 0.3  # 60 degrees from the first face (0.5) is too far; from the mean of 0 and 30 (45 deg: 0.29) it is not
    cases = (("skips", ["a0", "a60"], ["a0"]), ("grows", ["a0", "a30", "a60"], ["a0", "a30", "a60"]))
    for user, faces, changed in cases:
        store.create_user(SCOPE, "c", user)
        result = store.associate_faces(SCOPE, "c", user, faces, max_distance=limit, max_faces=100)
        assert result.changed == changed, user
        store.disassociate_faces(SCOPE, "c", user, changed)
    refused = store.associate_faces(SCOPE, "c", "skips", ["a0", "a60"], max_distance=limit, max_faces=100).refused
    assert refused[0].distance == pytest.approx(0.5, abs=1e-6)


def test_association_rules_refusals_limits_and_disassociation(store):
    store.create_collection(collection("c"), {})
    store.add_faces(SCOPE, "c", [stored_face(f"f{i}") for i in range(5)], np.stack([planar(i) for i in range(5)]))
    for user in ("u1", "u2"):
        store.create_user(SCOPE, "c", user)
    with pytest.raises(UserMissing):
        store.associate_faces(SCOPE, "c", "nobody", ["f0"], 2.0, 100)
    assert store.associate_faces(SCOPE, "c", "u1", ["f0", "f1", "f0"], 2.0, 100).changed == ["f0", "f1"]
    again = store.associate_faces(SCOPE, "c", "u1", ["f1"], 2.0, 100)  # already its own: ignored
    assert again.changed == [] and again.refused == [] and again.face_count == 2
    other = store.associate_faces(SCOPE, "c", "u2", ["f1", "f2"], 2.0, 100)
    assert other.changed == ["f2"] and other.face_count == 1
    assert [(r.face_id, r.reason, r.user_id) for r in other.refused] == [("f1", "ASSOCIATED_TO_A_DIFFERENT_USER", "u1")]
    # Too many faces: the whole call is refused and nothing changes.
    with pytest.raises(TooManyFaces):
        store.associate_faces(SCOPE, "c", "u1", ["f3", "f4"], 2.0, 3)
    assert store.get_user(SCOPE, "c", "u1").face_count == 2
    assert store.list_faces(SCOPE, "c", None, 10, face_ids=["f3"]).faces[0].user_id is None
    assert [f.face_id for f in store.list_faces(SCOPE, "c", None, 10, user_id="u1").faces] == ["f0", "f1"]
    # Disassociation: FACE_NOT_FOUND, another user's face, a free face (ignored), its own.
    out = store.disassociate_faces(SCOPE, "c", "u1", ["nope", "f2", "f3", "f0"])
    assert out.changed == ["f0"] and out.face_count == 1
    assert [(r.face_id, r.reason, r.user_id) for r in out.refused] == [
        ("nope", "FACE_NOT_FOUND", None), ("f2", "ASSOCIATED_TO_A_DIFFERENT_USER", "u2")]
    assert np.allclose(store.user_vector(SCOPE, "c", "u1"), planar(1), atol=1e-6)
    assert store.disassociate_faces(SCOPE, "c", "u1", ["f1"]).face_count == 0
    assert store.user_vector(SCOPE, "c", "u1") is None
    assert store.get_user(SCOPE, "c", "u1").face_count == 0
    with pytest.raises(UserMissing):
        store.disassociate_faces(SCOPE, "c", "nobody", ["f0"])
    with pytest.raises(UserMissing):
        store.user_vector(SCOPE, "c", "nobody")


def test_deleting_a_user_frees_its_faces(store):
    store.create_collection(collection("c"), {})
    store.add_faces(SCOPE, "c", [stored_face("f0"), stored_face("f1")], np.stack([planar(0), planar(5)]))
    store.create_user(SCOPE, "c", "u")
    store.associate_faces(SCOPE, "c", "u", ["f0", "f1"], 2.0, 100)
    assert store.delete_faces(SCOPE, "c", ["f0"]) == ([], {"f0": "u"})
    store.delete_user(SCOPE, "c", "u")
    with pytest.raises(UserMissing):
        store.get_user(SCOPE, "c", "u")
    with pytest.raises(UserMissing):
        store.delete_user(SCOPE, "c", "u")
    assert store.search_users(SCOPE, "c", planar(0), 5, 2.0) == []
    assert all(f.user_id is None for f in store.list_faces(SCOPE, "c", None, 10).faces)
    assert store.delete_faces(SCOPE, "c", ["f0"]) == (["f0"], {})
    store.create_user(SCOPE, "c", "u")  # the id can be used again, from nothing
    assert store.get_user(SCOPE, "c", "u").face_count == 0


def test_users_are_listed_in_pages_and_searched_by_their_vectors(store):
    store.create_collection(collection("c"), {})
    angles = {"east": 0, "north": 90, "west": 180}
    store.add_faces(SCOPE, "c", [stored_face(n) for n in angles], np.stack([planar(a) for a in angles.values()]))
    for name in ("west", "east", "north", "empty"):
        store.create_user(SCOPE, "c", name)
        if name != "empty":
            store.associate_faces(SCOPE, "c", name, [name], 2.0, 100)
    first = store.list_users(SCOPE, "c", None, 3)
    assert [(u.user_id, u.face_count) for u in first.users] == [("west", 1), ("east", 1), ("north", 1)]
    assert first.has_more
    rest = store.list_users(SCOPE, "c", first.last_seq, 3)
    assert [(u.user_id, u.face_count) for u in rest.users] == [("empty", 0)] and not rest.has_more
    hits = store.search_users(SCOPE, "c", planar(30), 5, 2.0)
    assert [u.user_id for u, _ in hits] == ["east", "north", "west"]  # a user without faces has no vector
    assert [d for _, d in hits] == pytest.approx([1 - np.cos(np.radians(a)) for a in (30, 60, 150)], abs=1e-6)
    assert [u.user_id for u, _ in store.search_users(SCOPE, "c", planar(30), 1, 2.0, exclude_user_id="east")] == [
        "north"]
    assert [u.user_id for u, _ in store.search_users(SCOPE, "c", planar(30), 5, 0.4)] == ["east"]


def test_idempotency_keeps_the_first_response_for_24_hours(store, monkeypatch):
    assert store.recall_response(SCOPE, "IndexFaces", "t") is None
    store.remember_response(SCOPE, "IndexFaces", "t", "fp1", '{"a": 1}')
    store.remember_response(SCOPE, "IndexFaces", "t", "fp2", '{"a": 2}')  # the first one wins
    assert store.recall_response(SCOPE, "IndexFaces", "t") == ("fp1", '{"a": 1}')
    assert store.recall_response(SCOPE, "CreateUser", "t") is None
    assert store.recall_response(Scope("111122223333", "us-east-1"), "IndexFaces", "t") is None
    later = time.time() + 24 * 3600 + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.recall_response(SCOPE, "IndexFaces", "t") is None  # expired
    store.remember_response(SCOPE, "IndexFaces", "t", "fp3", '{"a": 3}')  # a new window
    assert store.recall_response(SCOPE, "IndexFaces", "t") == ("fp3", '{"a": 3}')


# -- SQLite only ------------------------------------------------------------------------


def test_a_new_sqlite_store_is_at_the_current_schema_version_with_wal(tmp_path):
    store = SqliteStore(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_sqlite_store_written_by_a_newer_release_is_refused(tmp_path):
    SqliteStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew):
        SqliteStore(tmp_path)


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


def test_open_store_names_the_backends(tmp_path):
    assert isinstance(open_store(None, str(tmp_path)), SqliteStore)
    assert isinstance(open_store("sqlite", str(tmp_path)), SqliteStore)
    with pytest.raises(ValueError, match="Unsupported store"):
        open_store("mysql://x", str(tmp_path))


# -- PostgreSQL only -------------------------------------------------------------------


@pytest.fixture
def pg_url(postgres_server_url: str) -> Iterator[str]:
    with fresh_database(postgres_server_url) as url:
        yield url


def pg_store(url: str, **kwargs: Any) -> Any:
    from rekog_compat.store.postgres import PostgresStore

    return PostgresStore(url, **kwargs)


def test_a_new_postgres_store_records_its_schema_and_refuses_a_newer_one(pg_url):
    import psycopg

    from rekog_compat.store import postgres

    store = open_store(pg_url, "unused")
    assert isinstance(store, postgres.PostgresStore)
    assert store.schema_version() == postgres.SCHEMA_VERSION
    assert "vector" in {r[0] for r in psycopg.connect(pg_url).execute("SELECT extname FROM pg_extension")}
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        newer = str(postgres.SCHEMA_VERSION + 1).encode()
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (newer,))
    with pytest.raises(SchemaTooNew):
        pg_store(pg_url)


def test_the_description_hides_the_password_and_an_unreachable_server_is_a_clear_error():
    from rekog_compat.store.postgres import StoreUnavailable, redact

    assert redact("postgresql://me:s3cret@db.example:5433/rekog?sslmode=require") == (
        "postgresql://me@db.example:5433/rekog?sslmode=require")
    with pytest.raises(StoreUnavailable, match="cannot use the PostgreSQL store at postgresql://me@127.0.0.1:1/x"):
        pg_store("postgresql://me:s3cret@127.0.0.1:1/x?connect_timeout=2")


def test_two_processes_on_one_database_see_each_others_writes_at_once(pg_url):
    one, two = pg_store(pg_url), pg_store(pg_url)
    try:
        assert one.secret() == two.secret()
        one.create_collection(collection("shared"), {})
        assert [c.collection_id for c in two.list_collections(SCOPE, None, 10).collections] == ["shared"]
        vectors = np.stack([unit(i) for i in range(3)])
        one.add_faces(SCOPE, "shared", [stored_face(f"f{i}") for i in range(3)], vectors)
        hits = two.search_faces(SCOPE, "shared", vectors[1], 1, 0.1)  # indexed in one, searched in the other
        assert [(f.face_id, round(d, 5)) for f, d in hits] == [("f1", 0.0)]
        two.create_user(SCOPE, "shared", "u")
        two.associate_faces(SCOPE, "shared", "u", ["f0"], 2.0, 100)
        assert [u.user_id for u, _ in one.search_users(SCOPE, "shared", vectors[0], 1, 0.1)] == ["u"]
        assert one.delete_faces(SCOPE, "shared", ["f0", "f2"]) == (["f2"], {"f0": "u"})
        assert two.search_faces(SCOPE, "shared", vectors[2], 5, 0.1) == []
        assert two.get_collection(SCOPE, "shared").face_count == 2
        one.delete_collection(SCOPE, "shared")
        with pytest.raises(CollectionMissing):
            two.search_faces(SCOPE, "shared", vectors[0], 1, 2.0)
    finally:
        one.close()
        two.close()


def test_concurrent_writers_in_two_processes_lose_nothing_and_page_in_commit_order(pg_url):
    stores = [pg_store(pg_url), pg_store(pg_url)]
    try:
        stores[0].create_collection(collection("busy"), {})
        errors: list[BaseException] = []

        def writer(index: int) -> None:
            try:
                store = stores[index % 2]
                for batch in range(5):
                    ids = [f"w{index}-{batch}-{i}" for i in range(4)]
                    store.add_faces(SCOPE, "busy", [stored_face(f) for f in ids],
                                    np.stack([unit(hash(f) % 10_000) for f in ids]))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert stores[1].get_collection(SCOPE, "busy").face_count == 6 * 5 * 4
        seen, after = [], None
        while True:
            page = stores[1].list_faces(SCOPE, "busy", after, 7)
            seen += [f.face_id for f in page.faces]
            after = page.last_seq
            if not page.has_more:
                break
        assert len(seen) == len(set(seen)) == 120
    finally:
        for store in stores:
            store.close()


def test_one_face_associated_concurrently_to_two_users_goes_to_exactly_one(pg_url):
    one, two = pg_store(pg_url), pg_store(pg_url)
    try:
        one.create_collection(collection("c"), {})
        one.add_faces(SCOPE, "c", [stored_face("f")], np.stack([unit(0)]))
        for user in ("a", "b"):
            one.create_user(SCOPE, "c", user)
        results: dict[str, Any] = {}
        barrier = threading.Barrier(2)

        def associate(store: Any, user: str) -> None:
            barrier.wait()
            results[user] = store.associate_faces(SCOPE, "c", user, ["f"], 2.0, 100)

        threads = [threading.Thread(target=associate, args=(s, u)) for s, u in ((one, "a"), (two, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [u for u, r in results.items() if r.changed == ["f"]]
        assert len(winners) == 1
        loser = "b" if winners == ["a"] else "a"
        refusals = [(r.reason, r.user_id) for r in results[loser].refused]
        assert refusals == [("ASSOCIATED_TO_A_DIFFERENT_USER", winners[0])]
        assert one.get_user(SCOPE, "c", loser).face_count == 0
    finally:
        one.close()
        two.close()


def test_processes_opening_a_new_database_at_once_migrate_it_once(pg_url):
    stores: list[Any] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(pg_store(pg_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == [] and len(stores) == 4
        assert len({s.secret() for s in stores}) == 1
    finally:
        for store in stores:
            store.close()


def test_a_large_collection_gets_an_hnsw_index_that_its_searches_use(pg_url):
    import psycopg
    from pgvector.psycopg import register_vector

    from rekog_compat.store.postgres.hnsw import hnsw_name, search_query, use_exact, use_index
    from rekog_compat.store.postgres.rows import target

    store = pg_store(pg_url, hnsw_min_faces=40)
    try:
        store.create_collection(collection("big"), {})
        store.create_collection(collection("small"), {})
        vectors = np.stack([unit(i) for i in range(60)])
        faces = [stored_face(f"f{i}") for i in range(60)]
        store.add_faces(SCOPE, "big", faces[:30], vectors[:30])
        store.add_faces(SCOPE, "small", faces[:30], vectors[:30])
        with psycopg.connect(pg_url) as conn:
            register_vector(conn)

            def indexes() -> set[str]:
                return {r[0] for r in conn.execute("SELECT indexrelid::regclass::text FROM pg_index"
                                                   " WHERE indexrelid::regclass::text LIKE 'faces_hnsw_%'")}

            assert indexes() == set()  # below the size: none
            store.add_faces(SCOPE, "big", faces[30:], vectors[30:])
            big = target(conn, SCOPE, "big")
            assert indexes() == {hnsw_name(big.seq)}
            # The search query, as the store plans it for this collection, scans the index.
            with conn.transaction():
                use_index(conn, 40)
                plan = "\n".join(r[0] for r in conn.execute(
                    b"EXPLAIN " + search_query(big, False).as_bytes(conn),
                    {"probe": vectors[0], "limit": 5, "max_distance": 2.0, "exclude": None}))
            assert f"Index Scan using {hnsw_name(big.seq)}" in plan
            # Below the size (after deletes), the same query is exact.
            with conn.transaction():
                use_exact(conn)
                plan = "\n".join(r[0] for r in conn.execute(
                    b"EXPLAIN " + search_query(big, False).as_bytes(conn),
                    {"probe": vectors[0], "limit": 5, "max_distance": 2.0, "exclude": None}))
            assert "hnsw" not in plan
        for i in (0, 17, 45, 59):
            hits = store.search_faces(SCOPE, "big", vectors[i], 3, 2.0)
            assert hits[0][0].face_id == f"f{i}" and hits[0][1] == pytest.approx(0.0, abs=1e-6)
            assert [f.face_id for f, _ in store.search_faces(SCOPE, "big", vectors[i], 3, 2.0, f"f{i}")][0] != f"f{i}"
        store.delete_collection(SCOPE, "big")
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT to_regclass(%s)", (hnsw_name(big.seq),)).fetchone() == (None,)
    finally:
        store.close()


def test_vectors_of_another_size_are_refused(pg_url):
    store = pg_store(pg_url)
    try:
        store.create_collection(collection("c"), {})
        store.add_faces(SCOPE, "c", [stored_face("f")], np.stack([unit(0)]))
        with pytest.raises(ValueError, match="512-d vectors in a 128-d collection"):
            store.add_faces(SCOPE, "c", [stored_face("g")], np.ones((1, 512), dtype=np.float32) / np.sqrt(512))
        with pytest.raises(ValueError):
            store.search_faces(SCOPE, "c", np.ones(512, dtype=np.float32), 1, 2.0)
        store.delete_faces(SCOPE, "c", ["f"])  # an emptied collection takes the size of its next face
        wide = np.ones((1, 512), dtype=np.float32) / np.sqrt(512)
        assert len(store.add_faces(SCOPE, "c", [stored_face("g")], wide)) == 1
        assert store.search_faces(SCOPE, "c", wide[0], 1, 0.01)[0][0].face_id == "g"
    finally:
        store.close()


def test_an_hnsw_search_with_more_matches_than_candidates_widens_until_it_has_them_all(pg_url, monkeypatch):
    from rekog_compat.store.postgres import hnsw

    store = pg_store(pg_url, hnsw_min_faces=100)
    try:
        store.create_collection(collection("crowd"), {})
        rng = np.random.default_rng(7)
        near = planar(0) + rng.normal(scale=0.02, size=(250, 128)).astype(np.float32)
        near /= np.linalg.norm(near, axis=1, keepdims=True)
        far = np.stack([planar(90 + i % 90) for i in range(60)])
        ids = [f"near{i}" for i in range(250)] + [f"far{i}" for i in range(60)]
        store.add_faces(SCOPE, "crowd", [stored_face(f) for f in ids], np.concatenate([near, far]))
        tries: list[int] = []
        use_index = hnsw.use_index
        monkeypatch.setattr(hnsw, "use_index", lambda conn, ef_search: (tries.append(ef_search), use_index(conn, ef_search)))
        hits = store.search_faces(SCOPE, "crowd", planar(0), 4096, 0.2)  # MaxFaces' default
        assert {f.face_id for f, _ in hits} == {f"near{i}" for i in range(250)}
        assert tries == [40, 200, 1000]  # 40 and 200 candidates all matched: widened
        distances = [d for _, d in hits]
        assert distances == sorted(distances)
        assert len(store.search_faces(SCOPE, "crowd", planar(0), 100, 0.2, exclude_face_id="near0")) == 100
        assert [f.face_id for f, _ in store.search_faces(SCOPE, "crowd", planar(95), 5, 0.2)][:1] == ["far5"]
    finally:
        store.close()


def test_a_bulk_load_builds_its_hnsw_index_once_at_the_end(pg_url):
    import psycopg

    from rekog_compat.store.postgres.hnsw import hnsw_name
    from rekog_compat.store.postgres.rows import target

    store = pg_store(pg_url, hnsw_min_faces=40)
    try:
        store.create_collection(collection("bulk"), {})
        vectors = np.stack([unit(i) for i in range(60)])
        faces = [stored_face(f"f{i}") for i in range(60)]
        for start in (0, 30):
            store.add_faces(SCOPE, "bulk", faces[start:start + 30], vectors[start:start + 30], defer_index=True)
        with psycopg.connect(pg_url, autocommit=True) as conn:  # no open transaction: CONCURRENTLY waits for none
            seq = target(conn, SCOPE, "bulk").seq
            exists = "SELECT to_regclass(%s) IS NOT NULL"
            assert conn.execute(exists, (hnsw_name(seq),)).fetchone() == (False,)
            store.build_search_index(SCOPE, "bulk")
            assert conn.execute(exists, (hnsw_name(seq),)).fetchone() == (True,)
        assert store.search_faces(SCOPE, "bulk", vectors[45], 1, 2.0)[0][0].face_id == "f45"
    finally:
        store.close()
