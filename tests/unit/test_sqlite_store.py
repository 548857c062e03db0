"""The SQLite store: schema versions and migrations, integrity, isolation."""

from __future__ import annotations

import sqlite3

import pytest

from rekog_compat.store import Collection, CollectionExists, CollectionMissing, Scope, SqliteStore, TooManyTags
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
