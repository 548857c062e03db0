"""The SQLite store's users: their rows, their association with faces, and the search of their vectors.

A user's vector is not stored: it is the normalised mean of its faces' embeddings, computed
when the user index is filled or caught up (index_cache.py, changes.py). Which faces an
association call may move is decided by rules.py, as for every backend; the SQL is here.
`UserRecords` is a part of `SqliteStore` (repository.py), kept apart to keep each file to one
concern; it uses the store's database and index cache.
"""

from __future__ import annotations

import sqlite3
import time

import numpy as np

from ..base import AssociationResult, Scope, StoredUser, UserExists, UserPage
from ..records import page_of
from ..rules import mean_direction, plan_association, plan_disassociation
from . import changes
from .database import Database
from .index_cache import IndexCache
from .rows import collection_seq, user_faces, user_seq, vector


class UserRecords:
    """The user operations of the Store protocol, on SQLite."""

    _db: Database
    _indexes: IndexCache

    def create_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            try:
                conn.execute(
                    "INSERT INTO users (collection_seq, user_id, created_at) VALUES (?, ?, ?)",
                    (seq, user_id, time.time()),
                )
            except sqlite3.IntegrityError:
                raise UserExists(user_id) from None

    def get_user(self, scope: Scope, collection_id: str, user_id: str) -> StoredUser:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        user_seq(conn, seq, user_id)
        count = conn.execute(
            "SELECT COUNT(*) FROM faces WHERE collection_seq = ? AND user_id = ?", (seq, user_id)
        ).fetchone()[0]
        return StoredUser(user_id, int(count))

    def delete_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            row = user_seq(conn, seq, user_id)
            conn.execute("UPDATE faces SET user_id = NULL WHERE collection_seq = ? AND user_id = ?", (seq, user_id))
            conn.execute("DELETE FROM users WHERE seq = ?", (row,))
            changes.note(conn, seq, "user", [(user_id, row)])

    def list_users(self, scope: Scope, collection_id: str, after_seq: int | None, limit: int) -> UserPage:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        rows = conn.execute(
            "SELECT u.seq, u.user_id, (SELECT COUNT(*) FROM faces f WHERE f.collection_seq = u.collection_seq"
            " AND f.user_id = u.user_id) AS face_count FROM users u WHERE u.collection_seq = ? AND u.seq > ?"
            " ORDER BY u.seq LIMIT ?",
            (seq, after_seq or 0, limit + 1),
        ).fetchall()
        page, last_seq, has_more = page_of(rows, limit, after_seq, seq_column=0)
        return UserPage([StoredUser(r["user_id"], int(r["face_count"])) for r in page], last_seq, has_more)

    def associate_faces(
        self,
        scope: Scope,
        collection_id: str,
        user_id: str,
        face_ids: list[str],
        max_distance: float,
        max_faces: int,
    ) -> AssociationResult:
        wanted = list(dict.fromkeys(face_ids))
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            label = user_seq(conn, seq, user_id)
            found = {
                r["face_id"]: (r["user_id"], vector(r["embedding"]))
                for r in _faces(conn, seq, wanted, "face_id, user_id, embedding")
            }
            plan = plan_association(user_id, wanted, found, user_faces(conn, seq, user_id), max_distance, max_faces)
            conn.executemany(
                "UPDATE faces SET user_id = ? WHERE collection_seq = ? AND face_id = ?",
                [(user_id, seq, face_id) for face_id in plan.changed],
            )
            changes.note(conn, seq, "user", [(user_id, label)] if plan.changed else [])
        return AssociationResult(plan.changed, plan.refused, len(plan.vectors))

    def disassociate_faces(
        self, scope: Scope, collection_id: str, user_id: str, face_ids: list[str]
    ) -> AssociationResult:
        wanted = list(dict.fromkeys(face_ids))
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            label = user_seq(conn, seq, user_id)
            owners = {r["face_id"]: r["user_id"] for r in _faces(conn, seq, wanted, "face_id, user_id")}
            changed, refused = plan_disassociation(user_id, wanted, owners)
            conn.executemany(
                "UPDATE faces SET user_id = NULL WHERE collection_seq = ? AND face_id = ?",
                [(seq, face_id) for face_id in changed],
            )
            remaining = len(user_faces(conn, seq, user_id))
            changes.note(conn, seq, "user", [(user_id, label)] if changed else [])
        return AssociationResult(changed, refused, remaining)

    def user_vector(self, scope: Scope, collection_id: str, user_id: str) -> np.ndarray | None:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        user_seq(conn, seq, user_id)
        vectors = user_faces(conn, seq, user_id)
        return mean_direction(vectors) if vectors else None

    def search_users(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_user_id: str | None = None,
    ) -> list[tuple[StoredUser, float]]:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        exclude = None
        if exclude_user_id is not None:
            row = conn.execute(
                "SELECT seq FROM users WHERE collection_seq = ? AND user_id = ?", (seq, exclude_user_id)
            ).fetchone()
            exclude = int(row[0]) if row else None
        hits = self._indexes.search(conn, seq, "user", probe, limit, max_distance, exclude)
        if not hits:
            return []
        rows = conn.execute(
            f"SELECT u.seq, u.user_id, COUNT(f.seq) AS face_count FROM users u JOIN faces f"
            f" ON f.collection_seq = u.collection_seq AND f.user_id = u.user_id"
            f" WHERE u.seq IN ({', '.join('?' * len(hits))}) AND +u.collection_seq = ? GROUP BY u.seq",
            (*[label for label, _ in hits], seq),
        ).fetchall()
        users = {int(r["seq"]): StoredUser(r["user_id"], int(r["face_count"])) for r in rows}
        return [(users[label], distance) for label, distance in hits if label in users]


def _faces(conn: sqlite3.Connection, seq: int, face_ids: list[str], columns: str) -> list[sqlite3.Row]:
    """These columns of those of `face_ids` the collection holds."""
    return conn.execute(
        f"SELECT {columns} FROM faces WHERE collection_seq = ? AND face_id IN ({', '.join('?' * len(face_ids))})",
        (seq, *face_ids),
    ).fetchall()
