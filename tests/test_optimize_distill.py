"""Distillation fine-tuning, unlabelled data, the channel-pruning recipe and the `edgekit prune --channels` command."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.errors import DataError
from edgekit.optimize import TrainData, apply_recipe, as_train_data, fidelity_metrics, prune, prune_channels
from edgekit.optimize.distill import distillation_for, distillation_loss, pack_targets
from edgekit.recipe import ChannelPrune, Prune, Recipe, RecipeError, Train


@pytest.fixture(scope="module")
def inputs_only(digits_data):
    return {"x_train": digits_data["x_train"], "x_val": digits_data["x_val"]}


def _agreement(a, b, x):
    return float(np.mean(a.predict(x, verbose=0).argmax(1) == b.predict(x, verbose=0).argmax(1)))


def test_unlabelled_data_sources(tmp_path, digits_data, digits_keras):
    from PIL import Image

    np.save(tmp_path / "x.npy", digits_data["x_val"])
    np.savez(tmp_path / "x.npz", x=digits_data["x_val"])
    images = tmp_path / "images"
    images.mkdir()
    for i in range(10):
        Image.fromarray((digits_data["x_val"][i, :, :, 0] * 255).astype(np.uint8)).save(images / f"{i}.png")
    for source in (tmp_path / "x.npy", tmp_path / "x.npz", images):
        data = as_train_data(str(source), val_split=0.2)
        assert not data.labelled and data.y_train is None and data.y_val is None
        assert len(data.x_train) + len(data.x_val) in (10, len(digits_data["x_val"]))
        assert "inputs only (no labels)" in data.describe()
    from edgekit.optimize import fit_to_model

    fitted = fit_to_model(as_train_data(str(images), val_split=0.2), digits_keras)
    assert fitted.x_train.shape[1:] == (8, 8, 1) and fitted.y_train is None
    (tmp_path / "one" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="one subfolder per class .at least 2., or the images directly in it"):
        as_train_data(str(tmp_path / "one"))
    with pytest.raises(DataError, match="labels for both the training and the held-out inputs, or for neither"):
        TrainData(digits_data["x_val"], digits_data["y_val"], digits_data["x_val"], None)


def test_distillation_loss_is_kl_at_temperature_plus_task_loss(digits_keras):
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    student = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]], np.float32)
    labels = np.array([0, 2])

    class Teacher:
        def predict(self, x, batch_size, verbose):
            return probs

    keras = __import__("edgekit._tf", fromlist=["tf_keras"]).tf_keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
    spec = distillation_for(model, labels, temperature=2.0, weight=0.75)
    assert spec.kl and spec.probabilities and spec.labelled
    packed = pack_targets(Teacher(), np.zeros((2, 3)), labels, spec)
    got = distillation_loss(spec)(packed, student).numpy()

    def soft(p, t):
        z = np.log(p) / t
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    pt, ps = soft(probs, 2.0), soft(student, 2.0)
    kl = (pt * (np.log(pt) - np.log(ps))).sum(1) * 4.0
    ce = -np.log(student[np.arange(2), labels])
    np.testing.assert_allclose(got, 0.75 * kl + 0.25 * ce, rtol=1e-5)
    unlabelled = distillation_for(model, None, 2.0, 0.75)
    np.testing.assert_allclose(distillation_loss(unlabelled)(pack_targets(Teacher(), np.zeros((2, 3)), None, unlabelled), student).numpy(),
                               kl, rtol=1e-5)


def test_channel_pruning_with_inputs_only_learns_from_the_original(digits_keras, inputs_only, digits_data):
    x_val = digits_data["x_val"]
    recipe = Recipe("c", prune=ChannelPrune(ratio=0.75), train=Train(epochs=2))
    before = _agreement(prune_channels(digits_keras, 0.75).model, digits_keras, x_val)
    result = apply_recipe(digits_keras, recipe, inputs_only)
    after = _agreement(result.model, digits_keras, x_val)
    assert result.steps == ("channels",) and result.channels.mac_ratio > 8
    assert result.training[0].distillation is not None and "no labels" in result.training[0].loss
    assert after >= 0.95 and after > before
    assert any("MACs 1,330,432 -> " in note for note in result.notes)
    assert result.optimization.channels == result.channels.report and result.channels.report.macs_after < 1330432 / 8


def test_magnitude_pruning_with_inputs_only_distils_and_refuses_distill_false(digits_keras, inputs_only):
    inputs_only = {"x_train": inputs_only["x_train"][:256], "x_val": inputs_only["x_val"][:64]}
    result = prune(digits_keras, Prune(sparsity=0.5), inputs_only, Train(epochs=1))
    assert result.training[0].distillation is not None
    with pytest.raises(DataError, match="inputs only .no labels.: fine-tuning can only learn from the original"):
        prune(digits_keras, Prune(sparsity=0.5), inputs_only, Train(epochs=1, distill=False))
    with pytest.raises(RecipeError, match="train.loss 'mse' and distillation exclude each other"):
        prune(digits_keras, Prune(sparsity=0.5), inputs_only, Train(epochs=1, loss="mse"))


def test_fidelity_metrics_report_teacher_student_agreement():
    ref = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    out = np.array([[0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    assert fidelity_metrics(out, ref).agreement == pytest.approx(2 / 3)
    assert fidelity_metrics(np.ones((3, 1)), np.ones((3, 1))).agreement is None


def test_channel_recipe_round_trips_and_validates():
    recipe = Recipe("c", prune=ChannelPrune(ratio=0.3, criterion="l1-bn", ratios={"conv2": 0.5}, round_to=8,
                                            exclude=("fc1",)), train=Train(distill=True, temperature=3))
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe and again.channel_pruning and again.prune.ratios == {"conv2": 0.5}
    assert Recipe.from_dict({"name": "g", "prune": {"structure": "channels", "max_macs": 1000}}).prune.ratio is None
    assert Recipe.from_dict({"name": "d", "prune": {"structure": "channels"}}).prune.ratio == 0.5
    timed = Recipe("t", prune=ChannelPrune(max_latency_ms=5))
    assert Recipe.from_yaml(timed.to_yaml()) == timed and timed.prune.ratio is None
    bad = [
        ({"structure": "channels", "sparsity": 0.5}, "unknown prune key.s. sparsity"),
        ({"structure": "channels", "ratio": 1.0}, "prune.ratio is the share of channels to remove"),
        ({"structure": "channels", "ratio": 0.5, "max_macs": 10}, "exclude each other"),
        ({"structure": "channels", "max_macs": 10, "max_latency_ms": 2}, "prune.max_macs and prune.max_latency_ms exclude"),
        ({"structure": "channels", "max_latency_ms": 0}, "prune.max_latency_ms must be a positive number"),
        ({"structure": "channels", "criterion": "l3"}, "prune.criterion must be one of l1, l2, l1-bn; got 'l3'"),
        ({"structure": "channels", "round_to": 0}, "prune.round_to must be an integer of at least 1"),
        ({"structure": "filters"}, "prune.structure must be one of unstructured, 2:4, channels"),
    ]
    for section, message in bad:
        with pytest.raises(RecipeError, match=message):
            Recipe.from_dict({"name": "x", "prune": section})
    with pytest.raises(RecipeError, match="prune: {structure: channels, ratio: 0.5}"):
        Prune(structure="channels")
    with pytest.raises(RecipeError, match="train.temperature must be a positive number"):
        Train(temperature=0)


@pytest.mark.parametrize("args, message", [
    (["--channels", "0.5", "--sparsity", "0.5"], "--sparsity set(s) magnitude pruning"),
    (["--round-to", "8"], "apply to channel pruning; add --channels RATIO, --max-macs N or --max-latency TIME"),
])
def test_cli_channel_option_conflicts(tmp_path, digits_model_path, args, message):
    res = CliRunner().invoke(cli, ["prune", str(digits_model_path), "-o", str(tmp_path / "x.h5"), *args])
    assert res.exit_code == 2 and message in res.output


def test_cli_prune_channels_on_inputs_only(tmp_path, digits_model_path, digits_data):
    np.save(tmp_path / "x.npy", digits_data["x_val"])
    out = tmp_path / "small.h5"
    res = CliRunner().invoke(cli, ["prune", str(digits_model_path), "--channels", "0.5", "--data", str(tmp_path / "x.npy"),
                                   "--epochs", "1", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    (variant,) = result["variants"]
    channels = variant["optimization"]["channels"]
    assert channels["macs_before"] / channels["macs_after"] >= 2.5
    assert variant["recipe"]["prune"]["structure"] == "channels" and variant["recipe"]["train"]["distill"] is True
    assert variant["artifacts"][0]["params"] == channels["params_after"]
    # MACs before/after are also measured on the artifacts (the .tflite counter), and agree with the Keras count
    assert variant["artifacts"][0]["measurement"]["macs"] == channels["macs_after"]
    assert result["original"]["artifact"]["measurement"]["macs"] == channels["macs_before"]
    assert variant["artifacts"][0]["measurement"]["metrics"]["agreement"] >= 0.9
    from edgekit.keras import load_keras_model

    assert load_keras_model(out).count_params() == channels["params_after"]


def test_recipe_criteria_are_the_channel_criteria_table():
    from edgekit.optimize.channels import CRITERIA
    from edgekit.recipe import CHANNEL_CRITERIA

    assert tuple(CRITERIA) == CHANNEL_CRITERIA


def test_keras3_model_is_channel_pruned_through_the_bridge_and_written_back_as_keras3(zoo, keras, tmp_path):
    """The zoo's residual model (Add, DepthwiseConv2D, SeparableConv2D, Concatenate), saved by Keras 3, goes through
    the bridge (as optimize does), is channel-pruned and comes back as a smaller, equivalent Keras 3 file."""
    from keras3_zoo import sample_inputs

    from edgekit.keras import inspect_model_file, load_keras3_model
    from edgekit.keras.bridge import load_as_tf_keras, save_like_source

    source = tmp_path / "residual.keras"
    zoo["func_residual"].save(source)
    loaded = load_as_tf_keras(source)
    pruning = prune_channels(loaded.model, 0.5)
    path, note = save_like_source(pruning.model, loaded, tmp_path / "small.keras")
    assert note is None and inspect_model_file(path).keras_major == 3
    back = load_keras3_model(path)
    assert back.count_params() == pruning.params_after < zoo["func_residual"].count_params()
    x = sample_inputs(zoo["func_residual"], count=8)[0]
    np.testing.assert_allclose(np.asarray(back(x)), pruning.model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
