"""The Keras 3 → tf-keras bridge (and back): verified rebuilds of the zoo, tfmot prune/cluster/QAT on the bridged
models, the optimized model handed back as a Keras 3 .keras file, and clear errors for what cannot be bridged."""

import numpy as np
import pytest

from keras3_zoo import BRIDGEABLE, blocked_model, sample_inputs

from edgekit.errors import BridgeError
from edgekit.keras.bridge import bridge_blockers, load_as_tf_keras, to_keras3, to_tf_keras

PRUNABLE = ("Conv2D", "Dense", "DepthwiseConv2D", "SeparableConv2D", "Embedding", "LSTM", "GRU")
QAT_LAYERS = ("Dense",)  # Conv2D+BatchNormalization patterns are edgekit.optimize's business (issue 5)


@pytest.fixture(scope="module")
def tfk():
    from edgekit._tf import tf_keras

    return tf_keras()


@pytest.fixture(scope="module")
def mot():
    from edgekit._tf import tfmot

    return tfmot()


@pytest.fixture(scope="module")
def bridged(zoo, tmp_path_factory):
    """name -> BridgeResult, bridged from the model as saved to and loaded from a .keras file."""
    folder = tmp_path_factory.mktemp("bridge")
    out = {}
    for name in BRIDGEABLE:
        path = folder / f"{name}.keras"
        zoo[name].save(path)
        out[name] = load_as_tf_keras(path)
    return out


def _outputs(model, x):
    out = model(x if len(x) > 1 else x[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("name", BRIDGEABLE)
def test_bridge_rebuilds_the_zoo_in_tf_keras_with_matching_outputs(zoo, bridged, tfk, name):
    result = bridged[name]
    assert isinstance(result.model, tfk.Model) and result.direction == "keras3->tf_keras"
    assert result.rel_error <= 1e-5 and result.tolerance == 1e-5
    assert result.layers == len([l for l in zoo[name].layers if type(l).__name__ != "InputLayer"])
    x = sample_inputs(zoo[name], count=16, seed=7)  # inputs the bridge did not verify on
    reference, got = _outputs(zoo[name], x), _outputs(result.model, x)
    for r, g in zip(reference, got):
        assert r.shape == g.shape and np.std(r) > 0
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * max(1.0, float(np.max(np.abs(r)))))
    assert [t.name.split(":")[0] for t in result.model.inputs] == [t.name for t in zoo[name].inputs]
    assert list(result.model.output_names) == [t._keras_history.operation.name for t in zoo[name].outputs]


def test_bridge_carries_regularizers_constraints_and_initializers(bridged, tfk):
    stem = bridged["func_residual"].model.get_layer("stem")
    assert isinstance(stem.kernel_regularizer, tfk.regularizers.L2)
    assert float(stem.kernel_regularizer.l2) == pytest.approx(1e-4)
    assert isinstance(stem.kernel_constraint, tfk.constraints.MaxNorm)
    assert isinstance(bridged["func_residual"].model.get_layer("dw").depthwise_initializer, tfk.initializers.HeNormal)
    assert bridged["func_residual"].model.get_layer("dw_bn").moving_variance.numpy().min() > 0.5  # copied, not init


def test_bridge_fails_loudly_above_the_tolerance(zoo):
    with pytest.raises(BridgeError, match=r"differs from the original by .* above the tolerance 0e\+00"):
        to_tf_keras(zoo["func_residual"], tolerance=0.0)


def _prune(mot, tfk, model, x, y):
    def wrap(layer):
        if type(layer).__name__ in PRUNABLE:
            return mot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=mot.sparsity.keras.ConstantSparsity(0.5, 0, frequency=1))
        return layer

    wrapped = tfk.models.clone_model(model, clone_function=wrap)
    _fit(wrapped, x, y, [mot.sparsity.keras.UpdatePruningStep()])
    return mot.sparsity.keras.strip_pruning(wrapped)


def _cluster(mot, tfk, model, x, y):
    wrapped = mot.clustering.keras.cluster_weights(
        model, number_of_clusters=4, cluster_centroids_init=mot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS
    )
    _fit(wrapped, x, y, [])
    return mot.clustering.keras.strip_clustering(wrapped)


def _qat(mot, tfk, model, x, y):
    q = mot.quantization.keras
    annotated = tfk.models.clone_model(
        model, clone_function=lambda l: q.quantize_annotate_layer(l) if type(l).__name__ in QAT_LAYERS else l
    )
    with q.quantize_scope():
        wrapped = q.quantize_apply(annotated)
    _fit(wrapped, x, y, [])
    return wrapped


def _fit(model, x, y, callbacks):
    model.compile(optimizer="adam", loss="mse")
    model.fit(x if len(x) > 1 else x[0], y if len(y) > 1 else y[0], epochs=1, batch_size=16, verbose=0, callbacks=callbacks)


TECHNIQUES = {"prune": _prune, "cluster": _cluster, "qat": _qat}


@pytest.mark.slow
@pytest.mark.parametrize("technique", list(TECHNIQUES))
@pytest.mark.parametrize("name", BRIDGEABLE)
def test_bridged_zoo_optimizes_with_tfmot_and_comes_back_as_keras3(zoo, bridged, keras, mot, tfk, tmp_path, name, technique):
    model = tfk.models.clone_model(bridged[name].model)  # tfmot wraps layers in place: keep the fixture intact
    model.set_weights(bridged[name].model.get_weights())
    x = sample_inputs(zoo[name], count=32)
    y = _outputs(zoo[name], x)
    optimized = TECHNIQUES[technique](mot, tfk, model, x, y)
    out = tmp_path / f"{name}_{technique}.keras"
    if technique == "qat":
        assert any(type(l).__name__ == "QuantizeWrapperV2" for l in optimized.layers)
        with pytest.raises(BridgeError, match=r"blocked by: quant.*quantization-aware-training .*ship the int8 TFLite"):
            to_keras3(optimized, out)
        assert not out.exists()
        return
    if technique == "prune":
        kernels = [l.kernel.numpy() for l in optimized.layers if type(l).__name__ in ("Conv2D", "Dense")]
        assert all(np.mean(k == 0) >= 0.45 for k in kernels)
    result = to_keras3(optimized, out)
    assert result.direction == "tf_keras->keras3" and result.rel_error <= 1e-5 and result.path == str(out)
    from edgekit.keras.loading import inspect_model_file, load_keras3_model

    assert inspect_model_file(out).keras_major == 3
    back = load_keras3_model(out)  # safe_mode load of what we wrote
    for r, g in zip(_outputs(optimized, x), _outputs(back, x)):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * max(1.0, float(np.max(np.abs(r)))))
    for layer in back.layers:  # the optimization survives the trip: sparsity / clusters in the Keras 3 weights
        if type(layer).__name__ in ("Conv2D", "Dense"):
            kernel = np.asarray(layer.kernel)
            if technique == "prune":
                assert np.mean(kernel == 0) >= 0.45
            else:
                assert len(np.unique(kernel)) <= 4


def test_unbridgeable_models_name_every_blocking_layer(keras):
    model = blocked_model(keras)
    blockers = bridge_blockers(model)
    assert any(b.startswith("scale (Scale): a custom layer") for b in blockers), blockers
    assert any("keras.ops operation" in b and "tanh" in b.lower() for b in blockers), blockers
    assert not any(b.startswith(("dense", "out")) for b in blockers)
    with pytest.raises(BridgeError, match=r"cannot be rebuilt in tf-keras; blocked by: .*scale \(Scale\).*"
                       r"post-training quantization still work"):
        to_tf_keras(model)


def test_subclassed_keras3_model_is_refused_with_reason(keras):
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Tiny()
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(BridgeError, match="a subclassed model; its call\\(\\) is Python code"):
        to_tf_keras(model)


def test_keras2_files_load_as_they_are(digits_model_path, tfk):
    result = load_as_tf_keras(digits_model_path)
    assert result.direction == "tf_keras" and isinstance(result.model, tfk.Model) and result.max_abs_error == 0.0


def test_tf_keras_depthwise_groups_field_goes_to_keras3(tfk, tmp_path):
    """tf-keras writes groups=1 on DepthwiseConv2D, which Keras 3 rejects; the reverse bridge drops the neutral value."""
    model = tfk.Sequential([tfk.Input((6, 6, 2), name="x"), tfk.layers.DepthwiseConv2D(3, name="dw"), tfk.layers.Flatten()])
    assert model.get_layer("dw").get_config()["groups"] == 1
    result = to_keras3(model, tmp_path / "dw.keras")
    assert result.rel_error <= 1e-5
    h5 = to_keras3(model, tmp_path / "dw.h5")  # Keras 3 writes .h5 too, where the user asked for it
    assert h5.rel_error <= 1e-5 and (tmp_path / "dw.h5").is_file()


def test_bridged_digits_keeps_its_accuracy(keras, digits_keras, digits_data):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("make_sample", Path(__file__).resolve().parents[1] / "samples/digits/make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model3 = module.build(keras)
    for layer in model3.layers:
        layer.set_weights(digits_keras.get_layer(layer.name).get_weights())
    result = to_tf_keras(model3)
    x, y = digits_data["x_val"], digits_data["y_val"]
    acc = {k: float(np.mean(np.argmax(np.asarray(m(x, training=False)), 1) == y)) for k, m in
           (("keras2", digits_keras), ("keras3", model3), ("bridged", result.model))}
    assert acc["keras2"] == acc["keras3"] == acc["bridged"] > 0.97
