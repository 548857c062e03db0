"""MTCNN (Zhang et al. 2016), the weights of PyPI's `mtcnn` package, run by onnxruntime without TensorFlow.

The `mtcnn` wheel (MIT) ships its three networks' weights (`assets/weights/{pnet,rnet,onet}.lz4`, joblib
pickles of Keras weight lists); its code needs TensorFlow, so only the weights are read here (the package
is located, not imported) and each network is rebuilt as an ONNX graph in memory (`onnx_graph`). Each
file's sha256 is checked before it is unpickled. The cascade is the package's own (1.0.0): a proposal
network slid over an image pyramid, a refinement network on 24-px crops of its boxes, an output network
on 48-px crops, each followed by box regression and non-maximum suppression.

The pyramid starts where a face of 3/4 of the smallest face Rekognition must find (40 px up to a
1080-px short side, `smallest_face_px`) fills the proposal network's 12-px window, so the work is
bounded for large images as HOG's is. Measured on WIDER FACE and LFW in docs/engine.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .detection import Detection, smallest_face_px
from .onnx_graph import GraphBuilder, session
from .weights import EngineUnavailable

DISTRIBUTION = "mtcnn"
WEIGHTS_SHA256 = {
    "pnet.lz4": "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    "rnet.lz4": "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    "onet.lz4": "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
}
WINDOW_PX = 12  # the proposal network's window
PYRAMID_STEP = 0.709  # the package's scale factor between pyramid levels
# The smallest face looked for, as a share of the smallest one Rekognition must find: a face of 40 px is
# then seen at 16 px, inside the pyramid rather than at its edge.
SMALLEST_FACE_SHARE = 0.75
# The package's thresholds for each stage (face probability) and its suppression overlaps.
STAGE_THRESHOLDS = (0.6, 0.7, 0.7)
# Faces returned: the output network's probability at least this. At the package's own 0.7, WIDER gave
# 0.41 false detections per photo; at 0.9, 0.06 for 1 pp less recall (docs/engine.md).
MIN_CONFIDENCE = 0.9


def weights_dir() -> Path:
    """The installed `mtcnn` package's weights folder (found without importing it: it imports TensorFlow)."""
    spec = importlib.util.find_spec(DISTRIBUTION)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(f"MTCNN's weights are missing: install the PyPI package (pip install '{DISTRIBUTION}')")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"


def load_weights(name: str, folder: Path | None = None) -> list[np.ndarray]:
    """One network's Keras weight list, after checking the file is the one the package 1.0 ships."""
    import joblib

    path = (folder or weights_dir()) / name
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != WEIGHTS_SHA256[name]:
        raise EngineUnavailable(f"{path} is missing or not mtcnn 1.0's; reinstall it: pip install 'mtcnn>=1.0,<1.1'")
    return [np.asarray(w, dtype=np.float32) for w in joblib.load(path)]


class _Network:
    """One MTCNN network as an ONNX graph: Keras's layers, NCHW."""

    def __init__(self) -> None:
        self.graph = GraphBuilder()

    def conv(self, x: str, kernel: np.ndarray, bias: np.ndarray) -> str:
        """Keras's Conv2D, 'valid' padding (kernel: height, width, in, out)."""
        g = self.graph
        return g.node("Conv", [x, g.constant(kernel.transpose(3, 2, 0, 1)), g.constant(bias)],
                      kernel_shape=list(kernel.shape[:2]))

    def conv_prelu(self, x: str, kernel: np.ndarray, bias: np.ndarray, slope: np.ndarray) -> str:
        return self.graph.node("PRelu", [self.conv(x, kernel, bias), self.graph.constant(slope.reshape(-1, 1, 1))])

    def max_pool(self, x: str, size: int, stride: int, same: bool) -> str:
        padding = {"auto_pad": "SAME_UPPER"} if same else {}
        return self.graph.node("MaxPool", [x], kernel_shape=[size, size], strides=[stride, stride], **padding)

    def dense(self, x: str, weights: np.ndarray, bias: np.ndarray) -> str:
        return self.graph.node("Gemm", [x, self.graph.constant(weights), self.graph.constant(bias)])


def proposal_network(w: list[np.ndarray]) -> bytes:
    """P-Net, fully convolutional: (N, 3, H, W) -> box offsets (N, 4, h, w), face probability (N, 2, h, w)."""
    net = _Network()
    x = net.max_pool(net.conv_prelu("image", w[0], w[1], w[2]), 2, 2, same=True)
    x = net.conv_prelu(net.conv_prelu(x, w[3], w[4], w[5]), w[6], w[7], w[8])
    offsets = net.conv(x, w[9], w[10])
    faces = net.graph.node("Softmax", [net.conv(x, w[11], w[12])], axis=1)
    outputs = [(offsets, ["N", 4, "h", "w"]), (faces, ["N", 2, "h", "w"])]
    return net.graph.model([("image", ["N", 3, "H", "W"])], outputs)


def crop_network(w: list[np.ndarray], size: int, pools: list[tuple[int, int, bool]]) -> bytes:
    """R-Net (24 px) or O-Net (48 px): (N, 3, size, size) -> box offsets (N, 4), [O-Net: landmarks (N, 10),]
    face probability (N, 2). Keras flattens the last feature map transposed (width before height)."""
    net = _Network()
    x, index = "image", 0
    for layer in range(len(pools) + 1):
        x = net.conv_prelu(x, w[index], w[index + 1], w[index + 2])
        index += 3
        if layer < len(pools):
            x = net.max_pool(x, *pools[layer])
    x = net.graph.node("Flatten", [net.graph.node("Transpose", [x], perm=[0, 3, 2, 1])])
    x = net.graph.node("PRelu", [net.dense(x, w[index], w[index + 1]), net.graph.constant(w[index + 2])])
    index += 3
    heads = []
    while index < len(w):
        heads.append(net.dense(x, w[index], w[index + 1]))
        index += 2
    heads[-1] = net.graph.node("Softmax", [heads[-1]], axis=1)
    return net.graph.model([("image", ["N", 3, size, size])], [(h, ["N", None]) for h in heads])


def suppress(boxes: np.ndarray, scores: np.ndarray, overlap: float, by_smaller: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression as the package does it (pixel-inclusive areas): kept indices, best
    first. An overlap is over the union, or with `by_smaller` over the smaller box."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes.T
    areas = (x1 - x0 + 1) * (y1 - y0 + 1)
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        width = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        inter = width * height
        over = np.minimum(areas[best], areas[rest]) if by_smaller else areas[best] + areas[rest] - inter
        order = rest[inter / over <= overlap]
    return np.asarray(kept, dtype=int)


def squared(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square of its longer side about its centre."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    left, top = boxes[:, 0] + (width - side) / 2, boxes[:, 1] + (height - side) / 2
    return np.stack([left, top, left + side, top + side], axis=1)


def crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Each box's pixels resized bilinearly to size x size (outside the image: 0), as NCHW."""
    out = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        to_image = np.array([[(x1 - x0) / (size - 1), 0, x0], [0, (y1 - y0) / (size - 1), y0]], dtype=np.float32)
        out[i] = cv2.warpAffine(image, to_image, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.transpose(0, 3, 1, 2)


def refined(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by a network's regression (offsets as shares of the box's size, pixel-inclusive)."""
    width, height = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([width, height, width, height], axis=1)


def output_network(folder: Path | None = None) -> Any:
    """The output network (O-Net, 48-px crops) as an onnxruntime session: outputs box offsets, five landmarks
    and (no face, face) probabilities."""
    return session(crop_network(load_weights("onet.lz4", folder), 48, [(3, 2, True), (3, 2, False), (2, 2, True)]))


def face_probability(output: Any, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The output network's face probability for each box (x0, y0, x1, y1) of an RGB image, each box squared
    about its centre first, as the cascade feeds it."""
    if not len(boxes):
        return np.zeros(0, dtype=np.float32)
    image = (rgb.astype(np.float32) - 127.5) / 128.0
    return np.asarray(output.run(None, {"image": crops(image, squared(np.asarray(boxes, np.float32)), 48)})[-1][:, 1])


class MtcnnDetector:
    """Faces by the three-stage MTCNN cascade."""

    name = "mtcnn"

    def __init__(self, folder: Path | None = None, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.min_confidence = min_confidence  # benchmarks.detectors lowers it to measure other cuts
        self._proposal = session(proposal_network(load_weights("pnet.lz4", folder)))
        self._refine = session(crop_network(load_weights("rnet.lz4", folder), 24, [(3, 2, True), (3, 2, False)]))
        self._output = output_network(folder)

    def candidates(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every face the cascade keeps at the package's thresholds: boxes (x0, y0, x1, y1) in image pixels
        and the output network's face probability, best first."""
        height, width = rgb.shape[:2]
        image = (rgb.astype(np.float32) - 127.5) / 128.0
        boxes = self._proposals(image, SMALLEST_FACE_SHARE * smallest_face_px(width, height))
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0)
        boxes = squared(boxes)
        for stage, net, size in ((1, self._refine, 24), (2, self._output, 48)):
            outputs = net.run(None, {"image": crops(image, boxes, size)})
            scores = outputs[-1][:, 1]
            keep = scores > STAGE_THRESHOLDS[stage]
            boxes, scores = refined(boxes, outputs[0])[keep], scores[keep]
            kept = suppress(boxes, scores, 0.7, by_smaller=stage == 2)
            boxes, scores = boxes[kept], scores[kept]
            if stage == 1:
                boxes = squared(boxes)
            if not len(boxes):
                break
        return boxes, scores

    def _proposals(self, image: np.ndarray, smallest_face: float) -> np.ndarray:
        """P-Net's boxes over the pyramid, merged within each level (IoU 0.5) and across levels (0.7)."""
        height, width = image.shape[:2]
        scale = WINDOW_PX / smallest_face
        found: list[np.ndarray] = []
        while min(height, width) * scale >= WINDOW_PX:
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)[None].transpose(0, 3, 1, 2)
            offsets, faces = self._proposal.run(None, {"image": np.ascontiguousarray(level)})
            rows, columns = np.nonzero(faces[0, 1] > STAGE_THRESHOLDS[0])
            if len(rows):
                corner = np.stack([columns, rows], axis=1).astype(np.float32) * 2  # the pooling's stride
                shift = offsets[0][:, rows, columns].T * WINDOW_PX
                boxes = np.concatenate([corner + shift[:, :2], corner + WINDOW_PX + shift[:, 2:]], axis=1) / scale
                scores = faces[0, 1, rows, columns]
                kept = suppress(boxes, scores, 0.5)
                found.append(np.concatenate([boxes[kept], scores[kept, None]], axis=1))
            scale *= PYRAMID_STEP
        if not found:
            return np.zeros((0, 4))
        every = np.concatenate(found)
        return every[suppress(every[:, :4], every[:, 4], 0.7), :4]

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        boxes, scores = self.candidates(rgb)
        found = [
            Detection(max(0.0, float(b[0])), max(0.0, float(b[1])), min(float(b[2]), width), min(float(b[3]), height),
                      100.0 * float(s))
            for b, s in zip(boxes, scores, strict=True) if s >= self.min_confidence
        ]
        return [d for d in found if d.right - d.left >= 1 and d.bottom - d.top >= 1]  # a regression gone astray
