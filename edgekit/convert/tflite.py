"""Keras → TFLite in every mode: float32, dynamic-range, float16, full int8 and 16x8."""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np

from edgekit._log import logger
from edgekit.convert.artifact import Artifact, ParityInputs, make_artifact, write_verified
from edgekit.convert.parity import FLOAT_TOLERANCE
from edgekit.keras.source import Source, open_source
from edgekit.data import model_inputs
from edgekit.data_range import range_mismatches
from edgekit.errors import ConversionError, DataError, ParityError
from edgekit.recipe import Quantize

CALIBRATION_SAMPLES = 200


def to_tflite(
    model: Any,
    output: str | os.PathLike,
    quantize: str = "none",
    calibration: Any = None,
    io_dtype: str = "float32",
    eval_data: Any = None,
    trust_model: bool = False,
    input_range: Any = None,
    allow_low_parity: bool = False,
) -> Artifact:
    """Convert ``model`` (a path or a tf-keras model) to a ``.tflite`` at ``output`` and check its parity.

    ``quantize``: none (float32), dynamic, float16, int8, int16x8. Full-integer modes need ``calibration``: arrays,
    an .npz/.npy path, an image folder, or the string ``"random"`` for explicitly synthetic data, drawn from each
    input's range (``input_range`` "LOW:HIGH" / {"name": (low, high)}, the evaluation data's, or the model's own:
    :mod:`edgekit.convert.domain`). A model trained with quantization-aware training converts to int8 without
    calibration. A quantized artifact whose parity collapses fails (``allow_low_parity`` keeps it, with a note).
    """
    source = open_source(model, trust_model)
    return _convert(source, output, Quantize(mode=quantize, io_dtype=io_dtype), calibration, eval_data, batch=None,
                    fmt="tflite", input_range=input_range, allow_low_parity=allow_low_parity)


def _convert(source: Source, output, quant: Quantize, calibration: Any, eval_data: Any, batch: int | None, fmt: str,
             input_range: Any = None, allow_low_parity: bool = False) -> Artifact:
    crashing = [name for name, kind in getattr(source, "recurrent", {}).items() if kind == "GRU"]
    if quant.mode in ("int8", "int16x8") and crashing:
        raise ConversionError(
            f"{quant.mode} quantization of GRU layers ({', '.join(crashing)}) crashes the TFLite converter of "
            "TensorFlow 2.21 (the whole process aborts), so edgekit refuses it; use --quantize dynamic or float16"
        )
    aware = bool(getattr(source, "is_quantization_aware", False))
    samples, calibration_label = calibration_samples(source, quant.mode, calibration, aware, eval_data, input_range)
    notes: list[str] = []
    if batch is None and getattr(source, "tflite_batch", None):  # recurrent layers: see static_batch_for_recurrent
        batch = source.tflite_batch
        notes.append(source.tflite_batch_note)
    if calibration_label.startswith("synthetic"):
        notes.append("calibrated on synthetic random data: integer ranges may not fit real inputs")

    def write(path) -> None:
        path.write_bytes(tflite_bytes(source, quant.mode, samples, quant.io_dtype, batch=batch, aware=aware))

    inputs = ParityInputs.for_source(source, eval_data, calibration=calibration, input_range=input_range)
    if samples is not None:  # parity measured on data the calibration never saw says little: say so, loudly
        for warning in range_mismatches(samples, inputs.arrays, "calibration data", f"the parity check's {inputs.label}",
                                        [name for name, _ in source.input_specs]):
            logger.warning(warning)
            notes.append(warning)
    tolerance = FLOAT_TOLERANCE.get(quant.mode)
    try:
        parity = write_verified(source, output, write, inputs, tolerance, f"{fmt} {quant.mode} conversion of {source.name}",
                                quantized=quant.mode != "none", allow_low_parity=allow_low_parity)
    except ParityError as exc:
        recurrent = getattr(source, "recurrent", {})
        if quant.mode in ("int8", "int16x8") and recurrent:
            raise ParityError(f"{exc}. TensorFlow's {quant.mode} calibrator quantizes recurrent layers "
                              f"({', '.join(recurrent)}) poorly: --quantize dynamic or float16 keeps them accurate") from None
        raise
    if not parity.passed:
        notes.append("kept despite collapsed parity (--allow-low-parity): " + "; ".join(parity.failures()))
    return make_artifact(
        output, source, format=fmt, quantize=quant.mode, io_dtype=quant.io_dtype,
        calibration=calibration_label, parity=parity, notes=tuple(notes),
    )


def calibration_samples(source: Source, mode: str, calibration: Any, aware: bool = False, eval_data: Any = None,
                        input_range: Any = None) -> tuple[list[np.ndarray] | None, str]:
    """Calibration arrays (Keras input order) for an integer ``mode`` and a label saying what they are; shared by
    the TFLite and ONNX converters. ``"random"`` draws from each input's domain (:mod:`edgekit.convert.domain`)."""
    if mode not in ("int8", "int16x8"):
        return None, "none"
    if calibration is None:
        if aware:
            return None, "quantization-aware training"
        raise DataError(
            f"{mode} quantization needs calibration data: pass --calibration DATA (.npz, .npy or an image folder), "
            "or --calibration random to calibrate on synthetic data explicitly"
        )
    if isinstance(calibration, str) and calibration == "random":
        from edgekit.convert.domain import describe, domain_inputs, input_domains, require_known

        data = model_inputs(eval_data, source.input_specs) if eval_data is not None else None
        domains = input_domains(source, input_range, data)
        require_known(source.input_specs, domains, f"--calibration random ({mode})")
        arrays = domain_inputs(source.input_specs, domains, count=100, seed=0)
        return arrays, f"synthetic (seeded random, {len(arrays[0])} samples: {describe(source.input_specs, domains)})"
    arrays = [a[:CALIBRATION_SAMPLES] for a in model_inputs(calibration, source.input_specs, keys=("x", "x_train", "x_val", "x_test"))]
    where = str(calibration) if isinstance(calibration, (str, os.PathLike)) else "arrays"
    label = f"data: {where} ({len(arrays[0])} samples)"
    return arrays, ("quantization-aware training + " + label) if aware else label


def _representative(samples: list[np.ndarray], names: list[str]):
    """One sample at a time; with several inputs, as a dict by input name: TF's calibrator binds a list by the
    converted graph's tensor order, which need not be the Keras input order, and a dict by the signature's names."""

    def generate() -> Iterator[Any]:
        for i in range(len(samples[0])):
            one = [s[i : i + 1] for s in samples]
            yield dict(zip(names, one)) if len(one) > 1 else one

    return generate


def tflite_bytes(
    source: Source,
    mode: str,
    samples: list[np.ndarray] | None = None,
    io_dtype: str = "float32",
    batch: int | None = None,
    aware: bool = False,
) -> bytes:
    """The TFLite flatbuffer for ``source`` in quantization ``mode`` (no parity check, nothing written), converted
    in a child process (:mod:`edgekit.convert.isolated`): a converter crash is a ConversionError, not the end of
    the caller's process."""
    from edgekit.convert.isolated import convert_isolated

    return convert_isolated(source, mode, samples, io_dtype, batch, aware)


def configure(converter: Any, mode: str, samples: list[np.ndarray] | None, names: list[str], io_dtype: str, aware: bool) -> Any:
    """Set ``converter`` (a ``tf.lite.TFLiteConverter``) up for quantization ``mode``."""
    from edgekit._tf import tf

    tf_ = tf()
    if mode != "none":
        converter.optimizations = [tf_.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf_.float16]
    if samples is not None:
        converter.representative_dataset = _representative(samples, names)
    if mode == "int8" and not aware:
        converter.target_spec.supported_ops = [tf_.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if mode == "int16x8":
        converter.target_spec.supported_ops = [tf_.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if mode == "int8" and io_dtype != "float32":
        converter.inference_input_type = getattr(tf_, io_dtype)
        converter.inference_output_type = getattr(tf_, io_dtype)
    return converter
