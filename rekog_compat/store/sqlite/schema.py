"""The SQLite store's schema: its migrations, the file's name, and bringing a file up to date.

The schema version lives in `PRAGMA user_version`. A file written by any earlier release is
migrated on opening, one entry of MIGRATIONS at a time inside one write transaction; one written
by a newer release is refused untouched (SchemaTooNew).
"""

from __future__ import annotations

import secrets
import sqlite3

from ..rules import migrations_to_run
from ..stream_processors import DDL as STREAM_PROCESSORS_DDL
from ..video_jobs import DDL as VIDEO_JOBS_DDL

DB_FILENAME = "rekog-compat.sqlite3"

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
    # Stored-video jobs and their results (video_jobs.py).
    VIDEO_JOBS_DDL,
    # Stream processors (stream_processors.py).
    STREAM_PROCESSORS_DDL,
    # Indexes are keyed by row number (label): the change log records the changed item's. Older
    # change rows have none: they are dropped, and every index older than them reloads.
    """
    ALTER TABLE changes ADD COLUMN item_seq INTEGER NOT NULL DEFAULT 0;
    INSERT INTO meta (key, value) SELECT 'changes_pruned_through', COALESCE(MAX(seq), 0) FROM changes WHERE true
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    DELETE FROM changes;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, where: str) -> None:
    """Within a write transaction: bring the schema to SCHEMA_VERSION, and make the store's secret once."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for target, script in migrations_to_run(where, version, MIGRATIONS):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)", (secrets.token_bytes(32),))
