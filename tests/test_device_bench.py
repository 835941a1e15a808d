"""device_bench: counted figures against hand counts, the timing protocol, energy methods, conditions, CLI.

Uses the session fixtures ``runtime_models`` (a tiny digits CNN committed in tests/data: .tflite fp32/int8, fixed
batch 1, .onnx; no TensorFlow needed) and ``digits_models`` (the digits sample converted by TensorFlow, for the hand
counts of a graph with BatchNormalization).
Timing tests assert the protocol (run counts, ordering, units), never a speed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import asdict, replace

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.device_bench import (
    HOROWITZ_45NM_PJ,
    bench,
    compare_results,
    device_profiles,
    diff_op_profiles,
    get_device_profile,
    load_results,
    model_stats,
    profile_ops,
    to_csv,
)
from edgekit.device_bench import conditions as cond
from edgekit.device_bench.energy import CommandMeter, RaplMeter, op_count_energy, time_power_energy
from edgekit.device_bench.memory import MemoryWatch
from edgekit.device_bench.op_profile import OpProfile, OpTypeTime
from edgekit.errors import AcceleratorError, EdgekitError, ModelLoadError

# Digits CNN by hand (8x8x1 input, 'same' 3x3 convs):
#   conv1 8*8*32 * 3*3*1 = 18_432   conv2 8*8*64 * 3*3*32 = 1_179_648
#   fc1 1024*128 = 131_072          probs 128*10 = 1_280
DIGITS_CONV_MACS = 18_432 + 1_179_648
DIGITS_FC_MACS = 131_072 + 1_280
DIGITS_MACS = DIGITS_CONV_MACS + DIGITS_FC_MACS
# Parameters after conversion: conv1 288+32 (bn1 folded into its bias), conv2 18_432+64, fc1 131_072+128,
# probs 1_280+10, plus bn2 (after a ReLU, not foldable) as a per-channel MUL and ADD: 64+64.
DIGITS_PARAMS = 320 + 18_496 + 131_200 + 1_290 + 128
# The tiny digits CNN of tests/data (make_fixtures.py): conv1 8 filters on 8x8, pool, conv2 16 filters on 4x4, pool,
#   conv1 8*8*8 * 3*3*1 = 4_608   conv2 4*4*16 * 3*3*8 = 18_432   fc1 64*32 = 2_048   probs 32*10 = 320
TINY_MACS = 4_608 + 18_432 + 2_048 + 320




# ---- graph stats ---------------------------------------------------------------------------------------

@pytest.mark.tensorflow
def test_tflite_fp32_counts_match_hand_count(digits_models):
    s = model_stats(digits_models.fp32)
    assert s.format == "tflite"
    assert s.macs == DIGITS_MACS == 1_330_432
    assert s.macs_by_op == {"CONV_2D": DIGITS_CONV_MACS, "FULLY_CONNECTED": DIGITS_FC_MACS}
    assert s.macs_by_dtype == {"float32": DIGITS_MACS}
    assert s.params == DIGITS_PARAMS == 151_434
    assert s.bytes_by_dtype["float32"] == 4 * DIGITS_PARAMS  # the reshape's int32 shape is not a parameter
    assert s.file_bytes == digits_models.fp32.stat().st_size
    assert 0 < s.gzip_bytes < s.file_bytes
    assert s.op_counts["CONV_2D"] == 2 and s.op_counts["FULLY_CONNECTED"] == 2


@pytest.mark.tensorflow
def test_int8_counts_int8_macs_and_bytes(digits_models):
    fp32, int8 = model_stats(digits_models.fp32), model_stats(digits_models.int8)
    assert int8.macs == fp32.macs and int8.params == fp32.params
    assert int8.macs_by_dtype == {"int8": DIGITS_MACS}
    weights = 288 + 18_432 + 131_072 + 1_280  # conv/fc kernels are int8, biases int32
    assert int8.bytes_by_dtype["int8"] >= weights
    assert int8.bytes_by_dtype.get("float32", 0) == 0
    assert int8.weight_bytes < fp32.weight_bytes / 3
    assert int8.activation_bytes < fp32.activation_bytes


@pytest.mark.tensorflow
def test_dynamic_range_macs_are_integer_where_weights_are(digits_models):
    s = model_stats(digits_models.dynamic)
    # conv1's 288 weights stay float (below the converter's 1024-element threshold); the rest are int8
    assert s.macs_by_dtype == {"float32": 18_432, "int8": DIGITS_MACS - 18_432}


@pytest.mark.tensorflow
def test_onnx_counts_agree_with_tflite(digits_models):
    s = model_stats(digits_models.onnx)
    assert s.format == "onnx"
    assert s.macs == DIGITS_MACS
    # ONNX keeps bn2 as BatchNormalization (scale, bias, mean, var: 4 x 64) where TFLite has MUL+ADD (2 x 64)
    assert s.params == DIGITS_PARAMS - 128 + 256
    assert s.macs_by_dtype == {"float32": DIGITS_MACS}


def test_onnx_without_onnx_package_says_so(runtime_models, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    s = model_stats(runtime_models.onnx)
    assert s.macs is None and s.params is None
    assert "need the 'onnx' package" in s.notes[0] and "pip install onnx" in s.notes[0]
    assert s.file_bytes > 0
    e = op_count_energy(s)
    assert e.value is None and "onnx" in e.reason


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.tflite", None, "model file not found"),
        ("empty.tflite", b"", "model file is empty"),
        ("junk.tflite", b"\x00" * 64, "TFL3"),
        ("model.pb", b"abc", "unknown model format '.pb'"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        model_stats(path)


def test_truncated_tflite_is_clear_error(runtime_models, tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(runtime_models.fp32.read_bytes()[:3000])
    with pytest.raises(ModelLoadError, match="truncated"):
        model_stats(cut)


# ---- bench ---------------------------------------------------------------------------------------------

def test_bench_fixed_runs_protocol_and_units(runtime_models):
    r = bench(runtime_models.int8, threads=1, batch=1, runs=30, warmup=3, device_profile="rpi4")
    lat = r.latency
    assert lat.runs == 30 and r.warmup_runs == 3
    assert lat.min <= lat.p50 <= lat.p90 <= lat.p99 <= lat.max
    assert lat.min <= lat.mean <= lat.max and lat.std >= 0
    assert r.throughput_ips == pytest.approx(1e3 / lat.mean)
    assert r.load_ms > 0 and r.first_ms > 0
    assert r.macs == TINY_MACS
    assert r.gmacs_per_s == pytest.approx(TINY_MACS / (lat.mean / 1e3) / 1e9)
    assert r.accelerator == "cpu" and r.backend
    assert r.settings["threads"] == 1 and r.settings["runs"] == 30
    import edgekit

    assert r.edgekit_version == edgekit.__version__
    methods = {e.method: e for e in r.energy}
    assert set(methods) == {"op-count", "time×power", "measured"}
    assert methods["op-count"].units == "uJ/inference" and methods["op-count"].value > 0
    assert "Horowitz" in methods["op-count"].source
    assert {e.units for e in methods.values()} == {"uJ/inference"}  # one unit for every method
    assert methods["time×power"].value == pytest.approx(lat.mean * 3.0 * 1000)  # ms × W = mJ = 1000 µJ
    assert "raspberrypi.com" in methods["time×power"].source and "UNVERIFIED" in methods["time×power"].source
    assert methods["time×power"].reason.startswith("estimate: rpi4 at 3.0 W")
    if not RaplMeter().domains:
        assert methods["measured"].value is None and "RAPL" in methods["measured"].reason
    assert r.memory.peak_rss_bytes >= r.memory.baseline_rss_bytes > 0
    assert r.conditions.cores_logical and r.conditions.before is not None and r.conditions.after is not None
    data = json.loads(json.dumps(r.to_dict(), default=str))  # JSON-able
    assert data["latency"]["runs"] == 30 and data["stats"]["macs"] == TINY_MACS


def test_bench_min_time_adapts_and_batches(runtime_models):
    r = bench(runtime_models.fp32, threads=1, batch=4, min_time=0.2, warmup=1)
    assert r.latency.total_s >= 0.2 and r.latency.runs >= 10
    assert r.items_per_s == pytest.approx(4 * r.throughput_ips)
    assert r.macs == 4 * TINY_MACS
    ops = {e.method: e for e in r.energy}["op-count"]
    assert ops.per_item == pytest.approx(ops.value / 4)


def test_bench_fixed_batch_one_model_and_onnx(runtime_models):
    r = bench(runtime_models.fixed1, batch=3, runs=5, warmup=0)
    assert r.latency.runs == 5 and r.items_per_s == pytest.approx(3 * r.throughput_ips)
    o = bench(runtime_models.onnx, batch=2, runs=5, warmup=1)
    have_onnx = importlib.util.find_spec("onnx") is not None  # edgekit[runtime] alone: MACs of an .onnx need onnx
    assert o.format == "onnx" and o.backend and o.macs == (2 * TINY_MACS if have_onnx else None)


def test_bench_bad_settings_are_clear_errors(runtime_models):
    with pytest.raises(EdgekitError, match="unknown device profile 'nope'; available: .*rpi4"):
        bench(runtime_models.fp32, runs=1, device_profile="nope")
    with pytest.raises(EdgekitError, match="--runs must be at least 1"):
        bench(runtime_models.fp32, runs=0)
    from edgekit.device_bench import bench_many

    with pytest.raises(AcceleratorError, match="available: cpu"):
        bench_many([runtime_models.fp32], accelerator="warp-drive", runs=1)


# ---- energy --------------------------------------------------------------------------------------------

def test_op_count_energy_follows_the_table(runtime_models):
    s = model_stats(runtime_models.int8)
    e = op_count_energy(s)
    t = HOROWITZ_45NM_PJ
    compute = TINY_MACS * (t["int8"]["mult"] + t["int8"]["add"])
    assert e.details["compute_uj"] == pytest.approx(compute / 1e6)
    assert e.details["weights_dram_uj"] == pytest.approx(s.weight_bytes / 4 * 640 / 1e6)
    assert e.details["activations_sram_uj"] == pytest.approx(s.activation_bytes / 4 * 5 / 1e6)
    parts = ("compute_uj", "elementwise_uj", "weights_dram_uj", "activations_sram_uj")
    assert e.value == pytest.approx(sum(e.details[k] for k in parts))
    fp32 = op_count_energy(model_stats(runtime_models.fp32))
    assert fp32.details["compute_uj"] == pytest.approx(TINY_MACS * (3.7 + 0.9) / 1e6)
    assert fp32.value > 3 * e.value


def test_device_profiles_builtin_and_user_file(tmp_path):
    builtin = device_profiles()
    for name in ("rpi4", "rpi5", "coral-usb", "jetson-nano"):
        assert builtin[name].active_power_w > 0 and builtin[name].source
    user = tmp_path / "mine.yaml"
    user.write_text("profiles:\n  my-board:\n    active_power_w: 1.5\n    source: bench supply, 2026\n"
                    "  rpi4:\n    active_power_w: 6.4\n    source: my USB meter under load\n")
    assert get_device_profile("my-board", user).active_power_w == 1.5
    assert get_device_profile("rpi4", user).active_power_w == 6.4
    assert time_power_energy(10.0, get_device_profile("my-board", user)).value == pytest.approx(15_000.0)  # µJ
    # every built-in watts figure is marked unverified until someone checks it against its source
    assert all("UNVERIFIED" in p.citation for p in builtin.values())
    checked = tmp_path / "checked.yaml"
    checked.write_text("profiles:\n  b:\n    active_power_w: 1.0\n    source: datasheet rev 3\n    checked: 2026-11-30\n")
    assert get_device_profile("b", checked).citation == "datasheet rev 3 (checked 2026-11-30)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("profiles:\n  x:\n    active_power_w: 2\n    source: s\n    wats: 3\n")
    with pytest.raises(EdgekitError, match="unknown keys \\['wats'\\]"):
        device_profiles(bad)
    bad.write_text("profiles:\n  x:\n    active_power_w: -1\n    source: s\n")
    with pytest.raises(EdgekitError, match="must be a number > 0"):
        device_profiles(bad)


def test_rapl_meter_reads_package_counters_with_wraparound(tmp_path):
    pkg = tmp_path / "intel-rapl:0"
    sub = tmp_path / "intel-rapl:0:0"
    for d in (pkg, sub):
        d.mkdir()
    (pkg / "energy_uj").write_text("999000000\n")
    (pkg / "max_energy_range_uj").write_text("1000000000\n")
    (sub / "energy_uj").write_text("5\n")
    meter = RaplMeter(tmp_path)
    assert [d.name for d in meter.domains] == ["intel-rapl:0"]  # sub-domains are inside the package figure
    meter.start()
    (pkg / "energy_uj").write_text("1000000\n")  # wrapped: 1 J to the top + 1 J after
    assert meter.stop() == pytest.approx(2.0)
    assert "does not exist" in RaplMeter(tmp_path / "none").unavailable_reason


def test_command_meter_joules_and_watts(tmp_path, runtime_models):
    counter = tmp_path / "joules"
    counter.write_text("0")
    script = tmp_path / "meter.py"
    script.write_text(textwrap.dedent(f"""
        from pathlib import Path
        p = Path({str(counter)!r}); v = float(p.read_text()); p.write_text(str(v + 0.5)); print(f"{{v}} J")
    """))
    meter = CommandMeter(f"{sys.executable} {script}")
    assert meter.kind == "joules"
    meter.start()
    assert meter.stop() == pytest.approx(0.5)  # one reading before, one after
    watts = CommandMeter("echo 2500 mW")
    assert watts.kind == "watts"
    r = bench(runtime_models.fp32, runs=20, warmup=0, energy_command="echo 2.0 W")
    measured = {e.method: e for e in r.energy}["measured"]
    assert measured.units == "uJ/inference" and measured.value > 0
    total_j = measured.details["joules_total"]
    assert total_j == pytest.approx(2.0 * r.latency.total_s, rel=0.05)  # mean watts × the timed window
    assert measured.value == pytest.approx(total_j * 1e6 / 20)
    with pytest.raises(EdgekitError, match="must print one number with a unit"):
        CommandMeter("echo hello")
    with pytest.raises(EdgekitError, match="exited 1"):
        CommandMeter("false")


# ---- conditions and memory -----------------------------------------------------------------------------

def _fake_root(tmp_path, governor="powersave"):
    cpu0 = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    cpu0.mkdir(parents=True)
    (cpu0 / "scaling_governor").write_text(governor + "\n")
    (cpu0 / "scaling_cur_freq").write_text("1500000\n")
    (cpu0 / "cpuinfo_max_freq").write_text("1800000\n")
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("82500\n")
    (zone / "type").write_text("cpu-thermal\n")
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_text("Raspberry Pi 4 Model B Rev 1.4\x00")
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nCPU part\t: 0xd08\n")
    return tmp_path


def test_conditions_read_sysfs_and_warn(tmp_path):
    root = _fake_root(tmp_path)
    c = cond.machine_conditions(root)
    assert c.governors == ("powersave",) and c.cpu_max_mhz == 1800.0
    assert c.device_model == "Raspberry Pi 4 Model B Rev 1.4" and c.cpu_model == "ARM Cortex-A72"
    snap = cond.snapshot(root)
    assert snap.temperatures_c == {"cpu-thermal": 82.5} and snap.cpu_freq_mhz == {"cpu0": 1500.0}
    throttled = replace(snap, throttled="0x50005")  # under-voltage + throttled now, and since boot
    c = replace(c, before=replace(snap, throttled="0x0"), after=throttled)
    warnings = " | ".join(cond.warnings_for(c))
    assert "governor is powersave, not 'performance'" in warnings
    assert "throttled during the run" in warnings and "under-voltage" in warnings
    assert "high temperature" in warnings
    ok = cond.machine_conditions(_fake_root(tmp_path / "perf", "performance"))
    assert not [w for w in cond.warnings_for(ok) if "governor" in w]


def test_memory_watch_sees_an_allocation():
    watch = MemoryWatch()
    watch.start()
    block = np.ones(48 * 1024 * 1024 // 8)  # 48 MiB, touched
    usage = watch.stop()
    del block
    assert usage.peak_increase_bytes >= 40 * 1024 * 1024
    assert usage.peak_rss_bytes >= usage.baseline_rss_bytes


# ---- per-op profile ------------------------------------------------------------------------------------

@pytest.mark.tensorflow
def test_profile_ops_counts_hybrid_ops(digits_models):
    fp32 = profile_ops(digits_models.fp32, threads=1, min_time=0.005)
    dyn = profile_ops(digits_models.dynamic, threads=1, min_time=0.005)
    types = {o.op_type: o for o in dyn.ops}
    assert types["CONV_2D"].count == 2 and types["CONV_2D"].hybrid == 1  # conv1 keeps float weights
    assert types["FULLY_CONNECTED"].hybrid == 2 and "int8" in types["FULLY_CONNECTED"].weight_dtypes
    assert sum(o.count for o in fp32.ops) == fp32.nodes == sum(model_stats(digits_models.fp32).op_counts.values())
    assert sum(o.share for o in fp32.ops) == pytest.approx(1.0)
    assert all(o.delegated == o.count for o in fp32.ops)  # fp32 digits: everything in XNNPACK
    assert fp32.partitions == 1 and fp32.whole_model_ms > 0
    d = diff_op_profiles(fp32, dyn)
    assert {r["op_type"] for r in d.rows} >= {"CONV_2D", "FULLY_CONNECTED"}


def test_profile_ops_onnx_uses_ort_profiler(runtime_models):
    p = profile_ops(runtime_models.onnx, threads=1, min_time=0.005)
    assert "ONNX Runtime profiler" in p.method
    assert "Conv" in {o.op_type for o in p.ops} and p.total_ms > 0  # ORT fuses MatMul+Add into FusedMatMul


def test_op_diff_explains_slower_hybrid_ops():
    def prof(path, ops, partitions, whole):
        total = sum(o[2] for o in ops)
        rows = tuple(OpTypeTime(t, n, ms, ms / total, d, ("float32",), w, h) for t, n, ms, d, w, h in ops)
        return OpProfile(path, "isolated", 1, "cpu", rows, total, whole, partitions, sum(o[1] for o in ops))

    a = prof("fp32.tflite", [("DEPTHWISE_CONV_2D", 17, 1.0, 17, ("float32",), 0),
                             ("CONV_2D", 35, 3.0, 35, ("float32",), 0)], 1, 4.0)
    b = prof("dynamic.tflite", [("DEPTHWISE_CONV_2D", 17, 14.0, 2, ("float32", "int8"), 15),
                                ("CONV_2D", 35, 2.0, 35, ("int8",), 33)], 16, 10.0)
    d = diff_op_profiles(a, b)
    assert d.slower == ("DEPTHWISE_CONV_2D",)
    text = "\n".join(d.explanation)
    assert "whole model: 10.000 ms vs 4.000 ms (2.50x slower)" in text
    assert "15 of 17 run outside the XNNPACK delegate" in text
    assert "15 are dynamic-range (hybrid) ops: int8 weights with float32 activations" in text
    assert "16 partitions (A: 1)" in text and "full-integer quantization" in text


# ---- compare, CSV, CLI ---------------------------------------------------------------------------------

def test_compare_and_csv(runtime_models, tmp_path):
    a = bench(runtime_models.fp32, runs=10, warmup=0)
    b = bench(runtime_models.int8, runs=10, warmup=0)
    c = compare_results(a, b)
    (pair,) = c.pairs
    rows = {m["metric"]: m for m in pair["metrics"]}
    assert rows["latency p50"]["ratio"] == pytest.approx(b.latency.p50 / a.latency.p50)
    assert rows["file size"]["better"] == "B"
    assert any(d["what"] == "model" for d in pair["differences"])
    text = to_csv([a, b])
    lines = text.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("model,format,accelerator")
    assert "energy_opcount_uJ" in lines[0] and "p50_ms" in lines[0]
    path = tmp_path / "r.json"
    path.write_text(json.dumps([asdict(a)], default=str))
    assert load_results(path)[0]["latency"]["runs"] == 10
    (tmp_path / "x.json").write_text('{"not": "results"}')
    with pytest.raises(EdgekitError, match="does not hold edgekit bench results"):
        load_results(tmp_path / "x.json")


def test_cli_bench_json_csv_compare(runtime_models, tmp_path):
    runner = CliRunner()
    out_a = tmp_path / "a.json"
    res = runner.invoke(cli, ["bench", str(runtime_models.fp32), "--runs", "5", "--threads", "1,2",
                              "--device-profile", "rpi5", "-o", str(out_a), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [d["settings"]["threads"] for d in data] == [1, 2]
    assert data[0]["energy"][1]["method"] == "time×power" and data[0]["energy"][1]["units"] == "uJ/inference"
    assert json.loads(out_a.read_text())[0]["latency"]["runs"] == 5
    res = runner.invoke(cli, ["bench", str(runtime_models.int8), "--runs", "5", "--csv"])
    assert res.exit_code == 0 and res.output.count("\n") == 2
    out_b = tmp_path / "b.json"
    runner.invoke(cli, ["bench", str(runtime_models.int8), "--runs", "5", "--threads", "1,2", "-o", str(out_b)])
    res = runner.invoke(cli, ["bench", "--compare", str(out_a), str(out_b)])
    assert res.exit_code == 0, res.output
    assert "latency p50" in res.output and "model: A=" in res.output
    res = runner.invoke(cli, ["bench", str(runtime_models.fp32), "--runs", "5"])
    assert res.exit_code == 0
    assert "p50 ms" in res.output and "MACs/item" in res.output and "op-count" in res.output


def test_cli_bad_input(runtime_models, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["bench", str(tmp_path / "nope.tflite")])
    assert res.exit_code == 1 and "error: model file not found" in res.output
    res = runner.invoke(cli, ["bench", str(runtime_models.fp32), "--device-profile", "pi9"])
    assert res.exit_code == 1 and "available: coral-devboard, coral-usb" in res.output
    res = runner.invoke(cli, ["bench", str(runtime_models.fp32), "--threads", "two"])
    assert res.exit_code == 2 and "comma-separated integers" in res.output
    res = runner.invoke(cli, ["bench", "--compare", str(runtime_models.fp32)])
    assert res.exit_code == 2 and "exactly two results files" in res.output
    res = runner.invoke(cli, ["bench", "--list-profiles"])
    assert res.exit_code == 0 and "jetson-nano" in res.output and "coral.ai" in res.output
    assert res.output.count("UNVERIFIED") == len(device_profiles())


def test_device_bench_never_imports_tensorflow(runtime_models):
    code = textwrap.dedent(f"""
        import sys
        from edgekit.device_bench import bench, model_stats
        r = bench({str(runtime_models.int8)!r}, runs=3, warmup=0)
        model_stats({str(runtime_models.onnx)!r})
        heavy = [m for m in ("tensorflow", "tf_keras", "tensorflow_model_optimization", "tf2onnx") if m in sys.modules]
        assert not heavy, heavy
        print("ok", r.latency.runs)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ},
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok 3" in done.stdout


@pytest.mark.tensorflow
def test_cli_profile_ops_two_models_prints_the_diff(digits_models):
    res = CliRunner().invoke(cli, ["bench", str(digits_models.fp32), str(digits_models.dynamic), "--profile-ops",
                                   "--runs", "5", "--warmup", "0"])
    assert res.exit_code == 0, res.output
    assert "per-op profile of digits_fp32.tflite" in res.output and "in XNNPACK" in res.output
    assert "op diff: A = digits_fp32.tflite, B = digits_dynamic.tflite" in res.output and "why:" in res.output
