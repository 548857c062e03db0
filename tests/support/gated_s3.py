"""An S3 endpoint that holds every GetObject until the test opens its gate: a call with `Image.S3Object`
then stays inside the server, taking one of its places, for exactly as long as the test wants.

It answers GetObject with the real bytes it was given. While the gate is closed it sends the headers and
then one byte of the body a second, so that the server's S3 read timeout (10 s a read) never fires however
long the test holds it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRICKLE_EVERY_S = 1.0


class GatedS3:
    """GET /<bucket>/<key> answers `body`, once `open()` was called; `requested` is set by the first GET."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requested = threading.Event()
        self.gate = threading.Event()
        self.gets = 0
        gated = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # the name http.server calls
                gated.gets += 1
                gated.requested.set()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(gated.body)))
                self.send_header("ETag", '"gated"')
                self.end_headers()
                sent = 0
                while not gated.gate.wait(TRICKLE_EVERY_S) and sent < len(gated.body) - 1:
                    self.wfile.write(gated.body[sent:sent + 1])
                    self.wfile.flush()
                    sent += 1
                self.wfile.write(gated.body[sent:])

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def open(self) -> None:
        self.gate.set()

    def close(self) -> None:
        """Hold the next GetObject again (call it once the previous one was answered)."""
        self.requested.clear()
        self.gate.clear()

    @contextmanager
    def running(self) -> Iterator[GatedS3]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.gate.set()
            self._server.shutdown()
            self._server.server_close()
