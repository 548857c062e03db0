"""The table of implemented operations: each handler registers itself with `@operation(Name)`.

The table holds every handler wrapped by store_races.answering_races, so a store error of a
concurrent deletion answers as AWS does whatever the operation; the decorated function itself is
returned unwrapped. handlers/__init__.py imports every operation module, which fills the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .store_races import Handler, answering_races

H = TypeVar("H", bound=Handler)

_REGISTERED: dict[str, Handler] = {}


def operation(name: str) -> Callable[[H], H]:
    """Register the decorated function as the handler of API operation `name` (once per name)."""

    def register(handler: H) -> H:
        if name in _REGISTERED:
            raise ValueError(f"operation {name} already has a handler")
        _REGISTERED[name] = answering_races(handler)
        return handler

    return register


def registered() -> dict[str, Handler]:
    """Operation name -> its race-answering handler, for every operation registered so far."""
    return dict(_REGISTERED)
