"""device_bench: size, latency, memory, compute and energy proxies of a model, measured on the device itself.

Runs with ``edgekit[runtime]`` only (numpy, PyYAML, ai-edge-litert, onnxruntime): it never imports TensorFlow.

    from edgekit.device_bench import bench, model_stats, compare_results
    r = bench("model.tflite", threads=2, device_profile="rpi4")
    print(r.latency.p50, r.stats.macs, r.energy)
"""

from edgekit.device_bench.bench import BenchResult, Comparison, bench, bench_many, compare_results, load_results, to_csv
from edgekit.device_bench.conditions import Conditions, machine_conditions
from edgekit.device_bench.energy import (
    HOROWITZ_45NM_PJ,
    DeviceProfile,
    EnergyEstimate,
    device_profiles,
    get_device_profile,
)
from edgekit.device_bench.graph_stats import ModelStats, model_stats
from edgekit.device_bench.interleaved import Interleaved, Spread, measure_interleaved
from edgekit.device_bench.latency import LatencyStats
from edgekit.device_bench.memory import MemoryUsage
from edgekit.device_bench.op_profile import OpDiff, OpProfile, diff_op_profiles, profile_ops

__all__ = [
    "BenchResult",
    "Comparison",
    "Conditions",
    "DeviceProfile",
    "EnergyEstimate",
    "HOROWITZ_45NM_PJ",
    "Interleaved",
    "LatencyStats",
    "MemoryUsage",
    "ModelStats",
    "OpDiff",
    "OpProfile",
    "Spread",
    "bench",
    "bench_many",
    "compare_results",
    "device_profiles",
    "diff_op_profiles",
    "get_device_profile",
    "load_results",
    "machine_conditions",
    "measure_interleaved",
    "model_stats",
    "profile_ops",
    "to_csv",
]
