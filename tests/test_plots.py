"""The report's matplotlib plots: inline SVG, fixed units, no overlapping labels, deterministic output."""

import pytest

pytest.importorskip("matplotlib")

from edgekit.optimize.plots import hbars, tradeoff  # noqa: E402

ROWS = [
    {"name": "fp32/tflite", "top1": 0.9917, "agreement": 1.0, "gzip_bytes": 560_761, "latency_ms": 0.035,
     "latency_p25_ms": 0.034, "latency_p75_ms": 0.036, "verdict": {"pareto": True}, "recommended": False},
    {"name": "int8/tflite", "top1": 0.9889, "agreement": 0.99, "gzip_bytes": 45_939, "latency_ms": 0.013,
     "latency_p25_ms": 0.0129, "latency_p75_ms": 0.0131, "verdict": {"pareto": True}, "recommended": True},
]


def test_tradeoff_is_inline_svg_in_percent_and_kilobytes():
    svg = tradeoff(ROWS, "gzip_bytes", "Quality vs download size")
    assert svg.startswith('<svg class="plot" role="img" aria-label="Quality vs download size"') and "<?xml" not in svg
    assert "top-1 accuracy (%)" in svg and "gzip (KB, 1 KB = 1000 B, log scale)" in svg
    assert svg.count('id="point-') == 2 and "int8/tflite (recommended)" in svg
    assert "99.2" in svg or "99.0" in svg  # ticks in %, not fractions
    assert svg == tradeoff(ROWS, "gzip_bytes", "Quality vs download size")  # no dates or random ids


def test_without_labels_the_plot_says_agreement_and_accuracy_not_measured():
    rows = [dict(r, top1=None) for r in ROWS]
    svg = tradeoff(rows, "latency_ms", "Quality vs latency")
    assert "top-1 agreement with the original (%), accuracy not measured" in svg and "interquartile range" in svg


def test_stacked_bars_keep_every_legend_entry_and_say_not_measured():
    svg = hbars([("fp32", {"float32": 600_000.0}), ("int8", {"int8": 150_000.0, "int32": 600.0})],
                "Weight bytes by dtype", "KB (1 KB = 1000 B)", scale=1000)
    for key in ("float32", "int8", "int32"):
        assert f'id="bar-{key}' in svg and f">{key}<" in svg
    assert "not measured" in hbars([], "Energy per inference", "µJ per inference")
