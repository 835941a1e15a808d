"""What ``edgekit optimize`` shows people: report.html (self-contained: inline CSS and SVG, no scripts, no network)
and the terminal table, both built from results.json."""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

from edgekit._table import fmt, human_bytes
from edgekit._table import render as table

PALETTE = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0"]
W, H, PAD = 460, 300, 48
ENERGY_PREFERENCE = ("measured", "time×power", "op-count")  # a measurement beats a model of one


TO_MICROJOULES = {"nJ": 1e-3, "uJ": 1.0, "µJ": 1.0, "mJ": 1e3, "J": 1e6}


def preferred_energy(estimates: Sequence[dict]) -> dict | None:
    """The most direct energy figure available, as {"method", "uj"} (µJ per inference), or None."""
    available = [e for e in estimates if e.get("value") is not None and e.get("method") in ENERGY_PREFERENCE
                 and str(e.get("units", "")).split("/")[0] in TO_MICROJOULES]
    best = min(available, key=lambda e: ENERGY_PREFERENCE.index(e["method"]), default=None)
    if best is None:
        return None
    return {"method": best["method"], "uj": best["value"] * TO_MICROJOULES[best["units"].split("/")[0]]}


def rows(results: dict) -> list[dict]:
    """One row per measured artifact, flattened for the tables and the plots."""
    verdicts = {v["name"]: v for v in results.get("ranking", {}).get("verdicts", [])}
    out = []
    for variant in results.get("variants", []):
        for art in variant.get("artifacts", []):
            name = f"{variant['name']}/{art['format']}"
            metrics = art.get("metrics") or {}
            energy = preferred_energy(art.get("energy", []))
            out.append({
                "name": name,
                "top1": metrics.get("top1"),
                "agreement": metrics.get("agreement"),
                "f1": metrics.get("f1"),
                "file_bytes": art.get("file_bytes"),
                "gzip_bytes": art.get("gzip_bytes"),
                "macs": art.get("macs"),
                "latency_ms": (art.get("latency_ms") or {}).get("p50"),
                "latency_iqr_ms": (art.get("latency_ms") or {}).get("iqr"),
                "latency_vs": _versus(art.get("latency_ms") or {}),
                "snr_db": metrics.get("snr_db"),
                "energy_uj": None if energy is None else energy["uj"],
                "energy_method": None if energy is None else energy.get("method"),
                "bytes_by_dtype": art.get("bytes_by_dtype") or {},
                "verdict": verdicts.get(name, {}),
            })
    return out


def _versus(latency: dict) -> str:
    """'0.72× [0.71, 0.73] faster', '1.01× [0.98, 1.03] no measurable difference', 'baseline', or '-'."""
    if latency.get("verdict") == "baseline":
        return "baseline"
    if latency.get("ratio") is None:
        return "-"
    lo, hi = latency["ratio_ci95"]
    word = {"tie": "no measurable difference"}.get(latency["verdict"], latency["verdict"])
    return f"{latency['ratio']:.2f}× [{lo:.2f}, {hi:.2f}] {word}"


def measurement_notes(results: dict) -> list[str]:
    """Distinct notes on how the artifacts were measured (e.g. a target accelerator this machine does not have)."""
    notes = list(results.get("warnings") or [])
    notes += [a.get("latency_note") for v in results.get("variants", []) for a in v.get("artifacts", [])]
    latency = results.get("latency") or {}
    if latency.get("method"):
        notes.append(f"latency: {latency['method']}; 1-min load average {latency.get('load_average_before')} before, "
                     f"{latency.get('load_average_after')} after, on {latency.get('cores')} cores")
    if results.get("ranking", {}).get("basis") == "fidelity":
        notes.append("accuracy was not measured (no usable labels): 'agree' is top-1 agreement with the original "
                     f"model and SNR its output fidelity, on {results.get('eval', {}).get('what', 'the eval inputs')}")
    return list(dict.fromkeys(n for n in notes if n))


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _db(value: float | None) -> str:
    if value is None:
        return "-"
    return "identical" if value == float("inf") else f"{value:.1f} dB"


def _delta(row: dict, original_top1: float | None) -> float | None:
    return None if (original_top1 is None or row["top1"] is None) else 100 * (row["top1"] - original_top1)


def _scale(values: Sequence[float], lo_px: float, hi_px: float, log: bool = False):
    vals = [math.log10(v) if log else v for v in values if v is not None and (v > 0 or not log)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    return lambda v: lo_px + ((math.log10(v) if log else v) - lo) / (hi - lo) * (hi_px - lo_px)


def _frame(title: str, height: int) -> list[str]:
    return [f'<svg class="plot" role="img" aria-label="{_esc(title)}" viewBox="0 0 {W} {height}" width="{W}" height="{height}">',
            f'<text x="{W / 2}" y="16" text-anchor="middle" class="title">{_esc(title)}</text>']


def scatter(points: Sequence[dict], x_key: str, y_key: str, title: str, x_label: str, y_label: str, log_x: bool = False) -> str:
    pts = [p for p in points if p.get(x_key) is not None and p.get(y_key) is not None]
    parts = _frame(title, H)
    parts.append(f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" class="axis"/>'
                 f'<line x1="{PAD}" y1="30" x2="{PAD}" y2="{H - PAD}" class="axis"/>'
                 f'<text x="{(W + PAD) / 2}" y="{H - 12}" text-anchor="middle">{_esc(x_label)}</text>'
                 f'<text x="14" y="{H / 2}" text-anchor="middle" transform="rotate(-90 14 {H / 2})">{_esc(y_label)}</text>')
    if not pts:
        return "".join(parts) + f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">not measured</text></svg>'
    sx = _scale([p[x_key] for p in pts], PAD + 8, W - 20, log=log_x)
    sy = _scale([p[y_key] for p in pts], H - PAD - 8, 38)
    xs, ys = [p[x_key] for p in pts], [p[y_key] for p in pts]
    for v in {min(xs), max(xs)}:
        parts.append(f'<text x="{sx(v):.1f}" y="{H - PAD + 14}" text-anchor="middle" class="tick">{_esc(fmt(v, 3))}</text>')
    for v in {min(ys), max(ys)}:
        parts.append(f'<text x="{PAD - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" class="tick">{_esc(fmt(v, 4))}</text>')
    for i, p in enumerate(pts):
        ring = ' stroke="#000" stroke-width="2"' if p.get("verdict", {}).get("pareto") else ""
        x, y = sx(p[x_key]), sy(p[y_key])
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{PALETTE[i % len(PALETTE)]}"{ring}>'
                     f'<title>{_esc(p["name"])}: {_esc(fmt(p[x_key]))}, {_esc(fmt(p[y_key]))}</title></circle>'
                     + (f'<text x="{x - 8:.1f}" y="{y - 6 - 10 * (i % 3):.1f}" text-anchor="end" class="label">' if x > W - 140
                        else f'<text x="{x + 8:.1f}" y="{y - 6 - 10 * (i % 3):.1f}" class="label">') + f'{_esc(p["name"])}</text>')
    return "".join(parts) + "</svg>"


def bars(items: Sequence[tuple[str, dict[str, float]]], title: str, unit: str) -> str:
    """Horizontal bars, stacked by segment: ``items`` = [(label, {segment: value})]."""
    items = [(label, {k: v for k, v in seg.items() if v}) for label, seg in items]
    items = [(label, seg) for label, seg in items if seg]
    height, left = 40 + 24 * max(len(items), 1) + 30, 190
    parts = _frame(title, height)
    if not items:
        return "".join(parts) + f'<text x="{W / 2}" y="50" text-anchor="middle">not measured</text></svg>'
    top = max(sum(seg.values()) for _, seg in items)
    keys = sorted({k for _, seg in items for k in seg})
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    for row, (label, seg) in enumerate(items):
        y, x = 30 + 24 * row, left
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" class="label">{_esc(label)}</text>')
        for k in (k for k in keys if k in seg):
            w = (W - left - 70) * seg[k] / top
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="18" fill="{colours[k]}">'
                         f'<title>{_esc(label)} {_esc(k)}: {_esc(fmt(seg[k]))} {_esc(unit)}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}" class="tick">{_esc(fmt(sum(seg.values()), 3))} {_esc(unit)}</text>')
    if len(keys) > 1:
        lx = left
        for k in keys:
            parts.append(f'<rect x="{lx}" y="{height - 22}" width="10" height="10" fill="{colours[k]}"/>'
                         f'<text x="{lx + 14}" y="{height - 13}" class="tick">{_esc(k)}</text>')
            lx += 34 + 6 * len(k)
    return "".join(parts) + "</svg>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;max-width:1280px}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px}
table{border-collapse:collapse;font-size:13px} th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left} tr.best{background:#e8f5e9;font-weight:600} tr.miss td{color:#888}
.recommend{background:#f1f6ff;border-left:4px solid #4269d0;padding:10px 14px;margin:12px 0}
.plots{display:flex;flex-wrap:wrap;gap:16px} svg.plot{background:#fafafa;border:1px solid #e5e5e5}
svg text{font-size:11px} svg .title{font-size:13px;font-weight:600} svg .tick{fill:#555;font-size:10px}
svg .axis{stroke:#999} svg .label{font-size:10px;fill:#333} .meta{color:#555;font-size:12px}
"""


def _constraints(c: dict) -> str:
    parts = []
    if c.get("max_accuracy_drop") is not None:
        parts.append(f"accuracy drop ≤ {c['max_accuracy_drop']:g} pt")
    if c.get("max_file_bytes") is not None:
        parts.append(f"file (flash/disk) ≤ {human_bytes(c['max_file_bytes'])}")
    if c.get("max_download_bytes") is not None:
        parts.append(f"download (gzip) ≤ {human_bytes(c['max_download_bytes'])}")
    if c.get("max_latency_ms") is not None:
        parts.append(f"latency ≤ {c['max_latency_ms']:g} ms")
    return ", ".join(parts) or "none"


def render(results: dict) -> str:
    """report.html for ``results``."""
    data = rows(results)
    ranking = results.get("ranking", {})
    best = ranking.get("recommended")
    orig_top1 = (results.get("original", {}).get("metrics") or {}).get("top1")
    head = ["variant / format", "top-1", "Δ top-1 (pt)", "agreement", "SNR", "F1", "file", "gzip", "MACs",
            "p50 latency (ms)", "IQR (ms)", "latency vs baseline [95% CI]", "energy / inf (µJ)", "meets constraints",
            "Pareto", "misses"]
    body = []
    for r in data:
        v = r["verdict"]
        cls = "best" if r["name"] == best else ("miss" if v and not v.get("meets") else "ok")
        cells = [r["name"], _pct(r["top1"]), fmt(_delta(r, orig_top1), 3), _pct(r["agreement"]), _db(r["snr_db"]),
                 fmt(r["f1"], 4), human_bytes(r["file_bytes"]), human_bytes(r["gzip_bytes"]), fmt(r["macs"]),
                 fmt(r["latency_ms"], 3), fmt(r["latency_iqr_ms"], 2), r["latency_vs"], fmt(r["energy_uj"], 4), fmt(v.get("meets")), fmt(v.get("pareto")), "; ".join(v.get("misses", [])) or "-"]
        body.append(f'<tr class="{cls}">' + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    energy_method = next((r["energy_method"] for r in data if r["energy_method"]), None)
    plots = [
        scatter(data, "gzip_bytes", "top1", "Accuracy vs size", "gzip size (bytes, log scale)", "top-1", log_x=True),
        scatter(data, "latency_ms", "top1", "Accuracy vs latency", "p50 latency (ms)", "top-1"),
        bars([(r["name"], {"energy": r["energy_uj"]}) for r in data if r["energy_uj"] is not None],
             f"Energy per inference ({energy_method or 'not measured'})", "µJ"),
        bars([(r["name"], {k: float(b) for k, b in r["bytes_by_dtype"].items()}) for r in data], "Weight bytes by dtype", "B"),
    ]
    settings, model = results.get("settings", {}), results.get("model", {})
    conditions = results.get("conditions", {})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>edgekit report: {_esc(model.get('name', 'model'))}</title><style>{CSS}</style></head><body>",
        f"<h1>edgekit optimize: {_esc(model.get('name', ''))}</h1>",
        f"<p class='meta'>{_esc(model.get('path', ''))} · {_esc(fmt(model.get('params')))} parameters · target "
        f"{_esc(settings.get('target', 'cpu'))} · device profile {_esc(settings.get('device_profile') or 'none')} · "
        f"edgekit {_esc(results.get('edgekit_version', ''))} · {_esc(results.get('created', ''))}</p>",
        "<div class='recommend'>",
        (f"<b>Ship {_esc(best)}</b> → {_esc(results.get('best_path', ''))}<br>{_esc(ranking.get('reason', ''))}"
         if best else f"<b>No recommendation.</b> {_esc(ranking.get('reason', ''))}"),
        "</div>",
        f"<p class='meta'>Original model: top-1 {_esc(_pct(orig_top1))}; measured on {_esc(results.get('eval', {}).get('what', ''))}. "
        f"Constraints: {_esc(_constraints(settings.get('constraints', {})))}. Latency measured on this machine "
        f"({_esc(conditions.get('cpu_model') or 'CPU unknown')}), {_esc(settings.get('threads', 1))} thread(s).</p>",
        *(f"<p class='meta'><b>Note:</b> {_esc(n)}</p>" for n in measurement_notes(results)),
        "<h2>Variants</h2><table id='variants'><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead><tbody>",
        *body, "</tbody></table>",
    ]
    not_run = [v for v in results.get("variants", []) if v.get("status") != "done"]
    if not_run:
        parts.append("<h2>Not run</h2><ul>" + "".join(
            f"<li>{_esc(v['name'])}: {_esc(v.get('status'))} — {_esc(v.get('reason', ''))}</li>" for v in not_run) + "</ul>")
    parts.append("<h2>Plots</h2><div class='plots'>" + "".join(plots) + "</div>")
    parts.append("<p class='meta'>Black-ringed points are on the Pareto front (accuracy, gzip size, latency). "
                 "All figures are in results.json next to this page.</p></body></html>")
    return "\n".join(parts)


def text_summary(results: dict) -> str:
    """The ranked variant table for the terminal, with the recommendation under it."""
    orig_top1 = (results.get("original", {}).get("metrics") or {}).get("top1")
    data = sorted(rows(results), key=lambda r: (not r["verdict"].get("meets", False), r["gzip_bytes"] or 0))
    body = [[r["name"], _pct(r["top1"]), fmt(_delta(r, orig_top1), 3), _pct(r["agreement"]), _db(r["snr_db"]),
             human_bytes(r["file_bytes"]), human_bytes(r["gzip_bytes"]), fmt(r["latency_ms"], 3),
             fmt(r["latency_iqr_ms"], 2), r["latency_vs"], fmt(r["energy_uj"], 4),
             "yes" if r["verdict"].get("meets") else "no", "yes" if r["verdict"].get("pareto") else "",
             "; ".join(r["verdict"].get("misses", []))] for r in data]
    lines = [table(["variant/format", "top-1", "Δ pt", "agree", "SNR", "file", "gzip", "p50 ms", "IQR ms",
                    "latency vs baseline [95% CI]", "µJ/inf", "meets", "pareto", "misses"], body)]
    energy_method = next((r["energy_method"] for r in data if r["energy_method"]), None)
    if energy_method:
        lines.append(f"µJ/inf: {energy_method} estimate (see results.json for every method and its source)")
    lines.extend(f"note: {n}" for n in measurement_notes(results))
    for v in results.get("variants", []):
        if v.get("status") != "done":
            lines.append(f"not run: {v['name']} ({v.get('status')}): {v.get('reason', '')}")
    ranking = results.get("ranking", {})
    if ranking.get("recommended"):
        lines.append(f"\nrecommended: {ranking['recommended']} → {results.get('best_path')}\n  why: {ranking.get('reason', '')}")
    else:
        lines.append(f"\nno recommendation: {ranking.get('reason', '')}")
    return "\n".join(lines)
