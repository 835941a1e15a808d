"""edgekit.runtime on bad model files: one clear ModelLoadError, never a crash; the verifier and its schema."""

import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import ModelLoadError
from edgekit.runtime import load, verify_tflite
from edgekit.runtime.verify import sniff

ROOT = Path(__file__).resolve().parents[1]


def _one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="model file not found: .*nope.tflite") as info:
        load(tmp_path / "nope.tflite")
    _one_line(info)


def test_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="is a directory"):
        load(tmp_path)


def test_zero_bytes(tmp_path):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"empty.tflite is empty \(0 bytes\)"):
        load(empty)


@pytest.mark.parametrize("keep", [4, 100, 0.5, 0.99])
def test_truncated_tflite(runtime_models, tmp_path, keep):
    data = runtime_models.int8.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[:n])
    with pytest.raises(ModelLoadError, match="cut.tflite is not a (valid )?TFLite model") as info:
        load(cut)
    _one_line(info)


def test_truncated_onnx(runtime_models, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(runtime_models.onnx.read_bytes()[:2000])
    with pytest.raises(ModelLoadError, match="cut.onnx is not a valid ONNX model") as info:
        load(cut)
    _one_line(info)


@pytest.mark.parametrize("suffix", [".tflite", ".onnx"])
def test_random_bytes(tmp_path, suffix):
    import random

    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(random.Random(3).randbytes(5000))
    with pytest.raises(ModelLoadError, match=f"junk{suffix} is not a") as info:
        load(junk)
    _one_line(info)


def test_onnx_renamed_tflite_and_reverse(runtime_models, tmp_path):
    fake_tflite = tmp_path / "model.tflite"
    fake_tflite.write_bytes(runtime_models.onnx.read_bytes())
    with pytest.raises(ModelLoadError, match="model.tflite is named .tflite but holds a ONNX model; rename it to "
                                             "model.onnx"):
        load(fake_tflite)
    fake_onnx = tmp_path / "model.onnx"
    fake_onnx.write_bytes(runtime_models.fp32.read_bytes())
    with pytest.raises(ModelLoadError, match="model.onnx is named .onnx but holds a TFLITE model; rename it to "
                                             "model.tflite"):
        load(fake_onnx)


def test_unknown_extension(runtime_models, tmp_path):
    other = tmp_path / "model.pb"
    other.write_bytes(runtime_models.fp32.read_bytes())
    with pytest.raises(ModelLoadError, match=r"unknown model extension '.pb'; edgekit.runtime loads .lite, .onnx, "
                                             r".tflite"):
        load(other)


def test_sniff(runtime_models):
    assert sniff(runtime_models.fp32.read_bytes()) == "tflite"
    assert sniff(runtime_models.onnx.read_bytes()) == "onnx"
    assert sniff(b"PK\x03\x04 a zip") is None


def test_verifier_accepts_real_models_and_summarises(runtime_models):
    summary = verify_tflite(runtime_models.int8.read_bytes())
    assert summary.version == 3 and summary.subgraphs == 1 and summary.operators == 8
    assert summary.signatures == ("serving_default",) and not summary.edgetpu_compiled
    two = verify_tflite(runtime_models.signatures.read_bytes())
    assert sorted(two.signatures) == ["add", "double"] and two.subgraphs == 2


def _patch_word(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + value.to_bytes(4, "little") + data[at + 4:]


def test_verifier_names_the_fault(runtime_models):
    """Targeted corruptions of the fields the runtime trusts most."""
    from ai_edge_litert import schema_py_generated as schema

    data = runtime_models.fp32.read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    op = graph.Operators(0)
    inputs_at = op._tab.Vector(op._tab.Offset(6))
    with pytest.raises(ModelLoadError, match="operator 0 refers to tensor 9999"):
        verify_tflite(_patch_word(data, inputs_at, 9999))
    tensors_at = graph._tab.Vector(graph._tab.Offset(4)) - 4
    with pytest.raises(ModelLoadError, match="SubGraph.Tensors .*claims|runs past the end"):
        verify_tflite(_patch_word(data, tensors_at, 0x7FFFFFF0))
    root = int.from_bytes(data[:4], "little")
    with pytest.raises(ModelLoadError, match="runs past the end|vtable|invalid size"):
        verify_tflite(_patch_word(data, root, 0x7FFFFFFF))  # the root table's vtable offset
    with pytest.raises(ModelLoadError, match="no 'TFL3' identifier"):
        verify_tflite(data[:4] + b"XXXX" + data[8:])


@pytest.mark.tensorflow
def test_absurd_quantization_is_rejected_not_crashing(digits_models, runtime_models, tmp_path):
    """A 1e14 scale on an int8 activation is well-formed flatbuffer content on which TFLite's kernels abort; the
    trial load in a helper process turns that into ModelLoadError (this test process survives to assert it)."""
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(digits_models.int8.read_bytes())  # the digits sample: bn2 is an int8 constant with one scale
    graph = schema.Model.GetRootAs(bytes(data), 0).Subgraphs(0)
    tensor = next(graph.Tensors(i) for i in range(graph.TensorsLength())
                  if graph.Tensors(i).Buffer() and graph.Tensors(i).ShapeLength() == 4
                  and graph.Tensors(i).Quantization() and graph.Tensors(i).Quantization().ScaleLength() == 1
                  and graph.Tensors(i).Type() == schema.TensorType.INT8
                  and graph.Tensors(i).Name().startswith(b"digits_cnn/bn2"))
    q = tensor.Quantization()
    scale_at = q._tab.Vector(q._tab.Offset(8))
    data[scale_at:scale_at + 4] = (0x57820000 | 0x4C7B).to_bytes(4, "little")  # ~2.9e14
    bad = tmp_path / "absurd.tflite"
    bad.write_bytes(bytes(data))
    verify_tflite(bytes(data))  # structurally fine: only running it shows the problem
    with pytest.raises(ModelLoadError, match="TFLite runtime crashed .* in a trial process"):
        load(bad)
    with load(runtime_models.int8) as model:  # the next load still works (a new helper process)
        assert model.outputs[0].name == "probs"


def test_fuzzed_model_bytes_never_crash(runtime_models):
    """A few hundred mutations per model through the fuzz script: every case ends in a prediction or a one-line
    EdgekitError, and the worker process running them never dies. (More cases: benchmarks/runtime_fuzz.py.)"""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "runtime_fuzz.py"), str(runtime_models.int8),
         str(runtime_models.multi), str(runtime_models.onnx), "--count", "200", "--seed", "11", "--json"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    import json

    reports = json.loads(result.stdout)
    assert [r["cases"] for r in reports] == [200, 200, 200]
    for report in reports:
        assert report["crashes"] == [] and report["unexpected"] == []
        assert report["statuses"].get("ok", 0) > 0  # some mutations still load: weights, names
    tflite = reports[0]["statuses"]
    assert tflite["rejected-load"] > 50  # the verifier is what stops most of them


def test_schema_table_matches_installed_litert():
    """_tflite_schema.py is generated from ai_edge_litert's schema; regenerate it if LiteRT's schema moved."""
    from edgekit.runtime import _schema_gen

    current = (ROOT / "edgekit" / "runtime" / "_tflite_schema.py").read_text()
    assert _schema_gen.render(_schema_gen.litert_schema_source()) == current, (
        "run: python -m edgekit.runtime._schema_gen > edgekit/runtime/_tflite_schema.py")
