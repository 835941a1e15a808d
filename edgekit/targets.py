"""The table of targets: every artifact format edgekit can produce, as data keyed by name.

Everything that depends on the format reads this one table: the CLI ``--to``/``--quantize``/``--io-dtype`` choices,
recipe validation, output file names, which modes need calibration data, and the converter the pipeline calls.
Adding a target is one entry here plus its converter (a function with the signature of
:data:`edgekit.convert.targets.Converter`, named as ``"module:function"`` so nothing heavy is imported until a
conversion runs).

A *target* is an artifact format (``tflite``, ``onnx``, ``edgetpu``). What ``edgekit optimize --target`` aims at is an
*accelerator* (``cpu``, ``gpu``, ``edgetpu``): the device latency is measured on; see :data:`ACCELERATORS`.

This module imports nothing heavy: the CLI reads it to build ``--help``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str  # file suffix of the artifact
    converter: str | Callable[..., Any]  # "module:function" (or the function) with the Converter signature
    quantize_modes: tuple[str, ...]  # what the converter can produce; a target without "none" always quantizes
    io_dtypes: tuple[str, ...]  # input/output types of the artifact's quantized model
    calibration_modes: tuple[str, ...]  # quantize modes that need calibration data
    runtime: str  # the edgekit.runtime engine that runs the artifact: "litert" or "onnxruntime"
    extra: str = "full"  # the pip extra the converter needs
    options: tuple[str, ...] = ()  # converter options beyond the common ones (e.g. ONNX opset)
    tag: str = ""  # added to the model's stem in default output names
    selective: bool = False  # can keep named layers out of int8 (quantize.keep_float / int16x8)
    description: str = ""
    weight_reader: str = ""  # "module:function" reading the weights the artifact ships: (path, layer_names) -> [WeightStats]

    def convert_function(self) -> Callable[..., Any]:
        return _resolve(self.converter)

    def shipped_weights(self, path, layer_names=()) -> list:
        """Per weight tensor of the artifact at ``path``: sparsity and unique values as shipped ([] when unknown)."""
        return list(_resolve(self.weight_reader)(path, layer_names)) if self.weight_reader else []

    def needs_calibration(self, mode: str) -> bool:
        return mode in self.calibration_modes

    @property
    def default_mode(self) -> str:
        return "none" if "none" in self.quantize_modes else self.quantize_modes[0]

    def mode_for(self, mode: str) -> str | None:
        """The quantize mode an artifact of this target gets for a recipe asking for ``mode``: the mode itself when
        the target produces it, float ("none") when it does not but can stay float, else None (not possible)."""
        if mode in self.quantize_modes:
            return mode
        return "none" if "none" in self.quantize_modes else None

    def default_io_dtype(self, mode: str) -> str:
        if mode != "int8":
            return "float32"
        return "int8" if "int8" in self.io_dtypes else self.io_dtypes[0]

    def filename(self, stem: str, mode: str = "none") -> str:
        """Default artifact name: ``model.tflite``, ``model_int8.tflite``, ``model.onnx``, ``model_edgetpu_ready.tflite``
        (the mode is named when the target has a choice of modes and this one is not float)."""
        named = mode != "none" and len(self.quantize_modes) > 1
        return f"{stem}{self.tag}{'_' + mode if named else ''}{self.suffix}"


TARGETS: dict[str, Target] = {
    "tflite": Target(
        "tflite", ".tflite", "edgekit.convert.targets:tflite_converter",
        quantize_modes=("none", "dynamic", "float16", "int8", "int16x8"), io_dtypes=("float32", "int8", "uint8"),
        calibration_modes=("int8", "int16x8"), runtime="litert", selective=True,
        weight_reader="edgekit.optimize.tflite_weights:tflite_weight_stats",
        description="TensorFlow Lite / LiteRT flatbuffer, float32 or quantized"),
    "onnx": Target(
        "onnx", ".onnx", "edgekit.convert.targets:onnx_converter",
        quantize_modes=("none", "dynamic", "float16", "int8"), io_dtypes=("float32",), calibration_modes=("int8",),
        runtime="onnxruntime", options=("opset", "dynamic_batch", "calibration_method"),
        weight_reader="edgekit.optimize.onnx_weights:onnx_weight_stats",
        description="ONNX through tf2onnx; quantized by ONNX Runtime's tools (int8 QDQ, dynamic, float16)"),
    "edgetpu": Target(
        "edgetpu", ".tflite", "edgekit.convert.targets:edgetpu_converter",
        quantize_modes=("int8",), io_dtypes=("uint8",), calibration_modes=("int8",), runtime="litert",
        tag="_edgetpu_ready", weight_reader="edgekit.optimize.tflite_weights:tflite_weight_stats", description="full-int8 TFLite with uint8 I/O for the Coral Edge TPU compiler"),
    "mcu": Target(
        "mcu", ".tflite", "edgekit.convert.targets:mcu_converter",
        quantize_modes=("int8",), io_dtypes=("int8",), calibration_modes=("int8",), runtime="litert", extra="mcu",
        tag="_mcu", weight_reader="edgekit.optimize.tflite_weights:tflite_weight_stats",
        description="full-int8 TFLite (int8 I/O, batch 1) checked in TFLite Micro, with its measured arena, flash "
                    "bytes and NAME.cc/NAME.h"),
}

# How ONNX Runtime picks int8 activation ranges (edgekit.convert.onnx_quantize maps each to its CalibrationMethod).
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")

# Every quantize mode some target produces, in the order of the first target that lists it.
QUANTIZE_MODES: tuple[str, ...] = tuple(dict.fromkeys(m for t in TARGETS.values() for m in t.quantize_modes))
IO_DTYPES: tuple[str, ...] = tuple(dict.fromkeys(d for t in TARGETS.values() for d in t.io_dtypes))


@dataclass(frozen=True)
class Accelerator:
    """Where ``edgekit optimize --target`` measures latency, and what that implies for the variants."""

    name: str
    preset: str  # the built-in recipe set (edgekit/recipes/NAME.yaml)
    format: str | None = None  # every variant converts to this target only (None: the recipes' own formats)
    cpu_fallback: bool = False  # ops it cannot run go to the host CPU: selective int8 still runs (as .tflite)


ACCELERATORS: dict[str, Accelerator] = {
    "cpu": Accelerator("cpu", "default"),
    "gpu": Accelerator("gpu", "default"),
    "edgetpu": Accelerator("edgetpu", "edgetpu", format="edgetpu", cpu_fallback=True),
    "mcu": Accelerator("mcu", "mcu", format="mcu"),  # latency on this CPU; arena and flash measured in TFLite Micro
}


def _resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def target(name: str) -> Target:
    """The table entry for ``name``; an unknown name is an error that lists the valid ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise EdgekitError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}") from None


def accelerator(name: str) -> Accelerator:
    try:
        return ACCELERATORS[name]
    except KeyError:
        raise EdgekitError(f"unknown target {name!r}; choose one of {', '.join(ACCELERATORS)}") from None
