"""What a device has: run ON the device by ``edgekit devices info --json`` (needs only ``edgekit[runtime]``)."""

from __future__ import annotations

import platform
import sys
from typing import Any

from edgekit._versions import package_versions

__all__ = ["MODEL_RUNTIMES", "RUNTIME_PACKAGES", "device_info"]

# What `pip install edgekit[runtime]` brings, by distribution name (setup.cfg: install_requires + runtime).
RUNTIME_PACKAGES = ("numpy", "click", "PyYAML", "ai-edge-litert", "onnxruntime")
# The model runtimes among them: distribution -> (the runtime kind edgekit.runtime knows, the artifacts it runs). A
# device needs one; without the other, its artifacts cannot run there (and say so), the rest can.
MODEL_RUNTIMES = {"ai-edge-litert": ("tflite", ".tflite"), "onnxruntime": ("onnx", ".onnx")}


def device_info() -> dict[str, Any]:
    """Python, edgekit and runtime versions, what is missing, CPU, governor, thermal state and accelerators."""
    import edgekit
    from edgekit.device_bench.conditions import machine_conditions, snapshot

    versions = package_versions((*RUNTIME_PACKAGES, "tensorflow", "tflite-runtime"))
    cond, now = machine_conditions(), snapshot()
    accelerators, unusable = {}, {}
    for dist, (kind, _) in MODEL_RUNTIMES.items():
        if dist in versions:
            from edgekit.errors import EdgekitError
            from edgekit.runtime import available_accelerators

            try:
                accelerators[kind] = list(available_accelerators(kind))
            except EdgekitError as exc:  # installed, but it does not load here (a wheel for another CPU, a library)
                unusable[dist] = str(exc)
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "edgekit": edgekit.__version__,
        "packages": versions,
        "missing": [d for d in RUNTIME_PACKAGES if d not in versions],
        "unusable": unusable,
        "machine": cond.machine,
        "system": cond.system,
        "cpu": cond.cpu_model,
        "device_model": cond.device_model,
        "cores": cond.cores_usable,
        "governors": list(cond.governors),
        "temperatures_c": now.temperatures_c,
        "throttled": now.throttled,
        "load_average": now.load_average,
        "accelerators": accelerators,
    }
