"""What an operation handler is given: the caller, the request and the server's services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import ServerConfig
from .engine import FaceEngine
from .images import LoadedImage, S3ImageReader, load_image
from .store import Scope, Store


@dataclass
class Services:
    """Long-lived components shared by all requests of a server process."""

    config: ServerConfig
    store: Store
    engine: FaceEngine
    s3: S3ImageReader

    @property
    def face_model_version(self) -> str:
        """The FaceModelVersion of new collections and stateless calls: the configured model."""
        return self.engine.model_version

    def load_image(self, image: dict[str, Any]) -> LoadedImage:
        """A request's Image member (Bytes or S3Object) decoded, or the AWS error."""
        return load_image(image, self.s3)


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
