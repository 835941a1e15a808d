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


# ---- runtime and device_bench: committed fixtures (tests/data, made by tests/data/make_fixtures.py) ------------
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def runtime_models():
    """Small converted models committed in tests/data (no TensorFlow needed): a tiny digits CNN (``image`` ->
    ``probs``) as fp32 (dynamic batch), int8 and int16 (quantized I/O), fixed batch 1 and ONNX; a multi-input/
    multi-output graph; a two-signature graph; and ``reference``, the Keras outputs they must reproduce."""
    from types import SimpleNamespace

    with np.load(DATA / "reference.npz", allow_pickle=False) as ref:
        reference = {k: ref[k] for k in ref.files}
    names = {"fp32": "digits_fp32.tflite", "int8": "digits_int8.tflite", "int16": "digits_int16.tflite",
             "fixed1": "digits_fixed1.tflite", "onnx": "digits.onnx", "multi": "multi_io.tflite",
             "signatures": "two_signatures.tflite"}
    return SimpleNamespace(reference=reference, **{k: DATA / v for k, v in names.items()})


@pytest.fixture(scope="session")
def digits_models(tmp_path_factory, digits_keras, digits_data):
    """The digits sample itself converted with TensorFlow's converters (not edgekit.convert): fp32, int8 (int8
    I/O), dynamic range and ONNX, for the hand-counted graph statistics of a model with BatchNormalization."""
    from types import SimpleNamespace

    from edgekit._tf import tf as get_tf

    tf = get_tf()
    out = tmp_path_factory.mktemp("digits_models")
    rep_x = digits_data["x_train"][:100]

    def rep():
        for i in range(len(rep_x)):
            yield [rep_x[i:i + 1]]

    def write(name, int8=False, dynamic=False):
        conv = tf.lite.TFLiteConverter.from_keras_model(digits_keras)
        if int8 or dynamic:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if int8:
            conv.representative_dataset = rep
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = tf.int8
        (out / name).write_bytes(conv.convert())
        return out / name

    import tf2onnx

    onnx = out / "digits.onnx"
    tf2onnx.convert.from_keras(digits_keras, input_signature=[tf.TensorSpec((None, 8, 8, 1), tf.float32, name="image")],
                               opset=17, output_path=str(onnx))
    return SimpleNamespace(fp32=write("digits_fp32.tflite"), int8=write("digits_int8.tflite", int8=True),
                           dynamic=write("digits_dynamic.tflite", dynamic=True), onnx=onnx)


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


# ---- third-party model patterns (issue 12): twins built in the test run, never fixture files ---------------
def build_tiny_cnn(keras, name: str = "tiny_cnn"):
    """The MLPerf-Tiny-style Sequential of issue 12: Conv2D (no bias) → BatchNorm → ReLU → DepthwiseConv2D →
    Conv2D 1×1 → MaxPool → Flatten → Dense → Dense logits (no softmax), sized for the 8×8 digits."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1), name="image"),
        layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(name="relu"),
        layers.DepthwiseConv2D(3, padding="same", name="dw"),
        layers.Conv2D(16, 1, name="pw"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(64, activation="relu", name="fc"),
        layers.Dense(10, name="logits"),
    ], name=name)


@pytest.fixture(scope="session")
def keras_twins(tmp_path_factory, digits_data):
    """The tiny CNN trained once in tf-keras on the digits (logits + from_logits loss, as Keras users write it),
    and its Keras 3 twin with the same weights and compile settings: {"keras2": .h5 path, "keras3": .keras path,
    "accuracy": held-out top-1 of both}."""
    from edgekit._tf import keras3, tf_keras

    k2, k3 = tf_keras(), keras3()
    out = tmp_path_factory.mktemp("twins")
    k2.utils.set_random_seed(0)
    model2 = build_tiny_cnn(k2)
    model2.compile(optimizer=k2.optimizers.Adam(1e-3), loss=k2.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    model2.fit(digits_data["x_train"], digits_data["y_train"], epochs=6, batch_size=32, verbose=0)
    model3 = build_tiny_cnn(k3)
    for layer in model3.layers:
        layer.set_weights(model2.get_layer(layer.name).get_weights())
    model3.compile(optimizer=k3.optimizers.Adam(1e-3), loss=k3.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    x, y = digits_data["x_val"], digits_data["y_val"]
    accuracy = {tag: float(np.mean(np.argmax(np.asarray(m(x, training=False)), 1) == y)) for tag, m in
                (("keras2", model2), ("keras3", model3))}
    assert accuracy["keras2"] == accuracy["keras3"]
    model2.save(out / "tiny.h5")
    model3.save(out / "tiny.keras")
    return {"keras2": out / "tiny.h5", "keras3": out / "tiny.keras", "accuracy": accuracy["keras2"]}


@pytest.fixture(scope="session")
def raw_pixel_models(digits_keras):
    """The digits sample as two models fed raw 0–255 pixels, with the same answers as the sample on x * 255:
    "raw" folds 1/255 into the first convolution (nothing in the model tells its input range, as in MLPerf-Tiny's
    ResNet-8), "rescaling" starts with a Rescaling(1/255) layer (the model says its range)."""
    from edgekit._tf import tf_keras

    keras = tf_keras()
    raw = keras.models.clone_model(digits_keras)
    raw.set_weights(digits_keras.get_weights())
    kernel, bias = raw.get_layer("conv1").get_weights()
    raw.get_layer("conv1").set_weights([kernel / 255.0, bias])
    rescaling = keras.Sequential([keras.Input((8, 8, 1), name="image"), keras.layers.Rescaling(1 / 255.0, name="rescale"),
                                  digits_keras], name="digits_rescaling")
    return {"raw": raw, "rescaling": rescaling}


@pytest.fixture(scope="session")
def ten_input_model():
    """The 10-input Conv1D+LSTM functional model of issue 12 (inputs (1, 33), (8,), (4,) and seven (3,), named
    input_1 … input_10 so that sorting by name — input_1, input_10, input_2 … — is not the Keras order; two
    regression outputs named so that sorting reverses them), with seeded inputs by name."""
    from edgekit._tf import tf_keras

    keras = tf_keras()
    keras.utils.set_random_seed(0)
    layers = keras.layers
    shapes = [(1, 33), (8,), (4,)] + [(3,)] * 7
    inputs = [keras.Input(s, name=f"input_{i + 1}") for i, s in enumerate(shapes)]
    h = layers.LSTM(6, name="lstm")(layers.Conv1D(8, 1, activation="relu", name="conv")(inputs[0]))
    h = layers.Concatenate(name="concat")([h] + [layers.Dense(4, name=f"dense_{i}")(x) for i, x in enumerate(inputs[1:])])
    h = layers.Dense(16, activation="relu", name="hidden")(h)
    model = keras.Model(inputs, [layers.Dense(1, name="z_level")(h), layers.Dense(2, name="a_rate")(h)], name="ten_inputs")
    rng = np.random.default_rng(0)
    data = {f"input_{i + 1}": rng.normal(size=(48, *s)).astype(np.float32) for i, s in enumerate(shapes)}
    return model, data


def keras24_savedmodel(model, path):
    """``model`` (tf-keras) saved as Keras 2.4 did: a SavedModel whose Keras metadata sits inside saved_model.pb
    (Keras 2.5+ writes it to keras_metadata.pb). Made from a current save by moving the metadata across."""
    from tf_keras.protobuf import saved_metadata_pb2

    from edgekit._tf import tf

    tf()
    from tensorflow.core.protobuf import saved_model_pb2

    model.save(str(path), save_format="tf")
    metadata = saved_metadata_pb2.SavedMetadata()
    metadata.ParseFromString((path / "keras_metadata.pb").read_bytes())
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].object_graph_def
    for node in metadata.nodes:
        graph.nodes[node.node_id].user_object.metadata = node.metadata
    (path / "saved_model.pb").write_bytes(saved.SerializeToString())
    (path / "keras_metadata.pb").unlink()
    return path
