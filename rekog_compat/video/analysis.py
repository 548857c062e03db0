"""What a stored-video job computes from the frames: FaceDetections (StartFaceDetection) and PersonMatches
(StartFaceSearch), each with its time from the start of the video.

Every sampled frame goes through the engine as an image would. Frames whose short side is under
`ANALYSIS_SHORT_SIDE` are enlarged to it first: the engine finds faces down to 40 px of its input, and a
person across a stage in a 360p video has a face of 20-30 px. Boxes and landmarks are ratios of the
frame, so the enlargement does not show in the results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from ..engine import DetectedFace, FaceEngine
from ..face_details import bounding_box, face_detail, requested_members
from ..store.video_jobs import JobItem
from .container import Frame
from .tracking import Box, PersonTracker

ANALYSIS_SHORT_SIDE = 720
MAX_FACES_PER_FRAME = 100

# An embedding's FaceMatches: [{"Similarity", "Face"}], most similar first.
Search = Callable[[np.ndarray], list[dict[str, Any]]]


def analysis_image(rgb: np.ndarray) -> np.ndarray:
    """The frame as the engine sees it: enlarged to a short side of ANALYSIS_SHORT_SIDE when smaller."""
    short = min(rgb.shape[:2])
    if short >= ANALYSIS_SHORT_SIDE:
        return rgb
    scale = ANALYSIS_SHORT_SIDE / short
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)  # finds more small faces than bilinear


def _box(face: DetectedFace) -> Box:
    left, top, width, height = face.box
    return (left, top, left + width, top + height)


def face_detections(engine: FaceEngine, frames: Iterator[Frame], face_attributes: str) -> Iterator[JobItem]:
    """GetFaceDetection's Faces: every face of every sampled frame, with DEFAULT or ALL attributes."""
    extra, all_landmarks = requested_members([face_attributes])
    extra.discard("EyeDirection")  # AWS: not for video (nor FaceOccluded, which no model here gives)
    for frame in frames:
        image = analysis_image(frame.rgb)
        for face in engine.detect(image, max_faces=MAX_FACES_PER_FRAME):
            detail = face_detail(engine, image, face, extra, all_landmarks)
            yield JobItem(frame.timestamp_ms, {"Timestamp": frame.timestamp_ms, "Face": detail})


def person_matches(
    engine: FaceEngine, frames: Iterator[Frame], search: Search, same_person_distance: float
) -> Iterator[JobItem]:
    """GetFaceSearch's Persons: each tracked person in each sampled frame where the collection matches them."""
    tracker = PersonTracker(same_person_distance)
    for frame in frames:
        image = analysis_image(frame.rgb)
        at = frame.timestamp_ms
        faces = engine.detect(image, max_faces=MAX_FACES_PER_FRAME)
        boxes = [_box(f) for f in faces]
        tracks = tracker.continuing(boxes, at)
        to_embed = [i for i, track in enumerate(tracks) if tracker.needs_embedding(track, at)]
        embeddings = dict(zip(to_embed, engine.embed([faces[i] for i in to_embed]), strict=True)) if to_embed else {}
        busy = {t.index for t in tracks if t is not None}
        for i, face in enumerate(faces):
            track = tracks[i]
            if i in embeddings:
                if track is None:
                    track = tracker.returning(embeddings[i], at, busy) or tracker.start(boxes[i], at)
                    busy.add(track.index)
                track.remember(embeddings[i], at)
                track.matches = search(embeddings[i])
            assert track is not None
            track.box, track.seen_ms = boxes[i], at
            if track.matches:
                person = {
                    "Index": track.index,
                    "BoundingBox": bounding_box(face),
                    "Face": face_detail(engine, image, face, set(), False),
                }
                item = {"Timestamp": at, "Person": person, "FaceMatches": track.matches}
                yield JobItem(at, item, person_index=track.index)
