"""SIGTERM drains: a request in flight when the signal arrives still gets its answer."""

from __future__ import annotations

import signal
import threading
import time

from tests.conftest import make_client
from tests.support.facedata import facedata_dir
from tests.support.live_server import LiveServer

GROUP = "nonface_and_bad_inputs/faces_public_domain_and_formats/insightface_t1_friends_6faces.jpg"


def test_sigterm_lets_the_request_in_flight_finish_then_exits_cleanly(tmp_path):
    server = LiveServer(tmp_path / "data").start()
    client = make_client(server.url, [])
    group = (facedata_dir() / GROUP).read_bytes()
    client.detect_faces(Image={"Bytes": group})  # models warm
    answer: dict[str, object] = {}

    def compare() -> None:  # ~1 s of work: 6 faces embedded on each side
        try:
            answer["matches"] = len(client.compare_faces(
                SourceImage={"Bytes": group}, TargetImage={"Bytes": group}, SimilarityThreshold=0
            )["FaceMatches"])
        except Exception as error:  # noqa: BLE001 - the assertion below shows what went wrong
            answer["error"] = repr(error)

    worker = threading.Thread(target=compare)
    worker.start()
    time.sleep(0.1)  # the request is on its way (being received or served) when the signal comes
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    worker.join(timeout=60)
    assert answer == {"matches": 6}, "".join(server.output)
    assert server.process.wait(timeout=60) == 0
