"""One entry point over the targets of :data:`edgekit.targets.TARGETS`, for the CLI, the pipeline and scripts:
``convert(model, to=..., ...)`` and ``convert_for_recipe(model, recipe, fmt, ...)``.

Each target's converter has the :data:`Converter` signature; the ones below adapt the public ``to_*`` functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from edgekit._fs import sweep_stale_temps
from edgekit.convert.artifact import Artifact
from edgekit.data import check_data_source
from edgekit.errors import EdgekitError
from edgekit.keras.loading import check_model_file
from edgekit.recipe import Quantize
from edgekit.targets import TARGETS, Target, target

# converter(model, output, quant, calibration, eval_data, trust_model, input_range=None, allow_low_parity=False,
#           **options) -> Artifact
Converter = Callable[..., Artifact]


def tflite_converter(model, output, quant: Quantize, calibration=None, eval_data=None, trust_model=False,
                     input_range=None, allow_low_parity=False) -> Artifact:
    from edgekit.convert.tflite import to_tflite

    if quant.mixed:
        from edgekit.convert.mixed_precision import to_tflite_mixed

        return to_tflite_mixed(model, output, quant.keep_float, quant.int16x8, calibration=calibration,
                               io_dtype=quant.io_dtype, eval_data=eval_data, trust_model=trust_model)
    return to_tflite(model, output, quantize=quant.mode, calibration=calibration, io_dtype=quant.io_dtype,
                     eval_data=eval_data, trust_model=trust_model, input_range=input_range,
                     allow_low_parity=allow_low_parity)


def onnx_converter(model, output, quant: Quantize, calibration=None, eval_data=None, trust_model=False,
                   input_range=None, allow_low_parity=False, **options) -> Artifact:
    from edgekit.convert.onnx import to_onnx

    return to_onnx(model, output, eval_data=eval_data, trust_model=trust_model, quantize=quant.mode, calibration=calibration,
                   input_range=input_range, allow_low_parity=allow_low_parity, **options)


def edgetpu_converter(model, output, quant: Quantize, calibration=None, eval_data=None, trust_model=False,
                      input_range=None, allow_low_parity=False) -> Artifact:
    from edgekit.convert.edgetpu import to_edgetpu

    return to_edgetpu(model, output, calibration=calibration, eval_data=eval_data, trust_model=trust_model,
                      input_range=input_range, allow_low_parity=allow_low_parity)


def mcu_converter(model, output, quant: Quantize, calibration=None, eval_data=None, trust_model=False,
                  input_range=None, allow_low_parity=False) -> Artifact:
    from edgekit.convert.mcu import to_mcu

    return to_mcu(model, output, calibration=calibration, eval_data=eval_data, trust_model=trust_model,
                  input_range=input_range, allow_low_parity=allow_low_parity)


def default_output(model: str | os.PathLike, to: str, quantize: str = "none") -> Path:
    p = Path(model)
    t = target(to)
    return p.parent / t.filename(p.name if p.is_dir() else p.stem, quantize if quantize != "none" else t.default_mode)


def _quantize_for(t: Target, quantize: str, io_dtype: str | None) -> Quantize:
    """The command-line quantize/io-dtype for target ``t``, defaults filled in; an error that lists what ``t`` takes."""
    mode = t.default_mode if quantize == "none" else quantize
    if mode not in t.quantize_modes:
        raise EdgekitError(f"the {t.name} target takes --quantize {' or '.join(t.quantize_modes)}; got {quantize!r}")
    io = io_dtype or t.default_io_dtype(mode)
    if mode == "int8" and io not in t.io_dtypes:
        raise EdgekitError(f"the {t.name} target takes --io-dtype {' or '.join(t.io_dtypes)}; got {io_dtype!r}")
    return Quantize(mode=mode, io_dtype=io)


COMMON_OPTIONS = ("input_range", "allow_low_parity")  # every converter takes these


def _run(t: Target, model, output, quant: Quantize, calibration, eval_data, trust_model: bool, options: dict) -> Artifact:
    kwargs = {k: v for k, v in options.items() if k in t.options or k in COMMON_OPTIONS}
    return t.convert_function()(model, output, quant, calibration if t.needs_calibration(quant.mode) else None,
                                eval_data, trust_model, **kwargs)


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
    calibration_method: str = "minmax",
    input_range: Any = None,
    allow_low_parity: bool = False,
) -> Artifact:
    t = target(to)
    quant = _quantize_for(t, quantize, io_dtype)
    if output is None:
        if not isinstance(model, (str, os.PathLike)):
            raise EdgekitError("give an output path for an in-memory model")
        output = default_output(model, to, quant.mode)
    # Before any TensorFlow work: what a killed earlier run left beside the output is swept, and the model file and
    # the data files are inspected (a hostile one is refused in a second).
    sweep_stale_temps(Path(output).parent)
    if isinstance(model, (str, os.PathLike)):
        check_model_file(model, trust_model)
    for data in (calibration, eval_data):
        check_data_source(data)
    options = {"opset": opset, "dynamic_batch": dynamic_batch, "calibration_method": calibration_method,
               "input_range": input_range, "allow_low_parity": allow_low_parity}
    return _run(t, model, output, quant, calibration, eval_data, trust_model, options)


def convert_for_recipe(model: Any, recipe, fmt: str, output: str | os.PathLike, calibration: Any = None, eval_data: Any = None) -> Artifact:
    """The artifact ``recipe`` asks for in format ``fmt`` (one of ``recipe.formats``): the recipe's quantization where
    the target produces it, float where the target cannot quantize that way (e.g. int16x8 for ONNX). Calibration data is
    used only where needed. Layers a recipe keeps out of int8 (``keep_float``/``int16x8``) need a selective target."""
    t = target(fmt)
    quant = recipe.quantize
    if quant.searches:
        raise EdgekitError(f"recipe {recipe.name!r} has quantize.keep_float: auto; resolve it with "
                           "edgekit.convert.sensitivity.search first (edgekit quantize/optimize do)")
    mode = t.mode_for(quant.mode)
    if mode is None:
        raise EdgekitError(f"the {fmt} format needs quantize.mode {' or '.join(t.quantize_modes)}; the recipe has {quant.mode}")
    io = quant.io_dtype if mode == quant.mode else "float32"
    if mode == "int8" and io not in t.io_dtypes:
        io = t.default_io_dtype(mode)
    selected = {}
    if quant.mixed and mode == quant.mode:
        if not t.selective:
            raise EdgekitError(f"the {fmt} format quantizes every layer; quantize.keep_float/int16x8 need one of "
                               f"{', '.join(n for n, x in TARGETS.items() if x.selective)}")
        selected = {"keep_float": quant.keep_float, "int16x8": quant.int16x8}
    options = {"calibration_method": quant.calibration_method}
    return _run(t, model, output, Quantize(mode=mode, io_dtype=io, **selected), calibration, eval_data, False, options)
