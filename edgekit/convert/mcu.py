"""The microcontroller target: a full-int8 ``.tflite`` (int8 input/output, batch 1) that TensorFlow Lite Micro runs,
with what an embedded build needs to know, measured: TFLM compatibility, the smallest tensor arena, flash bytes,
TFLM-vs-LiteRT parity in LSB, accuracy through TFLM, and C source (``NAME.cc``/``NAME.h``).

Outputs ``NAME.tflite``, ``NAME.cc`` and ``NAME.h`` appear together or not at all.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from edgekit._fs import temp_beside
from edgekit.convert.c_source import c_identifier, write_c_source
from edgekit.convert.mcu_report import McuReport, TflmParity
from edgekit.keras.source import Source, open_source
from edgekit.device_bench import tflm
from edgekit.errors import ConversionError, ParityError, TflmError
from edgekit.recipe import Quantize

if TYPE_CHECKING:  # only for annotations: the returned Artifact
    from edgekit.convert.artifact import Artifact

MAX_LSB = 1  # TFLM and LiteRT int8 outputs may differ by one step of rounding, no more
LABEL_KEYS = {"x": "y", "x_val": "y_val", "x_test": "y_test", "x_train": "y_train"}


def mcu_paths(output: str | os.PathLike) -> tuple[Path, Path, Path, str]:
    """``NAME.tflite``, ``NAME.cc``, ``NAME.h`` and the C identifier for ``-o NAME`` or ``-o NAME.tflite``."""
    p = Path(output)
    base = p.with_suffix("") if p.suffix == ".tflite" else p
    ident = c_identifier(base.name)
    return base.with_name(base.name + ".tflite"), base.with_name(ident + ".cc"), base.with_name(ident + ".h"), ident


def to_mcu(
    model: Any,
    output: str | os.PathLike,
    calibration: Any = None,
    eval_data: Any = None,
    trust_model: bool = False,
    input_range: Any = None,
    allow_low_parity: bool = False,
) -> Artifact:
    """Full int8 with int8 I/O and batch 1, checked and measured in TFLite Micro; writes NAME.tflite/.cc/.h."""
    from edgekit.convert.tflite import _convert

    tflm.require()  # before any slow work
    tflite_path, cc_path, h_path, ident = mcu_paths(output)
    source = open_source(model, trust_model)
    staging = temp_beside(tflite_path)  # swept by a later run if this one is killed
    try:
        staged = staging / tflite_path.name
        artifact = _convert(source, staged, Quantize(mode="int8", io_dtype="int8"), calibration, eval_data, batch=1, fmt="mcu",
                            input_range=input_range, allow_low_parity=allow_low_parity)
        checks = tflm.resolver_check(staged)
        missing = [c for c in checks if c.method is None]
        if missing:
            raise ConversionError(_unsupported(source, missing, "not in TFLite Micro's op resolver"))
        from edgekit.convert.artifact import ParityInputs

        parity_inputs = ParityInputs.for_source(source, eval_data, calibration=calibration)
        arrays, label = parity_inputs.arrays, parity_inputs.label
        feed = _quantized(staged, arrays, [name for name, _ in source.input_specs])
        try:
            run = tflm.run_tflm(staged, feed=feed, runs=5)
        except TflmError as exc:
            named = [c for c in checks if any(i == c.index or (i is None and op == c.op) for i, op in exc.ops)]
            raise ConversionError(_unsupported(source, named, str(exc)) if named else str(exc)) from None
        litert = _litert_outputs(staged, feed, delegates=False)
        parity = _compare(run.outputs, litert, label)
        if parity.max_lsb > MAX_LSB:
            raise ParityError(
                f"TFLite Micro and LiteRT's built-in kernels disagree on {source.name} by up to {parity.max_lsb} LSB "
                f"on {label} (allowed {MAX_LSB}); one runtime's int8 kernel differs from the other's: report it with the model"
            )
        xnnpack = _compare(run.outputs, _litert_outputs(staged, feed, delegates=True), label)
        labels = _labels(eval_data, len(arrays[0]))
        write_c_source(staged, ident, tflm.used_methods(checks), run.arena.bytes, staging)
        for name, final in ((staged.name, tflite_path), (f"{ident}.cc", cc_path), (f"{ident}.h", h_path)):
            os.replace(staging / name, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = McuReport(
        arena=run.arena,
        flash_bytes=tflite_path.stat().st_size,
        flash_note=tflm.FLASH_NOTE,
        ops=tuple(tflm.used_methods(checks)),
        tflm_parity=parity,
        tflm_vs_xnnpack=xnnpack,
        tflm_accuracy=_top1(run.outputs, labels),
        litert_accuracy=_top1(litert, labels),
        host_invoke_ms=float(np.median(run.invoke_ms)) if run.invoke_ms else None,
        c_source=(str(cc_path), str(h_path)),
    )
    return replace(artifact, path=str(tflite_path), mcu=report)


def _layer_names(source: Source) -> list[str]:
    model = getattr(source, "model", None)
    return [layer.name for layer in getattr(model, "layers", [])]


def _unsupported(source: Source, checks: Sequence[tflm.OpCheck], why: str) -> str:
    from edgekit.optimize.tflite_weights import layer_of

    names = _layer_names(source)
    parts = []
    for c in checks:
        layer = layer_of(c.tensor, names)
        parts.append(f"op {c.index} {c.op} (Keras layer {layer})" if layer else f"op {c.index} {c.op} (tensor {c.tensor[:60]})")
    return (f"{source.name} cannot run on TFLite Micro: {', '.join(parts)}: {why}; replace those layers "
            "(e.g. a ReLU for GELU) or check the op list at tflite-micro's micro_mutable_op_resolver.h")


def _litert(path: Path, delegates: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=kind, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _subgraph_order(details: list[dict], arrays: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
    """``arrays`` (in the Keras model's input order) in the .tflite's input order, matched by name where every
    input's name matches exactly one (the converter may order a signature's inputs by name), else as given."""
    tflite_names = [d["name"].removeprefix("serving_default_").split(":")[0] for d in details]
    if len(arrays) == 1 or sorted(tflite_names) != sorted(names):
        return arrays
    return [arrays[names.index(n)] for n in tflite_names]


def _quantized(path: Path, arrays: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
    """The float inputs quantized with the model's input scale and zero point, in the .tflite's input order."""
    details = _litert(path, delegates=False).get_input_details()
    out = []
    for x, d in zip(_subgraph_order(details, arrays, names), details):
        scale, zero = d["quantization"]
        info = np.iinfo(d["dtype"])
        out.append(np.clip(np.rint(x / np.float32(scale)) + zero, info.min, info.max).astype(d["dtype"]))
    return out


def _litert_outputs(path: Path, feed: list[np.ndarray], delegates: bool) -> list[np.ndarray]:
    """LiteRT's int8 outputs, one sample at a time (batch 1), with its built-in kernels or with XNNPACK."""
    interpreter = _litert(path, delegates)
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    results: list[list[np.ndarray]] = [[] for _ in outs]
    for k in range(len(feed[0])):
        for d, x in zip(ins, feed):
            interpreter.set_tensor(d["index"], x[k : k + 1])
        interpreter.invoke()
        for r, d in zip(results, outs):
            r.append(interpreter.get_tensor(d["index"])[0])
    return [np.stack(r) for r in results]


def _compare(tflm_out: list[np.ndarray] | None, litert: list[np.ndarray], label: str) -> TflmParity:
    if tflm_out is None or len(tflm_out) != len(litert):
        raise ConversionError("TFLite Micro returned no outputs for the parity inputs")
    a = np.concatenate([np.asarray(t, np.int32).ravel() for t in tflm_out])
    b = np.concatenate([np.asarray(l, np.int32).reshape(np.asarray(t).shape).ravel() for t, l in zip(tflm_out, litert)])
    diff = np.abs(a - b)
    return TflmParity(samples=len(tflm_out[0]), inputs=label, max_lsb=int(diff.max()) if diff.size else 0,
                      equal_fraction=float(np.mean(diff == 0)) if diff.size else 1.0)


def _labels(eval_data: Any, count: int) -> np.ndarray | None:
    """Class labels beside the evaluation inputs (.npz with y / y_val / y_test next to x / x_val / x_test)."""
    if not isinstance(eval_data, (str, os.PathLike)) or Path(eval_data).suffix != ".npz":
        return None
    from edgekit.data import read_arrays

    arrays = read_arrays(eval_data)
    for x_key in ("x", "x_val", "x_test", "x_train"):
        y = arrays.get(LABEL_KEYS[x_key])
        if x_key in arrays and y is not None and len(y) >= count:
            y = np.asarray(y)[:count]
            return y.argmax(axis=1) if y.ndim == 2 else y.reshape(-1)
    return None


def _top1(outputs: list[np.ndarray] | None, labels: np.ndarray | None) -> float | None:
    if outputs is None or labels is None:
        return None
    scores = np.asarray(outputs[0])
    scores = scores.reshape(len(scores), -1)
    if scores.shape[1] < 2 or len(scores) != len(labels):
        return None
    return float(np.mean(scores.argmax(axis=1) == labels))
