"""ClientRequestToken: the same token with the same parameters returns the first response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from ..context import RequestContext
from ..errors import IdempotentParameterMismatchException


def fingerprint(params: Mapping[str, Any]) -> str:
    """What identifies a request apart from its ClientRequestToken."""
    rest = {k: v for k, v in params.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()


def idempotent(
    ctx: RequestContext, operation: str, params: Mapping[str, Any], run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run `run` once per (caller, operation, token); a repeat gets the stored response, a
    repeat with other parameters IdempotentParameterMismatchException. Errors are not stored,
    so a failed call can be retried with its token (boto3 sends one on every call)."""
    token = params.get("ClientRequestToken")
    if token is None:
        return run()
    digest = fingerprint(params)
    earlier = ctx.store.recall_response(ctx.scope, operation, token)
    if earlier is not None:
        if earlier[0] != digest:
            raise IdempotentParameterMismatchException()
        return dict(json.loads(earlier[1]))
    response = run()
    ctx.store.remember_response(ctx.scope, operation, token, digest, json.dumps(response))
    return response
