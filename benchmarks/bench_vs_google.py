"""edgekit bench against Google's own harness, on the same model and thread count, in one run.

Google's tool ships in the ai-edge-litert wheel: python -m ai_edge_litert.tools.benchmark_litert_model. Both run
as separate processes, alternating A B A B ... for --rounds rounds so that drift on a shared machine hits both
alike; the figure is the ratio of the medians of each side's per-round medians (edgekit p50 / Google median), with the
median of the per-round ratios beside it. Target: within ±5 %.

    python benchmarks/bench_vs_google.py                      # MobileNetV2 1.0/224 fp32 + int8, 1 and 2 threads
    python benchmarks/bench_vs_google.py --model m.tflite --threads 1,4 --runs 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_mobilenet_v2(out: Path) -> list[Path]:
    """MobileNetV2 1.0/224 (weights=None: no download) as fp32, dynamic-range and int8 .tflite."""
    import numpy as np

    from edgekit._tf import tf as get_tf, tf_keras

    tf, keras = get_tf(), tf_keras()
    model = keras.applications.MobileNetV2(weights=None)
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)]

    paths = []
    for mode in ("fp32", "dynamic", "int8"):
        path = out / f"mobilenet_v2_{mode}.tflite"
        if not path.exists():
            conv = tf.lite.TFLiteConverter.from_keras_model(model)
            if mode != "fp32":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if mode == "int8":
                conv.representative_dataset = rep
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            path.write_bytes(conv.convert())
        paths.append(path)
    return paths


def run_edgekit(model: Path, threads: int, runs: int, warmup: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "edgekit", "bench", str(model), "--threads", str(threads), "--runs", str(runs),
         "--warmup", str(warmup), "--json"], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)[0]["latency"]["p50"]


def run_google(model: Path, threads: int, runs: int, warmup: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "r.json"
        subprocess.run(
            [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", f"--model={model}",
             f"--num_threads={threads}", f"--num_runs={runs}", f"--warmup_runs={warmup}",
             f"--result_json={result}"], capture_output=True, text=True, check=True)
        return json.loads(result.read_text())["latency"]["median_ms"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", type=Path, help="a .tflite model (repeatable); default MobileNetV2")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "edgekit-bench-models",
                    help="where the default models are written (reused when present)")
    args = ap.parse_args()
    if args.model:
        models = args.model
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        models = [p for p in build_mobilenet_v2(args.out) if "dynamic" not in p.name]
    threads = [int(t) for t in args.threads.split(",")]
    import os

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work skews both sides)")
    print(f"{'model':28} {'thr':>3} {'edgekit p50 ms':>15} {'google median ms':>17} {'ratio':>7} {'med(r)':>7}"
          "  per-round ratios")
    worst = 0.0
    for model in models:
        for t in threads:
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run_edgekit(model, t, args.runs, args.warmup))
                theirs.append(run_google(model, t, args.runs, args.warmup))
            a, b = statistics.median(ours), statistics.median(theirs)
            ratio = a / b
            worst = max(worst, abs(ratio - 1))
            per_round = [x / y for x, y in zip(ours, theirs)]
            rounds = " ".join(f"{r:.3f}" for r in per_round)
            print(f"{model.name:28} {t:>3} {a:>15.3f} {b:>17.3f} {ratio:>7.3f} {statistics.median(per_round):>7.3f}"
                  f"  {rounds}", flush=True)
    print(f"largest deviation: {worst * 100:.1f}% (target within 5%)")


if __name__ == "__main__":
    main()
