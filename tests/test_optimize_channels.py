"""Channel pruning: the rebuilt model is smaller and, before any fine-tuning, computes exactly what the original
computes on the kept channels (a reference that runs the original layer by layer and zeroes removed channels)."""

import numpy as np
import pytest

from edgekit._tf import tf_keras
from edgekit.optimize import OptimizeError, prune_channels


@pytest.fixture(scope="module")
def keras():
    return tf_keras()


def _randomize(model, seed=0):
    """Non-trivial BatchNormalization statistics and biases, so a wrong slice cannot hide."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
        out = []
        for name, v in zip(names, values):
            if name in ("moving_variance", "gamma"):
                v = rng.uniform(0.5, 1.5, v.shape)
            elif name in ("moving_mean", "beta", "bias"):
                v = rng.normal(0, 0.2, v.shape)
            out.append(v.astype(np.float32))
        layer.set_weights(out)
    return model


def plain_cnn(keras):
    layers = keras.layers
    inputs = keras.Input((8, 8, 1), name="image")
    h = layers.Conv2D(32, 3, padding="same", name="conv1")(inputs)
    h = layers.BatchNormalization(name="bn1")(h)
    h = layers.ReLU(name="relu1")(h)
    h = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(128, activation="relu", name="fc1")(h)
    outputs = layers.Dense(10, activation="softmax", name="probs")(h)
    return _randomize(keras.Model(inputs, outputs, name="plain_cnn"))


def residual(keras):
    """Two residual blocks: identity shortcut (Add after two branches with BatchNorm), then a projection shortcut."""
    layers = keras.layers
    inputs = keras.Input((12, 12, 3), name="image")
    stem = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(layers.Conv2D(16, 3, padding="same", name="stem")(inputs)))
    a = layers.ReLU(name="a1_relu")(layers.BatchNormalization(name="a1_bn")(layers.Conv2D(12, 3, padding="same", name="a1")(stem)))
    a = layers.BatchNormalization(name="a2_bn")(layers.Conv2D(16, 3, padding="same", name="a2")(a))
    h = layers.ReLU(name="add1_relu")(layers.Add(name="add1")([stem, a]))
    b = layers.Conv2D(24, 3, strides=2, padding="same", activation="relu", name="b1")(h)
    b = layers.BatchNormalization(name="b2_bn")(layers.Conv2D(32, 3, padding="same", name="b2")(b))
    proj = layers.BatchNormalization(name="proj_bn")(layers.Conv2D(32, 1, strides=2, name="proj")(h))
    h = layers.Add(name="add2")([b, proj])
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = layers.Dense(5, name="logits")(h)
    return _randomize(keras.Model(inputs, outputs, name="residual"))


def mobilenet_style(keras):
    """Inverted residuals with DepthwiseConv2D (one with depth multiplier 2), a SeparableConv2D and a Concatenate."""
    layers = keras.layers
    inputs = keras.Input((16, 16, 3), name="image")
    h = layers.ReLU(6.0, name="c0_relu")(layers.BatchNormalization(name="c0_bn")(layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="c0")(inputs)))
    x = layers.ReLU(6.0, name="e1_relu")(layers.BatchNormalization(name="e1_bn")(layers.Conv2D(48, 1, use_bias=False, name="e1")(h)))
    x = layers.ReLU(6.0, name="d1_relu")(layers.BatchNormalization(name="d1_bn")(layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="d1")(x)))
    x = layers.BatchNormalization(name="p1_bn")(layers.Conv2D(16, 1, use_bias=False, name="p1")(x))
    h = layers.Add(name="res1")([h, x])
    d = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="d2")(h)
    s = layers.SeparableConv2D(24, 3, padding="same", activation="relu", name="sep")(h)
    h = layers.Concatenate(name="cat")([d, s])
    h = layers.Conv2D(40, 1, activation="relu", name="head")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = layers.Dense(7, activation="softmax", name="probs")(h)
    return _randomize(keras.Model(inputs, outputs, name="mobilenet_style"))


def masked_reference(model, pruning, x):
    """Run the ORIGINAL model layer by layer, zeroing after every layer the channels pruning removed from its
    output; returns each layer's output. On kept channels this is what the pruned model must compute."""
    config = model.get_config()
    values = {}
    for entry in config["layers"]:
        name = entry["name"]
        layer = model.get_layer(name)
        if entry["class_name"] == "InputLayer":
            out = x[model.input_names.index(name)] if isinstance(x, list) else x
        else:
            args = [values[item[0]] for item in entry["inbound_nodes"][0]]
            out = layer(args if len(args) > 1 else args[0]).numpy()
        mask = np.zeros(out.shape[-1], dtype=np.float32)
        mask[pruning.kept[name]] = 1.0
        values[name] = out * mask
    return values


def assert_matches_reference(keras, model, pruning, x):
    reference = masked_reference(model, pruning, x)
    names = [l.name for l in pruning.model.layers if not isinstance(l, keras.layers.InputLayer)]
    probe = keras.Model(pruning.model.inputs, [pruning.model.get_layer(n).output for n in names])
    outputs = probe.predict(x, verbose=0)
    for name, got in zip(names, outputs):
        want = reference[name][..., pruning.kept[name]]
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(pruning.model.predict(x, verbose=0), reference[model.output_names[0]], rtol=1e-4, atol=1e-5)


def test_plain_cnn_half_channels_cuts_macs(keras):
    model = plain_cnn(keras)
    before = [w.copy() for w in model.get_weights()]
    pruning = prune_channels(model, 0.5)
    assert pruning.mac_ratio >= 2.5
    assert pruning.macs_before == 8 * 8 * 9 * 1 * 32 + 8 * 8 * 9 * 32 * 64 + 1024 * 128 + 128 * 10
    assert pruning.macs_after == 8 * 8 * 9 * 1 * 16 + 8 * 8 * 9 * 16 * 32 + 512 * 64 + 64 * 10
    assert pruning.model.count_params() == pruning.params_after < pruning.params_before / 3
    assert {g.layers[0]: g.kept for g in pruning.groups} == {"conv1": 16, "conv2": 32, "fc1": 64, "probs": 10}
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the caller's model is unchanged
    x = np.random.default_rng(1).random((6, 8, 8, 1), dtype=np.float32)
    assert_matches_reference(keras, model, pruning, x)


def test_keras_mac_count_agrees_with_the_tflite_counter(keras, tmp_path):
    from edgekit.convert import to_tflite
    from edgekit.device_bench import model_stats

    model = plain_cnn(keras)
    pruning = prune_channels(model, 0.5)
    for m, macs in ((model, pruning.macs_before), (pruning.model, pruning.macs_after)):
        artifact = to_tflite(m, tmp_path / f"{m.name}-{macs}.tflite", quantize="none")
        assert model_stats(artifact.path).macs == macs


def test_residual_group_is_pruned_jointly_and_matches_reference(keras):
    model = residual(keras)
    pruning = prune_channels(model, 0.5)
    groups = {g.layers: g for g in pruning.groups}
    assert groups[("stem", "a2")].kept == 8 and groups[("stem", "a2")].channels == 16
    assert groups[("b2", "proj")].kept == 16
    assert groups[("a1",)].kept == 6 and groups[("b1",)].kept == 12
    assert np.array_equal(pruning.kept["stem"], pruning.kept["a2"])  # one set of channels across the Add
    assert pruning.model.get_layer("add1").output_shape[-1] == 8
    assert pruning.mac_ratio > 3
    x = np.random.default_rng(2).random((4, 12, 12, 3), dtype=np.float32)
    assert_matches_reference(keras, model, pruning, x)


def test_depthwise_separable_concatenate_model_matches_reference(keras):
    model = mobilenet_style(keras)
    pruning = prune_channels(model, 0.5, criterion="l1-bn")
    groups = {g.layers: g for g in pruning.groups}
    assert groups[("c0", "p1")].kept == 8 and groups[("e1",)].kept == 24
    assert pruning.model.get_layer("d2").output_shape[-1] == 16  # 8 kept channels × depth multiplier 2
    assert pruning.model.get_layer("cat").output_shape[-1] == 16 + 12
    assert pruning.model.get_layer("d1").get_weights()[0].shape == (3, 3, 24, 1)
    assert pruning.unhandled == {}
    x = np.random.default_rng(3).random((4, 16, 16, 3), dtype=np.float32)
    assert_matches_reference(keras, model, pruning, x)


def test_squeeze_excitation_transpose_and_1d_layers_match_reference(keras):
    """A squeeze-and-excitation block (GAP → Dense → Dense(sigmoid) → Reshape(1, 1, C) → Multiply) couples the
    excitation Dense to the feature map it scales; PReLU, UpSampling2D, Conv2DTranspose; and a Conv1D branch."""
    layers = keras.layers
    image = keras.Input((8, 8, 3), name="image")
    x = layers.PReLU(shared_axes=[1, 2], name="prelu")(layers.Conv2D(16, 3, padding="same", name="c1")(image))
    s = layers.GlobalAveragePooling2D(name="squeeze")(x)
    s = layers.Dense(8, activation="relu", name="se_reduce")(s)
    s = layers.Dense(16, activation="sigmoid", name="se_expand")(s)
    x = layers.Multiply(name="excite")([x, layers.Reshape((1, 1, 16), name="se_shape")(s)])
    x = layers.UpSampling2D(name="up")(x)
    x = layers.Conv2DTranspose(12, 3, strides=2, padding="same", name="deconv")(x)
    a = layers.GlobalMaxPooling2D(name="gmp")(x)
    seq = keras.Input((10, 4), name="sequence")
    t = layers.Conv1D(10, 3, activation="relu", name="t1")(seq)
    t = layers.Conv1D(6, 3, name="t2")(t)
    t = layers.GlobalAveragePooling1D(name="gap1d")(t)
    out = layers.Dense(3, name="out")(layers.Concatenate(name="cat")([a, t]))
    model = _randomize(keras.Model([image, seq], out))
    pruning = prune_channels(model, 0.5)
    groups = {g.layers: g.kept for g in pruning.groups}
    assert groups[("c1", "se_expand")] == 8 and groups[("deconv",)] == 6 and groups[("t1",)] == 5
    assert pruning.unhandled == {}
    rng = np.random.default_rng(6)
    x_in = [rng.random((3, 8, 8, 3), dtype=np.float32), rng.random((3, 10, 4), dtype=np.float32)]
    reference = masked_reference(model, pruning, x_in)
    np.testing.assert_allclose(pruning.model.predict(x_in, verbose=0), reference["out"], rtol=1e-4, atol=1e-5)


def test_unhandled_layer_is_left_whole_and_named(keras):
    layers = keras.layers
    inputs = keras.Input((8, 8, 2))
    a = layers.Conv2D(8, 3, padding="same", name="a")(inputs)
    t = layers.Lambda(lambda v: v * 2.0, name="double")(a)
    b = layers.Conv2D(8, 3, padding="same", activation="relu", name="b")(t)
    c = layers.Conv2D(8, 3, padding="same", name="c")(b)
    out = layers.Dense(3, name="out")(layers.Flatten()(c))
    model = keras.Model(inputs, out)
    pruning = prune_channels(model, 0.5)
    assert set(pruning.unhandled) == {"double"} and "Lambda" in pruning.unhandled["double"]
    groups = {g.layers[0]: g for g in pruning.groups}
    assert groups["a"].kept == 8 and "double" in groups["a"].note
    assert groups["b"].kept == 4 and groups["c"].kept == 4
    assert any("double" in note for note in pruning.notes())
    x = np.random.default_rng(4).random((3, 8, 8, 2), dtype=np.float32)
    assert_matches_reference(keras, model, pruning, x)


def test_tensorflow_ops_element_by_element_are_followed_and_others_kept_whole(keras):
    """``a * b`` and ``relu6(x + 3) / 6`` on Keras tensors are TFOpLambda layers (``b`` and the scalars as keyword
    arguments): element-wise ops are followed (``a * b`` couples a and b); an op with a per-channel array
    constant keeps its input whole and is named; a preprocessing layer on the model input keeps nothing that could
    be pruned and is not reported."""
    tf = __import__("edgekit._tf", fromlist=["tf"]).tf()
    layers = keras.layers
    inputs = keras.Input((6, 6, 3))
    x = layers.Rescaling(1 / 255.0, name="scale")(inputs)
    a = layers.Conv2D(8, 1, name="a")(x)
    b = layers.Conv2D(8, 1, name="b")(x)
    hard = a * (tf.nn.relu6(b + 3.0) * (1 / 6))
    d = layers.Conv2D(4, 1, name="d")(x) - tf.constant([1.0, 2.0, 3.0, 4.0])
    h = layers.Conv2D(8, 1, name="c")(layers.Concatenate(name="cat")([hard, d]))
    model = keras.Model(inputs, layers.Dense(2, name="out")(layers.GlobalAveragePooling2D()(h)))
    pruning = prune_channels(model, 0.5)
    assert list(pruning.unhandled) == ["tf.math.subtract"] and "array constant" in pruning.unhandled["tf.math.subtract"]
    kept = {frozenset(g.layers): g.kept for g in pruning.groups}
    assert kept == {frozenset("ab"): 4, frozenset("d"): 4, frozenset("c"): 4, frozenset(["out"]): 2}
    reference = keras.models.clone_model(model)  # the original, its consumers reading no removed channel
    reference.set_weights(model.get_weights())
    for consumer, producer, axis in (("c", "cat", 2), ("out", "c", 0)):
        kernel, bias = reference.get_layer(consumer).get_weights()
        removed = np.setdiff1d(np.arange(kernel.shape[axis]), pruning.kept[producer])
        np.moveaxis(kernel, axis, 0)[removed] = 0.0
        reference.get_layer(consumer).set_weights([kernel, bias])
    x = np.random.default_rng(5).random((3, 6, 6, 3), dtype=np.float32) * 255
    np.testing.assert_allclose(pruning.model.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_shared_layer_is_left_whole_and_counted_per_call(keras):
    layers = keras.layers
    left, right = keras.Input((6, 6, 2)), keras.Input((6, 6, 2))
    stem = layers.Conv2D(8, 3, padding="same", name="stem")
    shared = layers.Conv2D(6, 1, name="shared")
    a, b = shared(stem(left)), shared(stem(right))
    out = layers.Dense(2, name="out")(layers.GlobalAveragePooling2D()(layers.Add()([a, b])))
    model = keras.Model([left, right], out)
    pruning = prune_channels(model, 0.5)
    assert pruning.unhandled == {"stem": "a shared layer (called more than once)", "shared": "a shared layer (called more than once)"}
    assert pruning.macs_before == 2 * (36 * 9 * 2 * 8) + 2 * (36 * 8 * 6) + 6 * 2
    assert pruning.macs_after == pruning.macs_before  # nothing here may shrink: every channel passes a shared layer


def test_sequential_min_channels_round_to_and_per_layer_ratio(keras):
    layers = keras.layers
    model = keras.Sequential([keras.Input((10, 10, 3)), layers.Conv2D(20, 3, name="c1"), layers.Conv2D(30, 3, name="c2"),
                              layers.GlobalMaxPooling2D(), layers.Dense(4, name="out")])
    pruning = prune_channels(model, 0.7, ratios={"c2": 0.1}, round_to=8, min_channels=9)
    kept = {g.layers[0]: g.kept for g in pruning.groups}
    assert kept == {"c1": 16, "c2": 30, "out": 4}  # max(9, 20 × 0.3) rounded up to 8; 27 rounded up, capped at 30
    assert isinstance(pruning.model, keras.Sequential)
    pruning = prune_channels(model, 0.5, exclude=("c1",))
    assert {g.layers[0]: g.kept for g in pruning.groups}["c1"] == 20


def test_global_allocation_meets_the_mac_budget(keras):
    model = plain_cnn(keras)
    full = prune_channels(model, 0.0).macs_before
    pruning = prune_channels(model, ratio=None, max_macs=full // 3)
    assert pruning.macs_after <= full // 3
    assert pruning.macs_after > full // 3 * 0.8  # it removes no more than it must
    with pytest.raises(OptimizeError, match="max_macs 10 is below the smallest model"):
        prune_channels(model, ratio=None, max_macs=10)


def test_bad_arguments_say_what_is_allowed(keras):
    model = plain_cnn(keras)
    with pytest.raises(OptimizeError, match="unknown channel importance criterion 'l3'; choose one of l1, l2, l1-bn"):
        prune_channels(model, 0.5, criterion="l3")
    with pytest.raises(OptimizeError, match="include 'nope' matches no layer"):
        prune_channels(model, 0.5, include=("nope",))
    with pytest.raises(OptimizeError, match="one of the two"):
        prune_channels(model, 0.5, max_macs=1000)


def test_latency_target_search_ends(keras):
    """The measured search (timings themselves are benchmarked, not tested): a target the original already meets
    prunes nothing; a target no allowed model can meet is refused with what was measured."""
    from edgekit.optimize.channel_latency import prune_to_latency

    model = plain_cnn(keras)
    pruning, search = prune_to_latency(model, 1e6)
    assert pruning.macs_after == pruning.macs_before and len(search.measured) == 1
    assert search.note().startswith("latency target 1e+06 ms (float32 .tflite, 1 thread(s), measured on this machine): 1,330,432 MACs:")
    with pytest.raises(OptimizeError, match=r"latency target 1e-09 ms is out of reach: the smallest model channel pruning allows here \(\d[\d,]* MACs\) measures"):
        prune_to_latency(model, 1e-9, min_channels=2)
