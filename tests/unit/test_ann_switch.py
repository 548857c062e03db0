"""A large collection's face search turns approximate in the background, stays correct through
writes, is written to disk and read back by the next process instead of being rebuilt."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from rekog_compat.engine.embedding import unit_rows
from rekog_compat.store import AnnSettings, Collection, Scope, SqliteStore, StoredFace

SCOPE = Scope("123456789012", "us-east-1")
FACES = 3000
SETTINGS = AnnSettings(min_faces=2000, nprobe=16)


def clustered_faces(count: int, seed: int, dims: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count // 5, dims))
    return unit_rows(np.repeat(centres, 5, axis=0) + 0.2 * rng.normal(size=(count, dims)))


def face(i: int) -> StoredFace:
    return StoredFace(f"face-{i}", f"image-{i}", f"ext-{i}", (0.1, 0.1, 0.5, 0.5), 99.0, "1.0")


def face_search_method(store: SqliteStore) -> str:
    """How the store searches "big" (the only collection: seq 1) now: 'exact', 'ivf', or 'unloaded'."""
    index = store._indexes.face_index(1)
    return "unloaded" if index is None or not index.loaded else index.kind


def wait_for(method: str, store: SqliteStore, probe: np.ndarray, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while face_search_method(store) != method:
        assert time.monotonic() < deadline, f"face search never became {method}"
        store.search_faces(SCOPE, "big", probe, 1, 2.0)
        time.sleep(0.1)


@pytest.fixture
def vectors() -> np.ndarray:
    return clustered_faces(FACES, seed=1)


@pytest.fixture
def store(tmp_path: Path, vectors: np.ndarray):
    store = SqliteStore(tmp_path, SETTINGS)
    store.create_collection(Collection(SCOPE, "big", "arn:big", "Dlib", 1.0), {})
    store.add_faces(SCOPE, "big", [face(i) for i in range(FACES)], vectors)
    yield store
    store.close()


def top_face(store: SqliteStore, probe: np.ndarray, **kwargs) -> str | None:
    hits = store.search_faces(SCOPE, "big", probe, 1, 2.0, **kwargs)
    return hits[0][0].face_id if hits else None


def test_a_collection_past_the_size_switches_to_approximate_search_with_the_exact_answers(store, vectors):
    probes = unit_rows(vectors[::25] + 0.05 * np.random.default_rng(2).normal(size=vectors[::25].shape))
    exact = [f"face-{int(np.argmax(vectors @ p))}" for p in probes]
    assert [top_face(store, p) for p in probes] == exact  # exact until the index is ready
    wait_for("ivf", store, probes[0])
    agree = np.mean([top_face(store, p) == e for p, e in zip(probes, exact, strict=True)])
    assert agree >= 0.97
    hits = store.search_faces(SCOPE, "big", vectors[10], 3, 2.0, exclude_face_id="face-10")
    assert "face-10" not in [f.face_id for f, _ in hits] and len(hits) == 3


def test_writes_after_the_switch_are_searched_at_once(store, vectors):
    wait_for("ivf", store, vectors[0])
    deleted, _ = store.delete_faces(SCOPE, "big", ["face-7", "face-8"])
    assert deleted == ["face-7", "face-8"]
    assert top_face(store, vectors[7]) not in {"face-7", "face-8"}
    newcomer = clustered_faces(5, seed=3)[0]
    store.add_faces(SCOPE, "big", [face(FACES)], newcomer[np.newaxis, :])
    assert top_face(store, newcomer) == f"face-{FACES}"


def test_the_next_process_reads_the_written_index_and_the_writes_made_since(store, vectors, tmp_path, caplog):
    wait_for("ivf", store, vectors[0])
    assert (tmp_path / "ann" / "faces-1.faiss").exists()
    store.delete_faces(SCOPE, "big", ["face-100"])  # after the index was written
    newcomer = clustered_faces(5, seed=4)[0]
    store.add_faces(SCOPE, "big", [face(FACES + 1)], newcomer[np.newaxis, :])

    with caplog.at_level(logging.INFO, logger="rekog_compat"):
        later = SqliteStore(tmp_path, SETTINGS)
        try:
            assert top_face(later, newcomer) == f"face-{FACES + 1}"
            assert face_search_method(later) == "ivf"  # read back, not rebuilt
            assert top_face(later, vectors[100]) != "face-100"
            assert later.search_faces(SCOPE, "big", vectors[100], 3000, 2.0).__len__() == FACES
        finally:
            later.close()
    assert not [r for r in caplog.records if "built in" in r.getMessage()]


def test_deleting_the_collection_deletes_its_written_index(store, vectors, tmp_path):
    wait_for("ivf", store, vectors[0])
    store.delete_collection(SCOPE, "big")
    assert not list((tmp_path / "ann").glob("faces-1.*a*"))


def test_approximate_search_can_be_turned_off(tmp_path, vectors):
    store = SqliteStore(tmp_path, AnnSettings(min_faces=0))
    try:
        store.create_collection(Collection(SCOPE, "big", "arn:big", "Dlib", 1.0), {})
        store.add_faces(SCOPE, "big", [face(i) for i in range(FACES)], vectors)
        top_face(store, vectors[0])
        time.sleep(0.5)
        assert face_search_method(store) == "exact"
        assert not (tmp_path / "ann").exists()
    finally:
        store.close()


def test_the_change_log_is_kept_from_the_written_index_so_the_file_never_goes_stale(
    store, vectors, tmp_path, monkeypatch, caplog
):
    from rekog_compat.store.sqlite import changes

    wait_for("ivf", store, vectors[0])
    monkeypatch.setattr(changes, "CHANGES_KEPT_S", -1)  # every change is old enough to prune...
    monkeypatch.setattr(changes, "PRUNE_EVERY_WRITES", 1)  # ...at every write
    store.delete_faces(SCOPE, "big", ["face-3"])
    newcomer = clustered_faces(5, seed=6)[0]
    store.add_faces(SCOPE, "big", [face(FACES + 2)], newcomer[np.newaxis, :])

    with caplog.at_level(logging.INFO, logger="rekog_compat"):
        later = SqliteStore(tmp_path, SETTINGS)
        try:
            assert top_face(later, newcomer) == f"face-{FACES + 2}"
            assert face_search_method(later) == "ivf" and top_face(later, vectors[3]) != "face-3"
        finally:
            later.close()
    assert not [r for r in caplog.records if "built in" in r.getMessage()]  # read back, writes replayed


def test_the_written_index_is_rewritten_once_old_and_changed(store, vectors, tmp_path, monkeypatch):
    import json

    from rekog_compat.store.sqlite import ann_builder

    wait_for("ivf", store, vectors[0])
    info = tmp_path / "ann" / "faces-1.json"
    written = json.loads(info.read_text())["change_seq"]
    monkeypatch.setattr(ann_builder, "REWRITE_AFTER_S", 0)
    store.delete_faces(SCOPE, "big", ["face-9"])
    deadline = time.monotonic() + 60
    while json.loads(info.read_text())["change_seq"] == written:
        assert time.monotonic() < deadline, "the index file was never rewritten"
        top_face(store, vectors[0])
        time.sleep(0.1)


def test_a_collection_too_large_to_hold_exact_is_built_approximate_before_its_first_search(
    tmp_path, vectors, monkeypatch
):
    from rekog_compat.store.sqlite import ann_builder

    monkeypatch.setattr(ann_builder, "EXACT_MAX_FACES", 1000)
    store = SqliteStore(tmp_path, AnnSettings(min_faces=0))  # filled without an index...
    store.create_collection(Collection(SCOPE, "big", "arn:big", "Dlib", 1.0), {})
    store.add_faces(SCOPE, "big", [face(i) for i in range(FACES)], vectors)
    store.close()
    store = SqliteStore(tmp_path, SETTINGS)  # ...and opened by a server that searches approximately
    try:
        assert top_face(store, vectors[42]) == "face-42"
        assert face_search_method(store) == "ivf"  # never loaded exact
        assert (tmp_path / "ann" / "faces-1.faiss").exists()
    finally:
        store.close()


def test_an_index_built_after_the_change_log_was_emptied_is_read_back(tmp_path, vectors, caplog):
    """A migrated store's log is empty (its old rows dropped, the position pruned through kept):
    the index built then is at that position, not behind it."""
    store = SqliteStore(tmp_path, SETTINGS)
    store.create_collection(Collection(SCOPE, "big", "arn:big", "Dlib", 1.0), {})
    store.add_faces(SCOPE, "big", [face(i) for i in range(FACES)], vectors)
    with store._db.write() as conn:
        conn.execute("INSERT INTO meta (key, value) SELECT 'changes_pruned_through', MAX(seq) FROM changes WHERE true"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        conn.execute("DELETE FROM changes")
    try:
        wait_for("ivf", store, vectors[0])
    finally:
        store.close()
    with caplog.at_level(logging.INFO, logger="rekog_compat"):
        later = SqliteStore(tmp_path, SETTINGS)
        try:
            assert top_face(later, vectors[11]) == "face-11" and face_search_method(later) == "ivf"
        finally:
            later.close()
    assert not [r for r in caplog.records if "built in" in r.getMessage()]
