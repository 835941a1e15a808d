"""ONNX artifacts quantized with ONNX Runtime's tools: int8 (QDQ), dynamic, float16 — judged like TFLite ones."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit import runtime
from edgekit.cli import cli
from edgekit.convert import convert, to_onnx, to_tflite
from edgekit.errors import ConversionError, EdgekitError
from edgekit.recipe import Recipe, RecipeError
from edgekit.targets import TARGETS


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("onnxq")


@pytest.fixture(scope="module")
def float_onnx(digits_keras, out, digits_data):
    return to_onnx(digits_keras, out / "fp32.onnx", eval_data=digits_data["x_val"])


@pytest.fixture(scope="module")
def int8_onnx(digits_keras, out, digits_data_path, digits_data):
    return to_onnx(digits_keras, out / "int8.onnx", quantize="int8", calibration=digits_data_path, eval_data=digits_data["x_val"])


def _accuracy(path, data) -> float:
    with runtime.load(path) as model:
        return float(np.mean(np.argmax(model.predict(data["x_val"]), axis=1) == data["y_val"]))


def test_int8_onnx_keeps_accuracy_at_under_04_of_the_float_size(float_onnx, int8_onnx, digits_data):
    assert int8_onnx.file_bytes <= 0.4 * float_onnx.file_bytes
    assert int8_onnx.quantize == "int8" and int8_onnx.format == "onnx"
    assert abs(_accuracy(int8_onnx.path, digits_data) - _accuracy(float_onnx.path, digits_data)) <= 0.01
    assert int8_onnx.parity.tolerance is None and int8_onnx.parity.top1_agreement >= 0.98
    assert int8_onnx.parity.inputs == "evaluation data (256 samples)"
    assert int8_onnx.calibration.startswith("data: ") and "(200 samples)" in int8_onnx.calibration
    assert any("static int8 QDQ, per-channel weights, minmax calibration on 200 samples" in n for n in int8_onnx.notes)
    import onnx

    graph = onnx.load(int8_onnx.path).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert sum(int(np.prod(t.dims)) for t in int8_weights) > 0.99 * 150_000  # the conv and dense kernels
    assert {i.type.tensor_type.elem_type for i in graph.input} == {onnx.TensorProto.FLOAT}


def test_calibration_method_is_a_choice(digits_keras, out, digits_data_path):
    entropy = to_onnx(digits_keras, out / "entropy.onnx", quantize="int8", calibration=digits_data_path, calibration_method="entropy")
    assert any("entropy calibration" in n for n in entropy.notes)
    assert entropy.parity.top1_agreement is None or entropy.parity.cosine > 0.99
    with pytest.raises(ConversionError, match="calibration method must be one of minmax, entropy, percentile; got 'kl'"):
        to_onnx(digits_keras, out / "x.onnx", quantize="int8", calibration=digits_data_path, calibration_method="kl")
    assert not (out / "x.onnx").exists()


def test_dynamic_and_float16_onnx(digits_keras, out, float_onnx, digits_data):
    import onnx

    dynamic = to_onnx(digits_keras, out / "dyn.onnx", quantize="dynamic", eval_data=digits_data["x_val"])
    ops = {n.op_type for n in onnx.load(dynamic.path).graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops
    assert "Conv" in ops  # convolutions stay float in dynamic mode
    assert dynamic.file_bytes < 0.5 * float_onnx.file_bytes  # the dense kernels are ~85 % of the weights
    assert dynamic.parity.top1_agreement >= 0.99

    half = to_onnx(digits_keras, out / "f16.onnx", quantize="float16", eval_data=digits_data["x_val"])
    assert 0.45 < half.file_bytes / float_onnx.file_bytes < 0.55
    assert half.parity.tolerance == 2e-2 and half.parity.passed and half.parity.top1_agreement == 1.0


def test_dynamic_onnx_without_matmul_says_to_use_int8(tmp_path):
    from edgekit._tf import tf_keras

    keras = tf_keras()
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()])
    with pytest.raises(ConversionError, match="dynamic ONNX quantization covers MatMul/Gemm/recurrent ops and this model has none"):
        to_onnx(model, tmp_path / "c.onnx", quantize="dynamic")
    assert list(tmp_path.iterdir()) == []


def test_multi_input_int8_onnx_binds_calibration_by_name(tmp_path, monkeypatch):
    from edgekit._tf import tf_keras

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # ONNX Runtime's tools must leave nothing in the working directory

    keras = tf_keras()
    a = keras.layers.Input((1, 33), name="seq")
    b = keras.layers.Input((8,), name="meta")
    c = keras.layers.Input((4,), name="ctx")
    x = keras.layers.Concatenate()([keras.layers.Flatten()(a), b, c])
    model = keras.Model([a, b, c], keras.layers.Dense(3)(keras.layers.Dense(16, activation="relu")(x)))
    rng = np.random.default_rng(0)
    data = {"seq": rng.normal(size=(64, 1, 33)).astype("float32"), "meta": rng.normal(size=(64, 8)).astype("float32") * 5,
            "ctx": rng.normal(size=(64, 4)).astype("float32")}
    np.savez(tmp_path / "d.npz", **data)
    artifact = to_onnx(model, tmp_path / "m.onnx", quantize="int8", calibration=str(tmp_path / "d.npz"), eval_data=str(tmp_path / "d.npz"))
    assert artifact.parity.cosine > 0.99 and artifact.parity.snr_db > 20
    assert list(cwd.iterdir()) == []


def test_sparsity_and_clusters_survive_onnx_int8_as_in_tflite(tmp_path):
    """A dense kernel with 80 % zeros and 16 distinct values: the int8 ONNX initializer keeps both, as TFLite does."""
    from edgekit._tf import tf_keras
    from edgekit.optimize.onnx_weights import onnx_weight_stats
    from edgekit.optimize.tflite_weights import tflite_weight_stats

    keras = tf_keras()
    model = keras.Sequential([keras.layers.Input((64,)), keras.layers.Dense(32, name="fc"), keras.layers.Dense(10, name="out")])
    rng = np.random.default_rng(1)
    levels = np.linspace(-1, 1, 16)
    kernel = levels[rng.integers(0, 16, size=(64, 32))]
    kernel[rng.random((64, 32)) < 0.8] = 0.0
    model.get_layer("fc").set_weights([kernel.astype("float32"), np.zeros(32, "float32")])
    x = rng.normal(size=(128, 64)).astype("float32")
    onnx_a = to_onnx(model, tmp_path / "m.onnx", quantize="int8", calibration=x, eval_data=x)
    tfl_a = to_tflite(model, tmp_path / "m.tflite", quantize="int8", calibration=x)
    names = [l.name for l in model.layers]
    onnx_fc = next(s for s in onnx_weight_stats(onnx_a.path, names) if s.layer == "fc")
    tfl_fc = next(s for s in tflite_weight_stats(tfl_a.path, names) if s.layer == "fc")
    assert onnx_fc.dtype == "int8" and onnx_fc.count == 64 * 32
    assert onnx_fc.sparsity == pytest.approx(float(np.mean(kernel == 0)))
    assert onnx_fc.sparsity == pytest.approx(tfl_fc.sparsity)
    assert onnx_fc.unique_per_channel <= 16 and tfl_fc.unique_per_channel <= 16


def test_onnx_modes_in_recipes_and_convert(digits_model_path, tmp_path):
    assert Recipe.from_dict({"name": "i", "quantize": {"mode": "int8", "calibration_method": "percentile"}, "formats": ["tflite", "onnx"]})
    assert TARGETS["onnx"].mode_for("int8") == "int8" and TARGETS["onnx"].mode_for("int16x8") == "none"  # stays float
    assert TARGETS["onnx"].needs_calibration("int8") and not TARGETS["onnx"].needs_calibration("dynamic")
    with pytest.raises(RecipeError, match="quantize.calibration_method must be one of minmax, entropy, percentile"):
        Recipe.from_dict({"name": "i", "quantize": {"mode": "int8", "calibration_method": "kl"}})
    with pytest.raises(EdgekitError, match="the onnx target takes --io-dtype float32; got 'int8'"):
        convert(digits_model_path, to="onnx", output=tmp_path / "m.onnx", quantize="int8", io_dtype="int8")


def test_cli_converts_int8_onnx(digits_model_path, digits_data_path, tmp_path):
    runner = CliRunner()
    out = tmp_path / "m_int8.onnx"
    result = runner.invoke(cli, ["convert", str(digits_model_path), "--to", "onnx", "--quantize", "int8",
                                 "--calibration", str(digits_data_path), "--calibration-method", "percentile", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "onnx" and data["quantize"] == "int8" and data["file_bytes"] == out.stat().st_size
    assert any("percentile calibration" in n for n in data["notes"])
    bad = runner.invoke(cli, ["convert", str(digits_model_path), "--to", "onnx", "--quantize", "int16x8", "-o", str(tmp_path / "b.onnx")])
    assert bad.exit_code == 1 and "the onnx target takes --quantize none or dynamic or float16 or int8; got 'int16x8'" in bad.output
    assert not (tmp_path / "b.onnx").exists()


def test_onnx_op_profile_reports_placement(int8_onnx):
    from edgekit.device_bench import profile_ops

    profile = profile_ops(int8_onnx.path, threads=1, min_time=0.005)
    placement = next(n for n in profile.notes if n.startswith("placement"))
    assert f"{profile.nodes} of {profile.nodes} nodes ran in CPUExecutionProvider" in placement
    assert all(o.delegated == o.count for o in profile.ops)


def test_quantization_aware_model_exports_as_qdq_int8_without_calibration(tmp_path):
    from edgekit._tf import tf_keras, tfmot

    keras = tf_keras()
    model = keras.Sequential([keras.layers.Input((16,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4)])
    aware = tfmot().quantization.keras.quantize_model(model)
    x = np.random.default_rng(0).normal(size=(32, 16)).astype("float32")
    aware.compile("adam", "mse")
    aware.fit(x, np.zeros((32, 4), "float32"), epochs=1, verbose=0)  # sets the fake-quant ranges
    artifact = to_onnx(aware, tmp_path / "qat.onnx", quantize="int8", eval_data=x)
    assert artifact.calibration == "quantization-aware training" and artifact.parity.tolerance is None
    assert artifact.parity.cosine > 0.99
    import onnx

    assert "QuantizeLinear" in {n.op_type for n in onnx.load(artifact.path).graph.node}
    with pytest.raises(ConversionError, match="was trained quantization-aware: .* use --quantize int8 \\(not none\\)"):
        to_onnx(aware, tmp_path / "f.onnx")
    assert not (tmp_path / "f.onnx").exists()
