"""What an operation handler is given: the caller, the request and the server's services."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .audit import AuditLog
from .config import ServerConfig
from .engine import FaceEngine
from .images import LoadedImage, S3ImageReader, load_image
from .store import Scope, Store

if TYPE_CHECKING:
    from .stream.supervisor import StreamSupervisor
    from .video.runner import VideoJobRunner


@dataclass
class Services:
    """Long-lived components shared by all requests of a server process."""

    config: ServerConfig
    store: Store
    engine: FaceEngine
    s3: S3ImageReader
    audit: AuditLog | None = None
    video: VideoJobRunner | None = None  # runs the stored-video jobs; None: this process runs none
    streams: StreamSupervisor | None = None  # runs the stream processors; None: this process runs none

    @property
    def face_model_version(self) -> str:
        """The FaceModelVersion of new collections and stateless calls: the configured model."""
        return self.engine.model_version


@dataclass(frozen=True)
class RequestContext:
    """One request, as handlers see it (no HTTP below this point)."""

    scope: Scope
    access_key: str | None
    request_id: str
    source_ip: str | None
    services: Services
    # What the audit record needs to know beyond the request and the response.
    notes: dict[str, Any] = field(default_factory=dict)
    # Milliseconds spent per phase ("engine", "search"): the response's Server-Timing header.
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the time spent inside to `phase`, so a client can tell the engine's part from the search's."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + (time.perf_counter() - started) * 1000

    @property
    def store(self) -> Store:
        return self.services.store

    def load_image(self, image: Mapping[str, Any], role: str = "image") -> LoadedImage:
        """A request's Image member (Bytes or S3Object) decoded, or the AWS error; its SHA-256 is noted."""
        loaded = load_image(image, self.services.s3)
        self.notes.setdefault("image_sha256", {})[role] = loaded.sha256
        return loaded

    def threshold(self, params: Mapping[str, Any], member: str, default: float, policy: bool = True) -> float:
        """The Similarity threshold a call runs at: the one asked (or the default), raised to
        the server's `--min-match-threshold` policy; both are noted for the audit log."""
        asked = params.get(member)
        applied = asked if asked is not None else default
        if policy:
            applied = self.services.config.policy_threshold(applied)
        self.notes["threshold"] = {"member": member, "asked": asked, "applied": applied}
        return float(applied)

    def limit(self, params: Mapping[str, Any], member: str, default: int, cap: int | None = None) -> int:
        """How many results a call returns (asked or default, capped); both are noted."""
        asked = params.get(member)
        applied = asked if asked is not None else default
        if cap is not None:
            applied = min(applied, cap)
        self.notes["max_results"] = {"member": member, "asked": asked, "applied": applied}
        return int(applied)
