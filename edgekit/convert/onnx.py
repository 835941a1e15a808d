"""Keras → ONNX through tf2onnx, with an explicit input signature (dynamic batch by default), optionally quantized
with ONNX Runtime's tools (:mod:`edgekit.convert.onnx_quantize`)."""

from __future__ import annotations

import os
from typing import Any

from edgekit._log import logger, quiet_native
from edgekit.convert.artifact import Artifact, ParityInputs, make_artifact, write_verified
from edgekit.convert.onnx_quantize import CALIBRATION_METHODS, ONNX_QUANTIZE_MODES, bind_inputs, quantize_onnx
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
    quantize: str = "none",
    calibration: Any = None,
    calibration_method: str = "minmax",
    input_range: Any = None,
    allow_low_parity: bool = False,
) -> Artifact:
    """Convert ``model`` (a path or a tf-keras model) to ``.onnx`` at ``output`` and check its parity.

    ``quantize``: none (float32), dynamic (int8 weights of MatMul-style ops), float16, int8 (static QDQ, per-channel
    weights, calibrated on ``calibration`` by ``calibration_method``: minmax, entropy or percentile). Inputs and
    outputs stay float32. ``simplify`` runs onnxsim when it is installed and keeps its result only if it has fewer
    nodes.
    """
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConversionError(f"ONNX opset must be an integer from {MIN_OPSET} to {MAX_OPSET}; got {opset!r}")
    if quantize not in ONNX_QUANTIZE_MODES:
        raise ConversionError(f"ONNX quantization must be one of {', '.join(ONNX_QUANTIZE_MODES)}; got {quantize!r}")
    if calibration_method not in CALIBRATION_METHODS:
        raise ConversionError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}; got {calibration_method!r}")
    source = open_source(model, trust_model)
    from edgekit.convert.tflite import calibration_samples

    aware = bool(getattr(source, "is_quantization_aware", False))
    if aware and quantize != "int8":
        raise ConversionError(
            f"{source.name} was trained quantization-aware: tf2onnx turns its fake-quant ops into int8 QDQ, so its "
            f"ONNX artifact is int8; use --quantize int8 (not {quantize})"
        )
    samples, calibration_label = calibration_samples(source, quantize, calibration, aware, eval_data, input_range)
    notes: list[str] = []
    if calibration_label.startswith("synthetic"):
        notes.append("calibrated on synthetic random data: integer ranges may not fit real inputs")

    def write(path) -> None:
        proto = onnx_model(source, opset, None if dynamic_batch else 1)
        if simplify:
            proto, note = _simplified(proto)
            if note:
                notes.append(note)
        if aware:
            notes.append("quantization-aware training: tf2onnx turned its activation fake-quant ops into QDQ (no ORT "
                         "calibration) and folded the weight fake-quant into float32 weights on the int8 grid, so the "
                         "file is not smaller than float32")
        elif quantize != "none":
            keras_names = [name for name, _ in source.input_specs]
            feed = bind_inputs([i.name for i in proto.graph.input], keras_names, samples) if samples else None
            proto, quant_notes = quantize_onnx(proto, quantize, feed, calibration_method)
            notes.extend(quant_notes)
        path.write_bytes(proto.SerializeToString())

    inputs = ParityInputs.for_source(source, eval_data, calibration=calibration, input_range=input_range)
    what = f"ONNX {quantize} conversion of {source.name}" if quantize != "none" else f"ONNX conversion of {source.name}"
    parity = write_verified(source, output, write, inputs, FLOAT_TOLERANCE.get(quantize), what,
                            quantized=quantize != "none", allow_low_parity=allow_low_parity)
    if not parity.passed:
        notes.append("kept despite collapsed parity (--allow-low-parity): " + "; ".join(parity.failures()))
    notes.append(f"opset {opset}, {'dynamic' if dynamic_batch else 'static (1)'} batch")
    return make_artifact(
        output, source, format="onnx", quantize=quantize, io_dtype="float32", calibration=calibration_label,
        parity=parity, notes=tuple(notes),
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
    return _keras_output_order(proto, source.output_names)


def _keras_output_order(proto, names):
    """The graph outputs in the Keras model's order: a traced function returns a dict, which tf2onnx lists sorted
    by name (a two-output model came out reordered)."""
    by_name = {o.name: o for o in proto.graph.output}
    if set(by_name) == set(names) and list(by_name) != list(names):
        ordered = [type(by_name[n])() for n in names]
        for copy, name in zip(ordered, names):
            copy.CopyFrom(by_name[name])
        del proto.graph.output[:]
        proto.graph.output.extend(ordered)
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
