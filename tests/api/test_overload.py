"""Overload, through the real server and boto3: with `--max-concurrent 1 --max-queue 1`, one call runs, one
waits, and the next is answered at once with ThrottlingException (HTTP 500); botocore's own retries get
through once the load has passed; a SIGTERM still answers the running and the queued call.

A call is held inside the server deterministically: its image is an S3 object from an S3 endpoint that
answers only when the test opens its gate (tests/support/gated_s3.py). Both servers are covered: waitress
(one process) and gunicorn (here through TLS, which always runs under gunicorn, with one worker).
"""

from __future__ import annotations

import json
import re
import signal
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.gated_s3 import GatedS3
from tests.support.s3 import FAKE_AWS_ENV
from tests.support.shape_validation import install_output_validation
from tests.support.tls import self_signed_cert

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"
HELD = {"S3Object": {"Bucket": "gated", "Name": "photo.jpg"}}
WAIT_S = 60  # an upper bound for what must happen, on a loaded 2-core machine; never a timing assumption


@dataclass
class Overloadable:
    """A live server with one place and one queue place, its gated S3 endpoint, and a trusted CA if https."""

    server: LiveServer
    s3: GatedS3
    verify: str | None
    photo: bytes
    validated: list[str]

    def client(self) -> Any:
        """A client that validates answers (make_client's: at most one retry)."""
        return make_client(self.server.url, self.validated, verify=self.verify)

    def client_without_retries(self) -> Any:
        """One attempt per call (botocore's `max_attempts` counts retries; `total_max_attempts` counts attempts)."""
        return boto3.client(
            "rekognition", endpoint_url=self.server.url, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret", verify=self.verify, config=Config(retries={"total_max_attempts": 1}),
        )

    def health(self) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=self.verify) if self.verify else None
        with urllib.request.urlopen(self.server.url + "/health", timeout=WAIT_S, context=context) as answer:
            return json.loads(answer.read())

    def wait_for_load(self, running: int, queued: int) -> None:
        """Until /health (exempt from admission) reports this load: a call we sent is then where we want it."""
        deadline = time.monotonic() + WAIT_S
        while (load := self.health()["requests"])["running"] != running or load["queued"] != queued:
            assert time.monotonic() < deadline, f"the load never reached {running} running, {queued} queued: {load}"
            time.sleep(0.01)

    @contextmanager
    def calls(self) -> Iterator[ThreadPoolExecutor]:
        """Threads for calls; whatever happens, the gate is open before they are waited for."""
        with ThreadPoolExecutor(4) as pool:
            try:
                yield pool
            finally:
                self.s3.open()

    def hold_one_running_and_one_queued(self, pool: ThreadPoolExecutor) -> tuple[Future, Future]:
        """A DetectFaces held inside the app (on the gated S3 read) and a second one waiting in the queue."""
        held = pool.submit(self.client().detect_faces, Image=HELD)
        assert self.s3.requested.wait(WAIT_S), "the held call never read its S3 object"
        queued = pool.submit(self.client().detect_faces, Image={"Bytes": self.photo})
        self.wait_for_load(running=1, queued=1)
        return held, queued


@pytest.fixture(params=["waitress", "gunicorn-tls"])
def overloadable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Overloadable]:
    photo = (facedata_dir() / GROUP).read_bytes()
    tls = self_signed_cert(tmp_path / "tls") if request.param == "gunicorn-tls" else None
    with GatedS3(photo).running() as s3:
        server = LiveServer(
            tmp_path / "data", "--max-concurrent", "1", "--max-queue", "1", "--s3-endpoint-url", s3.url,
            *(tls.serve_args() if tls else ()), env=FAKE_AWS_ENV,
        ).start(timeout=120)
        try:
            assert server.url.startswith("https://" if tls else "http://")
            setup = Overloadable(server, s3, str(tls.cert) if tls else None, photo, [])
            setup.client().detect_faces(Image={"Bytes": photo})  # the models are loaded before any call is held
            yield setup
        finally:
            s3.open()
            server.stop()


def no_errors_logged(server: LiveServer) -> None:
    output = "".join(server.output)
    assert "Traceback" not in output and not re.search(r"\b(ERROR|CRITICAL)\b", output), output


def throttled_then_retried(setup: Overloadable, pool: ThreadPoolExecutor, config: Config | None) -> int:
    """With a call held and one queued: a client with these retry settings is throttled, botocore retries by
    itself, and the retry succeeds. The retry is let out once the held calls are answered, so that it must
    succeed whatever the backoff drew. The number of throttled attempts."""
    held, queued = setup.hold_one_running_and_one_queued(pool)
    attempts: list[tuple[int, str | None]] = []
    throttled_once, load_gone = threading.Event(), threading.Event()
    retrying = boto3.client(
        "rekognition", endpoint_url=setup.server.url, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret", verify=setup.verify, config=config,
    )
    install_output_validation(retrying, setup.validated)

    def on_response(response_dict: dict[str, Any] | None = None, parsed_response: Any = None, **_: Any) -> None:
        if response_dict is not None:
            code = (parsed_response or {}).get("Error", {}).get("Code")
            attempts.append((response_dict["status_code"], code))
            if code == "ThrottlingException":
                throttled_once.set()

    def before_send(**_: Any) -> None:
        if attempts:  # a retry botocore decided on: it goes out once the load has passed
            assert load_gone.wait(WAIT_S)

    retrying.meta.events.register("response-received.rekognition.DetectFaces", on_response)
    retrying.meta.events.register("before-send.rekognition.DetectFaces", before_send)
    later = pool.submit(retrying.detect_faces, Image={"Bytes": setup.photo})
    assert throttled_once.wait(WAIT_S), f"the client was not throttled: {attempts}"
    assert not held.done() and not queued.done()

    setup.s3.open()
    assert len(held.result(WAIT_S)["FaceDetails"]) == 6
    assert len(queued.result(WAIT_S)["FaceDetails"]) == 6
    load_gone.set()
    result = later.result(WAIT_S)
    assert len(result["FaceDetails"]) == 6
    assert result["ResponseMetadata"]["RetryAttempts"] == len(attempts) - 1 >= 1
    assert attempts[-1] == (200, None) and set(attempts[:-1]) == {(500, "ThrottlingException")}
    return len(attempts) - 1


def test_a_full_queue_throttles_at_once_and_botocore_retries_get_through_once_the_load_passes(overloadable):
    setup = overloadable
    with setup.calls() as pool:
        held, queued = setup.hold_one_running_and_one_queued(pool)
        # Every place taken, the queue full: the next call is refused at once, while both others are still held.
        with pytest.raises(ClientError) as refused:
            setup.client_without_retries().detect_faces(Image={"Bytes": setup.photo})
        answer = refused.value.response
        assert answer["Error"] == {"Code": "ThrottlingException", "Message": "Service Unavailable"}
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert answer["ResponseMetadata"]["RequestId"] and answer["ResponseMetadata"]["RetryAttempts"] == 0
        assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
        assert not held.done() and not queued.done()
        setup.s3.open()
        assert len(held.result(WAIT_S)["FaceDetails"]) == len(queued.result(WAIT_S)["FaceDetails"]) == 6
    throttled = 1

    # botocore's default settings, then each retry mode by name: all of them retry the throttled call.
    for config in (None, Config(retries={"mode": "legacy"}), Config(retries={"mode": "adaptive"})):
        setup.s3.close()
        with setup.calls() as pool:
            throttled += throttled_then_retried(setup, pool, config)

    # It goes on serving, with nothing left over; every throttled answer was counted; nothing else went wrong.
    client = setup.client()
    assert len(client.detect_faces(Image={"Bytes": setup.photo})["FaceDetails"]) == 6
    client.create_collection(CollectionId="after-the-burst")
    assert "after-the-burst" in client.list_collections()["CollectionIds"]
    load = setup.health()["requests"]
    assert load == {"running": 0, "queued": 0, "throttled": throttled, "maxConcurrent": 1, "maxQueue": 1}
    assert setup.s3.gets == 4
    assert {"DetectFaces", "CreateCollection", "ListCollections"} <= set(setup.validated)
    no_errors_logged(setup.server)


def test_sigterm_answers_the_running_and_the_queued_call_then_exits_cleanly(overloadable):
    setup = overloadable
    with setup.calls() as pool:
        held, queued = setup.hold_one_running_and_one_queued(pool)
        assert setup.server.process is not None
        setup.server.process.send_signal(signal.SIGTERM)
        # The server has taken the signal in (waitress logs its drain, gunicorn's arbiter its signal) before
        # the held call may finish: both calls are answered during the drain, not before it.
        wait_for_output(setup.server, re.compile(r"draining 2 in-flight|Handling signal: term"))
        setup.s3.open()
        assert len(held.result(WAIT_S)["FaceDetails"]) == 6
        assert len(queued.result(WAIT_S)["FaceDetails"]) == 6
    assert setup.server.process.wait(timeout=WAIT_S) == 0
    no_errors_logged(setup.server)


def wait_for_output(server: LiveServer, pattern: re.Pattern[str]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not pattern.search("".join(server.output)):
        assert time.monotonic() < deadline, "".join(server.output)
        time.sleep(0.01)
