"""Latency of several models compared with one baseline, measured interleaved so that noise cannot rank them.

Protocol (:func:`measure_interleaved`):

1. Every model is loaded, run once and warmed up before anything is timed, so no model carries the runtime's
   start-up cost (library import, helper process, file cache) and drift during loading touches none of them.
2. Then ``rounds`` rounds: in each round every model is timed for ``round_time`` seconds (at least
   ``MIN_RUNS_PER_ROUND`` runs); the order rotates from round to round, so no model always runs first or last.
   A slow patch on a shared machine lands on all models of a round alike.
3. Per model: the median, quartiles and IQR of all its timed runs, and the median of each round.
4. Per model against the baseline: the ratio of the two round medians in each round; the figure is the median of
   those per-round ratios, with a 95 % bootstrap confidence interval (rounds resampled with replacement,
   ``BOOTSTRAP`` resamples, seeded).
5. Verdict: ``faster`` when the whole interval lies below ``1 - min_effect``, ``slower`` when it lies above
   ``1 + min_effect``, otherwise ``tie``: no measurable difference (within the noise, or smaller than the least
   effect worth reporting, 5 % by default).

The load average before and after, and the share of the timed wall time this process had the CPU, are kept: a
busy machine makes every figure less certain, and :attr:`Interleaved.busy` says so in one line.
Needs only ``edgekit[runtime]``: this module never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edgekit.errors import EdgekitError

__all__ = ["Interleaved", "Spread", "measure_interleaved", "ratio_interval", "verdict", "busy_machine"]

ROUNDS = 10
ROUND_TIME_S = 0.05
MIN_RUNS_PER_ROUND = 5
WARMUP_RUNS = 5
BOOTSTRAP = 2000
MIN_EFFECT = 0.05
BUSY_LOAD_PER_CORE = 0.5  # 1-min load average per usable core above which the machine counts as busy
BUSY_CPU_SHARE = 0.8  # share of the timed wall time this process got the CPU, below which it was competing

VERDICT_TEXT = {
    "baseline": "the baseline",
    "faster": "faster",
    "slower": "slower",
    "tie": "no measurable difference",
}


@dataclasses.dataclass(frozen=True)
class Spread:
    """One model's latency in milliseconds per inference, and how it compares with the baseline."""

    name: str
    runs: int
    median_ms: float
    p25_ms: float
    p75_ms: float
    iqr_ms: float
    round_medians_ms: tuple[float, ...]
    ratio: float | None  # median over rounds of (this model's round median / the baseline's); None for the baseline
    ratio_ci: tuple[float, float] | None  # 95 % bootstrap interval of ``ratio``
    verdict: str  # "baseline", "faster", "slower" or "tie"

    @property
    def verdict_text(self) -> str:
        return VERDICT_TEXT[self.verdict]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"verdict_text": self.verdict_text}


@dataclasses.dataclass(frozen=True)
class Interleaved:
    baseline: str
    spreads: tuple[Spread, ...]
    rounds: int
    round_time_s: float
    threads: int | None
    min_effect: float
    load_average_before: float | None  # 1-min load average
    load_average_after: float | None
    cores: int | None  # CPUs this process may run on
    cpu_share: float | None  # process CPU time / (timed wall time × threads): below ~0.8, others took the CPU
    busy: str | None  # one line for the reader when the machine was busy, else None
    method: str

    def __getitem__(self, name: str) -> Spread:
        for s in self.spreads:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["spreads"] = [s.to_dict() for s in self.spreads]
        return out


def ratio_interval(variant_rounds: Sequence[float], baseline_rounds: Sequence[float], seed: int = 0,
                   resamples: int = BOOTSTRAP) -> tuple[float, tuple[float, float]]:
    """Median of the per-round ratios and its 95 % bootstrap interval (rounds resampled with replacement)."""
    v = np.asarray(variant_rounds, dtype=np.float64)
    b = np.asarray(baseline_rounds, dtype=np.float64)
    if v.shape != b.shape or v.size == 0:
        raise ValueError("one round median per round for both models")
    ratios = v / b
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ratios.size, (resamples, ratios.size))
    boot = np.median(ratios[picks], axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(np.median(ratios)), (float(lo), float(hi))


def verdict(ci: tuple[float, float], min_effect: float = MIN_EFFECT) -> str:
    """``faster``/``slower`` only when the whole interval clears the least effect worth reporting; else ``tie``."""
    lo, hi = ci
    if hi < 1.0 - min_effect:
        return "faster"
    if lo > 1.0 + min_effect:
        return "slower"
    return "tie"


def busy_machine(load_average: float | None, cores: int | None, cpu_share: float | None = None,
                 own_threads: int = 0) -> str | None:
    """One line when the machine was busy (the load average of the others per core, or this process starved of
    CPU), else None. ``own_threads``: this process's timed threads, which the load average counts too."""
    reasons = []
    if load_average is not None and cores and load_average - own_threads > BUSY_LOAD_PER_CORE * cores:
        reasons.append(f"1-min load average {load_average:.2f} on {cores} cores"
                       + (f", {own_threads} of it this measurement" if own_threads else ""))
    if cpu_share is not None and cpu_share < BUSY_CPU_SHARE:
        reasons.append(f"the timed runs had the CPU {100 * cpu_share:.0f}% of the time")
    if not reasons:
        return None
    return ("the machine was busy (" + "; ".join(reasons) + "): other processes competed for the CPU, so latency "
            "figures are noisier and small differences read as ties")


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def measure_interleaved(
    models: Mapping[str, str | Path],
    baseline: str,
    rounds: int = ROUNDS,
    round_time: float = ROUND_TIME_S,
    threads: int | None = 1,
    accelerator: str = "cpu",
    min_effect: float = MIN_EFFECT,
    seed: int = 0,
) -> Interleaved:
    """Time every model in ``models`` (name → .tflite/.onnx path) interleaved with ``baseline`` (one of the names);
    see the module docstring for the protocol. Each model is fed one seeded random batch of 1 built from its specs."""
    from edgekit import runtime
    from edgekit.device_bench.latency import bench_inputs

    if baseline not in models:
        raise EdgekitError(f"the baseline {baseline!r} is not among the models: {', '.join(models)}")
    if rounds < 2:
        raise EdgekitError(f"interleaved timing needs at least 2 rounds, got {rounds}")
    if round_time <= 0:
        raise EdgekitError(f"round time must be > 0 seconds, got {round_time}")
    names = list(models)
    opened, loaded = [], {}
    try:
        for name in names:  # load, feed, warm up every model before any timing
            model = runtime.load(models[name], accelerator=accelerator, threads=threads)
            opened.append(model)
            x = bench_inputs(model.inputs, batch=1, seed=seed)
            feed = x[0] if len(x) == 1 else x
            for _ in range(1 + WARMUP_RUNS):
                model.predict(feed)
            loaded[name] = (model, feed)
        load_before = _load_average()
        times: dict[str, list[float]] = {n: [] for n in names}
        medians: dict[str, list[float]] = {n: [] for n in names}
        cpu0, wall = time.process_time(), 0.0
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for r in range(rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    model, feed = loaded[name]
                    this: list[float] = []
                    start = time.perf_counter()
                    deadline = start + round_time
                    while True:
                        t0 = time.perf_counter()
                        model.predict(feed)
                        t1 = time.perf_counter()
                        this.append((t1 - t0) * 1e3)
                        if len(this) >= MIN_RUNS_PER_ROUND and t1 >= deadline:
                            break
                    wall += time.perf_counter() - start
                    times[name] += this
                    medians[name].append(float(np.median(this)))
        finally:
            if gc_was_enabled:
                gc.enable()
        cpu = time.process_time() - cpu0
    finally:
        for model in opened:
            model.close()
    load_after = _load_average()
    cores = _cores()
    share = min(1.0, cpu / (wall * (threads or 1))) if wall > 0 else None
    spreads = []
    for name in names:
        t = np.asarray(times[name])
        p25, p50, p75 = np.percentile(t, [25, 50, 75])
        if name == baseline:
            ratio, ci, v = None, None, "baseline"
        else:
            ratio, ci = ratio_interval(medians[name], medians[baseline], seed=seed)
            v = verdict(ci, min_effect)
        spreads.append(Spread(name, int(t.size), float(p50), float(p25), float(p75), float(p75 - p25),
                              tuple(medians[name]), ratio, ci, v))
    worst_load = max((x for x in (load_before, load_after) if x is not None), default=None)
    return Interleaved(
        baseline=baseline, spreads=tuple(spreads), rounds=rounds, round_time_s=round_time, threads=threads,
        min_effect=min_effect, load_average_before=load_before, load_average_after=load_after, cores=cores,
        cpu_share=share, busy=busy_machine(worst_load, cores, share, own_threads=threads or 1),
        method=(f"interleaved: all models loaded and warmed up first, then {rounds} rounds of ≥ {round_time:g} s per "
                f"model in rotating order; ratio = median of per-round median ratios to {baseline}, 95 % bootstrap "
                f"interval over rounds; a tie unless the interval clears ±{100 * min_effect:g} %"),
    )
