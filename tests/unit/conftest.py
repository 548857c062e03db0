"""Fixtures of the unit tests: a store of each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.postgres import fresh_database
from rekog_compat.store import SqliteStore
from tests.support.postgres import postgres_server_url  # noqa: F401 (a fixture)

StoreFactory = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgres"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens a store of the parametrized backend, on the same storage each time; closes them all at the end."""
    opened: list[Any] = []
    if request.param == "sqlite":

        def open_sqlite(**_kwargs: Any) -> SqliteStore:
            opened.append(SqliteStore(tmp_path))
            return opened[-1]

        yield open_sqlite
        for store in opened:
            store.close()
        return
    from rekog_compat.store.postgres import PostgresStore

    server = request.getfixturevalue("postgres_server_url")
    with fresh_database(server) as url:

        def open_postgres(**kwargs: Any) -> PostgresStore:
            opened.append(PostgresStore(url, **kwargs))
            return opened[-1]

        open_postgres.url = url  # type: ignore[attr-defined]
        yield open_postgres
        for store in opened:
            store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Any:
    return store_factory()
