"""The embedded default store: one SQLite file (WAL) under the data directory.

`SqliteStore` is the Store protocol's reference implementation: the SQL of collections, tags,
faces and idempotency records here, that of users in users.py. Searches run in memory, on the
index cache (index_cache.py), which follows the change log every write appends to (changes.py).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np

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
from . import changes
from .ann_builder import ANN_DIRNAME, AnnSettings
from .database import Database
from .index_cache import IndexCache
from .rows import collection_seq, face_count, vector
from .schema import DB_FILENAME
from .users import UserRecords
from .vector_file import VECTORS_DIRNAME


class SqliteStore(UserRecords):
    """Store backed by SQLite; safe for many threads and several processes on one machine."""

    def __init__(self, data_dir: str | os.PathLike[str], ann: AnnSettings | None = None) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ann_dir = self.path.parent / ANN_DIRNAME
        self.ann = ann or AnnSettings()
        self.description = f"sqlite:{self.path}"
        self._db = Database(self.path)
        self._indexes = IndexCache(self._db, self.ann_dir, self.path.parent / VECTORS_DIRNAME, self.ann)
        read = lambda: nullcontext(self._db.connection())  # noqa: E731
        self.video_jobs = VideoJobs(self._db.write, read, "?")
        self.stream_processors = StreamProcessors(self._db.write, read, "?")

    def schema_version(self) -> int:
        return int(self._db.connection().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def secret(self) -> bytes:
        row = self._db.connection().execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return bytes(row["value"])

    # -- collections -----------------------------------------------------

    def create_collection(self, collection: Collection, tags: dict[str, str]) -> None:
        with self._db.write() as conn:
            try:
                cursor = conn.execute(
                    f"INSERT INTO collections ({records.COLLECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    records.collection_values(collection),
                )
            except sqlite3.IntegrityError:
                raise CollectionExists(collection.collection_id) from None
            assert cursor.lastrowid is not None, "an INSERT sets lastrowid"
            collection_tags.add_tags(conn, "?", cursor.lastrowid, tags)

    def get_collection(self, scope: Scope, collection_id: str) -> Collection:
        row = (
            self._db.connection()
            .execute(
                f"SELECT {records.COLLECTION_COLUMNS}, face_count,"
                " (SELECT COUNT(*) FROM users u WHERE u.collection_seq = c.seq) AS user_count"
                " FROM collections c WHERE account = ? AND region = ? AND collection_id = ?",
                (scope.account, scope.region, collection_id),
            )
            .fetchone()
        )
        if row is None:
            raise CollectionMissing(collection_id)
        collection = records.collection_from_row(row)
        return replace(collection, face_count=int(row["face_count"]), user_count=int(row["user_count"]))

    def delete_collection(self, scope: Scope, collection_id: str) -> None:
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            conn.execute("DELETE FROM faces WHERE collection_seq = ?", (seq,))
            conn.execute("DELETE FROM users WHERE collection_seq = ?", (seq,))
            conn.execute("DELETE FROM collections WHERE seq = ?", (seq,))
        self._indexes.forget(seq)

    def list_collections(self, scope: Scope, after_seq: int | None, limit: int) -> CollectionPage:
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {records.COLLECTION_COLUMNS}, seq FROM collections"
                " WHERE account = ? AND region = ? AND seq > ? ORDER BY seq LIMIT ?",
                (scope.account, scope.region, after_seq or 0, limit + 1),
            )
            .fetchall()
        )
        page, last_seq, has_more = records.page_of(rows, limit, after_seq, seq_column=6)
        return CollectionPage([records.collection_from_row(r) for r in page], last_seq, has_more)

    def count_collections(self) -> int:
        return int(self._db.connection().execute("SELECT COUNT(*) FROM collections").fetchone()[0])

    # -- tags --------------------------------------------------------------

    def get_tags(self, scope: Scope, collection_id: str) -> dict[str, str]:
        conn = self._db.connection()
        return collection_tags.get_tags(conn, "?", collection_seq(conn, scope, collection_id))

    def set_tags(self, scope: Scope, collection_id: str, tags: dict[str, str], max_tags: int) -> None:
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            collection_tags.set_tags(conn, "?", seq, collection_id, tags, max_tags)

    def remove_tags(self, scope: Scope, collection_id: str, keys: list[str]) -> None:
        with self._db.write() as conn:
            collection_tags.remove_tags(conn, "?", collection_seq(conn, scope, collection_id), keys)

    # -- faces -------------------------------------------------------------

    def add_faces(
        self,
        scope: Scope,
        collection_id: str,
        faces: list[StoredFace],
        vectors: np.ndarray,
        *,
        defer_index: bool = False,  # nothing to defer: indexes are built when searched
    ) -> list[StoredFace]:
        added: list[tuple[StoredFace, int]] = []
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            for face, embedding in zip(faces, np.asarray(vectors, dtype=np.float32), strict=True):
                cursor = conn.execute(
                    f"INSERT INTO faces ({records.FACE_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (collection_seq, face_id) DO NOTHING",
                    records.face_values(seq, face, embedding.tobytes()),
                )
                if cursor.rowcount:
                    assert cursor.lastrowid is not None, "an INSERT sets lastrowid"
                    added.append((face, cursor.lastrowid))
            conn.execute("UPDATE collections SET face_count = face_count + ? WHERE seq = ?", (len(added), seq))
            changes.note(conn, seq, "face", ((f.face_id, label) for f, label in added))
        return [f for f, _ in added]

    def build_search_index(self, scope: Scope, collection_id: str) -> None:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        self._indexes.ann.build_now(seq, face_count(conn, seq))

    def list_faces(
        self,
        scope: Scope,
        collection_id: str,
        after_seq: int | None,
        limit: int,
        face_ids: list[str] | None = None,
        user_id: str | None = None,
    ) -> FacePage:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        return records.list_faces(conn, "?", seq, after_seq, limit, face_ids, user_id)

    def get_face(self, scope: Scope, collection_id: str, face_id: str) -> tuple[StoredFace, np.ndarray]:
        conn = self._db.connection()
        row = conn.execute(
            f"SELECT {records.FACE_COLUMNS}, embedding FROM faces WHERE collection_seq = ? AND face_id = ?",
            (collection_seq(conn, scope, collection_id), face_id),
        ).fetchone()
        if row is None:
            raise FaceMissing(face_id)
        return records.face_from_row(row), vector(row["embedding"])

    def delete_faces(self, scope: Scope, collection_id: str, face_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        deleted: list[tuple[str, int]] = []
        associated: dict[str, str] = {}
        with self._db.write() as conn:
            seq = collection_seq(conn, scope, collection_id)
            for face_id in dict.fromkeys(face_ids):
                row = conn.execute(
                    "SELECT seq, user_id FROM faces WHERE collection_seq = ? AND face_id = ?", (seq, face_id)
                ).fetchone()
                if row is None:
                    continue
                if row["user_id"] is not None:
                    associated[face_id] = row["user_id"]
                    continue
                conn.execute("DELETE FROM faces WHERE seq = ?", (row["seq"],))
                deleted.append((face_id, int(row["seq"])))
            conn.execute("UPDATE collections SET face_count = face_count - ? WHERE seq = ?", (len(deleted), seq))
            changes.note(conn, seq, "face", deleted)
        return [face_id for face_id, _ in deleted], associated

    def search_faces(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_face_id: str | None = None,
    ) -> list[tuple[StoredFace, float]]:
        conn = self._db.connection()
        seq = collection_seq(conn, scope, collection_id)
        exclude = None
        if exclude_face_id is not None:
            row = conn.execute(
                "SELECT seq FROM faces WHERE collection_seq = ? AND face_id = ?", (seq, exclude_face_id)
            ).fetchone()
            exclude = int(row[0]) if row else None
        hits = self._indexes.search(conn, seq, "face", probe, limit, max_distance, exclude)
        if not hits:
            return []
        # `+collection_seq`: look the rows up by their key; an index on collection_seq would scan them all
        rows = conn.execute(
            f"SELECT {records.FACE_COLUMNS}, embedding FROM faces"
            f" WHERE seq IN ({', '.join('?' * len(hits))}) AND +collection_seq = ?",
            (*[label for label, _ in hits], seq),
        ).fetchall()
        # The short list re-ranked with the stored embeddings: exact distances whatever the index's
        # codes (an approximate index keeps float16). A face deleted meanwhile is simply not returned.
        probe = np.asarray(probe, dtype=np.float32)
        ranked = sorted(
            ((records.face_from_row(r), float(1.0 - vector(r["embedding"]) @ probe), int(r["seq"])) for r in rows),
            key=lambda hit: (hit[1], hit[2]),
        )
        return [(face, distance) for face, distance, _ in ranked if distance <= max_distance][:limit]

    # -- idempotency -------------------------------------------------------

    def recall_response(self, scope: Scope, operation: str, token: str) -> tuple[str, str] | None:
        return idempotency.recall(self._db.connection(), "?", scope, operation, token)

    def remember_response(self, scope: Scope, operation: str, token: str, fingerprint: str, response: str) -> None:
        with self._db.write() as conn:
            idempotency.remember(conn, "?", scope, operation, token, fingerprint, response)
