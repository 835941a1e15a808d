"""``bench``: one model, one setting -> a :class:`BenchResult` that says what was measured and how.

A result carries the edgekit version, the settings, the machine conditions before and after the timed runs, and
every figure with its units, so two results can be compared (:func:`compare_results`) long after they were taken.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from edgekit.device_bench import conditions as _cond
from edgekit.device_bench import energy as _energy
from edgekit.device_bench.graph_stats import ModelStats, model_stats
from edgekit.device_bench.latency import LatencyStats, measure
from edgekit.device_bench.memory import MemoryUsage, MemoryWatch
from edgekit.errors import AcceleratorError, EdgekitError

__all__ = ["BenchResult", "bench", "bench_many", "check_results", "compare_results", "Comparison", "to_csv", "load_results"]


@dataclasses.dataclass(frozen=True)
class BenchResult:
    edgekit_version: str
    timestamp: str  # UTC, ISO 8601
    model: str
    format: str
    settings: dict[str, Any]  # what was asked: accelerator, threads, batch, runs, min_time, warmup, device_profile
    accelerator: str  # what actually ran it
    backend: str
    fully_delegated: bool | None
    stats: ModelStats  # size, params, MACs per item, bytes by dtype
    load_ms: float
    first_ms: float
    warmup_runs: int
    warmup_mean_ms: float | None
    latency: LatencyStats  # ms per inference (one predict on the batch)
    throughput_ips: float  # inferences/s
    items_per_s: float  # batch × inferences/s
    macs: int | None  # per inference (MACs per item × batch)
    gmacs_per_s: float | None  # achieved: macs / mean latency
    memory: MemoryUsage
    energy: tuple[_energy.EnergyEstimate, ...]  # op-count, time×power, measured: each with method and units
    conditions: _cond.Conditions
    warnings: tuple[str, ...]
    op_profile: Any = None  # OpProfile when profile_ops=True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _version() -> str:
    import edgekit

    return edgekit.__version__


def bench(
    path: str | Path,
    accelerator: str = "cpu",
    threads: int | None = 1,
    batch: int = 1,
    runs: int | None = None,
    min_time: float | None = None,
    warmup: int = 5,
    device_profile: str | None = None,
    profile_ops: bool = False,
    device_profiles_path: str | Path | None = None,
    energy_command: str | None = None,
    energy_unit: str | None = None,
) -> BenchResult:
    """Benchmark one ``.tflite``/``.onnx`` model at one setting on this machine.

    >>> r = bench("model.tflite", threads=2, min_time=2.0, device_profile="rpi4")
    >>> r.latency.p50, r.memory.peak_rss_bytes, [e.value for e in r.energy]
    """
    p = Path(path)
    stats = model_stats(p)  # fails clearly on missing / empty / foreign files before anything is timed
    profile = _energy.get_device_profile(device_profile, device_profiles_path) if device_profile else None
    meter = _energy.energy_meter(energy_command, energy_unit)
    live_meter = meter if not getattr(meter, "unavailable_reason", "") else None
    static = _cond.machine_conditions()
    _pay_startup(p, accelerator, threads)
    before = _cond.snapshot()
    watch = MemoryWatch()
    watch.start()
    m = measure(p, accelerator=accelerator, threads=threads, batch=batch, runs=runs, min_time=min_time,
                warmup=warmup, meter=live_meter)
    memory = watch.stop()
    after = _cond.snapshot()
    cond = dataclasses.replace(static, before=before, after=after)
    warnings = _cond.warnings_for(cond, threads) + list(m.notes)
    if m.fully_delegated is False and accelerator != "cpu":
        warnings.append(f"the graph is not fully delegated to {m.accelerator}: some ops run on the CPU")
    macs = stats.macs * batch if stats.macs is not None else None
    estimates = (
        _energy.op_count_energy(stats, batch),
        _energy.time_power_energy(m.latency.mean, profile, batch),
        _energy.measured_energy(m.energy_joules, m.latency.runs, batch, meter, reason=m.energy_error),
    )
    if profile is not None and static.device_model and profile.description.split(" (")[0] not in static.device_model:
        warnings.append(f"device profile {profile.name!r} ({profile.description}) but this machine is "
                        f"{static.device_model!r}: the time×power figure mixes two devices")
    op_prof = None
    if profile_ops:
        from edgekit.device_bench.op_profile import profile_ops as _profile_ops

        op_prof = _profile_ops(p, accelerator=accelerator, threads=threads)
    return BenchResult(
        edgekit_version=_version(),
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        model=str(p),
        format=stats.format,
        settings={"accelerator": accelerator, "threads": threads, "batch": batch, "runs": runs,
                  "min_time": min_time, "warmup": warmup, "device_profile": device_profile,
                  "energy_command": energy_command},
        accelerator=m.accelerator,
        backend=m.backend,
        fully_delegated=m.fully_delegated,
        stats=stats,
        load_ms=m.load_ms,
        first_ms=m.first_ms,
        warmup_runs=m.warmup_runs,
        warmup_mean_ms=m.warmup_mean_ms,
        latency=m.latency,
        throughput_ips=m.throughput_ips,
        items_per_s=m.items_per_s,
        macs=macs,
        gmacs_per_s=(macs / (m.latency.mean / 1e3) / 1e9) if macs else None,
        memory=memory,
        energy=estimates,
        conditions=cond,
        warnings=tuple(warnings),
        op_profile=op_prof,
    )


def _pay_startup(path: Path, accelerator: str, threads: int | None) -> None:
    """Load and time ``path`` briefly, unreported, before it is measured: the runtime's one-time start-up cost (library
    import, the load-check helper process, the file cache) is paid here, so the first model benchmarked in a
    process reports the same load time and memory as the ones after it."""
    measure(path, accelerator=accelerator, threads=threads, runs=2, warmup=1)


def bench_many(
    paths: Sequence[str | Path],
    threads: Sequence[int | None] = (1,),
    batches: Sequence[int] = (1,),
    **kwargs: Any,
) -> list[BenchResult]:
    """One :func:`bench` per model × threads × batch, in that order. Bad settings fail before anything runs."""
    for p in paths:
        model_stats(p)
    if kwargs.get("device_profile"):
        _energy.get_device_profile(kwargs["device_profile"], kwargs.get("device_profiles_path"))
    accelerator = kwargs.get("accelerator", "cpu")
    for kind in sorted({"onnx" if str(p).lower().endswith(".onnx") else "tflite" for p in paths}):
        _check_accelerator(accelerator, kind)
    return [bench(p, threads=t, batch=b, **kwargs) for p in paths for t in threads for b in batches]


def _check_accelerator(name: str, kind: str) -> None:
    from edgekit.runtime import available_accelerators

    names = list(available_accelerators(kind))
    if names and name not in names:
        raise AcceleratorError(f"accelerator {name!r} is not available here for {kind} models; available: "
                               f"{', '.join(names)}")


# ---- results files, comparison, CSV ---------------------------------------------------------------------

def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, BenchResult):
        return result.to_dict()
    if isinstance(result, dict):
        return result
    raise EdgekitError(f"expected a bench result, got {type(result).__name__}")


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Results written by ``edgekit bench --json`` (a list) or one result (a dict)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise EdgekitError(f"results file not found: {p}") from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"{p} is not a JSON results file from 'edgekit bench --json' ({exc})") from exc
    return check_results(data, str(p))


def check_results(data: Any, source: str) -> list[dict[str, Any]]:
    """``data`` as a list of bench result dicts (one result may stand alone), or an error naming ``source``."""
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(r, dict) and isinstance(r.get("latency"), dict)
                            and isinstance(r.get("settings"), dict) for r in items):
        raise EdgekitError(f"{source} does not hold edgekit bench results (written by 'edgekit bench --json')")
    return items


def _get(d: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _energy_value(d: dict[str, Any], method: str) -> float | None:
    for e in d.get("energy") or []:
        if e.get("method") == method:
            return e.get("value")
    return None


# (label, getter, unit, lower is better)
_METRICS: list[tuple[str, Any, str, bool]] = [
    ("latency p50", lambda d: _get(d, "latency.p50"), "ms", True),
    ("latency mean", lambda d: _get(d, "latency.mean"), "ms", True),
    ("latency p99", lambda d: _get(d, "latency.p99"), "ms", True),
    ("throughput", lambda d: d.get("items_per_s"), "items/s", False),
    ("load", lambda d: d.get("load_ms"), "ms", True),
    ("first inference", lambda d: d.get("first_ms"), "ms", True),
    ("peak RSS increase", lambda d: _get(d, "memory.peak_increase_bytes"), "bytes", True),
    ("file size", lambda d: _get(d, "stats.file_bytes"), "bytes", True),
    ("gzip size", lambda d: _get(d, "stats.gzip_bytes"), "bytes", True),
    ("params", lambda d: _get(d, "stats.params"), "", True),
    ("MACs", lambda d: d.get("macs"), "", True),
    ("GMAC/s", lambda d: d.get("gmacs_per_s"), "GMAC/s", False),
    ("energy op-count (estimate)", lambda d: _energy_value(d, "op-count"), "uJ/inference", True),
    ("energy time×power (estimate)", lambda d: _energy_value(d, "time×power"), "uJ/inference", True),
    ("energy measured", lambda d: _energy_value(d, "measured"), "uJ/inference", True),
]

_CONTEXT = [
    ("edgekit", "edgekit_version"), ("model", "model"), ("accelerator", "accelerator"), ("backend", "backend"),
    ("fully delegated", "fully_delegated"), ("threads", "settings.threads"), ("batch", "settings.batch"),
    ("cpu", "conditions.cpu_model"), ("device", "conditions.device_model"), ("cores", "conditions.cores_usable"),
    ("governor", "conditions.governors"), ("versions", "conditions.versions"),
]


@dataclasses.dataclass(frozen=True)
class Comparison:
    pairs: tuple[dict[str, Any], ...]  # per pair: a/b labels, metric rows, context differences


def compare_results(a: Any, b: Any) -> Comparison:
    """Differences between two sets of results (paths to JSON files, result dicts, or BenchResults).

    Results are paired by (threads, batch, accelerator); with one result on each side they are paired as is."""
    la = load_results(a) if isinstance(a, (str, Path)) else [_as_dict(r) for r in (a if isinstance(a, list) else [a])]
    lb = load_results(b) if isinstance(b, (str, Path)) else [_as_dict(r) for r in (b if isinstance(b, list) else [b])]

    def key(d: dict[str, Any]) -> tuple:
        return (_get(d, "settings.threads"), _get(d, "settings.batch"), _get(d, "settings.accelerator"))

    if len(la) == 1 and len(lb) == 1:
        matched = [(la[0], lb[0])]
    else:
        by_key: dict[tuple, list[dict[str, Any]]] = {}
        for d in lb:
            by_key.setdefault(key(d), []).append(d)
        matched = []
        for d in la:
            if by_key.get(key(d)):
                matched.append((d, by_key[key(d)].pop(0)))
        if not matched:
            raise EdgekitError("no results with the same threads/batch/accelerator to compare; settings in A: "
                               f"{sorted(set(map(key, la)))}, in B: {sorted(set(map(key, lb)))}")
    pairs = []
    for da, db in matched:
        rows = []
        for label, getter, unit, lower_better in _METRICS:
            va, vb = getter(da), getter(db)
            if va is None and vb is None:
                continue
            ratio = (vb / va) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va else None
            better = None
            if ratio is not None and ratio != 1:
                better = "B" if (ratio < 1) == lower_better else "A"
            rows.append({"metric": label, "unit": unit, "a": va, "b": vb, "ratio": ratio, "better": better})
        context = []
        for label, dotted in _CONTEXT:
            va, vb = _get(da, dotted), _get(db, dotted)
            if va != vb:
                context.append({"what": label, "a": va, "b": vb})
        pairs.append({
            "a": f"{Path(str(da.get('model'))).name} t={key(da)[0]} b={key(da)[1]}",
            "b": f"{Path(str(db.get('model'))).name} t={key(db)[0]} b={key(db)[1]}",
            "metrics": rows,
            "differences": context,
            "warnings_a": list(da.get("warnings") or []),
            "warnings_b": list(db.get("warnings") or []),
        })
    return Comparison(pairs=tuple(pairs))


CSV_COLUMNS = [
    ("model", "model"), ("format", "format"), ("accelerator", "accelerator"), ("backend", "backend"),
    ("fully_delegated", "fully_delegated"), ("threads", "settings.threads"), ("batch", "settings.batch"),
    ("runs", "latency.runs"), ("load_ms", "load_ms"), ("first_ms", "first_ms"), ("warmup_mean_ms", "warmup_mean_ms"),
    ("mean_ms", "latency.mean"), ("std_ms", "latency.std"), ("min_ms", "latency.min"), ("p50_ms", "latency.p50"),
    ("p90_ms", "latency.p90"), ("p99_ms", "latency.p99"), ("max_ms", "latency.max"),
    ("inferences_per_s", "throughput_ips"), ("items_per_s", "items_per_s"), ("file_bytes", "stats.file_bytes"),
    ("gzip_bytes", "stats.gzip_bytes"), ("params", "stats.params"), ("macs", "macs"), ("gmacs_per_s", "gmacs_per_s"),
    ("peak_rss_bytes", "memory.peak_rss_bytes"), ("rss_increase_bytes", "memory.peak_increase_bytes"),
]


def to_csv(results: Iterable[Any]) -> str:
    """One row per result; energy columns carry their units in the header; empty cell = not available."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [c for c, _ in CSV_COLUMNS] + ["energy_opcount_uJ", "energy_timepower_uJ", "energy_measured_uJ",
                                            "bytes_by_dtype", "cpu", "governor", "edgekit_version", "warnings"]
    writer.writerow(header)
    for r in results:
        d = _as_dict(r)
        row = [_get(d, dotted) for _, dotted in CSV_COLUMNS]
        row += [_energy_value(d, "op-count"), _energy_value(d, "time×power"), _energy_value(d, "measured"),
                json.dumps(_get(d, "stats.bytes_by_dtype"), sort_keys=True), _get(d, "conditions.cpu_model"),
                "/".join(_get(d, "conditions.governors") or []), d.get("edgekit_version"),
                " | ".join(d.get("warnings") or [])]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
