"""The audit log: one JSON line per call that reads or changes faces, hash-chained.

Each record carries `prev`, the SHA-256 of the previous line as written (the first record's
`prev` is 64 zeros), and `seq`, its position. Editing, deleting, inserting or reordering a
line breaks the chain at that point, which `verify` reports. Records are written (and
fsynced) before the caller gets its answer, so an acknowledged call is on disk even after
`kill -9`; when the log cannot be written the call fails instead (unless configured to go on).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("rekog_compat.audit")

GENESIS = "0" * 64

# Every call that reads or changes faces.
AUDITED_OPERATIONS = frozenset({
    "IndexFaces", "ListFaces", "DeleteFaces", "SearchFaces", "SearchFacesByImage", "CompareFaces",
    "DetectFaces", "DeleteCollection", "CreateUser", "DeleteUser", "ListUsers", "AssociateFaces",
    "DisassociateFaces", "SearchUsers", "SearchUsersByImage", "StartFaceDetection", "GetFaceDetection",
    "StartFaceSearch", "GetFaceSearch",
})


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class AuditLog:
    """Appends chained records to one file; safe for the threads of one process."""

    def __init__(self, path: str | os.PathLike[str], fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq, self._prev = self._resume()
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for the life of the server
        self._end = self._size()

    def _resume(self) -> tuple[int, str]:
        """Position and hash after the last complete record; a torn last line (a crash while
        writing, never acknowledged) is cut off so the chain goes on from the last good one."""
        if not self.path.is_file():  # new, or a device/pipe a deployment streams the log to
            return 0, GENESIS
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            log.warning("audit log %s ends with a torn record (%d bytes); removing it", self.path, len(data) - cut)
            with open(self.path, "r+b") as f:
                f.truncate(cut)
            data = data[:cut]
        lines = data.splitlines(keepends=True)
        if not lines:
            return 0, GENESIS
        last = json.loads(lines[-1])
        return int(last["seq"]) + 1, line_hash(lines[-1])

    def _size(self) -> int | None:
        """The file's size, or None for a device or pipe (which has no tail to follow)."""
        info = os.fstat(self._file.fileno())
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def _follow(self) -> None:
        """Another process (a `--workers` sibling) appended since our last write: chain on
        from its last record."""
        size = self._size()
        if size is None or size == self._end:
            return
        with open(self.path, "rb") as f:
            f.seek(max(0, size - 1_048_576))
            last = f.read().splitlines(keepends=True)[-1]
        record = json.loads(last)
        self._seq, self._prev, self._end = int(record["seq"]) + 1, line_hash(last), size

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (adds seq and prev); raises OSError when it cannot be written.
        Processes sharing the file take turns under an exclusive lock on it."""
        with self._lock:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            try:
                self._follow()
                body = {"seq": self._seq, "prev": self._prev, **record}
                line = (json.dumps(body, separators=(",", ":"), sort_keys=True, default=str) + "\n").encode()
                self._file.write(line)
                self._file.flush()
                if self.fsync:
                    os.fsync(self._file.fileno())
                self._seq += 1
                self._prev = line_hash(line)
                size = self._size()
                self._end = size if size is not None else 0
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            self._file.close()


@dataclass(frozen=True)
class ChainBreak:
    line: int  # 1-based line number of the first record that does not follow
    reason: str


def verify(lines: Iterable[bytes]) -> tuple[int, str, ChainBreak | None]:
    """(records checked, hash of the last good record, first break or None) for one log file.

    The chain proves every record but the last was not changed; anchor the last hash
    elsewhere (another system, a printed report) to protect the tail too."""
    prev, expected_seq, count = GENESIS, 0, 0
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            return count, prev, ChainBreak(number, "not a JSON record")
        if not isinstance(record, dict) or record.get("prev") != prev:
            return count, prev, ChainBreak(
                number, f"does not carry the hash of line {number - 1}: that line was changed, or a record "
                "was removed, inserted or moved here"
            )
        if record.get("seq") != expected_seq:
            return count, prev, ChainBreak(number, f"sequence number {record.get('seq')}, expected {expected_seq}")
        prev, expected_seq, count = line_hash(line), expected_seq + 1, count + 1
    return count, prev, None


def read_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def matches(
    record: dict[str, Any],
    since: datetime | None = None,
    until: datetime | None = None,
    collection: str | None = None,
    face_id: str | None = None,
    operation: str | None = None,
) -> bool:
    """Whether a record passes `audit query`'s filters (a FaceId may be searched or matched)."""
    when = datetime.fromisoformat(record["time"])
    if (since and when < since) or (until and when > until):
        return False
    if collection and record.get("collection") != collection:
        return False
    if operation and record.get("operation") != operation:
        return False
    return not face_id or face_id in json.dumps(record)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def face_match_entry(match: dict[str, Any]) -> dict[str, Any]:
    """A FaceMatch as the audit log keeps it: the stored face's FaceId and ExternalImageId, and the Similarity."""
    face = match.get("Face", {})
    return {**{k: face[k] for k in ("FaceId", "ExternalImageId") if k in face}, "Similarity": match.get("Similarity")}


def _match_entries(response: dict[str, Any]) -> list[dict[str, Any]]:
    """Who a response matched or touched: FaceIds/ExternalImageIds/UserIds with Similarity."""
    entries: list[dict[str, Any]] = []
    entries += [face_match_entry(match) for match in response.get("FaceMatches", [])]
    for match in response.get("UserMatches", []):
        entries.append({"UserId": match["User"]["UserId"], "Similarity": match.get("Similarity")})
    for record in response.get("FaceRecords", []):
        face = record["Face"]
        entries.append({k: face[k] for k in ("FaceId", "ExternalImageId") if k in face})
    for key in ("DeletedFaces",):
        entries += [{"FaceId": face_id} for face_id in response.get(key, [])]
    for key in ("AssociatedFaces", "DisassociatedFaces"):
        entries += [{"FaceId": item["FaceId"]} for item in response.get(key, [])]
    for face in response.get("Faces", []):  # ListFaces (GetFaceDetection's faces name no stored face)
        if "FaceId" in face:
            entries.append({k: face[k] for k in ("FaceId", "ExternalImageId") if k in face})
    for person in response.get("Persons", []):  # GetFaceSearch
        entries += [{**face_match_entry(match), "Timestamp": person.get("Timestamp")}
                    for match in person.get("FaceMatches", [])]
    return entries


def build_record(
    *,
    request_id: str,
    account: str,
    region: str,
    access_key: str | None,
    source_ip: str | None,
    operation: str,
    params: dict[str, Any],
    notes: dict[str, Any],
    response: dict[str, Any] | None,
    result: str,
) -> dict[str, Any]:
    """The audit record of one call: who, what, on which collection, with which thresholds,
    what it matched, the SHA-256 of each image (never the image) and how it ended."""
    record: dict[str, Any] = {
        "time": now_iso(),
        "request_id": request_id,
        "account": account,
        "region": region,
        "access_key_id": access_key,
        "source_ip": source_ip,
        "operation": operation,
        "collection": params.get("CollectionId"),
        "result": result,
    }
    for member in ("UserId", "FaceId", "ExternalImageId"):
        if member in params:
            record[member] = params[member]
    if "FaceIds" in params:
        record["FaceIds"] = params["FaceIds"]
    record.update(notes)
    if response is not None:
        entries = _match_entries(response)
        record["matched"] = len(entries)
        record["matches"] = entries
        if "FaceDetails" in response:
            record["faces_detected"] = len(response["FaceDetails"])
    return record
