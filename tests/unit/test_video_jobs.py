"""The stored-video job queue on both backends: claims are exclusive, leases expire, results are written once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rekog_compat.store import Scope
from rekog_compat.store.video_jobs import (
    FAILED,
    IN_PROGRESS,
    MAX_ATTEMPTS,
    SUCCEEDED,
    JobItem,
    JobTokenReused,
    TooManyJobs,
    VideoJob,
)

SCOPE = Scope("123456789012", "us-east-1")
NEVER_ABANDONED = lambda _owner: False  # noqa: E731


def job(job_id: str, scope: Scope = SCOPE) -> VideoJob:
    return VideoJob(job_id, scope, "StartFaceSearch", {"Video": {"S3Object": {"Bucket": "b", "Name": job_id}}})


def test_a_client_request_token_maps_to_one_job(store):
    jobs = store.video_jobs
    assert jobs.create(job("a"), "token", "fingerprint", 20) == "a"
    assert jobs.create(job("b"), "token", "fingerprint", 20) == "a"
    with pytest.raises(JobTokenReused):
        jobs.create(job("c"), "token", "other request", 20)
    assert jobs.get(SCOPE, "b") is None and jobs.get(SCOPE, "a").status == IN_PROGRESS


def test_an_account_may_have_a_limited_number_of_jobs_in_progress(store):
    jobs = store.video_jobs
    for n in range(3):
        jobs.create(job(f"j{n}"), None, "f", 3)
    with pytest.raises(TooManyJobs):
        jobs.create(job("j3"), None, "f", 3)
    jobs.create(job("elsewhere", Scope("999999999999", "us-east-1")), None, "f", 3)
    claimed = jobs.claim("runner", 60, NEVER_ABANDONED)
    assert jobs.finish(claimed.job_id, "runner", SUCCEEDED, None, None)
    jobs.create(job("j3"), None, "f", 3)  # one finished: room for one more


def test_concurrent_runners_never_claim_the_same_job(store):
    for n in range(6):
        store.video_jobs.create(job(f"j{n}"), None, "f", 20)
    claimed: list[str] = []
    lock = threading.Lock()

    def runner(name: str) -> None:
        while (taken := store.video_jobs.claim(name, 60, NEVER_ABANDONED)) is not None:
            with lock:
                claimed.append(taken.job_id)

    threads = [threading.Thread(target=runner, args=(f"r{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [f"j{n}" for n in range(6)]


def test_only_the_lease_holder_finishes_a_job_and_an_expired_lease_is_taken_over(store):
    jobs = store.video_jobs
    jobs.create(job("a"), None, "f", 20)
    assert jobs.claim("first", 0.2, NEVER_ABANDONED).job_id == "a"
    assert jobs.claim("second", 60, NEVER_ABANDONED) is None
    time.sleep(0.3)
    assert jobs.claim("second", 60, NEVER_ABANDONED).job_id == "a"
    assert not jobs.renew("a", "first", 60, 0.5)
    assert not jobs.finish("a", "first", SUCCEEDED, None, None, [JobItem(0, {"from": "first"})])
    assert jobs.finish("a", "second", SUCCEEDED, None, {"Codec": "h264"}, [JobItem(5, {"n": 1}, 1), JobItem(9, {"n": 2}, 0)])
    assert jobs.get(SCOPE, "a").status == SUCCEEDED and jobs.get(SCOPE, "a").video_metadata == {"Codec": "h264"}
    assert jobs.items("a", False, 0, 10) == ([{"n": 1}, {"n": 2}], False)
    assert jobs.items("a", True, 0, 1) == ([{"n": 2}], True)


def test_a_dead_holder_is_taken_over_at_once_and_a_job_that_keeps_dying_fails(store):
    jobs = store.video_jobs
    jobs.create(job("a"), None, "f", 20)
    dead: set[str] = set()
    for attempt in range(MAX_ATTEMPTS):
        owner = f"runner-{attempt}"
        assert jobs.claim(owner, 600, lambda o: o in dead).job_id == "a"
        dead.add(owner)
    assert jobs.claim("last", 600, lambda o: o in dead) is None
    failed = jobs.get(SCOPE, "a")
    assert failed.status == FAILED and "interrupted" in failed.status_message


def test_a_released_job_is_claimed_again_without_counting_an_attempt(store):
    jobs = store.video_jobs
    jobs.create(job("a"), None, "f", 20)
    for _ in range(MAX_ATTEMPTS + 1):
        assert jobs.claim("runner", 600, NEVER_ABANDONED).job_id == "a"
        jobs.release("a", "runner")
    assert jobs.get(SCOPE, "a").status == IN_PROGRESS


def test_jobs_are_kept_per_account(store: Any):
    store.video_jobs.create(job("a"), None, "f", 20)
    assert store.video_jobs.get(Scope("999999999999", "us-east-1"), "a") is None
    assert store.video_jobs.get(Scope(SCOPE.account, "eu-west-1"), "a") is None
