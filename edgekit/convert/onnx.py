"""Keras → ONNX through tf2onnx, with an explicit input signature (dynamic batch by default)."""

from __future__ import annotations

import os
from typing import Any

from edgekit._log import logger, quiet_native
from edgekit.convert.artifact import Artifact, ParityInputs, make_artifact, write_verified
from edgekit.convert.parity import FLOAT_TOLERANCE
from edgekit.keras.source import Source, open_source
from edgekit.errors import ConversionError

DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 13, 18  # the range tf2onnx 1.17 supports well


def to_onnx(
    model: Any,
    output: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    simplify: bool = True,
    eval_data: Any = None,
    trust_model: bool = False,
) -> Artifact:
    """Convert ``model`` (a path or a tf-keras model) to ``.onnx`` at ``output`` and check its parity.

    ``simplify`` runs onnxsim when it is installed and keeps its result only if it has fewer nodes.
    """
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConversionError(f"ONNX opset must be an integer from {MIN_OPSET} to {MAX_OPSET}; got {opset!r}")
    source = open_source(model, trust_model)
    notes: list[str] = []

    def write(path) -> None:
        proto = onnx_model(source, opset, None if dynamic_batch else 1)
        if simplify:
            proto, note = _simplified(proto)
            if note:
                notes.append(note)
        path.write_bytes(proto.SerializeToString())

    inputs = ParityInputs.for_source(source, eval_data)
    parity = write_verified(source, output, write, inputs, FLOAT_TOLERANCE["none"], f"ONNX conversion of {source.name}")
    notes.append(f"opset {opset}, {'dynamic' if dynamic_batch else 'static (1)'} batch")
    return make_artifact(
        output, source, format="onnx", quantize="none", io_dtype="float32", calibration="none", parity=parity, notes=tuple(notes)
    )


def onnx_model(source: Source, opset: int = DEFAULT_OPSET, batch: int | None = None):
    """The ONNX ModelProto for ``source`` (nothing written, no parity check)."""
    from edgekit._tf import tf2onnx as import_tf2onnx

    tf2onnx = import_tf2onnx()
    function = source.tf_function(batch=batch)
    try:
        with quiet_native():
            proto, _ = _from_function(tf2onnx, function, opset)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConversionError(f"tf2onnx failed on {source.name} (opset {opset}): {first[:300]}") from None
    return proto


def _from_function(tf2onnx, function, opset: int):
    """``tf2onnx.convert.from_function``, except that only the function's own arguments become ONNX inputs.

    tf2onnx 1.17 takes every captured tensor that is not a variable (e.g. the mean/variance of a Normalization layer
    built with fixed values, in tf-keras and Keras 3 alike) for a model input; those are frozen into the graph here.
    Follows from_function's body, which is why it uses tf2onnx's module-level helpers.
    """
    from edgekit._tf import tf

    tf_ = tf()
    concrete = function.get_concrete_function()
    if all(t.dtype == tf_.resource for t in concrete.captured_inputs):
        return tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset)
    own = len(function.input_signature)
    input_names = [t.name for t in concrete.inputs[:own]]
    output_names = [t.name for t in concrete.outputs if t.dtype != tf_.resource]
    renames = tf2onnx.convert.tensor_names_from_structed(concrete, input_names, output_names)
    with tf_.device("/cpu:0"):
        frozen = tf2onnx.tf_loader.from_function(concrete, input_names, output_names)
        return tf2onnx.convert._convert_common(
            frozen, name=concrete.name, continue_on_error=True, opset=opset, input_names=input_names,
            output_names=output_names, tensors_to_rename=renames,
        )


def _simplified(proto):
    try:
        import onnxsim
    except ImportError:
        return proto, None
    try:
        simple, ok = onnxsim.simplify(proto)
    except Exception as exc:  # onnxsim is best effort: keep the unsimplified model
        logger.debug("onnxsim failed: %s", exc)
        return proto, "onnxsim failed; kept the unsimplified graph"
    before, after = len(proto.graph.node), len(simple.graph.node)
    if ok and after < before:
        return simple, f"onnxsim: {before} → {after} nodes"
    return proto, None
