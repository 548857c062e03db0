"""The embedded default store: one SQLite file (WAL) under the data directory."""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .ann import IvfIndex
from .base import (
    AssociationResult,
    Collection,
    CollectionExists,
    CollectionMissing,
    CollectionPage,
    FaceMissing,
    FacePage,
    Scope,
    StoredFace,
    StoredUser,
    TooManyTags,
    UserExists,
    UserMissing,
    UserPage,
)
from .rules import (
    IDEMPOTENCY_WINDOW_S,
    SchemaTooNew,
    StoreUnreadable,
    mean_direction,
    plan_association,
    plan_disassociation,
)
from .vectors import SearchIndex, VectorIndex

log = logging.getLogger("rekog_compat")

# Each entry moves the schema from version i to i+1. Released entries never change;
# a new schema is a new entry, so every data directory ever written can be opened.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE collections (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        collection_id TEXT NOT NULL,
        arn TEXT NOT NULL,
        face_model_version TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (account, region, collection_id)
    );
    CREATE TABLE collection_tags (
        collection_seq INTEGER NOT NULL REFERENCES collections(seq) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (collection_seq, key)
    );
    """,
    """
    CREATE TABLE faces (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_seq INTEGER NOT NULL REFERENCES collections(seq) ON DELETE CASCADE,
        face_id TEXT NOT NULL,
        image_id TEXT NOT NULL,
        external_image_id TEXT,
        box_left REAL NOT NULL,
        box_top REAL NOT NULL,
        box_width REAL NOT NULL,
        box_height REAL NOT NULL,
        confidence REAL NOT NULL,
        index_model_version TEXT NOT NULL,
        user_id TEXT,
        embedding BLOB NOT NULL,
        UNIQUE (collection_seq, face_id)
    );
    CREATE INDEX faces_by_user ON faces (collection_seq, user_id);
    """,
    """
    CREATE TABLE users (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_seq INTEGER NOT NULL REFERENCES collections(seq) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (collection_seq, user_id)
    );
    CREATE TABLE idempotency (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        operation TEXT NOT NULL,
        token TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (account, region, operation, token)
    );
    """,
    """
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        item_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX changes_by_collection ON changes (collection_seq, seq);
    """,
    # Counting a collection's faces was a scan of its rows on every call (35 ms at 1M faces).
    """
    ALTER TABLE collections ADD COLUMN face_count INTEGER NOT NULL DEFAULT 0;
    UPDATE collections SET face_count = (SELECT COUNT(*) FROM faces f WHERE f.collection_seq = collections.seq);
    """,
]
# Change-log rows older than this are pruned; a process that fell further behind reloads.
CHANGES_KEPT_S = 3600
PRUNE_EVERY_WRITES = 500

SCHEMA_VERSION = len(MIGRATIONS)
DB_FILENAME = "rekog-compat.sqlite3"
ANN_DIRNAME = "ann"  # persisted approximate indexes, beside the database
LOAD_BATCH = 4_096  # rows read at a time when an index is filled from disk (bounds the transient memory)


@dataclass(frozen=True)
class AnnSettings:
    """When a collection's face search switches from exact to approximate (faiss IVF, ann.py).

    Exact search stays the default while it is fast: ~16 ms at 1M 128-d faces on 2 cores, past
    the engine's ~80 ms per probe image only at several million (docs/scaling.md)."""

    min_faces: int = 1_000_000  # 0: never approximate
    nprobe: int = 384  # clusters searched per probe (recall@1 0.99 at 5M faces in 8 ms: docs/scaling.md)


class SqliteStore:
    """Store backed by SQLite; safe for many threads and several processes on one machine."""

    def __init__(self, data_dir: str | os.PathLike[str], ann: AnnSettings | None = None) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ann_dir = self.path.parent / ANN_DIRNAME
        self.ann = ann or AnnSettings()
        self.description = f"sqlite:{self.path}"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # collection seq -> its in-memory search indexes (filled on first use): faces, users
        self._indexes: dict[int, SearchIndex] = {}
        self._user_indexes: dict[int, SearchIndex] = {}
        self._indexes_lock = threading.Lock()
        self._building: set[int] = set()  # collections whose approximate index is being built
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreUnreadable(
                f"{self.path} cannot be read as a rekog-compat store ({exc}); nothing was changed. "
                "Restore it from a backup or point --data-dir elsewhere."
            ) from exc

    # -- connections and schema ------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (made on first use; closed by `close`)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (no upgrade deadlocks)."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}; this release understands up to "
                    f"{SCHEMA_VERSION}. Upgrade rekog-compat."
                )
            for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)", (secrets.token_bytes(32),))

    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def secret(self) -> bytes:
        row = self._connection().execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        return bytes(row["value"])

    # -- collections -----------------------------------------------------

    def create_collection(self, collection: Collection, tags: dict[str, str]) -> None:
        scope = collection.scope
        with self._write() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO collections (account, region, collection_id, arn, face_model_version, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        scope.account,
                        scope.region,
                        collection.collection_id,
                        collection.arn,
                        collection.face_model_version,
                        collection.created_at,
                    ),
                )
            except sqlite3.IntegrityError:
                raise CollectionExists(collection.collection_id) from None
            conn.executemany(
                "INSERT INTO collection_tags (collection_seq, key, value) VALUES (?, ?, ?)",
                [(cursor.lastrowid, k, v) for k, v in tags.items()],
            )

    @staticmethod
    def _row_to_collection(row: sqlite3.Row) -> Collection:
        return Collection(
            scope=Scope(row["account"], row["region"]),
            collection_id=row["collection_id"],
            arn=row["arn"],
            face_model_version=row["face_model_version"],
            created_at=row["created_at"],
        )

    @staticmethod
    def _face_count(conn: sqlite3.Connection, seq: int) -> int:
        """The collection's face count (0 once it is deleted)."""
        row = conn.execute("SELECT face_count FROM collections WHERE seq = ?", (seq,)).fetchone()
        return int(row[0]) if row else 0

    def _seq(self, conn: sqlite3.Connection, scope: Scope, collection_id: str) -> int:
        row = conn.execute(
            "SELECT seq FROM collections WHERE account = ? AND region = ? AND collection_id = ?",
            (scope.account, scope.region, collection_id),
        ).fetchone()
        if row is None:
            raise CollectionMissing(collection_id)
        return int(row["seq"])

    def get_collection(self, scope: Scope, collection_id: str) -> Collection:
        row = (
            self._connection()
            .execute(
                "SELECT c.*, (SELECT COUNT(*) FROM users u WHERE u.collection_seq = c.seq) AS user_count"
                " FROM collections c WHERE account = ? AND region = ? AND collection_id = ?",
                (scope.account, scope.region, collection_id),
            )
            .fetchone()
        )
        if row is None:
            raise CollectionMissing(collection_id)
        return replace(
            self._row_to_collection(row), face_count=int(row["face_count"]), user_count=int(row["user_count"])
        )

    def delete_collection(self, scope: Scope, collection_id: str) -> None:
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            conn.execute("DELETE FROM faces WHERE collection_seq = ?", (seq,))
            conn.execute("DELETE FROM users WHERE collection_seq = ?", (seq,))
            conn.execute("DELETE FROM collections WHERE seq = ?", (seq,))
        with self._indexes_lock:
            self._indexes.pop(seq, None)
            self._user_indexes.pop(seq, None)
        for path in self._ann_files(seq):
            path.unlink(missing_ok=True)

    def list_collections(self, scope: Scope, after_seq: int | None, limit: int) -> CollectionPage:
        rows = (
            self._connection()
            .execute(
                "SELECT * FROM collections WHERE account = ? AND region = ? AND seq > ? ORDER BY seq LIMIT ?",
                (scope.account, scope.region, after_seq or 0, limit + 1),
            )
            .fetchall()
        )
        page = rows[:limit]
        return CollectionPage(
            collections=[self._row_to_collection(r) for r in page],
            last_seq=int(page[-1]["seq"]) if page else after_seq,
            has_more=len(rows) > limit,
        )

    def count_collections(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM collections").fetchone()[0])

    # -- tags --------------------------------------------------------------

    def get_tags(self, scope: Scope, collection_id: str) -> dict[str, str]:
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        rows = conn.execute(
            "SELECT key, value FROM collection_tags WHERE collection_seq = ? ORDER BY key", (seq,)
        ).fetchall()
        return {r["key"]: r["value"] for r in rows}

    def set_tags(self, scope: Scope, collection_id: str, tags: dict[str, str], max_tags: int) -> None:
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            existing = {r[0] for r in conn.execute("SELECT key FROM collection_tags WHERE collection_seq = ?", (seq,))}
            if len(existing | set(tags)) > max_tags:
                raise TooManyTags(collection_id)
            conn.executemany(
                "INSERT INTO collection_tags (collection_seq, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (collection_seq, key) DO UPDATE SET value = excluded.value",
                [(seq, k, v) for k, v in tags.items()],
            )

    def remove_tags(self, scope: Scope, collection_id: str, keys: list[str]) -> None:
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            conn.executemany(
                "DELETE FROM collection_tags WHERE collection_seq = ? AND key = ?", [(seq, k) for k in keys]
            )

    # -- faces -------------------------------------------------------------

    _FACE_COLUMNS = (
        "seq, face_id, image_id, external_image_id, box_left, box_top, box_width, box_height,"
        " confidence, index_model_version, user_id"
    )

    @staticmethod
    def _row_to_face(row: sqlite3.Row) -> StoredFace:
        return StoredFace(
            face_id=row["face_id"],
            image_id=row["image_id"],
            external_image_id=row["external_image_id"],
            bounding_box=(row["box_left"], row["box_top"], row["box_width"], row["box_height"]),
            confidence=row["confidence"],
            index_model_version=row["index_model_version"],
            user_id=row["user_id"],
        )

    # -- search indexes: in memory, following the change log -----------------
    #
    # Every write appends ("face" | "user", id) rows to `changes` in its own transaction. A
    # process's index remembers the last change it applied and, before each search, applies
    # the newer ones: writes from any process sharing the file are seen by the next search.
    # Indexes answer labels (faces.seq, users.seq), read back into rows here.
    #
    # A collection's face index is exact until it holds `ann.min_faces` faces; then an IVF index
    # is built in the background from a snapshot of the table, written under ANN_DIRNAME with the
    # change-log position it reflects, brought up to date and swapped in. A later process reads
    # it back instead of rebuilding (ann.py, docs/scaling.md).

    def _note_changes(self, conn: sqlite3.Connection, seq: int, kind: str, item_ids: Iterable[str]) -> None:
        rows = [(seq, kind, item_id, time.time()) for item_id in item_ids]
        if not rows:
            return
        conn.executemany("INSERT INTO changes (collection_seq, kind, item_id, created_at) VALUES (?, ?, ?, ?)", rows)
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        if last % PRUNE_EVERY_WRITES < len(rows):
            cutoff = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE created_at < ?", (time.time() - CHANGES_KEPT_S,)
            ).fetchone()[0]
            if cutoff:
                conn.execute("DELETE FROM changes WHERE seq <= ?", (cutoff,))
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('changes_pruned_through', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (cutoff,),
                )

    @staticmethod
    def _pruned_through(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'changes_pruned_through'").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _last_change(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])

    def _synced_index(self, conn: sqlite3.Connection, seq: int, kind: str) -> SearchIndex:
        """The collection's face ("face") or user ("user") index, up to date with the change log.
        The caller holds no lock; the index's own lock is taken here and by the searcher."""
        cache = self._indexes if kind == "face" else self._user_indexes
        while True:
            with self._indexes_lock:
                index = cache.setdefault(seq, VectorIndex())
            with index.lock:
                with self._indexes_lock:
                    if cache.get(seq) is not index:
                        continue  # replaced (reloaded, or approximate now) while this thread waited
                conn.execute("BEGIN")  # one snapshot for the change log and the rows it names
                try:
                    if not index.loaded or index.applied_seq < self._pruned_through(conn):
                        index = self._reload(conn, seq, kind)
                        with self._indexes_lock:
                            cache[seq] = index
                    else:
                        self._catch_up(conn, index, seq, kind)
                finally:
                    conn.execute("COMMIT")
            break
        if kind == "face":
            self._maybe_build_ann(seq, index)
        return index

    def _reload(self, conn: sqlite3.Connection, seq: int, kind: str) -> SearchIndex:
        """A fresh index of the collection as of the current snapshot: its persisted approximate
        index brought up to date if there is a usable one, else exact, read from the table."""
        if kind == "face" and (ann := self._read_ann(conn, seq)) is not None:
            return ann
        if kind == "face":
            index = self._read_faces(conn, seq)
            if len(index) > LOAD_BATCH:
                _return_freed_memory()  # the rows read on the way
        else:
            index = VectorIndex()
            rows = conn.execute(
                "SELECT u.seq AS label, f.user_id, f.embedding FROM faces f JOIN users u"
                " ON u.collection_seq = f.collection_seq AND u.user_id = f.user_id"
                " WHERE f.collection_seq = ? AND f.user_id IS NOT NULL ORDER BY f.user_id, f.seq",
                (seq,),
            ).fetchall()
            grouped: dict[str, tuple[int, list[np.ndarray]]] = {}
            for r in rows:
                grouped.setdefault(r["user_id"], (int(r["label"]), []))[1].append(_vector(r["embedding"]))
            if grouped:
                index.add(
                    list(grouped),
                    np.array([label for label, _ in grouped.values()], dtype=np.int64),
                    np.stack([mean_direction(vectors) for _, vectors in grouped.values()]),
                )
        index.applied_seq, index.loaded = self._last_change(conn), True
        return index

    def _catch_up(self, conn: sqlite3.Connection, index: SearchIndex, seq: int, kind: str) -> None:
        rows = conn.execute(
            "SELECT seq, item_id FROM changes WHERE collection_seq = ? AND kind = ? AND seq > ? ORDER BY seq",
            (seq, kind, index.applied_seq),
        ).fetchall()
        if not rows:
            return
        for item_id in dict.fromkeys(r["item_id"] for r in rows):
            index.remove([item_id])
            if kind == "face":
                row = conn.execute(
                    "SELECT seq, embedding FROM faces WHERE collection_seq = ? AND face_id = ?", (seq, item_id)
                ).fetchone()
                if row is not None:
                    index.add([item_id], np.array([row["seq"]]), _vector(row["embedding"])[np.newaxis, :])
            else:
                user = conn.execute(
                    "SELECT seq FROM users WHERE collection_seq = ? AND user_id = ?", (seq, item_id)
                ).fetchone()
                vectors = self._user_faces(conn, seq, item_id)
                if user is not None and vectors:
                    index.add([item_id], np.array([user["seq"]]), mean_direction(vectors)[np.newaxis, :])
        index.applied_seq = int(rows[-1]["seq"])

    # -- the approximate index of a large collection --------------------------

    def _ann_files(self, seq: int) -> tuple[Path, Path]:
        """(faiss index, its JSON description) of a collection's persisted approximate index."""
        return self.ann_dir / f"faces-{seq}.faiss", self.ann_dir / f"faces-{seq}.json"

    def _maybe_build_ann(self, seq: int, index: SearchIndex) -> None:
        """Start building the collection's approximate index in the background when its exact index has
        reached `ann.min_faces`, or retraining it when it has doubled since it was trained."""
        minimum = self.ann.min_faces
        if minimum <= 0 or len(index) < minimum:
            return
        if isinstance(index, IvfIndex) and len(index) < 2 * index.trained_on:
            return
        with self._indexes_lock:
            if seq in self._building:
                return
            self._building.add(seq)
        threading.Thread(target=self._build_ann, args=(seq,), name=f"ann-build-{seq}", daemon=True).start()

    def build_search_index(self, scope: Scope, collection_id: str) -> None:
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        count = self._face_count(conn, seq)
        if self.ann.min_faces <= 0 or count < self.ann.min_faces:
            return
        with self._indexes_lock:
            self._building.add(seq)
        self._build_ann(seq)

    def _build_ann(self, seq: int) -> None:
        """Train, fill and persist an IVF index from a snapshot of the collection, then swap it in.
        One process builds at a time (a file lock); one that waited reads the index just written."""
        conn = self._connect()
        try:
            self.ann_dir.mkdir(parents=True, exist_ok=True)
            with open(self.ann_dir / f"faces-{seq}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                conn.execute("BEGIN")  # the snapshot: held while reading only, not while training
                try:
                    index = self._read_ann(conn, seq, fresh_only=True)
                    change_seq = self._last_change(conn)
                    faces = self._read_faces(conn, seq) if index is None else None
                finally:
                    conn.execute("COMMIT")
                if index is None:
                    index = self._train_ann(seq, change_seq, faces)
            if index is not None:
                self._install_ann(conn, seq, index)
        except Exception:  # the exact index keeps serving; the next search tries again
            log.exception("approximate index of collection %d not built", seq)
        finally:
            conn.close()
            with self._indexes_lock:
                self._building.discard(seq)

    def _read_faces(self, conn: sqlite3.Connection, seq: int) -> VectorIndex:
        """Every face of the collection, in an exact index allocated once (4,096 rows read at a time)."""
        index = VectorIndex()
        count = self._face_count(conn, seq)
        cursor = conn.execute("SELECT seq, face_id, embedding FROM faces WHERE collection_seq = ? ORDER BY seq", (seq,))
        while rows := cursor.fetchmany(LOAD_BATCH):
            vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            index.reserve(count, vectors.shape[1])
            index.add([r[1] for r in rows], np.array([r[0] for r in rows], dtype=np.int64), vectors)
        return index

    def _train_ann(self, seq: int, change_seq: int, faces: VectorIndex | None) -> IvfIndex | None:
        """An IVF index of the faces read at change-log position `change_seq`, written to disk."""
        if not faces:
            return None
        started = time.monotonic()
        keys, labels, vectors = faces.entries()
        index = IvfIndex.train(vectors, self.ann.nprobe)
        index.add(keys, labels, vectors)
        index.applied_seq, index.loaded, index.trained_on = change_seq, True, len(faces)
        faiss_path, info_path = self._ann_files(seq)
        index.write(faiss_path)
        _write_json(info_path, {"change_seq": change_seq, "faces": len(faces), "nlist": index.nlist})
        log.info(
            "approximate index of collection %d: %d faces, %d lists, built in %.1f s",
            seq,
            len(faces),
            index.nlist,
            time.monotonic() - started,
        )
        return index

    def _read_ann(self, conn: sqlite3.Connection, seq: int, fresh_only: bool = False) -> IvfIndex | None:
        """Within a read snapshot: the collection's persisted approximate index, with its keys and
        brought up to date, or None (none, unreadable, older than the change log, or - with
        `fresh_only` - trained on fewer than half of today's faces)."""
        faiss_path, info_path = self._ann_files(seq)
        if self.ann.min_faces <= 0 or not info_path.exists():
            return None
        try:
            info = json.loads(info_path.read_text())
            change_seq, trained_on = int(info["change_seq"]), int(info["faces"])
            if change_seq < self._pruned_through(conn):
                return None
            if fresh_only:
                count = self._face_count(conn, seq)
                if count >= 2 * trained_on:
                    return None
            index = IvfIndex.read(faiss_path, self.ann.nprobe)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("persisted approximate index of collection %d not used: %s", seq, exc)
            return None
        index.trained_on = trained_on
        stored = index.stored_labels()
        keys: list[str] = []
        labels: list[int] = []
        for row in conn.execute("SELECT seq, face_id FROM faces WHERE collection_seq = ?", (seq,)):
            keys.append(row[1])
            labels.append(row[0])
        known = np.asarray(labels, dtype=np.int64)
        present = np.isin(known, stored)
        index.name([key for key, kept in zip(keys, present, strict=True) if kept], known[present])
        index.drop_labels(stored[~np.isin(stored, known)])  # faces deleted since it was written
        index.applied_seq, index.loaded = change_seq, True
        self._catch_up(conn, index, seq, "face")
        return index

    def _install_ann(self, conn: sqlite3.Connection, seq: int, index: IvfIndex) -> None:
        """Bring a new approximate index up to date and make it the collection's face index."""
        with self._indexes_lock:
            current = self._indexes.get(seq)
        if current is None:
            return  # the collection was deleted (or not searched in this process)
        with current.lock:
            conn.execute("BEGIN")
            try:
                if index.applied_seq < self._pruned_through(conn):
                    return  # fell behind the change log while building; the next search rebuilds
                self._catch_up(conn, index, seq, "face")
            finally:
                conn.execute("COMMIT")
            with self._indexes_lock:
                if self._indexes.get(seq) is not current:
                    return
                self._indexes[seq] = index
        log.info("collection %d: faces now searched approximately (%d faces, %d lists)", seq, len(index), index.nlist)

    def face_search_method(self, scope: Scope, collection_id: str) -> str:
        """How this process searches the collection's faces now: 'exact', 'ivf', or 'unloaded'."""
        seq = self._seq(self._connection(), scope, collection_id)
        with self._indexes_lock:
            index = self._indexes.get(seq)
        return "unloaded" if index is None or not index.loaded else index.kind

    def add_faces(
        self,
        scope: Scope,
        collection_id: str,
        faces: list[StoredFace],
        vectors: np.ndarray,
        *,
        defer_index: bool = False,  # nothing to defer: indexes are built when searched
    ) -> list[StoredFace]:
        added = []
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            for face, vector in zip(faces, np.asarray(vectors, dtype=np.float32), strict=True):
                cursor = conn.execute(
                    "INSERT INTO faces (collection_seq, face_id, image_id, external_image_id, box_left, box_top,"
                    " box_width, box_height, confidence, index_model_version, user_id, embedding)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (collection_seq, face_id) DO NOTHING",
                    (
                        seq,
                        face.face_id,
                        face.image_id,
                        face.external_image_id,
                        *face.bounding_box,
                        face.confidence,
                        face.index_model_version,
                        face.user_id,
                        vector.tobytes(),
                    ),
                )
                if cursor.rowcount:
                    added.append(face)
            conn.execute("UPDATE collections SET face_count = face_count + ? WHERE seq = ?", (len(added), seq))
            self._note_changes(conn, seq, "face", (f.face_id for f in added))
        return added

    def list_faces(
        self,
        scope: Scope,
        collection_id: str,
        after_seq: int | None,
        limit: int,
        face_ids: list[str] | None = None,
        user_id: str | None = None,
    ) -> FacePage:
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        sql = f"SELECT {self._FACE_COLUMNS} FROM faces WHERE collection_seq = ? AND seq > ?"
        args: list[object] = [seq, after_seq or 0]
        if face_ids is not None:
            sql += f" AND face_id IN ({', '.join('?' * len(face_ids))})"
            args += face_ids
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(user_id)
        rows = conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit + 1)).fetchall()
        page = rows[:limit]
        return FacePage(
            faces=[self._row_to_face(r) for r in page],
            last_seq=int(page[-1]["seq"]) if page else after_seq,
            has_more=len(rows) > limit,
        )

    def get_face(self, scope: Scope, collection_id: str, face_id: str) -> tuple[StoredFace, np.ndarray]:
        conn = self._connection()
        row = conn.execute(
            f"SELECT {self._FACE_COLUMNS}, embedding FROM faces WHERE collection_seq = ? AND face_id = ?",
            (self._seq(conn, scope, collection_id), face_id),
        ).fetchone()
        if row is None:
            raise FaceMissing(face_id)
        return self._row_to_face(row), _vector(row["embedding"])

    def delete_faces(self, scope: Scope, collection_id: str, face_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        deleted: list[str] = []
        associated: dict[str, str] = {}
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            for face_id in dict.fromkeys(face_ids):
                row = conn.execute(
                    "SELECT user_id FROM faces WHERE collection_seq = ? AND face_id = ?", (seq, face_id)
                ).fetchone()
                if row is None:
                    continue
                if row["user_id"] is not None:
                    associated[face_id] = row["user_id"]
                    continue
                conn.execute("DELETE FROM faces WHERE collection_seq = ? AND face_id = ?", (seq, face_id))
                deleted.append(face_id)
            conn.execute("UPDATE collections SET face_count = face_count - ? WHERE seq = ?", (len(deleted), seq))
            self._note_changes(conn, seq, "face", deleted)
        return deleted, associated

    def _nearest(
        self,
        scope: Scope,
        collection_id: str,
        kind: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude: str | None,
    ) -> tuple[sqlite3.Connection, int, list[tuple[int, float]]]:
        """(connection, collection seq, (label, distance) hits) of a search of the face or user index."""
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        index = self._synced_index(conn, seq, kind)
        with index.lock:
            return conn, seq, index.search(probe, limit, max_distance, exclude)

    def search_faces(
        self,
        scope: Scope,
        collection_id: str,
        probe: np.ndarray,
        limit: int,
        max_distance: float,
        exclude_face_id: str | None = None,
    ) -> list[tuple[StoredFace, float]]:
        conn, seq, hits = self._nearest(scope, collection_id, "face", probe, limit, max_distance, exclude_face_id)
        if not hits:
            return []
        # `+collection_seq`: look the rows up by their key; an index on collection_seq would scan them all
        rows = conn.execute(
            f"SELECT {self._FACE_COLUMNS} FROM faces WHERE seq IN ({', '.join('?' * len(hits))})"
            " AND +collection_seq = ?",
            (*[label for label, _ in hits], seq),
        ).fetchall()
        faces = {int(r["seq"]): self._row_to_face(r) for r in rows}
        # A face deleted between the search and this read is simply not returned.
        return [(faces[label], distance) for label, distance in hits if label in faces]

    # -- users -------------------------------------------------------------

    def _user_seq(self, conn: sqlite3.Connection, seq: int, user_id: str) -> int:
        row = conn.execute("SELECT seq FROM users WHERE collection_seq = ? AND user_id = ?", (seq, user_id)).fetchone()
        if row is None:
            raise UserMissing(user_id)
        return int(row["seq"])

    @staticmethod
    def _user_faces(conn: sqlite3.Connection, seq: int, user_id: str) -> list[np.ndarray]:
        rows = conn.execute(
            "SELECT embedding FROM faces WHERE collection_seq = ? AND user_id = ? ORDER BY seq", (seq, user_id)
        ).fetchall()
        return [_vector(r["embedding"]) for r in rows]

    def create_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            try:
                conn.execute(
                    "INSERT INTO users (collection_seq, user_id, created_at) VALUES (?, ?, ?)",
                    (seq, user_id, time.time()),
                )
            except sqlite3.IntegrityError:
                raise UserExists(user_id) from None

    def get_user(self, scope: Scope, collection_id: str, user_id: str) -> StoredUser:
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        self._user_seq(conn, seq, user_id)
        count = conn.execute(
            "SELECT COUNT(*) FROM faces WHERE collection_seq = ? AND user_id = ?", (seq, user_id)
        ).fetchone()[0]
        return StoredUser(user_id, int(count))

    def delete_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            user_seq = self._user_seq(conn, seq, user_id)
            conn.execute("UPDATE faces SET user_id = NULL WHERE collection_seq = ? AND user_id = ?", (seq, user_id))
            conn.execute("DELETE FROM users WHERE seq = ?", (user_seq,))
            self._note_changes(conn, seq, "user", [user_id])

    def list_users(self, scope: Scope, collection_id: str, after_seq: int | None, limit: int) -> UserPage:
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        rows = conn.execute(
            "SELECT u.seq, u.user_id, (SELECT COUNT(*) FROM faces f WHERE f.collection_seq = u.collection_seq"
            " AND f.user_id = u.user_id) AS face_count FROM users u WHERE u.collection_seq = ? AND u.seq > ?"
            " ORDER BY u.seq LIMIT ?",
            (seq, after_seq or 0, limit + 1),
        ).fetchall()
        page = rows[:limit]
        return UserPage(
            users=[StoredUser(r["user_id"], int(r["face_count"])) for r in page],
            last_seq=int(page[-1]["seq"]) if page else after_seq,
            has_more=len(rows) > limit,
        )

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
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            self._user_seq(conn, seq, user_id)
            found = {
                r["face_id"]: (r["user_id"], _vector(r["embedding"]))
                for r in conn.execute(
                    f"SELECT face_id, user_id, embedding FROM faces WHERE collection_seq = ?"
                    f" AND face_id IN ({', '.join('?' * len(wanted))})",
                    (seq, *wanted),
                )
            }
            plan = plan_association(
                user_id, wanted, found, self._user_faces(conn, seq, user_id), max_distance, max_faces
            )
            conn.executemany(
                "UPDATE faces SET user_id = ? WHERE collection_seq = ? AND face_id = ?",
                [(user_id, seq, face_id) for face_id in plan.changed],
            )
            self._note_changes(conn, seq, "user", [user_id] if plan.changed else [])
        return AssociationResult(plan.changed, plan.refused, len(plan.vectors))

    def disassociate_faces(
        self, scope: Scope, collection_id: str, user_id: str, face_ids: list[str]
    ) -> AssociationResult:
        wanted = list(dict.fromkeys(face_ids))
        with self._write() as conn:
            seq = self._seq(conn, scope, collection_id)
            self._user_seq(conn, seq, user_id)
            owners = {
                r["face_id"]: r["user_id"]
                for r in conn.execute(
                    f"SELECT face_id, user_id FROM faces WHERE collection_seq = ?"
                    f" AND face_id IN ({', '.join('?' * len(wanted))})",
                    (seq, *wanted),
                )
            }
            changed, refused = plan_disassociation(user_id, wanted, owners)
            conn.executemany(
                "UPDATE faces SET user_id = NULL WHERE collection_seq = ? AND face_id = ?",
                [(seq, face_id) for face_id in changed],
            )
            remaining = len(self._user_faces(conn, seq, user_id))
            self._note_changes(conn, seq, "user", [user_id] if changed else [])
        return AssociationResult(changed, refused, remaining)

    def user_vector(self, scope: Scope, collection_id: str, user_id: str) -> np.ndarray | None:
        conn = self._connection()
        seq = self._seq(conn, scope, collection_id)
        self._user_seq(conn, seq, user_id)
        vectors = self._user_faces(conn, seq, user_id)
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
        conn, seq, hits = self._nearest(scope, collection_id, "user", probe, limit, max_distance, exclude_user_id)
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

    # -- idempotency -------------------------------------------------------

    def recall_response(self, scope: Scope, operation: str, token: str) -> tuple[str, str] | None:
        row = (
            self._connection()
            .execute(
                "SELECT fingerprint, response FROM idempotency WHERE account = ? AND region = ? AND operation = ?"
                " AND token = ? AND created_at > ?",
                (scope.account, scope.region, operation, token, time.time() - IDEMPOTENCY_WINDOW_S),
            )
            .fetchone()
        )
        return None if row is None else (row["fingerprint"], row["response"])

    def remember_response(self, scope: Scope, operation: str, token: str, fingerprint: str, response: str) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM idempotency WHERE created_at <= ?", (now - IDEMPOTENCY_WINDOW_S,))
            conn.execute(
                "INSERT OR IGNORE INTO idempotency (account, region, operation, token, fingerprint, response,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scope.account, scope.region, operation, token, fingerprint, response, now),
            )


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def _return_freed_memory() -> None:
    """Hand the heap memory freed after a large load back to the system (glibc keeps it otherwise:
    ~20 MB of row buffers per 300,000 faces); a no-op where the C library is not glibc."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _write_json(path: Path, document: dict[str, object]) -> None:
    """Write `document` to `path` atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document))
    partial.replace(path)
