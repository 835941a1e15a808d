"""The techniques, one function each: model in, :class:`OptimizedModel` out. The caller's model is never changed.

- :func:`prune`: tfmot magnitude pruning (constant or polynomial-decay schedule sized from epochs × steps, or 2:4
  structured sparsity), fine-tuned, then ``strip_pruning``.
- :func:`prune_channels_and_fine_tune`: channel pruning (:mod:`edgekit.optimize.channels`): a smaller model with
  fewer filters, fine-tuned (by default by distillation from the original, see :mod:`edgekit.optimize.distill`).
- :func:`cluster`: tfmot weight clustering (N centroids per weight tensor, k-means++/linear/density/random
  initialisation, optionally sparsity-preserving), fine-tuned, then ``strip_clustering``.
- :func:`quantize_aware`: quantization-aware training, annotating layer by layer so that layers tfmot cannot
  quantize stay in float (reported with the reason) instead of failing the whole model; with
  ``preserve_sparsity``/``preserve_clusters`` it uses tfmot's collaborative schemes (PQAT, CQAT, PCQAT).
"""

from __future__ import annotations

import re
from typing import Any

from edgekit._log import quiet_native
from edgekit._tf import tf_keras, tfmot
from edgekit.errors import DataError
from edgekit.errors import OptimizeError
from edgekit.optimize.data import TrainData, as_train_data, fit_to_model
from edgekit.optimize.layers import (
    M_BY_N_LAYERS,
    QAT_DEFAULT_REASON,
    QAT_FLOAT_REASONS,
    _first_line,
    check_wrappable,
    fresh_copy,
    select_layers,
)
from edgekit.optimize.progress import Progress
from edgekit.optimize.result import OptimizedModel, layer_reports
from edgekit.optimize.train import compile_for_training, fit
from edgekit.recipe import ChannelPrune, Cluster, Prune, Quantize, Recipe, Train

# Centroid initialisation: recipe name -> tfmot CentroidInitialization member.
CENTROID_INITS = {"kmeans++": "KMEANS_PLUS_PLUS", "linear": "LINEAR", "density": "DENSITY_BASED", "random": "RANDOM"}
# Share of the fine-tuning steps over which a polynomial schedule ramps sparsity up; the rest lets accuracy recover.
POLYNOMIAL_RAMP = 0.7


def _need_data(data: Any, what: str, model) -> TrainData:
    check_wrappable(model)
    if data is None:
        raise DataError(f"{what} fine-tunes the model and needs training data (--data); without it only post-training quantization runs")
    return fit_to_model(as_train_data(data), model)


def _registry_weights(registry, layer, interface) -> str | None:
    """None if tfmot can wrap ``layer`` with a registry entry that names weights, else why not."""
    if isinstance(layer, interface):
        return None
    table = getattr(registry, "_LAYERS_WEIGHTS_MAP", {})
    if type(layer) in table:
        return None if table[type(layer)] else f"{type(layer).__name__} has no weights this technique works on"
    if registry.supports(layer):
        return None
    if isinstance(layer, tf_keras().Model):
        return "a nested model; tfmot wraps layers, not models inside models"
    return f"tfmot has no support for {type(layer).__name__} layers (implement its PrunableLayer/ClusterableLayer to add it)"


# ---- pruning ---------------------------------------------------------------------------------------------
def _prune_can_wrap(structure: str):
    from tensorflow_model_optimization.python.core.sparsity.keras import prunable_layer, prune_registry

    def can_wrap(layer) -> str | None:
        why = _registry_weights(prune_registry.PruneRegistry, layer, prunable_layer.PrunableLayer)
        if why is None and structure == "2:4" and type(layer).__name__ not in M_BY_N_LAYERS:
            why = f"2:4 structured sparsity is implemented for {', '.join(M_BY_N_LAYERS)} only, not {type(layer).__name__}"
        return why

    return can_wrap


def pruning_schedule(spec: Prune, total_steps: int):
    """The tfmot schedule for ``spec`` over ``total_steps`` fine-tuning steps.

    constant: the target sparsity from step 0, re-applied every ``frequency`` steps. polynomial: from 0 to the
    target over the first ``POLYNOMIAL_RAMP`` of the steps (cubic decay), so the last steps fine-tune at the target.
    """
    sparsity = tfmot().sparsity.keras
    end = max(1, int(total_steps * POLYNOMIAL_RAMP))
    frequency = max(1, min(100, end // 10))
    end = max(frequency, end // frequency * frequency)  # the mask is updated at end_step, so the target is reached
    if spec.schedule == "constant":
        return sparsity.ConstantSparsity(spec.sparsity, begin_step=0, frequency=frequency)
    return sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=spec.sparsity, begin_step=0,
                                    end_step=end, frequency=frequency)


def prune(model, spec: Prune = Prune(), data: Any = None, train: Train = Train(), progress: Progress | None = None,
          teacher=None) -> OptimizedModel:
    """Magnitude-prune ``model`` to ``spec.sparsity`` (or 2:4), fine-tune on ``data``, strip the wrappers.
    ``teacher`` (default ``model``) is what distillation learns from."""
    progress = progress or Progress(False)
    data = _need_data(data, "pruning", model)
    sparsity = tfmot().sparsity.keras
    base = fresh_copy(model)
    selection = select_layers(base, "prune", _prune_can_wrap(spec.structure), spec.skip_first_last, spec.include, spec.exclude)
    steps = -(-len(data.x_train) // train.batch_size) * train.epochs
    kwargs: dict[str, Any] = {"sparsity_m_by_n": (2, 4)} if spec.structure == "2:4" else {"pruning_schedule": pruning_schedule(spec, steps)}

    def wrap(layer):
        return sparsity.prune_low_magnitude(layer, **kwargs) if layer.name in selection.chosen else layer

    wrapped = _clone(base, wrap, "prune")
    settings = compile_for_training(wrapped, model, data, train)
    fit(wrapped, data, train, settings, progress, "prune", callbacks=[sparsity.UpdatePruningStep()], teacher=model if teacher is None else teacher)
    with quiet_native():
        stripped = sparsity.strip_pruning(wrapped)
    recipe = Recipe(name="prune", prune=spec, train=train)
    return OptimizedModel(stripped, recipe, layer_reports(stripped, pruned=selection.chosen, notes=selection.skipped),
                          ("prune",), training=(settings,))


def prune_channels_and_fine_tune(model, spec: ChannelPrune = ChannelPrune(), data: Any = None, train: Train = Train(),
                                 progress: Progress | None = None, teacher=None) -> OptimizedModel:
    """Remove channels from ``model`` (a smaller model, see :func:`prune_channels`), then fine-tune it on ``data``."""
    from edgekit.optimize.channels import prune_channels

    progress = progress or Progress(False)
    data = _need_data(data, "channel pruning", model)
    search = None
    if spec.max_latency_ms is not None:
        from edgekit.optimize.channel_latency import prune_to_latency

        with progress.task(f"channel pruning: searching the model that runs within {spec.max_latency_ms:g} ms"):
            pruning, search = prune_to_latency(model, spec.max_latency_ms, criterion=spec.criterion, include=spec.include,
                                               exclude=spec.exclude, min_channels=spec.min_channels, round_to=spec.round_to)
    else:
        with progress.task("channel pruning: rebuilding a smaller model"):
            pruning = prune_channels(model, spec.ratio, spec.criterion, spec.ratios, spec.include, spec.exclude,
                                     spec.min_channels, spec.round_to, spec.max_macs)
    smaller = pruning.model
    # a thinner network is retrained, not nudged: it learns at the model's own rate (a tenth recovers too little)
    settings = compile_for_training(smaller, model, data, train, lr_factor=1.0)
    fit(smaller, data, train, settings, progress, "channel pruning", teacher=model if teacher is None else teacher)
    notes = dict(pruning.unhandled)
    pruned = []
    for group in pruning.groups:
        for name in group.layers:
            notes.setdefault(name, f"kept {group.kept} of {group.channels} output channels" + (f" ({group.note})" if group.note else ""))
            if group.kept < group.channels:
                pruned.append(name)
    recipe = Recipe(name="channels", prune=spec, train=train)
    return OptimizedModel(smaller, recipe, layer_reports(smaller, pruned=pruned, notes=notes), ("channels",),
                          training=(settings,), notes=pruning.notes() + ((search.note(),) if search else ()), channels=pruning)


# ---- clustering ------------------------------------------------------------------------------------------
def _cluster_can_wrap(clusters: int):
    from tensorflow_model_optimization.python.core.clustering.keras import clusterable_layer, clustering_registry

    def can_wrap(layer) -> str | None:
        why = _registry_weights(clustering_registry.ClusteringRegistry, layer, clusterable_layer.ClusterableLayer)
        if why is None:
            weight = getattr(layer, "kernel", None)
            if weight is not None and int(weight.shape.num_elements()) <= clusters:
                why = f"its kernel has {int(weight.shape.num_elements())} values, not more than {clusters} clusters"
        return why

    return can_wrap


def cluster(model, spec: Cluster = Cluster(), data: Any = None, train: Train = Train(), progress: Progress | None = None,
            teacher=None) -> OptimizedModel:
    """Cluster the weights of ``model`` to ``spec.clusters`` values per tensor, fine-tune, strip the wrappers.

    With ``spec.preserve_sparsity`` the zeros of a pruned model stay zero (sparsity-preserving clustering)."""
    progress = progress or Progress(False)
    data = _need_data(data, "clustering", model)
    clustering = tfmot().clustering.keras
    base = fresh_copy(model)
    selection = select_layers(base, "cluster", _cluster_can_wrap(spec.clusters), spec.skip_first_last, spec.include, spec.exclude)
    init = getattr(clustering.CentroidInitialization, CENTROID_INITS[spec.init])

    def wrap(layer):
        if layer.name not in selection.chosen:
            return layer
        return clustering.cluster_weights(layer, number_of_clusters=spec.clusters, cluster_centroids_init=init,
                                          preserve_sparsity=spec.preserve_sparsity)

    wrapped = _clone(base, wrap, "cluster")
    settings = compile_for_training(wrapped, model, data, train)
    fit(wrapped, data, train, settings, progress, "cluster", teacher=model if teacher is None else teacher)
    with quiet_native():
        stripped = clustering.strip_clustering(wrapped)
    recipe = Recipe(name="cluster", cluster=spec, train=train)
    return OptimizedModel(stripped, recipe, layer_reports(stripped, clustered=selection.chosen, notes=selection.skipped),
                          ("cluster",), training=(settings,))


# ---- quantization-aware training ---------------------------------------------------------------------------
_UNSUPPORTED = re.compile(r"Layer (\S+?):<class")


def quantize_scheme(preserve_sparsity: bool = False, preserve_clusters: bool = False):
    """tfmot's scheme for QAT alone (default 8-bit), after pruning (PQAT), after clustering (CQAT) or both (PCQAT)."""
    mot = tfmot()
    if preserve_clusters:
        return _cluster_preserve_scheme(preserve_sparsity)
    if preserve_sparsity:
        return mot.quantization.keras.collab_opts.Default8BitPrunePreserveQuantizeScheme()
    return mot.quantization.keras.default_8bit.Default8BitQuantizeScheme()


def _cluster_preserve_scheme(preserve_sparsity: bool):
    """tfmot's Default8BitClusterPreserveQuantizeScheme, with one weight quantizer per layer.

    tfmot 0.8.1 shares one quantizer object between all layers, and building it on a layer without zeros (an
    unpruned first or last layer) switches ``preserve_sparsity`` off for every layer built after it, so the
    pruned layers silently lose their zeros during PCQAT. A fresh registry per layer keeps that flag per layer.
    """
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
        cluster_preserve_quantize_registry as registry,
        default_8bit_cluster_preserve_quantize_scheme as scheme,
    )

    class PerLayerRegistry(registry.Default8bitClusterPreserveQuantizeRegistry):
        def get_quantize_config(self, layer):
            return registry.Default8bitClusterPreserveQuantizeRegistry(preserve_sparsity).get_quantize_config(layer)

    class PerLayerScheme(scheme.Default8BitClusterPreserveQuantizeScheme):
        def get_quantize_registry(self):
            return PerLayerRegistry(self.preserve_sparsity)

    return PerLayerScheme(preserve_sparsity=preserve_sparsity)


def _qat_float_reason(layer) -> str:
    name = type(layer).__name__
    if isinstance(layer, tf_keras().Model):
        return "a nested model; tfmot annotates layers, not models inside models"
    return QAT_FLOAT_REASONS.get(name, QAT_DEFAULT_REASON.format(cls=name))


def quantize_aware(
    model,
    data: Any = None,
    train: Train = Train(epochs=1),
    quantize: Quantize = Quantize(mode="int8", aware=True),
    preserve_sparsity: bool = False,
    preserve_clusters: bool = False,
    progress: Progress | None = None,
    teacher=None,
) -> OptimizedModel:
    """Quantization-aware training of ``model``. Layers tfmot supports are annotated one by one; a layer it rejects
    (e.g. a BatchNormalization after an activation) stays in float and is listed in ``float_layers`` with the
    reason; its int8 ranges then come from calibration at conversion."""
    progress = progress or Progress(False)
    data = _need_data(data, "quantization-aware training", model)
    q = tfmot().quantization.keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_registry

    base = fresh_copy(model)
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    keras = tf_keras()
    floats: dict[str, str] = {}
    for layer in base.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        # BatchNormalization is not in the registry but is folded into a preceding conv by tfmot's transforms.
        if not registry.supports(layer) and type(layer).__name__ != "BatchNormalization":
            floats[layer.name] = _qat_float_reason(layer)
    scheme = quantize_scheme(preserve_sparsity, preserve_clusters)
    quantized = None
    for _ in range(len(base.layers) + 1):
        annotated = _clone(base, lambda layer: layer if layer.name in floats or isinstance(layer, keras.layers.InputLayer)
                           else q.quantize_annotate_layer(layer), "annotate for QAT")
        try:
            with quiet_native(), q.quantize_scope():
                quantized = q.quantize_apply(annotated, scheme)
            break
        except (RuntimeError, ValueError) as exc:
            match = _UNSUPPORTED.search(str(exc))
            if not match or match.group(1) in floats or match.group(1) not in {l.name for l in base.layers}:
                raise OptimizeError(f"quantization-aware training cannot wrap {model.name!r}: {_first_line(exc)}") from None
            floats[match.group(1)] = _qat_float_reason(base.get_layer(match.group(1)))
    if quantized is None or len(floats) >= len([l for l in base.layers if l.weights]):
        raise OptimizeError(f"quantization-aware training found no layer of {model.name!r} that tfmot can quantize")
    settings = compile_for_training(quantized, model, data, train)
    fit(quantized, data, train, settings, progress, "QAT", teacher=model if teacher is None else teacher)
    kind = {(False, False): "qat", (True, False): "pqat", (False, True): "cqat", (True, True): "pcqat"}[(preserve_sparsity, preserve_clusters)]
    weighted = {l.name for l in base.layers if l.weights}
    flags = {name: name not in floats for name in weighted}
    recipe = Recipe(name=kind, quantize=quantize, train=train)
    notes = (f"{len(floats)} layer(s) stayed float in QAT: " + ", ".join(floats) + "; int8 conversion calibrates them",) if floats else ()
    return OptimizedModel(quantized, recipe, layer_reports(quantized, quantized=flags, notes=floats), ("qat",),
                          float_layers=floats, training=(settings,), notes=notes)


def _clone(base, clone_function, what: str):
    keras = tf_keras()
    try:
        with quiet_native():
            return keras.models.clone_model(base, clone_function=clone_function)
    except (ValueError, TypeError, RuntimeError, AttributeError) as exc:
        raise OptimizeError(f"{what}: tfmot cannot wrap {base.name!r}: {_first_line(exc)}") from None
