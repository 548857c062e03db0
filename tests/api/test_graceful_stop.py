"""SIGTERM drains: a request in flight when the signal arrives still gets its answer, over http (waitress)
and over https (which runs under gunicorn, with one worker)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from harness.live_server import LiveServer
from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.tls import self_signed_cert

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_sigterm_lets_the_request_in_flight_finish_then_exits_cleanly(tmp_path, scheme):
    cert = self_signed_cert(tmp_path / "cert") if scheme == "https" else None
    server = LiveServer(tmp_path / "data", *(cert.serve_args() if cert else ())).start(timeout=120)
    assert server.url.startswith(f"{scheme}://")
    client = make_client(server.url, [], verify=str(cert.cert) if cert else None)
    group = (facedata_dir() / GROUP).read_bytes()
    client.detect_faces(Image={"Bytes": group})  # models warm
    answer: dict[str, object] = {}

    def compare() -> None:  # ~1 s of work: 6 faces embedded on each side
        try:
            answer["matches"] = len(client.compare_faces(
                SourceImage={"Bytes": group}, TargetImage={"Bytes": group}, SimilarityThreshold=0
            )["FaceMatches"])
        except Exception as error:  # the assertion below shows what went wrong
            answer["error"] = repr(error)

    worker = threading.Thread(target=compare)
    worker.start()
    time.sleep(0.1)  # the request is on its way (being received or served) when the signal comes
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    worker.join(timeout=60)
    assert answer == {"matches": 6}, "".join(server.output)
    assert server.process.wait(timeout=60) == 0
