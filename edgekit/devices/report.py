"""Plain-text tables for device results: a fleet (model × device) and device checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgekit._table import human_bytes, render

__all__ = ["check_table", "fleet_table"]


def _energy(result: dict[str, Any], method: str) -> str:
    for e in result.get("energy") or []:
        if e.get("method") == method and e.get("value") is not None:
            return f"{e['value']:.4g} {e.get('units', '')}".strip()
    return "-"


def fleet_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per model × device × setting, measured on that device."""
    if not results:
        return "no results"
    rows = []
    for r in results:
        lat, cond, dev = r["latency"], r.get("conditions") or {}, r.get("device") or {}
        rows.append([
            Path(r["model"]).name, dev.get("name", "(this machine)"), f"{r.get('accelerator')}/{r.get('backend')}",
            r["settings"].get("threads"), r["settings"].get("batch"), lat.get("runs"), f"{lat['p50']:.4g}",
            f"{lat['mean']:.4g}±{lat['std']:.2g}", f"{r.get('items_per_s', 0):.1f}",
            human_bytes((r.get("memory") or {}).get("peak_increase_bytes")), _energy(r, "time×power"),
            cond.get("device_model") or cond.get("cpu_model") or "?",
        ])
    return render(["model", "device", "runtime", "thr", "batch", "runs", "p50 ms", "mean±std ms", "items/s", "+RSS",
                   "time×power", "cpu"], rows)


def check_table(checks: Sequence[Any]) -> str:
    rows, lines = [], []
    for c in checks:
        info = c.info or {}
        packages = info.get("packages") or {}
        temps = info.get("temperatures_c") or {}
        accel = ", ".join(f"{k}: {'/'.join(v)}" for k, v in (info.get("accelerators") or {}).items())
        rows.append([c.device, c.address, "yes" if c.ready else "NO", info.get("python", "-"), info.get("edgekit", "-"),
                     packages.get("ai-edge-litert", "-"), packages.get("onnxruntime", "-"), info.get("cpu") or "-",
                     "/".join(info.get("governors") or []) or "-",
                     f"{max(temps.values()):.0f} °C" if temps else "-", accel or "-"])
        lines += [f"{c.device}: {p}" for p in c.problems] + [f"{c.device}: note: {n}" for n in c.notes]
    table = render(["device", "address", "ready", "python", "edgekit", "litert", "onnxruntime", "cpu", "governor",
                    "temp", "accelerators"], rows)
    return "\n".join([table, *lines])
