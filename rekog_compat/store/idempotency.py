"""ClientRequestToken records, for every backend: a response is kept for a day, the first one wins.

The `idempotency` table is the same in both schemas and both drivers run the same statements,
so the SQL is written once here; only the parameter mark differs ("?" for sqlite3, "%s" for
psycopg). The caller passes a connection, inside a write transaction for `remember`.
"""

from __future__ import annotations

import time

from .base import Scope
from .records import Executes

IDEMPOTENCY_WINDOW_S = 24 * 3600  # a ClientRequestToken is remembered for a day


def recall(conn: Executes, mark: str, scope: Scope, operation: str, token: str) -> tuple[str, str] | None:
    """(fingerprint, response) of a call with this token within the window, if any."""
    row = conn.execute(
        f"SELECT fingerprint, response FROM idempotency WHERE account = {mark} AND region = {mark}"
        f" AND operation = {mark} AND token = {mark} AND created_at > {mark}",
        (scope.account, scope.region, operation, token, time.time() - IDEMPOTENCY_WINDOW_S),
    ).fetchone()
    return None if row is None else (row[0], row[1])


def remember(
    conn: Executes, mark: str, scope: Scope, operation: str, token: str, fingerprint: str, response: str
) -> None:
    """Keep the response of (operation, token) unless one is kept already; forget those past the window."""
    now = time.time()
    conn.execute(f"DELETE FROM idempotency WHERE created_at <= {mark}", (now - IDEMPOTENCY_WINDOW_S,))
    values = ", ".join([mark] * 7)
    conn.execute(
        "INSERT INTO idempotency (account, region, operation, token, fingerprint, response, created_at)"
        f" VALUES ({values}) ON CONFLICT (account, region, operation, token) DO NOTHING",
        (scope.account, scope.region, operation, token, fingerprint, response, now),
    )
