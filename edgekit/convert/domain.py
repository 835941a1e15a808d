"""What values a model's inputs take, so that synthetic inputs (random calibration, default parity inputs) look like
real ones.

A model fed raw 0–255 pixels and calibrated on [0, 1) gets an input scale of 1/255: every real input saturates and
the int8 model answers nothing right, while a check on the same [0, 1) inputs looks fine. So each input's range
comes, in this order, from:

1. the user: ``--input-range LOW:HIGH`` (every input) or ``NAME=LOW:HIGH`` (one input);
2. the user's data, when any is given (its per-input minimum and maximum);
3. the model: the layer that reads the input — ``Rescaling`` (its output is taken to be [0, 1], or [-1, 1] with a
   negative offset), ``Normalization`` (mean ± √3·std, per channel, the uniform range with that variance),
   ``Embedding`` (integer ids 0 … vocabulary − 1);
4. nothing: random calibration is refused for that input, naming the range needed; parity checks fall back to
   [0, 1) and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgekit.errors import DataError

UNKNOWN_RANGE = (0.0, 1.0)  # what default parity inputs use when nothing says otherwise (labelled as such)


@dataclass(frozen=True)
class InputDomain:
    low: float
    high: float  # exclusive for integer inputs
    integer: bool = False
    source: str = ""  # where the range comes from, for the user

    def sample(self, shape: tuple, rng: np.random.Generator) -> np.ndarray:
        if self.integer:
            return rng.integers(int(self.low), max(int(self.high), int(self.low) + 1), size=shape).astype(np.float32)
        return rng.uniform(self.low, self.high, size=shape).astype(np.float32)

    def describe(self) -> str:
        bounds = f"integers {int(self.low)}..{int(self.high) - 1}" if self.integer else f"[{self.low:g}, {self.high:g}]"
        return f"{bounds} ({self.source})"


def parse_input_ranges(values: str | Sequence[str] | dict | None) -> dict[str | None, tuple[float, float]]:
    """``"0:255"`` (every input) or ``"name=0:255"`` entries, as ``{input name or None: (low, high)}``."""
    if values is None:
        return {}
    if isinstance(values, dict):
        return {k: (float(lo), float(hi)) for k, (lo, hi) in values.items()}
    if isinstance(values, str):
        values = [values]
    ranges: dict[str | None, tuple[float, float]] = {}
    for text in values:
        name, _, bounds = text.rpartition("=")
        low, sep, high = bounds.partition(":")
        try:
            lo, hi = float(low), float(high)
        except ValueError:
            lo = hi = float("nan")
        if not sep or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise DataError(f"--input-range {text!r}: expected LOW:HIGH or NAME=LOW:HIGH with LOW < HIGH, e.g. 0:255")
        ranges[name or None] = (lo, hi)
    return ranges


def input_domains(source: Any, input_range: Any = None, data: Sequence[np.ndarray] | None = None) -> list[InputDomain | None]:
    """The domain of each of ``source``'s inputs (in ``input_specs`` order), None where nothing tells."""
    names = [name for name, _ in source.input_specs]
    ranges = parse_input_ranges(input_range)
    unknown = [n for n in ranges if n is not None and n not in names]
    if unknown:
        raise DataError(f"--input-range names {', '.join(unknown)}, which the model does not have; its inputs: {', '.join(names)}")
    from_model = model_domains(source)
    domains: list[InputDomain | None] = []
    for i, name in enumerate(names):
        given = ranges.get(name, ranges.get(None))
        if given is not None:
            integer = bool(from_model[i] is not None and from_model[i].integer)
            domains.append(InputDomain(given[0], given[1] + (1 if integer else 0), integer, "--input-range"))
        elif data is not None:
            arr = np.asarray(data[i])
            integer = bool(np.all(np.mod(arr, 1) == 0))
            domains.append(InputDomain(float(arr.min()), float(arr.max()) + (1 if integer else 0), integer, "the data's range"))
        else:
            domains.append(from_model[i])
    return domains


def model_domains(source: Any) -> list[InputDomain | None]:
    """What the layer reading each input says about its range (see the module docstring)."""
    model = getattr(source, "keras_model", None) or getattr(source, "model", None)
    if model is None or not hasattr(model, "layers"):
        return [None] * len(source.input_specs)
    return keras_domains(model)


def keras_domains(model: Any) -> list[InputDomain | None]:
    """:func:`model_domains` of a Keras model (either Keras), one per ``model.inputs``."""
    return [_from_layer(_reader(model, i)) for i in range(len(model.inputs))]


def _reader(model: Any, index: int) -> Any:
    """The first layer applied to ``model.inputs[index]`` (a Sequential's first layer; else by tensor identity)."""
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    if not layers:
        return None
    if type(model).__name__ == "Sequential":
        return layers[0] if index == 0 else None
    tensor = model.inputs[index]
    for layer in layers:
        try:
            inputs = layer.input
        except (AttributeError, ValueError, RuntimeError):
            continue
        if any(t is tensor for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs])):
            return layer
    return None


def _from_layer(layer: Any) -> InputDomain | None:
    kind = type(layer).__name__
    if kind == "Rescaling":
        scale = np.asarray(layer.scale, np.float64).ravel()
        offset = np.asarray(layer.offset, np.float64).ravel()
        if np.any(scale == 0):
            return None
        target = (-1.0, 1.0) if np.any(offset < 0) else (0.0, 1.0)
        ends = np.concatenate([(t - offset) / scale for t in target])
        return InputDomain(float(ends.min()), float(ends.max()), False, f"layer {layer.name} (Rescaling)")
    if kind == "Normalization":
        mean, variance = getattr(layer, "mean", None), getattr(layer, "variance", None)
        if mean is None or variance is None:
            return None
        mean = np.asarray(mean, np.float64).ravel()
        spread = np.sqrt(3 * np.maximum(np.asarray(variance, np.float64).ravel(), 0))
        if getattr(layer, "invert", False) or not (np.all(np.isfinite(mean)) and np.all(np.isfinite(spread))):
            return None
        return InputDomain(float((mean - spread).min()), float((mean + spread).max()), False, f"layer {layer.name} (Normalization)")
    if kind == "Embedding":
        return InputDomain(0, int(layer.input_dim), True, f"layer {layer.name} (Embedding of {int(layer.input_dim)} ids)")
    return None


def domain_inputs(specs: Sequence[tuple[str, tuple]], domains: Sequence[InputDomain | None], count: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs drawn from each input's domain ([0, 1) where it is None)."""
    rng = np.random.default_rng(seed)
    fallback = InputDomain(*UNKNOWN_RANGE)
    return [(d or fallback).sample((count, *[1 if s is None else s for s in shape[1:]]), rng)
            for (_, shape), d in zip(specs, domains)]


def require_known(specs: Sequence[tuple[str, tuple]], domains: Sequence[InputDomain | None], what: str) -> None:
    """DataError naming every input whose range nothing tells (``what`` needs it)."""
    missing = [name for (name, _), d in zip(specs, domains) if d is None]
    if missing:
        example = " ".join(f"--input-range {n}=LOW:HIGH" for n in missing) if len(specs) > 1 else "--input-range LOW:HIGH"
        raise DataError(
            f"{what} needs the range of input(s) {', '.join(missing)}, and neither the model (no Rescaling, "
            f"Normalization or Embedding layer reads it) nor any data tells it; give real data (--calibration DATA) "
            f"or the range the model was trained on, e.g. {example} (0:255 for raw pixels)"
        )


def describe(specs: Sequence[tuple[str, tuple]], domains: Sequence[InputDomain | None]) -> str:
    parts = [f"{name} {d.describe() if d else 'in [0, 1) (range unknown)'}" for (name, _), d in zip(specs, domains)]
    return "; ".join(parts)
