"""TensorFlow Lite Micro on this host: can TFLM run a ``.tflite``, with how small an arena, and what does it compute.

Everything native runs in a child process (``_tflm_child.py``, numpy + the ``tflite-micro`` wheel only), so a
model that crashes TFLM's kernels raises here instead of killing the caller. Never imports TensorFlow.

- :func:`resolver_check`: every op against TFLM's op resolver (``tflm_ops.yaml``: op -> MicroMutableOpResolver
  method); what the generated resolver snippet registers.
- :func:`run_tflm`: the smallest arena with which TFLM allocates and invokes (searched in 16-byte steps), the
  allocation breakdown TFLM's RecordingMicroAllocator prints, outputs on given inputs, and host invoke times.
- :func:`mcu_estimates`: cycles and time on named MCU profiles (``mcu_profiles.yaml``), a lower bound from MACs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from edgekit import tflite_file
from edgekit.errors import DependencyError, EdgekitError, TflmError

ARENA_STEP = 16  # TFLM aligns arena allocations to 16 bytes
MAX_ARENA = 64 * 1024 * 1024
CHILD_TIMEOUT_S = 600
ARENA_NOTE = (
    "measured with TFLM's reference kernels on a 64-bit host: on a 32-bit MCU the pointer-holding structures are "
    "smaller, but optimized kernels (CMSIS-NN) may ask for scratch buffers the reference kernels do not; check it "
    "on the board (RecordingMicroAllocator) before cutting the margin"
)
FLASH_NOTE = "flash here is the model's bytes; the TFLM runtime and the kernels you link add to it (depends on the build)"


@dataclass(frozen=True)
class Allocation:
    what: str  # e.g. "TfLiteEvalTensor data", "Persistent buffer data"
    used_bytes: int  # with alignment overhead
    requested_bytes: int
    count: int


@dataclass(frozen=True)
class ArenaSize:
    bytes: int  # the smallest arena with which TFLM allocated and invoked the model
    fails_at_bytes: int  # the largest size tried that TFLM refused
    tries: int
    head_bytes: int | None  # non-persistent (planned activations, scratch)
    tail_bytes: int | None  # persistent (tensors, node structs, kernel data)
    allocations: tuple[Allocation, ...]
    note: str = ARENA_NOTE


@dataclass(frozen=True)
class OpCheck:
    index: int
    op: str
    tensor: str  # the op's first output tensor name (the converter names it after the Keras layer)
    method: str | None  # the MicroMutableOpResolver method that registers it; None: TFLM has no kernel for it


@dataclass(frozen=True)
class TflmRun:
    arena: ArenaSize
    outputs: list[np.ndarray] | None  # per output, stacked over the given samples (batch 1 each)
    invoke_ms: tuple[float, ...]  # host-side TFLM invoke times on zeros (this machine, not the MCU)


def require() -> None:
    """DependencyError unless the tflite-micro wheel (cp311, Linux x86-64 only) imports here."""
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except ImportError:
        where = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
        raise DependencyError(
            f"tflite-micro (TFLite Micro's Python interpreter; its wheel exists for CPython 3.11 on Linux x86-64, "
            f"this is {where})", "mcu"
        ) from None


@lru_cache(maxsize=1)
def resolver_methods() -> dict[str, str]:
    """Builtin op name -> the MicroMutableOpResolver method that registers it (TFLM's op resolver list)."""
    return dict(yaml.safe_load(Path(__file__).with_name("tflm_ops.yaml").read_text())["ops"])


def resolver_check(path: str | os.PathLike) -> list[OpCheck]:
    """Every op of the primary subgraph, with the resolver method that registers it (None: not in TFLM)."""
    model, _ = tflite_file.read(path)
    names = tflite_file.operator_names(model)
    table = resolver_methods()
    sub = model.Subgraphs(0)
    checks = []
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        name = names[op.OpcodeIndex()]
        outputs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        tensor = sub.Tensors(outputs[0]).Name().decode("utf-8", "replace") if outputs and outputs[0] >= 0 else ""
        checks.append(OpCheck(i, name, tensor, table.get(name)))
    return checks


def used_methods(checks: Sequence[OpCheck]) -> list[str]:
    """The distinct resolver methods the model needs, in first-use order: what ``MicroMutableOpResolver<N>`` gets."""
    return list(dict.fromkeys(c.method for c in checks if c.method))


def _io_counts(path: Path) -> tuple[int, int]:
    model, _ = tflite_file.read(path)
    sub = model.Subgraphs(0)
    return sub.InputsLength(), sub.OutputsLength()


def run_tflm(path: str | os.PathLike, feed: Sequence[np.ndarray] | None = None, runs: int = 0,
             max_arena: int = MAX_ARENA) -> TflmRun:
    """Run ``path`` in TFLite Micro: arena search, then ``feed`` (arrays of the input dtype, samples first) one
    sample at a time, then ``runs`` timed invokes on zeros. TflmError if TFLM cannot allocate or invoke it."""
    from edgekit.runtime.verify import verify_tflite

    require()
    p = Path(path)
    verify_tflite(p.read_bytes(), p.name)  # structural checks in Python before native code reads it
    n_in, n_out = _io_counts(p)
    with tempfile.TemporaryDirectory(prefix="edgekit-tflm-") as tmp:
        feed_path = out_path = None
        if feed is not None:
            if len(feed) != n_in:
                raise EdgekitError(f"{p.name} has {n_in} input(s); got {len(feed)} array(s)")
            feed_path, out_path = os.path.join(tmp, "feed.npz"), os.path.join(tmp, "out.npz")
            np.savez(feed_path, **{f"in{i}": np.ascontiguousarray(a) for i, a in enumerate(feed)})
        request = {"model": str(p.resolve()), "inputs": n_in, "outputs": n_out, "feed": feed_path, "out": out_path,
                   "max_arena": int(max_arena), "step": ARENA_STEP, "runs": int(runs)}
        child = Path(__file__).with_name("_tflm_child.py")
        try:
            done = subprocess.run([sys.executable, str(child)], input=json.dumps(request), capture_output=True,
                                  text=True, timeout=CHILD_TIMEOUT_S, env={**os.environ, "PYTHONPATH": ""})
        except subprocess.TimeoutExpired:
            raise TflmError(f"TFLite Micro did not finish {p.name} within {CHILD_TIMEOUT_S} s") from None
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit code {done.returncode}"
            raise TflmError(f"TFLite Micro crashed on {p.name} ({how}): {tail[:300]}", log=done.stderr)
        reply = json.loads(done.stdout.strip().splitlines()[-1])
        if not reply["ok"]:
            raise _incompatible(p, reply["log"], reply["max_arena"])
        outputs = None
        if out_path and os.path.exists(out_path):
            with np.load(out_path, allow_pickle=False) as data:
                outputs = [data[f"out{j}"] for j in range(n_out)]
    return TflmRun(_arena(reply), outputs, tuple(reply["invoke_ms"]))


_NODE = re.compile(r"Node (\w+) \(number (\d+)\)")
_OPCODE = re.compile(r"(?:opcode|op) '?([A-Z][A-Z0-9_]+)'?")


def _incompatible(path: Path, log: str, max_arena: int) -> TflmError:
    lines = [l.strip() for l in log.splitlines() if l.strip()]
    ops: list[tuple[int | None, str]] = [(int(m.group(2)), m.group(1)) for m in _NODE.finditer(log)]
    ops = list(dict.fromkeys(ops or [(None, m.group(1)) for m in _OPCODE.finditer(log)]))
    said = "; ".join(lines[:2])[:300] or "no message"
    if ops:
        what = ", ".join(f"op {i} {op}" if i is not None else op for i, op in ops)
        return TflmError(f"TFLite Micro cannot run {path.name}: {what} failed ({said})", ops, log)
    if "TFLM aborted" in log:
        return TflmError(f"TFLite Micro aborted (SIGABRT) preparing {path.name} with every arena up to "
                         f"{max_arena // 1024} KB, without naming an op: a kernel's check failed on this model's "
                         "quantization parameters (seen with degenerate activation ranges, e.g. an untrained model "
                         "calibrated on random data)", ops, log)
    return TflmError(f"TFLite Micro could not allocate {path.name} even with a {max_arena // 1024} KB arena: {said}",
                     ops, log)


_TOTALS = re.compile(r"Arena allocation (head|tail|total) (\d+) bytes")
_ALLOC = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+) ")


def _arena(reply: dict) -> ArenaSize:
    text = reply["allocations"]
    totals = {k: int(v) for k, v in _TOTALS.findall(text)}
    allocations = tuple(Allocation(w, int(u), int(r), int(c)) for w, u, r, c in _ALLOC.findall(text))
    return ArenaSize(reply["arena"], reply["fails_at"], reply["tries"], totals.get("head"), totals.get("tail"),
                     allocations)


# ---- MCU estimates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McuProfile:
    name: str
    core: str
    clock_mhz: float
    ram_kb: float | None
    flash_kb: float | None
    peak_int8_macs_per_cycle: float
    description: str
    source: str


@dataclass(frozen=True)
class McuEstimate:
    profile: str
    core: str
    clock_mhz: float
    cycles_at_least: int  # MACs / peak MACs per cycle
    ms_at_least: float
    fits_ram: bool | None  # arena <= on-chip RAM (None: RAM unknown)
    fits_flash: bool | None  # model bytes <= on-chip flash
    label: str = "estimate: lower bound from MACs at the core's peak int8 MAC rate, not a measurement"


@lru_cache(maxsize=1)
def mcu_profiles() -> dict[str, McuProfile]:
    data = yaml.safe_load(Path(__file__).with_name("mcu_profiles.yaml").read_text())["profiles"]
    return {name: McuProfile(name=name, **fields) for name, fields in data.items()}


def mcu_estimates(macs: int | None, arena_bytes: int, flash_bytes: int, names: Sequence[str] | None = None) -> list[McuEstimate]:
    """Per MCU profile (``names``, default all): cycles and ms at the peak MAC rate, and whether it fits."""
    table = mcu_profiles()
    unknown = [n for n in names or () if n not in table]
    if unknown:
        raise EdgekitError(f"unknown MCU profile {', '.join(unknown)}; choose from {', '.join(table)}")
    out = []
    for name in names or table:
        prof = table[name]
        cycles = int(np.ceil(macs / prof.peak_int8_macs_per_cycle)) if macs else 0
        out.append(McuEstimate(
            profile=name, core=prof.core, clock_mhz=prof.clock_mhz, cycles_at_least=cycles,
            ms_at_least=cycles / (prof.clock_mhz * 1e3),
            fits_ram=None if prof.ram_kb is None else arena_bytes <= prof.ram_kb * 1024,
            fits_flash=None if prof.flash_kb is None else flash_bytes <= prof.flash_kb * 1024,
        ))
    return out


# ---- edgekit bench --engine tflm ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TflmBench:
    model: str
    flash_bytes: int  # the model's bytes (see FLASH_NOTE)
    arena: ArenaSize
    ops: tuple[str, ...]  # resolver methods the model needs
    macs: int | None  # per inference (graph_stats)
    host_latency_ms: Any  # LatencyStats of TFLM invoke on this host: "host", never an MCU figure
    host_load_average: tuple[float, float, float] | None  # 1/5/15-min load average while it ran
    estimates: tuple[McuEstimate, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def bench_tflm(path: str | os.PathLike, runs: int = 50, profiles: Sequence[str] | None = None) -> TflmBench:
    """Arena, flash, host-side TFLM latency, MACs and MCU cycle estimates for a ``.tflite``."""
    from edgekit.device_bench.graph_stats import model_stats
    from edgekit.device_bench.latency import latency_stats

    p = Path(path)
    stats = model_stats(p)  # clear errors on missing / foreign files, before TFLM starts
    if stats.format != "tflite":
        raise EdgekitError(f"--engine tflm runs .tflite models; {p.name} is {stats.format}")
    mcu_estimates(None, 0, 0, profiles)  # unknown profile names fail before the run
    checks = resolver_check(p)
    missing = [c for c in checks if c.method is None]
    if missing:
        raise TflmError(f"TFLite Micro cannot run {p.name}: " + ", ".join(f"op {c.index} {c.op}" for c in missing)
                        + " not in TFLite Micro's op resolver", [(c.index, c.op) for c in missing])
    run = run_tflm(p, runs=max(1, runs))
    notes = [ARENA_NOTE, FLASH_NOTE, "latency: TFLM's reference kernels on this host, not on an MCU"]
    if stats.macs is None:
        notes.append("MACs could not be counted, so there are no MCU estimates: " + "; ".join(stats.notes))
    return TflmBench(
        model=str(p),
        flash_bytes=stats.file_bytes,
        arena=run.arena,
        ops=tuple(used_methods(checks)),
        macs=stats.macs,
        host_latency_ms=latency_stats(run.invoke_ms),
        host_load_average=tuple(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        estimates=tuple(mcu_estimates(stats.macs, run.arena.bytes, stats.file_bytes, profiles)) if stats.macs else (),
        notes=tuple(notes),
    )


def bench_report(results: Sequence[TflmBench]) -> str:
    from edgekit._table import human_bytes, render

    rows = [[Path(r.model).name, f"{r.arena.bytes} B", f"{r.flash_bytes} B ({human_bytes(r.flash_bytes)})",
             len(r.ops), f"{r.macs / 1e6:.3f} M" if r.macs else "n/a", f"{r.host_latency_ms.p50:.3f}",
             f"{r.host_latency_ms.min:.3f}", r.host_latency_ms.runs] for r in results]
    parts = [render(["model", "arena", "flash (model)", "ops", "MACs", "host p50 ms", "host min ms", "runs"], rows)]
    est = [[Path(r.model).name, e.profile, e.core, f"{e.clock_mhz:g} MHz", f"{e.cycles_at_least:,}",
            f"{e.ms_at_least:.3f}", {True: "yes", False: "no", None: "?"}[e.fits_ram],
            {True: "yes", False: "no", None: "?"}[e.fits_flash]] for r in results for e in r.estimates]
    if est:
        parts += ["", render(["model", "MCU profile", "core", "clock", "cycles >=", "ms >=", "arena fits RAM",
                              "fits flash"], est),
                  "MCU figures: " + results[0].estimates[0].label + " (edgekit/device_bench/mcu_profiles.yaml)"]
    load = results[0].host_load_average
    if load:
        parts.append(f"host load average while measuring: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    parts.extend(f"note: {n}" for n in results[0].notes)
    return "\n".join(parts)
