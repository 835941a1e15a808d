"""Prune, cluster and QAT on the digits sample, judged on the shipped .tflite (real effects, few epochs)."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.errors import DataError
from edgekit.optimize import OptimizeError, TrainData, apply_recipe, optimize_model, prune, quantize_aware
from edgekit.errors import RecipeError
from edgekit.recipe import Cluster, Prune, Quantize, Recipe, Train

pytestmark = pytest.mark.slow
FAST = Train(epochs=1, batch_size=64)
DIGITS_PARAMS = 151_690  # the digits sample's weights (Keras count_params)


def shipped_artifact(results):
    """The (first) artifact of the one recipe a single-technique run ran."""
    return results.variants[0].artifacts[0]


@pytest.fixture(scope="module")
def data(digits_data):
    return TrainData(digits_data["x_train"], digits_data["y_train"], digits_data["x_val"], digits_data["y_val"], source="digits")


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, digits_keras, data):
    """Pruned to 80 % and converted to int8: one run shared by the pruning tests."""
    before = [w.copy() for w in digits_keras.get_weights()]
    recipe = Recipe("pruned", prune=Prune(sparsity=0.8), quantize=Quantize(mode="int8"), train=Train(epochs=2))
    result = optimize_model(digits_keras, recipe, data, tmp_path_factory.mktemp("pruned") / "pruned.h5")
    return result, before


def test_pruning_reaches_sparsity_and_shrinks_gzip(pruned, digits_keras):
    result, before = pruned
    layers = {l.name: l for l in result.variants[0].optimization.layers}
    assert not layers["conv1"].pruned and not layers["probs"].pruned  # first/last skipped by default
    assert layers["conv1"].note.startswith("first/last")
    for name in ("conv2", "fc1"):
        assert layers[name].pruned and layers[name].sparsity == pytest.approx(0.8, abs=0.01)
    shipped = {s.layer: s for s in shipped_artifact(result).measurement.weights}
    assert shipped["fc1"].dtype == "int8" and shipped["fc1"].sparsity == pytest.approx(0.8, abs=0.01)
    assert shipped_artifact(result).gzip_bytes < result.original.artifact.gzip_bytes / 5  # int8 (4x) and 80 % zeros
    assert shipped_artifact(result).measurement.metrics.top1 >= result.original.metrics.top1 - 0.02
    assert shipped_artifact(result).params == result.original.artifact.params == DIGITS_PARAMS  # zeros are parameters
    assert all(np.array_equal(a, b) for a, b in zip(before, digits_keras.get_weights()))  # caller's model untouched


def test_pruned_outputs_and_recipe_round_trip(pruned):
    result, _ = pruned
    text = open(result.variants[0].recipe_file).read()
    assert Recipe.from_yaml(text) == result.variants[0].recipe and "tensorflow 2." in text
    from edgekit.keras.loading import load_keras_model

    reloaded = load_keras_model(result.variants[0].keras_model)
    kernel = reloaded.get_layer("fc1").kernel.numpy()
    assert np.mean(kernel == 0) == pytest.approx(0.8, abs=0.01)  # stripped: a plain Dense, sparsity kept


def test_clustering_leaves_at_most_n_values_per_kernel(tmp_path, digits_keras, data):
    recipe = Recipe("clustered", cluster=Cluster(clusters=8, init="linear"), train=FAST)
    result = optimize_model(digits_keras, recipe, data, tmp_path / "clustered.h5")
    clustered = [l for l in result.variants[0].optimization.layers if l.clustered]
    assert {l.name for l in clustered} == {"conv2", "fc1"}
    assert all(l.unique <= 8 for l in clustered)
    shipped = {s.layer: s for s in shipped_artifact(result).measurement.weights}  # float32 .tflite: the values ship as they are
    assert shipped["fc1"].unique <= 8 and shipped["conv2"].unique <= 8 and shipped["probs"].unique > 8
    assert shipped_artifact(result).gzip_bytes < result.original.artifact.gzip_bytes / 3
    assert shipped_artifact(result).measurement.metrics.top1 >= result.original.metrics.top1 - 0.03


def test_qat_works_despite_the_batchnorm_pattern_and_int8_stays_within_a_point(tmp_path, digits_model_path, digits_data_path):
    out = tmp_path / "qat.h5"
    res = CliRunner().invoke(cli, ["quantize", str(digits_model_path), "--mode", "qat", "--data", str(digits_data_path),
                                   "--epochs", "1", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    float_layers = result["variants"][0]["optimization"]["float_layers"]
    assert set(float_layers) == {"bn2"} and "BatchNormalization" in float_layers["bn2"]
    original, (shipped,) = result["original"]["artifact"], result["variants"][0]["artifacts"]
    assert shipped["quantize"] == "int8" and {w["dtype"] for w in shipped["measurement"]["weights"]} == {"int8"}
    assert shipped["measurement"]["metrics"]["top1"] >= original["measurement"]["metrics"]["top1"] - 0.01
    assert out.with_suffix(".tflite").stat().st_size < original["file_bytes"] / 3
    # the parameters of the model, not of tfmot's quantizers (151,906 counted those); the .tflite graph holds fewer
    # (BatchNormalization folded into the convolution), the same for both
    assert result["model"]["params"] == original["params"] == shipped["params"] == DIGITS_PARAMS
    assert shipped["measurement"]["params"] == original["measurement"]["params"] < DIGITS_PARAMS


def test_prune_cluster_qat_keeps_sparsity_and_clusters_in_int8_weights(tmp_path, digits_keras, data):
    recipe = Recipe("pcqat", prune=Prune(sparsity=0.75, schedule="constant"), cluster=Cluster(clusters=16),
                    quantize=Quantize(mode="int8", aware=True), train=FAST)
    result = optimize_model(digits_keras, recipe, data, tmp_path / "pcqat.h5")
    assert result.variants[0].optimization.steps == ("prune", "cluster", "qat")
    shipped = {s.layer: s for s in shipped_artifact(result).measurement.weights}
    for name in ("conv2", "fc1"):
        assert shipped[name].dtype == "int8"
        assert shipped[name].sparsity >= 0.74  # zeros survived clustering and QAT (per-layer quantizers)
        assert shipped[name].unique_per_channel <= 16
    assert shipped_artifact(result).measurement.metrics.top1 >= result.original.metrics.top1 - 0.02
    assert shipped_artifact(result).params == DIGITS_PARAMS


def test_two_of_four_structured_sparsity(digits_keras, data):
    result = prune(digits_keras, Prune(structure="2:4"), data, FAST)
    kernel = result.model.get_layer("fc1").kernel.numpy()  # (in, out): groups of 4 along the input axis
    groups = np.moveaxis(kernel, 0, -1).reshape(-1, 4)
    assert np.all(np.sum(groups == 0, axis=1) >= 2)
    with pytest.raises(RecipeError, match="sparsity 0.5"):
        Prune(sparsity=0.8, structure="2:4")


def test_quantize_aware_lists_float_layers(digits_keras, data):
    result = quantize_aware(digits_keras, data, Train(epochs=1, batch_size=128))
    assert result.float_layers.keys() == {"bn2"} and result.needs_calibration
    assert all(l.quantized for l in result.layers)  # every kernel layer is fake-quantized


def test_wrapped_models_count_the_weights_they_ship_not_the_wrappers(digits_keras, data):
    """tfmot's wrappers hold quantizer ranges, masks, thresholds, centroids and step counters the converted model does
    not ship: a QAT model, or one still wrapped for pruning or clustering, has the parameters of the model it wraps."""
    from edgekit._tf import tf_keras, tfmot
    from edgekit.keras import open_source

    def copy():
        clone = tf_keras().models.clone_model(digits_keras)
        clone.set_weights(digits_keras.get_weights())
        return clone

    few = TrainData(data.x_train[:128], data.y_train[:128], data.x_val[:64], data.y_val[:64])
    sparsity, clustering = tfmot().sparsity.keras, tfmot().clustering.keras
    wrapped = {
        "qat": quantize_aware(digits_keras, few, Train(epochs=1)).model,
        "prune": sparsity.prune_low_magnitude(copy(), pruning_schedule=sparsity.ConstantSparsity(0.5, 0)),
        "cluster": clustering.cluster_weights(copy(), number_of_clusters=8,
                                              cluster_centroids_init=clustering.CentroidInitialization.LINEAR),
    }
    assert digits_keras.count_params() == open_source(digits_keras).params == DIGITS_PARAMS
    for name, model in wrapped.items():
        assert model.count_params() > DIGITS_PARAMS, name  # Keras counts the wrappers' variables too
        assert open_source(model).params == DIGITS_PARAMS, name


# ---- bad input ---------------------------------------------------------------------------------------------
def test_bad_data_is_one_clear_error(digits_keras, data):
    wrong_shape = TrainData(data.x_train[:, :6, :6], data.y_train, data.x_val[:, :6, :6], data.y_val)
    with pytest.raises(DataError, match=r"expects shape \(N, 8, 8, 1\); got \(\d+, 6, 6, 1\)"):
        prune(digits_keras, Prune(), wrong_shape, FAST)
    wrong_labels = TrainData(data.x_train, data.y_train + 3, data.x_val, data.y_val)
    with pytest.raises(DataError, match=r"labels range 3\.\.12 but the model outputs 10 classes"):
        prune(digits_keras, Prune(), wrong_labels, FAST)
    with pytest.raises(DataError, match="needs training data"):
        apply_recipe(digits_keras, Recipe("p", prune=Prune()))


def test_bad_layer_selection_and_subclassed_models(digits_keras, data):
    with pytest.raises(OptimizeError, match="'fc9' matches no layer"):
        prune(digits_keras, Prune(include=("fc9",)), data, FAST)
    with pytest.raises(OptimizeError, match="cannot prune layer 'bn1'.*no weights"):
        prune(digits_keras, Prune(include=("bn1",)), data, FAST)
    from edgekit._tf import tf_keras

    keras = tf_keras()

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(10)

        def call(self, x):
            return self.dense(keras.layers.Flatten()(x))

    net = Net()
    net(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(OptimizeError, match="subclassed model"):
        prune(net, Prune(), data, FAST)


@pytest.mark.parametrize("args, message", [
    (["prune", "--sparsity", "1.5"], "prune.sparsity must be strictly between 0 and 1; got 1.5"),
    (["cluster", "--clusters", "1"], "cluster.clusters must be an integer of at least 2; got 1"),
    (["prune", "--include", "nope"], "'nope' matches no layer"),
])
def test_cli_bad_values(tmp_path, digits_model_path, digits_data_path, args, message):
    out = tmp_path / "x.h5"
    res = CliRunner().invoke(cli, [args[0], str(digits_model_path), "--data", str(digits_data_path), "-o", str(out), *args[1:]])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_cli_recipe_conflicts_and_no_data(tmp_path, digits_model_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(Recipe("p", prune=Prune()).to_yaml())
    res = CliRunner().invoke(cli, ["prune", str(digits_model_path), "--recipe", str(recipe), "--sparsity", "0.7"])
    assert res.exit_code == 2 and "drop --sparsity" in res.output
    res = CliRunner().invoke(cli, ["prune", str(digits_model_path), "--recipe", str(recipe), "-o", str(tmp_path / "p.h5")])
    assert res.exit_code == 1 and "needs training data (--data)" in res.output
    res = CliRunner().invoke(cli, ["quantize", str(digits_model_path), "--mode", "dynamic", "-o", str(tmp_path / "d.h5")])
    assert res.exit_code == 0, res.output
    assert "only post-training quantization ran" in res.output and "SNR dB" in res.output
    assert yaml.safe_load((tmp_path / "d.recipe.yaml").read_text())["quantize"]["mode"] == "dynamic"
