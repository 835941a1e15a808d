"""Choosing what to ship: constraints, the Pareto front over accuracy, size and latency, and one recommendation.

Everything is ranked on what was measured; nothing assumes that a quantized variant is smaller or faster.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Sequence

from edgekit.errors import EdgekitError

_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}


def parse_size(text: str | int | float | None) -> int | None:
    """'2MB', '512KB', '300000' → bytes. SI units as sizes are quoted (1 KB = 1000 B, 1 MB = 1000 KB); KiB and
    MiB for binary ones; a bare number is bytes."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in {**_SIZE_UNITS, "": 1}:
        raise EdgekitError(f"size {text!r} is not understood; write e.g. 2MB, 512KB (1 KB = 1000 B), 512KiB "
                           "(1024 B) or a number of bytes")
    return int(float(m.group(1)) * _SIZE_UNITS.get(m.group(2).lower(), 1))


def parse_latency(text: str | int | float | None) -> float | None:
    """'20ms', '0.5s', '800us' → milliseconds. On the command line the unit is required (is '20' ms or s?); a
    number given through the Python API is milliseconds."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Zµ]*)\s*", str(text))
    if m and not m.group(2):
        raise EdgekitError(f"latency {text!r} has no unit; write {m.group(1)}ms, {m.group(1)}s or {m.group(1)}us")
    if not m or m.group(2).lower() not in _TIME_UNITS:
        raise EdgekitError(f"latency {text!r} is not understood; write e.g. 20ms, 0.5s or 800us")
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


@dataclass(frozen=True)
class Constraints:
    max_accuracy_drop: float | None = 1.0  # points of top-1 below the original; without labels: of top-1 agreement
    max_file_bytes: int | None = None  # the artifact file: what it takes in flash or on disk
    max_download_bytes: int | None = None  # the gzipped artifact: what an app download or OTA update carries
    max_latency_ms: float | None = None  # median latency measured on this machine (with --device: on each device)
    max_ram: int | None = None  # bytes of TFLite Micro tensor arena (measured for the mcu target)
    max_flash: int | None = None  # bytes of flash the model takes (measured for the mcu target)
    max_robustness_drop: float | None = None  # points of accuracy under perturbations lost against the original

    def __post_init__(self):
        for name in ("max_accuracy_drop", "max_file_bytes", "max_download_bytes", "max_latency_ms", "max_ram", "max_flash",
                     "max_robustness_drop"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise EdgekitError(f"{name.replace('_', '-')} must not be negative; got {value}")


@dataclass(frozen=True)
class Candidate:
    """One measured artifact: the figures ranking needs."""

    name: str  # variant/format, e.g. "int8/tflite"
    accuracy: float | None  # top-1 in [0, 1] on labelled held-out data, else None (accuracy not measured)
    agreement: float | None  # top-1 agreement with the original model's outputs (classifiers)
    file_bytes: int
    gzip_bytes: int
    latency_ms: float | None  # median
    latency_verdict: str | None = None  # against the baseline, measured interleaved: faster, tie, slower, baseline
    snr_db: float | None = None  # fidelity to the original's outputs (any model)
    arena_bytes: int | None = None  # TFLite Micro tensor arena (mcu artifacts)
    flash_bytes: int | None = None  # model bytes in flash (mcu artifacts)
    delta_bytes: int | None = None  # the update from --baseline (smaller of bsdiff and zstd): what ships instead of gzip
    robustness_drop: float | None = None  # mean accuracy under perturbations lost against the original (0..1)
    failure: str | None = None  # why it cannot run where it is ranked (a device's runtime refused it)

    @property
    def download_bytes(self) -> int:
        """What shipping this artifact sends: the delta from the baseline when there is one, else the gzip file."""
        return self.delta_bytes if self.delta_bytes is not None else self.gzip_bytes


@dataclass(frozen=True)
class Verdict:
    name: str
    meets: bool
    misses: tuple[str, ...]  # each constraint missed, with by how much
    pareto: bool


# Why there is no recommendation: the exit status of `edgekit optimize` says it too (see cli.EXIT_CODES).
NO_ARTIFACT = "no-artifact"
NONE_MEETS = "none-meets-constraints"


@dataclass(frozen=True)
class Ranking:
    verdicts: tuple[Verdict, ...]
    recommended: str | None
    reason: str
    basis: str = "accuracy"  # what quality was ranked on: "accuracy" (labels) or "fidelity" (agreement, SNR)
    outcome: str = "recommended"  # or NO_ARTIFACT, NONE_MEETS


def _misses(c: Candidate, original_accuracy: float | None, limits: Constraints) -> list[str]:
    out = [c.failure] if c.failure else []
    if limits.max_accuracy_drop is not None:
        if original_accuracy is not None and c.accuracy is not None:
            drop = 100 * (original_accuracy - c.accuracy)
            if drop > limits.max_accuracy_drop + 1e-9:
                out.append(f"accuracy drop {drop:.2f} pt > {limits.max_accuracy_drop:g} pt (by {drop - limits.max_accuracy_drop:.2f} pt)")
        elif c.agreement is not None:
            disagree = 100 * (1 - c.agreement)
            if disagree > limits.max_accuracy_drop + 1e-9:
                out.append(f"top-1 agreement {100 * c.agreement:.2f}% < {100 - limits.max_accuracy_drop:g}% "
                           "(accuracy not measured: the bound applies to agreement with the original)")
    if limits.max_file_bytes is not None and c.file_bytes > limits.max_file_bytes:
        out.append(f"file {c.file_bytes:,} B > {limits.max_file_bytes:,} B (by {c.file_bytes - limits.max_file_bytes:,} B)")
    if limits.max_download_bytes is not None and c.download_bytes > limits.max_download_bytes:
        what = "delta from the baseline" if c.delta_bytes is not None else "gzip"
        out.append(f"download ({what}) {c.download_bytes:,} B > {limits.max_download_bytes:,} B "
                   f"(by {c.download_bytes - limits.max_download_bytes:,} B)")
    if limits.max_robustness_drop is not None:
        if c.robustness_drop is None:
            out.append("robustness not measured (needs labelled held-out data for a single-input classifier)")
        elif 100 * c.robustness_drop > limits.max_robustness_drop + 1e-9:
            out.append(f"robustness drop {100 * c.robustness_drop:.2f} pt > {limits.max_robustness_drop:g} pt")
    if limits.max_latency_ms is not None:
        if c.latency_ms is None:
            out.append("latency not measured")
        elif c.latency_ms > limits.max_latency_ms:
            out.append(f"latency {c.latency_ms:.3f} ms > {limits.max_latency_ms:g} ms (by {c.latency_ms - limits.max_latency_ms:.3f} ms)")
    for limit, value, what in ((limits.max_ram, c.arena_bytes, "arena"), (limits.max_flash, c.flash_bytes, "flash")):
        if limit is None:
            continue
        if value is None:
            out.append(f"{what} not measured (TFLite Micro measures it for the mcu target)")
        elif value > limit:
            out.append(f"{what} {value:,} B > {limit:,} B (by {value - limit:,} B)")
    return out


def _quality(c: Candidate) -> tuple[float, float]:
    """Higher is better: accuracy where labels measured it, else top-1 agreement with the original, then SNR."""
    first = c.accuracy if c.accuracy is not None else (c.agreement if c.agreement is not None else 0.0)
    snr = c.snr_db if c.snr_db is not None else -math.inf
    return first, min(snr, 1e9)


_SPEED = {"faster": 0, "baseline": 1, "tie": 1, "slower": 2}


def _speed(c: Candidate, candidates: Sequence[Candidate]) -> float:
    """Latency for ranking: the interleaved verdict against the baseline where every candidate has one (a tie is a
    tie, not a win for the lucky run), else the measured median."""
    if all(o.latency_verdict in _SPEED for o in candidates):
        return float(_SPEED[c.latency_verdict])
    return c.latency_ms if c.latency_ms is not None else math.inf


_WORST_FIRST = ("slower", "tie", "baseline", "faster")


def worst_case(per_device: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """One candidate per artifact for a fleet: its worst figures over the devices (lowest quality, slowest median,
    least favourable verdict), so a recommendation meets every constraint on every device."""
    out = []
    for group in zip(*per_device):
        def lowest(field: str):
            values = [getattr(c, field) for c in group]
            return None if any(v is None for v in values) else min(values)

        latencies = [c.latency_ms for c in group]
        verdicts = [c.latency_verdict for c in group]
        out.append(replace(group[0], accuracy=lowest("accuracy"), agreement=lowest("agreement"), snr_db=lowest("snr_db"),
                           latency_ms=None if None in latencies else max(latencies),
                           latency_verdict=None if None in verdicts else min(verdicts, key=_WORST_FIRST.index),
                           failure="; ".join(c.failure for c in group if c.failure) or None))
    return out


def pareto_front(candidates: Sequence[Candidate]) -> set[str]:
    """Names of the candidates no other candidate beats on quality, gzip size and latency at once."""

    def key(c: Candidate):
        q = _quality(c)
        return (-q[0], -q[1], c.gzip_bytes, _speed(c, candidates))

    front = set()
    for c in candidates:
        kc = key(c)
        dominated = any(
            all(a <= b for a, b in zip(key(o), kc)) and any(a < b for a, b in zip(key(o), kc)) for o in candidates if o is not c
        )
        if not dominated:
            front.add(c.name)
    return front


def _shipped(c: Candidate) -> int:
    """The size a recommendation minimises: flash + arena on a microcontroller, else the download (gzip, or the
    delta from --baseline)."""
    return c.flash_bytes + (c.arena_bytes or 0) if c.flash_bytes is not None else c.download_bytes


def rank(candidates: Sequence[Candidate], original_accuracy: float | None, limits: Constraints, baseline: str | None = None) -> Ranking:
    """The recommendation: among the candidates that meet every constraint, the smallest gzip size (what ships),
    then the fastest (by the interleaved verdict, so noise cannot decide), then the most faithful.
    ``baseline`` names the float32 artifact the reason compares to.

    Without labels (``original_accuracy`` None) quality is fidelity to the original (top-1 agreement, SNR), and the
    reason says that accuracy was not measured. The reason quotes sizes, verdicts and accuracies only, never a
    latency figure, so the same models give the same reason on every run."""
    basis = "accuracy" if original_accuracy is not None and any(c.accuracy is not None for c in candidates) else "fidelity"
    front = pareto_front(candidates)
    verdicts = []
    for c in candidates:
        misses = _misses(c, original_accuracy, limits)
        verdicts.append(Verdict(c.name, not misses, tuple(misses), c.name in front))
    feasible = [c for c, v in zip(candidates, verdicts) if v.meets]
    if not feasible:
        if not candidates:
            return Ranking((), None, "no variant produced an artifact", basis, NO_ARTIFACT)
        closest = min(zip(candidates, verdicts), key=lambda cv: (len(cv[1].misses), tuple(-q for q in _quality(cv[0])), cv[0].gzip_bytes))
        return Ranking(
            tuple(verdicts), None,
            f"no variant meets every constraint; closest: {closest[0].name} ({'; '.join(closest[1].misses)})", basis, NONE_MEETS,
        )
    best = min(feasible, key=lambda c: (_shipped(c), _speed(c, candidates), tuple(-q for q in _quality(c))))
    if best.flash_bytes is not None:
        parts = [f"smallest in flash + arena ({best.flash_bytes:,} B + {best.arena_bytes:,} B) of the {len(feasible)} "
                 "variant(s) meeting every constraint"]
    elif best.delta_bytes is not None:
        parts = [f"smallest update from the baseline ({best.delta_bytes:,} B delta) of the {len(feasible)} variant(s) "
                 "meeting every constraint"]
    else:
        parts = [f"smallest to ship ({best.gzip_bytes:,} B gzip) of the {len(feasible)} variant(s) meeting every constraint"]
    base = next((c for c in candidates if c.name == baseline), None)
    if base is not None and base is not best:
        parts.append(f"{base.gzip_bytes / best.gzip_bytes:.1f}× smaller than {base.name}")
        if best.latency_verdict in ("faster", "slower"):
            parts.append(f"{best.latency_verdict} than {base.name} (measured interleaved)")
        elif best.latency_verdict == "tie":
            parts.append(f"latency: no measurable difference from {base.name}")
    if basis == "accuracy" and best.accuracy is not None:
        parts.append(f"top-1 {100 * best.accuracy:.2f}% vs {100 * original_accuracy:.2f}% for the original")
        if best.robustness_drop is not None:
            parts.append(f"under perturbations {100 * best.robustness_drop:+.2f} pt against the original".replace("+-", "-")
                         if abs(best.robustness_drop) >= 0.005 else "robustness as the original's (within 0.5 pt)")
    else:
        fidelity = []
        if best.agreement is not None:
            fidelity.append(f"top-1 agreement {100 * best.agreement:.2f}%")
        if best.snr_db is not None:
            fidelity.append(f"SNR {best.snr_db:.1f} dB" if math.isfinite(best.snr_db) else "identical outputs")
        parts.append("accuracy not measured (no labels): ranked by fidelity to the original"
                     + (f" ({', '.join(fidelity)})" if fidelity else ""))
    return Ranking(tuple(verdicts), best.name, "; ".join(parts), basis)
