"""Raw HTTP/1.1 exchanges over a socket: requests no HTTP client library would send."""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.session import get_session

TARGET = "RekognitionService.ListCollections"


def head(target: str = TARGET, *extra: str) -> bytes:
    """A request's start line and headers, unterminated: the caller adds framing headers and CRLF CRLF."""
    lines = ["POST / HTTP/1.1", "Host: localhost", f"X-Amz-Target: {target}",
             "Content-Type: application/x-amz-json-1.1", *extra]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(url: str, raw: bytes, wait: float = 60, half_close: bool = False,
             context: ssl.SSLContext | None = None) -> Answer | None:
    """Send `raw`, read until the server closes (or `wait` passes); the first answer, None when none came."""
    parts = urlsplit(url)
    sock: socket.socket = socket.create_connection((parts.hostname, parts.port), timeout=wait)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    started = time.monotonic()
    received = b""
    with sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        try:
            while chunk := sock.recv(65536):
                received += chunk
                answer = parse(received, started)
                if answer is not None and answer.headers.get("connection", "").lower() != "close":
                    return answer  # kept alive: nothing more comes
        except (TimeoutError, ConnectionResetError):
            pass
    return parse(received, started)


def parse(received: bytes, started: float) -> Answer | None:
    """The first complete response in `received`, if there is one."""
    head_end = received.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = received[:head_end].decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    body = received[head_end + 4 : head_end + 4 + length]
    if len(body) < length:
        return None
    return Answer(int(lines[0].split()[1]), headers, body, time.monotonic() - started, received)


# Requests no SDK would send, each with the status and __type it is answered with.
OVERSIZED_HEADER = f"X-Padding: {'a' * 300_000}"
BROKEN_REQUESTS: dict[str, tuple[bytes, int, str]] = {
    "non-numeric Content-Length": (head() + b"Content-Length: abc\r\n\r\n{}", 400, "SerializationException"),
    "negative Content-Length": (head() + b"Content-Length: -5\r\n\r\n{}", 400, "SerializationException"),
    "two Content-Lengths": (head() + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400,
                            "SerializationException"),
    "enormous Content-Length": (head() + b"Content-Length: 99999999999999\r\n\r\n{}", 400, "ImageTooLargeException"),
    "bad chunk size": (head() + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400,
                       "SerializationException"),
    "unsupported transfer coding": (head() + b"Transfer-Encoding: gzip\r\n\r\n{}", 400, "SerializationException"),
    "garbage request line": (b"\x16\x03\x01 nonsense\r\n\r\n", 400, "SerializationException"),
    "headers too large": (head(TARGET, OVERSIZED_HEADER) + b"Content-Length: 2\r\n\r\n{}", 400,
                          "SerializationException"),
    "body shorter than Content-Length": (head() + b"Content-Length: 50\r\n\r\n{}", 408, "RequestTimeoutException"),
    "headers that stop arriving": (b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Tar", 408, "RequestTimeoutException"),
}


def botocore_error_code(answer: Answer, operation: str = "ListCollections") -> str:
    """The error code botocore's own JSON parser reads from an answer (as boto3 raises it)."""
    model = ServiceModel(get_session().get_service_data("rekognition"))
    parsed = create_parser(model.metadata["protocol"]).parse(
        {"status_code": answer.status, "headers": answer.headers, "body": answer.body},
        model.operation_model(operation).output_shape,
    )
    return str(parsed["Error"]["Code"])
