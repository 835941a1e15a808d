"""What ``edgekit optimize`` shows people: report.html (self-contained: inline CSS and SVG, no scripts, no network)
and the terminal table, both built from the typed results (:class:`edgekit.results.Results`)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Sequence

from edgekit._table import fmt, human_bytes
from edgekit._table import render as table

if TYPE_CHECKING:
    from edgekit.device_bench.energy import EnergyEstimate
    from edgekit.measurement import Latency
    from edgekit.optimize.ranking import Constraints
    from edgekit.results import ModelInfo, Results, Variant

ENERGY_PREFERENCE = ("measured", "time×power", "op-count")  # a measurement beats a model of one


TO_MICROJOULES = {"nJ": 1e-3, "uJ": 1.0, "µJ": 1.0, "mJ": 1e3, "J": 1e6}


def preferred_energy(estimates: Sequence[EnergyEstimate]) -> dict | None:
    """The most direct energy figure available, as {"method", "uj"} (µJ per inference), or None."""
    available = [e for e in estimates if e.value is not None and e.method in ENERGY_PREFERENCE
                 and e.units.split("/")[0] in TO_MICROJOULES]
    best = min(available, key=lambda e: ENERGY_PREFERENCE.index(e.method), default=None)
    if best is None:
        return None
    return {"method": best.method, "uj": best.value * TO_MICROJOULES[best.units.split("/")[0]], "source": best.source}


def primary_device(results: Results) -> str | None:
    """The device whose figures the main table shows: the only one measured, when one device was given."""
    if len(results.devices) == 1 and results.devices[0].failure is None:
        return results.devices[0].name
    return None


def rows(results: Results, device: str | None = None) -> list[dict]:
    """One row per measured artifact, flattened for the tables and the plots: speed (and, with --device-accuracy,
    quality) as ``device`` measured it and its verdicts there; without ``device``, as the main table shows it."""
    ranking = results.ranking
    if device is None:
        device = primary_device(results)
    else:
        ranking = next(d.ranking for d in results.devices if d.name == device)
    verdicts = {v.name: {"meets": v.meets, "pareto": v.pareto, "misses": v.misses}
                for v in (ranking.verdicts if ranking else ())}
    recommended = ranking.recommended if ranking else None
    out = []
    for variant, art in results.measured():
        name = f"{variant.name}/{art.format}"
        m = art.measurement
        metrics, latency, energy, peak = m.metrics, m.latency_ms, m.energy, m.peak_rss_bytes
        if device is not None:
            on = m.on(device)
            latency, energy, peak = (on.latency_ms, on.energy, on.peak_rss_bytes) if on else (None, (), None)
            metrics = on.metrics if on is not None and on.metrics is not None else metrics
        energy = preferred_energy(energy)
        out.append({
            "name": name,
            "top1": metrics.top1,
            "agreement": metrics.agreement,
            "f1": metrics.f1,
            "file_bytes": art.file_bytes,
            "gzip_bytes": art.gzip_bytes,
            "macs": m.macs,
            "latency_ms": latency.p50 if latency else None,
            "latency_iqr_ms": latency.iqr if latency else None,
            "latency_p25_ms": latency.p25 if latency else None,
            "latency_p75_ms": latency.p75 if latency else None,
            "recommended": name == recommended,
            "latency_vs": _versus(latency),
            "snr_db": metrics.snr_db,
            "energy_uj": None if energy is None else energy["uj"],
            "energy_method": None if energy is None else energy.get("method"),
            "energy_source": None if energy is None else energy.get("source"),
            "bytes_by_dtype": m.bytes_by_dtype,
            "peak_rss_bytes": peak,
            "arena_bytes": art.mcu.arena.bytes if art.mcu is not None else None,
            "robustness": m.robustness,
            "robustness_drop": m.robustness_drop,
            "zstd_bytes": m.download.zstd if m.download else None,
            "delta_bytes": m.download.delta if m.download else None,
            "per_class_f1": metrics.per_class.f1 if metrics.per_class else None,
            "damaged": ", ".join(f"{d.label} (F1 {d.f1_before:.2f}→{d.f1_after:.2f})" for d in m.damaged_classes) or "-",
            "verdict": verdicts.get(name, {}),
        })
    return out


def _versus(latency: Latency | None) -> str:
    """'0.72× [0.71, 0.73] faster', '1.01× [0.98, 1.03] no measurable difference', 'baseline', or '-'."""
    if latency is None:
        return "-"
    if latency.verdict == "baseline":
        return "baseline"
    if latency.ratio is None:
        return "-"
    lo, hi = latency.ratio_ci95
    word = {"tie": "no measurable difference"}.get(latency.verdict, latency.verdict)
    return f"{latency.ratio:.2f}× [{lo:.2f}, {hi:.2f}] {word}"


def measurement_notes(results: Results) -> list[str]:
    """Distinct notes on how the artifacts were measured (e.g. a target accelerator this machine does not have)."""
    notes = list(results.warnings)
    notes += [a.measurement.latency_note for _, a in results.measured()]
    runs = [("", results.latency)] + [(f" on device {d.name}", d.latency) for d in results.devices]
    for where, latency in runs:
        if latency is not None:
            notes.append(f"latency{where}: {latency.method}; 1-min load average {latency.load_average_before} "
                         f"before, {latency.load_average_after} after, on {latency.cores} cores")
    notes += device_accuracy_notes(results)
    sources = {a.get("energy_source") for a in rows(results) if a.get("energy_method") == "time×power"}
    notes += [f"energy: time×power estimate, power figure from {src}" for src in sorted(s for s in sources if s)]
    if results.ranking is not None and results.ranking.basis == "fidelity":
        notes.append("accuracy was not measured (no usable labels): 'agree' is top-1 agreement with the original "
                     f"model and SNR its output fidelity, on {results.evaluated_on}")
    return list(dict.fromkeys(n for n in notes if n))


def device_accuracy_notes(results: Results) -> list[str]:
    """Where a device's runtime scored an artifact differently from this machine's (--device-accuracy)."""
    notes = []
    for variant, art in results.measured():
        here = art.measurement.metrics
        for on in art.measurement.devices:
            there = on.metrics
            if there is None:
                continue
            for what, a, b in (("top-1", here.top1, there.top1), ("top-1 agreement", here.agreement, there.agreement)):
                if a is not None and b is not None and abs(a - b) >= 0.005:
                    notes.append(f"{variant.name}/{art.format}: {what} {100 * b:.2f}% on device {on.device} vs "
                                 f"{100 * a:.2f}% on this machine (the device's runtime computes it differently)")
                    break
    return notes


def _measured_on(results: Results) -> str:
    """Where the speed figures come from."""
    where = {d.name: d for d in results.settings.devices}
    if not where:
        return "this machine"
    return ", ".join(f"device {n} ({d.user}@{d.host}:{d.port})" for n, d in where.items())


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ms(value: float | None) -> str:
    """Milliseconds with a fixed number of decimals, so a column of latencies reads down (no 5.5e-04)."""
    if value is None:
        return "-"
    return f"{value:.4f}" if value < 10 else f"{value:.1f}"


def _db(value: float | None) -> str:
    if value is None:
        return "-"
    return "identical" if value == float("inf") else f"{value:.1f} dB"


def _robust(row: dict) -> str:
    """Mean accuracy under perturbations against the original's, in points ('-' when not measured)."""
    drop = row["robustness_drop"]
    return "-" if drop is None else f"{0.0 - 100 * drop:+.2f}".replace("-0.00", "+0.00")


def _delta(row: dict, original_top1: float | None) -> float | None:
    return None if (original_top1 is None or row["top1"] is None) else 100 * (row["top1"] - original_top1)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;max-width:1280px}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px}
table{border-collapse:collapse;font-size:13px} th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left} tr.best{background:#e8f5e9;font-weight:600} tr.miss td{color:#888}
.recommend{background:#f1f6ff;border-left:4px solid #4269d0;padding:10px 14px;margin:12px 0}
.plots{display:flex;flex-wrap:wrap;gap:16px} svg.plot{background:#fff;border:1px solid #e5e5e5;height:auto;max-width:100%}
.meta{color:#555;font-size:12px}
"""


def _constraints(c: Constraints) -> str:
    parts = []
    if c.max_accuracy_drop is not None:
        parts.append(f"accuracy drop ≤ {c.max_accuracy_drop:g} pt")
    if c.max_file_bytes is not None:
        parts.append(f"file (flash/disk) ≤ {human_bytes(c.max_file_bytes)}")
    if c.max_download_bytes is not None:
        parts.append(f"download (gzip) ≤ {human_bytes(c.max_download_bytes)}")
    if c.max_latency_ms is not None:
        parts.append(f"latency ≤ {c.max_latency_ms:g} ms")
    if c.max_robustness_drop is not None:
        parts.append(f"robustness drop ≤ {c.max_robustness_drop:g} pt")
    return ", ".join(parts) or "none"


def _energy_methods(data: list[dict]) -> str:
    """'op-count estimate', 'measured', ...: the methods behind the energy figures ('' when none)."""
    methods = sorted({r["energy_method"] for r in data if r["energy_method"]})
    return ", ".join(m if m == "measured" else f"{m} estimate" for m in methods)


def _energy_header(data: list[dict]) -> str:
    """'energy / inf (µJ, op-count estimate)': one unit, and the method that produced the figures."""
    methods = _energy_methods(data)
    return f"energy / inf (µJ, {methods})" if methods else "energy / inf (µJ)"


def _file_name(model: ModelInfo) -> str:
    """The model's file name (what the user knows it by), not the Keras model's internal name."""
    path = str(model.path or "")
    return path.rstrip("/").rsplit("/", 1)[-1] or model.name or "model"


def render(results: Results) -> str:
    """report.html for ``results``."""
    data = rows(results)
    best = results.ranking.recommended if results.ranking else None
    reason = results.ranking.reason if results.ranking else ""
    orig_top1 = results.original.metrics.top1
    head = ["variant / format", "top-1", "Δ top-1 (pt)", "agreement", "SNR", "F1", "Δ robust (pt)", "classes hurt (F1)",
            "file", "gzip", "zstd", "delta from baseline", "MACs",
            "p50 latency (ms)", "IQR (ms)", "latency vs baseline [95% CI]", _energy_header(data), "meets constraints",
            "Pareto", "misses"]
    cells, classes = [], []
    for r in data:
        v = r["verdict"]
        classes.append("best" if r["name"] == best else ("miss" if v and not v.get("meets") else "ok"))
        cells.append([r["name"], _pct(r["top1"]), fmt(_delta(r, orig_top1), 3), _pct(r["agreement"]), _db(r["snr_db"]),
                      fmt(r["f1"], 4), _robust(r), r["damaged"], human_bytes(r["file_bytes"]), human_bytes(r["gzip_bytes"]),
                      human_bytes(r["zstd_bytes"]) if r["zstd_bytes"] is not None else "-",
                      human_bytes(r["delta_bytes"]) if r["delta_bytes"] is not None else "-", fmt(r["macs"]),
                      _ms(r["latency_ms"]), _ms(r["latency_iqr_ms"]), r["latency_vs"], fmt(r["energy_uj"], 4),
                      fmt(v.get("meets")), fmt(v.get("pareto")), "; ".join(v.get("misses", [])) or "-"])
    head, cells = _without_empty_columns(head, cells)  # e.g. the speed columns, when each device has its own table
    body = [f'<tr class="{cls}">' + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for cls, row in zip(classes, cells)]
    from edgekit.optimize.plots import class_f1_diff, hbars, robustness_curves, tradeoff

    primary = primary_device(results)
    speed = ([(d.name, rows(results, d.name)) for d in results.devices if d.failure is None] if len(results.devices) > 1
             else [(primary, data)])
    plots = [tradeoff(data, "gzip_bytes", "Quality vs download size")]
    for device, view in speed:
        energy_method = next((r["energy_method"] for r in view if r["energy_method"]), None)
        where = f" on device {device}" if len(speed) > 1 else ""
        plots += [
            tradeoff(view, "latency_ms", "Quality vs latency" + where, f"device {device}" if device else "this machine"),
            hbars([(r["name"], {"energy": r["energy_uj"]}) for r in view if r["energy_uj"] is not None],
                  f"Energy per inference{where}: {energy_method or 'not measured'}"
                  + (" (measured)" if energy_method == "measured" else " (estimate)" if energy_method else ""),
                  "µJ per inference"),
        ]
    plots.append(hbars([(r["name"], {k: float(b) for k, b in r["bytes_by_dtype"].items()}) for r in data],
                       "Weight bytes by dtype", "KB (1 KB = 1000 B)", scale=1000))
    if results.original.robustness:
        plots.append(robustness_curves(data, results.original.robustness))
    if results.original.metrics.per_class is not None:
        plots.append(class_f1_diff(data, results.original.metrics.per_class.f1))
    settings, model = results.settings, results.model
    conditions = results.conditions or next((d.conditions for d in results.devices if d.conditions), None)
    cpu = conditions.cpu_model if conditions else None
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>edgekit report: {_esc(_file_name(model))}</title><style>{CSS}</style></head><body>",
        f"<h1>edgekit optimize: {_esc(_file_name(model))}</h1>",
        f"<p class='meta'>{_esc(model.path)} · {_esc(fmt(model.params))} parameters · target "
        f"{_esc(settings.target)} · device profile {_esc(settings.device_profile or 'none')} · "
        f"edgekit {_esc(results.edgekit_version)} · {_esc(results.created)}</p>",
        "<div class='recommend'>",
        (f"<b>Ship {_esc(best)}</b> → {_esc(results.best or '')}<br>{_esc(reason)}"
         if best else f"<b>No recommendation.</b> {_esc(reason)}"),
        "</div>",
        f"<p class='meta'>Original model: top-1 {_esc(_pct(orig_top1))}; measured on {_esc(results.evaluated_on)}. "
        f"Constraints: {_esc(_constraints(settings.constraints))}. Latency measured on "
        f"{_esc(_measured_on(results))} ({_esc(cpu or 'CPU unknown')}), {_esc(settings.threads)} thread(s).</p>",
        *(f"<p class='meta'><b>Note:</b> {_esc(n)}</p>" for n in measurement_notes(results)),
        "<h2>Variants</h2><table id='variants'><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead><tbody>",
        *body, "</tbody></table>",
    ]
    if len(results.devices) > 1:
        parts += [_device_html(results, d) for d in results.devices]
    not_run = [v for v in results.variants if v.status != "done"]
    if not_run:
        parts.append("<h2>Not run</h2><ul>" + "".join(
            f"<li>{_esc(v.name)}: {_esc(v.status)} — {_esc(v.reason or '')}</li>" for v in not_run) + "</ul>")
    parts += [_sensitivity_html(v) for v in results.variants if v.status == "done" and v.int8_sensitivity]
    parts.append("<h2>Plots</h2><div class='plots'>" + "".join(plots) + "</div>")
    parts.append("<p class='meta'>Black-edged points are on the Pareto front (quality, gzip size, latency); the star "
                 "is the recommendation. "
                 "All figures are in results.json next to this page.</p></body></html>")
    return "\n".join(parts)


def _without_empty_columns(head: list, body: list[list]) -> tuple[list, list[list]]:
    """The table without the columns where no row has a figure ("-")."""
    keep = [i for i in range(len(head)) if not body or any(row[i] != "-" for row in body)]
    return [head[i] for i in keep], [[row[i] for i in keep] for row in body]


DEVICE_HEAD = ["variant / format", "top-1", "agreement", "p50 latency (ms)", "IQR (ms)", "latency vs baseline [95% CI]",
               "peak memory", "µJ/inf", "meets constraints", "misses"]


def _device_cells(r: dict) -> list:
    v = r["verdict"]
    return [r["name"], _pct(r["top1"]), _pct(r["agreement"]), _ms(r["latency_ms"]), _ms(r["latency_iqr_ms"]),
            r["latency_vs"], human_bytes(r["peak_rss_bytes"]) if r["peak_rss_bytes"] is not None else "-",
            fmt(r["energy_uj"], 4), fmt(v.get("meets")), "; ".join(v.get("misses", [])) or "-"]


def _device_html(results: Results, device) -> str:
    """One device's own figures and recommendation (several devices were given)."""
    spec = next(d for d in results.settings.devices if d.name == device.name)
    title = f"<h2>On device {_esc(device.name)} ({_esc(spec.user)}@{_esc(spec.host)}:{_esc(spec.port)})</h2>"
    if device.failure:
        return f"{title}<p class='miss'>Not measured: {_esc(device.failure)}</p>"
    ranking, cpu = device.ranking, device.conditions.cpu_model if device.conditions else None
    accuracy = "quality run through the device's runtime" if device.accuracy else "quality measured on this machine"
    verdict = (f"<b>Ship {_esc(ranking.recommended)} here</b> → {_esc(device.best or '')}<br>{_esc(ranking.reason)}"
               if ranking.recommended else f"<b>No recommendation for this device.</b> {_esc(ranking.reason)}")
    body = "".join(f'<tr class="{"best" if r["recommended"] else "ok" if r["verdict"].get("meets") else "miss"}">'
                   + "".join(f"<td>{_esc(c)}</td>" for c in _device_cells(r)) + "</tr>" for r in rows(results, device.name))
    return (f"{title}<p class='meta'>{_esc(cpu or 'CPU unknown')}; {_esc(accuracy)}.</p><div class='recommend'>{verdict}</div>"
            "<table><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in DEVICE_HEAD) + f"</tr></thead><tbody>{body}</tbody></table>")


def _sensitivity_html(variant: Variant) -> str:
    """One int8 variant's per-layer sensitivity; for int8-mixed, what its search kept float."""
    report, mixed = variant.int8_sensitivity, variant.mixed_precision
    head = ["layer", "type", "ops", "Δ top-1 if only int8 (pt)", "SNR if only int8 (dB)", "SNR all int8 (dB)",
            "output range", "widest channel / median", "why"]
    rows = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in (
        s.layer, s.type, "+".join(s.ops), fmt(s.alone_int8_drop, 3), fmt(s.alone_int8_snr_db, 3),
        fmt(s.int8_snr_db, 3), f"[{s.range.min:.3g}, {s.range.max:.3g}]",
        f"{s.range.channel_span_ratio:.0f}x", s.cause)) + "</tr>" for s in report.layers)
    title = "layers kept out of int8" if mixed else "int8 per Keras layer"
    intro = mixed_summary(mixed) if mixed else (f"all int8: output SNR {report.int8_snr_db:.1f} dB vs float; op→layer "
                                                f"map: {report.mapping.get('summary', '')}; lowest SNR first")
    return (f"<h2>{_esc(variant.name)}: {title}</h2><p>{_esc(intro)}</p>"
            "<table><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + f"</tr></thead><tbody>{rows}</tbody></table>")


def mixed_summary(mixed) -> str:
    """One line for a keep-float search (a variant's :class:`~edgekit.convert.sensitivity.MixedSearch`)."""
    kept = ", ".join(mixed.keep_float) or "none"
    return (f"kept float: {kept} ({mixed.int8_compute_ops} of {mixed.compute_ops} conv/FC ops int8); top-1 "
            f"{100 * mixed.top1:.2f}% vs plain int8 {100 * mixed.int8_top1:.2f}%, float {100 * mixed.float_top1:.2f}%; "
            f"Edge TPU: {mixed.edgetpu}")


def text_summary(results: Results) -> str:
    """The ranked variant table for the terminal, with the recommendation under it."""
    orig_top1 = results.original.metrics.top1
    data = sorted(rows(results), key=lambda r: (not r["verdict"].get("meets", False), r["gzip_bytes"] or 0))
    body = [[r["name"], _pct(r["top1"]), fmt(_delta(r, orig_top1), 3), _pct(r["agreement"]), _db(r["snr_db"]),
             human_bytes(r["file_bytes"]), human_bytes(r["gzip_bytes"]), _ms(r["latency_ms"]),
             _ms(r["latency_iqr_ms"]), r["latency_vs"], fmt(r["energy_uj"], 4),
             "yes" if r["verdict"].get("meets") else "no", "yes" if r["verdict"].get("pareto") else "",
             "; ".join(r["verdict"].get("misses", []))] for r in data]
    head = ["variant/format", "top-1", "Δ pt", "agree", "SNR", "file", "gzip", "p50 ms", "IQR ms",
            "latency vs baseline [95% CI]", "µJ/inf", "meets", "pareto", "misses"]
    if any(r["robustness_drop"] is not None for r in data):  # mean accuracy under perturbations vs the original
        head.insert(3, "Δ robust")
        for row, r in zip(body, data):
            row.insert(3, _robust(r))
    if any(r["delta_bytes"] is not None for r in data):  # --baseline: what an update from it sends
        at = head.index("gzip") + 1
        head.insert(at, "delta")
        for row, r in zip(body, data):
            row.insert(at, "-" if r["delta_bytes"] is None else human_bytes(r["delta_bytes"]))
    if any(r["arena_bytes"] is not None for r in data):  # the mcu target: the TFLite Micro arena beside the file
        at = head.index("gzip")
        head.insert(at, "arena")
        for row, r in zip(body, data):
            row.insert(at, "-" if r["arena_bytes"] is None else human_bytes(r["arena_bytes"]))
    lines = [table(*_without_empty_columns(head, body))]  # e.g. the speed columns, when each device has its own
    if any(r["energy_method"] for r in data):
        lines.append(f"µJ/inf: {_energy_methods(data)} (results.json holds every method and its source)")
    lines.extend(f"note: {n}" for n in measurement_notes(results))
    for v in results.variants:
        if v.status != "done":
            lines.append(f"not run: {v.name} ({v.status}): {v.reason or ''}")
        elif v.mixed_precision:
            lines.append(f"{v.name}: {mixed_summary(v.mixed_precision)}")
    if len(results.devices) > 1:
        for d in results.devices:
            if d.failure:
                lines.append(f"\non device {d.name}: not measured ({d.failure})")
                continue
            lines.append(f"\non device {d.name}:")
            lines.append(table(DEVICE_HEAD, [_device_cells(r) for r in rows(results, d.name)]))
            lines.append(f"recommended on {d.name}: {d.ranking.recommended} → {d.best}" if d.ranking.recommended
                         else f"no recommendation on {d.name}: {d.ranking.reason}")
    ranking = results.ranking
    if ranking is not None and ranking.recommended:
        lines.append(f"\nrecommended: {ranking.recommended} → {results.best}\n  why: {ranking.reason}")
    else:
        lines.append(f"\nno recommendation: {ranking.reason if ranking else ''}")
    return "\n".join(lines)
