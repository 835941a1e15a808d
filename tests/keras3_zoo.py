"""A zoo of tiny Keras 3 models, built in the test run (no fixture files), shared by the Keras 3 tests and the
benchmark. Each is small enough to convert in about a second."""

from __future__ import annotations

import numpy as np

BRIDGEABLE = ("seq_cnn", "func_residual", "multi_io_text", "preprocess")


def build_zoo(keras) -> dict:
    """name -> Keras 3 model, with seeded weights and non-trivial BatchNormalization statistics."""
    keras.utils.set_random_seed(0)
    layers = keras.layers
    zoo = {}

    zoo["seq_cnn"] = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            layers.Conv2D(8, 3, padding="same", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.ReLU(name="relu"),
            layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="seq_cnn",
    )

    x = keras.Input((8, 8, 3), name="rgb")
    h = layers.Conv2D(8, 3, padding="same", activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4),
                      kernel_constraint=keras.constraints.MaxNorm(3.0), name="stem")(x)
    d = layers.DepthwiseConv2D(3, padding="same", depthwise_initializer=keras.initializers.HeNormal(seed=1), name="dw")(h)
    d = layers.BatchNormalization(name="dw_bn")(d)
    h = layers.Add(name="residual")([h, d])
    s = layers.SeparableConv2D(8, 3, padding="same", name="sep")(h)
    h = layers.Concatenate(name="concat")([h, s])
    h = layers.AveragePooling2D(2, name="avgpool")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    zoo["func_residual"] = keras.Model(x, layers.Dense(4, name="logits")(h), name="func_residual")

    tokens = keras.Input((6,), name="tokens")
    feats = keras.Input((5,), name="feats")
    e = layers.Embedding(20, 4, name="embed")(tokens)
    r = layers.LSTM(6, name="lstm")(e)
    g = layers.GRU(5, name="gru")(e)
    n = layers.Normalization(mean=0.5, variance=2.0, name="norm")(feats)
    h = layers.Concatenate(name="concat")([r, g, n])
    h = layers.Dense(8, activation="tanh", name="hidden")(h)
    zoo["multi_io_text"] = keras.Model(
        [tokens, feats],
        [layers.Dense(3, activation="softmax", name="cls")(h), layers.Dense(1, name="score")(h)],
        name="multi_io_text",
    )

    pixels = keras.Input((6, 6, 3), name="pixels")
    h = layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(pixels)
    norm = layers.Normalization(axis=-1, name="channel_norm")
    norm.adapt(np.random.default_rng(0).normal(size=(32, 6, 6, 3)).astype(np.float32))
    h = norm(h)
    h = layers.Conv2D(4, 3, activation="relu", name="conv")(h)
    h = layers.Flatten(name="flatten")(h)
    zoo["preprocess"] = keras.Model(pixels, layers.Dense(2, name="out")(h), name="preprocess")

    for model in zoo.values():  # move BatchNormalization off its identity initialisation
        for layer in model.layers:
            if type(layer).__name__ == "BatchNormalization":
                rng = np.random.default_rng(1)
                layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if i != 1 else
                                   rng.normal(0, 0.1, w.shape).astype(np.float32) for i, w in enumerate(layer.get_weights())])
    return zoo


def blocked_model(keras):
    """A Keras 3 model the bridge cannot take: a custom layer and a raw keras.ops operation."""

    @keras.saving.register_keras_serializable(package="edgekit_tests")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(4, name="dense")(x)
    h = Scale(name="scale")(h)
    h = keras.ops.tanh(h)
    return keras.Model(x, keras.layers.Dense(2, name="out")(h), name="blocked")


def sample_inputs(model, count: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Seeded float32 inputs that exercise every model: token ids in range for the Embedding input."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = (count, *[int(d) for d in t.shape[1:]])
        if t.name == "tokens":
            arrays.append(rng.integers(0, 20, size=shape).astype(np.float32))
        elif t.name == "pixels":
            arrays.append(rng.uniform(0, 255, size=shape).astype(np.float32))
        else:
            arrays.append(rng.random(shape, dtype=np.float32))
    return arrays
