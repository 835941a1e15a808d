"""Parity: does the converted artifact compute what the Keras model computes, on the same inputs?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgekit.errors import ParityError

# Relative max error (max |ref - out| / max |ref|) a float conversion may show before it fails loudly.
FLOAT_TOLERANCE = {"none": 1e-4, "float16": 2e-2}


@dataclass(frozen=True)
class Parity:
    inputs: str  # what the inputs were: "evaluation data (N samples)" or "seeded random (N samples)"
    max_abs: float
    mean_abs: float
    rel_max: float  # max_abs / max |reference|
    cosine: float
    snr_db: float
    top1_agreement: float | None  # classifiers only
    tolerance: float | None  # relative max error allowed; None: reported, not enforced (quantized modes)

    @property
    def passed(self) -> bool:
        return self.tolerance is None or self.rel_max <= self.tolerance


def compare(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], inputs: str, tolerance: float | None = None) -> Parity:
    """Figures over all outputs together; top-1 agreement over the first output shaped like class scores."""
    ref = np.concatenate([np.asarray(r, np.float64).ravel() for r in reference])
    out = np.concatenate([np.asarray(c, np.float64).ravel() for c in candidate])
    if ref.shape != out.shape:
        raise ParityError(f"the artifact's outputs have {out.size} values, the Keras model's {ref.size}")
    err = out - ref
    max_abs = float(np.max(np.abs(err))) if err.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    denom = np.linalg.norm(ref) * np.linalg.norm(out)
    cosine = float(ref @ out / denom) if denom > 0 else (1.0 if not np.any(ref) and not np.any(out) else 0.0)
    noise = float(np.sum(err**2))
    snr_db = float("inf") if noise == 0 else float(10 * np.log10(max(float(np.sum(ref**2)), 1e-300) / noise))
    return Parity(
        inputs=inputs,
        max_abs=max_abs,
        mean_abs=float(np.mean(np.abs(err))) if err.size else 0.0,
        rel_max=max_abs / scale if scale > 0 else max_abs,
        cosine=cosine,
        snr_db=snr_db,
        top1_agreement=top1_agreement(reference, candidate),
        tolerance=tolerance,
    )


def top1_agreement(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> float | None:
    for r, c in zip(reference, candidate):
        if r.ndim == 2 and r.shape[1] > 1:
            return float(np.mean(np.argmax(r, axis=1) == np.argmax(c, axis=1)))
    return None


def artifact_outputs(result, output_names: Sequence[str]) -> list[np.ndarray]:
    """The runtime's outputs (one array, or a dict by name) in the reference's output order: by name where the
    names match, else by position."""
    if isinstance(result, np.ndarray):
        return [result]
    if all(n in result for n in output_names):
        return [np.asarray(result[n]) for n in output_names]
    return [np.asarray(v) for v in result.values()]


def check(parity: Parity, what: str) -> Parity:
    if not parity.passed:
        raise ParityError(
            f"{what}: outputs differ from the Keras model by {parity.rel_max:.2e} (relative max error; "
            f"max abs {parity.max_abs:.2e}, cosine {parity.cosine:.6f}), above the tolerance {parity.tolerance:.0e}; "
            "the conversion is wrong for this model — report it with the model's layer list"
        )
    return parity
