"""AWS's JSON error shape for what is refused below the app: framing, stalled requests, TLS, overload.

The HTTP servers (waitress by default, gunicorn for --workers/TLS) answer a request they cannot parse with
an HTML or plain-text page of their own, which no AWS SDK can read. Every such refusal is answered here
instead, as the app answers its own errors: an AWS JSON 1.1 body with `__type` and `Message`, the status
of the error, and `x-amzn-RequestId`. AWS's front end answers malformed HTTP before the service sees it, in
no documented shape; the choices made here are listed in docs/security.md ("Broken HTTP").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from io import BytesIO
from typing import Any

from .errors import AwsError, ImageTooLargeException, RequestTimeoutException, SerializationException
from .protocol import CONTENT_TYPE, dump, error_document, new_request_id

Headers = list[tuple[str, str]]


def malformed(problem: str) -> SerializationException:
    """The refusal of a request whose HTTP framing (request line, headers, length, chunks) is broken."""
    return SerializationException(f"Malformed HTTP request: {problem.strip() or 'unreadable'}")


def status_line(error: AwsError) -> str:
    return f"{error.status} {HTTPStatus(error.status).phrase}"


def refusal(error: AwsError, close: bool = True) -> tuple[str, Headers, bytes]:
    """(status, headers, body) of `error` in AWS's JSON; `close`: the connection ends after it (its framing
    cannot be trusted, or the rest of the request never came)."""
    body = dump(error_document(error))
    headers = [
        ("Content-Type", CONTENT_TYPE),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", new_request_id()),
    ]
    if close:
        headers.append(("Connection", "close"))
    return status_line(error), headers, body


def raw_refusal(error: AwsError) -> bytes:
    """`error` as a whole HTTP/1.1 response, for a server that writes it to the socket itself."""
    status, headers, body = refusal(error)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body


class RequestStalled(Exception):
    """A read of the request (headers or body) waited longer than the server's read timeout.

    Raised by the socket gunicorn's parser reads (`workers.py`), where a TimeoutError would only be logged;
    the app and the worker answer it with RequestTimeoutException.
    """


class WholeBody:
    """WSGI middleware: the request body is read to its end before `app` sees the request, and a body that
    cannot be read (it stalls, breaks its chunking, ends early or is too large) is refused here in AWS's JSON.

    For a server that hands the app a body still arriving (gunicorn): without it a stalled body would hold one
    of the admission's `--max-concurrent` places while it waits (`admission.py`), and 16 stalled clients
    would block every other one. waitress reads whole bodies itself and needs none of this.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
        try:
            body = self._read(environ)
        except AwsError as error:  # no Connection header: PEP 3333 leaves hop-by-hop headers to the server
            status, headers, document = refusal(error, close=False)
            start_response(status, headers)
            return [document]
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _read(self, environ: dict[str, Any]) -> bytes:
        declared = environ.get("CONTENT_LENGTH") or None
        if declared is not None and int(declared) > self.limit:  # the server has checked it is a number
            raise ImageTooLargeException()
        try:
            body = bytes(environ["wsgi.input"].read(self.limit + 1))
        except RequestStalled:
            raise RequestTimeoutException() from None
        except Exception as exc:  # a broken chunk, a connection gone
            raise malformed(f"the body could not be read ({type(exc).__name__})") from None
        if len(body) > self.limit:
            raise ImageTooLargeException()
        if declared is not None and len(body) != int(declared):
            raise malformed("the body ended before its Content-Length")
        return body
