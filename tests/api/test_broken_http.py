"""Broken HTTP below the app: every refusal answers AWS's JSON error, every stalled read is bounded.

Raw requests no SDK would send (bad Content-Length, bad chunks, headers too large, bodies that stop
arriving) against the default server (waitress), gunicorn (--workers 2) and gunicorn over TLS. Each is
answered with `__type`, `Message` and `x-amzn-RequestId`, parses as that error in botocore, and comes
within the read timeout; stalled connections never slow other clients down.
"""

from __future__ import annotations

import ssl
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.raw_http import BROKEN_REQUESTS, Answer, botocore_error_code, exchange, head
from tests.support.tls import self_signed_cert

READ_TIMEOUT_S = 5.0
ANSWER_MARGIN_S = 3.0  # the server looks for stalled requests once a second; a loaded CI machine is slower
STALLED_CONNECTIONS = 32

def assert_aws_refusal(answer: Answer | None, status: int, code: str) -> None:
    assert answer is not None, "no answer"
    assert answer.status == status, answer.raw[:300]
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    document = answer.json()
    assert document["__type"] == code and document["Message"], document
    assert answer.headers.get("x-amzn-requestid")
    assert botocore_error_code(answer) == code
    assert answer.seconds < READ_TIMEOUT_S + ANSWER_MARGIN_S


class Target:
    """A running server and how to reach it (a TLS context for https)."""

    def __init__(self, server: LiveServer, context: ssl.SSLContext | None = None, cafile: str | None = None) -> None:
        self.server, self.url, self.context, self.cafile = server, server.url, context, cafile

    def send(self, raw: bytes, **kwargs: Any) -> Answer | None:
        return exchange(self.url, raw, wait=READ_TIMEOUT_S + 30, context=self.context, **kwargs)


@pytest.fixture(scope="module", params=["waitress", "gunicorn", "gunicorn-tls"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp(request.param)
    args: tuple[str, ...] = ("--read-timeout", str(READ_TIMEOUT_S))
    context = cafile = None
    if request.param != "waitress":
        args += ("--workers", "2")
    if request.param == "gunicorn-tls":
        cert = self_signed_cert(folder / "cert")
        args += cert.serve_args()
        context, cafile = ssl.create_default_context(cafile=str(cert.cert)), str(cert.cert)
    server = LiveServer(folder / "data", *args).start(timeout=120)
    yield Target(server, context, cafile)
    assert server.stop() == 0, "".join(server.output)
    assert "Traceback" not in "".join(server.output), "".join(server.output)


@pytest.mark.parametrize("case", sorted(BROKEN_REQUESTS))
def test_broken_framing_and_stalled_requests_answer_aws_json_within_the_read_timeout(target, case):
    raw, status, code = BROKEN_REQUESTS[case]
    assert_aws_refusal(target.send(raw), status, code)
    assert target.send(head() + b"Content-Length: 2\r\n\r\n{}").status == 200  # and the server serves on


def test_a_client_closing_its_side_before_the_body_is_complete_is_answered(target):
    if target.context is not None:
        pytest.skip("TLS has no half-closed connection: closing a TLS connection closes both ways")
    answer = target.send(head() + b"Content-Length: 50\r\n\r\n{}", half_close=True)
    assert_aws_refusal(answer, 400, "SerializationException")


def test_a_request_line_that_is_not_tls_on_the_https_port_is_answered_in_json(target):
    if target.context is None:
        pytest.skip("plain-HTTP server")
    answer = exchange(target.url.replace("https://", "http://"), head() + b"Content-Length: 2\r\n\r\n{}", wait=30)
    assert_aws_refusal(answer, 400, "SerializationException")


def test_32_stalled_connections_do_not_slow_other_clients(target, validated_operations):
    client = make_client(target.url, validated_operations, verify=target.cafile)
    client.list_collections()  # a connection and a thread warmed up
    answers: list[Answer | None] = []
    lock = threading.Lock()

    def stall(raw: bytes) -> None:
        answer = target.send(raw)
        with lock:
            answers.append(answer)

    stalls = [head() + b"Content-Length: 100\r\n\r\n{", b"POST / HTTP/1.1\r\nHost: x\r\n"]
    threads = [threading.Thread(target=stall, args=(stalls[i % 2],)) for i in range(STALLED_CONNECTIONS)]
    opened = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every stalled request is in the server
    latencies = []
    while time.monotonic() - opened < READ_TIMEOUT_S - 1 and len(latencies) < 200:
        started = time.perf_counter()
        client.list_collections()
        latencies.append((time.perf_counter() - started) * 1000)
    for thread in threads:
        thread.join()
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert len(latencies) >= 50 and p99 <= 100, f"p99 {p99:.1f} ms over {len(latencies)} calls"
    assert len(answers) == STALLED_CONNECTIONS
    for answer in answers:
        assert_aws_refusal(answer, 408, "RequestTimeoutException")


@pytest.mark.parametrize("region", ["x" * 300, "régión-1", "us-east-1; DROP", "US-EAST-1"])
def test_a_credential_scope_naming_no_region_is_refused_and_creates_nothing(target, region, validated_operations):
    authorization = (f"Authorization: AWS4-HMAC-SHA256 Credential=AKIDX/20261203/{region}/rekognition/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    create = head("RekognitionService.CreateCollection", authorization) + b'Content-Length: 22\r\n\r\n{"CollectionId":"bad"}'
    assert_aws_refusal(target.send(create.decode("latin-1").encode("utf-8")), 403, "InvalidSignatureException")
    client = make_client(target.url, validated_operations, access_key="AKIDX", verify=target.cafile)
    assert "bad" not in client.list_collections()["CollectionIds"]


def test_the_default_read_timeout_is_at_most_30_seconds(tmp_path: Path):
    from rekog_compat.cli import build_parser

    assert 0 < build_parser().parse_args(["serve"]).read_timeout <= 30
