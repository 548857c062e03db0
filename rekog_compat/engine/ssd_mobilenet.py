"""face-api's SSD MobileNet V1 face detector (npm `@vladmandic/face-api`, MIT; trained on WIDER FACE), in numpy.

The package ships the weights; the network is face-api's SsdMobilenetv1 as its code defines it:
MobileNet V1 (13 depthwise-separable blocks, batch norm, ReLU6) on a 512x512 input scaled to
-1..1, SSD box predictors on six feature maps, boxes decoded against the 5,118 anchors the weights
carry (`Output/extra_dim`), sigmoid scores, non-maximum suppression at IoU 0.5.

One 512-px pass sees a face of 40 px in a 1024-px photo as 20 px, below what the smallest anchors
find well; so a large image is also searched in overlapping tiles (sized to see a 40-px face at
30 px), a close-up is also searched zoomed out (a face filling the input is scored low), and the
passes' boxes are merged by the same suppression, which also drops a box lying 80 % inside a
better one (benchmarks/detectors.py measures the choice).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .detection import Detection, smallest_face_px
from .onnx_graph import GraphBuilder, session
from .tfjs import conv2d, depthwise_conv2d, read_tfjs_weights, resize_square_view

INPUT_SIZE = 512
BATCH_NORM_EPSILON = 0.0010000000474974513
MANIFEST = "ssd_mobilenetv1_model-weights_manifest.json"
DOWNSAMPLING_BLOCKS = (2, 4, 6, 12)
MIN_SCORE = 0.5  # face-api's default minConfidence
NMS_IOU = 0.5  # face-api's
CONTAINED = 0.8  # merging passes: a box this much inside another is the same face
# A tile is sized so that the smallest face Rekognition must find (40 px up to 1080p) fills this many of
# its 512 input pixels: one pass finds 85 % of WIDER's faces seen at 30-60 px, 71-76 % at 22-30 px
# (benchmarks/detectors.py's photos, faces of 20 px or more). 1024-px photos get 2 x 2 tiles, 1920 x 1080
# ones 4 x 2.
FACE_AT_INPUT_PX = 30.0
TILE_OVERLAP = 1.3  # a tile's side over the step between tiles
MAX_TILES = 12  # bounded work for long strips
# Boxes whose shorter side is under this share of the smallest face Rekognition must find are dropped: at
# WIDER's scale they are mostly misses of tiny heads (benchmarks/detectors.py: false detections 8.3 -> 0.7
# per photo, recall of faces of 40 px and more unchanged).
MIN_SIDE_FRACTION = 0.75
# The zoomed-out pass is there for close-ups; its boxes under this many pixels of the network's input
# (1/32 of its square) are at the smallest anchors' edge and mostly wrong (benchmarks/detectors.py: 87 of
# the 106 false detections on WIDER at 0.5 came from them; dropping them: 0.73 -> 0.13 per photo, 2 of
# 494 faces of 40 px or more lost, which the whole image's pass and the tiles see at a better scale).
ZOOMED_OUT_MIN_INPUT_PX = 16.0


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

    def raw(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The box predictors' outputs before decoding: encodings (N, 5118, 4), class logits (N, 5118, 3)."""
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
        return np.concatenate([p[0] for p in predictions], axis=1), np.concatenate([p[1] for p in predictions], axis=1)

    def decode(self, encodings: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 5118, 4) as ymin, xmin, ymax, xmax relative to the input, and face scores (N, 5118)."""
        half = np.exp(encodings[..., 2:] / 5) * self._anchor_sizes / 2
        centres = encodings[..., :2] / 10 * self._anchor_sizes + self._anchor_centres
        boxes = np.concatenate([centres - half, centres + half], axis=-1)
        return boxes, 1 / (1 + np.exp(-classes[..., 1]))

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 512, 512, 3) RGB 0..255 -> decoded boxes and face scores, in numpy."""
        return self.decode(*self.raw(batch))

    def onnx_model(self) -> bytes:
        """The same network as an ONNX graph of the same weights (batch norm folded into the depthwise
        convolutions): NHWC RGB 0..255 in, the two outputs of `raw` out."""
        w = self._w
        graph = GraphBuilder()
        x = graph.node("Transpose", ["image"], perm=[0, 3, 1, 2])
        x = graph.node("Sub", [graph.node("Mul", [x, graph.constant(np.float32(1 / 127.5))]),
                               graph.constant(np.float32(1))])
        prefix = "MobilenetV1/Conv2d_0_pointwise"
        x, size = graph.conv(x, INPUT_SIZE, w[f"{prefix}/weights"], w[f"{prefix}/convolution_bn_offset"], 2)
        maps = []
        for index in range(1, 14):
            prefix = f"MobilenetV1/Conv2d_{index}_depthwise"
            variance = w[f"{prefix}/BatchNorm/moving_variance"]
            scale = w[f"{prefix}/BatchNorm/gamma"] / np.sqrt(variance + BATCH_NORM_EPSILON)
            bias = w[f"{prefix}/BatchNorm/beta"] - w[f"{prefix}/BatchNorm/moving_mean"] * scale
            x, size = graph.conv(x, size, w[f"{prefix}/depthwise_weights"] * scale[None, None, :, None], bias,
                                 2 if index in DOWNSAMPLING_BLOCKS else 1, depthwise=True)
            prefix = f"MobilenetV1/Conv2d_{index}_pointwise"
            x, size = graph.conv(x, size, w[f"{prefix}/weights"], w[f"{prefix}/convolution_bn_offset"], 1)
            if index in (11, 13):
                maps.append((x, size))
        for index in range(0, 8):
            prefix = f"Prediction/Conv2d_{index}_pointwise"
            x, size = graph.conv(x, size, w[f"{prefix}/weights"], w[f"{prefix}/convolution_bn_offset"], 1 + index % 2)
            if index % 2:
                maps.append((x, size))
        outputs: dict[str, list[str]] = {"encodings": [], "classes": []}
        for index, (feature, size) in enumerate(maps):
            for output, kind, depth in (("encodings", "BoxEncodingPredictor", 4), ("classes", "ClassPredictor", 3)):
                prefix = f"Prediction/BoxPredictor_{index}/{kind}"
                y, _ = graph.conv(feature, size, w[f"{prefix}/weights"], w[f"{prefix}/biases"], 1, relu6=False)
                y = graph.node("Transpose", [y], perm=[0, 2, 3, 1])  # NHWC order, as TF.js reshapes it
                shape = graph.constant(np.array([0, -1, depth]), f"to{depth}")
                outputs[output].append(graph.node("Reshape", [y, shape]))
        for output, parts in outputs.items():
            graph.node("Concat", parts, output=output, axis=1)
        anchors = len(self._anchor_sizes)
        return graph.model([("image", ["n", INPUT_SIZE, INPUT_SIZE, 3])],
                           [("encodings", ["n", anchors, 4]), ("classes", ["n", anchors, 3])])


class OnnxSsdMobilenetNet:
    """`SsdMobilenetNet` run by onnxruntime: the same outputs (within float rounding), ~5x faster."""

    def __init__(self, net: SsdMobilenetNet) -> None:
        self._net = net
        self._session = session(net.onnx_model())

    def forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 512, 512, 3) RGB 0..255 -> decoded boxes and face scores, as `SsdMobilenetNet.forward`."""
        encodings, classes = self._session.run(None, {"image": np.ascontiguousarray(batch, dtype=np.float32)})
        return self._net.decode(encodings, classes)

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


def tiles(
    width: int, height: int, input_size: int = INPUT_SIZE, face_at: float = FACE_AT_INPUT_PX
) -> list[tuple[int, int, int]]:
    """(left, top, side) of every square the detector looks at: the image zoomed out (centred in a
    square of twice its long side: a close-up face fills too much of one pass to be found), the whole
    image, and, where the whole image's pass would see the smallest face Rekognition must find under
    FACE_AT_INPUT_PX, overlapping tiles small enough to see it that large (at most MAX_TILES: a long
    strip gets larger tiles). A square may reach past the image. Another network's `input_size` and the
    size it should see the smallest face at (`face_at`) give its squares (benchmarks.detector_candidates)."""
    side = max(width, height)
    found = [((width - 2 * side) // 2, (height - 2 * side) // 2, 2 * side), (0, 0, side)]
    tile = math.ceil(smallest_face_px(width, height) * input_size / face_at)
    if side < tile * TILE_OVERLAP:  # the whole image's pass sees that face at 23 px or more
        return found
    while True:
        step = tile / TILE_OVERLAP
        columns = 1 + math.ceil(max(width - tile, 0) / step)
        rows = 1 + math.ceil(max(height - tile, 0) / step)
        if columns * rows <= MAX_TILES:
            break
        tile = math.ceil(tile * 1.1)
    for row in range(rows):
        for column in range(columns):
            left = round(column * max(width - tile, 0) / max(columns - 1, 1))
            top = round(row * max(height - tile, 0) / max(rows - 1, 1))
            found.append((left, top, tile))
    return found


class SsdMobilenetDetector:
    """Faces by SSD MobileNet V1 over the whole image and, for a large one, its tiles."""

    name = "ssd-mobilenet"

    def __init__(self, model_dir: Path) -> None:
        self._net = OnnxSsdMobilenetNet(SsdMobilenetNet.load(model_dir))

    def candidates(self, rgb: np.ndarray, min_score: float = MIN_SCORE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pass's boxes scoring above `min_score`, before merging (less the zoomed-out pass's small
        ones): boxes (x0, y0, x1, y1) in image pixels, scores 0..1, and the index in `tiles()` of the
        square each came from. All squares go through the network as one batch."""
        height, width = rgb.shape[:2]
        squares = tiles(width, height)
        batch = np.stack([resize_square_view(rgb, left, top, side, INPUT_SIZE) for left, top, side in squares])
        found, score = self._net.forward(batch)  # read-only weights: concurrent calls are safe
        boxes, scores, passes = [], [], []
        for index, (left, top, side) in enumerate(squares):
            relative = np.clip(found[index], 0, 1)
            keep = score[index] > min_score
            if index == 0:  # the zoomed-out square: close-ups only
                sides = np.minimum(relative[:, 2] - relative[:, 0], relative[:, 3] - relative[:, 1])
                keep &= sides * INPUT_SIZE >= ZOOMED_OUT_MIN_INPUT_PX
            relative = relative[keep]
            boxes.append(np.stack([left + relative[:, 1] * side, top + relative[:, 0] * side,
                                   left + relative[:, 3] * side, top + relative[:, 2] * side], axis=1))
            scores.append(score[index][keep])
            passes.append(np.full(int(keep.sum()), index))
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(passes)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        if min(height, width) < 2:
            return []
        every, every_score, _ = self.candidates(rgb)
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
