"""Admission: at most N requests in the app, M waiting in order, the rest throttled at once in AWS's JSON.

Real threads, held inside a gated app by events: no test depends on how long anything takes.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from rekog_compat.admission import Admission
from rekog_compat.app import create_app
from rekog_compat.config import ANSWERING_THREADS, ServerConfig
from rekog_compat.context import Services
from rekog_compat.engine import EngineConfig, FaceEngine
from rekog_compat.identity import AccountResolver
from rekog_compat.images import S3ImageReader
from rekog_compat.store import SqliteStore

WAIT_S = 30  # an upper bound for a thread to reach a state it is certain to reach, never a timing assumption


class GatedApp:
    """A WSGI app that records who entered it and holds each request until the test opens its gate."""

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.inside: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def expect(self, name: str) -> None:
        self.gates[name] = threading.Event()
        self.inside[name] = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
        name = environ["test.name"]
        with self._lock:
            self.entered.append(name)
        self.inside[name].set()
        assert self.gates[name].wait(WAIT_S)
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    def read(self, *_args: Any) -> bytes:
        raise AssertionError("a throttled request's body was read")

    readline = readinto = read  # type: ignore[assignment]


class Call:
    """One request through the middleware, on its own thread; its status, headers and body once answered."""

    def __init__(self, admission: Admission, name: str, body: Any = None, path: str = "/") -> None:
        self.name = name
        self.status = ""
        self.headers: dict[str, str] = {}
        self.body = b""
        self.done = threading.Event()
        self.environ = {
            "test.name": name, "PATH_INFO": path, "REQUEST_METHOD": "POST",
            "wsgi.input": body if body is not None else io.BytesIO(name.encode()),
        }
        self._thread = threading.Thread(target=self._run, args=(admission,), daemon=True)

    def start(self) -> Call:
        self._thread.start()
        return self

    def _run(self, admission: Admission) -> None:
        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            self.status, self.headers = status, dict(headers)

        result = admission(self.environ, start_response)
        try:
            self.body = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        self.done.set()

    def answer(self) -> Call:
        assert self.done.wait(WAIT_S), f"{self.name} was never answered"
        return self


def wait_until(condition: Callable[[], bool]) -> None:
    """Until `condition` holds (it must come to hold: another thread is on its way to it)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the expected state was never reached"
        time.sleep(0.001)


def running(admission: Admission, name: str, app: GatedApp) -> Call:
    """A request inside the app, held there."""
    app.expect(name)
    call = Call(admission, name).start()
    assert app.inside[name].wait(WAIT_S)
    return call


def queued(admission: Admission, name: str, app: GatedApp) -> Call:
    """A request waiting in the admission queue."""
    app.expect(name)
    before = admission.snapshot()["queued"]
    call = Call(admission, name).start()
    wait_until(lambda: admission.snapshot()["queued"] == before + 1)
    return call


def test_a_request_beyond_the_running_and_queued_places_is_throttled_at_once_unread():
    app = GatedApp()
    admission = Admission(app, max_concurrent=1, max_queue=1)
    first = running(admission, "first", app)
    second = queued(admission, "second", app)

    third = Call(admission, "third", body=UnreadableBody()).start().answer()  # answered while both are held
    assert third.status == "500 Internal Server Error"
    assert json.loads(third.body)["__type"] == "ThrottlingException"
    assert app.entered == ["first"] and not first.done.is_set() and not second.done.is_set()
    assert admission.snapshot() == {"running": 1, "queued": 1, "throttled": 1, "maxConcurrent": 1, "maxQueue": 1}

    app.gates["first"].set()
    assert first.answer().status == "200 OK" and first.body == b"first"
    assert app.inside["second"].wait(WAIT_S)  # the queued request goes in as soon as a place frees
    app.gates["second"].set()
    assert second.answer().body == b"second"
    assert app.entered == ["first", "second"]
    assert admission.snapshot()["running"] == admission.snapshot()["queued"] == 0


def test_the_throttle_answer_has_the_form_of_every_other_aws_error_of_the_app(tmp_path):
    """Same headers, same document as the app's own errors: botocore reads __type, Message, the request id."""
    services = Services(ServerConfig(), SqliteStore(tmp_path), FaceEngine(EngineConfig()), S3ImageReader(None))
    flask_app = create_app(services, AccountResolver())
    reference = flask_app.test_client().post("/", data=b"{}", headers={"X-Amz-Target": "RekognitionService.Nope"})
    admission = Admission(flask_app, max_concurrent=1, max_queue=0)
    assert admission.admit()  # the one place is taken
    throttled = Call(admission, "over", body=UnreadableBody()).start().answer()
    admission.release()

    assert throttled.status.split()[0] == "500"
    assert {k.lower() for k in throttled.headers} == {k.lower() for k, _ in reference.headers.items()}
    assert throttled.headers["Content-Type"] == reference.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert int(throttled.headers["Content-Length"]) == len(throttled.body)
    assert throttled.headers["x-amzn-RequestId"] != reference.headers["x-amzn-RequestId"]
    document = json.loads(throttled.body)
    assert set(document) == set(json.loads(reference.data))
    assert document["__type"] == document["Code"] == "ThrottlingException"
    assert document["Message"] == "Service Unavailable"


def test_waiting_requests_go_in_in_arrival_order():
    app = GatedApp()
    admission = Admission(app, max_concurrent=1, max_queue=3)
    calls = [running(admission, "a", app)] + [queued(admission, name, app) for name in ("b", "c", "d")]
    for call in calls:
        assert app.inside[call.name].wait(WAIT_S)
        assert app.entered[-1] == call.name  # nobody else went in before this one left
        app.gates[call.name].set()
        call.answer()
    assert app.entered == ["a", "b", "c", "d"]
    assert admission.snapshot()["throttled"] == 0


def test_a_freed_place_goes_to_the_longest_waiting_request_never_to_a_newcomer():
    admission = Admission(GatedApp(), max_concurrent=1, max_queue=2)
    assert admission.admit()
    waiter = threading.Thread(target=admission.admit, daemon=True)
    waiter.start()
    wait_until(lambda: admission.snapshot()["queued"] == 1)
    admission.release()
    # Handed over at once, whether or not the waiter has woken up yet: no place is free for anyone else.
    assert admission.snapshot()["running"] == 1 and admission.snapshot()["queued"] == 0
    newcomer = threading.Thread(target=admission.admit, daemon=True)
    newcomer.start()
    wait_until(lambda: admission.snapshot()["queued"] == 1)
    waiter.join(WAIT_S)
    assert not waiter.is_alive() and newcomer.is_alive()
    admission.release()
    newcomer.join(WAIT_S)
    assert not newcomer.is_alive() and admission.snapshot()["running"] == 1
    admission.release()
    assert admission.snapshot()["running"] == 0


def test_the_place_is_held_until_the_server_closes_the_response_and_freed_when_the_app_fails():
    closed = []

    class Body(list):
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("the app failed")
        start_response("200 OK", [])
        return Body([b"ok"])

    admission = Admission(app, max_concurrent=1, max_queue=0)
    result = admission({"PATH_INFO": "/"}, lambda *_: None)
    assert admission.snapshot()["running"] == 1
    assert list(result) == [b"ok"]
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]  # a second close gives nothing back twice
    assert closed == [True, True] and admission.snapshot()["running"] == 0
    with pytest.raises(RuntimeError):
        admission({"PATH_INFO": "/fail"}, lambda *_: None)
    assert admission.snapshot()["running"] == 0
    assert admission.admit()  # the place is free again


def test_health_is_answered_even_when_every_place_is_taken():
    app = GatedApp()
    admission = Admission(app, max_concurrent=1, max_queue=0)
    first = running(admission, "first", app)
    app.expect("health")
    app.gates["health"].set()
    health = Call(admission, "health", path="/health").start().answer()
    assert health.status == "200 OK" and admission.snapshot()["throttled"] == 0
    app.gates["first"].set()
    first.answer()


def test_limits_must_leave_room_for_one_request():
    with pytest.raises(ValueError):
        Admission(GatedApp(), max_concurrent=0, max_queue=4)
    with pytest.raises(ValueError):
        Admission(GatedApp(), max_concurrent=1, max_queue=-1)


def test_the_server_threads_cover_every_running_and_queued_request_plus_the_answering_ones():
    assert ServerConfig(threads=8).server_threads() == 8 + 32 + ANSWERING_THREADS
    assert ServerConfig(threads=8, max_concurrent=2, max_queue=0).server_threads() == 2 + ANSWERING_THREADS
    assert ServerConfig(threads=3).resolved_max_concurrent() == 3


@pytest.mark.parametrize(("config", "named"), [
    (ServerConfig(tls_cert="c.pem"), "--tls-key"),
    (ServerConfig(tls_key="k.pem"), "--tls-cert"),
    (ServerConfig(max_concurrent=0), "--max-concurrent"),
    (ServerConfig(max_queue=-1), "--max-queue"),
])
def test_settings_that_cannot_work_are_refused_naming_the_flag(config, named):
    with pytest.raises(ValueError, match=named):
        config.check()
