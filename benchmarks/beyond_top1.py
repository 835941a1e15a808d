"""What compression costs beyond top-1, on the digits sample: robustness, per-class damage and download bytes.

Runs `edgekit optimize` on the sample with a post-training and a fine-tuned set of variants, with the sample's float32
.tflite as the --baseline the fleet already runs, and prints for every shipped artifact: top-1, accuracy under each
perturbation (Gaussian noise, brightness, contrast, FGSM and PGD crafted on the float Keras model and transferred),
the mean drop against the original, the classes whose F1 fell most, and gzip / zstd / delta bytes.

    python benchmarks/beyond_top1.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from edgekit.convert import to_tflite
    from edgekit.optimize.pipeline import Settings, optimize
    from edgekit.recipe import Cluster, Prune, Quantize, Recipe, Train

    recipes = (
        Recipe("fp32"), Recipe("dynamic", quantize=Quantize("dynamic")), Recipe("float16", quantize=Quantize("float16")),
        Recipe("int8", quantize=Quantize("int8"), formats=("tflite", "onnx")),
        Recipe("pruned-int8", prune=Prune(0.8), quantize=Quantize("int8"), train=Train(epochs=3)),
        Recipe("clustered-int8", cluster=Cluster(16), quantize=Quantize("int8"), train=Train(epochs=2)),
    )
    model, data = ROOT / "samples/digits/model.h5", ROOT / "samples/digits/data.npz"
    with tempfile.TemporaryDirectory(prefix="edgekit-beyond-") as tmp:
        deployed = to_tflite(model, Path(tmp) / "deployed.tflite").path
        results = optimize(model, Path(tmp) / "out", data=data, recipes=recipes, settings=Settings(baseline=str(deployed)))
    points = [(r.name, r.severity) for r in results.original.robustness]
    names = [f"{n[:5]} {s:g}" for n, s in points]
    print(f"digits sample, {results.evaluated_on}; robustness on the first 256 held-out images")
    print(" | ".join(["artifact", "top-1", *names, "Δ robust pt", "classes hurt (F1)", "gzip", "zstd", "delta"]))
    print(" | ".join(["original (Keras)", f"{100 * results.original.metrics.top1:.2f}",
                      *(f"{100 * r.accuracy:.1f}" for r in results.original.robustness), "-", "-", "-", "-", "-"]))
    for v, a in results.measured():
        m = a.measurement
        hurt = ", ".join(f"{d.label} ({d.f1_before:.2f}→{d.f1_after:.2f})" for d in m.damaged_classes) or "none"
        print(" | ".join([f"{v.name}/{a.format}", f"{100 * m.metrics.top1:.2f}", *(f"{100 * r.accuracy:.1f}" for r in m.robustness),
                          f"{-100 * m.robustness_drop:+.2f}", hurt, f"{m.download.gzip:,}", f"{m.download.zstd:,}",
                          f"{m.download.delta:,}"]))
    print(f"recommended: {results.ranking.recommended}: {results.ranking.reason}")


if __name__ == "__main__":
    main()
