"""The terminal report of an :class:`~edgekit.optimize.single.OptimizeResult`: variants side by side, then layers."""

from __future__ import annotations

from edgekit._table import fmt, human_bytes, render
from edgekit.optimize.metrics import size_summary
from edgekit.optimize.single import OptimizeResult


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_result(result: OptimizeResult) -> str:
    original = result.original
    classification = original.metrics.task == "classification"
    rows = []
    for v in result.variants:
        m = v.metrics
        w = size_summary(list(v.layers)) if v.layers else None
        if classification:
            delta = None if m.top1 is None else f"{100 * (m.top1 - original.metrics.top1):+.2f}"
            quality = [_pct(m.top1), delta, _pct(m.top5), _pct(m.f1), _pct(m.agreement)]
        else:
            quality = [fmt(m.max_abs_error), fmt(m.mean_abs_error), fmt(m.cosine, 6), fmt(m.snr_db), _pct(m.agreement)]
        rows.append([v.name, v.format, v.quantize, *quality, human_bytes(v.file_bytes), human_bytes(v.gzip_bytes),
                     f"{original.gzip_bytes / v.gzip_bytes:.1f}x" if v.gzip_bytes else "-", v.params,
                     "-" if w is None else w["nonzero"], "-" if w is None else _pct(w["sparsity"])])
    quality_headers = (["top1 %", "Δ pts", "top5 %", "F1 %", "agree %"] if classification
                       else ["max err", "mean err", "cosine", "SNR dB", "agree %"])
    headers = ["variant", "format", "quantize", *quality_headers, "file", "gzip", "smaller", "params", "nonzero w", "sparsity %"]
    lines = [f"recipe {result.recipe.name}: {' -> '.join(result.optimized.steps) or 'post-training only'}; "
             f"measured on {result.evaluated_on}", "", render(headers, rows)]

    shipped = result.variants[1] if len(result.variants) > 1 else None
    by_layer = {s.layer: s for s in (shipped.layers if shipped else ())}
    layer_rows = []
    for layer in result.optimized.layers:
        s = by_layer.get(layer.name)
        pruned_as = "channels" if result.optimized.channels is not None else "prune"
        done = [t for t, on in ((pruned_as, layer.pruned), ("cluster", layer.clustered), ("qat", layer.quantized)) if on]
        layer_rows.append([layer.name, layer.type, layer.weights, _pct(layer.sparsity), layer.unique,
                           "-" if s is None else s.dtype, "-" if s is None else _pct(s.sparsity),
                           "-" if s is None else (s.unique_per_channel if s.dtype in ("int8", "int16") else s.unique),
                           ",".join(done) or "-", layer.note])
    if layer_rows:
        lines += ["", "layers (Keras model, then the weights the .tflite ships; int8: unique values per channel, max):",
                  render(["layer", "type", "weights", "sparsity %", "unique", "tflite dtype", "tflite sparsity %",
                          "tflite unique", "applied", "note"], layer_rows)]
    for name, why in result.optimized.float_layers.items():
        lines.append(f"stayed float in QAT: {name}: {why}")
    if result.mixed is not None:
        lines += ["", "int8 sensitivity per Keras layer (most sensitive first; drop/gain in top-1 points):",
                  result.mixed.sensitivity.table()]
    for note in result.notes:
        lines.append(f"note: {note}")
    written = [result.keras_path] + [v.path for v in result.variants[1:]] + [result.recipe_path]
    lines += ["", "wrote: " + ", ".join(written)]
    return "\n".join(lines)
