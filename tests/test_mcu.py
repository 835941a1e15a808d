"""The microcontroller target (``--to mcu``) and ``bench --engine tflm``: TFLite Micro really runs the artifacts, the
reported arena is the smallest that works, TFLM and LiteRT agree within 1 LSB, and the C source compiles."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
from mcu_models import ds_cnn, gelu_model, kws_data, tflm_invokes  # noqa: E402

tflm_runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime", reason="tflite-micro (edgekit[mcu]) is cp311 x86-64 only")
CXX = shutil.which("c++") or shutil.which("g++")


@pytest.fixture(scope="module")
def digits_mcu(tmp_path_factory, digits_model_path, digits_data_path):
    out = tmp_path_factory.mktemp("mcu") / "digits"
    result = CliRunner().invoke(cli, ["convert", str(digits_model_path), "--to", "mcu", "--calibration", str(digits_data_path),
                                      "--eval-data", str(digits_data_path), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out.parent, json.loads(result.stdout)


@pytest.fixture(scope="module")
def kws_mcu(tmp_path_factory):
    """A DS-CNN keyword spotter (MLPerf Tiny shape, 16 filters), briefly trained on synthetic MFCC-like data."""
    from edgekit.convert import convert

    folder = tmp_path_factory.mktemp("kws")
    model = ds_cnn(filters=16)
    train, held_out = kws_data(512, seed=0), kws_data(128, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train["x"], train["y"], epochs=3, batch_size=64, verbose=0)
    np.savez(folder / "eval.npz", **held_out)
    keras_acc = float(np.mean(model.predict(held_out["x"], verbose=0).argmax(1) == held_out["y"]))
    artifact = convert(model, to="mcu", output=folder / "kws.tflite", calibration=train["x"], eval_data=folder / "eval.npz")
    return folder, artifact, keras_acc


def test_digits_sample_converts_with_to_mcu(digits_mcu):
    folder, out = digits_mcu
    mcu = out["mcu"]
    assert out["format"] == "mcu" and out["quantize"] == "int8" and out["io_dtype"] == "int8"
    assert sorted(p.name for p in folder.iterdir()) == ["digits.cc", "digits.h", "digits.tflite"]
    assert mcu["flash_bytes"] == (folder / "digits.tflite").stat().st_size
    assert mcu["ops"] == ["AddConv2D", "AddMul", "AddAdd", "AddMaxPool2D", "AddReshape", "AddFullyConnected", "AddSoftmax"]
    assert mcu["tflm_parity"]["max_lsb"] <= 1 and mcu["tflm_parity"]["samples"] == 256
    assert mcu["tflm_accuracy"] > 0.95 and abs(mcu["tflm_accuracy"] - mcu["litert_accuracy"]) <= 0.01
    arena = mcu["arena"]
    # TFLM's own breakdown adds up to the arena it used
    assert arena["head_bytes"] + arena["tail_bytes"] == arena["bytes"]
    assert {a["what"] for a in arena["allocations"]} >= {"TfLiteEvalTensor data", "NodeAndRegistration struct"}


@pytest.mark.slow
def test_reported_arena_runs_and_three_quarters_does_not(digits_mcu, kws_mcu):
    digits_folder, out = digits_mcu
    kws_folder, artifact, _ = kws_mcu
    for path, arena in ((digits_folder / "digits.tflite", out["mcu"]["arena"]["bytes"]),
                        (kws_folder / "kws.tflite", artifact.mcu.arena.bytes)):
        assert tflm_invokes(path, arena)
        assert not tflm_invokes(path, int(arena * 0.75))
        assert not tflm_invokes(path, arena - 16)  # the search's step: nothing smaller works


@pytest.mark.slow
def test_ds_cnn_keyword_spotter_converts_with_to_mcu(kws_mcu):
    folder, artifact, keras_acc = kws_mcu
    m = artifact.mcu
    # exactly the ops the MLPerf Tiny reference KWS submission registers, less the Reshape the converter folds away
    assert set(m.ops) == {"AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddFullyConnected", "AddSoftmax"}
    assert m.tflm_parity.max_lsb <= 1 and m.tflm_parity.samples == 128
    assert m.tflm_accuracy is not None and abs(m.tflm_accuracy - keras_acc) <= 0.05
    assert 0 < m.arena.bytes < 64 * 1024 and m.flash_bytes == (folder / "kws.tflite").stat().st_size


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (install g++)")
def test_c_source_compiles_and_holds_the_model_bytes(digits_mcu, tmp_path):
    """Compile digits.cc with the system compiler, link it into a program that prints the array's length and a
    checksum, and compare with the .tflite: the C array is the model, byte for byte."""
    folder, out = digits_mcu
    data = (folder / "digits.tflite").read_bytes()
    main = tmp_path / "main.cc"
    main.write_text('#include <cstdio>\n#include "digits.h"\nint main() {\n  unsigned long sum = 0;\n'
                    '  for (unsigned int i = 0; i < digits_model_len; ++i) sum = sum * 31 + digits_model[i];\n'
                    '  std::printf("%u %lu %d %lu\\n", digits_model_len, sum, DIGITS_ARENA_SIZE,\n'
                    '              (unsigned long)((unsigned long)digits_model % 16));\n}\n')
    flags = ["-std=c++17", "-Wall", "-Wextra", "-Werror", f"-I{folder}"]
    subprocess.run([CXX, *flags, "-c", str(folder / "digits.cc"), "-o", str(tmp_path / "digits.o")], check=True)
    subprocess.run([CXX, *flags, str(main), str(tmp_path / "digits.o"), "-o", str(tmp_path / "prog")], check=True)
    length, checksum, arena, misalign = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True,
                                                       check=True).stdout.split()
    expected = 0
    for b in data:
        expected = (expected * 31 + b) % 2**64
    assert (int(length), int(checksum), int(arena), int(misalign)) == (len(data), expected, out["mcu"]["arena"]["bytes"], 0)
    cc = shutil.which("cc")
    if cc:  # the header is plain C too (the resolver snippet is C++-only)
        c_main = tmp_path / "use.c"
        c_main.write_text('#include "digits.h"\nint model_size(void) { return DIGITS_MODEL_LEN + DIGITS_ARENA_SIZE; }\n')
        subprocess.run([cc, "-std=c11", "-Wall", "-Werror", f"-I{folder}", "-c", str(c_main), "-o", str(tmp_path / "use.o")], check=True)


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (install g++)")
def test_resolver_snippet_registers_exactly_the_ops(digits_mcu, tmp_path):
    """TFLM's headers are not installed here (the tflite-micro wheel ships none), so this checks the generated
    resolver snippet against a STUB MicroMutableOpResolver written below from edgekit's own op table
    (tflm_ops.yaml): it proves the snippet compiles, calls only methods in that table, and that N matches the
    number of ops it registers. It does not prove TFLM's real header agrees with the table."""
    from edgekit.device_bench.tflm import resolver_methods

    folder, out = digits_mcu
    stub = tmp_path / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h"
    stub.parent.mkdir(parents=True)
    methods = "\n".join(f"  TfLiteStatus {m}() {{ return Register(\"{m}\"); }}" for m in sorted(set(resolver_methods().values())))
    stub.write_text("#pragma once\n#include <cstring>\nenum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 };\n"
                    "namespace tflite {\ntemplate <unsigned int N> class MicroMutableOpResolver {\n public:\n"
                    "  unsigned int count = 0;\n  const char* names[N];\n"
                    "  TfLiteStatus Register(const char* name) {\n    if (count >= N) return kTfLiteError;\n"
                    "    for (unsigned int i = 0; i < count; ++i) if (!std::strcmp(names[i], name)) return kTfLiteError;\n"
                    "    names[count++] = name;\n    return kTfLiteOk;\n  }\n" + methods + "\n};\n}  // namespace tflite\n")
    main = tmp_path / "main.cc"
    main.write_text('#include <cstdio>\n#include "digits.h"\nint main() {\n  static digits_OpResolver resolver;\n'
                    '  if (digits_register_ops(resolver) != kTfLiteOk) return 1;\n'
                    '  for (unsigned int i = 0; i < resolver.count; ++i) std::printf("%s\\n", resolver.names[i]);\n'
                    '  return resolver.count == DIGITS_OP_COUNT ? 0 : 2;\n}\n')
    subprocess.run([CXX, "-std=c++17", "-Wall", "-Werror", f"-I{tmp_path}", f"-I{folder}", str(main), "-o",
                    str(tmp_path / "prog")], check=True)
    done = subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.split() == out["mcu"]["ops"]


def test_op_table_matches_the_installed_tflm_kernels():
    """Every op in tflm_ops.yaml has its Register_<OP> kernel in the tflite-micro runtime edgekit measures with."""
    from edgekit.device_bench.tflm import resolver_methods

    so = next(Path(tflm_runtime.__file__).parent.glob("_runtime*.so")).read_bytes()
    missing = [op for op in resolver_methods() if not re.search(rb"Register_" + op.encode() + rb"E", so)]
    assert missing == []
    assert all(re.fullmatch(r"Add[A-Z][A-Za-z0-9]*", m) for m in resolver_methods().values())


def test_unsupported_op_is_named_with_its_keras_layer(tmp_path):
    from edgekit.convert import convert
    from edgekit.errors import ConversionError

    with pytest.raises(ConversionError, match=r"op 1 GELU \(Keras layer dense_gelu\).*not in TFLite Micro's op resolver"):
        convert(gelu_model(), to="mcu", output=tmp_path / "gelu", calibration="random", input_range="0:1")
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no staging folder left


def test_mcu_target_refuses_other_quantization(digits_model_path, tmp_path):
    result = CliRunner().invoke(cli, ["convert", str(digits_model_path), "--to", "mcu", "--quantize", "float16", "-o", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "the mcu target takes --quantize int8; got 'float16'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_missing_tflite_micro_names_the_extra(monkeypatch):
    from edgekit.device_bench import tflm
    from edgekit.errors import DependencyError

    for name in ("tflite_micro", "tflite_micro.python", "tflite_micro.python.tflite_micro"):
        monkeypatch.setitem(sys.modules, name, None)  # what an import on a platform without the wheel sees
    with pytest.raises(DependencyError, match=r"pip install 'edgekit\[mcu\]'") as info:
        tflm.require()
    assert "Linux x86-64" in str(info.value)


def test_bench_engine_tflm(digits_mcu):
    folder, out = digits_mcu
    result = CliRunner().invoke(cli, ["bench", str(folder / "digits.tflite"), "--engine", "tflm", "--runs", "5", "--json"])
    assert result.exit_code == 0, result.output
    (r,) = json.loads(result.stdout)
    assert r["arena"]["bytes"] == out["mcu"]["arena"]["bytes"] and r["flash_bytes"] == out["mcu"]["flash_bytes"]
    assert r["host_latency_ms"]["runs"] == 5 and r["host_latency_ms"]["min"] > 0
    assert r["macs"] > 1_000_000
    est = {e["profile"]: e for e in r["estimates"]}
    m4 = est["nucleo-l4r5zi"]
    assert m4["cycles_at_least"] == -(-r["macs"] // 2) and m4["label"].startswith("estimate")
    assert m4["ms_at_least"] == pytest.approx(m4["cycles_at_least"] / 120e3)
    assert m4["fits_ram"] is True and m4["fits_flash"] is True and est["cortex-m55-400mhz"]["fits_ram"] is None
    text = CliRunner().invoke(cli, ["bench", str(folder / "digits.tflite"), "--engine", "tflm", "--runs", "3",
                                    "--mcu-profile", "stm32f746"])
    assert text.exit_code == 0 and "host p50 ms" in text.output and "stm32f746" in text.output
    assert "nucleo-l4r5zi" not in text.output and "not a measurement" in text.output


def test_bench_engine_tflm_bad_input(tmp_path, digits_mcu):
    folder, _ = digits_mcu
    bad = CliRunner().invoke(cli, ["bench", str(folder / "digits.tflite"), "--engine", "tflm", "--mcu-profile", "nope"])
    assert bad.exit_code == 1 and "unknown MCU profile nope; choose from nucleo-l4r5zi" in bad.output
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(cli, ["bench", str(junk), "--engine", "tflm"])
    assert result.exit_code == 1 and "TFL3" in result.output and "Traceback" not in result.output


def test_ranking_by_what_fits_an_mcu():
    from edgekit.optimize.ranking import Candidate, Constraints, rank

    def cand(name, flash, arena):
        return Candidate(name, 0.98, 1.0, flash, flash // 2, 1.0, arena_bytes=arena, flash_bytes=flash)

    found = [cand("a/mcu", 600_000, 40_000), cand("b/mcu", 300_000, 200_000), cand("c/mcu", 400_000, 100_000)]
    ranking = rank(found, 0.98, Constraints(max_ram=128 * 1024, max_flash=512 * 1024))
    misses = {v.name: v.misses for v in ranking.verdicts}
    assert misses["a/mcu"] == ("flash 600,000 B > 524,288 B (by 75,712 B)",)
    assert misses["b/mcu"] == ("arena 200,000 B > 131,072 B (by 68,928 B)",)
    assert ranking.recommended == "c/mcu" and ranking.reason.startswith("smallest in flash + arena (400,000 B + 100,000 B)")
    plain = Candidate("fp32/tflite", 0.98, 1.0, 1000, 900, 1.0)
    (verdict,) = rank([plain], 0.98, Constraints(max_ram=1024)).verdicts
    assert verdict.misses == ("arena not measured (TFLite Micro measures it for the mcu target)",)


def test_max_ram_needs_the_mcu_target(digits_model_path, tmp_path):
    result = CliRunner().invoke(cli, ["optimize", str(digits_model_path), "--max-ram", "128KB", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--max-ram/--max-flash apply to --target mcu" in result.output


@pytest.mark.slow
def test_optimize_target_mcu_ranks_by_arena_and_flash(digits_model_path, digits_data_path, tmp_path):
    recipe = tmp_path / "int8.yaml"
    recipe.write_text("variants:\n  - name: int8\n    quantize: {mode: int8, io_dtype: int8}\n    formats: [mcu]\n")
    result = CliRunner().invoke(cli, ["optimize", str(digits_model_path), "--data", str(digits_data_path), "--target", "mcu",
                                      "--recipe", str(recipe), "--max-ram", "8KB", "--max-flash", "512KB",
                                      "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 4, result.output  # ran; no variant meets the constraints
    results = json.loads(result.stdout)
    (art,) = results["variants"][0]["artifacts"]
    arena = art["mcu"]["arena"]["bytes"]
    assert art["format"] == "mcu" and arena > 8000 and art["mcu"]["flash_bytes"] == art["file_bytes"]
    assert (tmp_path / "out" / "variants" / "int8" / "int8.cc").is_file()
    (verdict,) = results["ranking"]["verdicts"]
    assert verdict["misses"] == [f"arena {arena:,} B > 8,000 B (by {arena - 8000:,} B)"]  # 1 KB = 1000 B
    assert results["ranking"]["recommended"] is None and "latency: LiteRT on this machine's CPU" in art["measurement"]["latency_note"]


def test_tflm_abort_is_reported_not_fatal(tmp_path):
    """TFLM aborts the process (TFLITE_CHECK in softmax's prepare) on a degenerate activation range; edgekit runs it
    in a child process, so the caller gets a ConversionError and nothing is written."""
    from edgekit._tf import tf_keras
    from edgekit.convert import convert
    from edgekit.errors import ConversionError

    k = tf_keras()
    model = k.Sequential([k.Input((8,)), k.layers.Dense(4, kernel_initializer="zeros", name="flat"), k.layers.Softmax(name="probs")])
    calibration = np.random.default_rng(0).random((20, 8), dtype=np.float32)
    with pytest.raises(ConversionError, match=r"TFLite Micro aborted \(SIGABRT\) preparing deg.tflite"):
        convert(model, to="mcu", output=tmp_path / "deg", calibration=calibration)
    assert list(tmp_path.iterdir()) == []


def test_mcu_preset_is_full_int8_with_int8_io():
    from edgekit.recipe import preset

    recipes = preset("mcu")
    assert [r.name for r in recipes] == ["int8", "pruned-int8", "clustered-int8", "qat-int8"]
    assert all(r.formats == ("mcu",) and r.quantize.mode == "int8" and r.quantize.io_dtype == "int8" for r in recipes)


def test_bench_engine_tflm_never_imports_tensorflow(digits_mcu):
    folder, _ = digits_mcu
    code = ("import sys\nfrom edgekit.device_bench.tflm import bench_tflm\n"
            f"r = bench_tflm({str(folder / 'digits.tflite')!r}, runs=2)\n"
            "heavy = [m for m in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy\nprint('ok', r.arena.bytes)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", str(digits_mcu[1]["mcu"]["arena"]["bytes"])]


def test_two_input_model_feeds_tflm_by_input_name(tmp_path):
    """Inputs reach TFLM and LiteRT in the .tflite's own order (matched by name), whatever order Keras lists them."""
    from edgekit._tf import tf_keras
    from edgekit.convert import convert

    k = tf_keras()
    k.utils.set_random_seed(0)
    zeta, alpha = k.Input((4,), name="zeta"), k.Input((6,), name="alpha")
    x = k.layers.Concatenate()([k.layers.Dense(3)(zeta), k.layers.Dense(5)(alpha)])
    model = k.Model([zeta, alpha], k.layers.Dense(2, activation="softmax")(x))
    artifact = convert(model, to="mcu", output=tmp_path / "two", calibration="random", input_range="0:1")
    assert artifact.mcu.tflm_parity.samples == 64 and artifact.mcu.tflm_parity.max_lsb <= 1
    assert set(artifact.mcu.ops) == {"AddFullyConnected", "AddConcatenation", "AddSoftmax"}
