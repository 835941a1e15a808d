"""Optimize a tf-keras model for the edge: pruning, clustering, quantization-aware training, and what each costs.

    from edgekit.optimize import apply_recipe, optimize_model
    from edgekit.recipe import Recipe, Prune, Quantize
    recipe = Recipe("pruned-int8", prune=Prune(sparsity=0.8), quantize=Quantize(mode="int8"))
    optimized = apply_recipe(model, recipe, data="data.npz")        # Keras side only: OptimizedModel
    results = optimize_model("model.h5", recipe, "data.npz", "out/pruned.h5")  # + .tflite, recipe: Results
    results = optimize("model.h5", "out/", data="data.npz")  # every recipe of the preset, ranked: Results

Single techniques: :func:`prune`, :func:`cluster`, :func:`quantize_aware`. Metrics (numpy only) live in
:mod:`edgekit.optimize.metrics`; the weights a ``.tflite`` ships in :func:`tflite_weight_stats`.
TensorFlow is imported only when a function runs.
"""

from edgekit.optimize.apply import apply_recipe
from edgekit.optimize.channels import ChannelPruning, prune_channels
from edgekit.optimize.data import TrainData, as_train_data, fit_to_model, load_train_data
from edgekit.errors import OptimizeError
from edgekit.optimize.metrics import (
    Metrics,
    WeightStats,
    classification_metrics,
    evaluate_outputs,
    fidelity_metrics,
    is_classification,
    macro_prf,
)
from edgekit.optimize.progress import Progress
from edgekit.optimize.result import LayerReport, Optimization, OptimizedModel, keras_weight_stats
from edgekit.optimize.techniques import cluster, prune, pruning_schedule, quantize_aware
from edgekit.optimize.tflite_weights import tflite_weight_stats

__all__ = [
    "ChannelPruning", "LayerReport", "Metrics", "OptimizeError", "Optimization", "OptimizedModel", "Progress", "TrainData",
    "WeightStats", "apply_recipe", "as_train_data", "classification_metrics", "cluster", "evaluate_outputs",
    "fidelity_metrics", "fit_to_model", "is_classification", "keras_weight_stats", "load_train_data", "macro_prf",
    "optimize", "optimize_model", "prune", "prune_channels", "pruning_schedule", "quantize_aware",
    "tflite_weight_stats",
]


def __getattr__(name: str):
    """``optimize`` and ``optimize_model`` load on first use: they build on :mod:`edgekit.results`, which imports
    this package's metrics, ranking and result types."""
    if name == "optimize":
        from edgekit.optimize.pipeline import optimize

        return optimize
    if name == "optimize_model":
        from edgekit.optimize.single import optimize_model

        return optimize_model
    raise AttributeError(f"module 'edgekit.optimize' has no attribute {name!r}")
