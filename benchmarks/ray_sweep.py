"""A 16-variant sweep of the digits sample with the local executor and with Ray on this machine, in one run.

The sweep (written once with `sweep:`): prune.sparsity {0.5, 0.8} x cluster.clusters {8, 16} x quantize.mode
{int8, float16} x formats {[tflite], [tflite, onnx]}, one fine-tuning epoch each. Both executors write to their own
output folder; robustness and latency are measured the same way in both (latency always on this machine). Printed:
wall time of each, the Ray start-up time, the per-task overhead (Ray's wall time minus the local one divided by the
parallelism it had, over the tasks), and whether both gave the same variants, accuracies (within 0.5 pt) and
recommendation. The 1-minute load average is printed too: other work on the machine moves these figures.

    python benchmarks/ray_sweep.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = {"sweep": [{
    "name": "s",
    "recipe": {"train": {"epochs": 1}},
    "grid": {"prune.sparsity": [0.5, 0.8], "cluster.clusters": [8, 16], "quantize.mode": ["int8", "float16"],
             "formats": [["tflite"], ["tflite", "onnx"]]},
}]}


def main() -> None:
    import ray

    from edgekit.optimize.pipeline import Settings, optimize
    from edgekit.recipe import recipes_from_data

    recipes = recipes_from_data(SWEEP)
    assert len(recipes) == 16
    model, data = ROOT / "samples/digits/model.h5", ROOT / "samples/digits/data.npz"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="edgekit-ray-sweep-") as tmp:
        walls, results = {}, {}
        for name in ("local", "ray"):
            start = time.perf_counter()
            results[name] = optimize(model, Path(tmp) / name, data=data, recipes=recipes, settings=Settings(executor=name))
            walls[name] = time.perf_counter() - start
        start = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - start
        ray.shutdown()
    local, remote = results["local"], results["ray"]
    top1 = {n: {f"{v.name}/{a.format}": a.measurement.metrics.top1 for v, a in r.measured()} for n, r in results.items()}
    same = set(top1["local"]) == set(top1["ray"]) and all(abs(top1["local"][k] - top1["ray"][k]) <= 0.005 for k in top1["local"])
    cores = os.cpu_count() or 1
    print(f"16-variant sweep of the digits sample on {cores} cores; 1-min load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    print(f"local executor: {walls['local']:.1f} s   Ray (local, {cores} workers): {walls['ray']:.1f} s   "
          f"ratio {walls['ray'] / walls['local']:.2f}")
    print(f"Ray start-up (ray.init on this machine): {ray_start:.1f} s; overhead per task "
          f"(Ray wall - local wall / {cores}) / 16: {(walls['ray'] - walls['local'] / cores) / 16:.2f} s")
    print(f"same variants and accuracies within 0.5 pt: {same}; recommendation local {local.ranking.recommended}, "
          f"Ray {remote.ranking.recommended}; Ray ran {remote.execution.variants_per_node}")


if __name__ == "__main__":
    main()
