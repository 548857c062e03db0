"""Rows as the store's records, for every backend: the columns both schemas share, the dataclasses
(base.py) they become, the values an insert writes, and the pages of a listing (ListFaces' query
is the same SQL in both).

Both backends select these columns in this order and read them by position (sqlite3.Row and
psycopg's tuples both index by number), so a row is turned into a record in one place only. SQL
written here for both takes the driver's parameter mark ("?" for sqlite3, "%s" for psycopg).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from .base import Collection, FacePage, Scope, StoredFace

# A face as listed and searched; `seq` (its position) first. A search adds its distance after these.
FACE_COLUMNS = (
    "seq, face_id, image_id, external_image_id, box_left, box_top, box_width, box_height,"
    " confidence, index_model_version, user_id"
)
# What an insert writes, in the order of `face_values`.
FACE_INSERT_COLUMNS = (
    "collection_seq, face_id, image_id, external_image_id, box_left, box_top, box_width, box_height,"
    " confidence, index_model_version, user_id, embedding"
)
# A collection as listed, in the order of `collection_values`; listings add `seq` after these.
COLLECTION_COLUMNS = "account, region, collection_id, arn, face_model_version, created_at"


class Executes(Protocol):
    """A DB-API-like connection (sqlite3's and psycopg's both are one)."""

    def execute(self, query: Any, params: Any, /) -> Any: ...

    def cursor(self) -> Any: ...


class Row(Protocol):
    """A result row read by column position."""

    def __getitem__(self, index: int, /) -> Any: ...


R = TypeVar("R", bound=Row)


def face_from_row(row: Row) -> StoredFace:
    """A row starting with `FACE_COLUMNS` as a StoredFace."""
    return StoredFace(
        face_id=row[1],
        image_id=row[2],
        external_image_id=row[3],
        bounding_box=(row[4], row[5], row[6], row[7]),
        confidence=row[8],
        index_model_version=row[9],
        user_id=row[10],
    )


def collection_from_row(row: Row) -> Collection:
    """A row starting with `COLLECTION_COLUMNS` as a Collection (its counts left at 0)."""
    return Collection(
        scope=Scope(row[0], row[1]),
        collection_id=row[2],
        arn=row[3],
        face_model_version=row[4],
        created_at=row[5],
    )


def collection_values(collection: Collection) -> tuple[Any, ...]:
    """The values of `COLLECTION_COLUMNS` for a new collection."""
    scope = collection.scope
    return (
        scope.account,
        scope.region,
        collection.collection_id,
        collection.arn,
        collection.face_model_version,
        collection.created_at,
    )


def face_values(collection_seq: int, face: StoredFace, embedding: object) -> tuple[Any, ...]:
    """The values of `FACE_INSERT_COLUMNS` for a new face (`embedding` as the backend stores it)."""
    return (
        collection_seq,
        face.face_id,
        face.image_id,
        face.external_image_id,
        *face.bounding_box,
        face.confidence,
        face.index_model_version,
        face.user_id,
        embedding,
    )


def page_of(rows: Sequence[R], limit: int, after_seq: int | None, seq_column: int) -> tuple[list[R], int | None, bool]:
    """(the page, the position to resume after, whether there is more) of a listing that read up to
    `limit + 1` rows after `after_seq`; `seq_column` is where a row holds its position."""
    page = list(rows[:limit])
    return page, int(page[-1][seq_column]) if page else after_seq, len(rows) > limit


def list_faces(
    conn: Executes,
    mark: str,
    seq: int,
    after_seq: int | None,
    limit: int,
    face_ids: list[str] | None = None,
    user_id: str | None = None,
) -> FacePage:
    """ListFaces of collection `seq`: the page after `after_seq`, optionally only these faces or this user's."""
    if face_ids is not None and not face_ids:
        return FacePage([], after_seq, False)
    query = f"SELECT {FACE_COLUMNS} FROM faces WHERE collection_seq = {mark} AND seq > {mark}"
    args: list[object] = [seq, after_seq or 0]
    if face_ids is not None:
        query += f" AND face_id IN ({', '.join([mark] * len(face_ids))})"
        args += face_ids
    if user_id is not None:
        query += f" AND user_id = {mark}"
        args.append(user_id)
    rows = conn.execute(query + f" ORDER BY seq LIMIT {mark}", (*args, limit + 1)).fetchall()
    page, last_seq, has_more = page_of(rows, limit, after_seq, seq_column=0)
    return FacePage([face_from_row(r) for r in page], last_seq, has_more)
