"""What an operation handler is given: the caller, the request and the server's services."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ServerConfig
from .store import Scope, Store


@dataclass
class Services:
    """Long-lived components shared by all requests of a server process."""

    config: ServerConfig
    store: Store
    face_model_version: str


@dataclass(frozen=True)
class RequestContext:
    """One request, as handlers see it (no HTTP below this point)."""

    scope: Scope
    access_key: str | None
    request_id: str
    source_ip: str | None
    services: Services

    @property
    def store(self) -> Store:
        return self.services.store
