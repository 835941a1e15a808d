"""A conversion source for a SavedModel without Keras metadata (what Keras 3 ``model.export()`` or
``tf.saved_model.save`` write): it implements the :class:`~edgekit.keras.source.Source` protocol through the
model's serving signature."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgekit.errors import ModelLoadError


class SavedModelSource:
    """A SavedModel without Keras metadata (what Keras 3 ``model.export()`` or ``tf.saved_model.save`` write),
    converted through its ``serving_default`` signature. Inputs and outputs are in the signature's name order."""

    def __init__(self, path: str | Path, name: str | None = None):
        from edgekit._log import quiet_native
        from edgekit._tf import tf

        tf_ = tf()
        try:
            with quiet_native():
                loaded = tf_.saved_model.load(str(path))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"could not load the SavedModel {path}: {first[:300]}") from None
        signatures = dict(loaded.signatures)
        if not signatures:
            raise ModelLoadError(
                f"the SavedModel {path} has no serving signature; save it with a signature "
                "(Keras 3: model.export(path); TensorFlow: tf.saved_model.save(obj, path, signatures=...))"
            )
        key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
        self._function = signatures[key]
        self.trackable = loaded
        self.name = name or Path(path).name
        _, kwargs = self._function.structured_input_signature
        self.input_specs = [
            (n, tuple(None if d is None else int(d) for d in kwargs[n].shape.as_list())) for n in sorted(kwargs)
        ]
        self._input_dtypes = [kwargs[n].dtype for n in sorted(kwargs)]
        outputs = self._function.structured_outputs
        if not isinstance(outputs, dict):
            raise ModelLoadError(f"the SavedModel {path} signature {key!r} does not return named outputs")
        self.output_names = sorted(outputs)
        self.params = int(sum(int(np.prod(v.shape)) for v in self._function.variables))  # like Keras count_params: all weights

    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        from edgekit._tf import tf

        tf_ = tf()
        feed = {n: tf_.cast(tf_.constant(x), d) for (n, _), x, d in zip(self.input_specs, inputs, self._input_dtypes)}
        out = self._function(**feed)
        return [np.asarray(out[n]) for n in self.output_names]

    def tf_function(self, batch: int | None = None):
        from edgekit._tf import tf

        tf_ = tf()
        signature = [tf_.TensorSpec((batch, *shape[1:]), tf_.float32, name=name) for name, shape in self.input_specs]
        names = [n for n, _ in self.input_specs]
        dtypes = self._input_dtypes
        outputs = self.output_names
        function = self._function

        @tf_.function(input_signature=signature)
        def serve(*inputs):
            out = function(**{n: tf_.cast(x, d) for n, x, d in zip(names, inputs, dtypes)})
            return {n: out[n] for n in outputs}

        return serve
