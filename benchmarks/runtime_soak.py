"""Soak edgekit.runtime: 100k predictions (and repeated load/close) must leave RSS flat.

Per model: a warm-up, then N predict calls (float input, so quantized models quantize/dequantize every call; every
1000th call a different batch size, so the interpreter is resized back and forth), sampling the process RSS every
5% of the run; then M load -> predict -> close cycles. "Flat" = RSS growth from the first sample after warm-up to
the end under --tolerance-mb.

    python benchmarks/runtime_soak.py [--calls 100000] [--cycles 500] [--workdir bench-out/runtime]

Uses the digits models converted by runtime_overhead.py (it runs the conversion if they are missing) plus an ONNX
export of the same sample when tf2onnx is available.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_models(workdir: Path) -> list[Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = [workdir / "digits_fp32.tflite", workdir / "digits_int8.tflite"]
    if not all(p.exists() for p in wanted):
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "runtime_overhead.py"), "--convert-only",
                        "--workdir", str(workdir)], check=True)
    onnx = workdir / "digits.onnx"
    if not onnx.exists():
        code = ("from edgekit._tf import tf, tf_keras; import tf2onnx; t = tf(); "
                f"m = tf_keras().models.load_model({str(ROOT / 'samples/digits/model.h5')!r}, compile=False); "
                "tf2onnx.convert.from_keras(m, input_signature=[t.TensorSpec((None, 8, 8, 1), t.float32, "
                f"name='image')], opset=17, output_path={str(onnx)!r})")
        subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    return wanted + ([onnx] if onnx.exists() else [])


def soak(path: Path, calls: int, cycles: int) -> dict:
    import numpy as np

    from edgekit.runtime import load

    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, 1, size=(1, 8, 8, 1)).astype("float32")
    x8 = rng.uniform(0, 1, size=(8, 8, 8, 1)).astype("float32")
    samples = []
    with load(path) as model:
        for _ in range(2000):  # warm-up: allocator pools, first resizes
            model.predict(x1)
            model.predict(x8)
        start = time.perf_counter()
        step = max(calls // 20, 1)
        for i in range(calls):
            model.predict(x8 if i % 1000 == 999 else x1)
            if i % step == 0:
                samples.append(round(rss_mb(), 2))
        seconds = time.perf_counter() - start
    samples.append(round(rss_mb(), 2))
    cycle_samples = []
    for i in range(cycles):
        with load(path) as model:
            model.predict(x1)
        if i % max(cycles // 10, 1) == 0:
            cycle_samples.append(round(rss_mb(), 2))
    cycle_samples.append(round(rss_mb(), 2))
    return {"model": path.name, "calls": calls, "seconds": round(seconds, 1),
            "us_per_call": round(seconds / calls * 1e6, 1), "rss_mb": samples,
            "predict_growth_mb": round(samples[-1] - samples[0], 2), "load_close_cycles": cycles,
            "cycle_rss_mb": cycle_samples, "cycle_growth_mb": round(cycle_samples[-1] - cycle_samples[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-out" / "runtime")
    parser.add_argument("--tolerance-mb", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [soak(p, args.calls, args.cycles) for p in ensure_models(args.workdir)]
    flat = all(r["predict_growth_mb"] <= args.tolerance_mb and r["cycle_growth_mb"] <= args.tolerance_mb
               for r in results)
    if args.json:
        print(json.dumps({"flat": flat, "results": results}, indent=2))
    else:
        print("| model | predict calls | µs/call | RSS first → last (MB) | growth | load/close cycles | growth |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['model']} | {r['calls']:,} | {r['us_per_call']} | {r['rss_mb'][0]} → {r['rss_mb'][-1]} | "
                  f"{r['predict_growth_mb']:+.2f} MB | {r['load_close_cycles']} | {r['cycle_growth_mb']:+.2f} MB |")
        print(f"\nflat (growth <= {args.tolerance_mb} MB): {flat}")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
