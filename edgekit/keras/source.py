"""What a conversion starts from: a model that can be run (for parity) and handed to the converters.

:class:`KerasSource` wraps a tf-keras model. Other kinds of source (Keras 3 models, plain SavedModels) implement the
same small protocol: ``name``, ``input_specs``, ``output_names``, ``params``, ``predict``, ``tf_function``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from edgekit.errors import ConversionError, ModelLoadError
from edgekit.keras.params import count_params
from edgekit.keras.recurrent import recurrent_layers, static_batch_for_recurrent


class Source(Protocol):
    name: str
    input_specs: list[tuple[str, tuple]]  # [(name, shape with None for dynamic dims)]
    output_names: list[str]
    params: int
    # optional ``trackable``: the object whose variables the TFLite converter freezes (default: ``model``)

    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs in ``output_names`` order."""

    def tf_function(self, batch: int | None = None):
        """A ``tf.function`` with an input signature, taking the inputs (by position, named after
        ``input_specs``) and returning a dict of outputs keyed by ``output_names``; ``batch`` fixes the batch
        dimension (None: dynamic)."""


class KerasSource:
    """A tf-keras model (Keras 2)."""

    def __init__(self, model: Any, name: str | None = None):
        self.model = model
        self.name = name or model.name
        self.input_specs = [
            (_input_name(t), tuple(None if d is None else int(d) for d in t.shape)) for t in model.inputs
        ]
        self.output_names = list(model.output_names)
        self.params = count_params(model)  # its layers' weights, not tfmot's wrapper variables
        self.recurrent = recurrent_layers(model)
        self.tflite_batch, self.tflite_batch_note = static_batch_for_recurrent(self.recurrent)

    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = self.model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        if isinstance(out, dict):
            return [np.asarray(out[n]) for n in self.output_names]
        if isinstance(out, (list, tuple)):
            return [np.asarray(o) for o in out]
        return [np.asarray(out)]

    def tf_function(self, batch: int | None = None):
        from edgekit._tf import tf

        tf_ = tf()
        model = self.model
        names = self.output_names
        signature = [
            tf_.TensorSpec((batch, *shape[1:]), tf_.float32, name=name) for name, shape in self.input_specs
        ]

        @tf_.function(input_signature=signature)
        def serve(*inputs):
            out = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
            outs = out if isinstance(out, (list, tuple)) else [out]
            return {n: o for n, o in zip(names, outs)}

        return serve

    @property
    def is_quantization_aware(self) -> bool:
        """True for a model wrapped by tfmot's quantize_model / quantize_apply (QAT)."""
        return any(type(layer).__name__ in ("QuantizeLayer", "QuantizeWrapper", "QuantizeWrapperV2") for layer in self.model.layers)


def _input_name(tensor: Any) -> str:
    return tensor.name.split(":")[0]


def open_source(model: Any, trust_model: bool = False) -> Source:
    """A :class:`Source` from a path (.h5, .keras, SavedModel directory) or an in-memory tf-keras or Keras 3 model.

    Paths dispatch on the Keras that saved the file: Keras 2 → :class:`KerasSource` (tf-keras), Keras 3 →
    :class:`~edgekit.keras.keras3_source.Keras3Source`, a SavedModel without Keras metadata (e.g. Keras 3
    ``model.export()``) → :class:`~edgekit.keras.savedmodel_source.SavedModelSource`."""
    from edgekit.keras.loading import is_keras3_model

    if isinstance(model, (str, os.PathLike)):
        from edgekit.keras.loading import check_safe, inspect_model_file, load_keras3_model, load_keras_model

        model_file = inspect_model_file(model)
        if model_file.keras_major is not None and model_file.keras_major >= 3:
            from edgekit.keras.keras3_source import Keras3Source

            return Keras3Source(load_keras3_model(model, trust_model=trust_model), name=Path(model).stem)
        if model_file.kind == "savedmodel" and model_file.keras_version is None:
            from edgekit.keras.savedmodel_source import SavedModelSource

            check_safe(model_file, trust_model)  # its graph, read without running it
            return SavedModelSource(model, name=Path(model).name)
        return KerasSource(load_keras_model(model, trust_model=trust_model), name=Path(model).stem)
    if is_keras3_model(model):
        from edgekit.keras.keras3_source import Keras3Source

        return Keras3Source(model)
    if hasattr(model, "count_params") and hasattr(model, "inputs"):
        if not getattr(model, "inputs", None):
            raise ModelLoadError(
                "this Keras model has no defined inputs (a subclassed model that was never built); "
                "build it on an input shape or save it as a Functional/Sequential model"
            )
        return KerasSource(model)
    raise ConversionError(f"cannot convert a {type(model).__name__}; give a model path or a Keras model")
