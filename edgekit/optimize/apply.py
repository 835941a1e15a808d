"""Run a :class:`Recipe`'s Keras-side techniques in order: prune → cluster (sparsity-preserving) → QAT.

Pruning and clustering are kept through QAT by tfmot's collaborative schemes (PQAT, CQAT, PCQAT). Post-training
quantization happens at conversion (``edgekit.convert``) and needs nothing here.
"""

from __future__ import annotations

from edgekit.errors import DataError
from edgekit.optimize.data import TrainData, as_train_data, fit_to_model
from edgekit.optimize.layers import check_wrappable
from edgekit.optimize.progress import Progress
from edgekit.optimize.result import OptimizedModel, layer_reports
from edgekit.optimize.techniques import cluster, prune, prune_channels_and_fine_tune, quantize_aware
from edgekit.recipe import Recipe


def apply_recipe(model, recipe: Recipe, data: TrainData | str | None = None, progress: Progress | None = None) -> OptimizedModel:
    """The Keras model ``recipe`` asks for, with per-layer figures. ``model`` is not changed.

    Without training data a recipe that prunes, clusters or uses QAT is refused (DataError); one that only
    post-training quantizes returns a copy of ``model`` unchanged (``steps`` is empty).
    """
    progress = progress or Progress(False)
    if recipe.needs_training:
        check_wrappable(model)
    if recipe.needs_training and data is None:
        needs = [what for what, on in (("prune", recipe.prune), ("cluster", recipe.cluster), ("QAT", recipe.quantize.aware)) if on]
        raise DataError(
            f"recipe {recipe.name!r} ({', '.join(needs)}) fine-tunes the model and needs training data (--data); "
            "without data only post-training quantization (quantize.mode dynamic/float16/int8/int16x8) can run"
        )
    data = as_train_data(data)
    if data is not None:
        data = fit_to_model(data, model)
    current = model
    steps: list[str] = []
    training = []
    pruned: tuple[str, ...] = ()
    channels = None
    clustered: tuple[str, ...] = ()
    notes: dict[str, str] = {}
    float_layers: dict[str, str] = {}
    messages: list[str] = []
    if recipe.prune is not None:
        if recipe.channel_pruning:
            result = prune_channels_and_fine_tune(current, recipe.prune, data, recipe.train, progress)
            channels = result.channels
            messages += result.notes
        else:
            result = prune(current, recipe.prune, data, recipe.train, progress)
        current, pruned = result.model, tuple(l.name for l in result.layers if l.pruned)
        notes.update({l.name: l.note for l in result.layers if l.note})
        steps += result.steps
        training += result.training
    if recipe.cluster is not None:
        result = cluster(current, recipe.cluster, data, recipe.train, progress, teacher=model)
        current, clustered = result.model, tuple(l.name for l in result.layers if l.clustered)
        notes.update({l.name: l.note for l in result.layers if l.note and l.name not in notes})
        steps.append("cluster")
        training += result.training
    quantized = None
    if recipe.quantize.aware:
        result = quantize_aware(
            current, data, recipe.train, recipe.quantize,
            preserve_sparsity=recipe.prune is not None and not recipe.channel_pruning,
            preserve_clusters=recipe.cluster is not None, progress=progress, teacher=model,
        )
        current = result.model
        quantized = {l.name: bool(l.quantized) for l in result.layers}
        float_layers = dict(result.float_layers)
        messages += result.notes
        steps.append("qat")
        training += result.training
    if not steps:
        current = model  # nothing to wrap: conversion reads the caller's model and changes nothing
        messages.append("no fine-tuning technique in this recipe: the model is unchanged; quantization happens at conversion")
    layers = layer_reports(current, pruned=pruned, clustered=clustered, quantized=quantized, notes=notes)
    return OptimizedModel(current, recipe, layers, tuple(steps), float_layers, tuple(training), tuple(messages), channels)
