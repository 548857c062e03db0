"""The store interface: every piece of persistent state goes through it.

Handlers speak only to this interface, so a second backend (PostgreSQL +
pgvector) can replace the SQLite default without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Scope:
    """The (account, region) every resource lives under, as AWS partitions them."""

    account: str
    region: str


@dataclass(frozen=True)
class Collection:
    """A face collection as stored."""

    scope: Scope
    collection_id: str
    arn: str
    face_model_version: str
    created_at: float
    face_count: int = 0
    user_count: int = 0


@dataclass(frozen=True)
class CollectionPage:
    """One page of a collection listing; `last_seq` is the position to resume after."""

    collections: list[Collection]
    last_seq: int | None
    has_more: bool


class CollectionExists(Exception):
    """CreateCollection for an id already present in the scope."""


class CollectionMissing(Exception):
    """A collection id that is not present in the scope."""


class Store(Protocol):
    """Persistent state of the server (collections, tags; faces and users later)."""

    description: str

    def close(self) -> None: ...

    def secret(self) -> bytes:
        """A random key made once per store, shared by every process using it."""
        ...

    def create_collection(self, collection: Collection, tags: dict[str, str]) -> None: ...

    def get_collection(self, scope: Scope, collection_id: str) -> Collection: ...

    def delete_collection(self, scope: Scope, collection_id: str) -> None: ...

    def list_collections(self, scope: Scope, after_seq: int | None, limit: int) -> CollectionPage: ...

    def count_collections(self) -> int: ...

    def get_tags(self, scope: Scope, collection_id: str) -> dict[str, str]: ...

    def set_tags(self, scope: Scope, collection_id: str, tags: dict[str, str], max_tags: int) -> None:
        """Add or overwrite tags; raises TooManyTags when the result would exceed max_tags."""
        ...

    def remove_tags(self, scope: Scope, collection_id: str, keys: list[str]) -> None: ...


class TooManyTags(Exception):
    """A tag change would leave a resource with more tags than allowed."""
