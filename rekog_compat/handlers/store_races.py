"""Store errors that a concurrent change can raise in the middle of any call, as AWS answers them.

A handler checks that its collection (or user) exists before it works on it; another client may delete
it between that check and the store call that needs it, and the store then raises CollectionMissing or
UserMissing from deep inside a write or a search. Whatever the handler, the state the call ran into is
the one AWS reports: the collection (or user) does not exist. Without this, those races answered 500.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..context import RequestContext
from ..errors import InvalidParameterException
from ..store import CollectionMissing, FaceMissing, UserMissing
from .common import not_found, user_missing

# A handler takes its operation's request TypedDict (request_types.py); Any here lets each keep its own.
Handler = Callable[[RequestContext, Any], dict[str, Any]]


def answering_races(handler: Handler) -> Handler:
    """`handler`, with the store's not-found errors of a concurrent deletion mapped to AWS's errors."""

    @functools.wraps(handler)
    def run(ctx: RequestContext, params: Any) -> dict[str, Any]:
        try:
            return handler(ctx, params)
        except CollectionMissing as missing:
            raise not_found(str(missing.args[0] if missing.args else params.get("CollectionId"))) from None
        except UserMissing as missing:
            raise user_missing(str(missing.args[0] if missing.args else params.get("UserId"))) from None
        except FaceMissing:
            raise InvalidParameterException("faceId was not found in the collection") from None

    return run
