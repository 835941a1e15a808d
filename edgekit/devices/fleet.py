"""Benchmark models on one device or a fleet: push (content-addressed), run the device's ``edgekit bench``, pull.

Devices run concurrently (one SSH connection each; the models run one after another on each device). A device that
fails is one :class:`DeviceFailure` naming it; the other devices' results are kept. Results of an earlier run
(``previous``, e.g. the ``-o`` file of that run) with the same device, model content and settings are reused, so a
re-run after a failure resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from edgekit.devices.inventory import Device, DeviceRun
from edgekit.errors import DeviceError, EdgekitError, RemoteCommandError

__all__ = ["BenchSettings", "DeviceFailure", "FleetResult", "LocalFile", "Session", "bench_on_devices", "explain_failure",
           "interleave_on_device", "local_models", "run_on_devices"]


@dataclass(frozen=True)
class BenchSettings:
    """What ``edgekit bench`` is asked to do on every device (the device's inventory entry may name the
    accelerator and device profile when these are ``None``)."""

    threads: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1,)
    accelerator: str | None = None
    runs: int | None = None
    min_time: float | None = None
    warmup: int = 5
    device_profile: str | None = None

    def for_device(self, device: Device) -> dict[str, Any]:
        """The settings a result from ``device`` carries (``edgekit bench``'s own ``settings`` block)."""
        return {"accelerator": self.accelerator or device.accelerator or "cpu", "runs": self.runs,
                "min_time": self.min_time, "warmup": self.warmup,
                "device_profile": self.device_profile or device.device_profile,
                "energy_command": device.energy_command}

    def arguments(self, device: Device) -> list[str]:
        s = self.for_device(device)
        args = ["--threads", ",".join(map(str, self.threads)), "--batch", ",".join(map(str, self.batches)),
                "--accelerator", s["accelerator"], "--warmup", str(self.warmup)]
        if self.runs is not None:
            args += ["--runs", str(self.runs)]
        if self.min_time is not None:
            args += ["--min-time", repr(float(self.min_time))]
        if s["device_profile"]:
            args += ["--device-profile", s["device_profile"]]
        if device.energy_command:
            args += ["--energy-command", device.energy_command]
            if device.energy_unit:
                args += ["--energy-unit", device.energy_unit]
        return args


@dataclass(frozen=True)
class DeviceFailure:
    device: str
    message: str


@dataclass(frozen=True)
class FleetResult:
    results: tuple[dict[str, Any], ...]  # edgekit bench results, each with a "device" block
    failures: tuple[DeviceFailure, ...] = ()
    reused: int = 0  # results taken from ``previous``
    seconds: float = 0.0
    per_device_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalFile:
    """A file to push: the device keeps it under its SHA-256, so the same content is sent once."""

    path: Path
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> LocalFile:
        from edgekit.devices.ssh import sha256_file

        return cls(Path(path), sha256_file(path))

    @property
    def remote_name(self) -> str:
        return f"models/{self.sha256}{self.path.suffix.lower()}"


def _key(device: str, sha: str, settings: dict[str, Any]) -> tuple:
    return (device, sha, settings.get("threads"), settings.get("batch"), settings.get("accelerator"),
            settings.get("runs"), settings.get("min_time"), settings.get("warmup"), settings.get("device_profile"),
            settings.get("energy_command"))


def local_models(models: Sequence[str | Path]) -> list[LocalFile]:
    """The models with their SHA-256; a missing, empty or foreign file is one clear line, before any connection."""
    from edgekit.device_bench import model_stats

    local: list[LocalFile] = []
    for m in models:
        model_stats(m)
        local.append(LocalFile.of(m))
        twin = next((o for o in local[:-1] if o.sha256 == local[-1].sha256), None)
        if twin is not None:
            raise EdgekitError(f"{twin.path} and {m} have the same content; give one of them")
    return local


def bench_on_devices(
    models: Sequence[str | Path],
    devices: Sequence[Device],
    settings: BenchSettings = BenchSettings(),
    accept_new_host_key: bool = False,
    previous: Sequence[dict[str, Any]] = (),
    concurrent: bool = True,
) -> FleetResult:
    """Benchmark every model on every device. Bad model files fail here, before any device is contacted."""
    if not models:
        raise EdgekitError("give at least one model to benchmark on the device")
    if not devices:
        raise EdgekitError("give at least one device (--device NAME)")
    local = local_models(models)
    done = {}
    for r in previous:
        dev = r.get("device") or {}
        done[_key(dev.get("name"), dev.get("model_sha256"), r.get("settings") or {})] = r

    def wanted(device: Device, m: LocalFile) -> list[tuple]:
        base = settings.for_device(device)
        return [_key(device.name, m.sha256, {**base, "threads": t, "batch": b})
                for t in settings.threads for b in settings.batches]

    plan: dict[str, list[LocalFile]] = {}
    reused: dict[str, list[dict[str, Any]]] = {}
    for device in devices:
        plan[device.name], reused[device.name] = [], []
        for m in local:
            keys = wanted(device, m)
            if all(k in done for k in keys):
                reused[device.name] += [done[k] for k in keys]
            else:
                plan[device.name].append(m)
    runs = run_on_devices([d for d in devices if plan[d.name]],
                          lambda session: session.bench(plan[session.device.name], settings), accept_new_host_key, concurrent)
    position = {m.sha256: i for i, m in enumerate(local)}
    results, failures = [], []
    for device in devices:
        outcome = runs.outcomes.get(device.name) or []
        if isinstance(outcome, DeviceFailure):
            failures.append(outcome)
            outcome = []
        mine = reused[device.name] + outcome
        mine.sort(key=lambda r: (position[r["device"]["model_sha256"]], r["settings"].get("threads") or 0,
                                 r["settings"].get("batch") or 0))
        results += mine
    return FleetResult(tuple(results), tuple(failures), sum(map(len, reused.values())), runs.seconds, runs.per_device_s)


@dataclass(frozen=True)
class Runs:
    outcomes: dict[str, Any]  # device name -> what the work returned, or a DeviceFailure
    seconds: float
    per_device_s: dict[str, float]


def run_on_devices(devices: Sequence[Device], work: Callable[[Session], Awaitable[Any]], accept_new_host_key: bool = False,
                   concurrent: bool = True) -> Runs:
    """``work`` on each device over one SSH connection each, the devices concurrently; a device that fails
    (unreachable, dropped, timed out, a failed remote edgekit: a :class:`DeviceError`) is a :class:`DeviceFailure`
    and the others go on."""
    from edgekit.devices.ssh import connect, gathered

    timings: dict[str, float] = {}

    async def one(device: Device) -> Any:
        start = time.perf_counter()
        try:
            async with connect(device, accept_new_host_key) as conn:
                return await work(Session(conn, device))
        except DeviceError as exc:
            return DeviceFailure(device.name, str(exc))
        finally:
            timings[device.name] = time.perf_counter() - start

    async def everything():
        if concurrent:
            return await gathered(*(one(d) for d in devices))
        return [await one(d) for d in devices]

    start = time.perf_counter()
    outcomes = asyncio.run(everything()) if devices else []
    return Runs({d.name: o for d, o in zip(devices, outcomes)}, time.perf_counter() - start, timings)


class Session:
    """edgekit's commands on one device, over one open connection: each pushes its models (content-addressed) and
    runs the device's own ``edgekit ... --json``."""

    def __init__(self, conn, device: Device):
        self.conn, self.device = conn, device

    async def edgekit(self, command: str, models: Sequence[LocalFile], args: Sequence[str]) -> tuple[Any, list[str], DeviceRun]:
        """Push ``models``, run ``edgekit COMMAND REMOTE_MODELS... ARGS --json``; return its JSON, the remote paths
        of the models, and how the transfer and run went."""
        from edgekit.devices.ssh import edgekit_command, push, run

        device = self.device
        push_start = time.perf_counter()
        remote, sent = await push(self.conn, device, [(m.path, m.remote_name) for m in models])
        push_s = time.perf_counter() - push_start
        done = await run(self.conn, device, edgekit_command(device, command, *remote, *args, "--json"))
        if done.exit_status != 0:
            raise RemoteCommandError(device.name, explain_failure(device, done.exit_status, done.stderr))
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise DeviceError(device.name, f"edgekit {command} on the device printed no JSON ({exc})") from None
        return data, remote, DeviceRun(**device.describe(), pushed_bytes=sent, push_s=round(push_s, 4),
                                       run_s=round(done.seconds, 4))

    async def bench(self, models: Sequence[LocalFile], settings: BenchSettings) -> list[dict[str, Any]]:
        """``edgekit bench`` of every model: its results, each with local paths and a ``device`` block."""
        from edgekit.device_bench.bench import check_results

        device = self.device
        data, remote, how = await self.edgekit("bench", models, settings.arguments(device))
        try:
            items = check_results(data, "its edgekit bench output")
        except EdgekitError as exc:
            raise DeviceError(device.name, str(exc)) from None
        by_remote = dict(zip(remote, models))
        expected = len(models) * len(settings.threads) * len(settings.batches)
        if len(items) != expected or any(r.get("model") not in by_remote for r in items):
            raise DeviceError(device.name, f"edgekit bench on the device returned {len(items)} results for other models "
                                           f"than the {expected} asked for")
        out = []
        for r in items:
            m = by_remote[r["model"]]
            stats = dict(r.get("stats") or {}, path=str(m.path))
            out.append(dict(r, model=str(m.path), stats=stats,
                            device=asdict(replace(how, model_sha256=m.sha256, remote_model=r["model"]))))
        return out

    async def interleave(self, models: Sequence[LocalFile], threads: int | None, accelerator: str | None) -> dict[str, Any]:
        """``edgekit bench --interleaved``: every model timed in rounds with the first (the baseline); the result
        is :class:`edgekit.device_bench.Interleaved` as a dict, with local paths and a ``device`` block."""
        device = self.device
        args = ["--interleaved", "--accelerator", accelerator or device.accelerator or "cpu"]
        if threads is not None:
            args += ["--threads", str(threads)]
        data, remote, how = await self.edgekit("bench", models, args)
        names = {r: str(m.path) for r, m in zip(remote, models)}
        spreads = data.get("spreads") if isinstance(data, dict) else None
        if not isinstance(spreads, list) or sorted(str(s.get("name")) for s in spreads) != sorted(names):
            raise DeviceError(device.name, "edgekit bench --interleaved on the device returned other models than asked")
        method = str(data.get("method", ""))
        for r, name in names.items():
            method = method.replace(r, name)
        return dict(data, baseline=names.get(data.get("baseline"), data.get("baseline")),
                    spreads=[dict(s, name=names[s["name"]]) for s in spreads], method=method, device=asdict(how))

    async def predict(self, model: LocalFile, inputs: LocalFile, local_out: Path, max_bytes: int, threads: int | None,
                      accelerator: str | None) -> list[str]:
        """``edgekit run`` of ``model`` on the ``inputs`` .npz, its outputs written there and copied to
        ``local_out`` (``arr_0``, ... in output order; at most ``max_bytes``); returns the output names."""
        from edgekit.devices.ssh import pull, push

        device = self.device
        (remote_inputs,), _ = await push(self.conn, device, [(inputs.path, inputs.remote_name)])
        remote_out = device.remote_path("outputs", f"{model.sha256[:16]}-{inputs.sha256[:16]}.npz")
        args = ["-i", remote_inputs, "--save-outputs", remote_out, "--top-k", "0",
                "--accelerator", accelerator or device.accelerator or "cpu"]
        if threads is not None:
            args += ["--threads", str(threads)]
        data, _, _ = await self.edgekit("run", [model], args)
        outputs = data.get("outputs") if isinstance(data, dict) else None
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs):
            raise DeviceError(device.name, "edgekit run on the device printed no outputs")
        await pull(self.conn, device, remote_out, local_out, max_bytes)
        return [o["name"] for o in outputs]


def interleave_on_device(models: Sequence[str | Path], device: Device, threads: int | None = 1,
                         accelerator: str | None = None, accept_new_host_key: bool = False) -> dict[str, Any]:
    """``edgekit bench --interleaved`` on the device (:meth:`Session.interleave`)."""
    local = local_models(models)
    outcome = run_on_devices([device], lambda session: session.interleave(local, threads, accelerator),
                             accept_new_host_key).outcomes[device.name]
    if isinstance(outcome, DeviceFailure):
        raise EdgekitError(outcome.message)
    return outcome


def explain_failure(device: Device, status: int | None, stderr: str) -> str:
    """One line saying why a remote edgekit command failed, and how to fix it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if status == 127:
        return (f"python {device.remote_python} not found on the device (run: edgekit devices setup {device.name}, "
                "or set 'python' in the inventory)")
    if any("No module named edgekit" in line for line in lines):
        return (f"edgekit is not installed for {device.remote_python} (run: edgekit devices setup {device.name})")
    errors = [line for line in lines if line.startswith("error:")]
    detail = (errors or lines or [f"exit status {status}"])[-1]
    return f"edgekit failed on the device: {detail.removeprefix('error: ')}"
