"""int8 ONNX (ONNX Runtime QDQ) beside int8 TFLite (LiteRT), from the same Keras model, measured in one run.

Part 1, the digits sample: float and int8 ONNX and TFLite through edgekit.convert with the sample's calibration data;
file size, gzip size and top-1 on the held-out split, through edgekit.runtime.
Part 2, MobileNetV2 1.0/224 (weights=None, so no download; calibrated on 32 seeded random images — its accuracy is
meaningless, only latency is measured): the four artifacts loaded once each through edgekit.runtime at --threads,
timed in --rounds interleaved rounds (A B C D, A B C D, ...) of --runs predictions each, so that drift on a shared
machine hits all four alike. Reported: median of the per-round medians, IQR of the per-round medians, and the
ratio to float TFLite; the 1-minute load average before and after is printed, since a busy machine moves the figures.

    python benchmarks/onnx_int8.py                  # both parts
    python benchmarks/onnx_int8.py --skip-mobilenet
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def digits(out: Path) -> None:
    from edgekit import runtime
    from edgekit.convert import to_onnx, to_tflite

    model, data_path = ROOT / "samples/digits/model.h5", ROOT / "samples/digits/data.npz"
    with np.load(data_path) as d:
        x, y = d["x_val"], d["y_val"]
    artifacts = {
        "tflite fp32": to_tflite(model, out / "d.tflite"),
        "tflite int8": to_tflite(model, out / "d_int8.tflite", quantize="int8", calibration=data_path),
        "onnx fp32": to_onnx(model, out / "d.onnx"),
        "onnx int8": to_onnx(model, out / "d_int8.onnx", quantize="int8", calibration=data_path),
    }
    print(f"digits sample, {len(x)} held-out images")
    print(f"{'artifact':<12} {'file bytes':>10} {'gzip bytes':>10} {'vs fp32':>8} {'top-1':>7}")
    for name, a in artifacts.items():
        with runtime.load(a.path) as m:
            top1 = float(np.mean(np.argmax(m.predict(x), axis=1) == y))
        base = artifacts[name.split()[0] + " fp32"].file_bytes
        print(f"{name:<12} {a.file_bytes:>10,} {a.gzip_bytes:>10,} {a.file_bytes / base:>7.3f}x {top1 * 100:>6.2f}%")


def mobilenet(out: Path, threads: int, runs: int, rounds: int) -> None:
    from edgekit import runtime
    from edgekit._tf import tf_keras
    from edgekit.convert import to_onnx, to_tflite

    keras = tf_keras()
    model = keras.applications.MobileNetV2(weights=None)
    calib = np.random.default_rng(0).uniform(-1, 1, (32, 224, 224, 3)).astype(np.float32)
    paths = {
        "tflite fp32": to_tflite(model, out / "m.tflite").path,
        "tflite int8": to_tflite(model, out / "m_int8.tflite", quantize="int8", calibration=calib).path,
        "onnx fp32": to_onnx(model, out / "m.onnx").path,
        "onnx int8": to_onnx(model, out / "m_int8.onnx", quantize="int8", calibration=calib).path,
    }
    x = calib[:1]
    loaded = {name: runtime.load(p, threads=threads) for name, p in paths.items()}
    for m in loaded.values():  # warm-up
        for _ in range(3):
            m.predict(x)
    load_before = os.getloadavg()[0]
    per_round: dict[str, list[float]] = {name: [] for name in loaded}
    for _ in range(rounds):
        for name, m in loaded.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                m.predict(x)
                times.append((time.perf_counter() - t0) * 1e3)
            per_round[name].append(statistics.median(times))
    load_after = os.getloadavg()[0]
    for m in loaded.values():
        m.close()
    base = statistics.median(per_round["tflite fp32"])
    print(f"\nMobileNetV2 1.0/224, {threads} thread(s), {rounds} interleaved rounds x {runs} runs; "
          f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"{'artifact':<12} {'file bytes':>11} {'p50 ms':>8} {'IQR ms':>13} {'vs tflite fp32':>15}")
    for name, medians in per_round.items():
        q = np.percentile(medians, [25, 75])
        print(f"{name:<12} {Path(paths[name]).stat().st_size:>11,} {statistics.median(medians):>8.2f} "
              f"{q[0]:>6.2f}-{q[1]:<6.2f} {statistics.median(medians) / base:>14.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--skip-mobilenet", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgekit-onnx-int8-") as tmp:
        digits(Path(tmp))
        if not args.skip_mobilenet:
            mobilenet(Path(tmp), args.threads, args.runs, args.rounds)


if __name__ == "__main__":
    main()
