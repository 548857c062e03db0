"""Emotions from face-api's `face_expression` model (npm `@vladmandic/face-api`, MIT), run in numpy.

The package ships the weights only (a TF.js weights manifest and one binary, uint8-quantized);
the network is face-api's FaceExpressionNet, written here as its code defines it: four dense
blocks of depthwise-separable convolutions over a 112x112 RGB crop, a 7x7 average pool, one fully
connected layer and a softmax over 7 expressions. The crop is face-api's: the tightest box around
the 68 landmarks padded by 20 %, padded to a square with black, resized bilinearly (TF's legacy
resize). `tests/engine/test_face_api_ports.py` checks this port against face-api itself (run by Node.js).

Rekognition names 8 emotions; the model tells 7 (neutral is CALM, fearful is FEAR). It has no
"confused": CONFUSED's confidence is the share of the model's belief that goes to no single
expression, (1 - top probability) x (normalised entropy), and the other seven share the rest in
proportion to the model's probabilities (docs/engine.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .tfjs import conv2d, pad_to_square, read_tfjs_weights, resize_bilinear, separable_conv2d

INPUT_SIZE = 112
MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
BOX_PADDING = 0.2  # face-api's alignMinBbox: 20 % of the landmarks' box added (half each side)
MODEL_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
REKOGNITION_TYPES = {
    "neutral": "CALM",
    "happy": "HAPPY",
    "sad": "SAD",
    "angry": "ANGRY",
    "fearful": "FEAR",
    "disgusted": "DISGUSTED",
    "surprised": "SURPRISED",
}
MANIFEST = "face_expression_model-weights_manifest.json"


class ExpressionNet:
    """face-api's FaceExpressionNet over its packaged weights."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self._w = weights

    @classmethod
    def load(cls, model_dir: Path) -> ExpressionNet:
        return cls(read_tfjs_weights(model_dir / MANIFEST))

    def _separable(self, x: np.ndarray, name: str, stride: int) -> np.ndarray:
        w = self._w
        return separable_conv2d(
            x, w[f"{name}/depthwise_filter"], w[f"{name}/pointwise_filter"], w[f"{name}/bias"], stride
        )

    def _dense_block(self, x: np.ndarray, block: str, first: bool) -> np.ndarray:
        if first:
            out1 = conv2d(x, self._w[f"{block}/conv0/filters"], self._w[f"{block}/conv0/bias"], 2)
        else:
            out1 = self._separable(x, f"{block}/conv0", 2)
        out1 = np.maximum(out1, 0)
        out2 = self._separable(out1, f"{block}/conv1", 1)
        out3 = self._separable(np.maximum(out1 + out2, 0), f"{block}/conv2", 1)
        out4 = self._separable(np.maximum(out1 + out2 + out3, 0), f"{block}/conv3", 1)
        return np.maximum(out1 + out2 + out3 + out4, 0)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, 7) softmax over MODEL_LABELS for (N, 112, 112, 3) RGB crops in 0..255."""
        x = (batch.astype(np.float32) - MEAN_RGB) / np.float32(255)
        for index in range(4):
            x = self._dense_block(x, f"dense{index}", first=index == 0)
        pooled = x[:, :7, :7, :].mean(axis=(1, 2))  # avgPool 7x7, stride 2, valid, over a 7x7 map
        logits = pooled @ self._w["fc/weights"] + self._w["fc/bias"]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def face_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """face-api's crop for a face: the landmarks' box padded by 20 %, floored, clipped to the image
    (left, top, right, bottom); at least one pixel of the image, wherever the landmarks lie."""
    left, top = points.min(axis=0)
    right, bottom = points.max(axis=0)
    pad_x, pad_y = (right - left) * BOX_PADDING, (bottom - top) * BOX_PADDING
    x0 = min(max(0, math.floor(left - pad_x / 2)), width - 1)
    y0 = min(max(0, math.floor(top - pad_y / 2)), height - 1)
    x1 = min(width, math.floor(right + pad_x / 2))
    y1 = min(height, math.floor(bottom + pad_y / 2))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def square_input(crop: np.ndarray) -> np.ndarray:
    """The crop as face-api feeds this network: padded to a square with black, centred, then 112x112."""
    return resize_bilinear(pad_to_square(crop, centred=True), INPUT_SIZE)


def rekognition_emotions(probabilities: np.ndarray) -> list[dict[str, Any]]:
    """Rekognition's 8 Emotions (Type, Confidence 0..100), highest first, from the model's 7."""
    p = np.asarray(probabilities, dtype=np.float64)
    entropy = float(-(p * np.log(np.clip(p, 1e-12, None))).sum() / math.log(len(p)))
    confused = (1.0 - float(p.max())) * entropy
    kept = 100.0 * (1.0 - confused)
    found = {REKOGNITION_TYPES[label]: kept * float(q) for label, q in zip(MODEL_LABELS, p, strict=True)}
    found["CONFUSED"] = 100.0 * confused
    ranked = sorted(found.items(), key=lambda item: -item[1])
    return [{"Type": name, "Confidence": confidence} for name, confidence in ranked]


class Expressions:
    """Emotions of faces whose landmarks are already known (loaded once; read-only, so thread-safe)."""

    def __init__(self, model_dir: Path) -> None:
        self._net = ExpressionNet.load(model_dir)

    def probabilities(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        left, top, right, bottom = face_box(points, width, height)
        batch = square_input(rgb[top:bottom, left:right])[np.newaxis]
        return self._net.probabilities(batch)[0]

    def predict(self, rgb: np.ndarray, points: np.ndarray) -> dict[str, Any]:
        return {"Emotions": rekognition_emotions(self.probabilities(rgb, points))}
