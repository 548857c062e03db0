"""`serve --workers N`: N server processes under gunicorn, sharing one store.

dlib's embedding holds the GIL, so one process uses one core; throughput needs processes.
Each worker builds its own services after the fork (models, store connections, audit log
handle), so nothing crosses a fork. Writes from one worker are seen by the next search of
every other (the store's change log); the audit log is appended under a file lock.
gunicorn's SIGTERM is graceful: in-flight requests finish before the workers exit.
A server asked for TLS runs here even with one worker (`tls.py`: waitress has no TLS). Each worker
has its own admission queue (`admission.py`) and one thread per request it may hold.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from .app import MAX_BODY_BYTES
from .config import ServerConfig
from .tls import gunicorn_tls_settings

log = logging.getLogger("rekog_compat")


class WorkerServer(BaseApplication):
    """gunicorn, configured from a ServerConfig, loading the app in each worker."""

    def __init__(self, config: ServerConfig, build_app: Any) -> None:
        self.server_config = config
        self.build_app = build_app
        super().__init__()

    def load_config(self) -> None:
        config = self.server_config
        settings: dict[str, Any] = {
            "bind": f"{config.host}:{config.port}",
            "workers": config.workers,
            "worker_class": "gthread",
            # One thread per request the admission may hold, running or queued, plus a few to answer
            # throttles: requests wait in the bounded admission queue, not in gthread's unbounded one.
            "threads": config.server_threads(),
            "worker_connections": max(1000, config.connection_limit()),  # 1000: gunicorn's default
            "timeout": 300,
            "graceful_timeout": 30,
            "limit_request_field_size": 16384,
            "when_ready": self._ready,
            "accesslog": None,
            **gunicorn_tls_settings(config),
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 24: no admin socket in $HOME
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)

    def _ready(self, server: Any) -> None:
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        print(f"rekog-compat workers={self.server_config.workers} body limit={MAX_BODY_BYTES}", flush=True)
        scheme = "https" if self.server_config.tls else "http"
        print(f"rekog-compat listening on {scheme}://{host}:{port}", flush=True)

    def load(self) -> Any:
        return self.build_app()
