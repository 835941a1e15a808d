"""Microcontroller figures: ``--to mcu`` on the digits sample and on MLPerf Tiny-shaped models built in code.

For each model: flash (model bytes), the smallest TFLite Micro arena (and whether 75 % of it fails), ops, TFLM vs
LiteRT parity in LSB, host-side TFLM latency, MACs and the Cortex-M estimates of ``bench --engine tflm``. The MLPerf
Tiny-shaped models are untrained (weights=None, seeded): flash and arena depend on the architecture only, and the
parity check runs on seeded inputs; their accuracy is not a figure. The image models get one epoch on random data
first, so their BatchNorm statistics are not the initial ones (with those, every activation collapses to ~0 and
TFLite Micro's softmax aborts on the degenerate scale, which edgekit then reports as a failed conversion).

    PYTHONPATH=. python benchmarks/mcu.py            # markdown table on stdout (~2-4 min on 2 cores)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mcu_models import ds_cnn, kws_data, tflm_invokes  # noqa: E402


def resnet8():
    """The MLPerf Tiny image-classification ResNet (mlcommons/tiny training/image_classification/keras_model.py):
    32x32x3, a 16-filter stem, three residual stacks of 16/32/64 filters, 10 classes."""
    from edgekit._tf import tf_keras

    k = tf_keras()
    k.utils.set_random_seed(0)
    L = k.layers
    x = inputs = k.Input((32, 32, 3), name="image")
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(x)))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(filters, 3, strides=stride, padding="same")(x)))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=8)(x)
    outputs = L.Dense(10, activation="softmax")(L.Flatten()(x))
    return k.Model(inputs, outputs, name="resnet8")


def mobilenet_vww():
    """The MLPerf Tiny visual-wake-words model: MobileNetV1 with width 0.25 on 96x96x3, 2 classes."""
    from edgekit._tf import tf_keras

    k = tf_keras()
    k.utils.set_random_seed(0)
    return k.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25, weights=None, classes=2)


def main() -> None:
    from edgekit.convert import convert
    from edgekit.device_bench.tflm import bench_tflm

    rng = np.random.default_rng(0)
    kws = kws_data(200)

    def settled(model, x):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, rng.integers(0, model.output_shape[-1], len(x)), epochs=1, batch_size=32, verbose=0)
        return model

    images32, images96 = rng.random((200, 32, 32, 3), dtype=np.float32), rng.random((200, 96, 96, 3), dtype=np.float32)
    cases = [
        ("digits sample (samples/digits)", str(ROOT / "samples/digits/model.h5"), str(ROOT / "samples/digits/data.npz")),
        ("DS-CNN KWS, 64 filters (MLPerf Tiny shape)", ds_cnn(64), kws["x"]),
        ("ResNet-8 CIFAR-10 (MLPerf Tiny shape)", settled(resnet8(), images32), images32),
        ("MobileNetV1-0.25 VWW 96x96 (MLPerf Tiny shape)", settled(mobilenet_vww(), images96), images96),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, model, calibration) in enumerate(cases):
            start = time.perf_counter()
            artifact = convert(model, to="mcu", output=Path(tmp) / f"m{i}", calibration=calibration)
            seconds = time.perf_counter() - start
            m = artifact.mcu
            path = Path(artifact.path)
            bench = bench_tflm(path, runs=20)
            est = {e.profile: e for e in bench.estimates}
            arena = m.arena.bytes
            rows.append([
                label, f"{m.flash_bytes:,}", f"{arena:,}", "yes" if tflm_invokes(path, arena) else "NO",
                "fails" if not tflm_invokes(path, int(arena * 0.75)) else "RUNS", ", ".join(o.removeprefix("Add") for o in m.ops),
                f"{m.tflm_parity.max_lsb} ({m.tflm_parity.samples})", f"{m.tflm_vs_xnnpack.max_lsb}",
                f"{bench.macs / 1e6:.2f} M", f"{bench.host_latency_ms.p50:.2f}",
                f"{est['nucleo-l4r5zi'].ms_at_least:.1f}", f"{est['cortex-m55-400mhz'].ms_at_least:.2f}", f"{seconds:.0f}",
            ])
    head = ["model", "flash B", "arena B", "runs at arena", "at 75 %", "ops", "TFLM vs LiteRT max LSB (samples)",
            "vs XNNPACK max LSB", "MACs", "host TFLM p50 ms", "M4 @120 MHz ms >= (est.)", "M55 @400 MHz ms >= (est.)",
            "convert s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
