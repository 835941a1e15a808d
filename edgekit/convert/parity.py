"""Parity: does the converted artifact compute what the Keras model computes, on the same inputs?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgekit.errors import ParityError
from edgekit.metrics import compare_outputs

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
    passed: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "passed", self.tolerance is None or self.rel_max <= self.tolerance)


def measure_parity(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], inputs: str, tolerance: float | None = None) -> Parity:
    """Figures over all outputs together; top-1 agreement over the first output shaped like class scores."""
    ref_size, out_size = sum(np.size(r) for r in reference), sum(np.size(c) for c in candidate)
    if ref_size != out_size:
        raise ParityError(f"the artifact's outputs have {out_size} values, the Keras model's {ref_size}")
    m = compare_outputs(reference, candidate)
    return Parity(inputs=inputs, max_abs=m["max_abs_error"], mean_abs=m["mean_abs_error"], rel_max=m["rel_max_error"],
                  cosine=m["cosine"], snr_db=m["snr_db"], top1_agreement=m["top1_agreement"], tolerance=tolerance)


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
