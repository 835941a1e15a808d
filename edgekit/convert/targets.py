"""One entry point over the targets, for the CLI and for scripts: ``convert(model, to=..., ...)``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgekit.convert.artifact import Artifact
from edgekit.convert.edgetpu import to_edgetpu
from edgekit.convert.onnx import to_onnx
from edgekit.convert.tflite import to_tflite
from edgekit.errors import EdgekitError

TARGETS = {"tflite": to_tflite, "onnx": to_onnx, "edgetpu": to_edgetpu}


def default_output(model: str | os.PathLike, to: str, quantize: str = "none") -> Path:
    p = Path(model)
    stem = p.name if p.is_dir() else p.stem
    if to == "onnx":
        return p.parent / f"{stem}.onnx"
    if to == "edgetpu":
        return p.parent / f"{stem}_edgetpu_ready.tflite"
    return p.parent / (f"{stem}.tflite" if quantize == "none" else f"{stem}_{quantize}.tflite")


def convert(
    model: Any,
    to: str = "tflite",
    output: str | os.PathLike | None = None,
    quantize: str = "none",
    calibration: Any = None,
    io_dtype: str | None = None,
    eval_data: Any = None,
    opset: int = 17,
    dynamic_batch: bool = True,
    trust_model: bool = False,
) -> Artifact:
    if to not in TARGETS:
        raise EdgekitError(f"unknown target {to!r}; choose one of {', '.join(TARGETS)}")
    if output is None:
        if not isinstance(model, (str, os.PathLike)):
            raise EdgekitError("give an output path for an in-memory model")
        output = default_output(model, to, quantize)
    if to == "onnx":
        if quantize != "none":
            raise EdgekitError(f"--quantize {quantize} applies to TFLite; ONNX conversion is float32")
        return TARGETS["onnx"](model, output, opset=opset, dynamic_batch=dynamic_batch, eval_data=eval_data, trust_model=trust_model)
    if to == "edgetpu":
        if quantize not in ("none", "int8") or io_dtype not in (None, "uint8"):
            raise EdgekitError("the Edge TPU target is always full int8 with uint8 input/output; drop --quantize/--io-dtype")
        return TARGETS["edgetpu"](model, output, calibration=calibration, eval_data=eval_data, trust_model=trust_model)
    return TARGETS["tflite"](
        model, output, quantize=quantize, calibration=calibration,
        io_dtype=io_dtype or ("int8" if quantize == "int8" else "float32"), eval_data=eval_data, trust_model=trust_model,
    )


def convert_for_recipe(model: Any, recipe, fmt: str, output: str | os.PathLike, calibration: Any = None, eval_data: Any = None) -> Artifact:
    """The artifact ``recipe`` asks for in format ``fmt`` (one of ``recipe.formats``): its quantization for TFLite,
    float32 for ONNX, full int8 with uint8 I/O for the Edge TPU. Calibration data is used only where needed."""
    if fmt == "onnx":
        return to_onnx(model, output, eval_data=eval_data)
    if fmt == "edgetpu":
        return to_edgetpu(model, output, calibration=calibration, eval_data=eval_data)
    if fmt != "tflite":
        raise EdgekitError(f"unknown format {fmt!r}; choose one of {', '.join(TARGETS)}")
    quant = recipe.quantize
    return to_tflite(model, output, quantize=quant.mode, calibration=calibration if quant.mode in ("int8", "int16x8") else None,
                     io_dtype=quant.io_dtype, eval_data=eval_data)
