"""Read the weights a ``.tflite`` actually ships, from the flatbuffer, without TensorFlow.

Used to confirm that pruning and clustering survived conversion and quantization: per weight tensor of the
conv / depthwise / fully-connected ops, the count, nonzero count (zero measured in the real-valued domain, i.e.
against the zero point), unique values per tensor, and for per-channel quantized tensors the most unique values
in any one output channel (each channel has its own scale, so N clusters give at most N values per channel).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from edgekit import tflite_file
from edgekit.optimize.metrics import WeightStats, tensor_stats

WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "CONV_3D": 1}
# Position of the output-channel axis of the weight tensor, per op (TFLite layouts).
CHANNEL_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0, "TRANSPOSE_CONV": 0, "CONV_3D": 4}
# Fused recurrent ops: (input weight, recurrent weight) input positions per gate (TFLite's LSTM: input, forget,
# cell, output; RNN: one). Their zero is 0 (symmetric int8 weights).
RECURRENT_WEIGHTS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": ((1, 5), (2, 6), (3, 7), (4, 8)), "LSTM": ((1, 5), (2, 6), (3, 7), (4, 8)),
                     "UNIDIRECTIONAL_SEQUENCE_RNN": ((1, 2),), "RNN": ((1, 2),)}
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8, 10: np.float64}
_WRAPPER_PREFIX = re.compile(r"^(quant_|prune_low_magnitude_|cluster_)+")


def tflite_weight_stats(path: str | os.PathLike, layer_names: Sequence[str] = ()) -> list[WeightStats]:
    """Weight tensors of every conv / fully-connected op in ``path``; ``layer_names`` (the Keras layers) are used
    to label each tensor with the layer it came from."""
    model, data = tflite_file.read(path)
    subgraph = model.Subgraphs(0)
    op_names = tflite_file.operator_names(model)
    producers: dict[int, tuple[str, int]] = {}
    ops = []
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        name = op_names[op.OpcodeIndex()]
        inputs = list(op.InputsAsNumpy()) if op.InputsLength() else []
        outputs = list(op.OutputsAsNumpy()) if op.OutputsLength() else []
        for o in outputs:
            producers[int(o)] = (name, int(inputs[0]) if inputs else -1)
        ops.append((name, inputs))
    stats: list[WeightStats] = []
    seen: set[int] = set()
    for name, inputs in ops:
        if name in RECURRENT_WEIGHTS:
            recurrent = _recurrent_stats(model, subgraph, data, name, inputs, layer_names, seen)
            stats += [recurrent] if recurrent else []
            continue
        if name not in WEIGHT_OPS or len(inputs) <= WEIGHT_OPS[name]:
            continue
        index = int(inputs[WEIGHT_OPS[name]])
        # float16 weights reach the op through a DEQUANTIZE of a float16 constant
        while _buffer(model, subgraph, index, data) is None and producers.get(index, ("", -1))[0] == "DEQUANTIZE":
            index = producers[index][1]
        values = _buffer(model, subgraph, index, data)
        if values is None or index in seen:
            continue
        seen.add(index)
        tensor = subgraph.Tensors(index)
        tname = tensor.Name().decode("utf-8", "replace")
        zero_point: np.ndarray | int = 0
        axis = CHANNEL_AXIS.get(name)
        q = tensor.Quantization()
        if q is not None and q.ZeroPointLength():
            zero_point = q.ZeroPointAsNumpy()
            if q.ZeroPointLength() > 1:
                axis = q.QuantizedDimension()
        if values.dtype.kind == "f":
            zero_point = 0
        stats.append(tensor_stats(tname, layer_of(tname, layer_names), name, values, zero_point, axis))
    return stats


def _recurrent_stats(model, subgraph, data: bytes, name: str, inputs, layer_names, seen: set[int]) -> WeightStats | None:
    """One entry for a fused recurrent op: its gate weights (input and recurrent, per gate side by side) as one
    [gates × units, inputs + units] matrix, as the Keras layer's kernel and recurrent kernel together."""
    gates = []
    for w, r in RECURRENT_WEIGHTS[name]:
        pair = [_buffer(model, subgraph, int(inputs[i]), data) if i < len(inputs) and inputs[i] >= 0 else None for i in (w, r)]
        if any(v is None for v in pair):
            continue  # an optional gate (CIFG) or a weight that is not a constant
        seen.update(int(inputs[i]) for i in (w, r))
        gates.append(np.concatenate([v.astype(np.float32) if v.dtype.kind == "f" else v for v in pair], axis=1))
    if not gates:
        return None
    tname = subgraph.Tensors(int(inputs[RECURRENT_WEIGHTS[name][0][0]])).Name().decode("utf-8", "replace")
    return tensor_stats(tname, layer_of(tname, layer_names), name, np.concatenate(gates, axis=0), 0, None)


def _buffer(model, subgraph, index: int, data: bytes) -> np.ndarray | None:
    tensor = subgraph.Tensors(index)
    raw = tflite_file.buffer_bytes(model, data, tensor.Buffer())
    if not raw:
        return None
    dtype = _DTYPES.get(tensor.Type())
    if dtype is None:
        return None
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def layer_of(tensor_name: str, layer_names: Sequence[str]) -> str:
    """The Keras layer a TFLite tensor came from: the longest layer name that is a path part of the tensor name."""
    parts = {_WRAPPER_PREFIX.sub("", p) for chunk in tensor_name.split(";") for p in chunk.split("/")}
    matches = [n for n in layer_names if n in parts]
    return max(matches, key=len) if matches else ""
