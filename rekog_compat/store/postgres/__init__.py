"""A shared store: PostgreSQL with the pgvector extension, for several server processes on several machines.

Same semantics as `SqliteStore` (the reference implementation), but every process reads the
database itself instead of an in-memory copy, so a write committed by one process is seen by the
next request to any other. Searches run in the database (`<=>`, cosine distance): exact in a
small collection, through an HNSW index in a large one (hnsw.py). See docs/postgres.md.

- schema.py: the migrations; database.py: the connection pool, its transactions, its errors;
- repository.py: `PostgresStore`, the SQL of collections, tags, faces (users.py: that of users);
- hnsw.py: a large collection's HNSW index, and how a face search widens through it;
- rows.py: the reads several of these share.

psycopg is imported by this package only: `open_store` imports it when a PostgreSQL URL is given.
"""

from __future__ import annotations

from .database import StoreUnavailable, redact
from .repository import PostgresStore
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore", "StoreUnavailable", "redact"]
