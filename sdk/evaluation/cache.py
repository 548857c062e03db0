"""The resumable result cache: one JSON line per scored pair, indexed gallery image or searched probe.

A key hashes what decides the result: the kind of call, the scorer (the server's version and model, or the AWS
region), the SHA-256 of each image sent, and for a search the gallery it searched. A rerun into the same --out
finds every result already there and sends nothing; a run cut short (Ctrl-C, a crash, a lost connection) keeps
every line it wrote, each flushed as it is written, and a torn last line is ignored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any

CACHE_NAME = "eval-cache.jsonl"


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(kind: str, scorer: str, *parts: str) -> str:
    """A stable key for one result: SHA-256 over the kind, the scorer and the parts, tab-separated."""
    return hashlib.sha256("\t".join((kind, scorer, *parts)).encode("utf-8")).hexdigest()


class ResultCache:
    """Results by key, read from `path` at open and appended to as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self.hits = 0
        self.stored = 0
        self.ignored_lines = 0
        self._handle: IO[str] | None = None
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self.entries[record["key"]] = record["value"]
                except (ValueError, KeyError, TypeError):
                    self.ignored_lines += 1  # a line torn by a crash mid-write

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached result, counting a hit, or None."""
        value = self.entries.get(key)
        if value is not None:
            self.hits += 1
        return value

    def has(self, key: str) -> bool:
        return key in self.entries

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store and append one result (flushed at once)."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
            if self.ignored_lines:
                self._handle.write("\n")  # never glue a new record onto a torn line
        self._handle.write(json.dumps({"key": key, "value": value}, sort_keys=True) + "\n")
        self._handle.flush()
        self.entries[key] = value
        self.stored += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
