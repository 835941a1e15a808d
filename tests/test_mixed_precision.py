"""Selective int8 (issue 16): ops mapped to Keras layers, per-layer sensitivity, the accuracy-bounded search.

The collapsing model is the digits sample with one channel of bn1 (fused into conv1's op) scaled up 1000x and
conv2's matching input weights scaled down: the float function is unchanged, plain int8 collapses."""

import numpy as np
import pytest

from edgekit.convert.layer_map import keras_layers, layer_path, select

SCALE, CHANNEL = 1000.0, 5


@pytest.fixture(scope="module")
def outlier_keras(digits_keras):
    from edgekit._tf import tf_keras

    model = tf_keras().models.clone_model(digits_keras)
    model.set_weights(digits_keras.get_weights())
    gamma, beta, mean, var = model.get_layer("bn1").get_weights()
    gamma[CHANNEL] *= SCALE
    beta[CHANNEL] *= SCALE
    model.get_layer("bn1").set_weights([gamma, beta, mean, var])
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[:, :, CHANNEL, :] /= SCALE
    model.get_layer("conv2").set_weights([kernel, bias])
    return model


def _quantizer(model, digits_data, tmp_path_factory):
    from edgekit.convert import to_tflite
    from edgekit.convert.mixed_precision import MixedQuantizer

    path = tmp_path_factory.mktemp("mixed") / "float.tflite"
    to_tflite(model, path)
    return MixedQuantizer(path, keras_layers(model), [digits_data["x_train"][:100]])


@pytest.fixture(scope="module")
def sample_quantizer(digits_keras, digits_data, tmp_path_factory):
    return _quantizer(digits_keras, digits_data, tmp_path_factory)


@pytest.fixture(scope="module")
def outlier_quantizer(outlier_keras, digits_data, tmp_path_factory):
    return _quantizer(outlier_keras, digits_data, tmp_path_factory)


def test_layer_path_reads_keras_names_from_tensor_names():
    names = ["conv", "bn", "relu", "block", "dense"]
    assert layer_path("model/relu/Relu;model/bn/FusedBatchNormV3;model/conv/Conv2D", names) == ("conv",)
    assert layer_path("outer/block/dense/MatMul", names) == ("block", "dense")
    assert layer_path("model/conv_1/Conv2D", names) == ("conv",)  # the second call of a shared layer
    assert layer_path("StatefulPartitionedCall:0", names) == ()
    assert layer_path("model/conv1/Conv2D", names) == ()  # no prefix matching: conv1 is not conv


def test_every_op_of_the_sample_maps_to_its_keras_layer(sample_quantizer):
    ops = sample_quantizer.ops
    by_op = [(op.op, op.layer) for op in ops]
    assert by_op == [("CONV_2D", "conv1"), ("CONV_2D", "conv2"), ("MUL", "bn2"), ("ADD", "bn2"), ("MAX_POOL_2D", "pool"),
                     ("RESHAPE", "flatten"), ("FULLY_CONNECTED", "fc1"), ("FULLY_CONNECTED", "probs"), ("SOFTMAX", "probs")]
    assert ops[0].fused == ("relu1", "bn1", "conv1")  # conv1 + bn1 + relu1 are one op
    assert ops[-1].how == "producer"  # the softmax is named after the model output
    assert [op.index for op in select(ops, ["bn1"])] == [0]


def test_selective_quantization_keeps_named_layers_float(outlier_quantizer, digits_data, tmp_path):
    from edgekit import runtime
    from edgekit.convert.mixed_precision import op_precisions
    from edgekit.errors import EdgekitError

    x, y = digits_data["x_val"], digits_data["y_val"]
    names = [op.layer for op in outlier_quantizer.ops]
    top1 = {}
    for label, keep, wide in (("int8", (), ()), ("float", ("conv1", "conv2"), ()), ("int16", (), ("conv1", "conv2"))):
        path = tmp_path / f"{label}.tflite"
        path.write_bytes(outlier_quantizer.quantize(keep_float=keep, int16x8=wide))
        with runtime.load(path) as model:
            top1[label] = float(np.mean(model.predict(x).argmax(axis=1) == y))
        precisions = op_precisions(path, names)
        assert precisions["compute_ops"] == 4
        assert precisions["int8_compute_ops"] == (4 if label == "int8" else 2)
    assert top1["int8"] < 0.3  # plain int8 collapses
    assert top1["float"] > 0.95
    assert top1["int16"] > 0.9  # int16 activations for the two layers also rescue it, with integer kernels
    with pytest.raises(EdgekitError, match="no op of the converted model belongs to layer.*nope.*layers with ops: conv1"):
        outlier_quantizer.quantize(keep_float=["nope"])


def test_search_keeps_the_outlier_layers_float_and_names_the_cause(outlier_quantizer, outlier_keras, digits_data):
    from edgekit.convert.sensitivity import search

    x, y = digits_data["x_val"][:200], digits_data["y_val"][:200]
    result = search(outlier_quantizer, outlier_keras, [x], y, 1.0, [digits_data["x_train"][:100]])
    assert result.int8_top1 < 0.3
    assert result.met and result.drop <= 1.0
    assert set(result.keep_float) == {"conv1", "conv2"}  # the two ends of the outlier tensor; fc1 and probs stay int8
    report = result.sensitivity
    assert report.mapping["matched"] == report.mapping["checked"] == 7
    conv1 = next(s for s in report.layers if s.layer == "conv1")
    assert conv1.range.widest_channel == CHANNEL and conv1.range.channel_span_ratio > 100
    assert f"output channel {CHANNEL} spans" in conv1.cause
    assert {s.layer for s in report.layers[:2]} == {"conv1", "conv2"}
    assert "conv1: output channel 5 spans" in result.summary()


def test_search_keeps_the_sample_all_int8(sample_quantizer, digits_keras, digits_data):
    from edgekit.convert.sensitivity import search

    result = search(sample_quantizer, digits_keras, [digits_data["x_val"][:200]], digits_data["y_val"][:200], 1.0)
    assert result.keep_float == () and result.met
    assert len(result.steps) == 1  # plain int8 already meets the bound: nothing else is tried
    assert "every layer stays int8" in result.summary()


def test_a_recipe_with_keep_float_converts_to_one_selective_artifact(outlier_keras, digits_data, tmp_path):
    from edgekit import runtime
    from edgekit.convert import convert_for_recipe
    from edgekit.errors import EdgekitError
    from edgekit.recipe import Recipe

    recipe = Recipe.from_yaml("name: mixed\nquantize: {mode: int8, keep_float: [bn1, conv2]}")  # bn1 is fused into conv1
    artifact = convert_for_recipe(outlier_keras, recipe, "tflite", tmp_path / "mixed.tflite",
                                  calibration=digits_data["x_train"][:100])
    assert artifact.quantize == "int8" and artifact.io_dtype == "float32"
    assert "2 of 4 conv/FC ops int8" in artifact.notes[0] and "bn1, conv2" in artifact.notes[1]
    with runtime.load(artifact.path) as model:
        top1 = np.mean(model.predict(digits_data["x_val"]).argmax(axis=1) == digits_data["y_val"])
    assert top1 > 0.95
    with pytest.raises(EdgekitError, match="keep_float: auto; resolve it"):
        convert_for_recipe(outlier_keras, recipe.replace(quantize=recipe.quantize.__class__(mode="int8", keep_float="auto")),
                           "tflite", tmp_path / "auto.tflite", calibration=digits_data["x_train"][:100])
    assert not (tmp_path / "auto.tflite").exists()


def test_quantize_recipe_fields_validate_and_round_trip():
    from edgekit.recipe import Recipe, RecipeError

    for text in ("{mode: int8, keep_float: [conv1], int16x8: [fc1]}", "{mode: int8, keep_float: auto, io_dtype: int8}"):
        recipe = Recipe.from_yaml(f"name: m\nquantize: {text}")
        assert Recipe.from_yaml(recipe.to_yaml()) == recipe and recipe.quantize.mixed
    assert Recipe.from_yaml("name: m\nquantize: {mode: int8, keep_float: auto}").quantize.searches
    assert "keep_float" not in Recipe("plain").to_dict()["quantize"]  # plain recipes read as before
    for text, message in (("{mode: float16, keep_float: [a]}", "post-training int8 model; set quantize.mode to int8"),
                          ("{mode: int8, aware: true, int16x8: [a]}", "without aware"),
                          ("{mode: int8, keep_float: [a], int16x8: [a]}", "layer\\(s\\) a are in both"),
                          ("{mode: int8, io_dtype: uint8, keep_float: auto}", "uint8 I/O needs plain int8")):
        with pytest.raises(RecipeError, match=message):
            Recipe.from_yaml(f"name: m\nquantize: {text}")


# ---- the command line ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def outlier_file(outlier_keras, tmp_path_factory):
    path = tmp_path_factory.mktemp("outlier") / "outlier.h5"
    outlier_keras.save(path)
    return path


@pytest.mark.parametrize("args, message", [
    (["--mode", "dynamic", "--keep-float", "conv1"], "apply to --mode int8"),
    (["--analyze"], "measure on held-out data: give --data"),
    (["--max-accuracy-drop", "1", "--keep-float", "conv1", "--data", "x.npz"], "chooses the float layers itself"),
])
def test_quantize_rejects_selective_options_that_cannot_work(digits_model_path, args, message):
    from click.testing import CliRunner

    from edgekit.cli import cli

    result = CliRunner().invoke(cli, ["quantize", str(digits_model_path), *args])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.slow
def test_cli_search_writes_the_mixed_artifact_and_a_recipe_naming_its_float_layers(outlier_file, digits_data_path, tmp_path):
    import json

    from click.testing import CliRunner

    from edgekit.cli import cli
    from edgekit.recipe import load_recipes

    out = tmp_path / "mixed.h5"
    result = CliRunner().invoke(cli, ["quantize", str(outlier_file), "--mode", "int8", "--data", str(digits_data_path),
                                      "--max-accuracy-drop", "1", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    (variant,) = report["variants"]
    mixed = variant["mixed_precision"]
    assert mixed["met"] and mixed["int8_top1"] < 0.3 and mixed["top1"] >= mixed["float_top1"] - 0.01
    assert sorted(mixed["keep_float"]) == ["conv1", "conv2"] and (mixed["int8_compute_ops"], mixed["compute_ops"]) == (2, 4)
    shipped = variant["artifacts"][0]["measurement"]
    assert shipped["metrics"]["top1"] >= report["original"]["metrics"]["top1"] - 0.01  # measured as shipped
    (recipe,) = load_recipes(tmp_path / "mixed.recipe.yaml")
    assert recipe.name == "int8-mixed" and sorted(recipe.quantize.keep_float) == ["conv1", "conv2"]


# ---- edgekit optimize: the int8-mixed variant ------------------------------------------------------------------
MIXED_RECIPES = "variants:\n  - {name: int8, quantize: {mode: int8}}\n  - {name: int8-mixed, quantize: {mode: int8, keep_float: auto}}\n"


@pytest.mark.slow
def test_optimize_runs_int8_mixed_only_when_plain_int8_misses_the_bound(outlier_file, digits_model_path, digits_data_path, tmp_path):
    from edgekit.optimize.pipeline import Settings, optimize
    from edgekit.optimize.pipeline_report import text_summary
    from edgekit.recipe import recipes_from_data
    import yaml

    recipes = recipes_from_data(yaml.safe_load(MIXED_RECIPES))
    bad = optimize(outlier_file, tmp_path / "outlier", data=digits_data_path, recipes=recipes, settings=Settings(bench_seconds=0.1))
    plain, mixed = bad.variants
    assert plain.status == "failed" and "quantized outputs collapsed" in plain.reason  # the int8 parity guard
    assert mixed.status == "done" and mixed.recipe.quantize.keep_float == "auto"
    assert sorted(mixed.resolved_recipe.quantize.keep_float) == ["conv1", "conv2"]
    assert mixed.artifacts[0].measurement.metrics.top1 >= bad.original.metrics.top1 - 0.01
    assert bad.ranking.recommended == "int8-mixed/tflite"
    assert "int8-mixed: kept float: conv" in text_summary(bad) and "(2 of 4 conv/FC ops int8)" in text_summary(bad)
    assert "int8-mixed: layers kept out of int8" in (tmp_path / "outlier" / "report.html").read_text()
    conv1 = next(s for s in mixed.int8_sensitivity.layers if s.layer == "conv1")
    assert conv1.range.channel_span_ratio > 100 and "output channel 5 spans" in conv1.cause
    assert {s.layer for s in mixed.int8_sensitivity.layers[:2]} == {"conv1", "conv2"}  # the search's own report
    from edgekit import results as results_mod

    again = results_mod.load(tmp_path / "outlier" / "results.json")  # typed round trip through results.json
    assert again.variants[1].mixed_precision == mixed.mixed_precision

    good = optimize(digits_model_path, tmp_path / "sample", data=digits_data_path, recipes=recipes, settings=Settings(bench_seconds=0.1))
    assert good.variants[1].status == "skipped"
    assert "plain int8 (int8) already meets the accuracy bound" in good.variants[1].reason


def test_edgetpu_target_keeps_int8_mixed_as_a_tflite_that_reports_its_cpu_fallback():
    from edgekit.optimize.pipeline import for_target
    from edgekit.recipe import preset

    kept, skipped = for_target(preset("edgetpu"), "edgetpu")
    mixed = next(r for r in kept if r.name == "int8-mixed")
    assert mixed.formats == ("tflite",) and mixed.quantize.io_dtype == "int8" and mixed.quantize.searches
    assert next(r for r in kept if r.name == "int8").formats == ("edgetpu",)
    kept, skipped = for_target(preset("default"), "mcu")  # no CPU to fall back to
    assert "int8-mixed" not in [r.name for r in kept]
    assert "layers kept out of int8 need a .tflite target" in next(v.reason for v in skipped if v.name == "int8-mixed")


def test_keras3_names_and_a_shared_layer_map_to_their_layers(tmp_path, digits_data):
    from edgekit._tf import keras3
    from edgekit.convert.mixed_precision import quantizer_for
    from edgekit.convert.sensitivity import analyze

    keras = keras3()
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.ReLU(name="r1")(keras.layers.Conv2D(8, 3, padding="same", name="c1")(inputs))
    shared = keras.layers.Conv2D(8, 3, padding="same", name="shared")
    h = keras.layers.GlobalAveragePooling2D(name="gap")(shared(shared(h)))  # Keras 3 scopes: shared_1, shared_3
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="out")(h), name="k3net")
    model.save(tmp_path / "k3.keras")
    x = digits_data["x_val"][:50]
    quantizer, keras_model = quantizer_for(tmp_path / "k3.keras", tmp_path, digits_data["x_train"][:50])
    assert [(op.op, op.layer) for op in quantizer.ops] == [("CONV_2D", "c1"), ("CONV_2D", "shared"), ("CONV_2D", "shared"),
                                                           ("MEAN", "gap"), ("FULLY_CONNECTED", "out"), ("SOFTMAX", "out")]
    report = analyze(quantizer, keras_model, [x], None, [digits_data["x_train"][:50]], trials=False)
    assert report.mapping["matched"] == report.mapping["checked"] == 3  # the shared layer has no single output to check


@pytest.mark.slow
def test_cli_analyze_prints_the_layers_by_sensitivity_and_writes_nothing(outlier_file, digits_data_path, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from edgekit.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["quantize", str(outlier_file), "--mode", "int8", "--data", str(digits_data_path),
                                      "--analyze", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["int8_drop"] > 50 and {s["layer"] for s in report["layers"][:2]} == {"conv1", "conv2"}
    assert report["mapping"]["matched"] == report["mapping"]["checked"] == 7
    assert list(tmp_path.iterdir()) == []  # an analysis writes no model


def deep_outlier_twin(x, y, scale=1000.0, channel=3):
    """A 5-conv/FC digits CNN trained for a few epochs, and its twin with conv1's channel scaled up and conv2's
    matching input weights scaled down (ReLU commutes with a positive scale: the float function is unchanged)."""
    from edgekit._tf import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)), layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        layers.Conv2D(16, 3, activation="relu", name="conv2"), layers.Conv2D(32, 3, activation="relu", name="conv3"),
        layers.Flatten(name="flatten"), layers.Dense(32, activation="relu", name="fc1"),
        layers.Dense(10, activation="softmax", name="fc2")], name="deep_cnn")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    kernel, bias = model.get_layer("conv1").get_weights()
    kernel[..., channel] *= scale
    bias[channel] *= scale
    model.get_layer("conv1").set_weights([kernel, bias])
    kernel, bias = model.get_layer("conv2").get_weights()
    kernel[:, :, channel, :] /= scale
    model.get_layer("conv2").set_weights([kernel, bias])
    return model


@pytest.mark.slow
def test_on_a_deeper_cnn_most_conv_fc_ops_stay_int8(digits_data, tmp_path):
    from edgekit.convert.mixed_precision import quantizer_for
    from edgekit.convert.sensitivity import search

    model = deep_outlier_twin(digits_data["x_train"], digits_data["y_train"])
    quantizer, keras_model = quantizer_for(model, tmp_path, digits_data["x_train"][:100])
    result = search(quantizer, keras_model, [digits_data["x_val"]], digits_data["y_val"], 1.0, quantizer.samples)
    assert result.int8_top1 < 0.5 and result.met and result.drop <= 1.0
    assert sorted(result.keep_float) == ["conv1", "conv2"]
    assert (result.int8_compute_ops, result.compute_ops) == (3, 5)  # conv3, fc1, fc2 stay int8
    assert "conv1: output channel 3 spans" in result.summary()


def test_a_clustered_model_checks_its_layer_map(digits_keras, digits_data):
    """tfmot wraps and strips by rebuilding the model around the same layer objects, so a stripped model's layers
    keep the calls of the models before it: each looked shared, and the map went unchecked ("not checked
    (IndexError)"). It is checked on this model's own outputs. (A pruned variant: test_optimize_pipeline.py.)"""
    from edgekit.convert.sensitivity import analyze_model
    from edgekit.optimize import TrainData, cluster
    from edgekit.recipe import Cluster, Train

    d = digits_data
    few = TrainData(d["x_train"][:128], d["y_train"][:128], d["x_val"][:64], d["y_val"][:64], source="digits")
    stripped = cluster(digits_keras, Cluster(clusters=8), few, Train(epochs=1)).model
    report = analyze_model(stripped, d["x_train"][:64], d["x_val"][:64], d["y_val"][:64], trials=False)
    assert report.mapping["matched"] == report.mapping["checked"] == 7, report.mapping
    assert report.mapping["summary"] == "7/7 layers reproduce their Keras output"
