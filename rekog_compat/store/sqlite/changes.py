"""The change log: how every process sharing the SQLite file learns of the others' writes.

Every write appends ("face" | "user", id) rows to `changes` in its own transaction. A process's
in-memory index remembers the last change it applied (`applied_seq`) and, before a search,
replays the newer ones with `catch_up`: the item's row as it is now replaces the index's entry.
Rows older than CHANGES_KEPT_S are pruned now and then; the position pruned through is kept in
`meta`, and an index older than it cannot catch up: its owner reloads it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

import numpy as np

from ..rules import mean_direction
from ..vectors import SearchIndex
from .rows import user_faces, vector

# Change-log rows older than this are pruned; a process that fell further behind reloads.
CHANGES_KEPT_S = 3600
PRUNE_EVERY_WRITES = 500


def note(conn: sqlite3.Connection, seq: int, kind: str, item_ids: Iterable[str]) -> None:
    """Within the write's transaction: record that these items of collection `seq` changed."""
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


def pruned_through(conn: sqlite3.Connection) -> int:
    """The last change-log position pruned: an index that applied less cannot catch up."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'changes_pruned_through'").fetchone()
    return int(row[0]) if row else 0


def last_change(conn: sqlite3.Connection) -> int:
    """The change-log position a snapshot read now reflects."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])


def catch_up(conn: sqlite3.Connection, index: SearchIndex, seq: int, kind: str) -> None:
    """Within a snapshot: apply to the collection's face or user index the changes since its `applied_seq`."""
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
                index.add([item_id], np.array([row["seq"]]), vector(row["embedding"])[np.newaxis, :])
        else:
            user = conn.execute(
                "SELECT seq FROM users WHERE collection_seq = ? AND user_id = ?", (seq, item_id)
            ).fetchone()
            vectors = user_faces(conn, seq, item_id)
            if user is not None and vectors:
                index.add([item_id], np.array([user["seq"]]), mean_direction(vectors)[np.newaxis, :])
    index.applied_seq = int(rows[-1]["seq"])
