"""Choosing what to ship: constraints, the Pareto front over accuracy, size and latency, and one recommendation.

Everything is ranked on what was measured; nothing assumes that a quantized variant is smaller or faster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from edgekit.errors import EdgekitError

_SIZE_UNITS = {"b": 1, "kb": 1024, "k": 1024, "mb": 1024**2, "m": 1024**2, "gb": 1024**3, "g": 1024**3}
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}


def parse_size(text: str | int | float | None) -> int | None:
    """'2MB', '512KB', '300000' → bytes (1 KB = 1024 B)."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in {**_SIZE_UNITS, "": 1}:
        raise EdgekitError(f"size {text!r} is not understood; write e.g. 2MB, 512KB or a number of bytes")
    return int(float(m.group(1)) * _SIZE_UNITS.get(m.group(2).lower(), 1))


def parse_latency(text: str | int | float | None) -> float | None:
    """'20ms', '0.5s', '800us' → milliseconds."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Zµ]*)\s*", str(text))
    if not m or m.group(2).lower() not in {**_TIME_UNITS, "": 1}:
        raise EdgekitError(f"latency {text!r} is not understood; write e.g. 20ms, 0.5s or 800us")
    return float(m.group(1)) * _TIME_UNITS.get(m.group(2).lower(), 1.0)


@dataclass(frozen=True)
class Constraints:
    max_accuracy_drop: float | None = 1.0  # points of top-1 (classifiers) below the original model
    max_size: int | None = None  # bytes of the artifact file (what it takes on the device)
    max_latency_ms: float | None = None  # median latency measured on this machine

    def __post_init__(self):
        for name in ("max_accuracy_drop", "max_size", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise EdgekitError(f"{name.replace('_', '-')} must not be negative; got {value}")


@dataclass(frozen=True)
class Candidate:
    """One measured artifact: the figures ranking needs."""

    name: str  # variant/format, e.g. "int8/tflite"
    accuracy: float | None  # top-1 in [0, 1] for classifiers, else None
    agreement: float | None  # top-1 agreement with the original model, or cosine for non-classifiers
    file_bytes: int
    gzip_bytes: int
    latency_ms: float | None


@dataclass(frozen=True)
class Verdict:
    name: str
    meets: bool
    misses: tuple[str, ...]  # each constraint missed, with by how much
    pareto: bool


@dataclass(frozen=True)
class Ranking:
    verdicts: tuple[Verdict, ...]
    recommended: str | None
    reason: str


def _misses(c: Candidate, original_accuracy: float | None, limits: Constraints) -> list[str]:
    out = []
    if limits.max_accuracy_drop is not None and original_accuracy is not None and c.accuracy is not None:
        drop = 100 * (original_accuracy - c.accuracy)
        if drop > limits.max_accuracy_drop + 1e-9:
            out.append(f"accuracy drop {drop:.2f} pt > {limits.max_accuracy_drop:g} pt (by {drop - limits.max_accuracy_drop:.2f} pt)")
    if limits.max_size is not None and c.file_bytes > limits.max_size:
        out.append(f"size {c.file_bytes:,} B > {limits.max_size:,} B (by {c.file_bytes - limits.max_size:,} B)")
    if limits.max_latency_ms is not None:
        if c.latency_ms is None:
            out.append("latency not measured")
        elif c.latency_ms > limits.max_latency_ms:
            out.append(f"latency {c.latency_ms:.3f} ms > {limits.max_latency_ms:g} ms (by {c.latency_ms - limits.max_latency_ms:.3f} ms)")
    return out


def _quality(c: Candidate) -> float:
    if c.accuracy is not None:
        return c.accuracy
    return c.agreement if c.agreement is not None else 0.0


def pareto_front(candidates: Sequence[Candidate]) -> set[str]:
    """Names of the candidates no other candidate beats on accuracy, gzip size and latency at once."""

    def key(c: Candidate):
        return (-_quality(c), c.gzip_bytes, c.latency_ms if c.latency_ms is not None else float("inf"))

    front = set()
    for c in candidates:
        kc = key(c)
        dominated = any(
            all(a <= b for a, b in zip(key(o), kc)) and any(a < b for a, b in zip(key(o), kc)) for o in candidates if o is not c
        )
        if not dominated:
            front.add(c.name)
    return front


def rank(candidates: Sequence[Candidate], original_accuracy: float | None, limits: Constraints, baseline: str | None = None) -> Ranking:
    """The recommendation: among the candidates that meet every constraint, the smallest gzip size (what ships),
    then the fastest, then the most accurate. ``baseline`` names the float32 artifact the reason compares to."""
    front = pareto_front(candidates)
    verdicts = []
    for c in candidates:
        misses = _misses(c, original_accuracy, limits)
        verdicts.append(Verdict(c.name, not misses, tuple(misses), c.name in front))
    feasible = [c for c, v in zip(candidates, verdicts) if v.meets]
    if not feasible:
        if not candidates:
            return Ranking((), None, "no variant produced an artifact")
        closest = min(zip(candidates, verdicts), key=lambda cv: (len(cv[1].misses), -_quality(cv[0]), cv[0].gzip_bytes))
        return Ranking(
            tuple(verdicts), None,
            f"no variant meets every constraint; closest: {closest[0].name} ({'; '.join(closest[1].misses)})",
        )
    best = min(feasible, key=lambda c: (c.gzip_bytes, c.latency_ms if c.latency_ms is not None else float("inf"), -_quality(c)))
    parts = [f"smallest to ship ({best.gzip_bytes:,} B gzip) of the {len(feasible)} variant(s) meeting every constraint"]
    base = next((c for c in candidates if c.name == baseline), None)
    if base is not None and base is not best:
        parts.append(f"{base.gzip_bytes / best.gzip_bytes:.1f}× smaller than {base.name}")
        if base.latency_ms and best.latency_ms:
            parts.append(f"latency {best.latency_ms:.3f} ms vs {base.latency_ms:.3f} ms")
    if original_accuracy is not None and best.accuracy is not None:
        parts.append(f"top-1 {100 * best.accuracy:.2f}% vs {100 * original_accuracy:.2f}% for the original")
    return Ranking(tuple(verdicts), best.name, "; ".join(parts))
