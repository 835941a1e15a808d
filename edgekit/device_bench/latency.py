"""Latency of a model through ``edgekit.runtime``: load, first inference, warm-up, then timed runs.

What is timed is one ``Model.predict(x)`` call on a batch built once from the model's input specs (seeded random
data, float32 for float and quantized inputs): what an app calling the runtime gets, including the wrapper's
quantize/dequantize of int8 inputs and outputs. Warm-up runs are never part of the statistics. Each timed run is
measured with ``time.perf_counter`` and the garbage collector is paused during the timed window.

Run count: ``runs=N`` times exactly N runs; ``min_time=S`` keeps running until S seconds have passed (at least
``MIN_RUNS``); both: at least N runs and at least S seconds; neither: ``DEFAULT_MIN_TIME`` seconds.
Percentiles use linear interpolation between order statistics (numpy's default, as LiteRT's own tool).
"""

from __future__ import annotations

import dataclasses
from array import array
import gc
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.errors import DataError, EdgekitError

__all__ = ["LatencyStats", "Timing", "latency_stats", "measure", "bench_inputs"]

DEFAULT_MIN_TIME = 1.0
MIN_RUNS = 10
MAX_RUNS = 1_000_000


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per inference (one ``predict`` call on the whole batch) over the timed runs."""

    runs: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    total_s: float


@dataclasses.dataclass(frozen=True)
class Timing:
    load_ms: float  # runtime.load(): read, build the interpreter/session, apply the delegate, allocate
    first_ms: float  # the first predict after load (lazy initialisation shows up here)
    warmup_runs: int
    warmup_mean_ms: float | None
    latency: LatencyStats
    throughput_ips: float  # inferences per second = 1000 / mean
    items_per_s: float  # batch × inferences per second
    batch: int
    threads: int | None
    accelerator: str  # what actually ran it
    backend: str
    fully_delegated: bool | None
    energy_joules: float | None  # from the meter over the timed window, when one was given
    energy_error: str = ""
    notes: tuple[str, ...] = ()  # the runtime's notes on how the model runs (e.g. XNNPACK could not take it)


def latency_stats(times_ms: Sequence[float], total_s: float | None = None) -> LatencyStats:
    t = np.asarray(times_ms, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timed runs")
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return LatencyStats(
        runs=int(t.size),
        mean=float(t.mean()),
        std=float(t.std(ddof=1)) if t.size > 1 else 0.0,
        min=float(t.min()),
        p50=float(p50),
        p90=float(p90),
        p99=float(p99),
        max=float(t.max()),
        total_s=float(total_s if total_s is not None else t.sum() / 1e3),
    )


def bench_inputs(specs: Sequence[Any], batch: int = 1, seed: int = 0) -> list[np.ndarray]:
    """One array per input spec: batch on the first dimension, seeded values.

    Float and quantized inputs get float32 in [-1, 1] (the runtime quantizes them); other integer inputs get
    small non-negative integers (valid as indices); bool inputs get False."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        shape = list(spec.shape)
        if not shape:
            dims: list[int] = []
        else:
            if shape[0] is None or shape[0] == 1:
                shape[0] = batch
            elif batch != 1 and shape[0] != batch:
                raise DataError(f"input {spec.name!r} has a fixed batch of {shape[0]}, not {batch}; "
                                f"bench it with --batch {shape[0]} (or 1)")
            if any(d is None for d in shape[1:]):
                raise DataError(f"input {spec.name!r} has dynamic dimensions {tuple(spec.shape)} beyond the batch; "
                                "edgekit bench needs a model with fixed input shapes (re-export with a fixed shape)")
            dims = [int(d) for d in shape]
        dtype = np.dtype(spec.dtype) if spec.dtype not in ("string",) else None
        if dtype is None:
            raise DataError(f"input {spec.name!r} is a string tensor; edgekit bench times numeric inputs only")
        if dtype.kind == "f" or getattr(spec, "quantization", None):
            arrays.append(rng.uniform(-1.0, 1.0, dims).astype(np.float32))
        elif dtype.kind in "iu":
            arrays.append(rng.integers(0, 2, dims).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(np.zeros(dims, dtype=bool))
        else:
            arrays.append(np.zeros(dims, dtype=dtype))
    return arrays


def _runtime():
    try:
        from edgekit import runtime
    except ImportError as exc:  # pragma: no cover - the runtime is part of edgekit
        raise EdgekitError(f"edgekit.runtime could not be imported: {exc}") from exc
    return runtime


def measure(
    path: str | Path,
    accelerator: str = "cpu",
    threads: int | None = 1,
    batch: int = 1,
    runs: int | None = None,
    min_time: float | None = None,
    warmup: int = 5,
    meter: Any = None,
    on_loaded: Any = None,
) -> Timing:
    """Load ``path`` with edgekit.runtime and time ``predict``; see the module docstring for the protocol.

    ``meter`` (an energy meter with start/stop) is read over the timed window only. ``on_loaded(model)`` is
    called after load (used for memory/conditions bookkeeping)."""
    if runs is not None and runs < 1:
        raise EdgekitError(f"--runs must be at least 1, got {runs}")
    if min_time is not None and min_time <= 0:
        raise EdgekitError(f"--min-time must be > 0 seconds, got {min_time}")
    if warmup < 0:
        raise EdgekitError(f"--warmup must be >= 0, got {warmup}")
    if batch < 1:
        raise EdgekitError(f"--batch must be at least 1, got {batch}")
    if threads is not None and threads < 1:
        raise EdgekitError(f"--threads must be at least 1, got {threads}")
    if runs is None and min_time is None:
        min_time = DEFAULT_MIN_TIME
    target_runs = runs if runs is not None else MIN_RUNS
    runtime = _runtime()
    t0 = time.perf_counter()
    model = runtime.load(path, accelerator=accelerator, threads=threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    try:
        if on_loaded is not None:
            on_loaded(model)
        x = bench_inputs(model.inputs, batch=batch, seed=0)
        feed: Any = x[0] if len(x) == 1 else x
        t0 = time.perf_counter()
        model.predict(feed)
        first_ms = (time.perf_counter() - t0) * 1e3
        warm = []
        for _ in range(warmup):
            t0 = time.perf_counter()
            model.predict(feed)
            warm.append((time.perf_counter() - t0) * 1e3)
        times = array("d")  # raw doubles: 8 bytes a run, in memory that goes back to the OS (not Python's object pools)
        energy_j, energy_error = None, ""
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            if meter is not None:
                meter.start()
            window0 = time.perf_counter()
            deadline = window0 + (min_time or 0.0)
            while True:
                t0 = time.perf_counter()
                model.predict(feed)
                t1 = time.perf_counter()
                times.append((t1 - t0) * 1e3)
                if len(times) >= target_runs and (min_time is None or t1 >= deadline):
                    break
                if runs is not None and min_time is None and len(times) >= runs:
                    break
                if len(times) >= MAX_RUNS:
                    break
            window_s = time.perf_counter() - window0
            if meter is not None:
                try:
                    energy_j = meter.stop(window_s)
                except EdgekitError as exc:
                    energy_error = str(exc)
        finally:
            if gc_was_enabled:
                gc.enable()
        stats = latency_stats(times, window_s)
        return Timing(
            notes=tuple(model.notes),
            load_ms=load_ms,
            first_ms=first_ms,
            warmup_runs=len(warm),
            warmup_mean_ms=float(np.mean(warm)) if warm else None,
            latency=stats,
            throughput_ips=1e3 / stats.mean,
            items_per_s=batch * 1e3 / stats.mean,
            batch=batch,
            threads=threads,
            accelerator=str(getattr(model, "accelerator", accelerator)),
            backend=str(getattr(model, "backend", "")),
            fully_delegated=getattr(model, "fully_delegated", None),
            energy_joules=energy_j,
            energy_error=energy_error,
        )
    finally:
        model.close()
