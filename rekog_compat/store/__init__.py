"""Persistent state: the store interface and its backends."""

from __future__ import annotations

from .base import (
    AssociationResult,
    Collection,
    CollectionExists,
    CollectionMissing,
    CollectionPage,
    FaceMissing,
    FacePage,
    FaceRefusal,
    Scope,
    Store,
    StoredFace,
    StoredUser,
    TooManyFaces,
    TooManyTags,
    UserExists,
    UserMissing,
    UserPage,
)
from .sqlite import SqliteStore


def open_store(url: str | None, data_dir: str) -> Store:
    """Open the store named by `url` (None or 'sqlite' = SQLite under data_dir)."""
    if url in (None, "", "sqlite"):
        return SqliteStore(data_dir)
    raise ValueError(f"Unsupported store {url!r}: only 'sqlite' is available in this release")


__all__ = [
    "AssociationResult",
    "Collection",
    "CollectionExists",
    "CollectionMissing",
    "CollectionPage",
    "FaceMissing",
    "FacePage",
    "FaceRefusal",
    "Scope",
    "SqliteStore",
    "Store",
    "StoredFace",
    "StoredUser",
    "TooManyFaces",
    "TooManyTags",
    "UserExists",
    "UserMissing",
    "UserPage",
    "open_store",
]
