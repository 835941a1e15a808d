"""What running each TFLite conversion in a child process (edgekit.convert.isolated) costs, side by side with the
converter in-process, interleaved, on the digits sample: float32 and int8 (200 calibration samples).

Run: PYTHONPATH=. python benchmarks/convert_isolation.py [rounds]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def in_process(source, mode, samples) -> bytes:
    from edgekit._log import quiet_native
    from edgekit._tf import tf
    from edgekit.convert.tflite import configure

    tf_ = tf()
    function = source.tf_function().get_concrete_function()
    converter = tf_.lite.TFLiteConverter.from_concrete_functions([function], source.model)
    configure(converter, mode, samples, [n for n, _ in source.input_specs], "float32", False)
    with quiet_native():
        return converter.convert()


def main(rounds: int = 5) -> None:
    from edgekit.convert.isolated import convert_isolated
    from edgekit.keras.source import open_source

    source = open_source(ROOT / "samples" / "digits" / "model.h5")
    with np.load(ROOT / "samples" / "digits" / "data.npz") as data:
        samples = [data["x_train"][:200]]
    start = time.perf_counter()
    convert_isolated(source, "none", None, "float32", None, False)
    first = time.perf_counter() - start
    times = {(how, mode): [] for how in ("in-process", "child") for mode in ("none", "int8")}
    for _ in range(rounds):
        for mode in ("none", "int8"):
            cal = samples if mode == "int8" else None
            for how, run in (("in-process", lambda: in_process(source, mode, cal)),
                             ("child", lambda: convert_isolated(source, mode, cal, "float32", None, False))):
                t = time.perf_counter()
                run()
                times[(how, mode)].append(time.perf_counter() - t)
    print(f"load average {os.getloadavg()[0]:.1f}; first conversion in a process (child start + TensorFlow import): {first:.1f} s")
    for mode in ("none", "int8"):
        a, b = np.median(times[("in-process", mode)]), np.median(times[("child", mode)])
        print(f"{mode:5s} median of {rounds}: in-process {a:.2f} s, child {b:.2f} s, overhead {b - a:+.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
