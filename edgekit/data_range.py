"""Does this data look like the data the model was trained or calibrated on? A loud warning when it does not.

The classic silent failure: a model trained on pixels scaled to [0, 1] calibrated (or evaluated) on raw 0-255
pixels. Nothing crashes; the int8 model is garbage and the table says "int8". Each input is compared by its robust
range (0.5th-99.5th percentile): data reaching more than one reference span beyond the reference range, or using
less than 1/20 of it, is flagged.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_SPAN_OUTSIDE = 1.0  # data may reach this many reference spans beyond the reference range
_SPAN_FRACTION = 0.05  # data must use at least this share of the reference span
_SAMPLE = 100_000  # values per input used for the percentiles


def _robust_range(array: np.ndarray) -> tuple[float, float]:
    flat = np.asarray(array, dtype=np.float64).ravel()
    if flat.size > _SAMPLE:
        flat = flat[:: flat.size // _SAMPLE]
    low, high = np.percentile(flat, [0.5, 99.5])
    return float(low), float(high)


def range_mismatches(reference: Sequence[np.ndarray], data: Sequence[np.ndarray], reference_label: str,
                     data_label: str, names: Sequence[str] | None = None) -> list[str]:
    """One warning per input whose values in ``data`` lie far outside (or in a tiny corner of) their range in
    ``reference``; an empty list when they fit."""
    warnings = []
    for i, (ref, got) in enumerate(zip(reference, data)):
        if ref is None or got is None or np.size(ref) == 0 or np.size(got) == 0:
            continue
        low, high = _robust_range(ref)
        span = high - low
        dlow, dhigh = _robust_range(got)
        dspan = dhigh - dlow
        if span <= 0:
            span = max(abs(low), abs(high), 1e-6)
        outside = dhigh > high + _SPAN_OUTSIDE * span or dlow < low - _SPAN_OUTSIDE * span
        tiny = high - low > 0 and dspan < _SPAN_FRACTION * (high - low)
        if outside or tiny:
            name = f"input {names[i]!r}" if names else f"input {i}"
            hint = "a different scaling (e.g. 0-255 vs 0-1)?" if outside or dspan > 0 else "constant data?"
            warnings.append(
                f"{data_label} for {name} spans [{dlow:.4g}, {dhigh:.4g}], far from the {reference_label}'s "
                f"[{low:.4g}, {high:.4g}] ({hint}): results measured on it are unreliable"
            )
    return warnings
