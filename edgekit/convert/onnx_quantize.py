"""Quantize a float ONNX model with ONNX Runtime's own tools: static int8 (QDQ), dynamic int8, or float16.

Static int8 follows ORT's recommended flow: ``quant_pre_process`` (ONNX shape inference and graph optimization),
then ``quantize_static`` in QDQ format with per-channel int8 weights and int8 activations calibrated on the user's
data (min/max, entropy or percentile). Dynamic int8 quantizes the weights of MatMul/Gemm-style ops (and recurrent
ops) and computes activation ranges at run time; it suits MatMul-heavy models. float16 goes through
onnxconverter-common with float32 inputs and outputs kept.
"""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from edgekit._fs import scratch_dir
from edgekit.errors import ConversionError, DependencyError

# ONNX quantization modes edgekit produces (a subset of recipe.QUANTIZE_MODES).
ONNX_QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")
# name → onnxruntime.quantization.CalibrationMethod member
CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
# Ops dynamic quantization touches: ORT's dynamic Conv (ConvInteger) runs only for uint8 weights and is slower
# than float Conv on x86 CPUs, so convolutions stay float; MatMul-heavy graphs are what dynamic mode is for.
DYNAMIC_OPS = ("MatMul", "Gemm", "Attention", "LSTM", "GRU", "EmbedLayerNormalization", "Gather")


def quantize_onnx(
    proto,
    mode: str,
    samples: Mapping[str, np.ndarray] | None = None,
    method: str = "minmax",
    per_channel: bool = True,
) -> tuple[object, list[str]]:
    """The quantized ModelProto of float ``proto`` and notes on what was done.

    ``samples`` maps each ONNX input name to calibration arrays (same length); needed for ``int8`` only.
    """
    if mode not in ONNX_QUANTIZE_MODES:
        raise ConversionError(f"ONNX quantization must be one of {', '.join(ONNX_QUANTIZE_MODES)}; got {mode!r}")
    if method not in CALIBRATION_METHODS:
        raise ConversionError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}; got {method!r}")
    if mode == "none":
        return proto, []
    if mode == "float16":
        return _float16(proto)
    import onnx

    try:
        from onnxruntime import quantization as q
    except ImportError:
        raise DependencyError("onnxruntime") from None
    with scratch_dir("onnxq") as tmp, _quiet_ort_logs():
        float_path, pre_path, out_path = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "quant.onnx"))
        onnx.save(proto, str(float_path))
        notes = []
        try:
            # ORT's symbolic shape inference writes sym_shape_infer_temp.onnx into the working directory when it
            # cannot finish, so it is skipped: ONNX's own shape inference and ORT's graph optimization still run.
            q.quant_pre_process(str(float_path), str(pre_path), skip_symbolic_shape=True)
            notes.append("ORT pre-processing: shape inference + graph optimization")
        except Exception as exc:  # pre-processing is recommended, not required: quantize the unprocessed graph
            pre_path = float_path
            notes.append(f"ORT pre-processing skipped ({_first_line(exc)})")
        try:
            if mode == "dynamic":
                present = {n.op_type for n in proto.graph.node}
                ops = [op for op in DYNAMIC_OPS if op in present]
                if not ops:
                    raise ConversionError(
                        "dynamic ONNX quantization covers MatMul/Gemm/recurrent ops and this model has none "
                        f"(its ops: {', '.join(sorted(present))}); use --quantize int8 with calibration data"
                    )
                q.quantize_dynamic(str(pre_path), str(out_path), weight_type=q.QuantType.QInt8,
                                   per_channel=per_channel, op_types_to_quantize=ops)
                notes.append(f"dynamic int8 weights ({', '.join(ops)}), activations quantized at run time")
            else:
                if not samples:
                    raise ConversionError("int8 ONNX quantization needs calibration data")
                reader = _Reader(samples)
                q.quantize_static(
                    str(pre_path), str(out_path), reader, quant_format=q.QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=q.QuantType.QInt8, weight_type=q.QuantType.QInt8,
                    calibrate_method=getattr(q.CalibrationMethod, CALIBRATION_METHODS[method]),
                )
                notes.append(f"static int8 QDQ, {'per-channel' if per_channel else 'per-tensor'} weights, "
                             f"{method} calibration on {reader.count} samples")
        except ConversionError:
            raise
        except Exception as exc:
            raise ConversionError(f"onnxruntime.quantization failed ({mode}): {_first_line(exc)}") from None
        return onnx.load(str(out_path)), notes


def _float16(proto) -> tuple[object, list[str]]:
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise DependencyError("onnxconverter-common", extra="full") from None
    try:
        converted = float16.convert_float_to_float16(proto, keep_io_types=True)
    except Exception as exc:
        raise ConversionError(f"float16 ONNX conversion (onnxconverter-common) failed: {_first_line(exc)}") from None
    return converted, ["float16 weights and activations (onnxconverter-common), float32 inputs and outputs"]


class _Reader:
    """An ORT CalibrationDataReader over in-memory arrays, one sample a batch (static batch models accept it)."""

    def __init__(self, samples: Mapping[str, np.ndarray]):
        self.count = len(next(iter(samples.values())))
        self._samples = {k: np.asarray(v, dtype=np.float32) for k, v in samples.items()}
        self._next = iter(range(self.count))

    def get_next(self) -> dict | None:
        i = next(self._next, None)
        return None if i is None else {k: v[i : i + 1] for k, v in self._samples.items()}

    def rewind(self) -> None:
        self._next = iter(range(self.count))


def bind_inputs(onnx_names: Sequence[str], keras_names: Sequence[str], arrays: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Calibration arrays (in Keras input order) keyed by the ONNX model's input names: by name when the names are
    the Keras ones, else by position."""
    if len(onnx_names) != len(arrays):
        raise ConversionError(f"the ONNX model has {len(onnx_names)} inputs, the calibration data {len(arrays)}")
    if set(onnx_names) == set(keras_names):
        return dict(zip(keras_names, arrays))
    return dict(zip(onnx_names, arrays))


@contextmanager
def _quiet_ort_logs() -> Iterator[None]:
    """onnxruntime.quantization reports progress through the root logger and print(); keep both to -v."""
    from edgekit._log import verbose

    if verbose():
        yield
        return
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            yield
    finally:
        root.setLevel(level)


def _first_line(exc: BaseException) -> str:
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:300]
