"""Build the committed test fixtures (< 100 KB together) that let the runtime and device_bench tests run in a venv
with only ``edgekit[runtime]`` (no TensorFlow), as on a Raspberry Pi.

A tiny digits CNN (``image`` float32[batch, 8, 8, 1] -> ``probs`` float32[batch, 10], trained on
samples/digits/data.npz) converted with TensorFlow's own converter and tf2onnx, plus two graphs with several
inputs/outputs/signatures, and the Keras outputs the converted files must reproduce:

  digits_fp32.tflite   float32, dynamic batch          digits_int8.tflite   full int8, int8 I/O
  digits_int16.tflite  16x8, int16 I/O                 digits_fixed1.tflite float32, batch fixed to 1
  digits.onnx          opset 17, dynamic batch         multi_io.tflite      inputs a, b; outputs zeta, alpha
  two_signatures.tflite  signatures "double" and "add"
  reference.npz        keras outputs: digits on x_val ("digits"), multi_io on seeded inputs ("multi_a",
                       "multi_b", "multi_zeta", "multi_alpha")

Run (needs edgekit[full]): PYTHONPATH=. python tests/data/make_fixtures.py
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SEED = 0


def tiny_digits(keras):
    layers = keras.layers
    inputs = keras.Input((8, 8, 1), name="image")
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = layers.MaxPooling2D(2, name="pool1")(h)
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool2")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(32, activation="relu", name="fc1")(h)
    outputs = layers.Dense(10, activation="softmax", name="probs")(h)
    return keras.Model(inputs, outputs, name="tiny_digits")


def main() -> None:
    from edgekit._tf import tf as get_tf, tf_keras

    tf, keras = get_tf(), tf_keras()
    tf.random.set_seed(SEED)
    keras.utils.set_random_seed(SEED)
    with np.load(ROOT / "samples/digits/data.npz") as d:
        x_train, y_train, x_val, y_val = d["x_train"], d["y_train"], d["x_val"], d["y_val"]
    model = tiny_digits(keras)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=60, batch_size=32, verbose=0, shuffle=True)
    _, acc = model.evaluate(x_val, y_val, verbose=0)

    def write(name, converter):
        (HERE / name).write_bytes(converter.convert())

    def rep():
        for i in range(100):
            yield [x_train[i:i + 1]]

    write("digits_fp32.tflite", tf.lite.TFLiteConverter.from_keras_model(model))
    for bits, ops, dtype in ((8, tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.int8),
                             (16, tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, tf.int16)):
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [ops]
        conv.inference_input_type = conv.inference_output_type = dtype
        write(f"digits_int{bits}.tflite", conv)
    fixed = tf.function(lambda image: {"probs": model(image)}).get_concrete_function(
        tf.TensorSpec([1, 8, 8, 1], tf.float32, name="image"))
    write("digits_fixed1.tflite", tf.lite.TFLiteConverter.from_concrete_functions([fixed], model))

    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    hidden = keras.layers.Concatenate()([a, b])
    multi = keras.Model([a, b], [keras.layers.Dense(2, name="zeta")(hidden), keras.layers.Dense(5, name="alpha")(hidden)])
    write("multi_io.tflite", tf.lite.TFLiteConverter.from_keras_model(multi))

    class TwoSignatures(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def double(self, x):
            return {"y": x * 2.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                      tf.TensorSpec([None, 3], tf.float32, name="w")])
        def add(self, x, w):
            return {"sum": x + w, "diff": x - w}

    module = TwoSignatures()
    write("two_signatures.tflite", tf.lite.TFLiteConverter.from_concrete_functions(
        [module.double.get_concrete_function(), module.add.get_concrete_function()], module))

    import tf2onnx

    tf2onnx.convert.from_keras(model, input_signature=[tf.TensorSpec((None, 8, 8, 1), tf.float32, name="image")],
                               opset=17, output_path=str(HERE / "digits.onnx"))
    rng = np.random.default_rng(SEED)
    ma, mb = rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    zeta, alpha = multi([ma, mb])
    np.savez_compressed(HERE / "reference.npz", digits=model.predict(x_val, verbose=0), multi_a=ma, multi_b=mb,
                        multi_zeta=np.asarray(zeta), multi_alpha=np.asarray(alpha))
    sizes = {p.name: p.stat().st_size for p in sorted(HERE.glob("*")) if p.suffix in (".tflite", ".onnx", ".npz")}
    print(f"held-out accuracy {acc:.4f}; params {model.count_params()}; {sum(sizes.values())} bytes: {sizes}")


if __name__ == "__main__":
    main()
