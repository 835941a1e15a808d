"""Build the bundled sample deterministically: a small Keras 2 CNN trained on scikit-learn's digits (no download).

Writes, next to this file:
  model.h5   tf-keras model: Conv2D, BatchNormalization (one directly after a Conv, one after an activation —
             the pattern tfmot's quantize_model rejects), pooling, Dense; compiled, so its settings are reusable
  data.npz   x_train/y_train (fine-tuning) and x_val/y_val (held-out evaluation), float32 images in [0, 1]

Run: python samples/digits/make_sample.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SEED = 0


def split():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    n_val = 360
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


def build(keras):
    layers = keras.layers
    inputs = keras.Input((8, 8, 1), name="image")
    h = layers.Conv2D(32, 3, padding="same", name="conv1")(inputs)
    h = layers.BatchNormalization(name="bn1")(h)
    h = layers.ReLU(name="relu1")(h)
    h = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.BatchNormalization(name="bn2")(h)  # after an activation: tfmot QAT rejects this one
    h = layers.MaxPooling2D(2, name="pool")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(128, activation="relu", name="fc1")(h)
    h = layers.Dropout(0.2, name="dropout")(h)
    outputs = layers.Dense(10, activation="softmax", name="probs")(h)
    return keras.Model(inputs, outputs, name="digits_cnn")


def main() -> None:
    from edgekit._tf import tf, tf_keras

    tf().random.set_seed(SEED)
    keras = tf_keras()
    keras.utils.set_random_seed(SEED)
    x_train, y_train, x_val, y_val = split()
    model = build(keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0, shuffle=True)
    loss, acc = model.evaluate(x_val, y_val, verbose=0)
    model.save(HERE / "model.h5")
    np.savez_compressed(HERE / "data.npz", x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
    print(f"held-out accuracy {acc:.4f} on {len(x_val)} images; params {model.count_params()}")


if __name__ == "__main__":
    main()
