"""A large PostgreSQL collection's HNSW index, and how a face search uses it.

- A collection with fewer than `HNSW_MIN_FACES` faces is searched exactly (a scan of its rows,
  ordered by distance): 100 % recall, as SQLite.
- From `HNSW_MIN_FACES` faces on, the collection has an HNSW index (m 32, ef_construction 64)
  that the planner may use: approximate, much faster. It is built once, by the IndexFaces call
  that takes the collection past the size (or at the end of a bulk load), with `CREATE INDEX
  CONCURRENTLY`: writes to every collection go on meanwhile.
- A search widens: `hnsw.ef_search` starts at 40 and grows (200, 1000, then exact) only while
  every candidate was a match, so a search returns every face within max_distance up to
  `limit`, whatever MaxFaces.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from ..records import FACE_COLUMNS
from .database import Database
from .rows import Target

# A collection with at least this many faces gets an HNSW index, and its searches may use it;
# below it, searches are exact (100 % recall). An exact scan costs about 1 ms per 1,000 128-d
# faces (docs/postgres.md): at 20,000 it is a quarter of the ~80 ms the engine spends on a probe
# image, and the one-off index build takes seconds; past it the index keeps search time flat.
HNSW_MIN_FACES = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# hnsw.ef_search (the candidate list) of a search's tries: the next only when every candidate of
# the last one was within max_distance (there may be more); after the last (pgvector's ceiling), exact.
HNSW_EF_STEPS = (40, 200, 1000)
# maintenance_work_mem for the build: the graph (~1.2 KB a face at m 32) fits up to ~1.7M faces, and
# a build whose graph fits is several times faster than one that spills (docs/postgres.md)
HNSW_BUILD_MEMORY = "2GB"

log = logging.getLogger(__name__)


def hnsw_name(seq: int) -> str:
    """The name of a collection's HNSW index."""
    return f"faces_hnsw_{seq}"


class HnswIndexes:
    """Builds and drops collections' HNSW indexes; remembers which ones this process knows are valid."""

    def __init__(self, database: Database, min_faces: int = HNSW_MIN_FACES) -> None:
        self.min_faces = min_faces
        self._database = database
        self._indexed: set[int] = set()  # collection seqs known to have a valid HNSW index
        self._indexed_lock = threading.Lock()

    def ensure(self, seq: int, dimensions: int) -> None:
        """Build the collection's HNSW index unless it has a valid one (one builder per collection at a time).

        A partial index over the collection's rows, on the embedding cast to its size (an HNSW index
        needs a fixed size, and collections of different models share the table). Built CONCURRENTLY,
        so writes go on meanwhile. A build that fails or is interrupted leaves searches exact (and at
        worst an invalid index, dropped and rebuilt by the next call here); the faces it followed are
        stored either way, so a failure is logged, not raised."""
        with self._indexed_lock:
            if seq in self._indexed:
                return
        name = hnsw_name(seq)
        try:
            with self._database.read() as conn:
                conn.execute("SELECT pg_advisory_lock(%s::bigint)", (seq,))
                try:
                    built = _build(conn, seq, dimensions, name)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (seq,))
        except psycopg.Error as exc:
            log.warning("HNSW index %s not built (searches stay exact): %s", name, exc)
            return
        if built:
            with self._indexed_lock:
                self._indexed.add(seq)

    def forget(self, conn: psycopg.Connection[Any], seq: int) -> None:
        """Within a write: drop a collection's HNSW index (its embedding size is changing: the index casts
        to the old one)."""
        with self._indexed_lock:
            self._indexed.discard(seq)
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(hnsw_name(seq))))

    def drop(self, seq: int) -> None:
        """After a collection's rows are deleted: drop its HNSW index, if it had one, without blocking readers."""
        with self._indexed_lock:
            self._indexed.discard(seq)
        with self._database.read() as conn:
            name = hnsw_name(seq)
            if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone() != (None,):
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))

    def search(
        self,
        conn: psycopg.Connection[Any],
        target: Target,
        query: sql.Composed,
        params: dict[str, Any],
        limit: int,
        exclude: bool,
    ) -> list[Any]:
        """Within a transaction, the rows of a `search_query`. Exact below the HNSW size. Above it, the
        index with a growing candidate list: ef_search 40 answers any search with fewer than 40 faces
        within max_distance (the usual case, whatever MaxFaces); when every candidate matched, there may
        be more, so ef_search grows, and past pgvector's 1000 the search is exact."""
        if target.face_count >= self.min_faces:
            for ef_search in HNSW_EF_STEPS:
                wanted = min(limit, ef_search - (1 if exclude else 0))
                use_index(conn, ef_search)
                rows = conn.execute(query, {**params, "limit": wanted}).fetchall()
                if len(rows) < wanted or wanted >= limit:
                    return rows
        use_exact(conn)
        return conn.execute(query, {**params, "limit": limit}).fetchall()


def search_query(target: Target, exclude: bool) -> sql.Composed:
    """The k nearest faces, then those within max_distance: the same faces as filtering first (distance
    orders both), in the shape an HNSW index serves. seq and the size are literals so that the planner
    can match the collection's partial expression index (a bound parameter would not)."""
    return sql.SQL(
        "SELECT * FROM (SELECT {columns}, (embedding::vector({dims}) <=> %(probe)b) AS distance"
        " FROM faces WHERE collection_seq = {seq}{exclude} ORDER BY distance LIMIT %(limit)s) nearest"
        " WHERE distance <= %(max_distance)s ORDER BY distance, seq"
    ).format(
        columns=sql.SQL(FACE_COLUMNS),
        dims=sql.Literal(target.dimensions),
        seq=sql.Literal(target.seq),
        exclude=sql.SQL(" AND face_id <> %(exclude)s" if exclude else ""),
    )


def use_exact(conn: psycopg.Connection[Any]) -> None:
    """For the rest of the transaction: no index scan (so no HNSW), a scan of the collection's rows."""
    conn.execute("SET LOCAL enable_indexscan = off")


def use_index(conn: psycopg.Connection[Any], ef_search: int) -> None:
    """For the rest of the transaction: the planner may use the HNSW index, with this candidate list."""
    conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))


def _build(conn: psycopg.Connection[Any], seq: int, dimensions: int, name: str) -> bool:
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
