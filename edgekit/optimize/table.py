"""The terminal report of a single-technique run (:func:`edgekit.optimize.single.optimize_model`): the original and
the shipped artifacts side by side, then the layers."""

from __future__ import annotations

from edgekit._table import fmt, human_bytes, render
from edgekit.optimize.metrics import size_summary
from edgekit.results import Results


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_result(results: Results) -> str:
    variant = results.variants[0]
    original = results.original.artifact
    classification = results.original.metrics.task == "classification"
    rows = []
    for name, a in [("original", original), *((variant.name, a) for a in variant.artifacts)]:
        m, w = a.measurement.metrics, a.measurement.weights
        summary = size_summary(list(w)) if w else None
        if classification:
            delta = None if m.top1 is None else f"{100 * (m.top1 - results.original.metrics.top1):+.2f}"
            quality = [_pct(m.top1), delta, _pct(m.top5), _pct(m.f1), _pct(m.agreement)]
        else:
            quality = [fmt(m.max_abs_error), fmt(m.mean_abs_error), fmt(m.cosine, 6), fmt(m.snr_db), _pct(m.agreement)]
        rows.append([name, a.format, a.quantize, *quality, human_bytes(a.file_bytes), human_bytes(a.gzip_bytes),
                     f"{original.gzip_bytes / a.gzip_bytes:.1f}x" if a.gzip_bytes else "-", a.params,
                     "-" if a.measurement.macs is None else f"{a.measurement.macs:,}",
                     "-" if summary is None else summary["nonzero"], "-" if summary is None else _pct(summary["sparsity"])])
    quality_headers = (["top1 %", "Δ pts", "top5 %", "F1 %", "agree %"] if classification
                       else ["max err", "mean err", "cosine", "SNR dB", "agree %"])
    headers = ["variant", "format", "quantize", *quality_headers, "file", "gzip", "smaller", "params", "MACs", "nonzero w",
               "sparsity %"]
    optimization = variant.optimization
    lines = [f"recipe {variant.name}: {' -> '.join(optimization.steps) or 'post-training only'}; "
             f"measured on {results.evaluated_on}", "", render(headers, rows)]

    shipped = variant.artifacts[0] if variant.artifacts else None
    by_layer = {s.layer: s for s in (shipped.measurement.weights if shipped else ())}
    layer_rows = []
    for layer in optimization.layers:
        s = by_layer.get(layer.name)
        pruned_as = "channels" if optimization.channels is not None else "prune"
        done = [t for t, on in ((pruned_as, layer.pruned), ("cluster", layer.clustered), ("qat", layer.quantized)) if on]
        layer_rows.append([layer.name, layer.type, layer.weights, _pct(layer.sparsity), layer.unique,
                           "-" if s is None else s.dtype, "-" if s is None else _pct(s.sparsity),
                           "-" if s is None else (s.unique_per_channel if s.dtype in ("int8", "int16") else s.unique),
                           ",".join(done) or "-", layer.note])
    if layer_rows:
        lines += ["", "layers (Keras model, then the weights the .tflite ships; int8: unique values per channel, max):",
                  render(["layer", "type", "weights", "sparsity %", "unique", "tflite dtype", "tflite sparsity %",
                          "tflite unique", "applied", "note"], layer_rows)]
    for t in optimization.training:
        lines.append(f"fine-tuned: {t.epochs} epoch(s) on {t.train_samples} samples (held out: {t.held_out_samples}), "
                     f"loss {t.loss}, {t.optimizer} lr {fmt(t.learning_rate)}, BatchNorm statistics {t.batchnorm}")
    for name, why in optimization.float_layers.items():
        lines.append(f"stayed float in QAT: {name}: {why}")
    if variant.mixed_precision is not None:
        lines += ["", "int8 sensitivity per Keras layer (most sensitive first; drop/gain in top-1 points):",
                  variant.int8_sensitivity.table()]
    for note in (*results.notes, *optimization.notes, *variant.notes):
        lines.append(f"note: {note}")
    written = [p for p in (variant.keras_model, *(a.path for a in variant.artifacts), variant.recipe_file) if p]
    lines += ["", "wrote: " + ", ".join(written)]
    return "\n".join(lines)

