"""A shared store: PostgreSQL with the pgvector extension, for several server processes on several machines.

Same semantics as `SqliteStore` (the reference implementation), but every process reads the
database itself instead of an in-memory copy, so a write committed by one process is seen by the
next request to any other. Searches run in the database (`<=>`, cosine distance):

- exact (a scan of the collection's rows, ordered by distance) while a collection holds fewer
  than `HNSW_MIN_FACES` faces: 100 % recall, as SQLite;
- from `HNSW_MIN_FACES` faces on, an HNSW index of that collection (m 32, ef_construction 64)
  that the planner may use: approximate, much faster. `hnsw.ef_search` starts at 40 and grows
  (200, 1000, then exact) only while every candidate was a match, so a search returns every
  face within max_distance up to `limit`, whatever MaxFaces. The index is built once, by the
  IndexFaces call that takes the collection past the size, with `CREATE INDEX CONCURRENTLY`
  (writes to every collection go on meanwhile).

Writes are transactions that first lock the collection's row (`SELECT ... FOR UPDATE`), so the
writes to one collection are serialised (as SQLite's `BEGIN IMMEDIATE` serialises all of them),
and rows get their `seq` (the pagination position) in commit order; writes to different
collections run side by side. See docs/scale.md.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg_pool import ConnectionPool

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

# Each entry moves the schema from version i to i+1 (the version lives in meta.schema_version).
# Released entries never change; a new schema is a new entry.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    CREATE TABLE collections (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        collection_id TEXT NOT NULL,
        arn TEXT NOT NULL,
        face_model_version TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        dimensions INTEGER,
        face_count BIGINT NOT NULL DEFAULT 0,
        UNIQUE (account, region, collection_id)
    );
    CREATE TABLE collection_tags (
        collection_seq BIGINT NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (collection_seq, key)
    );
    CREATE TABLE faces (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        collection_seq BIGINT NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
        face_id TEXT NOT NULL,
        image_id TEXT NOT NULL,
        external_image_id TEXT,
        box_left DOUBLE PRECISION NOT NULL,
        box_top DOUBLE PRECISION NOT NULL,
        box_width DOUBLE PRECISION NOT NULL,
        box_height DOUBLE PRECISION NOT NULL,
        confidence DOUBLE PRECISION NOT NULL,
        index_model_version TEXT NOT NULL,
        user_id TEXT,
        embedding vector NOT NULL,
        UNIQUE (collection_seq, face_id)
    );
    CREATE INDEX faces_by_position ON faces (collection_seq, seq);
    CREATE INDEX faces_by_user ON faces (collection_seq, user_id) WHERE user_id IS NOT NULL;
    CREATE TABLE users (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        collection_seq BIGINT NOT NULL REFERENCES collections (seq) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        face_count INTEGER NOT NULL DEFAULT 0,
        vector vector,
        UNIQUE (collection_seq, user_id)
    );
    CREATE TABLE idempotency (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        operation TEXT NOT NULL,
        token TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (account, region, operation, token)
    );
    CREATE INDEX idempotency_by_age ON idempotency (created_at);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# A collection with at least this many faces gets an HNSW index, and its searches may use it;
# below it, searches are exact (100 % recall). An exact scan costs about 1 ms per 1,000 128-d
# faces (docs/scale.md): at 20,000 it is a quarter of the ~80 ms the engine spends on a probe
# image, and the one-off index build takes seconds; past it the index keeps search time flat.
HNSW_MIN_FACES = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# hnsw.ef_search (the candidate list) of a search's tries: the next only when every candidate of
# the last one was within max_distance (there may be more); after the last (pgvector's ceiling), exact.
HNSW_EF_STEPS = (40, 200, 1000)
HNSW_BUILD_MEMORY = "512MB"  # maintenance_work_mem for the build: the graph fits, the build is fast

# pg_advisory_xact_lock(int, int) key for schema migrations; the one-bigint key space (used for a
# collection's index build, keyed by its seq) does not overlap with the two-int one.
_MIGRATION_LOCK = (0x72656B6F, 1)  # "reko", 1

log = logging.getLogger(__name__)

_FACE_COLUMNS = (
    "seq, face_id, image_id, external_image_id, box_left, box_top, box_width, box_height,"
    " confidence, index_model_version, user_id"
)


class StoreUnavailable(StoreUnreadable):
    """The PostgreSQL server cannot be reached or used (the CLI stops with this message)."""


def redact(url: str) -> str:
    """The URL without its password, fit for logs and /health."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _array(value: Any) -> np.ndarray:
    """A vector column as float32 (pgvector >= 0.3 loads `Vector`, older releases ndarray)."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def _face(row: Sequence[Any]) -> StoredFace:
    """A row starting with `_FACE_COLUMNS` (seq first) as a StoredFace."""
    return StoredFace(
        face_id=row[1],
        image_id=row[2],
        external_image_id=row[3],
        bounding_box=(row[4], row[5], row[6], row[7]),
        confidence=row[8],
        index_model_version=row[9],
        user_id=row[10],
    )


def _collection(row: Sequence[Any]) -> Collection:
    """A row of (account, region, collection_id, arn, face_model_version, created_at) as a Collection."""
    return Collection(
        scope=Scope(row[0], row[1]),
        collection_id=row[2],
        arn=row[3],
        face_model_version=row[4],
        created_at=row[5],
    )


class _Target:
    """The collection row a call works on: its seq, embedding size (None before the first face), face count."""

    __slots__ = ("seq", "dimensions", "face_count")

    def __init__(self, row: Sequence[Any]) -> None:
        self.seq: int = int(row[0])
        self.dimensions: int | None = None if row[1] is None else int(row[1])
        self.face_count: int = int(row[2])


class PostgresStore:
    """Store backed by PostgreSQL + pgvector; safe for many threads, processes and machines at once."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 16, hnsw_min_faces: int = HNSW_MIN_FACES
    ) -> None:
        self.url = url
        self.description = f"postgresql:{redact(url)}"
        self.hnsw_min_faces = hnsw_min_faces
        self._secret: bytes | None = None
        self._indexed: set[int] = set()  # collection seqs known to have a valid HNSW index
        self._indexed_lock = threading.Lock()
        try:
            self._migrate()
            self._pool: ConnectionPool = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True},
                configure=register_vector,
                check=ConnectionPool.check_connection,
                name="rekog-compat",
                open=True,
            )
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot use the PostgreSQL store at {redact(url)}: {exc}".strip()) from exc

    # -- connections and schema ------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection: committed on success, rolled back on any exception."""
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit: each statement sees everything committed before it."""
        with self._pool.connection() as conn:
            yield conn

    def _migrate(self) -> None:
        """Create the extension and bring the schema to SCHEMA_VERSION, one process at a time."""
        with psycopg.connect(self.url, autocommit=True) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _MIGRATION_LOCK)
            try:
                with conn.transaction():
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise StoreUnavailable(
                    f"the 'vector' extension (pgvector) is not installed in {redact(self.url)} and could not be"
                    f" created ({exc}): install pgvector on the server and run CREATE EXTENSION vector as a"
                    " superuser, once"
                ) from exc
            version = self._read_version(conn)
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{redact(self.url)} has schema version {version}; this release understands up to "
                    f"{SCHEMA_VERSION}. Upgrade rekog-compat."
                )
            for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute(script)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target).encode(),),
                )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', %s) ON CONFLICT (key) DO NOTHING",
                (secrets.token_bytes(32),),
            )

    @staticmethod
    def _read_version(conn: psycopg.Connection[Any]) -> int:
        if conn.execute("SELECT to_regclass('meta')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return 0 if row is None else int(bytes(row[0]).decode())

    def schema_version(self) -> int:
        with self._read() as conn:
            return self._read_version(conn)

    def close(self) -> None:
        self._pool.close()

    def secret(self) -> bytes:
        if self._secret is None:
            with self._read() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
            assert row is not None, "the migration stores the secret"
            self._secret = bytes(row[0])
        return self._secret

    # -- collections -----------------------------------------------------

    @staticmethod
    def _target(conn: psycopg.Connection[Any], scope: Scope, collection_id: str, lock: bool = False) -> _Target:
        """The collection's row; with `lock`, locked for the rest of the transaction, so that
        the collection's writes are serialised."""
        row = conn.execute(
            "SELECT seq, dimensions, face_count FROM collections"
            " WHERE account = %s AND region = %s AND collection_id = %s" + (" FOR UPDATE" if lock else ""),
            (scope.account, scope.region, collection_id),
        ).fetchone()
        if row is None:
            raise CollectionMissing(collection_id)
        return _Target(row)

    def _lock(self, conn: psycopg.Connection[Any], scope: Scope, collection_id: str) -> _Target:
        return self._target(conn, scope, collection_id, lock=True)

    def create_collection(self, collection: Collection, tags: dict[str, str]) -> None:
        scope = collection.scope
        with self._write() as conn:
            # One creation at a time per scope, so listing positions follow commit order.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{scope.account}|{scope.region}",))
            row = conn.execute(
                "INSERT INTO collections (account, region, collection_id, arn, face_model_version, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (account, region, collection_id) DO NOTHING"
                " RETURNING seq",
                (
                    scope.account,
                    scope.region,
                    collection.collection_id,
                    collection.arn,
                    collection.face_model_version,
                    collection.created_at,
                ),
            ).fetchone()
            if row is None:
                raise CollectionExists(collection.collection_id)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO collection_tags (collection_seq, key, value) VALUES (%s, %s, %s)",
                    [(row[0], k, v) for k, v in tags.items()],
                )

    def get_collection(self, scope: Scope, collection_id: str) -> Collection:
        with self._read() as conn:
            row = conn.execute(
                "SELECT account, region, collection_id, arn, face_model_version, created_at, face_count,"
                " (SELECT COUNT(*) FROM users u WHERE u.collection_seq = c.seq)"
                " FROM collections c WHERE account = %s AND region = %s AND collection_id = %s",
                (scope.account, scope.region, collection_id),
            ).fetchone()
        if row is None:
            raise CollectionMissing(collection_id)
        return replace(_collection(row), face_count=int(row[6]), user_count=int(row[7]))

    def delete_collection(self, scope: Scope, collection_id: str) -> None:
        with self._write() as conn:
            target = self._lock(conn, scope, collection_id)
            conn.execute("DELETE FROM faces WHERE collection_seq = %s", (target.seq,))
            conn.execute("DELETE FROM users WHERE collection_seq = %s", (target.seq,))
            conn.execute("DELETE FROM collections WHERE seq = %s", (target.seq,))
        # Its HNSW index, if it had one, goes once the rows are gone (without blocking readers).
        with self._indexed_lock:
            self._indexed.discard(target.seq)
        with self._read() as conn:
            name = _hnsw_name(target.seq)
            if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone() != (None,):
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))

    def list_collections(self, scope: Scope, after_seq: int | None, limit: int) -> CollectionPage:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT account, region, collection_id, arn, face_model_version, created_at, seq FROM collections"
                " WHERE account = %s AND region = %s AND seq > %s ORDER BY seq LIMIT %s",
                (scope.account, scope.region, after_seq or 0, limit + 1),
            ).fetchall()
        page = rows[:limit]
        return CollectionPage(
            collections=[_collection(r) for r in page],
            last_seq=int(page[-1][6]) if page else after_seq,
            has_more=len(rows) > limit,
        )

    def count_collections(self) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT COUNT(*) FROM collections").fetchone()
        return int(row[0]) if row else 0

    # -- tags --------------------------------------------------------------

    def get_tags(self, scope: Scope, collection_id: str) -> dict[str, str]:
        with self._read() as conn:
            seq = self._target(conn, scope, collection_id).seq
            rows = conn.execute(
                "SELECT key, value FROM collection_tags WHERE collection_seq = %s ORDER BY key", (seq,)
            ).fetchall()
        return {k: v for k, v in rows}

    def set_tags(self, scope: Scope, collection_id: str, tags: dict[str, str], max_tags: int) -> None:
        with self._write() as conn:
            seq = self._lock(conn, scope, collection_id).seq
            existing = {r[0] for r in conn.execute("SELECT key FROM collection_tags WHERE collection_seq = %s", (seq,))}
            if len(existing | set(tags)) > max_tags:
                raise TooManyTags(collection_id)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO collection_tags (collection_seq, key, value) VALUES (%s, %s, %s)"
                    " ON CONFLICT (collection_seq, key) DO UPDATE SET value = excluded.value",
                    [(seq, k, v) for k, v in tags.items()],
                )

    def remove_tags(self, scope: Scope, collection_id: str, keys: list[str]) -> None:
        with self._write() as conn:
            seq = self._lock(conn, scope, collection_id).seq
            conn.execute("DELETE FROM collection_tags WHERE collection_seq = %s AND key = ANY(%s)", (seq, list(keys)))

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
        with self._write() as conn:
            target = self._lock(conn, scope, collection_id)
            if not faces:
                return []
            dimensions = int(vectors.shape[1])
            if target.dimensions != dimensions:
                if target.face_count and target.dimensions is not None:
                    raise ValueError(f"{dimensions}-d vectors in a {target.dimensions}-d collection")
                # The collection's first face (or the first since it was emptied) sets its size.
                conn.execute("UPDATE collections SET dimensions = %s WHERE seq = %s", (dimensions, target.seq))
                if target.dimensions is not None:
                    self._forget_index(conn, target.seq)
            inserted: list[bool] = []
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO faces (collection_seq, face_id, image_id, external_image_id, box_left, box_top,"
                    " box_width, box_height, confidence, index_model_version, user_id, embedding)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %b)"
                    " ON CONFLICT (collection_seq, face_id) DO NOTHING RETURNING seq",
                    [
                        (
                            target.seq,
                            f.face_id,
                            f.image_id,
                            f.external_image_id,
                            *f.bounding_box,
                            f.confidence,
                            f.index_model_version,
                            f.user_id,
                            vector,
                        )
                        for f, vector in zip(faces, vectors, strict=True)
                    ],
                    returning=True,
                )
                while True:
                    inserted.append(cur.fetchone() is not None)
                    if not cur.nextset():
                        break
            added = [face for face, new in zip(faces, inserted, strict=True) if new]
            face_count = target.face_count + len(added)
            if added:
                conn.execute("UPDATE collections SET face_count = %s WHERE seq = %s", (face_count, target.seq))
                for user_id in {f.user_id for f in added if f.user_id is not None}:
                    self._refresh_user(conn, target.seq, user_id)
        if face_count >= self.hnsw_min_faces and not defer_index:
            self._ensure_index(target.seq, dimensions)
        return added

    def build_search_index(self, scope: Scope, collection_id: str) -> None:
        with self._read() as conn:
            target = self._target(conn, scope, collection_id)
        if target.dimensions is not None and target.face_count >= self.hnsw_min_faces:
            self._ensure_index(target.seq, target.dimensions)

    def _forget_index(self, conn: psycopg.Connection[Any], seq: int) -> None:
        """Drop a collection's HNSW index (its embedding size is changing: the index casts to the old one)."""
        with self._indexed_lock:
            self._indexed.discard(seq)
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(_hnsw_name(seq))))

    def _ensure_index(self, seq: int, dimensions: int) -> None:
        """Build the collection's HNSW index unless it has a valid one (one builder per collection at a time).

        A partial index over the collection's rows, on the embedding cast to its size (an HNSW index
        needs a fixed size, and collections of different models share the table). Built CONCURRENTLY,
        so writes go on meanwhile. A build that fails or is interrupted leaves searches exact (and at
        worst an invalid index, dropped and rebuilt by the next call here); the faces it followed are
        stored either way, so a failure is logged, not raised."""
        with self._indexed_lock:
            if seq in self._indexed:
                return
        name = _hnsw_name(seq)
        try:
            with self._read() as conn:
                conn.execute("SELECT pg_advisory_lock(%s::bigint)", (seq,))
                try:
                    built = self._build_index(conn, seq, dimensions, name)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (seq,))
        except psycopg.Error as exc:
            log.warning("HNSW index %s not built (searches stay exact): %s", name, exc)
            return
        if built:
            with self._indexed_lock:
                self._indexed.add(seq)

    @staticmethod
    def _build_index(conn: psycopg.Connection[Any], seq: int, dimensions: int, name: str) -> bool:
        """Under the collection's advisory lock: make sure `name` is a valid index; False if the collection is gone."""
        state = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,)).fetchone()
        if state is not None and state[0]:
            return True
        if state is not None:
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
        if conn.execute("SELECT 1 FROM collections WHERE seq = %s", (seq,)).fetchone() is None:
            return False  # deleted meanwhile
        started = time.monotonic()
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(HNSW_BUILD_MEMORY)))
        try:
            conn.execute(
                sql.SQL(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON faces"
                    " USING hnsw ((embedding::vector({dims})) vector_cosine_ops)"
                    " WITH (m = {m}, ef_construction = {ef}) WHERE collection_seq = {seq}"
                ).format(
                    name=sql.Identifier(name),
                    dims=sql.Literal(dimensions),
                    m=sql.Literal(HNSW_M),
                    ef=sql.Literal(HNSW_EF_CONSTRUCTION),
                    seq=sql.Literal(seq),
                )
            )
        finally:
            conn.execute("RESET maintenance_work_mem")
        log.info("HNSW index %s built in %.1f s", name, time.monotonic() - started)
        return True

    def list_faces(
        self,
        scope: Scope,
        collection_id: str,
        after_seq: int | None,
        limit: int,
        face_ids: list[str] | None = None,
        user_id: str | None = None,
    ) -> FacePage:
        with self._read() as conn:
            seq = self._target(conn, scope, collection_id).seq
            query = f"SELECT {_FACE_COLUMNS} FROM faces WHERE collection_seq = %s AND seq > %s"
            args: list[object] = [seq, after_seq or 0]
            if face_ids is not None:
                query += " AND face_id = ANY(%s)"
                args.append(list(face_ids))
            if user_id is not None:
                query += " AND user_id = %s"
                args.append(user_id)
            rows = conn.execute(query + " ORDER BY seq LIMIT %s", (*args, limit + 1)).fetchall()
        page = rows[:limit]
        return FacePage(
            faces=[_face(r) for r in page], last_seq=int(page[-1][0]) if page else after_seq, has_more=len(rows) > limit
        )

    def get_face(self, scope: Scope, collection_id: str, face_id: str) -> tuple[StoredFace, np.ndarray]:
        with self._read() as conn:
            seq = self._target(conn, scope, collection_id).seq
            row = conn.execute(
                f"SELECT {_FACE_COLUMNS}, embedding FROM faces WHERE collection_seq = %s AND face_id = %s",
                (seq, face_id),
            ).fetchone()
        if row is None:
            raise FaceMissing(face_id)
        return _face(row), _array(row[11])

    def delete_faces(self, scope: Scope, collection_id: str, face_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        wanted = list(dict.fromkeys(face_ids))
        with self._write() as conn:
            target = self._lock(conn, scope, collection_id)
            owners = dict(
                conn.execute(
                    "SELECT face_id, user_id FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (target.seq, wanted),
                ).fetchall()
            )
            deleted = [f for f in wanted if f in owners and owners[f] is None]
            associated = {f: owners[f] for f in wanted if owners.get(f) is not None}
            if deleted:
                conn.execute("DELETE FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)", (target.seq, deleted))
                conn.execute(
                    "UPDATE collections SET face_count = %s WHERE seq = %s",
                    (target.face_count - len(deleted), target.seq),
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
        with self._read() as conn:
            target = self._target(conn, scope, collection_id)
            if target.dimensions is None or target.face_count == 0 or limit <= 0:
                return []
            if probe.shape[0] != target.dimensions:
                raise ValueError(f"a {probe.shape[0]}-d probe in a {target.dimensions}-d collection")
            query = self._search_query(target, exclude_face_id is not None)
            params: dict[str, Any] = {"probe": probe, "max_distance": max_distance, "exclude": exclude_face_id}
            with conn.transaction():
                rows = self._run_search(conn, target, query, params, limit, exclude_face_id is not None)
        return [(_face(r), float(r[11])) for r in rows]

    def _run_search(
        self,
        conn: psycopg.Connection[Any],
        target: _Target,
        query: sql.Composed,
        params: dict[str, Any],
        limit: int,
        exclude: bool,
    ) -> list[Any]:
        """Exact below the HNSW size. Above it, the index with a growing candidate list: ef_search 40
        answers any search with fewer than 40 faces within max_distance (the usual case, whatever
        MaxFaces); when every candidate matched, there may be more, so ef_search grows, and past
        pgvector's 1000 the search is exact."""
        if target.face_count >= self.hnsw_min_faces:
            for ef_search in HNSW_EF_STEPS:
                wanted = min(limit, ef_search - (1 if exclude else 0))
                self._use_index(conn, ef_search)
                rows = conn.execute(query, {**params, "limit": wanted}).fetchall()
                if len(rows) < wanted or wanted >= limit:
                    return rows
        self._use_exact(conn)
        return conn.execute(query, {**params, "limit": limit}).fetchall()

    @staticmethod
    def _search_query(target: _Target, exclude: bool) -> sql.Composed:
        """The k nearest faces, then those within max_distance: the same faces as filtering first (distance
        orders both), in the shape an HNSW index serves. seq and the size are literals so that the planner
        can match the collection's partial expression index (a bound parameter would not)."""
        return sql.SQL(
            "SELECT * FROM (SELECT {columns}, (embedding::vector({dims}) <=> %(probe)b) AS distance"
            " FROM faces WHERE collection_seq = {seq}{exclude} ORDER BY distance LIMIT %(limit)s) nearest"
            " WHERE distance <= %(max_distance)s ORDER BY distance, seq"
        ).format(
            columns=sql.SQL(_FACE_COLUMNS),
            dims=sql.Literal(target.dimensions),
            seq=sql.Literal(target.seq),
            exclude=sql.SQL(" AND face_id <> %(exclude)s" if exclude else ""),
        )

    @staticmethod
    def _use_exact(conn: psycopg.Connection[Any]) -> None:
        """For the rest of the transaction: no index scan (so no HNSW), a scan of the collection's rows."""
        conn.execute("SET LOCAL enable_indexscan = off")

    @staticmethod
    def _use_index(conn: psycopg.Connection[Any], ef_search: int) -> None:
        """For the rest of the transaction: the planner may use the HNSW index, with this candidate list."""
        conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))

    # -- users -------------------------------------------------------------

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
        return [_array(r[0]) for r in rows]

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
        with self._write() as conn:
            seq = self._lock(conn, scope, collection_id).seq
            row = conn.execute(
                "INSERT INTO users (collection_seq, user_id, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (collection_seq, user_id) DO NOTHING RETURNING seq",
                (seq, user_id, time.time()),
            ).fetchone()
            if row is None:
                raise UserExists(user_id)

    def get_user(self, scope: Scope, collection_id: str, user_id: str) -> StoredUser:
        with self._read() as conn:
            seq = self._target(conn, scope, collection_id).seq
            row = conn.execute(
                "SELECT face_count FROM users WHERE collection_seq = %s AND user_id = %s", (seq, user_id)
            ).fetchone()
        if row is None:
            raise UserMissing(user_id)
        return StoredUser(user_id, int(row[0]))

    def delete_user(self, scope: Scope, collection_id: str, user_id: str) -> None:
        with self._write() as conn:
            seq = self._lock(conn, scope, collection_id).seq
            self._lock_user(conn, seq, user_id)
            conn.execute("UPDATE faces SET user_id = NULL WHERE collection_seq = %s AND user_id = %s", (seq, user_id))
            conn.execute("DELETE FROM users WHERE collection_seq = %s AND user_id = %s", (seq, user_id))

    def list_users(self, scope: Scope, collection_id: str, after_seq: int | None, limit: int) -> UserPage:
        with self._read() as conn:
            seq = self._target(conn, scope, collection_id).seq
            rows = conn.execute(
                "SELECT seq, user_id, face_count FROM users WHERE collection_seq = %s AND seq > %s"
                " ORDER BY seq LIMIT %s",
                (seq, after_seq or 0, limit + 1),
            ).fetchall()
        page = rows[:limit]
        return UserPage(
            users=[StoredUser(r[1], int(r[2])) for r in page],
            last_seq=int(page[-1][0]) if page else after_seq,
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
            seq = self._lock(conn, scope, collection_id).seq
            self._lock_user(conn, seq, user_id)
            found = {
                r[0]: (r[1], _array(r[2]))
                for r in conn.execute(
                    "SELECT face_id, user_id, embedding FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (seq, wanted),
                )
            }
            plan = plan_association(
                user_id, wanted, found, self._user_faces(conn, seq, user_id), max_distance, max_faces
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
        wanted = list(dict.fromkeys(face_ids))
        with self._write() as conn:
            seq = self._lock(conn, scope, collection_id).seq
            self._lock_user(conn, seq, user_id)
            owners = dict(
                conn.execute(
                    "SELECT face_id, user_id FROM faces WHERE collection_seq = %s AND face_id = ANY(%s)",
                    (seq, wanted),
                ).fetchall()
            )
            changed, refused = plan_disassociation(user_id, wanted, owners)
            if changed:
                conn.execute(
                    "UPDATE faces SET user_id = NULL WHERE collection_seq = %s AND face_id = ANY(%s)", (seq, changed)
                )
            vectors = self._user_faces(conn, seq, user_id)
            if changed:
                self._store_user_vector(conn, seq, user_id, vectors)
        return AssociationResult(changed, refused, len(vectors))

    def user_vector(self, scope: Scope, collection_id: str, user_id: str) -> np.ndarray | None:
        with self._read() as conn:
            seq = self._target(conn, scope, collection_id).seq
            row = conn.execute(
                "SELECT vector FROM users WHERE collection_seq = %s AND user_id = %s", (seq, user_id)
            ).fetchone()
        if row is None:
            raise UserMissing(user_id)
        return None if row[0] is None else _array(row[0])

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
        with self._read() as conn:
            target = self._target(conn, scope, collection_id)
            if target.dimensions is not None and probe.shape[0] != target.dimensions:
                raise ValueError(f"a {probe.shape[0]}-d probe in a {target.dimensions}-d collection")
            # Exact, always: a collection has far fewer users than faces.
            rows = conn.execute(
                "SELECT * FROM (SELECT user_id, face_count, seq, (vector <=> %(probe)b) AS distance FROM users"
                " WHERE collection_seq = %(seq)s AND vector IS NOT NULL AND user_id IS DISTINCT FROM %(exclude)s"
                " ORDER BY distance, seq LIMIT %(limit)s) nearest WHERE distance <= %(max_distance)s"
                " ORDER BY distance, seq",
                {
                    "probe": probe,
                    "seq": target.seq,
                    "exclude": exclude_user_id,
                    "limit": limit,
                    "max_distance": max_distance,
                },
            ).fetchall()
        return [(StoredUser(r[0], int(r[1])), float(r[3])) for r in rows]

    # -- idempotency -------------------------------------------------------

    def recall_response(self, scope: Scope, operation: str, token: str) -> tuple[str, str] | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT fingerprint, response FROM idempotency WHERE account = %s AND region = %s"
                " AND operation = %s AND token = %s AND created_at > %s",
                (scope.account, scope.region, operation, token, time.time() - IDEMPOTENCY_WINDOW_S),
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def remember_response(self, scope: Scope, operation: str, token: str, fingerprint: str, response: str) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute("DELETE FROM idempotency WHERE created_at <= %s", (now - IDEMPOTENCY_WINDOW_S,))
            conn.execute(
                "INSERT INTO idempotency (account, region, operation, token, fingerprint, response, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (account, region, operation, token) DO NOTHING",
                (scope.account, scope.region, operation, token, fingerprint, response, now),
            )


def _hnsw_name(seq: int) -> str:
    """The name of a collection's HNSW index."""
    return f"faces_hnsw_{seq}"
