"""The PostgreSQL store's users: their rows, their association with faces, and the search of their vectors.

Unlike SQLite, a user's row keeps its vector (the normalised mean of its faces' embeddings) and
its face count, updated in the transaction that changes its faces, so a search of users is one
exact query in the database (a collection has far fewer users than faces). Which faces an
association call may move is decided by rules.py, as for every backend; the SQL is here.
`UserRecords` is a part of `PostgresStore` (repository.py), kept apart to keep each file to one
concern; it uses the store's connection pool.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psycopg

from ..base import AssociationResult, Scope, StoredUser, UserExists, UserMissing, UserPage
from ..records import page_of
from ..rules import mean_direction, plan_association, plan_disassociation
from .database import Database
from .rows import array, check_probe, target


class UserRecords:
    """The user operations of the Store protocol, on PostgreSQL."""

    _db: Database

    @staticmethod
    def _lock_user(conn: psycopg.Connection[Any], seq: int, user_id: str) -> None:
        if (
            conn.execute(
                "SELECT 1 FROM users WHERE collection_seq = %s AND user_id = %s FOR UPDATE", (seq, user_id)
            ).fetchone()
            is None
        ):
            raise UserMissing(user_id)

    @staticmethod
    def _user_faces(conn: psycopg.Connection[Any], seq: int, user_id: str) -> list[np.ndarray]:
        rows = conn.execute(
            "SELECT embedding FROM faces WHERE collection_seq = %s AND user_id = %s ORDER BY seq", (seq, user_id)
        ).fetchall()
        return [array(r[0]) for r in rows]

    @staticmethod
    def _store_user_vector(conn: psycopg.Connection[Any], seq: int, user_id: str, vectors: list[np.ndarray]) -> None:
        """Keep the user's row in step with its faces: the normalised mean and how many there are."""
        conn.execute(
            "UPDATE users SET vector = %b, face_count = %s WHERE collection_seq = %s AND user_id = %s",
            (mean_direction(vectors) if vectors else None, len(vectors), seq, user_id),
        )

    def _refresh_user(self, conn: psycopg.Connection[Any], seq: int, user_id: str) -> None:
        self._store_user_vector(conn, seq, user_id, self._user_faces(conn, seq, user_id))

    def create_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._db.write() as conn:
            seq = target(conn, scope, collection_id, lock=True).seq
            row = conn.execute(
                "INSERT INTO users (collection_seq, user_id, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (collection_seq, user_id) DO NOTHING RETURNING seq",
                (seq, user_id, time.time()),
            ).fetchone()
            if row is None:
                raise UserExists(user_id)

    def _user_column(self, scope: Scope, collection_id: str, user_id: str, column: str) -> Any:
        """One column of the user's row; raises UserMissing."""
        with self._db.read() as conn:
            seq = target(conn, scope, collection_id).seq
            row = conn.execute(
                f"SELECT {column} FROM users WHERE collection_seq = %s AND user_id = %s", (seq, user_id)
            ).fetchone()
        if row is None:
            raise UserMissing(user_id)
        return row[0]

    def get_user(self, scope: Scope, collection_id: str, user_id: str) -> StoredUser:
        return StoredUser(user_id, int(self._user_column(scope, collection_id, user_id, "face_count")))

    def delete_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._db.write() as conn:
            seq = target(conn, scope, collection_id, lock=True).seq
            self._lock_user(conn, seq, user_id)
            conn.execute("UPDATE faces SET user_id = NULL WHERE collection_seq = %s AND user_id = %s", (seq, user_id))
            conn.execute("DELETE FROM users WHERE collection_seq = %s AND user_id = %s", (seq, user_id))

    def list_users(self, scope: Scope, collection_id: str, after_seq: int | None, limit: int) -> UserPage:
        with self._db.read() as conn:
            seq = target(conn, scope, collection_id).seq
            rows = conn.execute(
                "SELECT seq, user_id, face_count FROM users WHERE collection_seq = %s AND seq > %s"
                " ORDER BY seq LIMIT %s",
                (seq, after_seq or 0, limit + 1),
            ).fetchall()
        page, last_seq, has_more = page_of(rows, limit, after_seq, seq_column=0)
        return UserPage([StoredUser(r[1], int(r[2])) for r in page], last_seq, has_more)

    def associate_faces(
        self,
        scope: Scope,
        collection_id: str,
        user_id: str,
        face_ids: list[str],
        max_distance: float,
        max_faces: int,
    ) -> AssociationResult:
        with self._db.write() as conn:
            seq = target(conn, scope, collection_id, lock=True).seq
            self._lock_user(conn, seq, user_id)
            found = {
                r[0]: (r[1], array(r[2]))
                for r in conn.execute(
                    "SELECT face_id, user_id, embedding FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (seq, list(face_ids)),
                )
            }
            plan = plan_association(
                user_id, face_ids, found, self._user_faces(conn, seq, user_id), max_distance, max_faces
            )
            if plan.changed:
                conn.execute(
                    "UPDATE faces SET user_id = %s WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (user_id, seq, plan.changed),
                )
                self._store_user_vector(conn, seq, user_id, plan.vectors)
        return AssociationResult(plan.changed, plan.refused, len(plan.vectors))

    def disassociate_faces(
        self, scope: Scope, collection_id: str, user_id: str, face_ids: list[str]
    ) -> AssociationResult:
        with self._db.write() as conn:
            seq = target(conn, scope, collection_id, lock=True).seq
            self._lock_user(conn, seq, user_id)
            owners = dict(
                conn.execute(
                    "SELECT face_id, user_id FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (seq, list(face_ids)),
                ).fetchall()
            )
            changed, refused = plan_disassociation(user_id, face_ids, owners)
            if changed:
                conn.execute(
                    "UPDATE faces SET user_id = NULL WHERE collection_seq = %s AND face_id = ANY(%s)", (seq, changed)
                )
            vectors = self._user_faces(conn, seq, user_id)
            if changed:
                self._store_user_vector(conn, seq, user_id, vectors)
        return AssociationResult(changed, refused, len(vectors))

    def user_vector(self, scope: Scope, collection_id: str, user_id: str) -> np.ndarray | None:
        vector = self._user_column(scope, collection_id, user_id, "vector")
        return None if vector is None else array(vector)

    def search_users(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_user_id: str | None = None,
    ) -> list[tuple[StoredUser, float]]:
        probe = np.asarray(probe, dtype=np.float32).reshape(-1)
        if limit <= 0:
            return []
        with self._db.read() as conn:
            collection = target(conn, scope, collection_id)
            check_probe(probe, collection)
            rows = conn.execute(
                "SELECT * FROM (SELECT user_id, face_count, seq, (vector <=> %(probe)b) AS distance FROM users"
                " WHERE collection_seq = %(seq)s AND vector IS NOT NULL AND user_id IS DISTINCT FROM %(exclude)s"
                " ORDER BY distance, seq LIMIT %(limit)s) nearest WHERE distance <= %(max_distance)s"
                " ORDER BY distance, seq",
                {
                    "probe": probe,
                    "seq": collection.seq,
                    "exclude": exclude_user_id,
                    "limit": limit,
                    "max_distance": max_distance,
                },
            ).fetchall()
        return [(StoredUser(r[0], int(r[1])), float(r[3])) for r in rows]
