"""The machine conditions that change a benchmark result, read where the OS exposes them.

CPU model, cores, frequency governor, temperatures (``/sys/class/thermal``), Raspberry Pi throttling flags
(``vcgencmd get_throttled``), load average and library versions. Everything unreadable is ``None``: nothing is
guessed. :func:`snapshot` is taken before and after the timed runs; :func:`warnings_for` compares the two.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgekit._versions import package_versions

__all__ = ["Conditions", "Snapshot", "machine_conditions", "snapshot", "warnings_for"]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Readings that can change during a run."""

    temperatures_c: dict[str, float]
    cpu_freq_mhz: dict[str, float]  # current frequency per CPU, where readable
    throttled: str | None  # vcgencmd get_throttled value (hex), Raspberry Pi only
    load_average: tuple[float, float, float] | None


@dataclasses.dataclass(frozen=True)
class Conditions:
    machine: str
    system: str
    cpu_model: str | None
    device_model: str | None  # /proc/device-tree/model (Raspberry Pi, Jetson, ...)
    cores_logical: int | None
    cores_usable: int | None  # CPUs this process may run on
    governors: tuple[str, ...]  # distinct cpufreq governors across CPUs; empty when unreadable
    cpu_max_mhz: float | None
    python: str
    versions: dict[str, str]
    before: Snapshot | None = None
    after: Snapshot | None = None
    python_prefix: str | None = None  # sys.prefix: which environment (venv) ran the benchmark


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip().strip("\x00")
    except OSError:
        return None


def _cpu_model(root: Path) -> str | None:
    text = _read(root / "proc/cpuinfo") or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "hardware", "cpu model", "processor"):
        if fields.get(key) and not fields[key].isdigit():
            return fields[key]
    part = fields.get("cpu part")  # ARM: name the core from its part number
    arm = {"0xd03": "Cortex-A53", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76",
           "0xd05": "Cortex-A55", "0xd04": "Cortex-A35", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75"}
    if part:
        return f"ARM {arm.get(part.lower(), 'part ' + part)}"
    return platform.processor() or None


def machine_conditions(root: str | Path = "/") -> Conditions:
    """Static facts about the machine (``root`` lets tests point at a fake /proc and /sys)."""
    r = Path(root)
    cpus = sorted((r / "sys/devices/system/cpu").glob("cpu[0-9]*"))
    governors = sorted({g for c in cpus if (g := _read(c / "cpufreq/scaling_governor"))})
    max_khz = [float(v) for c in cpus if (v := _read(c / "cpufreq/cpuinfo_max_freq")) and v.isdigit()]
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return Conditions(
        machine=platform.machine(),
        system=f"{platform.system()} {platform.release()}",
        cpu_model=_cpu_model(r),
        device_model=_read(r / "proc/device-tree/model") or None,
        cores_logical=os.cpu_count(),
        cores_usable=usable,
        governors=tuple(governors),
        cpu_max_mhz=max(max_khz) / 1000 if max_khz else None,
        python=platform.python_version(),
        versions=package_versions(("edgekit", "ai-edge-litert", "tflite-runtime", "onnxruntime", "onnx", "numpy")),
        python_prefix=sys.prefix,
    )


def _vcgencmd_throttled() -> str | None:
    exe = shutil.which("vcgencmd")
    if not exe:
        return None
    try:
        done = subprocess.run([exe, "get_throttled"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()  # "throttled=0x0"
    return out.partition("=")[2] or None if done.returncode == 0 else None


def snapshot(root: str | Path = "/") -> Snapshot:
    r = Path(root)
    temps: dict[str, float] = {}
    for zone in sorted((r / "sys/class/thermal").glob("thermal_zone*")):
        raw = _read(zone / "temp")
        if raw and raw.lstrip("-").isdigit():
            name = _read(zone / "type") or zone.name
            key = name if name not in temps else f"{name}:{zone.name}"
            temps[key] = int(raw) / 1000.0
    freqs = {}
    for cpu in sorted((r / "sys/devices/system/cpu").glob("cpu[0-9]*")):
        raw = _read(cpu / "cpufreq/scaling_cur_freq")
        if raw and raw.isdigit():
            freqs[cpu.name] = int(raw) / 1000.0
    try:
        load = os.getloadavg() if str(root) == "/" else None
    except OSError:
        load = None
    return Snapshot(
        temperatures_c=temps,
        cpu_freq_mhz=freqs,
        throttled=_vcgencmd_throttled() if str(root) == "/" else None,
        load_average=tuple(round(x, 2) for x in load) if load else None,
    )


# vcgencmd get_throttled bits (https://www.raspberrypi.com/documentation/computers/os.html#get_throttled)
_THROTTLE_BITS = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}


def _throttle_flags(value: str | None) -> int:
    try:
        return int(value, 16) if value else 0
    except ValueError:
        return 0


def warnings_for(cond: Conditions, threads: int | None = None) -> list[str]:
    """What a reader of the numbers should be told: a non-performance governor, throttling, a busy machine."""
    out = []
    others = [g for g in cond.governors if g != "performance"]
    if others:
        out.append(f"CPU frequency governor is {'/'.join(cond.governors)}, not 'performance': latency varies with "
                   "the clock (set it with: sudo cpupower frequency-set -g performance)")
    before, after = cond.before, cond.after
    if after is not None:
        now = _throttle_flags(after.throttled)
        was = _throttle_flags(before.throttled) if before else 0
        active = [name for bit, name in _THROTTLE_BITS.items() if now & (1 << bit)]
        new_since = [name for bit, name in _THROTTLE_BITS.items()
                     if (now & (1 << (bit + 16))) and not (was & (1 << (bit + 16)))]
        if active or new_since:
            out.append("the device throttled during the run (" + ", ".join(sorted(set(active + new_since)))
                       + f"; vcgencmd get_throttled={after.throttled}): figures are lower than the device can do")
        if before is not None and before.cpu_freq_mhz and after.cpu_freq_mhz:
            drop = [c for c, f in after.cpu_freq_mhz.items() if f < 0.9 * before.cpu_freq_mhz.get(c, f)]
            if drop and not others:
                out.append(f"CPU frequency dropped during the run on {', '.join(drop)} (thermal or power limit?)")
        hot = {k: v for k, v in after.temperatures_c.items() if v >= 80.0}
        if hot:
            out.append("high temperature after the run: " + ", ".join(f"{k} {v:.0f} °C" for k, v in hot.items())
                       + " (throttling likely; add cooling or pause between runs)")
    if before is not None and before.load_average and cond.cores_usable:
        busy = before.load_average[0]
        if busy > 0.5 * cond.cores_usable:
            out.append(f"the machine was busy before the run (1-min load average {busy} on {cond.cores_usable} "
                       "cores): other processes compete for the CPU")
    if threads and cond.cores_usable and threads > cond.cores_usable:
        out.append(f"{threads} threads on {cond.cores_usable} usable cores: threads compete for cores")
    return out


def describe(cond: Conditions) -> dict[str, Any]:
    """A short flat summary for tables."""
    return {
        "cpu": cond.cpu_model,
        "device": cond.device_model,
        "cores": cond.cores_usable,
        "governor": "/".join(cond.governors) or None,
        "python": sys.version.split()[0],
    }
