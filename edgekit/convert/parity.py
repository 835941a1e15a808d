"""Parity: does the converted artifact compute what the Keras model computes, on the same inputs?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgekit.errors import ParityError
from edgekit.metrics import compare_outputs

# Relative max error (max |ref - out| / max |ref|) a float conversion may show before it fails loudly.
FLOAT_TOLERANCE = {"none": 1e-4, "float16": 2e-2}
# A quantized artifact whose answers collapse fails like a float one that drifts (unless allow_low_parity): top-1
# agreement with the Keras model below MIN_AGREEMENT (classifiers), or output signal-to-noise below MIN_SNR_DB.
# Collapse bounds, not quality targets: a working int8 model agrees > 95 % and shows > 20 dB; a model calibrated on
# the wrong input range shows ~0 % and < 0 dB.
MIN_AGREEMENT = 0.5
MIN_SNR_DB = 5.0


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
    min_agreement: float | None = None  # quantized modes: the collapse bounds (see MIN_AGREEMENT, MIN_SNR_DB)
    min_snr_db: float | None = None
    passed: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "passed", not self.failures())

    def failures(self) -> list[str]:
        """What is out of bounds, one phrase each."""
        out = []
        if self.tolerance is not None and not self.rel_max <= self.tolerance:
            out.append(f"relative max error {self.rel_max:.2e} (max abs {self.max_abs:.2e}, cosine {self.cosine:.6f}) "
                       f"is above the tolerance {self.tolerance:.0e}")
        if self.min_agreement is not None and self.top1_agreement is not None and self.top1_agreement < self.min_agreement:
            out.append(f"top-1 agreement {self.top1_agreement:.1%} is below {self.min_agreement:.0%}")
        if self.min_snr_db is not None and not self.snr_db >= self.min_snr_db:
            out.append(f"signal-to-noise {self.snr_db:.1f} dB is below {self.min_snr_db:g} dB")
        return out


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


def check(parity: Parity, what: str, allow_low_parity: bool = False) -> Parity:
    failures = parity.failures()
    if not failures:
        return parity
    if parity.min_agreement is None and parity.min_snr_db is None:
        raise ParityError(
            f"{what}: outputs differ from the Keras model: {'; '.join(failures)}; "
            "the conversion is wrong for this model — report it with the model's layer list"
        )
    if not allow_low_parity:
        raise ParityError(
            f"{what}: the quantized outputs collapsed on {parity.inputs}: {'; '.join(failures)}. Calibrate on real "
            "inputs (--calibration DATA, or --input-range for random calibration), keep the layers that break in float, "
            "or pass --allow-low-parity to keep the file anyway"
        )
    return parity
