"""The numpy executor of TF.js graph models (engine/tfjs_graph.py) on small graphs with known answers, and
Human's embedders' message when their models are not installed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from rekog_compat.engine.human import human_embedder
from rekog_compat.engine.tfjs_graph import GraphModel, conv2d, depthwise_conv2d
from rekog_compat.engine.weights import EngineUnavailable


def naive_conv(x: np.ndarray, w: np.ndarray, stride: int, pad_top: int, pad_left: int, out_h: int, out_w: int,
               depthwise: bool = False) -> np.ndarray:
    """The definition, one output pixel at a time, with explicit zero padding above/left."""
    kh, kw = w.shape[:2]
    padded = np.zeros((x.shape[0], x.shape[1] + kh + stride, x.shape[2] + kw + stride, x.shape[3]), np.float64)
    padded[:, pad_top:pad_top + x.shape[1], pad_left:pad_left + x.shape[2]] = x
    channels = x.shape[3] if depthwise else w.shape[3]
    out = np.zeros((x.shape[0], out_h, out_w, channels))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            if depthwise:
                out[:, i, j] = np.einsum("nhwc,hwc->nc", patch, w[:, :, :, 0])
            else:
                out[:, i, j] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def test_same_padding_puts_the_odd_row_and_column_below_and_right():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    # 6 px, stride 2, kernel 3: 3 outputs, 1 pad row in all, below (TensorFlow), none above
    assert np.allclose(conv2d(x, w, [1, 2, 2, 1], "SAME"), naive_conv(x, w, 2, 0, 0, 3, 3), atol=1e-5)
    assert np.allclose(conv2d(x, w, [1, 1, 1, 1], "SAME"), naive_conv(x, w, 1, 1, 1, 6, 6), atol=1e-5)
    assert np.allclose(conv2d(x, w, [1, 1, 1, 1], "VALID"), naive_conv(x, w, 1, 0, 0, 4, 4), atol=1e-5)
    d = rng.standard_normal((3, 3, 3, 1)).astype(np.float32)
    assert np.allclose(depthwise_conv2d(x, d, [1, 2, 2, 1], "SAME"), naive_conv(x, d, 2, 0, 0, 3, 3, True),
                       atol=1e-5)


def _attr_list(values: list[int]) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def _text(value: str) -> dict:
    return {"s": base64.b64encode(value.encode()).decode()}


def write_graph(folder: Path, op: str = "_FusedConv2D") -> tuple[Path, np.ndarray, np.ndarray]:
    """input (1, 4, 4, 2) -> conv 3x3 + bias + relu (SAME) -> mean over H, W; the kernel stored as float16."""
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((3, 3, 2, 5)).astype(np.float16)
    bias = rng.standard_normal(5).astype(np.float32)
    axes = np.array([1, 2], dtype=np.int32)
    (folder / "tiny.bin").write_bytes(kernel.tobytes() + bias.tobytes() + axes.tobytes())
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": s} for s in
                                                                                 ("-1", "4", "4", "2")]}}}},
        {"name": "k", "op": "Const"}, {"name": "b", "op": "Const"}, {"name": "axes", "op": "Const"},
        {"name": "conv", "op": op, "input": ["x", "k", "b"],
         "attr": {"strides": _attr_list([1, 1, 1, 1]), "padding": _text("SAME"), "data_format": _text("NHWC"),
                  "dilations": _attr_list([1, 1, 1, 1]),
                  "fused_ops": {"list": {"s": [_text("BiasAdd")["s"], _text("Relu")["s"]]}}}},
        {"name": "mean", "op": "Mean", "input": ["conv", "axes"], "attr": {"keep_dims": {"b": False}}},
    ]
    weights = [
        {"name": "k", "shape": [3, 3, 2, 5], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "b", "shape": [5], "dtype": "float32"},
        {"name": "axes", "shape": [2], "dtype": "int32"},
    ]
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "weightsManifest": [{"paths": ["tiny.bin"], "weights": weights}]}
    (folder / "tiny.json").write_text(json.dumps(model))
    return folder / "tiny.json", kernel.astype(np.float32), bias


def test_a_graph_runs_fused_ops_and_reads_float16_and_int32_weights(tmp_path):
    path, kernel, bias = write_graph(tmp_path)
    graph = GraphModel(path, ("mean",))
    assert graph.input_size == (4, 4)
    x = np.random.default_rng(2).standard_normal((3, 4, 4, 2)).astype(np.float32)
    expected = np.maximum(naive_conv(x, kernel, 1, 1, 1, 4, 4) + bias, 0).mean(axis=(1, 2))
    assert np.allclose(graph.run(x)["mean"], expected, atol=1e-5)


def test_an_op_the_executor_does_not_know_is_refused_when_the_model_loads(tmp_path):
    path, _, _ = write_graph(tmp_path, op="Conv3D")
    with pytest.raises(ValueError, match="op Conv3D"):
        GraphModel(path, ("mean",))


def test_a_missing_human_model_names_the_command_that_installs_it(tmp_path):
    with pytest.raises(EngineUnavailable, match="rekog-compat models install human-models"):
        human_embedder(tmp_path, "Human-FaceRes")
