"""`PostgresStore`: the SQL of collections, tags, faces and idempotency records on PostgreSQL +
pgvector (that of users in users.py).

Writes are transactions that first lock the collection's row (`SELECT ... FOR UPDATE`), so the
writes to one collection are serialised (as SQLite's `BEGIN IMMEDIATE` serialises all of them),
and rows get their `seq` (the pagination position) in commit order; writes to different
collections run side by side.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import psycopg

from .. import idempotency, records
from .. import tags as collection_tags
from ..base import (
    Collection,
    CollectionExists,
    CollectionMissing,
    CollectionPage,
    FaceMissing,
    FacePage,
    Scope,
    StoredFace,
)
from ..stream_processors import StreamProcessors
from ..video_jobs import VideoJobs
from .database import Database, StoreUnavailable, redact
from .hnsw import HNSW_MIN_FACES, HnswIndexes, search_query
from .rows import array, check_probe, target
from .schema import migrate, read_version
from .users import UserRecords

# pg_advisory_xact_lock(int, int) key of an account's video job starts ("rekv"; the schema's migration lock is "reko").
_VIDEO_JOBS_LOCK = 0x72656B76


class PostgresStore(UserRecords):
    """Store backed by PostgreSQL + pgvector; safe for many threads, processes and machines at once."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 16, hnsw_min_faces: int = HNSW_MIN_FACES
    ) -> None:
        self.url = url
        self.description = f"postgresql:{redact(url)}"
        self._secret: bytes | None = None
        try:
            migrate(url)
            self._db = Database(url, min_size=min_size, max_size=max_size)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot use the PostgreSQL store at {redact(url)}: {exc}".strip()) from exc
        self._hnsw = HnswIndexes(self._db, hnsw_min_faces)
        self.video_jobs = VideoJobs(
            self._db.write, self._db.read, "%s", claim_lock="FOR UPDATE SKIP LOCKED",
            account_lock=f"SELECT pg_advisory_xact_lock({_VIDEO_JOBS_LOCK}, hashtext(%s))",
        )
        self.stream_processors = StreamProcessors(
            self._db.write, self._db.read, "%s", claim_lock="FOR UPDATE SKIP LOCKED"
        )

    @property
    def hnsw_min_faces(self) -> int:
        return self._hnsw.min_faces

    def schema_version(self) -> int:
        with self._db.read() as conn:
            return read_version(conn)

    def close(self) -> None:
        self._db.close()

    def secret(self) -> bytes:
        if self._secret is None:
            with self._db.read() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            assert row is not None, "the migration stores the secret"
            self._secret = bytes(row[0])
        return self._secret

    # -- collections -----------------------------------------------------

    def create_collection(self, collection: Collection, tags: dict[str, str]) -> None:
        scope = collection.scope
        with self._db.write() as conn:
            # One creation at a time per scope, so listing positions follow commit order.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{scope.account}|{scope.region}",))
            row = conn.execute(
                f"INSERT INTO collections ({records.COLLECTION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account, region, collection_id) DO NOTHING RETURNING seq",
                records.collection_values(collection),
            ).fetchone()
            if row is None:
                raise CollectionExists(collection.collection_id)
            collection_tags.add_tags(conn, "%s", row[0], tags)

    def get_collection(self, scope: Scope, collection_id: str) -> Collection:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {records.COLLECTION_COLUMNS}, face_count,"
                " (SELECT COUNT(*) FROM users u WHERE u.collection_seq = c.seq)"
                " FROM collections c WHERE account = %s AND region = %s AND collection_id = %s",
                (scope.account, scope.region, collection_id),
            ).fetchone()
        if row is None:
            raise CollectionMissing(collection_id)
        return replace(records.collection_from_row(row), face_count=int(row[6]), user_count=int(row[7]))

    def delete_collection(self, scope: Scope, collection_id: str) -> None:
        with self._db.write() as conn:
            seq = target(conn, scope, collection_id, lock=True).seq
            conn.execute("DELETE FROM faces WHERE collection_seq = %s", (seq,))
            conn.execute("DELETE FROM users WHERE collection_seq = %s", (seq,))
            conn.execute("DELETE FROM collections WHERE seq = %s", (seq,))
        self._hnsw.drop(seq)  # once the rows are gone

    def list_collections(self, scope: Scope, after_seq: int | None, limit: int) -> CollectionPage:
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {records.COLLECTION_COLUMNS}, seq FROM collections"
                " WHERE account = %s AND region = %s AND seq > %s ORDER BY seq LIMIT %s",
                (scope.account, scope.region, after_seq or 0, limit + 1),
            ).fetchall()
        page, last_seq, has_more = records.page_of(rows, limit, after_seq, seq_column=6)
        return CollectionPage([records.collection_from_row(r) for r in page], last_seq, has_more)

    def count_collections(self) -> int:
        with self._db.read() as conn:
            row = conn.execute("SELECT COUNT(*) FROM collections").fetchone()
        return int(row[0]) if row else 0

    # -- tags --------------------------------------------------------------

    def get_tags(self, scope: Scope, collection_id: str) -> dict[str, str]:
        with self._db.read() as conn:
            return collection_tags.get_tags(conn, "%s", target(conn, scope, collection_id).seq)

    def set_tags(self, scope: Scope, collection_id: str, tags: dict[str, str], max_tags: int) -> None:
        with self._db.write() as conn:
            seq = target(conn, scope, collection_id, lock=True).seq
            collection_tags.set_tags(conn, "%s", seq, collection_id, tags, max_tags)

    def remove_tags(self, scope: Scope, collection_id: str, keys: list[str]) -> None:
        with self._db.write() as conn:
            collection_tags.remove_tags(conn, "%s", target(conn, scope, collection_id, lock=True).seq, keys)

    # -- faces -------------------------------------------------------------

    def add_faces(
        self,
        scope: Scope,
        collection_id: str,
        faces: list[StoredFace],
        vectors: np.ndarray,
        *,
        defer_index: bool = False,
    ) -> list[StoredFace]:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(faces), -1)
        with self._db.write() as conn:
            collection = target(conn, scope, collection_id, lock=True)
            if not faces:
                return []
            dimensions = int(vectors.shape[1])
            if collection.dimensions != dimensions:
                if collection.face_count and collection.dimensions is not None:
                    raise ValueError(f"{dimensions}-d vectors in a {collection.dimensions}-d collection")
                # The collection's first face (or the first since it was emptied) sets its size.
                conn.execute("UPDATE collections SET dimensions = %s WHERE seq = %s", (dimensions, collection.seq))
                if collection.dimensions is not None:
                    self._hnsw.forget(conn, collection.seq)
            added = self._insert_faces(conn, collection.seq, faces, vectors)
            face_count = collection.face_count + len(added)
            if added:
                conn.execute("UPDATE collections SET face_count = %s WHERE seq = %s", (face_count, collection.seq))
                for user_id in {f.user_id for f in added if f.user_id is not None}:
                    self._refresh_user(conn, collection.seq, user_id)
        if face_count >= self._hnsw.min_faces and not defer_index:
            self._hnsw.ensure(collection.seq, dimensions)
        return added

    @staticmethod
    def _insert_faces(
        conn: psycopg.Connection[Any], seq: int, faces: list[StoredFace], vectors: np.ndarray
    ) -> list[StoredFace]:
        """Insert the faces a collection does not hold yet (by face id); returns those."""
        inserted: list[bool] = []
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO faces ({records.FACE_INSERT_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %b)"
                " ON CONFLICT (collection_seq, face_id) DO NOTHING RETURNING seq",
                [records.face_values(seq, f, vector) for f, vector in zip(faces, vectors, strict=True)],
                returning=True,
            )
            while True:
                inserted.append(cur.fetchone() is not None)
                if not cur.nextset():
                    break
        return [face for face, new in zip(faces, inserted, strict=True) if new]

    def build_search_index(self, scope: Scope, collection_id: str) -> None:
        with self._db.read() as conn:
            collection = target(conn, scope, collection_id)
        if collection.dimensions is not None and collection.face_count >= self._hnsw.min_faces:
            self._hnsw.ensure(collection.seq, collection.dimensions)

    def list_faces(
        self,
        scope: Scope,
        collection_id: str,
        after_seq: int | None,
        limit: int,
        face_ids: list[str] | None = None,
        user_id: str | None = None,
    ) -> FacePage:
        with self._db.read() as conn:
            seq = target(conn, scope, collection_id).seq
            return records.list_faces(conn, "%s", seq, after_seq, limit, face_ids, user_id)

    def get_face(self, scope: Scope, collection_id: str, face_id: str) -> tuple[StoredFace, np.ndarray]:
        with self._db.read() as conn:
            seq = target(conn, scope, collection_id).seq
            row = conn.execute(
                f"SELECT {records.FACE_COLUMNS}, embedding FROM faces WHERE collection_seq = %s AND face_id = %s",
                (seq, face_id),
            ).fetchone()
        if row is None:
            raise FaceMissing(face_id)
        return records.face_from_row(row), array(row[11])

    def delete_faces(self, scope: Scope, collection_id: str, face_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        wanted = list(dict.fromkeys(face_ids))
        with self._db.write() as conn:
            collection = target(conn, scope, collection_id, lock=True)
            owners = dict(
                conn.execute(
                    "SELECT face_id, user_id FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (collection.seq, wanted),
                ).fetchall()
            )
            deleted = [f for f in wanted if f in owners and owners[f] is None]
            associated = {f: owners[f] for f in wanted if owners.get(f) is not None}
            if deleted:
                conn.execute(
                    "DELETE FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)", (collection.seq, deleted)
                )
                conn.execute(
                    "UPDATE collections SET face_count = %s WHERE seq = %s",
                    (collection.face_count - len(deleted), collection.seq),
                )
        return deleted, associated

    def search_faces(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_face_id: str | None = None,
    ) -> list[tuple[StoredFace, float]]:
        probe = np.asarray(probe, dtype=np.float32).reshape(-1)
        with self._db.read() as conn:
            collection = target(conn, scope, collection_id)
            if collection.dimensions is None or collection.face_count == 0 or limit <= 0:
                return []
            check_probe(probe, collection)
            query = search_query(collection, exclude_face_id is not None)
            params: dict[str, Any] = {"probe": probe, "max_distance": max_distance, "exclude": exclude_face_id}
            with conn.transaction():
                rows = self._hnsw.search(conn, collection, query, params, limit, exclude_face_id is not None)
        return [(records.face_from_row(r), float(r[11])) for r in rows]

    # -- idempotency -------------------------------------------------------

    def recall_response(self, scope: Scope, operation: str, token: str) -> tuple[str, str] | None:
        with self._db.read() as conn:
            return idempotency.recall(conn, "%s", scope, operation, token)

    def remember_response(self, scope: Scope, operation: str, token: str, fingerprint: str, response: str) -> None:
        with self._db.write() as conn:
            idempotency.remember(conn, "%s", scope, operation, token, fingerprint, response)
