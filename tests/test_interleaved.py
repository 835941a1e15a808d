"""Noise-aware latency: interleaved rounds, the spread, the bootstrap interval of the ratio, ties, a busy machine,
and no start-up cost carried by the first model benchmarked. Asserts the statistics and the protocol, never a
speed of this machine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edgekit.device_bench import measure_interleaved
from edgekit.device_bench.interleaved import busy_machine, ratio_interval, verdict
from edgekit.errors import EdgekitError


def test_ratio_interval_holds_the_true_ratio_and_ties_inside_the_noise():
    rng = np.random.default_rng(1)
    base = 10 + rng.normal(0, 0.3, 12)
    faster = 0.7 * base * (1 + rng.normal(0, 0.01, 12))
    ratio, (lo, hi) = ratio_interval(faster, base)
    assert lo <= ratio <= hi and lo < 0.7 * 1.02 and hi > 0.7 * 0.98 and hi - lo < 0.03
    assert verdict((lo, hi)) == "faster"
    assert verdict((1.08, 1.3)) == "slower"
    # the same model twice: the interval is around 1 -> a tie, and so is a real but tiny difference (< 5 %)
    same = base * (1 + rng.normal(0, 0.02, 12))
    assert verdict(ratio_interval(same, base)[1]) == "tie"
    assert verdict((0.97, 0.98)) == "tie"
    assert verdict((0.90, 1.02)) == "tie"  # a large effect whose interval reaches 1 is not measured


def test_ratio_interval_is_seeded():
    a, b = [1.0, 1.2, 0.9, 1.1], [1.0, 1.0, 1.0, 1.0]
    assert ratio_interval(a, b, seed=3) == ratio_interval(a, b, seed=3)
    with pytest.raises(ValueError):
        ratio_interval([1.0], [1.0, 2.0])


def test_busy_machine_says_why():
    assert busy_machine(0.3, 2, 0.99) is None
    assert busy_machine(1.9, 2, 1.0, own_threads=1) is None  # the load average counts the measurement itself
    assert "2.10 on 2 cores, 1 of it this measurement" in busy_machine(2.1, 2, 1.0, own_threads=1)
    line = busy_machine(1.7, 2, 0.99)
    assert "1-min load average 1.70 on 2 cores" in line and "ties" in line
    assert "had the CPU 55% of the time" in busy_machine(0.1, 8, 0.55)


def test_interleaved_copy_is_a_tie_with_the_spread_recorded(runtime_models, tmp_path):
    copy = tmp_path / "copy.tflite"
    shutil.copyfile(runtime_models.fp32, copy)
    r = measure_interleaved({"fp32": runtime_models.fp32, "copy": copy, "int8": runtime_models.int8}, "fp32",
                            rounds=4, round_time=0.02)
    assert [s.name for s in r.spreads] == ["fp32", "copy", "int8"] and r.rounds == 4
    assert r["fp32"].verdict == "baseline" and r["fp32"].ratio is None
    assert r["copy"].verdict == "tie" and r["copy"].verdict_text == "no measurable difference"
    assert r["int8"].verdict in ("faster", "slower", "tie")
    for s in r.spreads:
        assert len(s.round_medians_ms) == 4 and s.runs >= 4 * 5
        assert s.p25_ms <= s.median_ms <= s.p75_ms and s.iqr_ms == pytest.approx(s.p75_ms - s.p25_ms)
    lo, hi = r["copy"].ratio_ci
    assert lo <= r["copy"].ratio <= hi
    assert r.load_average_before is not None and r.cores >= 1 and 0 < r.cpu_share <= 1
    assert "interleaved" in r.method and r.to_dict()["spreads"][1]["verdict_text"] == "no measurable difference"


def test_interleaved_bad_settings(runtime_models):
    with pytest.raises(EdgekitError, match="baseline 'x' is not among the models: a"):
        measure_interleaved({"a": runtime_models.fp32}, "x")
    with pytest.raises(EdgekitError, match="at least 2 rounds"):
        measure_interleaved({"a": runtime_models.fp32}, "a", rounds=1)


def test_first_model_carries_no_start_up_cost_and_no_tensorflow(runtime_models, tmp_path):
    """In a fresh process, the first model benchmarked used to report the runtime's import and helper-process
    start (~85 ms load, ~10 MB) that the next ones did not; now every model pays it before it is measured."""
    copy = tmp_path / "copy.tflite"
    shutil.copyfile(runtime_models.fp32, copy)
    code = textwrap.dedent(f"""
        import json, sys
        from edgekit.device_bench import bench_many, measure_interleaved
        rs = bench_many([{str(runtime_models.fp32)!r}, {str(copy)!r}], runs=20, warmup=1)
        measure_interleaved({{"a": {str(runtime_models.fp32)!r}, "b": {str(copy)!r}}}, "a", rounds=2, round_time=0.01)
        heavy = [m for m in ("tensorflow", "tf_keras", "tensorflow_model_optimization") if m in sys.modules]
        assert not heavy, heavy
        print(json.dumps([[r.load_ms for r in rs], [r.memory.peak_increase_bytes for r in rs]]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    loads, peaks = json.loads(done.stdout.strip().splitlines()[-1])
    assert loads[0] < 30 and loads[0] < 5 * loads[1] + 5, loads  # was ~85 ms vs ~2 ms
    assert peaks[0] < 4e6, peaks  # was ~10 MB vs ~0.4 MB
