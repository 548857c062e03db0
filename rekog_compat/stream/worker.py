"""One running stream processor: frames from its source, faces searched in its collection, one Kinesis
record per frame with a face, every match in the audit log.

Two threads per processor. The reader decodes the source and keeps only the newest sampled frame (one
slot: memory stays bounded and a slow analysis drops frames rather than falling behind the live
source); the analyst takes that frame, searches its faces and writes the record. A source that cannot
be opened or breaks is retried with backoff (1 s doubling to 30 s), reported in StatusMessage, and after
`MAX_RETRIES` failures in a row the processor is FAILED. A file source that ends is played again.
The worker reports its state through the store every `REPORT_EVERY_S`, which renews its lease and
tells it whether it was asked to stop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..audit import face_match_entry, now_iso
from ..face_details import bounding_box
from ..store.stream_processors import FAILED, RUNNING, STOPPED, StreamProcessor
from ..video.analysis import MAX_FACES_PER_FRAME, analysis_image
from .output import KinesisWriter, face_search_record
from .sources import LiveFrame, Source, SourceUnavailable, frames

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("rekog_compat.stream")

LEASE_S = 30.0
REPORT_EVERY_S = 2.0
MAX_RETRIES = 5
MAX_BACKOFF_S = 30.0
MAX_FACE_MATCHES = 100
MIN_FACE_MATCH_THRESHOLD = 80.0  # AWS: the default, and a FaceMatchThreshold below 80 is raised to 80


@dataclass
class _Slot:
    """The newest frame from the reader (or how the reader ended), for the analyst."""

    frame: LiveFrame | None = None
    error: SourceUnavailable | None = None
    ended: bool = False


class ProcessorWorker:
    """Runs one claimed processor until it is asked to stop, fails, loses its lease or the server stops."""

    def __init__(
        self, services: Services, processor: StreamProcessor, owner: str, source: Source | None,
        kinesis: KinesisWriter, sample_rate: float, server_stopping: threading.Event,
    ) -> None:
        self.services, self.processor, self.owner, self.source = services, processor, owner, source
        self.kinesis, self.sample_rate, self.server_stopping = kinesis, sample_rate, server_stopping
        self.stop = threading.Event()  # this worker's end, whatever the reason
        self.thread = threading.Thread(target=self._run, name=f"stream-{processor.name}", daemon=True)
        self._reported = 0.0

    # -- state ----------------------------------------------------------------------------------

    def _report(self, message: str | None = None, force: bool = False) -> bool:
        """Renew the lease and record RUNNING (with `message`); False when the worker must end."""
        if not force and time.monotonic() - self._reported < REPORT_EVERY_S:
            return not self.stop.is_set()
        self._reported = time.monotonic()
        desired = self.services.store.stream_processors.report(self.processor, self.owner, LEASE_S, RUNNING, message)
        if desired != RUNNING:
            self.stop.set()
        return not self.stop.is_set()

    def _finish(self, status: str, message: str | None, stop: bool) -> None:
        self.services.store.stream_processors.finish(self.processor, self.owner, status, message, stop=stop)
        log.info("stream processor %s %s%s", self.processor.name, status, f": {message}" if message else "")

    def _run(self) -> None:
        name, arn = self.processor.name, self.processor.definition["Input"]["KinesisVideoStream"]["Arn"]
        if self.source is None:
            self._finish(FAILED, f"No video source is mapped to the stream {arn} (--video-sources).", stop=True)
            return
        if not self._report(force=True):
            return
        deadline = self._deadline()
        failures, backoff = 0, 1.0
        while not self._should_end(deadline):
            try:
                played = self._play(deadline)
            except SourceUnavailable as exc:
                failures += 1
                if failures > MAX_RETRIES:
                    self._finish(FAILED, f"The video source failed {failures} times in a row: {exc}", stop=True)
                    return
                message = f"{exc}; retrying in {backoff:g} s (attempt {failures} of {MAX_RETRIES})"
                log.warning("stream processor %s: %s", name, message)
                self._report(message, force=True)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            except Exception as exc:
                log.exception("stream processor %s failed", name)
                self._finish(FAILED, f"Internal server error: {type(exc).__name__}", stop=True)
                return
            if played:
                failures, backoff = 0, 1.0
                self._report(None, force=True)
        if self.server_stopping.is_set():
            self._finish(STOPPED, "The server stopped; the processor resumes when a server starts.", stop=False)
        elif deadline is not None and time.monotonic() >= deadline:
            self._finish(STOPPED, "StopSelector.MaxDurationInSeconds reached.", stop=True)
        else:  # asked to stop (or another worker holds it now: then this changes nothing)
            self._finish(STOPPED, None, stop=True)

    def _deadline(self) -> float | None:
        selector = (self.processor.start_request or {}).get("StopSelector") or {}
        seconds = selector.get("MaxDurationInSeconds")
        return time.monotonic() + float(seconds) if seconds else None

    def _should_end(self, deadline: float | None) -> bool:
        if self.server_stopping.is_set():
            self.stop.set()
        return self.stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    # -- frames ---------------------------------------------------------------------------------

    def _play(self, deadline: float | None) -> bool:
        """Read the source until it ends; whether any frame came. SourceUnavailable when it fails."""
        assert self.source is not None
        slot, ready = _Slot(), threading.Condition()
        reader_stop = threading.Event()

        def read() -> None:
            assert self.source is not None
            try:
                for frame in frames(self.source, self.sample_rate, reader_stop):
                    with ready:
                        slot.frame = frame
                        ready.notify()
            except SourceUnavailable as exc:
                with ready:
                    slot.error = exc
            finally:
                with ready:
                    slot.ended = True
                    ready.notify()

        reader = threading.Thread(target=read, name=f"stream-{self.processor.name}-reader", daemon=True)
        reader.start()
        any_frame = False
        try:
            while not self._should_end(deadline):
                with ready:
                    ready.wait_for(lambda: slot.frame is not None or slot.ended, timeout=0.5)
                    frame, slot.frame = slot.frame, None
                    error, ended = slot.error, slot.ended
                if frame is not None:
                    any_frame = True
                    self._analyse(frame)
                elif error is not None:
                    raise error
                elif ended:
                    if not any_frame:
                        raise SourceUnavailable(f"{self.source.url} sent no frame")
                    if not self.source.is_file:
                        raise SourceUnavailable(f"{self.source.url} closed the stream")
                    return True
                if not self._report():
                    break
        finally:
            reader_stop.set()
            reader.join(timeout=5)
        return any_frame

    def _analyse(self, frame: LiveFrame) -> None:
        engine, store = self.services.engine, self.services.store
        settings = self.processor.definition["Settings"]["FaceSearch"]
        # CreateStreamProcessor stored it raised to the minimum already
        threshold = self.services.config.policy_threshold(settings.get("FaceMatchThreshold", MIN_FACE_MATCH_THRESHOLD))
        scale = engine.similarity_scale
        image = analysis_image(frame.rgb)
        faces = engine.detect(image, max_faces=MAX_FACES_PER_FRAME)
        if not faces:
            return
        results = []
        for face, probe in zip(faces, engine.embed(faces), strict=True):
            hits = store.search_faces(self.processor.scope, settings["CollectionId"], probe, MAX_FACE_MATCHES,
                                      scale.distance_at(threshold))
            detected = {
                "BoundingBox": bounding_box(face), "Confidence": face.confidence,
                "Landmarks": engine.landmarks(face), "Pose": dict(face.pose), "Quality": dict(face.quality),
            }
            results.append((detected, scale.passing(hits, threshold)))
        record = face_search_record(self.processor, frame, results)
        self.kinesis.put(self.processor.definition["Output"]["KinesisDataStream"]["Arn"], record,
                         partition_key=self.processor.name)
        self._audit(record, settings["CollectionId"], threshold)

    def _audit(self, record: dict[str, Any], collection_id: str, threshold: float) -> None:
        audit = self.services.audit
        matches = [face_match_entry(m) for result in record["FaceSearchResponse"] for m in result["MatchedFaces"]]
        if audit is None or not matches:
            return
        try:
            audit.append({
                "time": now_iso(), "account": self.processor.scope.account, "region": self.processor.scope.region,
                "operation": "StreamProcessor", "event": "faces matched", "stream_processor": self.processor.arn,
                "collection": collection_id, "threshold": {"member": "FaceMatchThreshold", "applied": threshold},
                "frame_time": record["InputInformation"]["KinesisVideo"]["ProducerTimestamp"],
                "result": "OK", "matched": len(matches), "matches": matches,
            })
        except OSError:
            log.exception("stream processor %s: an audit record could not be written", self.processor.name)
