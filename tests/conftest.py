"""Shared fixtures. The digits sample (samples/digits) is the model and data every area tests on."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS_MODEL = ROOT / "samples" / "digits" / "model.h5"
DIGITS_DATA = ROOT / "samples" / "digits" / "data.npz"


@pytest.fixture(scope="session")
def digits_model_path() -> Path:
    return DIGITS_MODEL


@pytest.fixture(scope="session")
def digits_data_path() -> Path:
    return DIGITS_DATA


@pytest.fixture(scope="session")
def digits_data() -> dict:
    with np.load(DIGITS_DATA, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def digits_keras(digits_model_path):
    """The sample as a tf-keras model (loaded once; tests must not mutate it)."""
    from edgekit.keras.loading import load_keras_model

    return load_keras_model(digits_model_path)


# ---- runtime (issue 3): .tflite / .onnx fixtures converted once per session from the digits sample ----------
@pytest.fixture(scope="session")
def runtime_models(tmp_path_factory, digits_keras, digits_data):
    """Paths of small converted models: fp32 (dynamic batch), int8 and int16 (quantized I/O), fixed batch 1,
    multi-input/multi-output, multi-signature, and ONNX. Converted with TensorFlow directly (not edgekit.convert),
    so the runtime tests depend only on TensorFlow's own converter."""
    from types import SimpleNamespace

    from edgekit._tf import tf as get_tf, tf_keras

    tf, keras = get_tf(), tf_keras()
    out = tmp_path_factory.mktemp("runtime_models")
    rep_x = digits_data["x_train"][:100]

    def rep():
        for i in range(len(rep_x)):
            yield [rep_x[i:i + 1]]

    def write(name, converter):
        path = out / name
        path.write_bytes(converter.convert())
        return path

    paths = {}
    paths["fp32"] = write("digits_fp32.tflite", tf.lite.TFLiteConverter.from_keras_model(digits_keras))
    for bits, ops, dtype in ((8, tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.int8),
                             (16, tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                              tf.int16)):
        conv = tf.lite.TFLiteConverter.from_keras_model(digits_keras)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [ops]
        conv.inference_input_type = conv.inference_output_type = dtype
        paths[f"int{bits}"] = write(f"digits_int{bits}.tflite", conv)

    fixed = tf.function(lambda image: {"probs": digits_keras(image)}).get_concrete_function(
        tf.TensorSpec([1, 8, 8, 1], tf.float32, name="image"))
    paths["fixed1"] = write("digits_fixed1.tflite",
                            tf.lite.TFLiteConverter.from_concrete_functions([fixed], digits_keras))

    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    hidden = keras.layers.Concatenate()([a, b])
    multi = keras.Model([a, b], [keras.layers.Dense(2, name="zeta")(hidden),
                                 keras.layers.Dense(5, name="alpha")(hidden)])
    paths["multi"] = write("multi_io.tflite", tf.lite.TFLiteConverter.from_keras_model(multi))

    class TwoSignatures(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def double(self, x):
            return {"y": x * 2.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                      tf.TensorSpec([None, 3], tf.float32, name="w")])
        def add(self, x, w):
            return {"sum": x + w, "diff": x - w}

    module = TwoSignatures()
    paths["signatures"] = write("two_signatures.tflite", tf.lite.TFLiteConverter.from_concrete_functions(
        [module.double.get_concrete_function(), module.add.get_concrete_function()], module))

    import tf2onnx

    paths["onnx"] = out / "digits.onnx"
    tf2onnx.convert.from_keras(digits_keras, input_signature=[tf.TensorSpec((None, 8, 8, 1), tf.float32,
                                                                            name="image")],
                               opset=17, output_path=str(paths["onnx"]))
    return SimpleNamespace(keras=digits_keras, multi_keras=multi, **paths)


@pytest.fixture(autouse=True)
def _reset_edgekit_verbosity():
    """`edgekit -v` sets the edgekit logger's level; keep one test's verbosity from leaking into the next."""
    import logging

    logger = logging.getLogger("edgekit")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module")
def keras():
    """Keras 3 (``keras``), beside the tf-keras the rest of edgekit uses."""
    from edgekit._tf import keras3

    return keras3()


@pytest.fixture(scope="module")
def zoo(keras):
    """The Keras 3 model zoo of tests/keras3_zoo.py, built fresh for each test module."""
    from keras3_zoo import build_zoo

    return build_zoo(keras)
