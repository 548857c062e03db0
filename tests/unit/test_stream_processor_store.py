"""Stream processors in the store, on both backends: one worker at a time, stop and hand-over, tags."""

from __future__ import annotations

import time

import pytest

from rekog_compat.store import Scope, TooManyTags
from rekog_compat.store.stream_processors import (
    FAILED,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    ProcessorBusy,
    ProcessorExists,
    StreamProcessor,
    TooManyProcessors,
)

SCOPE = Scope("123456789012", "us-east-1")
NEVER = lambda _owner: False  # noqa: E731


def processor(name: str, scope: Scope = SCOPE) -> StreamProcessor:
    return StreamProcessor(scope, name, f"arn:aws:rekognition:{scope.region}:{scope.account}:streamprocessor/{name}",
                           {"Input": {}, "Settings": {}}, {"a": "1"})


def start(store, name: str) -> None:
    store.stream_processors.change(SCOPE, name, lambda p: {"status": STARTING, "desired": RUNNING})


def test_names_are_unique_and_counted_per_account(store):
    processors = store.stream_processors
    processors.create(processor("a"), 2)
    with pytest.raises(ProcessorExists):
        processors.create(processor("a"), 2)
    processors.create(processor("b"), 2)
    with pytest.raises(TooManyProcessors):
        processors.create(processor("c"), 2)
    processors.create(processor("a", Scope("999999999999", "us-east-1")), 2)
    assert [p.name for p in processors.page(SCOPE, 0, 10)[0]] == ["a", "b"]
    assert processors.page(SCOPE, 1, 1) == ([processors.get(SCOPE, "b")], False)


def test_only_processors_asked_to_run_are_claimed_and_by_one_worker(store):
    processors = store.stream_processors
    processors.create(processor("a"), 20)
    assert processors.claim("w1", 60, NEVER) is None
    start(store, "a")
    assert processors.claim("w1", 60, NEVER).name == "a"
    assert processors.claim("w2", 60, NEVER) is None
    assert processors.report(processors.get(SCOPE, "a"), "w2", 60, RUNNING, None) is None  # not its lease
    assert processors.report(processors.get(SCOPE, "a"), "w1", 60, RUNNING, "ok") == RUNNING
    assert processors.get(SCOPE, "a").status == RUNNING


def test_stop_is_seen_by_the_worker_and_ends_stopped(store):
    processors = store.stream_processors
    processors.create(processor("a"), 20)
    start(store, "a")
    held = processors.claim("w1", 60, NEVER)
    processors.change(SCOPE, "a", lambda p: {"status": STOPPING, "desired": STOPPED})
    assert processors.report(held, "w1", 60, RUNNING, None) == STOPPED
    assert processors.get(SCOPE, "a").status == STOPPING
    processors.finish(held, "w1", STOPPED, None, stop=True)
    assert processors.get(SCOPE, "a").status == STOPPED

    def refuse(_: StreamProcessor) -> dict[str, str]:
        raise ProcessorBusy("not now")

    with pytest.raises(ProcessorBusy):
        processors.change(SCOPE, "a", refuse)
    assert processors.get(SCOPE, "a").status == STOPPED  # a refused change changes nothing


def test_a_processor_handed_back_or_whose_worker_died_is_claimed_again(store):
    processors = store.stream_processors
    processors.create(processor("a"), 20)
    start(store, "a")
    held = processors.claim("w1", 60, NEVER)
    processors.finish(held, "w1", STOPPED, "server stopping", stop=False)
    assert processors.get(SCOPE, "a").status == STARTING  # still to run
    assert processors.claim("w2", 0.2, NEVER).name == "a"
    time.sleep(0.3)
    assert processors.claim("w3", 60, NEVER).name == "a"  # w2's lease ran out
    assert processors.claim("w4", 60, lambda owner: owner == "w3").name == "a"  # w3's process is gone


def test_a_failed_processor_stays_stopped_and_a_stop_without_worker_settles(store):
    processors = store.stream_processors
    processors.create(processor("a"), 20)
    start(store, "a")
    held = processors.claim("w1", 60, NEVER)
    processors.finish(held, "w1", FAILED, "source gone", stop=True)
    assert processors.get(SCOPE, "a").status == FAILED
    assert processors.claim("w2", 60, NEVER) is None
    processors.create(processor("b"), 20)
    start(store, "b")
    processors.change(SCOPE, "b", lambda p: {"status": STOPPING, "desired": STOPPED})
    processors.claim("w2", 60, NEVER)
    assert processors.get(SCOPE, "b").status == STOPPED


def test_tags_are_kept_with_the_processor_and_limited(store):
    processors = store.stream_processors
    created = processor("a")
    processors.create(created, 20)
    processors.set_tags(created.arn, {"b": "2"}, ["a"], max_tags=2)
    assert processors.by_arn(created.arn).tags == {"b": "2"}
    with pytest.raises(TooManyTags):
        processors.set_tags(created.arn, {"c": "3", "d": "4"}, [], max_tags=2)
    processors.delete(SCOPE, "a", busy=(RUNNING,))
    assert processors.by_arn(created.arn) is None
