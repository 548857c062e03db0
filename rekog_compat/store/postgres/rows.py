"""Reads of the PostgreSQL tables that several parts of the store make: the collection row a call
works on (locked, for a write), and a vector column as an array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from ..base import CollectionMissing, Scope


class Target:
    """The collection row a call works on: its seq, embedding size (None before the first face), face count."""

    __slots__ = ("seq", "dimensions", "face_count")

    def __init__(self, row: Sequence[Any]) -> None:
        self.seq: int = int(row[0])
        self.dimensions: int | None = None if row[1] is None else int(row[1])
        self.face_count: int = int(row[2])


def target(conn: psycopg.Connection[Any], scope: Scope, collection_id: str, lock: bool = False) -> Target:
    """The collection's row; with `lock`, locked for the rest of the transaction, so that the
    collection's writes are serialised. Raises CollectionMissing."""
    row = conn.execute(
        "SELECT seq, dimensions, face_count FROM collections"
        " WHERE account = %s AND region = %s AND collection_id = %s" + (" FOR UPDATE" if lock else ""),
        (scope.account, scope.region, collection_id),
    ).fetchone()
    if row is None:
        raise CollectionMissing(collection_id)
    return Target(row)


def array(value: Any) -> np.ndarray:
    """A vector column as float32 (pgvector >= 0.3 loads `Vector`, older releases ndarray)."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def check_probe(probe: np.ndarray, collection: Target) -> None:
    """Raises ValueError for a probe of another size than the collection's embeddings."""
    if collection.dimensions is not None and probe.shape[0] != collection.dimensions:
        raise ValueError(f"a {probe.shape[0]}-d probe in a {collection.dimensions}-d collection")
