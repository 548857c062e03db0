"""What the 68 dlib landmarks tell about a face: Rekognition's landmarks, pose, eyes, mouth, smile.

Point numbering is the iBUG 300-W scheme dlib's 68-point model is trained on (0-based):
jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67.
"Left" and "right" are as seen in the image, as Rekognition's landmark names are
(eyeLeft has the smaller X).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

Points = np.ndarray  # (68, 2) float pixel coordinates


def _mean(points: Points, *indices: int) -> np.ndarray:
    return np.asarray(points[list(indices)].mean(axis=0))


# Rekognition landmark type -> the 68-point indices whose mean locates it.
LANDMARK_POINTS: dict[str, tuple[int, ...]] = {
    "eyeLeft": (36, 37, 38, 39, 40, 41),
    "eyeRight": (42, 43, 44, 45, 46, 47),
    "nose": (30,),
    "mouthLeft": (48,),
    "mouthRight": (54,),
    "leftEyeBrowLeft": (17,),
    "leftEyeBrowRight": (21,),
    "leftEyeBrowUp": (19,),
    "rightEyeBrowLeft": (22,),
    "rightEyeBrowRight": (26,),
    "rightEyeBrowUp": (24,),
    "leftEyeLeft": (36,),
    "leftEyeRight": (39,),
    "leftEyeUp": (37, 38),
    "leftEyeDown": (40, 41),
    "rightEyeLeft": (42,),
    "rightEyeRight": (45,),
    "rightEyeUp": (43, 44),
    "rightEyeDown": (46, 47),
    "noseLeft": (31,),
    "noseRight": (35,),
    "mouthUp": (51,),
    "mouthDown": (57,),
    "leftPupil": (36, 37, 38, 39, 40, 41),
    "rightPupil": (42, 43, 44, 45, 46, 47),
    "upperJawlineLeft": (0,),
    "midJawlineLeft": (4,),
    "chinBottom": (8,),
    "midJawlineRight": (12,),
    "upperJawlineRight": (16,),
}
DEFAULT_LANDMARKS = ("eyeLeft", "eyeRight", "mouthLeft", "mouthRight", "nose")


def landmarks(points: Points, width: int, height: int, all_types: bool = False) -> list[dict[str, Any]]:
    """Rekognition Landmark objects (X, Y as ratios of the image) from the 68 points."""
    names = LANDMARK_POINTS if all_types else DEFAULT_LANDMARKS
    result = []
    for name in names:
        x, y = _mean(points, *LANDMARK_POINTS[name])
        result.append({"Type": name, "X": float(x) / width, "Y": float(y) / height})
    return result


# A generic 3-D face (millimetres, x right, y up, z towards the camera) for the six
# points solvePnP needs: nose tip, chin, outer eye corners, mouth corners.
_MODEL_POINTS = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.0, -63.6, -12.5),
        (-43.3, 32.7, -26.0),
        (43.3, 32.7, -26.0),
        (-28.9, -28.9, -24.1),
        (28.9, -28.9, -24.1),
    ],
    dtype=np.float64,
)
_POSE_POINTS = [30, 8, 36, 45, 48, 54]


def _wrap(degrees: float) -> float:
    """An angle folded into -180..180 (Rekognition's Degree range)."""
    return float((degrees + 180.0) % 360.0 - 180.0)


def pose(points: Points, width: int, height: int) -> dict[str, float]:
    """Roll, Yaw and Pitch in degrees, from the landmarks fitted to a generic 3-D face.

    Roll is the in-plane tilt of the line through the eyes (positive: clockwise in the
    image); Yaw and Pitch come from solvePnP with a pinhole camera whose focal length is
    the image width. Frontal, upright faces give values near 0.
    """
    left_eye, right_eye = _mean(points, *LANDMARK_POINTS["eyeLeft"]), _mean(points, *LANDMARK_POINTS["eyeRight"])
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    image_points = points[_POSE_POINTS].astype(np.float64)
    # Flip y so that image and model share "y up".
    image_points = np.column_stack([image_points[:, 0], height - image_points[:, 1]])
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rotation_vector, _ = cv2.solvePnP(
        _MODEL_POINTS, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE
    )
    yaw = pitch = 0.0
    if ok:
        rotation, _ = cv2.Rodrigues(rotation_vector)
        # Euler angles (x: pitch, y: yaw) of the head relative to the camera.
        pitch = math.degrees(math.atan2(rotation[2, 1], rotation[2, 2]))
        yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rotation[2, 0]))))
        pitch = _wrap(pitch)
        if abs(pitch) > 90:  # the mirrored solution: fold it back in front of the camera
            pitch = _wrap(pitch + 180.0) if pitch < 0 else _wrap(pitch - 180.0)
    return {"Roll": _wrap(roll), "Yaw": _wrap(-yaw), "Pitch": _wrap(pitch)}


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def eye_openness(points: Points) -> float:
    """The eye aspect ratio (Soukupova & Cech 2016), mean of both eyes: ~0.3 open, < 0.2 closed."""
    ratios = []
    for p in (points[36:42], points[42:48]):
        vertical = _distance(p[1], p[5]) + _distance(p[2], p[4])
        horizontal = 2.0 * _distance(p[0], p[3])
        ratios.append(vertical / horizontal if horizontal else 0.0)
    return float(np.mean(ratios))


def mouth_openness(points: Points) -> float:
    """Gap between the inner lips over the mouth's inner width: 0 closed, ~0.3+ wide open."""
    gap = sum(_distance(points[upper], points[lower]) for upper, lower in ((61, 67), (62, 66), (63, 65))) / 3
    width = _distance(points[60], points[64])
    return gap / width if width else 0.0


def smile_measure(points: Points) -> float:
    """Mouth width over the width of the face at the cheeks (jaw points 3-13)."""
    face_width = _distance(points[3], points[13])
    return _distance(points[48], points[54]) / face_width if face_width else 0.0


def _decision(measure: float, threshold: float, scale: float) -> dict[str, Any]:
    """A boolean attribute and its confidence: a logistic of the distance from the threshold.

    `scale` is the measure's spread around the threshold on real faces; the confidence
    approaches 100 only for values well away from it and is 50 at the threshold itself.
    """
    margin = (measure - threshold) / scale
    confidence = 100.0 / (1.0 + math.exp(-abs(margin)))
    return {"Value": bool(margin > 0), "Confidence": round(confidence, 3)}


# Thresholds and spreads measured on lfw_dev faces (docs/engine.md).
EYES_OPEN_THRESHOLD, EYES_OPEN_SCALE = 0.20, 0.025
MOUTH_OPEN_THRESHOLD, MOUTH_OPEN_SCALE = 0.12, 0.03
SMILE_THRESHOLD, SMILE_SCALE = 0.44, 0.02


def expressions(points: Points) -> dict[str, dict[str, Any]]:
    """EyesOpen, MouthOpen and Smile from landmark geometry."""
    return {
        "EyesOpen": _decision(eye_openness(points), EYES_OPEN_THRESHOLD, EYES_OPEN_SCALE),
        "MouthOpen": _decision(mouth_openness(points), MOUTH_OPEN_THRESHOLD, MOUTH_OPEN_SCALE),
        "Smile": _decision(smile_measure(points), SMILE_THRESHOLD, SMILE_SCALE),
    }


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes given as (left, top, right, bottom); 0 when they do not overlap."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
