"""Stream processors, for every backend: their definitions, states, tags, and the leases of the workers
that run them.

A processor is a row: its definition as created (Input, Output, Settings, ...), its tags, its `status`
(STOPPED, STARTING, RUNNING, FAILED, STOPPING, UPDATING) with a StatusMessage, and `desired`: RUNNING
from StartStreamProcessor to StopStreamProcessor. A server process's supervisor claims each processor
that should run and that no live worker holds (a lease, as video jobs have), so a processor runs in one
worker at a time, and a RUNNING processor whose server stopped or died resumes in the next one.
Both schemas hold the same table; both drivers run the same statements (parameter mark passed in).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .base import Scope
from .rules import check_tag_limit
from .video_jobs import Transaction

STOPPED, STARTING, RUNNING, FAILED, STOPPING, UPDATING = (
    "STOPPED", "STARTING", "RUNNING", "FAILED", "STOPPING", "UPDATING"
)

DDL = """
    CREATE TABLE stream_processors (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        arn TEXT NOT NULL,
        definition TEXT NOT NULL,
        tags TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        desired TEXT NOT NULL,
        session_id TEXT,
        start_request TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (account, region, name)
    );
    CREATE UNIQUE INDEX stream_processors_by_arn ON stream_processors (arn);
    CREATE INDEX stream_processors_to_run ON stream_processors (desired, lease_until)
"""

_COLUMNS = (
    "account, region, name, arn, definition, tags, status, status_message, desired, session_id, start_request,"
    " created_at, updated_at"
)


@dataclass(frozen=True)
class StreamProcessor:
    scope: Scope
    name: str
    arn: str
    definition: dict[str, Any]  # Input, Output, Settings, RoleArn and the optional members, as created
    tags: dict[str, str] = field(default_factory=dict)
    status: str = STOPPED
    status_message: str | None = None
    desired: str = STOPPED
    session_id: str | None = None
    start_request: dict[str, Any] | None = None  # StartSelector, StopSelector
    created_at: float = 0.0
    updated_at: float = 0.0


def _processor(row: Any) -> StreamProcessor:
    return StreamProcessor(
        scope=Scope(row[0], row[1]), name=row[2], arn=row[3], definition=json.loads(row[4]), tags=json.loads(row[5]),
        status=row[6], status_message=row[7], desired=row[8], session_id=row[9],
        start_request=json.loads(row[10]) if row[10] else None, created_at=float(row[11]), updated_at=float(row[12]),
    )


class ProcessorExists(Exception):
    pass


class ProcessorMissing(Exception):
    pass


class ProcessorBusy(Exception):
    """The processor's state does not allow the change (AWS's ResourceInUseException); the message says why."""


class TooManyProcessors(Exception):
    pass


class StreamProcessors:
    """The processors of one store's database (`write`: a transaction; `read`: a connection)."""

    def __init__(self, write: Transaction, read: Transaction, mark: str, claim_lock: str = "") -> None:
        self._write, self._read, self._m, self._claim_lock = write, read, mark, claim_lock

    def _where(self) -> str:
        return f"account = {self._m} AND region = {self._m} AND name = {self._m}"

    def _locked(self, conn: Any, scope: Scope, name: str) -> StreamProcessor:
        lock = " FOR UPDATE" if self._claim_lock else ""
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM stream_processors WHERE {self._where()}{lock}", (scope.account, scope.region, name)
        ).fetchone()
        if row is None:
            raise ProcessorMissing()
        return _processor(row)

    def create(self, processor: StreamProcessor, max_per_account: int) -> None:
        m, now = self._m, time.time()
        with self._write() as conn:
            if conn.execute(
                f"SELECT 1 FROM stream_processors WHERE {self._where()}",
                (processor.scope.account, processor.scope.region, processor.name),
            ).fetchone():
                raise ProcessorExists()
            count = conn.execute(
                f"SELECT COUNT(*) FROM stream_processors WHERE account = {m} AND region = {m}",
                (processor.scope.account, processor.scope.region),
            ).fetchone()[0]
            if count >= max_per_account:
                raise TooManyProcessors()
            conn.execute(
                "INSERT INTO stream_processors (account, region, name, arn, definition, tags, status, desired,"
                f" created_at, updated_at) VALUES ({', '.join([m] * 10)})",
                (processor.scope.account, processor.scope.region, processor.name, processor.arn,
                 json.dumps(processor.definition), json.dumps(processor.tags), STOPPED, STOPPED, now, now),
            )

    def get(self, scope: Scope, name: str) -> StreamProcessor | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM stream_processors WHERE {self._where()}", (scope.account, scope.region, name)
            ).fetchone()
        return None if row is None else _processor(row)

    def by_arn(self, arn: str) -> StreamProcessor | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM stream_processors WHERE arn = {self._m}", (arn,)).fetchone()
        return None if row is None else _processor(row)

    def page(self, scope: Scope, offset: int, limit: int) -> tuple[list[StreamProcessor], bool]:
        m = self._m
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM stream_processors WHERE account = {m} AND region = {m} ORDER BY name"
                f" LIMIT {m} OFFSET {m}",
                (scope.account, scope.region, limit + 1, offset),
            ).fetchall()
        return [_processor(r) for r in rows[:limit]], len(rows) > limit

    def change(
        self, scope: Scope, name: str, change: Callable[[StreamProcessor], dict[str, Any]]
    ) -> StreamProcessor:
        """Apply `change` (the processor as it is -> the columns to set; it raises ProcessorBusy to refuse)
        in one transaction; the processor as it was."""
        with self._write() as conn:
            current = self._locked(conn, scope, name)
            updates = change(current)
            self._set(conn, scope, name, updates)
        return current

    def _set(self, conn: Any, scope: Scope, name: str, updates: dict[str, Any]) -> None:
        values = {k: json.dumps(v) if k in ("definition", "tags", "start_request") and v is not None else v
                  for k, v in {**updates, "updated_at": time.time()}.items()}
        assignments = ", ".join(f"{k} = {self._m}" for k in values)
        conn.execute(
            f"UPDATE stream_processors SET {assignments} WHERE {self._where()}",
            (*values.values(), scope.account, scope.region, name),
        )

    def delete(self, scope: Scope, name: str, busy: tuple[str, ...]) -> None:
        """Delete the processor unless its status is one of `busy` (ProcessorBusy)."""
        with self._write() as conn:
            current = self._locked(conn, scope, name)
            if current.status in busy or current.desired == RUNNING:
                raise ProcessorBusy(f"The stream processor {name} is {current.status}: stop it first.")
            conn.execute(f"DELETE FROM stream_processors WHERE {self._where()}", (scope.account, scope.region, name))

    def set_tags(self, arn: str, tags: dict[str, str], remove: list[str], max_tags: int) -> None:
        """Add `tags` and drop the `remove` keys of the processor named by `arn` (ProcessorMissing, TooManyTags)."""
        with self._write() as conn:
            row = conn.execute(f"SELECT account, region, name, tags FROM stream_processors WHERE arn = {self._m}",
                               (arn,)).fetchone()
            if row is None:
                raise ProcessorMissing()
            current = {k: v for k, v in json.loads(row[3]).items() if k not in remove}
            if tags:
                check_tag_limit(row[2], set(current), tags, max_tags)  # TooManyTags
            self._set(conn, Scope(row[0], row[1]), row[2], {"tags": {**current, **tags}})

    # -- the workers' side --------------------------------------------------------------------------

    def claim(self, owner: str, lease_s: float, abandoned: Callable[[str], bool]) -> StreamProcessor | None:
        """A processor that should run and that no live worker holds, leased to `owner`; None when there is none."""
        m, now = self._m, time.time()
        with self._read() as conn:  # supervisors poll: an idle store is looked at, not locked for writing
            if conn.execute(
                f"SELECT 1 FROM stream_processors WHERE desired = {m} OR status IN ({m}, {m}, {m}) LIMIT 1",
                (RUNNING, STARTING, RUNNING, STOPPING),
            ).fetchone() is None:
                return None
        with self._write() as conn:
            # Asked to stop while no worker held it (before a worker claimed it, or its worker died): stopped.
            conn.execute(
                f"UPDATE stream_processors SET status = {m}, lease_owner = NULL WHERE desired = {m} AND status IN"
                f" ({m}, {m}, {m}) AND (lease_owner IS NULL OR lease_until < {m})",
                (STOPPED, STOPPED, STARTING, RUNNING, STOPPING, now),
            )
            rows = conn.execute(
                f"SELECT {_COLUMNS}, lease_owner, lease_until FROM stream_processors WHERE desired = {m}"
                f" ORDER BY updated_at {self._claim_lock}",
                (RUNNING,),
            ).fetchall()
            for row in rows:
                holder, until = row[13], float(row[14])
                if holder is not None and until > now and not abandoned(holder):
                    continue
                processor = _processor(row)
                conn.execute(
                    f"UPDATE stream_processors SET lease_owner = {m}, lease_until = {m} WHERE {self._where()}",
                    (owner, now + lease_s, processor.scope.account, processor.scope.region, processor.name),
                )
                return processor
        return None

    def _desired_if_held(self, conn: Any, processor: StreamProcessor, owner: str) -> str | None:
        """The processor's `desired` state when `owner` holds its lease; None when it does not (or it is gone)."""
        row = conn.execute(
            f"SELECT desired, lease_owner FROM stream_processors WHERE {self._where()}",
            (processor.scope.account, processor.scope.region, processor.name),
        ).fetchone()
        return None if row is None or row[1] != owner else str(row[0])

    def report(
        self, processor: StreamProcessor, owner: str, lease_s: float, status: str, message: str | None
    ) -> str | None:
        """Renew `owner`'s lease and record the processor's state; the state it should be in (`desired`),
        or None when `owner` no longer holds it. A processor asked to stop is left STOPPING for `finish`."""
        with self._write() as conn:
            desired = self._desired_if_held(conn, processor, owner)
            if desired == RUNNING:  # a renewal is no update of the processor: LastUpdateTimestamp stays
                m = self._m
                conn.execute(
                    f"UPDATE stream_processors SET status = {m}, status_message = {m}, lease_until = {m}"
                    f" WHERE {self._where()}",
                    (status, message, time.time() + lease_s, processor.scope.account, processor.scope.region,
                     processor.name),
                )
            return desired

    def finish(self, processor: StreamProcessor, owner: str, status: str, message: str | None, stop: bool) -> None:
        """`owner`'s worker ends with `status` (STOPPED or FAILED). `stop`: the processor stays stopped (asked
        to, done, failed); otherwise (the server is stopping) it stays to run and the next worker resumes it."""
        with self._write() as conn:
            held = self._desired_if_held(conn, processor, owner)
            if held is None:
                return
            desired = STOPPED if stop else held
            shown = STARTING if desired == RUNNING else status  # handed over: the next worker starts it
            self._set(conn, processor.scope, processor.name, {
                "status": shown, "status_message": message, "desired": desired, "lease_owner": None,
                "lease_until": 0,
            })

