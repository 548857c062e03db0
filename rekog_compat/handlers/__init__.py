"""One handler per implemented API call: orchestration only, no HTTP, no SQL.

Importing the operation modules registers their handlers (registry.operation); HANDLERS maps each
operation name to its handler, wrapped to answer concurrent deletions as AWS does (store_races.py).
"""

from __future__ import annotations

from . import collection_faces, collections, faces, stream_processors, tags, users, video  # noqa: F401 - they register their handlers
from .registry import registered
from .store_races import Handler

HANDLERS: dict[str, Handler] = registered()
