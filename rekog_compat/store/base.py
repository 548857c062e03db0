"""The store interface: every piece of persistent state goes through it.

Handlers speak only to this interface, so a second backend (PostgreSQL +
pgvector) can replace the SQLite default without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from .stream_processors import StreamProcessors
    from .video_jobs import VideoJobs


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


@dataclass(frozen=True)
class StoredFace:
    """A face as a collection keeps it (Rekognition's Face), without its embedding."""

    face_id: str
    image_id: str
    external_image_id: str | None
    bounding_box: tuple[float, float, float, float]  # Left, Top, Width, Height (ratios)
    confidence: float
    index_model_version: str
    user_id: str | None = None


@dataclass(frozen=True)
class FacePage:
    """One page of a face listing; `last_seq` is the position to resume after."""

    faces: list[StoredFace]
    last_seq: int | None
    has_more: bool


@dataclass(frozen=True)
class StoredUser:
    """A user of a collection and how many faces it holds (0: CREATED, else ACTIVE)."""

    user_id: str
    face_count: int


@dataclass(frozen=True)
class UserPage:
    users: list[StoredUser]
    last_seq: int | None
    has_more: bool


@dataclass(frozen=True)
class FaceRefusal:
    """A face an association call could not act on, in Rekognition's terms."""

    face_id: str
    reason: str  # FACE_NOT_FOUND, ASSOCIATED_TO_A_DIFFERENT_USER, LOW_MATCH_CONFIDENCE
    user_id: str | None = None  # the other user, for ASSOCIATED_TO_A_DIFFERENT_USER
    distance: float | None = None  # from the user's vector, for LOW_MATCH_CONFIDENCE


@dataclass(frozen=True)
class AssociationResult:
    changed: list[str]  # face ids associated (or disassociated)
    refused: list[FaceRefusal]
    face_count: int  # the user's faces afterwards


class CollectionExists(Exception):
    """CreateCollection for an id already present in the scope."""


class CollectionMissing(Exception):
    """A collection id that is not present in the scope."""


class Store(Protocol):
    """Persistent state of the server (collections, tags; faces and users later)."""

    description: str
    video_jobs: VideoJobs  # stored-video jobs and their results
    stream_processors: StreamProcessors  # stream processors, their states and tags

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

    def add_faces(
        self,
        scope: Scope,
        collection_id: str,
        faces: list[StoredFace],
        vectors: np.ndarray,
        *,
        defer_index: bool = False,
    ) -> list[StoredFace]:
        """Store faces and their unit embeddings, durably; returns those that were new
        (a face id already in the collection is not stored twice). `defer_index`: a bulk load
        (seeding) builds no search index on the way; it calls `build_search_index` at the end."""
        ...

    def build_search_index(self, scope: Scope, collection_id: str) -> None:
        """Build now, in this process, the index that searches of a collection this large use
        (PostgreSQL: its HNSW index; SQLite: the approximate index file), as after a bulk load."""
        ...

    def list_faces(
        self,
        scope: Scope,
        collection_id: str,
        after_seq: int | None,
        limit: int,
        face_ids: list[str] | None = None,
        user_id: str | None = None,
    ) -> FacePage: ...

    def get_face(self, scope: Scope, collection_id: str, face_id: str) -> tuple[StoredFace, np.ndarray]:
        """A stored face and its embedding; raises FaceMissing."""
        ...

    def delete_faces(self, scope: Scope, collection_id: str, face_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        """Delete faces that belong to no user; returns (deleted ids, {kept face id: its user id})."""
        ...

    def search_faces(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_face_id: str | None = None,
    ) -> list[tuple[StoredFace, float]]:
        """Up to `limit` faces within `max_distance` (cosine) of `probe`, closest first. Exact."""
        ...

    # -- users: a user's vector is the normalised mean of its faces' embeddings --

    def create_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        """Raises UserExists."""
        ...

    def get_user(self, scope: Scope, collection_id: str, user_id: str) -> StoredUser:
        """Raises UserMissing."""
        ...

    def delete_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        """Disassociate the user's faces, then delete it; raises UserMissing."""
        ...

    def list_users(self, scope: Scope, collection_id: str, after_seq: int | None, limit: int) -> UserPage: ...

    def associate_faces(
        self,
        scope: Scope,
        collection_id: str,
        user_id: str,
        face_ids: list[str],
        max_distance: float,
        max_faces: int,
    ) -> AssociationResult:
        """Associate faces with a user, atomically. A face further than `max_distance` from the
        user's vector (as it grows within the call) is refused with LOW_MATCH_CONFIDENCE; the
        user's first face is taken as it is. Raises UserMissing, or TooManyFaces when the user
        would hold more than `max_faces`."""
        ...

    def disassociate_faces(
        self, scope: Scope, collection_id: str, user_id: str, face_ids: list[str]
    ) -> AssociationResult: ...

    def user_vector(self, scope: Scope, collection_id: str, user_id: str) -> np.ndarray | None:
        """The user's vector (None while it holds no face); raises UserMissing."""
        ...

    def search_users(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_user_id: str | None = None,
    ) -> list[tuple[StoredUser, float]]:
        """Up to `limit` users whose vector is within `max_distance` of `probe`, closest first."""
        ...

    def remember_response(self, scope: Scope, operation: str, token: str, fingerprint: str, response: str) -> None:
        """Idempotency: keep the response of (operation, token) for 24 hours (the first one wins)."""
        ...

    def recall_response(self, scope: Scope, operation: str, token: str) -> tuple[str, str] | None:
        """(fingerprint, response) of an earlier call with this token, if any."""
        ...


class FaceMissing(Exception):
    """A face id that is not in the collection."""


class UserExists(Exception):
    """CreateUser for a user id already in the collection."""


class UserMissing(Exception):
    """A user id that is not in the collection."""


class TooManyFaces(Exception):
    """An association would leave a user with more faces than allowed."""


class TooManyTags(Exception):
    """A tag change would leave a resource with more tags than allowed."""
