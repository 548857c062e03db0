"""Finding faces: dlib's HOG detector run natively, or any DeepFace detector backend.

Either way a detection ends as a pixel box and a score in 0..100; the 68 landmarks,
pose, quality and aligned chip are computed from it once, in `FaceEngine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

# Rekognition: a face must be at least 40 px in a 1920x1080 image, scaled for larger ones.
MIN_FACE_PX = 40.0
REFERENCE_SHORT_SIDE = 1080.0
# dlib's HOG window finds faces down to about 80 px.
HOG_MIN_FACE_PX = 80.0


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


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


def hog_confidence(score: float) -> float:
    """dlib's HOG score (an SVM margin, > 0 for a detection) as a 0..100 confidence.

    Monotonic: 50 at the decision boundary, 90 at margin 0.64, 99 at 1.56 (docs/engine.md).
    """
    return 100.0 * (1.0 - 0.5 * math.exp(-2.5 * max(score, 0.0)))


def detection_scale(width: int, height: int) -> float:
    """How much to resize an image so that the smallest face Rekognition must find fills
    the HOG window: x2 up to a 1080-px short side, less for larger images (bounded work)."""
    smallest_face = MIN_FACE_PX * max(1.0, min(width, height) / REFERENCE_SHORT_SIDE)
    return HOG_MIN_FACE_PX / smallest_face


class DlibHogDetector:
    """dlib's frontal-face HOG detector at the scale Rekognition's minimum face size needs."""

    name = "dlib"

    def __init__(self) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        # HOG on luma: a quarter faster than on colour, same recall (docs/engine.md).
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = detection_scale(width, height)
        if scale == 2.0:
            image, upsample = gray, 1  # dlib's own pyramid step is exactly x2
        else:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            upsample, scale = 0, size[0] / width
        if min(image.shape[:2]) < 2:
            return []
        rects, scores, _ = self._detector.run(image, upsample, 0.0)
        factor = 1.0 if upsample else scale
        return [
            Detection(r.left() / factor, r.top() / factor, (r.right() + 1) / factor, (r.bottom() + 1) / factor,
                      hog_confidence(s))
            for r, s in zip(rects, scores, strict=True)
        ]


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
