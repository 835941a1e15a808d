"""Selective quantization: one ``.tflite`` in which the named Keras layers run in float (or with int16
activations) and everything else in int8.

Built on ai-edge-quantizer's per-op recipes applied to the converted float ``.tflite`` (see BENCHMARKS.md for why
this and not the TF converter's ``denylisted_nodes``): the float model is calibrated once, and each selection is a
recipe — all ops static int8 (int8 weights per channel, int8 activations per tensor), then ``no_quantize`` or
``a16w8`` for the ops of the selected layers, matched by their exact op scope. Nothing edits the flatbuffer by hand.
Which ops belong to which Keras layer comes from :mod:`edgekit.convert.layer_map`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from edgekit._log import quiet_native
from edgekit.convert.layer_map import OpLayer, layer_ops, map_ops, select
from edgekit.errors import ConversionError, DependencyError, EdgekitError

MIXED_IO_DTYPES = ("float32", "int8")


def _aeq():
    try:
        with quiet_native():
            from ai_edge_quantizer import qtyping, quantizer, recipe
    except ImportError:
        raise DependencyError("ai-edge-quantizer", "full") from None
    return quantizer, recipe, qtyping


class MixedQuantizer:
    """A float ``.tflite`` calibrated once; :meth:`quantize` returns the bytes of one selectively quantized model.

    ``layer_names``: the Keras model's layer names (see :func:`~edgekit.convert.layer_map.keras_layers`);
    ``samples``: calibration inputs, one array per model input (first axis: samples)."""

    def __init__(self, float_path: str | os.PathLike, layer_names: Iterable[str], samples: Sequence[np.ndarray],
                 io_dtype: str = "float32", calibration_label: str = "data: arrays"):
        if io_dtype not in MIXED_IO_DTYPES:
            raise EdgekitError(f"selective quantization keeps input/output as {' or '.join(MIXED_IO_DTYPES)}; got "
                               f"{io_dtype!r} (uint8 I/O needs plain int8 conversion)")
        self.float_path = Path(float_path)
        self.io_dtype = io_dtype
        self.calibration_label = calibration_label
        self.ops: list[OpLayer] = map_ops(self.float_path, layer_names)
        self.layers = layer_ops(self.ops)
        self._float = self.float_path.read_bytes()
        quantizer, _, _ = _aeq()
        self._quantizer = quantizer
        key, names = _signature(self._float)
        if len(names) != len(samples):
            raise EdgekitError(f"{self.float_path.name} has {len(names)} inputs; got {len(samples)} calibration arrays")
        self.samples = [np.asarray(s) for s in samples]
        data = [{n: np.asarray(s[i : i + 1], dtype=np.float32) for n, s in zip(names, samples)} for i in range(len(samples[0]))]
        q = quantizer.Quantizer(self._float)
        q.load_quantization_recipe(self.recipe())
        try:
            with quiet():
                self._calibration = q.calibrate({key: data})
        except Exception as exc:
            raise ConversionError(f"ai-edge-quantizer could not calibrate {self.float_path.name}: {str(exc)[:300]}") from None

    def check_names(self, names: Iterable[str], what: str) -> None:
        known = {c for op in self.ops for c in op.path + op.fused}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise EdgekitError(f"{what}: no op of the converted model belongs to layer(s) {', '.join(unknown)}; "
                               f"layers with ops: {', '.join(self.layers)}")

    def recipe(self, keep_float: Iterable[str] = (), int16x8: Iterable[str] = ()) -> list[dict]:
        """The ai-edge-quantizer recipe (plain JSON data) for this selection."""
        keep_float, int16x8 = tuple(keep_float), tuple(int16x8)
        self.check_names(keep_float, "keep_float")
        self.check_names(int16x8, "int16x8")
        entries = [_static(".*", 8)]
        if int16x8:
            entries.append(_static(_scopes(select(self.ops, int16x8)), 16))
        if keep_float:
            entries.append({"regex": _scopes(select(self.ops, keep_float)), "operation": "*", "algorithm_key": "no_quantize"})
        if self.io_dtype == "float32":
            entries += [{"regex": ".*", "operation": io, "algorithm_key": "no_quantize"} for io in ("INPUT", "OUTPUT")]
        return entries

    def quantize(self, keep_float: Iterable[str] = (), int16x8: Iterable[str] = ()) -> bytes:
        q = self._quantizer.Quantizer(self._float)
        q.load_quantization_recipe(self.recipe(keep_float, int16x8))
        try:
            with quiet():
                return bytes(q.quantize(self._calibration, enable_progress_report=False).quantized_model)
        except Exception as exc:
            raise ConversionError(f"ai-edge-quantizer failed on {self.float_path.name}: {str(exc)[:300]}") from None


@contextlib.contextmanager
def quiet():
    """ai-edge-quantizer's progress bars and LiteRT's "preserve_all_tensors is for debugging" warning: expected here."""
    import io

    # tqdm writes to sys.stderr, which quiet_native (descriptor 2) does not see when a caller replaced it
    with quiet_native(), warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _static(regex: str, activation_bits: int) -> dict:
    return {
        "regex": regex, "operation": "*", "algorithm_key": "min_max_uniform_quantize",
        "op_config": {
            "activation_tensor_config": {"num_bits": activation_bits, "symmetric": activation_bits == 16,
                                         "granularity": "TENSORWISE", "dtype": "INT"},
            "weight_tensor_config": {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"},
            "compute_precision": "INTEGER", "explicit_dequantize": False,
        },
    }


def _scopes(ops: list[OpLayer]) -> str:
    return "^(?:" + "|".join(re.escape(op.scope) for op in ops) + ")$"


def _signature(model: bytes) -> tuple[str, list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    with quiet_native():
        signatures = Interpreter(model_content=model).get_signature_list()
    if len(signatures) != 1:
        raise EdgekitError(f"selective quantization needs a model with one signature; this one has {len(signatures)}")
    key, sig = next(iter(signatures.items()))
    return key, list(sig["inputs"])


def op_precisions(path: str | os.PathLike, layer_names: Iterable[str]) -> dict[str, Any]:
    """What runs in which precision in a ``.tflite``: compute ops (conv/FC) by output type, and per Keras layer."""
    from edgekit.convert.layer_map import COMPUTE_OPS

    ops = map_ops(path, layer_names)
    compute = [op for op in ops if op.op in COMPUTE_OPS]
    by_type: dict[str, int] = {}
    for op in compute:
        by_type[op.dtype] = by_type.get(op.dtype, 0) + 1
    return {"compute_ops": len(compute), "compute_ops_by_dtype": by_type,
            "int8_compute_ops": by_type.get("int8", 0), "ops": len(ops)}


def recipe_json(recipe: list[dict]) -> str:
    return json.dumps(recipe, indent=2)


def quantizer_for(model: Any, workdir: str | os.PathLike, calibration: Any, io_dtype: str = "float32",
                  trust_model: bool = False) -> tuple[MixedQuantizer, Any]:
    """Convert ``model`` to a float ``.tflite`` in ``workdir`` (parity-checked) and calibrate a
    :class:`MixedQuantizer` on it. Returns the quantizer and the Keras model (for layer names and types)."""
    from edgekit.convert.layer_map import keras_layers
    from edgekit.keras.source import open_source
    from edgekit.convert.tflite import _convert, calibration_samples
    from edgekit.recipe import Quantize

    source = open_source(model, trust_model)
    keras_model = getattr(source, "model", None) or getattr(source, "keras_model", None)  # tf-keras / Keras 3
    samples, label = calibration_samples(source, "int8", calibration)
    float_path = Path(workdir) / f"{source.name}_float32.tflite"
    _convert(source, float_path, Quantize(), None, None, batch=None, fmt="tflite")
    names = keras_layers(keras_model) if keras_model is not None else {}
    return MixedQuantizer(float_path, names, samples, io_dtype=io_dtype, calibration_label=label), keras_model


def to_tflite_mixed(model: Any, output: str | os.PathLike, keep_float: Sequence[str] = (), int16x8: Sequence[str] = (),
                    calibration: Any = None, io_dtype: str = "float32", eval_data: Any = None, trust_model: bool = False):
    """One ``.tflite`` at ``output``: int8, except the Keras layers ``keep_float`` (float32) and ``int16x8`` (int16
    activations, int8 weights). Returns an :class:`~edgekit.convert.artifact.Artifact` whose notes say what stayed
    out of int8 and how many conv/FC ops remain int8."""
    import tempfile

    from edgekit.convert.artifact import ParityInputs, make_artifact, write_verified
    from edgekit.keras.source import open_source

    source = open_source(model, trust_model)
    with tempfile.TemporaryDirectory(prefix="edgekit-mixed-") as tmp:
        quantizer, _ = quantizer_for(getattr(source, "model", None) or getattr(source, "keras_model", None) or model, tmp,
                                     calibration, io_dtype)
        data = quantizer.quantize(keep_float, int16x8)
        calibration_label = quantizer.calibration_label
        parity = write_verified(source, output, lambda p: p.write_bytes(data), ParityInputs.for_source(source, eval_data),
                                None, f"selective int8 conversion of {source.name}")
        counts = op_precisions(output, [c for op in quantizer.ops for c in op.path + op.fused])
    notes = [f"selective int8 (ai-edge-quantizer): {counts['int8_compute_ops']} of {counts['compute_ops']} conv/FC ops int8"]
    if keep_float:
        notes.append(f"float32 layers: {', '.join(keep_float)}")
    if int16x8:
        notes.append(f"int16-activation layers: {', '.join(int16x8)}")
    return make_artifact(output, source, format="tflite", quantize="int8", io_dtype=io_dtype,
                         calibration=calibration_label, parity=parity, notes=tuple(notes))

