"""Figures for BENCHMARKS.md "## Channel pruning": does removing channels remove compute, latency and accuracy?

Run: .venv/bin/python benchmarks/channel_pruning.py [--out bench-out/channels] [--epochs 5] [--rounds 15]
     [--parts digits,mobilenet,applications,latency]

1. Digits sample (a plain CNN), ``--channels 0.5``, fine-tuned on the labels (cross-entropy), by distillation with
   the labels, and by distillation from inputs only: MACs, parameters, held-out top-1 of the shipped fp32 .tflite,
   and fp32 latency of the original and the pruned model measured interleaved in one run (1 thread).
2. MobileNetV2 1.0/224 (weights=None) at ratios 0.25 and 0.5 (no fine-tuning: random weights have no accuracy to
   keep): MACs (edgekit's Keras count and the .tflite counter), parameters and fp32 latency against the original,
   interleaved in one run.
3. keras.applications (weights=None, small inputs) at ratio 0.5: does the channel graph cover real architectures?
   MACs and parameters before/after, groups, groups left whole and layers named as not followed.
4. A measured latency target on MobileNetV2: half the original's median fp32 latency; the search's candidates,
   then the chosen model against the original, interleaved.

Prints markdown tables and the load average: latency ratios on a shared machine are noisy, so each comes with its
95 % interval and a verdict (a ratio whose interval crosses 1 ± 5 % is a tie).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

from edgekit.convert import to_tflite
from edgekit.device_bench import measure_interleaved, model_stats
from edgekit.optimize import optimize_model, prune_channels
from edgekit.recipe import ChannelPrune, Recipe, Train

ROOT = Path(__file__).resolve().parents[1]


def digits(out: Path, epochs: int, rounds: int) -> None:
    model, data = ROOT / "samples/digits/model.h5", ROOT / "samples/digits/data.npz"
    with np.load(data) as d:
        arrays = {k: d[k] for k in d.files}
    inputs_only = out / "digits_inputs_only.npz"
    np.savez(inputs_only, x_train=arrays["x_train"], x_val=arrays["x_val"])
    runs = [
        ("labels (cross-entropy)", data, Train(epochs=epochs, distill=False)),
        ("labels + distillation", data, Train(epochs=epochs, distill=True)),
        ("inputs only (distillation)", inputs_only, Train(epochs=epochs)),
    ]
    rows, artifacts, original = [], {}, None
    from edgekit import runtime

    for label, source, train in runs:
        name = "channels-0.5-" + label.split()[0]
        start = time.perf_counter()
        result = optimize_model(model, Recipe(name, prune=ChannelPrune(ratio=0.5), train=train), source, out / f"{name}.h5")
        seconds = time.perf_counter() - start
        artifact = result.variants[1].path
        with runtime.load(artifact) as m:  # inputs-only runs are measured on the labels too, here
            top1 = float(np.mean(m.predict(arrays["x_val"]).argmax(1) == arrays["y_val"]))
            agree = float(np.mean(m.predict(arrays["x_val"]).argmax(1) == result.optimized.model.predict(arrays["x_val"], verbose=0).argmax(1)))
        if original is None:
            original = to_tflite(model, out / "digits_original.tflite", quantize="none").path
            with runtime.load(original) as m:
                original_top1 = float(np.mean(m.predict(arrays["x_val"]).argmax(1) == arrays["y_val"]))
        ch = result.optimized.channels
        teacher = result.variants[1].metrics.agreement
        rows.append([label, f"{ch.macs_before:,} → {ch.macs_after:,} ({ch.mac_ratio:.2f}×)",
                     f"{ch.params_before:,} → {ch.params_after:,}", f"{100 * original_top1:.2f}", f"{100 * top1:.2f}",
                     f"{100 * (top1 - original_top1):+.2f}", f"{100 * teacher:.2f}" if teacher is not None else "-",
                     f"{seconds:.0f}"])
        assert agree == 1.0, "the .tflite must compute what the Keras model computes"
        artifacts[label] = artifact
    print(f"\n### Digits sample, --channels 0.5, {epochs} epochs of fine-tuning (held-out: 360 images)\n")
    print("| fine-tuned on | MACs | parameters | original top-1 % | pruned top-1 % | Δ pts | agreement with original % | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    latency({"original": original, "channels-0.5": artifacts["labels (cross-entropy)"]}, "original", rounds)


def mobilenet(out: Path, rounds: int) -> None:
    from edgekit._tf import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), alpha=1.0)
    paths, rows = {}, []
    paths["original"] = to_tflite(model, out / "mobilenetv2.tflite", quantize="none").path
    rows.append(["original", "-", f"{model.count_params():,}", "-", f"{model_stats(paths['original']).macs:,}"])
    for ratio in (0.25, 0.5):
        start = time.perf_counter()
        pruning = prune_channels(model, ratio)
        seconds = time.perf_counter() - start
        name = f"channels-{ratio}"
        paths[name] = to_tflite(pruning.model, out / f"mobilenetv2-{name}.tflite", quantize="none").path
        tflite_macs = model_stats(paths[name]).macs
        rows.append([name, f"{pruning.macs_before:,} → {pruning.macs_after:,} ({pruning.mac_ratio:.2f}×)",
                     f"{pruning.params_before:,} → {pruning.params_after:,} ({pruning.params_before / pruning.params_after:.2f}×)",
                     f"{seconds:.1f}", f"{tflite_macs:,}"])
        left_whole = [g for g in pruning.groups if g.kept == g.channels]
        print(f"# {name}: {len(pruning.groups)} groups, left whole: "
              + ", ".join(f"{'+'.join(g.layers)} ({g.note or 'rounding'})" for g in left_whole))
    print("\n### MobileNetV2 1.0/224 (weights=None), channel pruning without fine-tuning\n")
    print("| variant | MACs (Keras count) | parameters | pruning s | MACs (.tflite counter) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    latency(paths, "original", rounds)


APPLICATIONS = {  # name -> input shape (small, to keep the run short; the graph does not depend on it)
    "ResNet50": (64, 64, 3), "EfficientNetB0": (64, 64, 3), "DenseNet121": (64, 64, 3), "MobileNetV3Small": (64, 64, 3),
    "MobileNetV3Large": (64, 64, 3), "VGG16": (64, 64, 3), "Xception": (71, 71, 3),
}


def applications() -> None:
    from edgekit._tf import tf_keras

    keras = tf_keras()
    print("\n### keras.applications (weights=None), --channels 0.5, no fine-tuning\n")
    print("| model | input | MACs before → after | parameters before → after | groups | left whole | not followed | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, shape in APPLICATIONS.items():
        model = getattr(keras.applications, name)(weights=None, input_shape=shape)
        start = time.perf_counter()
        pruning = prune_channels(model, 0.5)
        seconds = time.perf_counter() - start
        x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
        assert pruning.model.predict(x, verbose=0).shape == model.predict(x, verbose=0).shape
        whole = [f"{'+'.join(g.layers)}" for g in pruning.groups if g.kept == g.channels]
        print(f"| {name} | {shape[0]}×{shape[1]} | {pruning.macs_before:,} → {pruning.macs_after:,} ({pruning.mac_ratio:.2f}×) | "
              f"{pruning.params_before:,} → {pruning.params_after:,} ({pruning.params_before / pruning.params_after:.2f}×) | "
              f"{len(pruning.groups)} | {', '.join(whole) or '-'} | "
              f"{'; '.join(f'{k}: {v}' for k, v in pruning.unhandled.items()) or '-'} | {seconds:.1f} |")


def latency_target(out: Path, rounds: int) -> None:
    from edgekit._tf import tf_keras
    from edgekit.device_bench import bench
    from edgekit.optimize.channel_latency import prune_to_latency

    keras = tf_keras()
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), alpha=1.0)
    original = to_tflite(model, out / "mobilenetv2.tflite", quantize="none").path
    target = 0.5 * bench(original, threads=1, min_time=1.0).latency.p50
    start = time.perf_counter()
    pruning, search = prune_to_latency(model, target)
    seconds = time.perf_counter() - start
    print(f"\n### MobileNetV2 1.0/224 to a latency target of {target:.2f} ms (half the original's median)\n")
    print(f"search: {len(search.measured)} candidates in {seconds:.0f} s; " + search.note())
    print(f"chosen: {pruning.macs_after:,} MACs ({pruning.mac_ratio:.2f}× fewer), "
          f"{pruning.params_after:,} parameters")
    chosen = to_tflite(pruning.model, out / "mobilenetv2-latency.tflite", quantize="none").path
    latency({"original": original, "chosen": chosen}, "original", rounds)


def latency(paths: dict, baseline: str, rounds: int) -> None:
    result = measure_interleaved(paths, baseline, rounds=rounds, round_time=0.2, threads=1)
    print(f"\nfp32 latency, 1 thread, interleaved ({result.rounds} rounds × {result.round_time_s} s per model; "
          f"load average {result.load_average_before} → {result.load_average_after} on {result.cores} cores, "
          f"CPU share {result.cpu_share:.2f}){' — ' + result.busy if result.busy else ''}\n")
    print("| model | median ms | IQR ms | speed-up vs original (95 % CI) | verdict |")
    print("|---|---|---|---|---|")
    for s in result.spreads:
        speedup = "-" if s.ratio is None else f"{1 / s.ratio:.2f}× ({1 / s.ratio_ci[1]:.2f}–{1 / s.ratio_ci[0]:.2f})"
        print(f"| {s.name} | {s.median_ms:.4f} | {s.iqr_ms:.4f} | {speedup} | {s.verdict_text} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench-out/channels")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--parts", default="digits,mobilenet,applications,latency")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if "digits" in parts:
        digits(out, args.epochs, args.rounds)
    if "mobilenet" in parts:
        mobilenet(out, args.rounds)
    if "applications" in parts:
        applications()
    if "latency" in parts:
        latency_target(out, args.rounds)


if __name__ == "__main__":
    main()
