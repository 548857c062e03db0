"""The background runners of stored-video jobs: claim a job from the store, analyse it, store its end.

Each server process runs `--video-jobs` runner threads. They take jobs from the store (store/video_jobs.py),
so with several processes, or several servers on one PostgreSQL, every job runs once and any of them
answers Get*. A runner keeps its lease alive while it works and stops when it loses it; on shutdown it
gives the job back, and the next process to start (or another running one) claims it and starts it over.
A job whose process was killed is claimed again when its lease runs out, or at once by a process of the
same machine that sees the holder gone.

A job downloads its video from S3 into a temporary file, reads its metadata, analyses its sampled frames
(analysis.py), stores the results in one transaction, publishes its completion notice (notify.py) and,
for a face search, writes its matches to the audit log.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..audit import face_match_entry, now_iso
from ..errors import InvalidS3ObjectException, VideoTooLargeException
from ..face_details import face_document
from ..leases import holder_gone, holder_name
from ..store import CollectionMissing
from ..store.video_jobs import FAILED, SUCCEEDED, JobItem, VideoJob
from .analysis import face_detections, person_matches
from .container import MAX_VIDEO_BYTES, Frame, UnsupportedVideo, sampled_frames, video_metadata
from .notify import Notifier, completion_message

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("rekog_compat.video")

LEASE_S = 60.0
RENEW_EVERY_S = 10.0
IDLE_POLL_S = 2.0
MAX_FACE_MATCHES = 100  # FaceMatches per person and frame
# Two faces of one video are one person within the distance of this Similarity (FMR 1e-3 per pair).
SAME_PERSON_SIMILARITY = 80.0


class Stopping(Exception):
    """The server is stopping: the job goes back to the queue unfinished."""


class LeaseLost(Exception):
    """Another runner holds the job now (this one was presumed dead): this one drops it."""


class VideoJobRunner:
    """`workers` threads running the store's video jobs for one server process."""

    def __init__(self, services: Services, workers: int, sample_rate: float) -> None:
        self.services = services
        self.sample_rate = sample_rate
        self.notifier = Notifier(services.config.sns_endpoint_url)
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads = [
            threading.Thread(target=self._loop, name=f"video-job-{n}", daemon=True) for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """A job was queued: an idle runner of this process looks at once."""
        with self._wake:
            self._wake.notify()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; running jobs go back to the queue at their next frame."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        owner = holder_name()
        while not self._stopping.is_set():
            try:
                job = self.services.store.video_jobs.claim(owner, LEASE_S, holder_gone)
            except Exception:
                log.exception("video jobs: the store could not be read; retrying")
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(IDLE_POLL_S)
                continue
            self._run(job, owner)

    def _run(self, job: VideoJob, owner: str) -> None:
        jobs = self.services.store.video_jobs
        log.info("video job %s (%s) started", job.job_id, job.api)
        metadata: dict[str, Any] | None = None
        try:
            with tempfile.TemporaryDirectory(prefix="rekog-video-") as work:
                path = os.path.join(work, "video")
                video = job.request["Video"]["S3Object"]
                self.services.s3.download(video["Bucket"], video["Name"], video.get("Version"), path, MAX_VIDEO_BYTES)
                metadata = video_metadata(path)
                frames = self._watched(sampled_frames(path, self.sample_rate), job, owner, metadata)
                items = list(self._analyse(job, frames))
        except Stopping:
            jobs.release(job.job_id, owner)
            log.info("video job %s given back unfinished: the server is stopping", job.job_id)
            return
        except LeaseLost:
            log.warning("video job %s: another runner took it over", job.job_id)
            return
        except (UnsupportedVideo, CollectionMissing, InvalidS3ObjectException, VideoTooLargeException) as exc:
            self._end(job, owner, FAILED, _failure_message(exc, job), metadata)
            return
        except Exception:
            log.exception("video job %s failed", job.job_id)
            self._end(job, owner, FAILED, "Internal server error: the video could not be analysed.", metadata)
            return
        self._end(job, owner, SUCCEEDED, None, metadata, items)

    def _watched(self, frames: Iterator[Frame], job: VideoJob, owner: str, metadata: dict[str, Any]) -> Iterator[Frame]:
        """The frames, with the lease renewed on the way and a stop or a lost lease ending the job."""
        duration = max(1, int(metadata["DurationMillis"]))
        renewed = time.monotonic()
        for frame in frames:
            if self._stopping.is_set():
                raise Stopping()
            if time.monotonic() - renewed >= RENEW_EVERY_S:
                if not self.services.store.video_jobs.renew(job.job_id, owner, LEASE_S, frame.timestamp_ms / duration):
                    raise LeaseLost()
                renewed = time.monotonic()
            yield frame

    def _analyse(self, job: VideoJob, frames: Iterator[Frame]) -> Iterator[JobItem]:
        engine = self.services.engine
        request = job.request
        if job.api == "StartFaceDetection":
            return face_detections(engine, frames, request.get("FaceAttributes", "DEFAULT"))
        store, scale = self.services.store, engine.similarity_scale
        collection_id, threshold = request["CollectionId"], float(request["FaceMatchThreshold"])
        store.get_collection(job.scope, collection_id)  # CollectionMissing: the job fails
        max_distance = scale.distance_at(threshold)

        def search(probe: Any) -> list[dict[str, Any]]:
            hits = store.search_faces(job.scope, collection_id, probe, MAX_FACE_MATCHES, max_distance)
            return [{"Similarity": s, "Face": face_document(face)} for face, s in scale.passing(hits, threshold)]

        return person_matches(engine, frames, search, scale.distance_at(SAME_PERSON_SIMILARITY))

    def _end(
        self,
        job: VideoJob,
        owner: str,
        status: str,
        message: str | None,
        metadata: dict[str, Any] | None,
        items: list[JobItem] | None = None,
    ) -> None:
        jobs = self.services.store.video_jobs
        if not jobs.finish(job.job_id, owner, status, message, metadata, items or []):
            log.warning("video job %s: another runner took it over; its result is not stored", job.job_id)
            return
        log.info("video job %s %s%s", job.job_id, status, f": {message}" if message else "")
        if job.api == "StartFaceSearch":
            self._audit(job, status, items or [])
        channel = job.request.get("NotificationChannel")
        if channel:
            self.notifier.publish(channel["SNSTopicArn"], completion_message(job.job_id, status, job.api, job.request))

    def _audit(self, job: VideoJob, status: str, items: list[JobItem]) -> None:
        """The face search's matches, in the audit log beside the StartFaceSearch call that asked for them."""
        audit = self.services.audit
        if audit is None:
            return
        matches = [
            {**face_match_entry(m), "Timestamp": i.timestamp_ms, "PersonIndex": i.person_index}
            for i in items
            for m in i.item["FaceMatches"]
        ]
        record = {
            "time": now_iso(), "account": job.scope.account, "region": job.scope.region,
            "operation": "StartFaceSearch", "event": "job finished", "job_id": job.job_id,
            "collection": job.request["CollectionId"], "result": status,
            "threshold": {"member": "FaceMatchThreshold", "applied": job.request["FaceMatchThreshold"]},
            "matched": len(matches), "matches": matches,
        }
        try:
            audit.append(record)
        except OSError:
            log.exception("video job %s: its audit record could not be written", job.job_id)


def _failure_message(exc: Exception, job: VideoJob) -> str:
    """The StatusMessage of a job that failed for a reason the caller can act on."""
    if isinstance(exc, CollectionMissing):
        return f"The collection id: {job.request.get('CollectionId')} does not exist"
    return str(exc) or type(exc).__name__
