"""Keras models for the microcontroller target, built in code (no downloads): a DS-CNN keyword-spotting network in
the shape of the MLPerf Tiny reference (mlcommons/tiny, benchmark/training/keyword_spotting/keras_model.py: 49x10
MFCC input, a 10x4 stride-2 conv, four depthwise-separable blocks, average pooling, 12 classes) and a model with an
op TFLite Micro lacks. ``filters=64`` is the reference size; tests use fewer to stay fast. Also the independent
check of a reported arena (:func:`tflm_invokes`), shared by the tests and benchmarks/mcu.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np

KWS_INPUT = (49, 10, 1)
KWS_CLASSES = 12


def ds_cnn(filters: int = 64, seed: int = 0):
    from edgekit._tf import tf_keras

    k = tf_keras()
    k.utils.set_random_seed(seed)
    L = k.layers
    x = inputs = k.Input(KWS_INPUT, name="mfcc")
    x = L.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", name="conv1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    for i in range(1, 5):
        x = L.DepthwiseConv2D(3, padding="same", name=f"dw{i}")(x)
        x = L.BatchNormalization(name=f"dw{i}_bn")(x)
        x = L.ReLU(name=f"dw{i}_relu")(x)
        x = L.Conv2D(filters, 1, padding="same", name=f"pw{i}")(x)
        x = L.BatchNormalization(name=f"pw{i}_bn")(x)
        x = L.ReLU(name=f"pw{i}_relu")(x)
    x = L.AveragePooling2D(pool_size=(25, 5), name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    outputs = L.Dense(KWS_CLASSES, activation="softmax", name="classes")(x)
    return k.Model(inputs, outputs, name="ds_cnn")


def kws_data(count: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthetic MFCC-like inputs (a class-dependent pattern plus noise) and their labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, KWS_CLASSES, size=count)
    pattern = rng.normal(size=(KWS_CLASSES, *KWS_INPUT)).astype(np.float32)
    x = pattern[y] + 0.5 * rng.normal(size=(count, *KWS_INPUT)).astype(np.float32)
    return {"x": x.astype(np.float32), "y": y.astype(np.int64)}


def gelu_model():
    """A small dense model whose GELU activation has no TFLite Micro kernel."""
    from edgekit._tf import tf_keras

    k = tf_keras()
    k.utils.set_random_seed(0)
    return k.Sequential([k.Input((16,), name="features"), k.layers.Dense(8, activation="gelu", name="dense_gelu"),
                         k.layers.Dense(4, name="scores")], name="gelu_net")


def tflm_invokes(path: Path, arena: int) -> bool:
    """Allocate and invoke once in TFLite Micro (directly, not through edgekit) with exactly ``arena`` bytes."""
    from tflite_micro.python.tflite_micro import runtime

    try:
        interpreter = runtime.Interpreter.from_file(str(path), arena_size=arena)
        d = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(d["shape"], d["dtype"]), 0)
        interpreter.invoke()
        return True
    except RuntimeError:
        return False
