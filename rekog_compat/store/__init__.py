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
from .sqlite import AnnSettings, SqliteStore


def open_store(url: str | None, data_dir: str, ann: AnnSettings | None = None) -> Store:
    """Open the store named by `url`: None or 'sqlite' = SQLite under data_dir; a `postgresql://` (or
    `postgres://`) URL = PostgreSQL + pgvector, shared by every server process pointed at it
    (docs/postgres.md). psycopg is imported only then, so the SQLite default never needs it. `ann`: when
    SQLite's in-memory search of a large collection turns approximate (PostgreSQL has its own HNSW)."""
    if not url or url == "sqlite":
        return SqliteStore(data_dir, ann)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise ValueError(
                f"the PostgreSQL store needs psycopg, psycopg-pool and pgvector ({exc}):"
                " pip install 'rekog-compat[postgres]'"
            ) from exc
        return PostgresStore(url)
    raise ValueError(f"Unsupported store {url!r}: use 'sqlite' or a postgresql://user:password@host/db URL")


__all__ = [
    "AnnSettings",
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
