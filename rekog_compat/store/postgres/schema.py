"""The PostgreSQL store's schema: its migrations, and bringing a database up to date.

The schema version lives in `meta.schema_version`. Each process opening the store migrates it
under an advisory lock (one at a time), creating the pgvector extension first; a database
written by a newer release is refused untouched (SchemaTooNew).
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from ..rules import migrations_to_run
from ..stream_processors import DDL as STREAM_PROCESSORS_DDL
from ..video_jobs import DDL as VIDEO_JOBS_DDL
from .database import StoreUnavailable, redact

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
    # Stored-video jobs and their results (video_jobs.py).
    VIDEO_JOBS_DDL,
    # Stream processors (stream_processors.py).
    STREAM_PROCESSORS_DDL,
]
SCHEMA_VERSION = len(MIGRATIONS)

# pg_advisory_xact_lock(int, int) key for schema migrations; the one-bigint key space (used for a
# collection's index build, keyed by its seq) does not overlap with the two-int one.
_MIGRATION_LOCK = (0x72656B6F, 1)  # "reko", 1


def migrate(url: str) -> None:
    """Create the extension and bring the schema to SCHEMA_VERSION, one process at a time."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _MIGRATION_LOCK)
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"the 'vector' extension (pgvector) is not installed in {redact(url)} and could not be"
                f" created ({exc}): install pgvector on the server and run CREATE EXTENSION vector as a"
                " superuser, once"
            ) from exc
        for target, script in migrations_to_run(redact(url), read_version(conn), MIGRATIONS):
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


def read_version(conn: psycopg.Connection[Any]) -> int:
    """The schema version of the database (0 before the first migration)."""
    if conn.execute("SELECT to_regclass('meta')").fetchone() == (None,):
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return 0 if row is None else int(bytes(row[0]).decode())
