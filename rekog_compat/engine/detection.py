"""Finding faces: dlib's HOG and CNN detectors run natively, two detectors' faces together, or any DeepFace
detector backend (MTCNN and SSD MobileNet have modules of their own).

Either way a detection ends as a pixel box and a score in 0..100; the 68 landmarks,
pose, quality and aligned chip are computed from it once, in `FaceEngine`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from .geometry import iou

# Rekognition: a face must be at least 40 px in a 1920x1080 image, scaled for larger ones.
MIN_FACE_PX = 40.0
REFERENCE_SHORT_SIDE = 1080.0
# dlib's HOG window finds faces down to about 80 px.
HOG_MIN_FACE_PX = 80.0
# Looking for HOG's own box of a face another detector found: the face is scaled to this size in a
# crop twice its size around it (HOG sees it there whatever its size in the image).
HOG_REFIT_FACE_PX = 110.0
HOG_REFIT_MIN_IOU = 0.3


@dataclass(frozen=True)
class Detection:
    """A face box in image pixels (right/bottom exclusive) and the detector's confidence 0..100."""

    left: float
    top: float
    right: float
    bottom: float
    confidence: float

    @property
    def area(self) -> float:
        return (self.right - self.left) * (self.bottom - self.top)

    @property
    def corners(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom), as `geometry.iou` takes boxes."""
        return (self.left, self.top, self.right, self.bottom)


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


def hog_confidence(score: float) -> float:
    """dlib's HOG score (an SVM margin, > 0 for a detection) as a 0..100 confidence.

    Monotonic: 50 at the decision boundary, 90 at margin 0.64, 99 at 1.56 (docs/engine.md).
    """
    return 100.0 * (1.0 - 0.5 * math.exp(-2.5 * max(score, 0.0)))


def smallest_face_px(width: int, height: int) -> float:
    """The smallest face Rekognition must find in an image of this size: 40 px up to a 1080-px short side."""
    return MIN_FACE_PX * max(1.0, min(width, height) / REFERENCE_SHORT_SIDE)


def detection_scale(width: int, height: int) -> float:
    """How much to resize an image so that the smallest face Rekognition must find fills
    the HOG window: x2 up to a 1080-px short side, less for larger images (bounded work)."""
    return HOG_MIN_FACE_PX / smallest_face_px(width, height)


def _resized_for_detection(gray: np.ndarray) -> tuple[np.ndarray, int, float]:
    """The image a detector with an 80-px window runs on: (image, dlib upsample count, scale)."""
    height, width = gray.shape[:2]
    scale = detection_scale(width, height)
    if scale == 2.0:
        return gray, 1, 1.0  # dlib's own pyramid step is exactly x2; boxes come back in input pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return image, 0, size[0] / width


class DlibHogDetector:
    """dlib's frontal-face HOG detector at the scale Rekognition's minimum face size needs.

    dlib releases the GIL while it scans and keeps the scan's pyramid inside the detector
    object, so one shared detector gives wrong boxes under concurrent requests (measured:
    26 of 100 images differ with 2 threads). Each detection borrows a detector of its own from
    a pool instead, which also lets detections run in parallel. A pool, not one per thread: a
    detector takes ~360 ms to make, and the server has a thread per queued request (dozens),
    of which only the running few detect at once.
    """

    name = "dlib"

    def __init__(self) -> None:
        self._idle = [self._new()]  # made now, so that a broken install fails at start-up
        self._lock = threading.Lock()

    @staticmethod
    def _new() -> Any:
        import dlib

        return dlib.get_frontal_face_detector()

    @contextmanager
    def _borrowed(self) -> Iterator[Any]:
        """An idle detector (a new one when all are busy), returned to the pool afterwards."""
        with self._lock:
            detector = self._idle.pop() if self._idle else None
        if detector is None:
            detector = self._new()
        try:
            yield detector
        finally:
            with self._lock:
                self._idle.append(detector)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        # HOG on luma: a quarter faster than on colour, same recall (docs/engine.md).
        image, upsample, scale = _resized_for_detection(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        return self._run(image, upsample, scale, 0.0, 0.0)

    def box_near(self, rgb: np.ndarray, face: Detection) -> Detection | None:
        """HOG's own box for a face another detector found, or None where HOG does not see it: HOG over a
        crop twice the face's size around it, scaled so that the face is HOG_REFIT_FACE_PX, the box that
        overlaps `face` most (IoU >= HOG_REFIT_MIN_IOU). dlib's 68-point model was trained on HOG's boxes;
        started from another detector's box its landmarks, and so the aligned chip and the embedding,
        are off enough to cost 3 points of rank-1 on lfw_dev (docs/engine.md, Recognizers compared)."""
        side = max(face.right - face.left, face.bottom - face.top, 1.0)
        centre_x, centre_y = (face.left + face.right) / 2, (face.top + face.bottom) / 2
        height, width = rgb.shape[:2]
        left, top = max(0, int(centre_x - side)), max(0, int(centre_y - side))
        right, bottom = min(width, int(math.ceil(centre_x + side))), min(height, int(math.ceil(centre_y + side)))
        if right - left < 2 or bottom - top < 2:
            return None
        crop = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
        scale = HOG_REFIT_FACE_PX / side
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        seen = self._run(crop, 0, size[0] / (right - left), left, top)
        overlaps = [(iou(d.corners, face.corners), d) for d in seen]
        best = max(overlaps, key=lambda pair: pair[0], default=(0.0, None))
        return best[1] if best[0] >= HOG_REFIT_MIN_IOU else None

    def _run(self, image: np.ndarray, upsample: int, scale: float, left: float, top: float) -> list[Detection]:
        """HOG's boxes in `image` (a gray image `scale` times the source's size, whose origin is at
        (`left`, `top`) in the source), in the source's pixels."""
        if min(image.shape[:2]) < 2:
            return []
        with self._borrowed() as detector:
            rects, scores, _ = detector.run(image, upsample, 0.0)
        return [
            Detection(left + r.left() / scale, top + r.top() / scale, left + (r.right() + 1) / scale,
                      top + (r.bottom() + 1) / scale, hog_confidence(s))
            for r, s in zip(rects, scores, strict=True)
        ]


class DlibCnnDetector:
    """dlib's CNN (MMOD) face detector, weights from `face-recognition-models`: slower than HOG,
    better on turned faces. Its score is mapped onto 0..100 like HOG's margin."""

    name = "dlib-cnn"

    def __init__(self, weights: str) -> None:
        import dlib

        self._net = dlib.cnn_face_detection_model_v1(weights)
        self._lock = threading.Lock()  # a dlib network runs one forward pass at a time

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        image, upsample, scale = _resized_for_detection(rgb)
        if min(image.shape[:2]) < 2:
            return []
        with self._lock:
            found = self._net(image, upsample)
        return [
            Detection(d.rect.left() / scale, d.rect.top() / scale, (d.rect.right() + 1) / scale,
                      (d.rect.bottom() + 1) / scale, hog_confidence(d.confidence))
            for d in found
        ]


# A face the second of two detectors finds is the first's (not a face of its own) when their boxes overlap by this
# IoU, or this share of the smaller box lies in the other (SSD's boxes are taller than MTCNN's for the same face).
SAME_FACE_IOU = 0.3
SAME_FACE_CONTAINED = 0.5


def same_face(a: Detection, b: Detection) -> bool:
    """Whether two detectors' boxes are one face (SAME_FACE_IOU, SAME_FACE_CONTAINED)."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return False
    inter = width * height
    return inter >= SAME_FACE_IOU * (a.area + b.area - inter) or inter > SAME_FACE_CONTAINED * min(a.area, b.area)


class UnionDetector:
    """Every face the first detector finds, and those of the second it does not: two detectors that miss
    different faces (MTCNN's and SSD's misses on WIDER FACE are largely different ones, docs/engine.md)."""

    def __init__(self, name: str, first: Detector, second: Detector) -> None:
        self.name = name
        self._first, self._second = first, second

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        found = self._first.detect(rgb)
        return found + [d for d in self._second.detect(rgb) if not any(same_face(d, f) for f in found)]


class DeepFaceDetector:
    """Any detector backend of DeepFace (its weights must already be installed)."""

    def __init__(self, backend: str) -> None:
        from deepface import DeepFace

        self.name = backend
        self._deepface = DeepFace
        DeepFace.build_model(task="face_detector", model_name=backend)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        faces: list[dict[str, Any]] = self._deepface.extract_faces(
            img_path=np.ascontiguousarray(rgb[:, :, ::-1]),
            detector_backend=self.name,
            enforce_detection=False,
            align=False,
        )
        found = []
        for face in faces:
            area, confidence = face["facial_area"], float(face.get("confidence") or 0.0)
            if confidence <= 0:  # DeepFace's "no face" answer is the whole image at confidence 0
                continue
            x, y, w, h = (float(area[k]) for k in ("x", "y", "w", "h"))
            found.append(Detection(x, y, x + w, y + h, min(100.0, confidence * 100.0)))
        return found
