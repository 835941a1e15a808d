"""Read the weights an ``.onnx`` actually ships (float initializers, or int8 initializers behind a
DequantizeLinear in QDQ models), to confirm that pruning and clustering survived conversion and quantization.

The counterpart of :mod:`edgekit.optimize.tflite_weights`: per weight tensor of the Conv / MatMul / Gemm nodes, the
count, nonzero count (against the zero point for quantized tensors), unique values, and for per-channel quantized
tensors the most unique values in any one output channel.
"""

from __future__ import annotations

import os
from typing import Sequence

from edgekit.optimize.metrics import WeightStats, tensor_stats
from edgekit.optimize.tflite_weights import layer_of

# op type → index of its weight input
WEIGHT_OPS = {"Conv": 1, "ConvTranspose": 1, "MatMul": 1, "Gemm": 1}
# output-channel axis of a float weight, per op (ONNX layouts: Conv OIHW, MatMul/Gemm B as (in, out))
CHANNEL_AXIS = {"Conv": 0, "ConvTranspose": 1, "MatMul": 1, "Gemm": 1}


def onnx_weight_stats(path: str | os.PathLike, layer_names: Sequence[str] = ()) -> list[WeightStats]:
    """Weight tensors of every Conv / MatMul / Gemm node in ``path``, labelled with the Keras layer they came from."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    stats: list[WeightStats] = []
    seen: set[str] = set()
    for node in graph.node:
        index = WEIGHT_OPS.get(node.op_type)
        if index is None or len(node.input) <= index:
            continue
        name = node.input[index]
        zero_point, axis = 0, CHANNEL_AXIS[node.op_type]
        dequantize = producers.get(name)
        if dequantize is not None and dequantize.op_type == "DequantizeLinear":
            name = dequantize.input[0]
            if len(dequantize.input) > 2 and dequantize.input[2] in initializers:
                zero_point = numpy_helper.to_array(initializers[dequantize.input[2]])
            axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1)
        if name not in initializers or name in seen:
            continue
        values = numpy_helper.to_array(initializers[name])
        if values.ndim < 2:
            continue
        seen.add(name)
        if values.dtype.kind == "f":
            zero_point = 0
        stats.append(tensor_stats(name, layer_of(name, layer_names), node.op_type, values, zero_point, axis % values.ndim))
    return stats
