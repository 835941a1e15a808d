"""Recurrent layers in a Keras model (either Keras), and what they mean for TFLite conversion."""

from __future__ import annotations

from typing import Any

RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})


def recurrent_layers(model: Any) -> dict[str, str]:
    """Recurrent layers of a Keras model (either Keras), nested models and Bidirectional wrappers included:
    ``{layer name: class name}``."""
    found: dict[str, str] = {}
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "layer", None) if type(layer).__name__ == "Bidirectional" else layer
        kind = type(inner).__name__
        if kind in RECURRENT:
            found[layer.name] = kind
        if hasattr(layer, "layers"):
            found.update(recurrent_layers(layer))
    return found


def static_batch_for_recurrent(recurrent: dict[str, str]) -> tuple[int | None, str]:
    """Recurrent layers trace to TensorList ops that the TFLite converter (TF 2.21) lowers only with a static batch
    ("'tf.TensorListReserve' op requires element_shape to be static"), in tf-keras and Keras 3 alike."""
    if not recurrent:
        return None, ""
    return 1, (f"static batch 1: recurrent layers ({', '.join(recurrent)}) convert to TFLite only with a fixed batch; "
               "edgekit.runtime runs larger batches one sample at a time")
