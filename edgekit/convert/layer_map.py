"""Which Keras layer each op of a converted ``.tflite`` comes from — the link users of TF's QuantizationDebugger miss.

The TFLite converter names an op's output tensor after the TensorFlow ops it fused into it, for instance
``digits_cnn/conv1/Relu;digits_cnn/conv1/BiasAdd;digits_cnn/conv1/Conv2D``: every ``;``-separated part is a TF op
path ``model/layer/.../op``, and the Keras layer is the deepest path component that names a layer of the model
(nested models give ``outer/inner/layer/op``; the second call of a shared layer is scoped ``layer_1``, which maps to
``layer`` when no layer has that exact name). Ops whose tensors carry no layer name — a softmax fused into a Dense
layer's activation is named after the model output (``StatefulPartitionedCall:01``), a QUANTIZE op after its input —
take the layer of the op that feeds them, else of the op they feed. :func:`edgekit.convert.sensitivity.analyze`
checks the result numerically: the last op of each layer must reproduce that Keras layer's output.

Reads the flatbuffer only (no TensorFlow, no interpreter).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

from edgekit import tflite_file

# Ops that compute (weights and MACs): what "most conv/FC ops stay int8" counts.
COMPUTE_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D"})
_CALL_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class OpLayer:
    """One op of the first subgraph and the Keras layer it belongs to."""

    index: int
    op: str  # builtin name, e.g. CONV_2D
    layer: str | None  # the innermost Keras layer, None if nothing names one
    path: tuple[str, ...]  # enclosing Keras layers/models, outermost first, ending with ``layer``
    fused: tuple[str, ...]  # every layer its tensor names mention (a Conv2D with its BatchNorm and ReLU fused in)
    how: str  # "name" (read from its tensor names), "producer", "consumer" or "none"
    outputs: tuple[int, ...]  # tensor indices
    inputs: tuple[int, ...]  # non-constant input tensor indices
    output_names: tuple[str, ...]
    dtype: str  # type of its first output: float32, int8, int16 ...

    @property
    def scope(self) -> str:
        """The op's scope as ai-edge-quantizer matches it: output tensor names joined by ';', plus ';'."""
        return ";".join(self.output_names) + ";"


def keras_layers(model: Any) -> dict[str, str]:
    """``{layer name: class name}`` of a Keras model (either Keras), nested models' layers included."""
    found: dict[str, str] = {}
    for layer in getattr(model, "layers", []):
        found[layer.name] = type(layer).__name__
        if hasattr(layer, "layers"):
            found.update(keras_layers(layer))
    return found


def layer_paths(tensor_name: str, layer_names: Iterable[str]) -> list[tuple[str, ...]]:
    """The Keras layer path (outermost first) of each ';'-separated part of one tensor name that names a layer."""
    names = set(layer_names)
    paths = []
    for part in tensor_name.split(";"):
        path = []
        for component in part.split("/")[:-1] or part.split("/"):
            if component in names:
                path.append(component)
            elif _CALL_SUFFIX.sub("", component) in names:  # layer_1: the second call of a shared layer
                path.append(_CALL_SUFFIX.sub("", component))
        if path:
            paths.append(tuple(path))
    return paths


def layer_path(tensor_name: str, layer_names: Iterable[str]) -> tuple[str, ...]:
    """The op's own layer from one tensor name: the deepest path; between equally deep ones the last part, which
    is the first TF op of the fusion (``bn/FusedBatchNorm;conv/Conv2D`` belongs to ``conv``)."""
    best: tuple[str, ...] = ()
    for path in layer_paths(tensor_name, layer_names):
        if len(path) >= len(best):
            best = path
    return best


def map_ops(path: str | os.PathLike, layer_names: Iterable[str]) -> list[OpLayer]:
    """Every op of ``path``'s main subgraph with its Keras layer (see the module doc)."""
    model, _ = tflite_file.read(path)
    names = tflite_file.operator_names(model)
    sub = model.Subgraphs(0)
    layer_names = list(layer_names)
    tensor_names = [sub.Tensors(t).Name().decode(errors="replace") for t in range(sub.TensorsLength())]
    raw = []
    for o in range(sub.OperatorsLength()):
        op = sub.Operators(o)
        outputs = tuple(int(t) for t in op.OutputsAsNumpy() if t >= 0) if op.OutputsLength() else ()
        inputs = tuple(int(t) for t in op.InputsAsNumpy() if t >= 0
                       and tflite_file.buffer_size(model, sub.Tensors(int(t)).Buffer()) == 0) if op.InputsLength() else ()
        found: tuple[str, ...] = ()
        fused: dict[str, None] = {}
        for t in outputs:
            found = found or layer_path(tensor_names[t], layer_names)
            fused.update(dict.fromkeys(c for path in layer_paths(tensor_names[t], layer_names) for c in path))
        dtype = tflite_file.tensor_type(sub.Tensors(outputs[0]).Type()) if outputs else "none"
        raw.append([o, names[op.OpcodeIndex()], found, "name" if found else "none", outputs, inputs, dtype, tuple(fused)])
    producer = {t: item for item in raw for t in item[4]}
    consumers: dict[int, list] = {}
    for item in raw:
        for t in item[5]:
            consumers.setdefault(t, []).append(item)
    for item in raw:  # in graph order, so a chain of unnamed ops inherits from its first named producer
        if item[2]:
            continue
        fed_by = [producer[t] for t in item[5] if t in producer and producer[t][2]]
        if fed_by:
            item[2], item[3] = fed_by[0][2], "producer"
    for item in reversed(raw):  # graph inputs' QUANTIZE and the like: the op they feed
        if item[2]:
            continue
        feeds = [c for t in item[4] for c in consumers.get(t, []) if c[2]]
        if feeds:
            item[2], item[3] = feeds[0][2], "consumer"
    return [OpLayer(index=o, op=op, layer=found[-1] if found else None, path=found, fused=fused or found, how=how,
                    outputs=outs, inputs=ins, output_names=tuple(tensor_names[t] for t in outs), dtype=dtype)
            for o, op, found, how, outs, ins, dtype, fused in raw]


def layer_ops(ops: list[OpLayer]) -> dict[str, list[OpLayer]]:
    """Ops grouped by their innermost Keras layer, layers in graph order."""
    grouped: dict[str, list[OpLayer]] = {}
    for op in ops:
        if op.layer is not None:
            grouped.setdefault(op.layer, []).append(op)
    return grouped


def layer_output(ops: list[OpLayer]) -> int:
    """The tensor a layer hands on: the output of its last op that no other op of the layer consumes."""
    inside = {t for op in ops for t in op.inputs}
    for op in reversed(ops):
        for t in op.outputs:
            if t not in inside:
                return t
    return ops[-1].outputs[0]


def select(ops: list[OpLayer], names: Iterable[str]) -> list[OpLayer]:
    """Ops inside any of the Keras layers ``names`` (a nested model's name selects all its layers)."""
    wanted = set(names)
    return [op for op in ops if wanted & (set(op.path) | set(op.fused))]
