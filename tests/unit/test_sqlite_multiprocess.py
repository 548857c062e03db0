"""Two server processes on one SQLite store: each one's searches follow the other's writes."""

from __future__ import annotations

import numpy as np

from rekog_compat.store import Collection, Scope, SqliteStore, StoredFace
from rekog_compat.store.sqlite import changes

SCOPE = Scope("123456789012", "us-east-1")


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def face(face_id: str) -> StoredFace:
    return StoredFace(face_id, "image", "ext", (0.1, 0.1, 0.2, 0.2), 99.0, "1.0")


def found(store: SqliteStore, probe: np.ndarray) -> list[str]:
    return [f.face_id for f, _ in store.search_faces(SCOPE, "c", probe, 10, 0.01)]


def test_writes_of_one_process_are_seen_by_the_next_search_of_another(tmp_path):
    a, b = SqliteStore(tmp_path), SqliteStore(tmp_path)
    a.create_collection(Collection(SCOPE, "c", "arn", "Dlib", 1.0), {})
    assert found(b, unit(1)) == []  # b's index is loaded (empty) before a writes
    a.add_faces(SCOPE, "c", [face("one")], unit(1)[np.newaxis, :])
    assert found(b, unit(1)) == ["one"]
    b.delete_faces(SCOPE, "c", ["one"])
    assert found(a, unit(1)) == []
    a.add_faces(SCOPE, "c", [face("two")], unit(2)[np.newaxis, :])
    a.create_user(SCOPE, "c", "u")
    a.associate_faces(SCOPE, "c", "u", ["two"], max_distance=2.0, max_faces=100)
    assert [u.user_id for u, _ in b.search_users(SCOPE, "c", unit(2), 5, 0.01)] == ["u"]
    b.delete_user(SCOPE, "c", "u")
    assert a.search_users(SCOPE, "c", unit(2), 5, 0.01) == []


def test_a_process_that_fell_behind_a_pruned_change_log_reloads(tmp_path, monkeypatch):
    a, b = SqliteStore(tmp_path), SqliteStore(tmp_path)
    a.create_collection(Collection(SCOPE, "c", "arn", "Dlib", 1.0), {})
    assert found(b, unit(1)) == []
    monkeypatch.setattr(changes, "CHANGES_KEPT_S", -1)  # every change is old at once
    monkeypatch.setattr(changes, "PRUNE_EVERY_WRITES", 1)
    a.add_faces(SCOPE, "c", [face("one")], unit(1)[np.newaxis, :])
    a.add_faces(SCOPE, "c", [face("two")], unit(2)[np.newaxis, :])  # prunes the log, "one" included
    assert found(b, unit(1)) == ["one"] and found(b, unit(2)) == ["two"]
