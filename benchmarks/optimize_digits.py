"""Figures for BENCHMARKS.md "## Optimize": each technique on the digits sample, measured on the shipped .tflite.

Run: .venv/bin/python benchmarks/optimize_digits.py [--out bench-out/optimize]
Prints a markdown table: accuracy (held-out, through edgekit.runtime), sizes, weight sparsity/unique values.
"""

import argparse
import time
from pathlib import Path

from edgekit.optimize import optimize_model
from edgekit.optimize.metrics import size_summary
from edgekit.recipe import Cluster, Prune, Quantize, Recipe, Train

ROOT = Path(__file__).resolve().parents[1]
RECIPES = [
    Recipe("ptq-dynamic", quantize=Quantize(mode="dynamic")),
    Recipe("ptq-float16", quantize=Quantize(mode="float16")),
    Recipe("ptq-int8", quantize=Quantize(mode="int8")),
    Recipe("ptq-int16x8", quantize=Quantize(mode="int16x8")),
    Recipe("pruned-0.8", prune=Prune(sparsity=0.8), train=Train(epochs=2)),
    Recipe("pruned-0.8-int8", prune=Prune(sparsity=0.8), quantize=Quantize(mode="int8"), train=Train(epochs=2)),
    Recipe("pruned-2of4", prune=Prune(structure="2:4"), train=Train(epochs=2)),
    Recipe("clustered-16", cluster=Cluster(clusters=16), train=Train(epochs=2)),
    Recipe("clustered-16-int8", cluster=Cluster(clusters=16), quantize=Quantize(mode="int8"), train=Train(epochs=2)),
    Recipe("qat-int8", quantize=Quantize(mode="int8", aware=True), train=Train(epochs=2)),
    Recipe("pcqat-int8", prune=Prune(sparsity=0.8), cluster=Cluster(clusters=16), quantize=Quantize(mode="int8", aware=True),
           train=Train(epochs=2)),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-out/optimize")
    args = parser.parse_args()
    model, data = ROOT / "samples/digits/model.h5", ROOT / "samples/digits/data.npz"
    rows = []
    original = None
    for recipe in RECIPES:
        start = time.perf_counter()
        result = optimize_model(model, recipe, data, Path(args.out) / f"{recipe.name}.h5")
        seconds = time.perf_counter() - start
        if original is None:
            original = result.original.artifact
            rows.append(_row("original (float32 .tflite)", original, original, None))
        rows.append(_row(recipe.name, result.variants[0].artifacts[0], original, seconds))
    print("| variant | top-1 % | Δ pts | macro F1 % | agree % | .tflite bytes | gzip bytes | gzip smaller | weight sparsity % | max unique (per channel for int8) | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def _row(name, v, original, seconds):
    m, layers = v.measurement.metrics, v.measurement.weights
    w = size_summary(list(layers))
    int8 = [s for s in layers if s.dtype in ("int8", "int16")]
    unique = max((s.unique_per_channel if s in int8 else s.unique) for s in layers if s.layer in ("conv2", "fc1"))
    return [name, f"{100 * m.top1:.2f}", f"{100 * (m.top1 - original.measurement.metrics.top1):+.2f}", f"{100 * m.f1:.2f}",
            f"{100 * m.agreement:.2f}", str(v.file_bytes), str(v.gzip_bytes), f"{original.gzip_bytes / v.gzip_bytes:.1f}x",
            f"{100 * w['sparsity']:.1f}", str(unique), "-" if seconds is None else f"{seconds:.0f}"]


if __name__ == "__main__":
    main()
