"""Keras 3 files: detection, safe loading with the right Keras, and conversion (TFLite float/int8, ONNX) with parity
without the bridge. The zoo is built in the test run (tests/keras3_zoo.py) and saved as .keras and .h5."""

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras3_zoo import BRIDGEABLE, blocked_model, sample_inputs

from edgekit.convert import to_onnx, to_tflite
from edgekit.errors import ModelLoadError, UnsafeModelError
from edgekit.keras.loading import inspect_model_file, load_keras3_model, load_keras_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zoo_files(zoo, tmp_path_factory):
    """name -> {"keras": path, "h5": path}, saved by Keras 3."""
    folder = tmp_path_factory.mktemp("keras3_zoo")
    files = {}
    for name, model in zoo.items():
        files[name] = {}
        for fmt in ("keras", "h5"):
            path = folder / f"{name}.{fmt}"
            model.save(path)
            files[name][fmt] = path
    return files


def test_keras_major_is_read_from_keras_zip_and_h5_metadata(zoo_files, digits_model_path):
    for fmt in ("keras", "h5"):
        info = inspect_model_file(zoo_files["seq_cnn"][fmt])
        assert info.keras_major == 3 and info.kind == fmt
    with zipfile.ZipFile(zoo_files["seq_cnn"]["keras"]) as z:
        assert json.loads(z.read("metadata.json"))["keras_version"].startswith("3.")
    assert inspect_model_file(digits_model_path).keras_major == 2


def test_both_kerases_work_in_one_process(keras, zoo):
    from edgekit._tf import tf, tf_keras

    assert tf().keras is not keras and tf_keras().__version__.startswith("2.")
    assert keras.__version__.startswith("3.") and keras.backend.backend() == "tensorflow"
    # building a tf-keras model after Keras 3 ones does not change Keras 3 (and the reverse)
    k2 = tf_keras()
    k2.Sequential([k2.Input((3,)), k2.layers.Dense(2)])
    assert isinstance(zoo["seq_cnn"], keras.Model) and not isinstance(zoo["seq_cnn"], k2.Model)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", BRIDGEABLE)
def test_zoo_loads_with_keras3_and_matches(zoo, zoo_files, keras, name, fmt):
    loaded = load_keras3_model(zoo_files[name][fmt])
    assert isinstance(loaded, keras.Model)
    x = sample_inputs(zoo[name], count=4)
    arg = x if len(x) > 1 else x[0]
    for a, b in zip(keras.tree.flatten(zoo[name](arg)), keras.tree.flatten(loaded(arg))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


def test_keras3_files_are_refused_by_the_tf_keras_loader_with_directions(zoo_files):
    with pytest.raises(ModelLoadError, match=r"saved by Keras 3\..*load_keras3_model\(\).*load_as_tf_keras"):
        load_keras_model(zoo_files["seq_cnn"]["keras"])


def test_keras2_files_are_refused_by_the_keras3_loader(digits_model_path):
    with pytest.raises(ModelLoadError, match="not Keras 3; load it with load_keras_model"):
        load_keras3_model(digits_model_path)


def test_keras3_lambda_models_are_refused_unless_trusted(keras, tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Dense(2)])
    for name in ("lam.keras", "lam.h5"):
        path = tmp_path / name
        model.save(path)
        with pytest.raises(UnsafeModelError, match="contains Lambda.*--trust-model"):
            load_keras3_model(path)
    trusted = load_keras3_model(tmp_path / "lam.keras", trust_model=True)
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(np.asarray(trusted(x)), np.asarray(model(x)), rtol=1e-6)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", BRIDGEABLE)
def test_zoo_converts_to_float_tflite_and_onnx_with_parity(zoo, zoo_files, tmp_path, name, fmt):
    data = sample_inputs(zoo[name])
    path = zoo_files[name][fmt]
    tfl = to_tflite(path, tmp_path / "m.tflite", eval_data=data)
    onx = to_onnx(path, tmp_path / "m.onnx", eval_data=data)
    for artifact in (tfl, onx):
        assert artifact.parity.passed and artifact.parity.rel_max < 1e-4, (name, fmt, artifact.format, artifact.parity)
        assert artifact.parity.cosine > 0.99999
        assert artifact.params == zoo[name].count_params()
    # the artifact really computes the Keras 3 model: check it against the in-memory model directly
    from edgekit import runtime

    feed = dict(zip([t.name for t in zoo[name].inputs], data)) if len(data) > 1 else data[0]
    with runtime.load(tmp_path / "m.tflite") as model:
        out = model.predict(feed)
    first = out if isinstance(out, np.ndarray) else out[zoo[name].output_names[0]]
    reference = zoo[name](data if len(data) > 1 else data[0])
    reference = reference[0] if isinstance(reference, (list, tuple)) else reference
    np.testing.assert_allclose(first, np.asarray(reference), atol=1e-4 * max(1.0, float(np.max(np.abs(reference)))))


@pytest.mark.parametrize("name", ["func_residual", "preprocess"])
def test_keras3_int8_post_training_quantization(zoo, zoo_files, tmp_path, name):
    data = sample_inputs(zoo[name], count=64)
    artifact = to_tflite(zoo_files[name]["keras"], tmp_path / "m_int8.tflite", quantize="int8", calibration=data, eval_data=data)
    float_art = to_tflite(zoo_files[name]["keras"], tmp_path / "m.tflite")
    from edgekit.device_bench import model_stats

    int8_bytes = model_stats(artifact.path).bytes_by_dtype
    assert int8_bytes.get("int8", 0) > 0.5 * sum(int8_bytes.values()), int8_bytes  # the weights really are int8
    assert model_stats(float_art.path).bytes_by_dtype.get("int8", 0) == 0
    assert artifact.parity.cosine > 0.98, artifact.parity
    if artifact.parity.top1_agreement is not None:
        assert artifact.parity.top1_agreement >= 0.9


def test_int8_model_xnnpack_cannot_prepare_runs_on_litert_kernels(zoo, tmp_path):
    """seq_cnn in int8 (depthwise conv after a folded BatchNormalization) is refused by XNNPACK at prepare time;
    the runtime falls back to LiteRT's built-in kernels and says so, instead of failing to load a valid model."""
    from edgekit import runtime

    data = sample_inputs(zoo["seq_cnn"], count=64)
    artifact = to_tflite(zoo["seq_cnn"], tmp_path / "seq_int8.tflite", quantize="int8", calibration=data, eval_data=data)
    assert artifact.parity.top1_agreement >= 0.9
    with runtime.load(artifact.path) as model:
        assert model.fully_delegated is False
        assert "XNNPACK could not prepare this model" in model.notes[0]
        assert model.predict(data[0][:4]).shape == (4, 10)


def test_unbridgeable_keras3_model_still_converts_and_quantizes(keras, tmp_path):
    model = blocked_model(keras)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    float_art = to_tflite(model, tmp_path / "b.tflite", eval_data=x)
    int8 = to_tflite(model, tmp_path / "b8.tflite", quantize="int8", calibration=x, eval_data=x)
    onx = to_onnx(model, tmp_path / "b.onnx", eval_data=x)
    assert float_art.parity.rel_max < 1e-5 and onx.parity.rel_max < 1e-5
    assert int8.parity.cosine > 0.99


def test_keras3_export_savedmodel_converts(zoo, tmp_path):
    model = zoo["func_residual"]
    export = tmp_path / "exported"
    model.export(export, format="tf_saved_model", verbose=False)
    info = inspect_model_file(export)
    assert info.kind == "savedmodel" and info.keras_version is None  # no Keras metadata in an export
    data = sample_inputs(model)
    tfl = to_tflite(export, tmp_path / "e.tflite", eval_data=data)
    onx = to_onnx(export, tmp_path / "e.onnx", eval_data=data)
    assert tfl.parity.rel_max < 1e-4 and onx.parity.rel_max < 1e-4
    from edgekit import runtime

    with runtime.load(tmp_path / "e.onnx") as m:
        out = m.predict(data[0])
    np.testing.assert_allclose(out, np.asarray(model(data[0])), atol=1e-5)


def _digits_build():
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "samples" / "digits" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


@pytest.fixture(scope="module")
def digits_keras3_path(keras, digits_keras, tmp_path_factory):
    """The bundled sample rebuilt in Keras 3 (same architecture code) with the tf-keras sample's weights."""
    model = _digits_build()(keras)
    for layer in model.layers:
        layer.set_weights(digits_keras.get_layer(layer.name).get_weights())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path_factory.mktemp("digits3") / "digits_keras3.keras"
    model.save(path)
    return path


def _accuracy(path, x, y):
    from edgekit import runtime

    with runtime.load(path) as model:
        return float(np.mean(np.argmax(model.predict(x), axis=1) == y))


def test_keras3_copy_of_digits_converts_to_the_same_accuracy(digits_keras3_path, digits_model_path, digits_data, tmp_path):
    assert inspect_model_file(digits_keras3_path).keras_major == 3
    x, y = digits_data["x_val"], digits_data["y_val"]
    calibration = digits_data["x_train"][:200]
    results = {}
    for label, path in (("keras2", digits_model_path), ("keras3", digits_keras3_path)):
        for mode in ("none", "int8"):
            out = tmp_path / f"{label}_{mode}.tflite"
            to_tflite(path, out, quantize=mode, calibration=calibration if mode == "int8" else None, eval_data=x)
            results[label, mode] = _accuracy(out, x, y)
    assert results["keras2", "none"] > 0.97
    assert results["keras3", "none"] == results["keras2", "none"]
    assert abs(results["keras3", "int8"] - results["keras2", "int8"]) <= 0.005  # same graph, same calibration


def test_edgekit_optimize_on_a_keras3_copy_matches_keras2(digits_keras3_path, digits_model_path, digits_data_path, tmp_path, keras):
    """The command the kit is known by, on what TF 2.16+ users save: same quality as on the Keras 2 original, and the
    pruned model comes back as a Keras 3 file."""
    from edgekit.optimize.pipeline import Settings, optimize
    from edgekit.recipe import Prune, Quantize, Recipe, Train

    recipes = (Recipe("int8", quantize=Quantize("int8")),
               Recipe("pruned-int8", prune=Prune(0.8), quantize=Quantize("int8"), train=Train(epochs=3)))
    runs = {label: optimize(path, tmp_path / label, data=digits_data_path, recipes=recipes, settings=Settings(bench_seconds=0.1))
            for label, path in (("keras2", digits_model_path), ("keras3", digits_keras3_path))}
    top1 = {label: {v.name: a.measurement.metrics.top1 for v, a in r.measured()} for label, r in runs.items()}
    assert runs["keras3"].model.keras["direction"] == "keras3->tf_keras"
    assert runs["keras3"].model.keras["rel_error"] <= 1e-5
    assert runs["keras3"].original.metrics.top1 == runs["keras2"].original.metrics.top1
    assert abs(top1["keras3"]["int8"] - top1["keras2"]["int8"]) <= 0.005
    assert top1["keras3"]["pruned-int8"] >= runs["keras3"].original.metrics.top1 - 0.02
    pruned = next(v for v in runs["keras3"].variants if v.name == "pruned-int8")
    assert pruned.keras_model.endswith("model.keras") and not pruned.notes
    reloaded = keras.models.load_model(tmp_path / "keras3" / pruned.keras_model)  # Keras 3, safe mode
    kernel = reloaded.get_layer("conv2").get_weights()[0]
    assert np.mean(kernel == 0) >= 0.75  # the sparsity survived the trip back to Keras 3


def test_keras3_model_is_written_where_the_user_asked(digits_keras3_path, tmp_path, keras):
    """`-o q.h5` on a Keras 3 model used to write q.keras silently; now it writes q.h5 (Keras 3's HDF5 format)."""
    import json

    from click.testing import CliRunner

    from edgekit.cli import cli

    out = tmp_path / "q.h5"
    r = CliRunner().invoke(cli, ["quantize", str(digits_keras3_path), "--mode", "dynamic", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert out.is_file() and not out.with_suffix(".keras").exists()
    assert json.loads(r.output)["variants"][0]["keras_model"] == str(out)
    reloaded = keras.models.load_model(out)  # Keras 3 reads it back
    assert reloaded.count_params() == 151690
