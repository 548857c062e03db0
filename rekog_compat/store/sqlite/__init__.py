"""The embedded default store: one SQLite file (WAL) under the data directory, searched in memory.

- schema.py: the migrations and the file's name; database.py: connections and transactions;
- repository.py: `SqliteStore`, the SQL of collections, tags, faces (users.py: that of users);
- changes.py: the change log every write appends to, so that every process sees the others' writes;
- index_cache.py: the in-memory search indexes, kept in step with the change log;
- ann_builder.py: the approximate (faiss IVF) index of a large collection, built, written, read back;
- rows.py: the reads several of these share.
"""

from __future__ import annotations

from .ann_builder import AnnSettings
from .repository import SqliteStore
from .schema import DB_FILENAME, MIGRATIONS, SCHEMA_VERSION

__all__ = ["DB_FILENAME", "MIGRATIONS", "SCHEMA_VERSION", "AnnSettings", "SqliteStore"]
