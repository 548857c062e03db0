"""The change log: how every process sharing the SQLite file learns of the others' writes.

Every write appends ("face" | "user", id, row number) rows to `changes` in its own transaction.
A process's in-memory index remembers the change-log position it reflects (`applied_seq`) and,
before a search, replays the newer ones with `catch_up`: each changed item's row as it is now
replaces the index's entry (by its row number: faces.seq or users.seq, the index's label). Rows
older than CHANGES_KEPT_S are pruned now and then, except those a persisted approximate index
still needs (ann_builder.py); the position pruned through is kept in `meta`, and an index older
than it cannot catch up: its owner reloads it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

import numpy as np

from ..rules import mean_direction
from ..vectors import SearchIndex
from .rows import vector

# Change-log rows older than this are pruned; a process that fell further behind reloads.
CHANGES_KEPT_S = 3600
PRUNE_EVERY_WRITES = 500
ROWS_PER_READ = 10_000  # row numbers per `IN (...)` look-up
ANN_POSITION_KEY = "ann_change_seq:"  # meta key + collection seq: the position a persisted index reflects


def note(conn: sqlite3.Connection, seq: int, kind: str, items: Iterable[tuple[str, int]]) -> None:
    """Within the write's transaction: record that these (id, row number) items of collection `seq` changed."""
    rows = [(seq, kind, item_id, item_seq, time.time()) for item_id, item_seq in items]
    if not rows:
        return
    conn.executemany(
        "INSERT INTO changes (collection_seq, kind, item_id, item_seq, created_at) VALUES (?, ?, ?, ?, ?)", rows
    )
    last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    if last % PRUNE_EVERY_WRITES < len(rows):
        cutoff = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE created_at < ?", (time.time() - CHANGES_KEPT_S,)
        ).fetchone()[0]
        held = conn.execute("SELECT MIN(value) FROM meta WHERE key LIKE ?", (ANN_POSITION_KEY + "%",)).fetchone()[0]
        if held is not None:
            cutoff = min(cutoff, int(held))  # a persisted approximate index still needs the rest
        if cutoff > pruned_through(conn):
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
    """The change-log position a snapshot read now reflects (at least the position pruned through:
    a log pruned empty has still moved on)."""
    return max(int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]), pruned_through(conn))


def catch_up(conn: sqlite3.Connection, index: SearchIndex, seq: int, kind: str) -> None:
    """Within a snapshot: apply to the collection's face or user index the changes since its
    `applied_seq`, and move it to the snapshot's last change (changes to other collections
    included: there is nothing of theirs to apply)."""
    last = last_change(conn)
    if last <= index.applied_seq:
        return
    changed = conn.execute(
        "SELECT DISTINCT item_seq FROM changes WHERE collection_seq = ? AND kind = ? AND seq > ?",
        (seq, kind, index.applied_seq),
    ).fetchall()
    labels = sorted(int(r[0]) for r in changed)
    for start in range(0, len(labels), ROWS_PER_READ):
        part = labels[start : start + ROWS_PER_READ]
        (_apply_faces if kind == "face" else _apply_users)(conn, index, seq, part)
    index.applied_seq = last


def _apply_faces(conn: sqlite3.Connection, index: SearchIndex, seq: int, labels: list[int]) -> None:
    """Faces are added or deleted, never changed: add those the table holds, remove the others."""
    rows = conn.execute(
        f"SELECT seq, embedding FROM faces WHERE seq IN ({', '.join('?' * len(labels))}) AND +collection_seq = ?",
        (*labels, seq),
    ).fetchall()
    present = {int(r[0]) for r in rows}
    index.remove(np.array([label for label in labels if label not in present], dtype=np.int64))
    new = [r for r in rows if int(r[0]) not in index]
    if new:
        index.add(np.array([r[0] for r in new], dtype=np.int64), np.stack([vector(r[1]) for r in new]))


def _apply_users(conn: sqlite3.Connection, index: SearchIndex, seq: int, labels: list[int]) -> None:
    """A user's vector is the mean of its faces': recomputed for each changed user that has faces."""
    rows = conn.execute(
        "SELECT u.seq, f.embedding FROM users u JOIN faces f ON f.collection_seq = u.collection_seq"
        f" AND f.user_id = u.user_id WHERE u.seq IN ({', '.join('?' * len(labels))}) AND +u.collection_seq = ?"
        " ORDER BY u.seq, f.seq",
        (*labels, seq),
    ).fetchall()
    grouped: dict[int, list[np.ndarray]] = {}
    for r in rows:
        grouped.setdefault(int(r[0]), []).append(vector(r[1]))
    index.remove(np.array(labels, dtype=np.int64))
    if grouped:
        index.add(np.array(list(grouped), dtype=np.int64), np.stack([mean_direction(v) for v in grouped.values()]))
