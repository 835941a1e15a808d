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
class ChannelGroup:
    """One channel-pruning group: source layers whose output channels are pruned together (joined by Add/Multiply)."""

    layers: tuple[str, ...]
    channels: int
    kept: int
    note: str = ""  # why it was left whole or kept more than asked


@dataclass(frozen=True)
class ChannelReport:
    """What channel pruning did: MACs (edgekit's Keras count, equal to the .tflite counter) and parameters before and
    after, the channels each group kept, and the layers whose channels it could not follow (kept whole, and why)."""

    groups: tuple[ChannelGroup, ...]
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    unhandled: dict[str, str]  # layer name -> why channel pruning cannot follow channels through it

    @property
    def mac_ratio(self) -> float:
        return self.macs_before / self.macs_after if self.macs_after else float("inf")

    def notes(self) -> tuple[str, ...]:
        out = [f"channel pruning: MACs {self.macs_before:,} -> {self.macs_after:,} ({self.mac_ratio:.2f}x fewer), "
               f"parameters {self.params_before:,} -> {self.params_after:,}"]
        if self.unhandled:
            out.append("channel pruning left these layers' channels whole: "
                       + "; ".join(f"{name}: {why}" for name, why in self.unhandled.items()))
        return tuple(out)


@dataclass(frozen=True)
class Optimization:
    """What the techniques did to the Keras model: the record a variant keeps (the model itself is not kept)."""

    steps: tuple[str, ...] = ()  # techniques that ran, in order: "prune", "cluster", "qat"
    layers: tuple[LayerReport, ...] = ()
    float_layers: dict[str, str] = field(default_factory=dict)  # QAT: layer name -> why it stayed float
    training: tuple[TrainSettings, ...] = ()
    notes: tuple[str, ...] = ()
    channels: ChannelReport | None = None  # channel pruning: MACs and parameters before/after, groups, layers left whole


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
                            self.channels.report if self.channels is not None else None)


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
        values = np.asarray(weight.numpy())
        recurrent = next((w for w in layer.weights if w.name.split("/")[-1].split(":")[0] == "recurrent_kernel"), None)
        if recurrent is not None and values.ndim == 2:  # an RNN's kernel and recurrent kernel: both are pruned
            values = np.concatenate([values, np.asarray(recurrent.numpy())], axis=0)
        stats.append(tensor_stats(weight.name, inner.name, type(inner).__name__, values))
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
