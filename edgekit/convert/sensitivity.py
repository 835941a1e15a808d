"""Which Keras layers int8 breaks, and the smallest set to keep out of int8 under an accuracy bound.

:func:`analyze` measures, per Keras layer (ops mapped by :mod:`edgekit.convert.layer_map`):

- its output activation range on the calibration data: min/max, 0.1/99.9 percentiles, and how much wider the widest
  output channel is than the median one (per-tensor int8 shares one step across channels, so one wide channel
  rounds the others away) — the figures that explain a bad layer;
- its output in the all-int8 model against the float model: SNR (dB) and RMSE in int8 steps (~0.3 is rounding);
- the model's output when *only this layer* is int8 (top-1 points lost, output SNR): the ranking key, since it
  isolates the layer from error it inherits;
- the top-1 change when only this layer stays float, everything else int8.

It also checks the op→layer map numerically: the last op of every layer must reproduce the Keras layer's output.

:func:`search` keeps layers in float, most sensitive first, until the int8 model is within ``max_drop`` top-1 points
of the float ``.tflite`` on held-out data, then drops any kept layer the bound does not need; every candidate is
measured through ``edgekit.runtime`` as it would ship.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit._log import quiet_native
from edgekit.convert.layer_map import COMPUTE_OPS, OpLayer, keras_layers, layer_ops, layer_output, map_ops
from edgekit.convert.mixed_precision import MixedQuantizer, quantizer_for, quiet
from edgekit.errors import DataError
from edgekit.metrics import rel_max_error, snr_db

WIDE_CHANNEL = 20.0  # widest channel span / median channel span above which per-tensor int8 loses the others
MAPPING_TOLERANCE = 1e-3  # relative to the layer output's largest magnitude


@dataclass(frozen=True)
class ActivationRange:
    min: float
    max: float
    p0_1: float
    p99_9: float
    channel_span_ratio: float  # widest output channel's span / the median channel's span
    widest_channel: int | None


@dataclass(frozen=True)
class LayerSensitivity:
    layer: str
    type: str  # Keras class name
    ops: tuple[str, ...]  # its TFLite ops, e.g. ("FULLY_CONNECTED", "SOFTMAX")
    fused: tuple[str, ...]  # other Keras layers the converter folded into its ops (BatchNormalization, ReLU)
    inputs_from: tuple[str, ...]  # layers whose outputs it reads
    range: ActivationRange
    int8_step: float | None  # the int8 scale of its output in the all-int8 model
    int8_snr_db: float | None  # its output in the all-int8 model vs float
    int8_rmse_steps: float | None  # RMSE of that difference in int8 steps
    alone_int8_snr_db: float | None  # model output SNR when only this layer is int8 (None: not measured)
    alone_int8_drop: float | None  # top-1 points lost when only this layer is int8
    alone_float_gain: float | None  # top-1 points gained when only this layer stays float
    cause: str = ""

    @property
    def is_compute(self) -> bool:
        return any(op in COMPUTE_OPS for op in self.ops)


@dataclass(frozen=True)
class Sensitivity:
    samples: int
    float_top1: float | None  # the float .tflite on the evaluation data (None without labels)
    int8_top1: float | None
    int8_snr_db: float  # model output, all-int8 vs float
    layers: tuple[LayerSensitivity, ...]  # most sensitive first
    mapping: dict[str, Any] = field(default_factory=dict)  # numeric check of the op→layer map

    @property
    def int8_drop(self) -> float | None:
        return None if self.float_top1 is None else 100 * (self.float_top1 - self.int8_top1)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["int8_drop"] = self.int8_drop
        return out

    def table(self, limit: int = 15) -> str:
        from edgekit._table import render

        head = (f"all int8: top-1 {_pct(self.int8_top1)} vs float {_pct(self.float_top1)}, output SNR "
                f"{self.int8_snr_db:.1f} dB ({self.samples} samples); op→layer map: {self.mapping.get('summary', '')}")
        rows = [[s.layer + (f" (+{', '.join(s.fused)})" if s.fused else ""), s.type, "+".join(s.ops), _pts(s.alone_int8_drop), _db(s.alone_int8_snr_db),
                 _pts(s.alone_float_gain), _db(s.int8_snr_db), "" if s.int8_rmse_steps is None else f"{s.int8_rmse_steps:.2f}",
                 f"[{s.range.min:.3g}, {s.range.max:.3g}]", f"{s.range.channel_span_ratio:.0f}x", s.cause]
                for s in self.layers[:limit]]
        table = render(["layer", "type", "ops", "drop if only int8", "SNR dB only int8", "gain if only float",
                        "SNR dB all int8", "RMSE steps", "range", "ch. span", "why"], rows)
        more = f"\n({len(self.layers) - limit} more layers)" if len(self.layers) > limit else ""
        return head + "\n" + table + more


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _db(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def _pts(v: float | None) -> str:
    return "" if v is None else f"{v:+.2f}"


# ---- measuring -------------------------------------------------------------------------------------------------
class Evaluator:
    """Runs candidate models (bytes) through ``edgekit.runtime`` on fixed inputs: top-1 and output SNR against
    the float ``.tflite``."""

    def __init__(self, float_path: str | os.PathLike, x: Sequence[np.ndarray], labels: Any = None):
        self.x = list(x)
        self.labels = None if labels is None else np.asarray(labels)
        self._dir = tempfile.TemporaryDirectory(prefix="edgekit-mixed-")
        self.reference = self._outputs(Path(float_path).read_bytes())
        if self.labels is not None and (self.reference.ndim != 2 or len(self.labels) != len(self.reference)):
            raise DataError(f"labels of shape {self.labels.shape} do not fit outputs of shape {self.reference.shape}")
        self.float_top1 = self.top1(self.reference)
        self.runs = 0

    def _outputs(self, model: bytes) -> np.ndarray:
        from edgekit import runtime

        path = Path(self._dir.name) / "candidate.tflite"
        path.write_bytes(model)
        with quiet_native(), runtime.load(path) as loaded:
            out = loaded.predict(self.x[0] if len(self.x) == 1 else self.x)
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out, dtype=np.float64)

    def top1(self, outputs: np.ndarray) -> float | None:
        if self.labels is None:
            return None
        y = self.labels.argmax(axis=1) if self.labels.ndim == 2 else self.labels.reshape(-1)
        return float(np.mean(outputs.argmax(axis=1) == y))

    def measure(self, model: bytes) -> tuple[float | None, float]:
        """(top-1, output SNR in dB against the float model)."""
        self.runs += 1
        out = self._outputs(model)
        return self.top1(out), snr_db(self.reference, out)

    def close(self) -> None:
        self._dir.cleanup()


def _all_tensors(model: bytes | str | os.PathLike, x: Sequence[np.ndarray]) -> tuple[dict[int, np.ndarray], dict[int, tuple]]:
    """Every tensor's value (dequantized) for a batch ``x``, and each tensor's (scale, zero point)."""
    from ai_edge_litert.interpreter import Interpreter

    content = model if isinstance(model, bytes) else Path(model).read_bytes()
    with quiet():
        it = Interpreter(model_content=content, experimental_preserve_all_tensors=True)
        details = it.get_input_details()
        for d, arr in zip(details, x):
            it.resize_tensor_input(d["index"], list(np.shape(arr)))
        it.allocate_tensors()
        for d, arr in zip(details, x):
            value = np.asarray(arr, dtype=np.float32)
            scale, zero = d["quantization"]
            if d["dtype"] != np.float32:
                info = np.iinfo(d["dtype"])
                value = np.clip(np.round(value / scale + zero), info.min, info.max).astype(d["dtype"])
            it.set_tensor(d["index"], value)
        it.invoke()
        values, quant = {}, {}
        for t in it.get_tensor_details():
            try:
                v = it.get_tensor(t["index"])
            except ValueError:
                continue
            scale, zero = t["quantization"]
            quant[t["index"]] = (scale, zero)
            values[t["index"]] = (v.astype(np.float64) - zero) * scale if scale else v.astype(np.float64)
    return values, quant


def activation_range(values: np.ndarray) -> ActivationRange:
    v = np.asarray(values, dtype=np.float64)
    lo, hi, p_lo, p_hi = float(v.min()), float(v.max()), *map(float, np.percentile(v, [0.1, 99.9]))
    ratio, widest = 1.0, None
    if v.ndim >= 2 and v.shape[-1] > 1:
        per = v.reshape(-1, v.shape[-1])
        spans = per.max(axis=0) - per.min(axis=0)
        median = float(np.median(spans))
        widest = int(np.argmax(spans))
        ratio = float(spans[widest] / median) if median > 0 else (math.inf if spans[widest] > 0 else 1.0)
    return ActivationRange(lo, hi, p_lo, p_hi, ratio, widest)


def _cause(s: ActivationRange, step: float | None, inputs: list[str], ranges: dict[str, ActivationRange]) -> str:
    if s.channel_span_ratio >= WIDE_CHANNEL:
        where = f"; int8 step {step:.3g}" if step else ""
        return (f"output channel {s.widest_channel} spans {s.channel_span_ratio:.0f}x the median channel: one "
                f"per-tensor int8 scale rounds the other channels to a few levels{where}")
    span, core = s.max - s.min, s.p99_9 - s.p0_1
    if core > 0 and span / core >= WIDE_CHANNEL:
        return f"outliers: min/max range is {span / core:.0f}x the 0.1-99.9 percentile range"
    wide = [i for i in inputs if i in ranges and ranges[i].channel_span_ratio >= WIDE_CHANNEL]
    if wide:
        return f"reads {', '.join(wide)}'s output (one int8 scale for channels of very different ranges)"
    return ""


# ---- analysis --------------------------------------------------------------------------------------------------
def analyze(quantizer: MixedQuantizer, keras_model: Any, x: Sequence[np.ndarray], labels: Any = None,
            calibration: Sequence[np.ndarray] | None = None, evaluator: Evaluator | None = None,
            trials: bool = True) -> Sensitivity:
    """Per-layer int8 sensitivity of ``quantizer``'s model on inputs ``x`` (and ``labels`` for top-1 figures).
    ``trials=False`` skips the two models per layer (only-this-layer int8 / float): ranges and all-int8 errors only."""
    own = evaluator is None
    evaluator = evaluator or Evaluator(quantizer.float_path, x, labels)
    try:
        return _analyze(quantizer, keras_model, list(x), evaluator, list(calibration) if calibration is not None else list(x),
                        trials)
    finally:
        if own:
            evaluator.close()


def _analyze(quantizer: MixedQuantizer, keras_model, x, evaluator: Evaluator, calibration, trials: bool) -> Sensitivity:
    types = keras_layers(keras_model) if keras_model is not None else {}
    float_ops = quantizer.layers
    int8_model = quantizer.quantize()
    int8_top1, int8_snr = evaluator.measure(int8_model)
    int8_ops = layer_ops(map_ops_bytes(int8_model, types or quantizer.layers))
    float_values, _ = _all_tensors(quantizer.float_path, calibration)
    cal_int8, quant = _all_tensors(int8_model, calibration)
    producer = {t: op.layer for op in quantizer.ops for t in op.outputs}
    ranges: dict[str, ActivationRange] = {}
    rows = []
    for name, ops in float_ops.items():
        ranges[name] = activation_range(float_values[layer_output(ops)])
    for name, ops in float_ops.items():
        reference = float_values[layer_output(ops)]
        step, snr, rmse_steps = None, None, None
        if name in int8_ops:
            t8 = layer_output(int8_ops[name])
            step = quant.get(t8, (0.0, 0))[0] or None
            if t8 in cal_int8 and cal_int8[t8].shape == reference.shape:
                snr = snr_db(reference, cal_int8[t8])
                if step:
                    rmse_steps = float(np.sqrt(np.mean((cal_int8[t8] - reference) ** 2)) / step)
        alone_top1, alone_snr, kept_top1 = None, None, None
        if trials:
            alone_top1, alone_snr = evaluator.measure(quantizer.quantize(keep_float=[l for l in float_ops if l != name]))
            kept_top1, _ = evaluator.measure(quantizer.quantize(keep_float=[name]))
        inputs = list(dict.fromkeys(producer[t] for op in ops for t in op.inputs if producer.get(t) not in (None, name)))
        rows.append(LayerSensitivity(
            layer=name, type=types.get(name, "?"), ops=tuple(op.op for op in ops),
            fused=tuple(dict.fromkeys(f for op in ops for f in op.fused if f != name)), inputs_from=tuple(inputs),
            range=ranges[name], int8_step=step, int8_snr_db=snr, int8_rmse_steps=rmse_steps,
            alone_int8_snr_db=alone_snr,
            alone_int8_drop=None if alone_top1 is None else 100 * (evaluator.float_top1 - alone_top1),
            alone_float_gain=None if kept_top1 is None else 100 * (kept_top1 - int8_top1),
            cause=_cause(ranges[name], step, inputs, ranges),
        ))
    rows.sort(key=sensitivity_key)
    mapping = check_mapping(quantizer, keras_model, x) if keras_model is not None else {"summary": "not checked"}
    return Sensitivity(len(x[0]), evaluator.float_top1, int8_top1, int8_snr, tuple(rows), mapping)


def sensitivity_key(s: LayerSensitivity) -> tuple:
    """Most sensitive first: most top-1 lost when only this layer is int8, then lowest output SNR (without those
    trials: lowest SNR of its output in the all-int8 model)."""
    if s.alone_int8_snr_db is None:
        return (0.0, math.inf if s.int8_snr_db is None else s.int8_snr_db)
    return (-(s.alone_int8_drop or 0.0), s.alone_int8_snr_db)


def map_ops_bytes(model: bytes, layer_names) -> list[OpLayer]:
    with tempfile.TemporaryDirectory(prefix="edgekit-map-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        return map_ops(path, layer_names)


def check_mapping(quantizer: MixedQuantizer, keras_model: Any, x: Sequence[np.ndarray]) -> dict:
    """Compare each layer's last float op with the Keras layer's own output on the same inputs."""
    keras_model = _own_layers(keras_model)
    top = {layer.name: layer for layer in keras_model.layers}
    pairs = []  # (layer, the Keras layer whose output its last op produces: relu1 for conv1+bn1+relu1 fused)
    for name, ops in quantizer.layers.items():
        out = layer_output(ops)
        producer = next(op for op in ops if out in op.outputs)
        shown = next((f for f in producer.fused if f in top), name)
        if shown in top and len(getattr(top[shown], "_inbound_nodes", ())) <= 1:  # a shared layer has no one output
            pairs.append((name, shown))
    if not pairs:
        return {"summary": "not checked (no layer with a single output)", "checked": 0, "matched": 0, "mismatched": []}
    try:
        probe = _functional(keras_model, [top[shown].output for _, shown in pairs])
        with quiet_native():
            outs = probe.predict(x[0] if len(x) == 1 else list(x), verbose=0)
    except Exception as exc:  # a layer with several outputs, a subclassed model: say so
        return {"summary": f"not checked ({type(exc).__name__})", "checked": 0, "matched": 0, "mismatched": []}
    outs = outs if isinstance(outs, list) else [outs]
    values, _ = _all_tensors(quantizer.float_path, x)
    mismatched = []
    names = [name for name, _ in pairs]
    for name, keras_out in zip(names, outs):
        got = values[layer_output(quantizer.layers[name])]
        ref = np.asarray(keras_out, dtype=np.float64)
        if got.shape != ref.shape or rel_max_error(ref, got) > MAPPING_TOLERANCE:
            mismatched.append(name)
    unnamed = [op.op for op in quantizer.ops if op.layer is None]
    summary = f"{len(names) - len(mismatched)}/{len(names)} layers reproduce their Keras output"
    if unnamed:
        summary += f"; {len(unnamed)} ops without a layer ({', '.join(unnamed)})"
    return {"summary": summary, "checked": len(names), "matched": len(names) - len(mismatched),
            "mismatched": mismatched, "unmapped_ops": unnamed}


def _own_layers(model):
    """``model``, or where one of its layers was also called in another model, a copy with the same weights whose
    layers have only this model's calls. tfmot wraps and strips by rebuilding a model around the same layer objects,
    so the layers of a pruned or clustered model keep the calls (nodes) of the models before it, ``layer.output`` is
    the first of those models' tensor, and every such layer looks shared."""
    from edgekit._tf import keras3, tf_keras
    from edgekit.keras.loading import is_keras3_model

    if all(len(getattr(layer, "_inbound_nodes", ())) <= 1 for layer in model.layers):
        return model
    keras = keras3() if is_keras3_model(model) else tf_keras()
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    except Exception:  # a layer that cannot be rebuilt from its config: its shared-looking layers go unchecked
        return model
    return copy


def _functional(model, outputs):
    from edgekit._tf import keras3, tf_keras
    from edgekit.keras.loading import is_keras3_model

    return (keras3() if is_keras3_model(model) else tf_keras()).Model(model.inputs, outputs)


# ---- search ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchStep:
    keep_float: tuple[str, ...]
    top1: float
    drop: float  # top-1 points below the float model
    met: bool


@dataclass(frozen=True)
class MixedSearch:
    max_drop: float
    keep_float: tuple[str, ...]  # the answer
    met: bool
    float_top1: float
    int8_top1: float
    top1: float
    steps: tuple[SearchStep, ...]
    sensitivity: Sensitivity | None  # None where it is kept beside it (a Variant's int8_sensitivity)
    compute_ops: int = 0  # conv/FC ops of the model
    int8_compute_ops: int = 0  # ... of them int8 in the chosen model
    int8_bytes: int = 0  # file size of the plain int8 model
    bytes: int = 0  # file size of the chosen model
    edgetpu: str = ""  # what the Edge TPU could run of the chosen model (Coral's op table; the rest falls back to CPU)

    @property
    def drop(self) -> float:
        return 100 * (self.float_top1 - self.top1)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["drop"] = self.drop
        out["sensitivity"] = None if self.sensitivity is None else self.sensitivity.to_dict()
        return out

    def summary(self) -> str:
        if not self.keep_float:
            return (f"plain int8 meets the bound: top-1 {100 * self.int8_top1:.2f}% vs float {100 * self.float_top1:.2f}% "
                    f"(drop {self.drop:.2f} <= {self.max_drop:g} pt); every layer stays int8")
        state = "meets" if self.met else "does NOT meet"
        cost = (f"; {self.int8_compute_ops} of {self.compute_ops} conv/FC ops stay int8, file {self.bytes / 1024:.1f} KB vs "
                f"{self.int8_bytes / 1024:.1f} KB all-int8; Edge TPU: {self.edgetpu}")
        layers = self.sensitivity.layers if self.sensitivity is not None else ()
        causes = {s.layer: s.cause for s in layers if s.layer in self.keep_float and s.cause}
        why = "".join(f"\n  {layer}: {cause}" for layer, cause in causes.items())
        return (f"keep {len(self.keep_float)} layer(s) float: {', '.join(self.keep_float)} -> top-1 {100 * self.top1:.2f}% vs "
                f"float {100 * self.float_top1:.2f}% (drop {self.drop:.2f} pt; plain int8 {100 * self.int8_top1:.2f}%), "
                f"{state} the {self.max_drop:g} pt bound" + cost + why)


def _shipped_figures(model: bytes, quantizer: MixedQuantizer) -> tuple[dict, str]:
    from edgekit.convert.mixed_precision import op_precisions

    names = {c for op in quantizer.ops for c in op.path + op.fused}
    with tempfile.TemporaryDirectory(prefix="edgekit-mixed-") as tmp:
        path = Path(tmp) / "chosen.tflite"
        path.write_bytes(model)
        return op_precisions(path, names), edgetpu_fallback(path)


def edgetpu_fallback(path: str | os.PathLike) -> str:
    """What the Edge TPU compiler would map of a selectively quantized model: ops up to the first one that is float
    or not in Coral's op table; that op and everything after it run on the CPU. (Shape limits are left to the
    edgetpu target, which fixes the batch to 1.)"""
    from edgekit.convert.edgetpu import preflight

    checks = preflight(path)
    edges = (0, len(checks) - 1)
    cpu = [c for c in checks if not c.on_edgetpu and not (c.op in ("QUANTIZE", "DEQUANTIZE") and c.index in edges)
           and ("not supported" in c.reason or "not 8-bit" in c.reason)]
    if not cpu:
        return f"all {len(checks)} ops int8 and in the Edge TPU op table"
    first = cpu[0]
    return (f"{first.index} of {len(checks)} ops map; from op {first.index} ({first.op}, "
            f"{'float' if 'not 8-bit' in first.reason else 'unsupported'}) on, {len(checks) - first.index} fall back to the CPU")


def search(quantizer: MixedQuantizer, keras_model: Any, x: Sequence[np.ndarray], labels: Any, max_drop: float,
           calibration: Sequence[np.ndarray] | None = None) -> MixedSearch:
    """Greedily keep the most sensitive layers in float until top-1 is within ``max_drop`` points of float."""
    if labels is None:
        raise DataError("the accuracy-bounded search needs labelled held-out data (--data with y_val or y)")
    if not (isinstance(max_drop, (int, float)) and max_drop >= 0):
        raise DataError(f"the accuracy bound must be a number of top-1 points >= 0; got {max_drop!r}")
    evaluator = Evaluator(quantizer.float_path, x, labels)
    try:
        int8_top1, _ = evaluator.measure(quantizer.quantize())
        plain_ok = 100 * (evaluator.float_top1 - int8_top1) <= max_drop + 1e-9
        report = analyze(quantizer, keras_model, x, labels, calibration, evaluator, trials=not plain_ok)
        steps: list[SearchStep] = []
        tried: dict[tuple[str, ...], SearchStep] = {}

        def trial(keep: list[str]) -> SearchStep:
            key = tuple(keep)
            if key not in tried:
                top1, _ = evaluator.measure(quantizer.quantize(keep_float=keep)) if keep else (report.int8_top1, None)
                drop = 100 * (evaluator.float_top1 - top1)
                tried[key] = SearchStep(key, top1, drop, drop <= max_drop + 1e-9)
                steps.append(tried[key])
            return tried[key]

        keep: list[str] = []
        step = trial(keep)
        for layer in report.layers:
            if step.met:
                break
            keep.append(layer.layer)
            step = trial(keep)
        if step.met:
            for layer in reversed(list(keep)):  # drop what the bound does not need, least sensitive first
                smaller = [k for k in keep if k != layer]
                if trial(smaller).met:
                    keep = smaller
        final = trial(keep)
        chosen, plain = quantizer.quantize(keep_float=keep), quantizer.quantize()
        counts, edgetpu = _shipped_figures(chosen, quantizer)
        return MixedSearch(float(max_drop), tuple(keep), final.met, evaluator.float_top1, report.int8_top1, final.top1,
                           tuple(steps), report, counts["compute_ops"], counts["int8_compute_ops"], len(plain),
                           len(chosen), edgetpu)
    finally:
        evaluator.close()


# ---- entry points from a Keras model -----------------------------------------------------------------------------
def analyze_model(model: Any, calibration: Any, x: Any, labels: Any = None, io_dtype: str = "float32",
                  trust_model: bool = False, trials: bool = True) -> Sensitivity:
    """:func:`analyze` for a model (path or Keras model): converts it to float, calibrates, measures on ``x``."""
    with tempfile.TemporaryDirectory(prefix="edgekit-analyze-") as tmp:
        quantizer, keras_model = quantizer_for(model, tmp, calibration, io_dtype, trust_model)
        return analyze(quantizer, keras_model, _inputs(x), labels, quantizer.samples, trials=trials)


def resolve_recipe(model: Any, recipe: Any, calibration: Any, x: Any, labels: Any, max_drop: float,
                   trust_model: bool = False) -> tuple[Any, MixedSearch]:
    """A recipe with ``quantize.keep_float: auto`` made concrete: the layers :func:`search` keeps float for
    ``max_drop`` top-1 points on ``x``/``labels``. Returns the concrete recipe and the search."""
    from dataclasses import replace

    with tempfile.TemporaryDirectory(prefix="edgekit-search-") as tmp:
        quantizer, keras_model = quantizer_for(model, tmp, calibration, recipe.quantize.io_dtype, trust_model)
        found = search(quantizer, keras_model, _inputs(x), labels, max_drop, quantizer.samples)
    return recipe.replace(quantize=replace(recipe.quantize, keep_float=found.keep_float)), found


def _inputs(x: Any) -> list[np.ndarray]:
    return [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else [np.asarray(x)]

