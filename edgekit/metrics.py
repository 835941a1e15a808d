"""The table of output-comparison metrics: how close a model's outputs are to a reference model's on the same inputs.

One function per metric, keyed by name, each taking the reference outputs and the candidate outputs (a list of
arrays, one per model output, or one array) and returning a float (``None`` where the metric does not apply).
Used by the conversion parity check (:mod:`edgekit.convert.parity`), the fidelity figures of optimized variants
(:mod:`edgekit.optimize.metrics`) and the Keras 3 bridge verification (:mod:`edgekit.keras.bridge`). Numpy only.

Adding a metric: one function here and one entry in :data:`METRICS`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.errors import EdgekitError

Outputs = Any  # one array, or a sequence of arrays (one per model output)


def _arrays(outputs: Outputs) -> list[np.ndarray]:
    return [np.asarray(outputs)] if isinstance(outputs, np.ndarray) else [np.asarray(o) for o in outputs]


def _flat(outputs: Outputs) -> np.ndarray:
    arrays = _arrays(outputs)
    return np.concatenate([a.astype(np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)


def max_abs_error(reference: Outputs, candidate: Outputs) -> float:
    err = _flat(candidate) - _flat(reference)
    return float(np.max(np.abs(err))) if err.size else 0.0


def mean_abs_error(reference: Outputs, candidate: Outputs) -> float:
    err = _flat(candidate) - _flat(reference)
    return float(np.mean(np.abs(err))) if err.size else 0.0


def rel_max_error(reference: Outputs, candidate: Outputs) -> float:
    """max |candidate - reference| / max |reference| (the absolute error when the reference is all zeros)."""
    ref = _flat(reference)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    err = max_abs_error(reference, candidate)
    return err / scale if scale > 0 else err


def cosine(reference: Outputs, candidate: Outputs) -> float:
    """Cosine similarity of all outputs together; 1.0 when both are all zeros, 0.0 when only one is."""
    ref, out = _flat(reference), _flat(candidate)
    denom = math.sqrt(float(ref @ ref) * float(out @ out))
    if denom > 0:
        return float(ref @ out / denom)
    return 1.0 if not np.any(ref) and not np.any(out) else 0.0


def snr_db(reference: Outputs, candidate: Outputs) -> float:
    """Signal-to-noise ratio in dB: reference energy over error energy; inf for identical outputs, -inf for any
    error on an all-zero reference."""
    ref, out = _flat(reference), _flat(candidate)
    noise = float(np.sum((out - ref) ** 2))
    if noise == 0:
        return math.inf
    signal = float(ref @ ref)
    return 10 * math.log10(signal / noise) if signal else -math.inf


def top1_agreement(reference: Outputs, candidate: Outputs) -> float | None:
    """Share of samples whose arg-max class is the same, over the first output shaped like class scores (N, C>1);
    None when no output is."""
    for r, c in zip(_arrays(reference), _arrays(candidate)):
        if r.ndim == 2 and r.shape[1] > 1:
            return float(np.mean(np.argmax(r, axis=1) == np.argmax(c, axis=1)))
    return None


METRICS: dict[str, Callable[[Outputs, Outputs], float | None]] = {
    "max_abs_error": max_abs_error,
    "mean_abs_error": mean_abs_error,
    "rel_max_error": rel_max_error,
    "cosine": cosine,
    "snr_db": snr_db,
    "top1_agreement": top1_agreement,
}


def compare_outputs(reference: Outputs, candidate: Outputs, names: Sequence[str] = tuple(METRICS)) -> dict[str, float | None]:
    """The named metrics of ``candidate`` against ``reference``; an unknown name is an error that lists the valid ones."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise EdgekitError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    return {n: METRICS[n](reference, candidate) for n in names}
