"""Plain-text reports of bench results, op profiles and comparisons (what ``edgekit bench`` prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgekit._table import fmt, human_bytes, render

__all__ = ["interleaved_report", "results_report", "op_profile_report", "op_diff_report", "comparison_report"]


def _energy(result: Any, method: str) -> str:
    for e in result.energy:
        if e.method == method:
            return f"{e.value:.4g}" if e.value is not None else "n/a"
    return "n/a"


def results_report(results: Sequence[Any]) -> str:
    if not results:
        return "no results"
    rows = []
    for r in results:
        lat = r.latency
        rows.append([
            Path(r.model).name, f"{r.accelerator}/{r.backend}", r.settings.get("threads"), r.settings.get("batch"),
            lat.runs, f"{lat.p50:.4g}", f"{lat.mean:.4g}±{lat.std:.2g}", f"{lat.min:.4g}", f"{lat.p90:.4g}",
            f"{lat.p99:.4g}", f"{lat.max:.4g}", f"{r.items_per_s:.1f}", f"{r.load_ms:.1f}", f"{r.first_ms:.3g}",
            human_bytes(r.memory.peak_increase_bytes),
            f"{r.gmacs_per_s:.2f}" if r.gmacs_per_s else "-",
        ])
    parts = [render(["model", "runtime", "thr", "batch", "runs", "p50 ms", "mean±std ms", "min", "p90", "p99", "max",
                     "items/s", "load ms", "first ms", "+RSS", "GMAC/s"], rows)]
    seen: set[str] = set()
    size_rows = []
    for r in results:
        if r.model in seen:
            continue
        seen.add(r.model)
        s = r.stats
        dtypes = ", ".join(f"{k} {human_bytes(v)}" for k, v in sorted(s.bytes_by_dtype.items(), key=lambda kv: -kv[1]))
        size_rows.append([Path(r.model).name, human_bytes(s.file_bytes), human_bytes(s.gzip_bytes),
                          fmt(s.params) if s.params is not None else "n/a",
                          f"{s.macs / 1e6:.2f} M" if s.macs is not None else "n/a", dtypes or "-",
                          "yes" if r.fully_delegated else ("no" if r.fully_delegated is False else "-")])
    parts.append("")
    parts.append(render(["model", "file", "gzip", "params", "MACs/item", "weights by dtype", "fully delegated"],
                        size_rows))
    energy_rows = []
    for r in results:
        energy_rows.append([Path(r.model).name, r.settings.get("threads"), r.settings.get("batch"),
                            _energy(r, "op-count"), _energy(r, "time×power"), _energy(r, "measured")])
    parts.append("")
    parts.append(render(["model", "thr", "batch", "µJ/inference: op-count estimate (45 nm)", "time×power estimate",
                         "measured"], energy_rows))
    notes = []
    first = results[0]
    for e in first.energy:
        if e.value is None:
            notes.append(f"{e.method}: unavailable: {e.reason}")
        elif e.method == "time×power":
            notes.append(f"{e.method}: {e.reason}; source: {e.source}")
        elif e.method == "op-count":
            notes.append(f"{e.method}: relative 45 nm estimate, {e.source}" + (f"; {e.reason}" if e.reason else ""))
        else:
            notes.append(f"{e.method}: {e.source}; {e.reason}")
    c = first.conditions
    notes.append(f"machine: {c.cpu_model or '?'}{' (' + c.device_model + ')' if c.device_model else ''}, "
                 f"{c.cores_usable} usable cores, governor {'/'.join(c.governors) or 'unreadable'}, "
                 f"edgekit {first.edgekit_version}, " + ", ".join(f"{k} {v}" for k, v in c.versions.items()
                                                                 if k != "edgekit"))
    if c.after is not None and c.after.temperatures_c:
        notes.append("temperature after: " + ", ".join(f"{k} {v:.0f} °C" for k, v in c.after.temperatures_c.items()))
    for s in {r.model: r.stats for r in results}.values():
        for n in s.notes:
            notes.append(f"{Path(s.path).name}: {n}")
    warnings = []
    for r in results:
        for w in r.warnings:
            if w not in warnings:
                warnings.append(w)
    parts.append("")
    parts.extend(notes)
    parts.extend(f"warning: {w}" for w in warnings)
    for r in results:
        if r.op_profile is not None:
            parts.append("")
            parts.append(op_profile_report(r.op_profile))
    return "\n".join(parts)


def op_profile_report(p: Any) -> str:
    rows = [[o.op_type, o.count, f"{o.ms:.3f}", f"{o.share * 100:.1f}%",
             (f"{o.delegated}/{o.count}" if o.delegated is not None else "-"),
             "/".join(o.activation_dtypes) or "-", "/".join(o.weight_dtypes) or "-", o.hybrid or "-"]
            for o in p.ops]
    head = (f"per-op profile of {Path(p.path).name} ({p.method}; {p.nodes} ops, sum {p.total_ms:.3f} ms, "
            f"whole model p50 {fmt(p.whole_model_ms)} ms"
            + (f", {p.partitions} XNNPACK partition(s)" if p.partitions is not None else "") + ")")
    placed = "in EP" if p.path.endswith(".onnx") else "in XNNPACK"
    body = render(["op type", "count", "ms", "share", placed, "activations", "weights", "hybrid"], rows)
    return "\n".join([head, body, *p.notes])


def op_diff_report(d: Any) -> str:
    rows = [[r["op_type"], f"{r['a_ms']:.3f}", f"{r['b_ms']:.3f}", f"{r['ratio']:.2f}x" if r["ratio"] else "-",
             f"{r['a_delegated']}/{r['a_count']}" if r["a_delegated"] is not None else r["a_count"],
             f"{r['b_delegated']}/{r['b_count']}" if r["b_delegated"] is not None else r["b_count"],
             r["b_hybrid"] or "-"] for r in d.rows]
    head = f"op diff: A = {Path(d.a).name}, B = {Path(d.b).name} (ms scaled to each model's measured latency)"
    body = render(["op type", "A ms", "B ms", "B/A", "A in XNNPACK", "B in XNNPACK", "B hybrid"], rows)
    return "\n".join([head, body, "", "why:", *(f"  {line}" for line in d.explanation)])


def comparison_report(c: Any) -> str:
    parts = []
    for pair in c.pairs:
        parts.append(f"A = {pair['a']}    B = {pair['b']}")
        rows = []
        for m in pair["metrics"]:
            unit = m["unit"]
            a = _num(m["a"], unit)
            b = _num(m["b"], unit)
            ratio = f"{m['ratio']:.3f}" if m["ratio"] is not None else "-"
            change = f"{(m['ratio'] - 1) * 100:+.1f}%" if m["ratio"] is not None else "-"
            rows.append([m["metric"], a, b, ratio, change, m["better"] or "="])
        parts.append(render(["metric", "A", "B", "B/A", "change", "better"], rows))
        if pair["differences"]:
            parts.append("differences in settings and conditions:")
            for diff in pair["differences"]:
                parts.append(f"  {diff['what']}: A={diff['a']!s}  B={diff['b']!s}")
        else:
            parts.append("same settings, machine and versions")
        for side in ("a", "b"):
            for w in pair[f"warnings_{side}"]:
                parts.append(f"warning ({side.upper()}): {w}")
        parts.append("")
    return "\n".join(parts).rstrip()


def _num(v: Any, unit: str) -> str:
    if v is None:
        return "n/a"
    if unit == "bytes":
        return human_bytes(v)
    if isinstance(v, float):
        return f"{v:.4g} {unit}".strip()
    return f"{v} {unit}".strip()


def interleaved_report(d: dict) -> str:
    """``Interleaved.to_dict()`` (here or from a device) as a table: spread per model, ratio to the baseline."""
    rows = []
    for s in d["spreads"]:
        ci = s.get("ratio_ci")
        rows.append([Path(s["name"]).name, s["runs"], f"{s['median_ms']:.4g}", f"{s['iqr_ms']:.2g}",
                     f"{s['ratio']:.3f}" if s.get("ratio") is not None else "-",
                     f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "-", s.get("verdict_text") or s["verdict"]])
    where = f" on device {d['device']['name']}" if d.get("device") else ""
    head = (f"{d['rounds']} interleaved rounds{where}, baseline {Path(d['baseline']).name}, "
            f"threads {d.get('threads')}; ratio = median of per-round ratios, 95 % bootstrap interval")
    lines = [head, render(["model", "runs", "median ms", "IQR ms", "ratio", "95 % CI", "verdict"], rows)]
    if d.get("busy"):
        lines.append(f"warning: {d['busy']}")
    return "\n".join(lines)
