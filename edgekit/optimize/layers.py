"""Which layers a technique touches: tfmot's support tables, edgekit's selection rules, and a fresh copy of a model.

Selection (pruning and clustering alike): a layer is wrapped when tfmot can wrap it and it has weights the
technique works on, it matches ``include`` (when given; by layer name or class name), it matches no ``exclude``,
and, with ``skip_first_last``, it is not the first or last such layer — unless ``include`` names it by layer name.
An ``include``/``exclude`` entry that matches no layer, or an ``include`` naming a layer tfmot cannot wrap, is an
error that lists what would have been valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from edgekit._tf import tf_keras
from edgekit.errors import OptimizeError

# Why QAT leaves a layer in float, by class name (layers tfmot's default 8-bit registry has no config for).
QAT_FLOAT_REASONS = {
    "BatchNormalization": (
        "a BatchNormalization that does not directly follow a Conv2D/DepthwiseConv2D/Dense without activation "
        "cannot be folded into it, and tfmot's 8-bit scheme has no config for it on its own"
    ),
    "LayerNormalization": "tfmot's 8-bit scheme has no config for LayerNormalization",
}
QAT_DEFAULT_REASON = "tfmot's default 8-bit scheme has no quantize config for {cls}"
# 2:4 structured sparsity: tfmot implements it for these layer classes only.
M_BY_N_LAYERS = ("Conv2D", "Dense")


@dataclass(frozen=True)
class Selection:
    chosen: tuple[str, ...]  # layer names to wrap
    skipped: dict[str, str]  # layer name -> why it is left alone (only layers that have weights)


def fresh_copy(model):
    """A structural copy of ``model`` with its own weights: techniques wrap this copy's layers, never the caller's."""
    keras = tf_keras()
    check_wrappable(model)
    try:
        copy = keras.models.clone_model(model)
    except Exception as exc:
        raise OptimizeError(f"model {model.name!r} cannot be cloned for optimization: {_first_line(exc)}") from None
    copy.set_weights(model.get_weights())
    return copy


def check_wrappable(model) -> None:
    keras = tf_keras()
    if not isinstance(model, keras.Model):
        raise OptimizeError(f"expected a tf-keras model; got {type(model).__name__}")
    if not isinstance(model, keras.Sequential) and not getattr(model, "_is_graph_network", False):
        raise OptimizeError(
            f"model {model.name!r} is a subclassed model ({type(model).__name__}); tfmot can only wrap the layers of "
            "Sequential and Functional models. Rebuild it as a Functional model, or use post-training quantization "
            "(edgekit quantize --mode int8), which needs no wrapping"
        )


def select_layers(
    model,
    technique: str,
    can_wrap: Callable[[object], str | None],
    skip_first_last: bool,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Selection:
    """Apply the selection rules. ``can_wrap(layer)`` returns None when the technique can wrap it, else why not;
    layers without weights are never candidates."""
    weighted = [layer for layer in model.layers if layer.weights and not isinstance(layer, tf_keras().layers.InputLayer)]
    names = {layer.name for layer in model.layers}
    classes = {type(layer).__name__ for layer in model.layers}
    for entry, what in [(e, "include") for e in include] + [(e, "exclude") for e in exclude]:
        if entry not in names and entry not in classes:
            raise OptimizeError(
                f"{technique} {what} {entry!r} matches no layer name or layer type in {model.name!r}; "
                f"layers with weights: {', '.join(f'{l.name} ({type(l).__name__})' for l in weighted) or 'none'}"
            )
    reasons = {layer.name: can_wrap(layer) for layer in weighted}
    for entry in include:
        if entry in reasons and reasons[entry] is not None:
            raise OptimizeError(f"cannot {technique} layer {entry!r}: {reasons[entry]}")
    wrappable = [layer for layer in weighted if reasons[layer.name] is None]
    edges = {wrappable[0].name, wrappable[-1].name} if skip_first_last and len(wrappable) > 2 else set()
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for layer in weighted:
        name, cls = layer.name, type(layer).__name__
        if reasons[name] is not None:
            skipped[name] = reasons[name]
        elif include and name not in include and cls not in include:
            skipped[name] = "not in include"
        elif name in exclude or cls in exclude:
            skipped[name] = "excluded"
        elif name in edges and name not in include:
            skipped[name] = "first/last layer (skip_first_last)"
        else:
            chosen.append(name)
    if not chosen:
        raise OptimizeError(
            f"no layer of {model.name!r} is left to {technique}: "
            + "; ".join(f"{n}: {why}" for n, why in skipped.items())
            + (". Set skip_first_last to false (--all-layers) or name layers with include" if edges else "")
        )
    return Selection(tuple(chosen), skipped)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
