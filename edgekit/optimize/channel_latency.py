"""Channel pruning to a measured latency target: the MAC budget that meets it, found by measuring on this machine.

Latency falls with MACs, but not in proportion (memory traffic, per-op overhead), so the budget is searched, not
computed: each candidate is pruned under a MAC budget (global allocation, :func:`prune_channels` with
``max_macs``), converted to a float32 ``.tflite`` and timed with :func:`edgekit.device_bench.bench` (median,
``threads`` threads). The search bisects the budget (geometric midpoints) between the smallest model the rules
allow and the original, ``STEPS`` times, and keeps the largest model that met the target. The target holds for a
float32 ``.tflite`` on the machine that ran the search; an int8 conversion is usually faster still.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import OptimizeError
from edgekit.optimize.channels import ChannelPruning, prune_channels

STEPS = 6  # bisection steps after the two ends
BENCH_SECONDS = 0.3  # timed runs per candidate, after warm-up
NEAR_ZERO = 0.999  # the ratio that leaves each group at its floor (min_channels, rounding, frozen channels)


@dataclass(frozen=True)
class LatencySearch:
    """What the search measured: (MACs, median ms) per candidate, in the order measured."""

    target_ms: float
    threads: int
    measured: tuple[tuple[int, float], ...]

    def note(self) -> str:
        points = ", ".join(f"{macs:,} MACs: {ms:.4g} ms" for macs, ms in self.measured)
        return (f"latency target {self.target_ms:g} ms (float32 .tflite, {self.threads} thread(s), measured on this "
                f"machine): {points}")


def _median_ms(model, folder: Path, threads: int) -> float:
    from edgekit.convert import to_tflite
    from edgekit.device_bench import bench

    path = folder / f"candidate-{len(list(folder.iterdir()))}.tflite"
    artifact = to_tflite(model, path, quantize="none")
    return float(bench(artifact.path, threads=threads, min_time=BENCH_SECONDS).latency.p50)


def prune_to_latency(model, target_ms: float, threads: int = 1, **rules) -> tuple[ChannelPruning, LatencySearch]:
    """The least-pruned model whose float32 ``.tflite`` runs within ``target_ms`` here; ``rules`` are
    :func:`prune_channels`' criterion, include, exclude, min_channels and round_to."""
    measured: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-latency-") as tmp:
        folder = Path(tmp)
        full = prune_channels(model, 0.0, **rules)
        original_ms = _median_ms(model, folder, threads)
        measured.append((full.macs_before, original_ms))
        if original_ms <= target_ms:
            return full, LatencySearch(target_ms, threads, tuple(measured))
        smallest = prune_channels(model, NEAR_ZERO, **rules)
        smallest_ms = _median_ms(smallest.model, folder, threads)
        measured.append((smallest.macs_after, smallest_ms))
        if smallest_ms > target_ms:
            raise OptimizeError(f"latency target {target_ms:g} ms is out of reach: the smallest model channel pruning "
                                f"allows here ({smallest.macs_after:,} MACs) measures {smallest_ms:.4g} ms "
                                f"(the original {original_ms:.4g} ms); raise the target or lower min_channels")
        best, lo, hi = smallest, smallest.macs_after, full.macs_before
        for _ in range(STEPS):
            budget = int(math.sqrt(lo * hi))
            if budget <= lo or budget >= hi:
                break
            candidate = prune_channels(model, None, max_macs=budget, **rules)
            ms = _median_ms(candidate.model, folder, threads)
            measured.append((candidate.macs_after, ms))
            if ms <= target_ms:
                best, lo = candidate, max(candidate.macs_after, lo)
            else:
                hi = budget
    return best, LatencySearch(target_ms, threads, tuple(measured))
