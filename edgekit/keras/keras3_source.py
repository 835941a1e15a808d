"""A conversion source for Keras 3 models, converted without the Keras 3 → tf-keras bridge.

It implements the :class:`~edgekit.keras.source.Source` protocol, so every converter (TFLite in every quantization
mode, ONNX, Edge TPU) works on it: a model the bridge cannot rebuild still converts, quantizes (post-training) and
benchmarks.

The TFLite converter freezes the variables a concrete function captures through the ``trackable`` object it is given.
Handing it a Keras 3 model gives wrong (NaN) outputs with TensorFlow 2.21, because Keras 3 wraps its ``tf.Variable``s
in its own variable class; :class:`Keras3Source` therefore exposes a plain ``tf.Module`` holding the raw variables as
``trackable``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from edgekit.keras.recurrent import recurrent_layers, static_batch_for_recurrent
from edgekit.errors import ModelLoadError


class Keras3Source:
    """A Keras 3 model (``keras`` 3 on the TensorFlow backend), converted through a ``tf.function`` that calls it."""

    def __init__(self, model: Any, name: str | None = None):
        from edgekit._tf import tf

        tf_ = tf()
        if not getattr(model, "inputs", None):
            model = as_functional(model)
        self.keras_model = model
        self.name = name or model.name
        self.input_specs = [(t.name, tuple(None if d is None else int(d) for d in t.shape)) for t in model.inputs]
        self._input_dtypes = [str(t.dtype) for t in model.inputs]
        self.output_names = _output_names(model)
        self.params = int(model.count_params())
        self.trackable = tf_.Module()
        self.trackable.keras_variables = [v.value for v in model.variables]
        self.recurrent = recurrent_layers(model)
        self.tflite_batch, self.tflite_batch_note = static_batch_for_recurrent(self.recurrent)

    def _call(self, inputs: Sequence[Any]):
        out = self.keras_model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        if isinstance(out, dict):
            return [out[n] for n in self.output_names]
        if isinstance(out, (list, tuple)):
            return list(out)
        return [out]

    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        from edgekit._tf import tf

        tf_ = tf()
        cast = [tf_.cast(tf_.constant(x), d) for x, d in zip(inputs, self._input_dtypes)]
        return [np.asarray(o) for o in self._call(cast)]

    def tf_function(self, batch: int | None = None):
        from edgekit._tf import tf

        tf_ = tf()
        signature = [tf_.TensorSpec((batch, *shape[1:]), tf_.float32, name=name) for name, shape in self.input_specs]
        dtypes = self._input_dtypes
        names = self.output_names
        call = self._call

        @tf_.function(input_signature=signature)
        def serve(*inputs):
            outs = call([tf_.cast(x, d) for x, d in zip(inputs, dtypes)])
            return {n: o for n, o in zip(names, outs)}

        return serve


def as_functional(model: Any) -> Any:
    """A built subclassed Keras 3 model wrapped in a Functional model on the input shape it was built with (its
    ``build_config``), so that it has the inputs conversion needs; the caller's model is shared, not changed."""
    from edgekit._tf import keras3

    keras = keras3()
    shape = (model.get_build_config() or {}).get("input_shape") if getattr(model, "built", False) else None
    if not shape or not isinstance(shape, (list, tuple)) or not all(isinstance(d, (int, type(None))) for d in shape):
        raise ModelLoadError(
            f"{model.name} ({type(model).__name__}) has no defined inputs: a subclassed model that was never built, "
            "or built on several inputs; call it once on data (or model.build(shape)), or wrap it in a Functional model"
        )
    inputs = keras.Input(batch_shape=(None, *shape[1:]), name="input")
    outputs = model(inputs)
    return keras.Model(inputs, outputs, name=model.name)


def _output_names(model: Any) -> list[str]:
    """The names of the layers producing the outputs (Keras 3 ``Sequential`` has no ``output_names``)."""
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    return [t._keras_history.operation.name for t in model.outputs]
