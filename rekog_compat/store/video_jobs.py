"""Stored-video jobs, for every backend: the queue the job runners claim from, and the results they leave.

A job is a row: what was asked (the Start* request, as the handler normalised it), its state
(IN_PROGRESS, SUCCEEDED, FAILED) and a lease. A runner claims a job by writing its name and a lease
deadline into the row, keeps the lease alive while it works, and finishes the job only while it still
holds it, so a job's results are written once even when several processes (or several servers on one
PostgreSQL) run jobs. A job whose runner died is claimed again when its lease runs out, or at once when
the runner was a process of this machine that no longer exists. Each claim counts an attempt; a job
claimed `MAX_ATTEMPTS` times (its video kills the process, say) fails instead of running forever.

Results are rows too (one per FaceDetection or PersonMatch, in time order, with the person's index),
so Get* pages them by SQL. Both schemas hold the same tables and both drivers run the same statements
(parameter mark passed in); PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, SQLite inside its
`BEGIN IMMEDIATE` write transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .base import Scope
from .records import Executes

RETENTION_S = 7 * 24 * 3600  # AWS keeps a job's results for 7 days
MAX_ATTEMPTS = 3
IN_PROGRESS, SUCCEEDED, FAILED = "IN_PROGRESS", "SUCCEEDED", "FAILED"

# One statement per entry: SQLite's migration runs a script split on ";".
DDL = """
    CREATE TABLE video_jobs (
        job_id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        api TEXT NOT NULL,
        client_token TEXT,
        fingerprint TEXT NOT NULL,
        request TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        video_metadata TEXT,
        progress DOUBLE PRECISION NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION
    );
    CREATE UNIQUE INDEX video_jobs_by_token ON video_jobs (account, region, api, client_token);
    CREATE INDEX video_jobs_by_status ON video_jobs (status, lease_until);
    CREATE TABLE video_job_items (
        job_id TEXT NOT NULL REFERENCES video_jobs (job_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        person_index BIGINT,
        timestamp_ms BIGINT NOT NULL,
        item TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    );
    CREATE INDEX video_job_items_by_person ON video_job_items (job_id, person_index, position);
"""

_JOB_COLUMNS = (
    "job_id, account, region, api, request, status, status_message, video_metadata, progress, attempts,"
    " created_at, finished_at"
)


@dataclass(frozen=True)
class VideoJob:
    job_id: str
    scope: Scope
    api: str  # the Start operation: StartFaceDetection | StartFaceSearch
    request: dict[str, Any]
    status: str = IN_PROGRESS
    status_message: str | None = None
    video_metadata: dict[str, Any] | None = None
    progress: float = 0.0
    attempts: int = 0
    created_at: float = 0.0
    finished_at: float | None = None


@dataclass(frozen=True)
class JobItem:
    """One result of a job: a FaceDetection or a PersonMatch, its time and (for a search) its person."""

    timestamp_ms: int
    item: dict[str, Any]
    person_index: int | None = None


class TooManyJobs(Exception):
    """The account has as many jobs in progress as it may."""


class JobTokenReused(Exception):
    """A ClientRequestToken already started a job with other parameters."""


def _job(row: Any) -> VideoJob:
    return VideoJob(
        job_id=row[0],
        scope=Scope(row[1], row[2]),
        api=row[3],
        request=json.loads(row[4]),
        status=row[5],
        status_message=row[6],
        video_metadata=json.loads(row[7]) if row[7] else None,
        progress=float(row[8]),
        attempts=int(row[9]),
        created_at=float(row[10]),
        finished_at=None if row[11] is None else float(row[11]),
    )


Transaction = Callable[[], AbstractContextManager[Executes]]


class VideoJobs:
    """The job queue and results on one store's database (`write`: a transaction; `read`: a connection)."""

    def __init__(
        self, write: Transaction, read: Transaction, mark: str, claim_lock: str = "", account_lock: str = ""
    ) -> None:
        """`claim_lock` ends the claim's SELECT (PostgreSQL: FOR UPDATE SKIP LOCKED); `account_lock` is a statement
        taking the account (its one parameter) for the rest of the transaction, so that counting the account's
        jobs and adding one are atomic (SQLite's write transactions are serial already)."""
        self._write, self._read, self._m = write, read, mark
        self._claim_lock, self._account_lock = claim_lock, account_lock

    def create(self, job: VideoJob, token: str | None, fingerprint: str, max_in_progress: int) -> str:
        """Queue `job` and return its JobId; the JobId of the earlier job when `token` started one with the same
        `fingerprint` (JobTokenReused when with another); TooManyJobs when the account has `max_in_progress`
        running."""
        m = self._m
        with self._write() as conn:
            if self._account_lock:
                conn.execute(self._account_lock, (job.scope.account,))
            self._purge(conn)
            if token is not None:
                row = conn.execute(
                    f"SELECT job_id, fingerprint FROM video_jobs WHERE account = {m} AND region = {m} AND api = {m}"
                    f" AND client_token = {m}",
                    (job.scope.account, job.scope.region, job.api, token),
                ).fetchone()
                if row is not None:
                    if row[1] != fingerprint:
                        raise JobTokenReused()
                    return str(row[0])
            running = conn.execute(
                f"SELECT COUNT(*) FROM video_jobs WHERE account = {m} AND status = {m}",
                (job.scope.account, IN_PROGRESS),
            ).fetchone()[0]
            if running >= max_in_progress:
                raise TooManyJobs()
            conn.execute(
                "INSERT INTO video_jobs (job_id, account, region, api, client_token, fingerprint, request, status,"
                f" created_at) VALUES ({', '.join([m] * 9)})",
                (job.job_id, job.scope.account, job.scope.region, job.api, token, fingerprint,
                 json.dumps(job.request), IN_PROGRESS, time.time()),
            )
        return job.job_id

    def get(self, scope: Scope, job_id: str) -> VideoJob | None:
        """The caller's job, while its results are kept."""
        m = self._m
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM video_jobs WHERE job_id = {m} AND account = {m} AND region = {m}",
                (job_id, scope.account, scope.region),
            ).fetchone()
        job = None if row is None else _job(row)
        if job is not None and job.finished_at is not None and job.finished_at < time.time() - RETENTION_S:
            return None
        return job

    def claim(self, owner: str, lease_s: float, abandoned: Callable[[str], bool]) -> VideoJob | None:
        """Take the oldest job in progress that no live runner holds, for `lease_s`; None when there is none.
        `abandoned(owner)` tells a holder known to be gone (a dead process of this machine) before its lease ends."""
        m, now = self._m, time.time()
        with self._read() as conn:  # runners poll: an idle store is looked at, not locked for writing
            if conn.execute(f"SELECT 1 FROM video_jobs WHERE status = {m} LIMIT 1", (IN_PROGRESS,)).fetchone() is None:
                return None
        with self._write() as conn:
            rows = conn.execute(
                f"SELECT {_JOB_COLUMNS}, lease_owner, lease_until FROM video_jobs WHERE status = {m}"
                f" ORDER BY created_at {self._claim_lock}",
                (IN_PROGRESS,),
            ).fetchall()
            for row in rows:
                holder, until = row[12], float(row[13])
                if holder is not None and until > now and not abandoned(holder):
                    continue
                job = _job(row)
                if job.attempts >= MAX_ATTEMPTS:
                    conn.execute(
                        f"UPDATE video_jobs SET status = {m}, status_message = {m}, finished_at = {m},"
                        f" lease_owner = NULL WHERE job_id = {m}",
                        (FAILED, f"The job was interrupted {job.attempts} times before it could finish.", now,
                         job.job_id),
                    )
                    continue
                conn.execute(
                    f"UPDATE video_jobs SET lease_owner = {m}, lease_until = {m}, attempts = attempts + 1"
                    f" WHERE job_id = {m}",
                    (owner, now + lease_s, job.job_id),
                )
                return job
        return None

    def renew(self, job_id: str, owner: str, lease_s: float, progress: float) -> bool:
        """Extend `owner`'s lease on the job; False when it no longer holds it (another runner took it over)."""
        m = self._m
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE video_jobs SET lease_until = {m}, progress = {m} WHERE job_id = {m} AND lease_owner = {m}"
                f" AND status = {m}",
                (time.time() + lease_s, progress, job_id, owner, IN_PROGRESS),
            )
            return bool(cursor.rowcount)

    def release(self, job_id: str, owner: str) -> None:
        """Give the job back unfinished (the server is stopping): the next runner may claim it at once."""
        m = self._m
        with self._write() as conn:
            conn.execute(
                f"UPDATE video_jobs SET lease_owner = NULL, lease_until = 0, attempts = attempts - 1"
                f" WHERE job_id = {m} AND lease_owner = {m} AND status = {m}",
                (job_id, owner, IN_PROGRESS),
            )

    def finish(
        self,
        job_id: str,
        owner: str,
        status: str,
        message: str | None,
        metadata: dict[str, Any] | None,
        items: Iterable[JobItem] = (),
    ) -> bool:
        """Record the job's end and its results, if `owner` still holds it; False when it does not."""
        m = self._m
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE video_jobs SET status = {m}, status_message = {m}, video_metadata = {m}, progress = 1,"
                f" finished_at = {m}, lease_owner = NULL WHERE job_id = {m} AND lease_owner = {m} AND status = {m}",
                (status, message, json.dumps(metadata) if metadata else None, time.time(), job_id, owner,
                 IN_PROGRESS),
            )
            if not cursor.rowcount:
                return False
            conn.cursor().executemany(
                f"INSERT INTO video_job_items (job_id, position, person_index, timestamp_ms, item)"
                f" VALUES ({', '.join([m] * 5)})",
                [(job_id, position, i.person_index, i.timestamp_ms, json.dumps(i.item)) for position, i in
                 enumerate(items)],
            )
        return True

    def items(self, job_id: str, by_person: bool, offset: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """A page of the job's results in time order (or by person, then time), and whether more follow."""
        m = self._m
        order = "person_index, position" if by_person else "position"
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT item FROM video_job_items WHERE job_id = {m} ORDER BY {order} LIMIT {m} OFFSET {m}",
                (job_id, limit + 1, offset),
            ).fetchall()
        return [json.loads(r[0]) for r in rows[:limit]], len(rows) > limit

    def _purge(self, conn: Executes) -> None:
        """Forget jobs finished more than the retention period ago (their items go with them)."""
        cutoff = time.time() - RETENTION_S
        m = self._m
        conn.execute(f"DELETE FROM video_job_items WHERE job_id IN (SELECT job_id FROM video_jobs WHERE"
                     f" finished_at < {m})", (cutoff,))
        conn.execute(f"DELETE FROM video_jobs WHERE finished_at < {m}", (cutoff,))

