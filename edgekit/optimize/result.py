"""What a technique hands back: the optimized model and a per-layer account of what happened to each layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.optimize.metrics import WeightStats, tensor_stats
from edgekit.optimize.train import TrainSettings
from edgekit.recipe import Recipe

KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


@dataclass(frozen=True)
class LayerReport:
    """One layer with weights: its main weight tensor's figures and what each technique did to it."""

    name: str
    type: str
    weights: int  # values in the main weight tensor (kernel)
    nonzero: int
    sparsity: float
    unique: int
    pruned: bool = False
    clustered: bool = False
    quantized: bool | None = None  # QAT: True = fake-quantized, False = stayed float; None = no QAT
    note: str = ""  # why a technique left this layer alone


@dataclass(frozen=True)
class Optimization:
    """What the techniques did to the Keras model: the record a variant keeps (the model itself is not kept)."""

    steps: tuple[str, ...] = ()  # techniques that ran, in order: "prune", "cluster", "qat"
    layers: tuple[LayerReport, ...] = ()
    float_layers: dict[str, str] = field(default_factory=dict)  # QAT: layer name -> why it stayed float
    training: tuple[TrainSettings, ...] = ()
    notes: tuple[str, ...] = ()
    channels: dict[str, Any] | None = None  # channel pruning: MACs and parameters before/after, groups, layers left whole


@dataclass(frozen=True, eq=False)
class OptimizedModel:
    """The optimized tf-keras model, ready to convert: pruning and clustering wrappers are stripped; a QAT model
    keeps its fake-quantization wrappers, which is what the TFLite converter reads its int8 ranges from."""

    model: Any
    recipe: Recipe
    layers: tuple[LayerReport, ...]
    steps: tuple[str, ...] = ()  # techniques that ran, in order: "prune" or "channels", "cluster", "qat"
    float_layers: dict = field(default_factory=dict)  # QAT: layer name -> why it stayed float
    training: tuple[TrainSettings, ...] = ()
    notes: tuple[str, ...] = ()
    channels: Any = None  # a ChannelPruning (groups kept, MACs and parameters before/after) when channels were pruned

    @property
    def quantization_aware(self) -> bool:
        return "qat" in self.steps

    @property
    def needs_calibration(self) -> bool:
        """Full-integer conversion needs calibration data: post-training int8/16x8, and QAT with float layers
        (their ranges were not learnt)."""
        if self.quantization_aware:
            return bool(self.float_layers)
        return self.recipe.needs_calibration

    @property
    def optimization(self) -> Optimization:
        return Optimization(self.steps, self.layers, dict(self.float_layers), self.training, self.notes,
                            self.channels.to_dict() if self.channels is not None else None)


def main_weight(layer) -> Any | None:
    """The layer's main weight variable (kernel), looking through tfmot wrappers."""
    for weight in layer.weights:
        if weight.name.split("/")[-1].split(":")[0] in KERNEL_NAMES:
            return weight
    return None


def keras_weight_stats(model) -> list[WeightStats]:
    stats = []
    for layer in model.layers:
        weight = main_weight(layer)
        if weight is None:
            continue
        inner = getattr(layer, "layer", layer)
        stats.append(tensor_stats(weight.name, inner.name, type(inner).__name__, np.asarray(weight.numpy())))
    return stats


def layer_reports(model, pruned=(), clustered=(), quantized: dict | None = None, notes: dict | None = None) -> tuple[LayerReport, ...]:
    """Reports for every layer of ``model`` that has a kernel; ``quantized`` maps layer name -> True/False for QAT."""
    notes = notes or {}
    out = []
    for s in keras_weight_stats(model):
        q = None if quantized is None else quantized.get(s.layer, False)
        out.append(LayerReport(s.layer, s.op, s.count, s.nonzero, round(s.sparsity, 6), s.unique,
                               s.layer in pruned, s.layer in clustered, q, notes.get(s.layer, "")))
    return tuple(out)
