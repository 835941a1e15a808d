"""How many parameters a Keras model ships: its layers' weights, not the variables tfmot's wrappers add.

A model wrapped for quantization-aware training holds quantizer ranges (min/max) and step counters beside each
layer's kernel and bias; one wrapped for pruning holds masks, thresholds and a step counter, one for clustering holds
centroids and indices. The converter folds the quantizers into int8 scales and ships none of those variables, so
Keras' ``count_params`` overstates the model (the digits sample has 151,690; Keras counts 151,906 under QAT and
451,810 under prune + cluster + QAT). :func:`count_params` counts a wrapped layer as the plain layer it wraps, rebuilt
from that layer's config on the wrapper's input shape (tfmot's variables live in the wrapper, and QAT moves the kernel
out of the wrapped layer, so neither the wrapper's nor the wrapped layer's own count is the answer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# tfmot's wrapper layers (class name -> whether it wraps a layer of the model); QuantizeLayer quantizes the model's
# inputs and holds only its range.
TFMOT_WRAPPERS = {
    "QuantizeWrapper": True, "QuantizeWrapperV2": True, "QuantizeAnnotate": True, "QuantizeLayer": False,
    "PruneLowMagnitude": True, "ClusterWeights": True, "ClusterWeightsRNN": True, "ClusterWeightsMHA": True,
}


def count_params(model: Any) -> int:
    """Parameters of ``model`` (tf-keras or Keras 3) without tfmot's wrapper variables; Keras' own count for a model
    without wrappers."""
    if not any(type(layer).__name__ in TFMOT_WRAPPERS or hasattr(layer, "layers") for layer in model.layers):
        return int(model.count_params())
    return sum(_layer_params(layer) for layer in model.layers)


def _layer_params(layer: Any) -> int:
    wraps = TFMOT_WRAPPERS.get(type(layer).__name__)
    if wraps is None:
        return count_params(layer) if hasattr(layer, "layers") else int(layer.count_params())
    if not wraps:
        return 0
    from edgekit._tf import tfmot

    inner = layer.layer
    try:
        with tfmot().quantization.keras.quantize_scope():  # QAT swaps activations for tfmot's; the config names them
            plain = type(inner).from_config(inner.get_config())
        plain.build(layer.input_shape)
    except (AttributeError, NotImplementedError, RuntimeError, TypeError, ValueError):  # cannot be rebuilt alone
        return int(layer.count_params())
    return int(sum(np.prod(w.shape) for w in plain.weights))
