"""Shared Keras plumbing used by every verb: reading model files safely, the Keras 3 ↔ tf-keras bridge, and the
conversion sources (what a converter starts from).

- :mod:`edgekit.keras.loading` — inspect a model file without running it, refuse code-carrying layers unless
  trusted, load it into tf-keras or Keras 3.
- :mod:`edgekit.keras.bridge` — rebuild a Keras 3 model in tf-keras (and back) and verify the outputs match.
- :mod:`edgekit.keras.source` — the :class:`Source` protocol and :func:`open_source`, which picks
  :class:`KerasSource` (tf-keras), :class:`~edgekit.keras.keras3_source.Keras3Source` or
  :class:`~edgekit.keras.savedmodel_source.SavedModelSource`.

TensorFlow is imported only when a function runs.
"""

from edgekit.keras.bridge import BridgeResult, load_as_tf_keras, save_like_source, to_keras3, to_tf_keras
from edgekit.keras.loading import ModelFile, inspect_model_file, is_keras3_model, load_keras3_model, load_keras_model
from edgekit.keras.source import KerasSource, Source, open_source

__all__ = [
    "BridgeResult", "KerasSource", "ModelFile", "Source", "inspect_model_file", "is_keras3_model", "load_as_tf_keras",
    "load_keras3_model", "load_keras_model", "open_source", "save_like_source", "to_keras3", "to_tf_keras",
]
