"""A large collection's exact index is copied to disk, and the next process loads the copy in one
read, with the writes made since; a copy that does not match the store is ignored."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from rekog_compat.engine.embedding import unit_rows
from rekog_compat.store import AnnSettings, Collection, Scope, SqliteStore, StoredFace
from rekog_compat.store.sqlite import vector_file

SCOPE = Scope("123456789012", "us-east-1")
FACES = 400
EXACT = AnnSettings(min_faces=0)


def face(i: int) -> StoredFace:
    return StoredFace(f"face-{i}", f"image-{i}", f"ext-{i}", (0.1, 0.1, 0.5, 0.5), 99.0, "1.0")


def top_face(store: SqliteStore, probe: np.ndarray) -> str | None:
    hits = store.search_faces(SCOPE, "big", probe, 1, 2.0)
    return hits[0][0].face_id if hits else None


@pytest.fixture
def vectors() -> np.ndarray:
    return unit_rows(np.random.default_rng(1).normal(size=(FACES + 2, 128)))


@pytest.fixture
def written(tmp_path: Path, vectors: np.ndarray, monkeypatch) -> Path:
    """A data dir whose collection's vector file was written by a first process."""
    monkeypatch.setattr(vector_file, "MIN_FACES", 100)
    store = SqliteStore(tmp_path, EXACT)
    store.create_collection(Collection(SCOPE, "big", "arn:big", "Dlib", 1.0), {})
    store.add_faces(SCOPE, "big", [face(i) for i in range(FACES)], vectors[:FACES])
    top_face(store, vectors[0])  # loads the index from the table; the file is written in the background
    path = tmp_path / vector_file.VECTORS_DIRNAME / "faces-1.vectors"
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, "the vector file was never written"
        time.sleep(0.05)
    store.delete_faces(SCOPE, "big", ["face-5"])  # after the file was written
    store.add_faces(SCOPE, "big", [face(FACES)], vectors[FACES : FACES + 1])
    store.close()
    return tmp_path


def test_the_next_process_loads_the_vector_file_and_the_writes_made_since(written, vectors, caplog):
    with caplog.at_level(logging.INFO, logger="rekog_compat"):
        store = SqliteStore(written, EXACT)
        try:
            assert top_face(store, vectors[FACES]) == f"face-{FACES}"
            assert top_face(store, vectors[5]) != "face-5"
            assert len(store.search_faces(SCOPE, "big", vectors[0], 4096, 2.0)) == FACES
        finally:
            store.close()
    assert [r for r in caplog.records if "read from its vector file" in r.getMessage()]


@pytest.mark.parametrize("damage", ["truncate", "other-database"])
def test_a_vector_file_that_does_not_match_the_store_is_ignored(written, vectors, damage, caplog):
    path = written / vector_file.VECTORS_DIRNAME / "faces-1.vectors"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-1000])
    else:
        header, _, rest = path.read_bytes().partition(b"\n")
        path.write_bytes(header.replace(b'"fingerprint": "', b'"fingerprint": "0') + b"\n" + rest)
    with caplog.at_level(logging.INFO, logger="rekog_compat"):
        store = SqliteStore(written, EXACT)
        try:
            assert top_face(store, vectors[FACES]) == f"face-{FACES}"
            assert len(store.search_faces(SCOPE, "big", vectors[0], 4096, 2.0)) == FACES
        finally:
            store.close()
    assert not [r for r in caplog.records if "read from its vector file" in r.getMessage()]
