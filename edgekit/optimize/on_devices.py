"""``edgekit optimize --device``: every artifact measured on each device over SSH, then ranked by what they measured.

The variants are built and their quality measured here; then each device (concurrently, one SSH connection each,
:func:`edgekit.devices.fleet.run_on_devices`) runs, in its own ``edgekit[runtime]``:

1. ``edgekit bench`` of the artifacts it has no figures for: load time, peak memory, energy;
2. ``edgekit bench --interleaved`` of every artifact with the float32 baseline: the latency the ranking uses;
3. with ``--device-accuracy``, ``edgekit run`` of each artifact on the held-out inputs (pushed once, by content):
   the outputs come back and are scored here exactly as the local ones are, so a runtime or delegate that computes
   differently on the device shows as lost accuracy.

Each artifact's figures from a device are an :class:`~edgekit.measurement.OnDevice` in its measurement (and in its
variant's result.json); each device gets a :class:`~edgekit.results.DeviceResults`. A device that fails is one line
naming it (its ``failure``), the other devices' figures are kept, and a re-run with the same OUTDIR measures only
what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit._fs import scratch_dir, write_text_atomic
from edgekit._json import from_json, to_json
from edgekit.devices.fleet import LocalFile
from edgekit.devices.inventory import Device, DeviceRun
from edgekit.errors import DataError, DeviceError, EdgekitError, RemoteCommandError
from edgekit.measurement import OnDevice, from_interleaved
from edgekit.optimize.progress import Progress
from edgekit.results import DeviceResults, Results, Settings, Variant

__all__ = ["measure_on_devices"]


@dataclass(frozen=True)
class _Artifact:
    name: str  # variant/format
    path: Path
    file: LocalFile
    inputs: LocalFile | None = None  # its held-out inputs .npz (--device-accuracy)


def measure_on_devices(variants: list[Variant], out: Path, settings: Settings, prepared, progress: Progress,
                       previous: Results | None = None) -> tuple[list[Variant], tuple[DeviceResults, ...]]:
    """Measure every done variant's artifacts on ``settings.devices``; returns the variants with their
    :class:`OnDevice` figures (also written to their result.json) and one :class:`DeviceResults` per device.
    ``previous``: the results.json of an earlier run in ``out``, whose finished devices are reused."""
    from edgekit.devices.fleet import BenchSettings, DeviceFailure, run_on_devices

    done = [(v, a) for v in variants if v.status == "done" for a in v.artifacts]
    if not done or not settings.bench_seconds:
        return variants, ()
    names = [f"{v.name}/{a.format}" for v, a in done]
    baseline = "fp32/tflite" if "fp32/tflite" in names else names[0]
    files: dict[str, _Artifact] = {}
    for (v, a), name in zip(done, names):
        files[name] = _Artifact(name, out / a.path, LocalFile.of(out / a.path))
    order = [baseline, *(n for n in names if n != baseline)]
    by_sha = {}  # artifacts with the same content (a recipe that changed nothing) are pushed and timed once
    for n in order:
        by_sha.setdefault(files[n].file.sha256, []).append(n)
    unique = [files[group[0]].file for group in by_sha.values()]
    measurement = {n: a.measurement for (v, a), n in zip(done, names)}

    reused = {d.name: _finished(d, previous, measurement, settings) for d in settings.devices}
    todo = [d for d in settings.devices if reused[d.name] is None]
    bench = BenchSettings(threads=(settings.threads,), accelerator=_accelerator(settings), min_time=settings.bench_seconds,
                          device_profile=settings.device_profile)
    with scratch_dir("device-outputs") as scratch:
        if settings.device_accuracy and todo:
            files = _with_inputs(files, prepared, scratch)

        async def work(session):
            d = session.device
            missing = [f for f in unique if _needs_bench(measurement, by_sha[f.sha256], d.name)]
            progress.line(f"device {d.name}: {len(unique)} artifacts: "
                          + ", ".join(["bench" if missing else "bench reused", "interleaved latency"]
                                      + (["accuracy"] if settings.device_accuracy else [])))
            benched, broken = await _bench_each_if_needed(session, missing, bench)
            runnable = [f for f in unique if f.sha256 not in broken]
            if not runnable:
                raise DeviceError(d.name, f"it can run none of the artifacts ({next(iter(broken.values()))})")
            timed = await session.interleave(runnable, settings.threads, bench.accelerator)
            scored = {}
            if settings.device_accuracy:
                for f in runnable:
                    first = files[by_sha[f.sha256][0]]
                    if any(_needs_accuracy(measurement, n, d.name) for n in by_sha[f.sha256]):
                        local = scratch / f"{d.name}-{f.sha256[:16]}.npz"
                        output_names = await session.predict(f, first.inputs, local, _max_output_bytes(prepared),
                                                             settings.threads, bench.accelerator)
                        try:
                            scored[f.sha256] = _score(local, output_names, prepared)
                        except EdgekitError as exc:
                            raise DeviceError(d.name, f"the outputs of {first.name} cannot be scored: {exc}") from None
            return benched, broken, timed, scored

        progress.line(f"devices: {len(unique)} artifacts on {', '.join(d.name for d in todo)}" if todo else
                      f"devices: every figure reused from the earlier run ({', '.join(d.name for d in settings.devices)})")
        outcomes = run_on_devices(todo, work, settings.accept_new_host_key).outcomes

    results = []
    for d in settings.devices:
        if reused[d.name] is not None:
            results.append(reused[d.name])
            continue
        outcome = outcomes[d.name]
        if isinstance(outcome, DeviceFailure):  # the command line says so at the end: one line per device
            results.append(DeviceResults(d.name, failure=outcome.message))
            continue
        try:
            measurement, device_results = _merge(d, measurement, unique, by_sha, *outcome, settings)
        except (EdgekitError, KeyError, TypeError, ValueError, AttributeError) as exc:  # a device may be hostile
            message = f"device {d.name}: its results are not what edgekit bench writes ({type(exc).__name__}: {exc})"
            device_results = DeviceResults(d.name, failure=message)
        results.append(device_results)
    return _store(variants, measurement, out), tuple(results)


async def _bench_each_if_needed(session, files: list[LocalFile], settings) -> tuple[list[dict], dict[str, str]]:
    """The device's ``edgekit bench`` of ``files`` in one command; when that fails, one command per file, to measure
    the ones it can run and say why it cannot run the others (SHA-256 -> the device's error line)."""
    if not files:
        return [], {}
    try:
        return await session.bench(files, settings), {}
    except RemoteCommandError as exc:
        if len(files) == 1:
            return [], {files[0].sha256: _why(exc)}
    benched, broken = [], {}
    for f in files:
        try:
            benched += await session.bench([f], settings)
        except RemoteCommandError as exc:
            broken[f.sha256] = _why(exc)
    return benched, broken


def _why(exc: RemoteCommandError) -> str:
    return exc.detail.removeprefix("edgekit failed on the device: ")


def _accelerator(settings: Settings) -> str | None:
    """What the device runs the artifacts on: the target, or the device's own inventory accelerator for cpu."""
    return None if settings.target == "cpu" else settings.target


def _needs_bench(measurement: dict, names: Sequence[str], device: str) -> bool:
    return any((m := measurement[n].on(device)) is None or m.load_ms is None for n in names)


def _needs_accuracy(measurement: dict, name: str, device: str) -> bool:
    m = measurement[name].on(device)
    return m is None or m.metrics is None


def _finished(device: Device, previous: Results | None, measurement: dict, settings: Settings) -> DeviceResults | None:
    """The device's results from the earlier run when every artifact of this run has its figures there."""
    if previous is None or settings.force:
        return None
    earlier = next((d for d in previous.devices if d.name == device.name and d.failure is None), None)
    if earlier is None or earlier.latency is None or (settings.device_accuracy and not earlier.accuracy):
        return None
    names = list(measurement)
    if (_needs_bench(measurement, names, device.name) or any(measurement[n].on(device.name).latency_ms is None for n in names)
            or (settings.device_accuracy and any(_needs_accuracy(measurement, n, device.name) for n in names))):
        return None
    if earlier.latency.baseline_artifact not in measurement:
        return None
    return replace(earlier, reused=True, ranking=None, best=None)


def _with_inputs(files: dict[str, _Artifact], prepared, scratch: Path) -> dict[str, _Artifact]:
    """Each artifact's held-out inputs as an .npz ``edgekit run`` reads: one array, or one per input name (the
    artifact's own names, in the order ``Model.predict`` takes a list). Artifacts with the same input names share
    one file, so the data is pushed once."""
    from edgekit import runtime

    made: dict[tuple, LocalFile] = {}
    out = {}
    for name, art in files.items():
        x = prepared.eval_x
        if isinstance(x, (list, tuple)):
            with runtime.load(art.path) as model:
                x = dict(zip([s.name for s in model.inputs], x))
        key = tuple(x) if isinstance(x, dict) else ("x",)
        if key not in made:
            path = scratch / f"inputs-{len(made)}.npz"
            with open(path, "wb") as f:
                np.savez(f, **(x if isinstance(x, dict) else {"x": x}))
            made[key] = LocalFile.of(path)
        out[name] = replace(art, inputs=made[key])
    return out


def _reference_arrays(prepared) -> list:
    """The original model's outputs on the held-out inputs, one array per output."""
    ref = prepared.reference
    return list(ref.values()) if isinstance(ref, dict) else list(ref) if isinstance(ref, (list, tuple)) else [ref]


def _max_output_bytes(prepared) -> int:
    """What the outputs of one artifact on the held-out inputs can take (float32), with room: more is refused."""
    return 2 * sum(np.asarray(a).size * 4 for a in _reference_arrays(prepared)) + (1 << 20)


def _score(local: Path, output_names: list[str], prepared):
    """The metrics of the outputs the device computed, scored as :func:`edgekit.optimize.engine.measure` scores
    local ones."""
    from edgekit.data import read_arrays
    from edgekit.optimize.metrics import evaluate_outputs

    arrays = read_arrays(local)
    ordered = [arrays[k] for k in sorted(arrays, key=lambda k: int(k.removeprefix("arr_")) if k[4:].isdigit() else -1)]
    if len(ordered) != len(output_names):
        raise DataError(f"it returned {len(ordered)} outputs for {len(output_names)} named ones")
    shapes, wanted = [a.shape for a in ordered], [np.shape(a) for a in _reference_arrays(prepared)]
    if shapes != wanted:
        raise DataError(f"it returned outputs of shapes {shapes}; the original's are {wanted}")
    outputs = ordered[0] if len(ordered) == 1 else dict(zip(output_names, ordered))
    try:
        return evaluate_outputs(outputs, prepared.eval_y, prepared.reference)
    except (ValueError, IndexError) as exc:  # shapes the original's outputs do not have
        raise DataError(str(exc)) from None


def _merge(device: Device, measurement: dict, unique: list, by_sha: dict, benched: list[dict], broken: dict,
           timed: dict, scored: dict, settings: Settings) -> tuple[dict, DeviceResults]:
    """Each artifact's :class:`OnDevice` for ``device`` (new figures over the earlier ones), and its results."""
    from edgekit.device_bench.conditions import Conditions
    from edgekit.device_bench.energy import EnergyEstimate

    sha_of = {str(f.path): f.sha256 for f in unique}  # the device's results name the local files
    spreads, run = from_interleaved(timed)
    latency = {sha_of[path]: spread for path, spread in spreads.items()}
    bench = {r["device"]["model_sha256"]: r for r in benched}
    new = dict(measurement)
    for sha, group in by_sha.items():
        r = bench.get(sha)
        for name in group:
            m = measurement[name]
            if sha in broken:
                on = OnDevice(device.name, failure=broken[sha])
            else:  # measured now, or earlier; an earlier failure is over
                on = replace(m.on(device.name) or OnDevice(device.name), failure=None)
            if r is not None:
                on = replace(on, load_ms=r.get("load_ms"), peak_rss_bytes=(r.get("memory") or {}).get("peak_rss_bytes"),
                             energy=from_json(tuple[EnergyEstimate, ...], r.get("energy") or [], "device energy"),
                             accelerator=r.get("accelerator"), transfer=from_json(DeviceRun, r["device"], "device"))
            on = replace(on, latency_ms=latency.get(sha), metrics=scored.get(sha, on.metrics))
            new[name] = replace(m, devices=(*(o for o in m.devices if o.device != device.name), on))
    method = run.method
    for path, sha in sha_of.items():
        method = method.replace(path, by_sha[sha][0])
    run = replace(run, baseline_artifact=by_sha[sha_of[run.baseline_artifact]][0], method=method)
    conditions = next((from_json(Conditions, r["conditions"], "device conditions") for r in benched
                       if r.get("conditions")), None)
    return new, DeviceResults(device.name, run=from_json(DeviceRun, timed["device"], "device"), conditions=conditions,
                              latency=run, accuracy=settings.device_accuracy)


def _store(variants: list[Variant], measurement: dict, out: Path) -> list[Variant]:
    """The variants with their new measurements, each written back to its result.json (so a re-run reuses them)."""
    stored = []
    for v in variants:
        if v.status == "done":
            arts = tuple(replace(a, measurement=measurement[f"{v.name}/{a.format}"]) for a in v.artifacts)
            if arts != v.artifacts:
                v = replace(v, artifacts=arts)
                write_text_atomic(out / "variants" / v.name / "result.json", json.dumps(to_json(v), indent=2))
        stored.append(v)
    return stored
