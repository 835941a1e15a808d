"""Energy per inference, three ways, each labelled with its method and units and never mixed up.

1. ``op-count``: MACs by data type × energy per operation + bytes moved × energy per byte, from the 45 nm table of
   M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 10-14
   (doi:10.1109/ISSCC.2014.6757323), in the form popularised by Han et al., "EIE", ISCA 2016 (table I):
   int8 add 0.03 pJ, int8 mult 0.2 pJ, int32 add 0.1 pJ, int32 mult 3.1 pJ, fp16 add 0.4 pJ, fp16 mult 1.1 pJ,
   fp32 add 0.9 pJ, fp32 mult 3.7 pJ, 32-bit SRAM read 5 pJ, 32-bit DRAM read 640 pJ. A relative figure for
   comparing variants of one network on a 45 nm-class design, not what a given board draws.
   Model: each MAC = one mult + one add of its data type (int16 and other types without a published entry use
   the 32-bit integer figures, an upper bound); each element-wise op = one add of its output type; all weights
   are read once per inference from DRAM; every activation byte read or written by an op costs an SRAM access.
2. ``time×power``: measured mean latency × the published active power of a device profile
   (``device_profiles.yaml``; user-definable). Meaningful only when measured on that device.
3. ``measured``: an energy counter read over the timed window: Linux RAPL (``/sys/class/powercap``) or a
   user command that prints joules (a cumulative counter) or watts (sampled while the runs go on). Includes
   everything the counter sees (idle power, other processes).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

__all__ = [
    "DeviceProfile",
    "EnergyEstimate",
    "HOROWITZ_45NM_PJ",
    "device_profiles",
    "get_device_profile",
    "op_count_energy",
    "time_power_energy",
    "RaplMeter",
    "CommandMeter",
    "energy_meter",
]

HOROWITZ_SOURCE = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, 45 nm "
    "(doi:10.1109/ISSCC.2014.6757323)"
)

# pJ per operation / per 32-bit access, 45 nm (Horowitz, ISSCC 2014). Keys: data type -> {"add", "mult"}.
HOROWITZ_45NM_PJ: dict[str, dict[str, float]] = {
    "int8": {"add": 0.03, "mult": 0.2},
    "int32": {"add": 0.1, "mult": 3.1},
    "float16": {"add": 0.4, "mult": 1.1},
    "float32": {"add": 0.9, "mult": 3.7},
}
SRAM_READ_32BIT_PJ = 5.0
DRAM_READ_32BIT_PJ = 640.0
_ALIASES = {"uint8": "int8", "int4": "int8", "uint4": "int8", "bfloat16": "float16"}


ENERGY_UNITS = "uJ/inference"  # every method reports in µJ, so figures side by side compare


@dataclasses.dataclass(frozen=True)
class EnergyEstimate:
    """One energy figure and how it was obtained. ``value`` is None when the method is unavailable (``reason``)."""

    method: str  # "op-count" | "time×power" | "measured"
    units: str  # ENERGY_UNITS for every method
    value: float | None
    per_item: float | None = None
    reason: str = ""  # why unavailable, or caveats
    source: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.value is not None


def _pj(dtype: str, kind: str) -> tuple[float, bool]:
    """Energy of one op of ``kind`` in ``dtype``, and whether it is a stand-in (no published entry)."""
    key = _ALIASES.get(dtype, dtype)
    if key in HOROWITZ_45NM_PJ:
        return HOROWITZ_45NM_PJ[key][kind], False
    if key.startswith("float"):
        return HOROWITZ_45NM_PJ["float32"][kind], True
    return HOROWITZ_45NM_PJ["int32"][kind], True


def op_count_energy(stats: Any, batch: int = 1) -> EnergyEstimate:
    """Method 1 for a :class:`~edgekit.device_bench.graph_stats.ModelStats`, per inference of ``batch`` items."""
    if stats.macs is None or stats.weight_bytes is None:
        return EnergyEstimate("op-count", ENERGY_UNITS, None, reason="MACs could not be counted: "
                              + "; ".join(stats.notes), source=HOROWITZ_SOURCE)
    stand_ins = set()
    compute_pj = 0.0
    for dtype, macs in stats.macs_by_dtype.items():
        mult, s1 = _pj(dtype, "mult")
        add, s2 = _pj(dtype, "add")
        compute_pj += macs * (mult + add)
        if s1 or s2:
            stand_ins.add(dtype)
    elementwise_pj = 0.0
    for dtype, ops in stats.elementwise_by_dtype.items():
        add, stand_in = _pj(dtype, "add")
        elementwise_pj += ops * add
        if stand_in:
            stand_ins.add(dtype)
    weights_pj = stats.weight_bytes / 4 * DRAM_READ_32BIT_PJ
    activations_pj = stats.activation_bytes / 4 * SRAM_READ_32BIT_PJ
    total_uj = (batch * (compute_pj + elementwise_pj + activations_pj) + weights_pj) / 1e6
    reason = ""
    if stand_ins:
        reason = (f"no 45 nm figure for {', '.join(sorted(stand_ins))}: used the 32-bit "
                  "integer (or fp32) figures, an upper bound")
    return EnergyEstimate(
        method="op-count",
        units=ENERGY_UNITS,
        value=total_uj,
        per_item=total_uj / batch,
        reason=reason,
        source=HOROWITZ_SOURCE,
        details={
            "compute_uj": batch * compute_pj / 1e6,
            "elementwise_uj": batch * elementwise_pj / 1e6,
            "weights_dram_uj": weights_pj / 1e6,
            "activations_sram_uj": batch * activations_pj / 1e6,
            "table_pj": HOROWITZ_45NM_PJ,
            "sram_read_32bit_pj": SRAM_READ_32BIT_PJ,
            "dram_read_32bit_pj": DRAM_READ_32BIT_PJ,
        },
    )


# ---- device profiles ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str
    active_power_w: float
    source: str
    note: str = ""
    checked: str = ""  # when someone checked active_power_w against the source (a date); empty: unverified

    @property
    def citation(self) -> str:
        """The source as every output shows it: with the date it was checked, or marked unverified."""
        if self.checked:
            return f"{self.source} (checked {self.checked})"
        return f"{self.source} (UNVERIFIED: figure not checked against this source)"

    def __post_init__(self) -> None:
        if not isinstance(self.active_power_w, (int, float)) or not self.active_power_w > 0:
            raise EdgekitError(f"device profile {self.name!r}: active_power_w must be a number > 0 watts, "
                               f"got {self.active_power_w!r}")
        if not self.source:
            raise EdgekitError(f"device profile {self.name!r}: give a 'source' for its power figure (URL or citation)")


_PROFILE_KEYS = {"description", "active_power_w", "source", "note", "checked"}


def _read_profiles(path: Path) -> dict[str, DeviceProfile]:
    from edgekit._fs import check_input_path
    from edgekit._yaml import load_yaml

    try:
        text = check_input_path(path, "device profile file", EdgekitError).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"could not read device profiles from {path}: {exc}") from None
    data = load_yaml(text, f"device profile file {path}", EdgekitError)
    table = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise EdgekitError(f"{path}: expected a mapping 'profiles: {{name: {{active_power_w, source, ...}}}}'")
    out = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise EdgekitError(f"{path}: profile {name!r} must be a mapping with active_power_w and source")
        unknown = set(entry) - _PROFILE_KEYS
        if unknown:
            raise EdgekitError(f"{path}: profile {name!r} has unknown keys {sorted(unknown)}; "
                               f"allowed: {sorted(_PROFILE_KEYS)}")
        if "active_power_w" not in entry:
            raise EdgekitError(f"{path}: profile {name!r} needs active_power_w (watts)")
        out[str(name)] = DeviceProfile(
            name=str(name),
            description=str(entry.get("description", "")),
            active_power_w=entry["active_power_w"],
            source=str(entry.get("source", "")),
            note=str(entry.get("note", "")),
            checked=str(entry.get("checked") or ""),
        )
    return out


def device_profiles(path: str | Path | None = None) -> dict[str, DeviceProfile]:
    """The built-in profiles, plus (replacing same-named ones) those in the YAML file at ``path``."""
    profiles = _read_profiles(Path(__file__).with_name("device_profiles.yaml"))
    if path is not None:
        profiles.update(_read_profiles(Path(path)))
    return profiles


def get_device_profile(name: str, path: str | Path | None = None) -> DeviceProfile:
    profiles = device_profiles(path)
    if name not in profiles:
        raise EdgekitError(f"unknown device profile {name!r}; available: {', '.join(sorted(profiles))} "
                           "(or define one in a YAML file and pass it with --device-profiles FILE)")
    return profiles[name]


def time_power_energy(latency_ms: float, profile: DeviceProfile | None, batch: int = 1) -> EnergyEstimate:
    """Method 2: mean latency × the profile's active power, in µJ per inference (the unit of every method)."""
    if profile is None:
        return EnergyEstimate("time×power", ENERGY_UNITS, None,
                              reason="no device profile given (--device-profile NAME)")
    uj = latency_ms * profile.active_power_w * 1e3  # ms × W = mJ
    return EnergyEstimate(
        method="time×power",
        units=ENERGY_UNITS,
        value=uj,
        per_item=uj / batch,
        reason=f"estimate: {profile.name} at {profile.active_power_w} W ({profile.note}); meaningful only when "
               "measured on that device",
        source=profile.citation,
        details={"profile": profile.name, "active_power_w": profile.active_power_w, "latency_ms": latency_ms},
    )


# ---- measured energy ----------------------------------------------------------------------------------

class RaplMeter:
    """Linux RAPL package counters under ``/sys/class/powercap`` (``intel-rapl:N/energy_uj``), wrap-around safe."""

    name = "rapl"

    def __init__(self, root: str | Path = "/sys/class/powercap"):
        self.root = Path(root)
        self.domains = []
        for d in sorted(self.root.glob("intel-rapl:*")):
            if d.name.count(":") != 1:  # sub-domains (core, uncore, dram) are inside the package figure
                continue
            try:
                int((d / "energy_uj").read_text())
            except (OSError, ValueError):
                continue
            self.domains.append(d)
        self._start: list[int] = []

    @property
    def unavailable_reason(self) -> str:
        if self.domains:
            return ""
        if not self.root.exists():
            return f"no RAPL energy counter here ({self.root} does not exist)"
        return f"no readable RAPL package counter under {self.root} (energy_uj needs read permission, often root)"

    def _read(self) -> list[int]:
        return [int((d / "energy_uj").read_text()) for d in self.domains]

    def start(self) -> None:
        self._start = self._read()

    def stop(self, window_s: float | None = None) -> float:
        """Joules since :meth:`start`, summed over packages."""
        total = 0
        for d, before, after in zip(self.domains, self._start, self._read()):
            delta = after - before
            if delta < 0:
                try:
                    delta += int((d / "max_energy_range_uj").read_text())
                except (OSError, ValueError):
                    delta = 0
            total += delta
        return total / 1e6

    def describe(self) -> str:
        return "Linux RAPL " + ", ".join(f"{d.name}" for d in self.domains) + " (whole CPU package)"


_READING = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(uJ|µJ|mJ|J|uW|µW|mW|W)?\s*$")
_SCALE = {"uJ": 1e-6, "µJ": 1e-6, "mJ": 1e-3, "J": 1.0, "uW": 1e-6, "µW": 1e-6, "mW": 1e-3, "W": 1.0}


class CommandMeter:
    """A user command that prints one reading: joules (a cumulative counter, read before and after the window)
    or watts (instantaneous power, sampled in a background thread while the window runs: each sample starts a
    process, which costs the timed runs a little CPU). The unit comes from the output
    (``12.5 J``, ``3.1 W``, ``830 mW``) or from ``unit`` for a bare number."""

    name = "command"

    def __init__(self, command: str, unit: str | None = None, interval_s: float = 0.05, timeout_s: float = 10.0):
        self.argv = shlex.split(command)
        if not self.argv:
            raise EdgekitError("empty --energy-command; give a command that prints joules or watts, e.g. 'ina219 --watts'")
        if unit is not None and unit not in _SCALE:
            raise EdgekitError(f"unknown energy unit {unit!r}; allowed: {', '.join(_SCALE)}")
        self.command = command
        self.unit = unit
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.unavailable_reason = ""
        self.kind, _ = self._read()  # fails early (clear error) if the command does not work
        self._before = 0.0
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def _read(self) -> tuple[str, float]:
        try:
            done = subprocess.run(self.argv, capture_output=True, text=True, timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EdgekitError(f"energy command {self.command!r} failed: {exc}") from exc
        if done.returncode != 0:
            raise EdgekitError(f"energy command {self.command!r} exited {done.returncode}: "
                               f"{(done.stderr or done.stdout).strip()[:200]}")
        lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
        match = _READING.match(lines[-1]) if lines else None
        unit = (match.group(2) if match else None) or self.unit
        if not match or unit is None:
            raise EdgekitError(f"energy command {self.command!r} printed {done.stdout.strip()[:80]!r}; it must print "
                               "one number with a unit (J, mJ, uJ, W, mW, uW), e.g. '3.2 W', or pass the unit")
        value = float(match.group(1)) * _SCALE[unit]
        return ("joules" if unit.endswith("J") else "watts"), value

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._samples.append(self._read()[1])
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        if self.kind == "joules":
            self._before = self._read()[1]
            return
        self._samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="edgekit-energy", daemon=True)
        self._thread.start()

    def stop(self, window_s: float | None = None) -> float:
        """Joules over the window: counter difference, or mean sampled watts × ``window_s`` (the timed window
        as the caller measured it; by default the time since :meth:`start`)."""
        elapsed = window_s if window_s is not None else time.perf_counter() - self._t0
        if self.kind == "joules":
            return self._read()[1] - self._before
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self._samples:
            self._samples.append(self._read()[1])
        return sum(self._samples) / len(self._samples) * elapsed

    def describe(self) -> str:
        return f"command {self.command!r} ({self.kind})"


def energy_meter(command: str | None = None, unit: str | None = None,
                 rapl_root: str | Path = "/sys/class/powercap") -> RaplMeter | CommandMeter:
    """The user's command when given, else RAPL (possibly unavailable: see ``unavailable_reason``)."""
    if command:
        return CommandMeter(command, unit=unit)
    return RaplMeter(rapl_root)


def measured_energy(joules: float | None, runs: int, batch: int, meter: Any, reason: str = "") -> EnergyEstimate:
    if joules is None:
        return EnergyEstimate("measured", ENERGY_UNITS, None, reason=reason or meter.unavailable_reason)
    uj = joules * 1e6 / runs
    return EnergyEstimate(
        method="measured",
        units=ENERGY_UNITS,
        value=uj,
        per_item=uj / batch,
        reason="counter over the timed window: includes idle power and anything else the counter sees",
        source=meter.describe(),
        details={"joules_total": joules, "runs": runs},
    )
