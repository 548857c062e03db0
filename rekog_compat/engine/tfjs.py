"""TF.js models in numpy: their weights files read, and the few layers face-api's networks are made of.

face-api's npm package ships weights only (a weights manifest and binary shards, mostly
uint8-quantized); its networks are small stacks of these layers, written with TF.js's semantics
('same' padding puts the odd row/column below/right), so the ports reproduce face-api's numbers
(tests/engine/test_face_api_ports.py runs face-api itself for comparison).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def read_tfjs_weights(manifest_path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js weights manifest, dequantized to float32, by name."""
    return decode_weight_groups(json.loads(manifest_path.read_text()), manifest_path.parent)


def decode_weight_groups(
    groups: list[dict[str, Any]], folder: Path, keep_integers: bool = False
) -> dict[str, np.ndarray]:
    """The tensors of TF.js weight groups (a weights manifest, or a graph model's `weightsManifest`) whose
    shards are in `folder`, by name: uint8/uint16 quantization (scale, min) and float16 storage undone to
    float32; int32 tensors as float32 too, or kept as int32 with `keep_integers` (a graph's shapes, axes
    and paddings)."""
    weights: dict[str, np.ndarray] = {}
    for group in groups:
        data = b"".join((folder / path).read_bytes() for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = tuple(spec["shape"])
            count = math.prod(shape)
            quantization = spec.get("quantization")
            values: np.ndarray
            if quantization:
                dtype = np.dtype(quantization["dtype"])
                raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
                if dtype == np.float16:  # stored as half floats, no affine part
                    values = raw.astype(np.float32)
                else:
                    scale, low = np.float32(quantization["scale"]), np.float32(quantization["min"])
                    values = raw.astype(np.float32) * scale + low
            else:
                dtype = np.dtype(spec["dtype"])
                raw = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
                values = raw.astype(np.int32) if keep_integers and dtype.kind in "iu" else raw.astype(np.float32)
            offset += count * dtype.itemsize
            weights[spec["name"]] = values.reshape(shape)
        if offset != len(data):
            raise ValueError(f"{group['paths']}: {len(data) - offset} bytes left over after the last tensor")
    return weights


def _pad_same(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TF's 'same' padding of an NHWC tensor: the extra row/column goes below/right."""
    def amounts(size: int) -> tuple[int, int]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2

    return np.pad(x, ((0, 0), amounts(x.shape[1]), amounts(x.shape[2]), (0, 0)))


def _windows(x: np.ndarray, kernel: int, stride: int) -> list[np.ndarray]:
    """The kernel*kernel shifted views of a 'same'-padded input, row-major over the kernel."""
    height, width = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    padded = _pad_same(x, kernel, stride)
    return [
        padded[:, i : i + (height - 1) * stride + 1 : stride, j : j + (width - 1) * stride + 1 : stride, :]
        for i in range(kernel)
        for j in range(kernel)
    ]


def conv2d(x: np.ndarray, filters: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """tf.conv2d ('same') plus a bias, as one matrix product over the kernel's shifted views."""
    kernel = filters.shape[0]
    columns = np.concatenate(_windows(x, kernel, stride), axis=-1)  # (N, H, W, k*k*C), ordered (i, j, c)
    return columns @ filters.reshape(-1, filters.shape[-1]) + bias


def depthwise_conv2d(x: np.ndarray, filters: np.ndarray, stride: int) -> np.ndarray:
    """tf.depthwiseConv2d with 'same' padding and a channel multiplier of 1 (filters: k, k, C, 1)."""
    kernel = filters.shape[0]
    taps = filters[:, :, :, 0].reshape(kernel * kernel, -1)
    windows = _windows(x, kernel, stride)
    out = np.zeros_like(windows[0])
    for window, tap in zip(windows, taps, strict=True):
        out += window * tap
    return out


def separable_conv2d(
    x: np.ndarray, depthwise: np.ndarray, pointwise: np.ndarray, bias: np.ndarray, stride: int
) -> np.ndarray:
    """tf.separableConv2d ('same') plus a bias."""
    return depthwise_conv2d(x, depthwise, stride) @ pointwise[0, 0] + bias


def pad_to_square(image: np.ndarray, centred: bool) -> np.ndarray:
    """face-api's padToSquare: black rows or columns added to make an HxWxC image square, all after
    it, or (centred) split with the larger half after (JavaScript's Math.round: halves round up)."""
    height, width = image.shape[:2]
    diff = abs(height - width)
    after = math.floor(diff * 0.5 + 0.5) if centred else diff
    before = diff - after
    if height > width:
        return np.pad(image, ((0, 0), (before, after), (0, 0)))
    if width > height:
        return np.pad(image, ((before, after), (0, 0), (0, 0)))
    return image


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """tf.image.resizeBilinear of a square HxWxC image to size x size, float32, as TF.js does by default
    (no aligned corners, no half-pixel centres: source = destination x scale)."""
    return resize_square_view(image, 0, 0, image.shape[0], size)


def _taps(start: int, side: int, size: int, extent: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TF.js's bilinear taps along one axis of a `side`-long stretch starting at `start` of an axis
    `extent` long: the two source indices (clipped into the image), their weights (0 where the tap
    falls outside the image, which reads as black)."""
    position = np.arange(size, dtype=np.float64) * (side / size)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, side - 1)
    frac = (position - low).astype(np.float32)
    low, high = low + start, high + start
    inside_low = ((low >= 0) & (low < extent)).astype(np.float32)
    inside_high = ((high >= 0) & (high < extent)).astype(np.float32)
    return (np.clip(low, 0, extent - 1), np.clip(high, 0, extent - 1), (1 - frac) * inside_low,
            frac * inside_high)


def resize_square_view(image: np.ndarray, left: int, top: int, side: int, size: int) -> np.ndarray:
    """`resize_bilinear` of the side x side square of an HxWxC image at (left, top), black where the
    square reaches past the image, without making the square: only the rows and columns the taps
    read are converted to float (a 1920-px photo zoomed out is a 3840-px square)."""
    height, width = image.shape[:2]
    row_low, row_high, row_w0, row_w1 = _taps(top, side, size, height)
    col_low, col_high, col_w0, col_w1 = _taps(left, side, size, width)
    rows = image[row_low].astype(np.float32) * row_w0[:, None, None] + image[row_high].astype(np.float32) * (
        row_w1[:, None, None]
    )
    return rows[:, col_low] * col_w0[None, :, None] + rows[:, col_high] * col_w1[None, :, None]
