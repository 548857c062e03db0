"""face-api's SSD MobileNet V1 face detector (npm `@vladmandic/face-api`, MIT; trained on WIDER FACE), in numpy.

The package ships the weights; the network is face-api's SsdMobilenetv1 as its code defines it:
MobileNet V1 (13 depthwise-separable blocks, batch norm, ReLU6) on a 512x512 input scaled to
-1..1, SSD box predictors on six feature maps, boxes decoded against the 5,118 anchors the weights
carry (`Output/extra_dim`), sigmoid scores, non-maximum suppression at IoU 0.5.

One 512-px pass sees a face of 40 px in a 1024-px photo as 20 px, below what the smallest anchors
find well; so a large image is also searched in overlapping tiles (`TILES` x `TILES`, each 1.3x a
grid cell), a close-up is also searched zoomed out (a face filling the input is scored low), and
the passes' boxes are merged by the same suppression, which also drops a box lying 80 % inside a
better one (benchmarks/detectors.py measures the choice).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .detection import Detection, smallest_face_px
from .tfjs import conv2d, depthwise_conv2d, pad_to_square, read_tfjs_weights, resize_bilinear

INPUT_SIZE = 512
BATCH_NORM_EPSILON = 0.0010000000474974513
MANIFEST = "ssd_mobilenetv1_model-weights_manifest.json"
DOWNSAMPLING_BLOCKS = (2, 4, 6, 12)
MIN_SCORE = 0.5  # face-api's default minConfidence
NMS_IOU = 0.5  # face-api's
CONTAINED = 0.8  # merging passes: a box this much inside another is the same face
TILES = 2  # tiles per side, besides the whole image
TILE_OVERLAP = 1.3  # a tile's side over the grid cell's
TILE_FROM_PX = 600  # images whose long side is at least this are also searched in tiles
# Boxes whose shorter side is under this share of the smallest face Rekognition must find are dropped: at
# WIDER's scale they are mostly misses of tiny heads (benchmarks/detectors.py: false detections 8.3 -> 0.7
# per photo, recall of faces of 40 px and more unchanged).
MIN_SIDE_FRACTION = 0.75


class SsdMobilenetNet:
    """The network over its packaged weights: (N, 512, 512, 3) RGB 0..255 -> boxes and scores."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self._w = weights
        anchors = weights["Output/extra_dim"][0]  # (5118, 4): ymin, xmin, ymax, xmax
        self._anchor_sizes = anchors[:, 2:] - anchors[:, :2]
        self._anchor_centres = anchors[:, :2] + self._anchor_sizes / 2

    @classmethod
    def load(cls, model_dir: Path) -> SsdMobilenetNet:
        return cls(read_tfjs_weights(model_dir / MANIFEST))

    def _pointwise(self, x: np.ndarray, scope: str, index: int, stride: int) -> np.ndarray:
        prefix = f"{scope}/Conv2d_{index}_pointwise"
        out = conv2d(x, self._w[f"{prefix}/weights"], self._w[f"{prefix}/convolution_bn_offset"], stride)
        return np.clip(out, 0, 6)

    def _depthwise(self, x: np.ndarray, index: int, stride: int) -> np.ndarray:
        prefix = f"MobilenetV1/Conv2d_{index}_depthwise"
        w = self._w
        out = depthwise_conv2d(x, w[f"{prefix}/depthwise_weights"], stride)
        scale = w[f"{prefix}/BatchNorm/gamma"] / np.sqrt(w[f"{prefix}/BatchNorm/moving_variance"] + BATCH_NORM_EPSILON)
        return np.clip((out - w[f"{prefix}/BatchNorm/moving_mean"]) * scale + w[f"{prefix}/BatchNorm/beta"], 0, 6)

    def _predict(self, x: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        w = self._w
        prefix = f"Prediction/BoxPredictor_{index}"
        box, kind = f"{prefix}/BoxEncodingPredictor", f"{prefix}/ClassPredictor"
        encodings = conv2d(x, w[f"{box}/weights"], w[f"{box}/biases"], 1)
        classes = conv2d(x, w[f"{kind}/weights"], w[f"{kind}/biases"], 1)
        return encodings.reshape(len(x), -1, 4), classes.reshape(len(x), -1, 3)

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 5118, 4) as ymin, xmin, ymax, xmax relative to the input, and face scores (N, 5118)."""
        out = self._pointwise(batch.astype(np.float32) / np.float32(127.5) - 1, "MobilenetV1", 0, 2)
        conv11 = out
        for index in range(1, 14):
            out = self._depthwise(out, index, 2 if index in DOWNSAMPLING_BLOCKS else 1)
            out = self._pointwise(out, "MobilenetV1", index, 1)
            if index == 11:
                conv11 = out
        maps = [conv11, out]
        extra = out
        for index in range(0, 8, 2):
            extra = self._pointwise(self._pointwise(extra, "Prediction", index, 1), "Prediction", index + 1, 2)
            maps.append(extra)
        predictions = [self._predict(feature, index) for index, feature in enumerate(maps)]
        encodings = np.concatenate([p[0] for p in predictions], axis=1)
        classes = np.concatenate([p[1] for p in predictions], axis=1)
        half = np.exp(encodings[..., 2:] / 5) * self._anchor_sizes / 2
        centres = encodings[..., :2] / 10 * self._anchor_sizes + self._anchor_centres
        boxes = np.concatenate([centres - half, centres + half], axis=-1)
        return boxes, 1 / (1 + np.exp(-classes[..., 1]))


def suppress(
    boxes: np.ndarray, scores: np.ndarray, iou: float, min_score: float, contained: float = 1.0
) -> list[int]:
    """Greedy non-maximum suppression: indices of the kept boxes (x0, y0, x1, y1), best first. A box is
    dropped when it overlaps a kept one by more than `iou`, or when more than `contained` of the smaller
    of the two lies in the other (one face seen by two passes at two scales)."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > min_score]
    kept: list[int] = []
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    for i in order:
        if kept:
            others = boxes[kept]
            width = np.clip(np.minimum(others[:, 2], boxes[i, 2]) - np.maximum(others[:, 0], boxes[i, 0]), 0, None)
            height = np.clip(np.minimum(others[:, 3], boxes[i, 3]) - np.maximum(others[:, 1], boxes[i, 1]), 0, None)
            inter = width * height
            union = areas[kept] + areas[i] - inter
            smaller = np.minimum(areas[kept], areas[i])
            if np.any(inter > iou * np.where(union > 0, union, np.inf)) or np.any(
                inter > contained * np.where(smaller > 0, smaller, np.inf)
            ):
                continue
        kept.append(i)
    return kept


def tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """(left, top, side) of every square the detector looks at: the image zoomed out (centred in a
    square of twice its long side: a close-up face fills too much of one pass to be found), the whole
    image, and for a large one TILES x TILES overlapping tiles. A square may reach past the image."""
    side = max(width, height)
    found = [((width - 2 * side) // 2, (height - 2 * side) // 2, 2 * side), (0, 0, side)]
    if side < TILE_FROM_PX:
        return found
    tile = int(side / TILES * TILE_OVERLAP)
    for row in range(TILES):
        for column in range(TILES):
            left = round(column * max(width - tile, 0) / (TILES - 1))
            top = round(row * max(height - tile, 0) / (TILES - 1))
            found.append((left, top, tile))
    return list(dict.fromkeys(found))  # along a side no longer than a tile, one tile is enough


def _square(rgb: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """The side x side square of the image at (left, top), black where it reaches past the image; a square
    that starts inside the image and reaches past its bottom or right is face-api's padToSquare of the crop."""
    if left >= 0 and top >= 0:
        return pad_to_square(rgb[top : top + side, left : left + side], centred=False)
    height, width = rgb.shape[:2]
    square = np.zeros((side, side, 3), dtype=rgb.dtype)
    square[-top : -top + height, -left : -left + width] = rgb
    return square


class SsdMobilenetDetector:
    """Faces by SSD MobileNet V1 over the whole image and, for a large one, its tiles."""

    name = "ssd-mobilenet"

    def __init__(self, model_dir: Path) -> None:
        self._net = SsdMobilenetNet.load(model_dir)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        if min(height, width) < 2:
            return []
        boxes: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for left, top, side in tiles(width, height):
            square = _square(rgb, left, top, side)
            batch = resize_bilinear(square, INPUT_SIZE)[np.newaxis]
            found, score = self._net.forward(batch)  # read-only weights: concurrent calls are safe
            scale = square.shape[0]
            keep = score[0] > MIN_SCORE
            relative = np.clip(found[0][keep], 0, 1)
            boxes.append(np.stack([left + relative[:, 1] * scale, top + relative[:, 0] * scale,
                                   left + relative[:, 3] * scale, top + relative[:, 2] * scale], axis=1))
            scores.append(score[0][keep])
        every, every_score = np.concatenate(boxes), np.concatenate(scores)  # tiles() gives at least two squares
        large = np.minimum(every[:, 2] - every[:, 0], every[:, 3] - every[:, 1]) >= (
            MIN_SIDE_FRACTION * smallest_face_px(width, height)
        )  # before the suppression, so that a part of a face cannot suppress the face
        every, every_score = every[large], every_score[large]
        kept = suppress(every, every_score, NMS_IOU, MIN_SCORE, CONTAINED)
        return [
            Detection(max(0.0, float(b[0])), max(0.0, float(b[1])), float(min(b[2], width)), float(min(b[3], height)),
                      100 * float(s))
            for b, s in zip(every[kept], every_score[kept], strict=True)
        ]
