"""A collection's tags, for every backend: the `collection_tags` table and its statements are the
same in both schemas, so the SQL is written once here; only the parameter mark differs ("?" for
sqlite3, "%s" for psycopg). The caller passes a connection, inside a write transaction (with the
collection locked) for `set_tags` and `remove_tags`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .records import Executes
from .rules import check_tag_limit


def get_tags(conn: Executes, mark: str, seq: int) -> dict[str, str]:
    rows = conn.execute(f"SELECT key, value FROM collection_tags WHERE collection_seq = {mark} ORDER BY key", (seq,))
    return {row[0]: row[1] for row in rows.fetchall()}


def add_tags(conn: Executes, mark: str, seq: int, tags: Mapping[str, str]) -> None:
    """Add or overwrite tags, with no limit (CreateCollection's)."""
    _each(
        conn,
        f"INSERT INTO collection_tags (collection_seq, key, value) VALUES ({mark}, {mark}, {mark})"
        " ON CONFLICT (collection_seq, key) DO UPDATE SET value = excluded.value",
        [(seq, k, v) for k, v in tags.items()],
    )


def set_tags(conn: Executes, mark: str, seq: int, collection_id: str, tags: Mapping[str, str], max_tags: int) -> None:
    """TagResource: add or overwrite tags; raises TooManyTags when the result would exceed max_tags."""
    rows = conn.execute(f"SELECT key FROM collection_tags WHERE collection_seq = {mark}", (seq,))
    check_tag_limit(collection_id, {row[0] for row in rows.fetchall()}, tags, max_tags)
    add_tags(conn, mark, seq, tags)


def remove_tags(conn: Executes, mark: str, seq: int, keys: Sequence[str]) -> None:
    _each(conn, f"DELETE FROM collection_tags WHERE collection_seq = {mark} AND key = {mark}", [(seq, k) for k in keys])


def _each(conn: Executes, statement: str, rows: list[tuple[object, ...]]) -> None:
    """Run `statement` once per row of parameters."""
    if not rows:
        return
    cursor = conn.cursor()
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()
