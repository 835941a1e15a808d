"""Channel (filter) pruning that rebuilds a genuinely smaller tf-keras model: fewer filters, fewer MACs, less latency.

Magnitude pruning zeroes weights; the shapes, the MACs and the latency stay. This removes whole output channels
and rebuilds the model with the surviving weights, so every layer that reads a removed channel shrinks with it.

How it works:

1. **Channel tracking.** Every channel a layer creates gets an id. Layers in :data:`PASS_THROUGH` (activations,
   pooling, padding, dropout, global pooling), the channel-wise weighted layers (BatchNormalization, PReLU) and
   DepthwiseConv2D (each output channel belongs to one input channel) carry their input's ids; ``Flatten`` repeats
   them once per spatial position (channels-last order), so a Dense after it drops the matching rows; Concatenate
   joins its inputs' ids (offsets); the element-wise merges in :data:`MERGES` (Add, Multiply, ...) *unite* the ids of
   their inputs position by position, so a residual group is pruned jointly. Channels that reach a model output or
   a layer edgekit cannot follow (Lambda, Reshape that moves channels, softmax over channels, a nested model, a
   shared layer, ...) are frozen: kept whole, and the layer is named in the result.
2. **Groups.** Channels united by merges form one unit (a *component*); the source layers (Conv, Dense, Separable,
   Conv2DTranspose) whose channels share components form a *group*, pruned to one count. A component's importance
   is the sum over its member channels of the criterion (:data:`CRITERIA`, each layer's scores divided by their
   mean so that layers of different fan-in weigh alike).
3. **Allocation.** Uniform: every group keeps ``ceil((1 - ratio) * n)`` channels (per-layer ``ratios`` override),
   at least ``min_channels``, rounded up to a multiple of ``round_to``. Global (``max_macs``): components are
   removed lowest importance first across all groups until the MAC budget holds.
4. **Rebuild.** The layer configs get their new ``filters``/``units``; :func:`tf_keras.models.clone_model` builds the
   smaller model and every weight is sliced along its input/output channel axes (:data:`WEIGHT_AXES`).

The caller's model is never changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import numpy as np

from edgekit._log import quiet_native
from edgekit._tf import tf_keras
from edgekit.errors import OptimizeError
from edgekit.optimize.layers import _first_line, check_wrappable
from edgekit.optimize.result import ChannelGroup, ChannelReport

# ---- tables ------------------------------------------------------------------------------------------------
# Layers without weights that keep channel identity: output channel i is a function of input channel i only.
PASS_THROUGH = frozenset({
    "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D",
    "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Activation",
})
# Element-wise merges: their inputs' channels are pruned jointly (a residual group).
MERGES = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"})
# TensorFlow ops (a TFOpLambda's "function") that work element by element: per channel with scalar operands
# (``x + 3.0``), and channel-aligned like a merge between tensors (``a * b``). Array constants are not followed.
ELEMENTWISE_TF_OPS = frozenset({
    "__operators__.add", "math.add", "math.subtract", "math.multiply", "math.truediv", "math.divide",
    "math.maximum", "math.minimum", "math.negative", "math.abs", "math.square", "math.sqrt", "math.exp",
    "math.sigmoid", "nn.sigmoid", "math.tanh", "nn.tanh", "nn.relu", "nn.relu6", "nn.elu", "nn.selu", "nn.gelu",
    "nn.leaky_relu", "nn.silu", "nn.swish", "math.softplus", "nn.softplus", "clip_by_value",
})
# Activations that mix channels (the output of channel i depends on the others).
MIXING_ACTIVATIONS = frozenset({"softmax", "log_softmax"})

# Weighted layers edgekit can slice: weight name -> {axis: role}. "in" = the input's channels, "out" = the output's,
# "mid" = a separable conv's depthwise output (input channels × depth multiplier).
WEIGHT_AXES: dict[str, dict[str, dict[int, str]]] = {
    "Conv1D": {"kernel": {-2: "in", -1: "out"}, "bias": {0: "out"}},
    "Conv2D": {"kernel": {-2: "in", -1: "out"}, "bias": {0: "out"}},
    "Conv3D": {"kernel": {-2: "in", -1: "out"}, "bias": {0: "out"}},
    "Conv2DTranspose": {"kernel": {-1: "in", -2: "out"}, "bias": {0: "out"}},
    "Dense": {"kernel": {0: "in", 1: "out"}, "bias": {0: "out"}},
    "SeparableConv1D": {"depthwise_kernel": {-2: "in"}, "pointwise_kernel": {-2: "mid", -1: "out"}, "bias": {0: "out"}},
    "SeparableConv2D": {"depthwise_kernel": {-2: "in"}, "pointwise_kernel": {-2: "mid", -1: "out"}, "bias": {0: "out"}},
    "DepthwiseConv1D": {"depthwise_kernel": {-2: "in"}, "bias": {0: "out"}},
    "DepthwiseConv2D": {"depthwise_kernel": {-2: "in"}, "bias": {0: "out"}},
    "BatchNormalization": {"gamma": {0: "in"}, "beta": {0: "in"}, "moving_mean": {0: "in"}, "moving_variance": {0: "in"}},
    "PReLU": {"alpha": {-1: "in"}},
}
# Layers that create new output channels, and the config key that holds how many.
SOURCES = {"Conv1D": "filters", "Conv2D": "filters", "Conv3D": "filters", "Conv2DTranspose": "filters",
           "Dense": "units", "SeparableConv1D": "filters", "SeparableConv2D": "filters"}
DEPTHWISE = frozenset({"DepthwiseConv1D", "DepthwiseConv2D"})
CHANNELWISE = frozenset({"BatchNormalization", "PReLU"})
# The weight whose output-channel slices a criterion scores, per source layer type.
SCORED_WEIGHT = {"SeparableConv1D": "pointwise_kernel", "SeparableConv2D": "pointwise_kernel"}


def _l1(filters: np.ndarray, bn_scale: np.ndarray | None) -> np.ndarray:
    return np.abs(filters).sum(axis=1)


def _l2(filters: np.ndarray, bn_scale: np.ndarray | None) -> np.ndarray:
    return np.sqrt(np.square(filters).sum(axis=1))


def _l1_bn(filters: np.ndarray, bn_scale: np.ndarray | None) -> np.ndarray:
    return _l1(filters, None) * (1.0 if bn_scale is None else bn_scale)


# Importance criteria by name: (filters as (out_channels, rest), scale of the BatchNormalization right after or None)
# -> one score per output channel; higher = more important.
CRITERIA: dict[str, Callable[[np.ndarray, np.ndarray | None], np.ndarray]] = {
    "l1": _l1,  # L1 norm of each filter
    "l2": _l2,  # L2 norm of each filter
    "l1-bn": _l1_bn,  # L1 norm × |gamma| / sqrt(var + eps) of the BatchNormalization that follows (if any)
}


# ---- results -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ChannelPruning(ChannelReport):
    """The smaller model, and the record of what happened (:class:`ChannelReport`, what results keep)."""

    model: Any = None
    kept: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # layer -> kept output channel indices

    @property
    def report(self) -> ChannelReport:
        return ChannelReport(*(getattr(self, f.name) for f in fields(ChannelReport)))


# ---- the channel graph ---------------------------------------------------------------------------------------
class _Ids:
    """Channel ids with union-find (for merges) and the reasons an id is frozen (the first one is shown)."""

    def __init__(self):
        self.parent: list[int] = []
        self.frozen: dict[int, str] = {}
        self.frozen_by: dict[int, set[str]] = {}  # id -> names of the layers that keep it whole

    def fresh(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                self.parent[max(rx, ry)] = min(rx, ry)

    def freeze(self, ids: np.ndarray, why: str, by: str = "") -> None:
        for i in np.unique(ids).tolist():
            self.frozen.setdefault(i, why)
            self.frozen_by.setdefault(i, set()).add(by)


@dataclass
class _Node:
    layer: Any
    inputs: list[np.ndarray]  # channel ids along the last axis of each input tensor
    outputs: list[np.ndarray]
    in_shapes: list[tuple]
    out_shapes: list[tuple]
    why: str | None = None  # why channel pruning leaves this layer whole (None: it follows channels through it)


def _shape_list(shape) -> list[tuple]:
    if isinstance(shape, list):
        return [tuple(s) for s in shape]
    return [tuple(shape)]


def _config_nodes(model) -> tuple[list[dict], Any]:
    keras = tf_keras()
    view = keras.Model(model.inputs, model.outputs) if isinstance(model, keras.Sequential) else model
    return view.get_config()["layers"], view


def _is_reference(item: Any) -> bool:
    """A config's reference to a tensor: [layer name, node index, tensor index, (kwargs)]."""
    return (isinstance(item, (list, tuple)) and len(item) >= 3 and isinstance(item[0], str)
            and isinstance(item[1], int) and isinstance(item[2], int))


def _references(call: Any) -> list[tuple[str, int, int]]:
    """Every tensor a layer call reads, also those passed as keyword arguments (``tf.math.multiply(a, y=b)``)."""
    found: list[tuple[str, int, int]] = []
    stack = [call]
    while stack:
        item = stack.pop()
        if _is_reference(item):
            found.append(tuple(item[:3]))
            stack.extend(item[3:])
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found


def _why_tf_op(layer, call: Any) -> str | None:
    """None when a TFOpLambda acts element by element on tensors and scalars (see ELEMENTWISE_TF_OPS)."""
    function = layer.get_config().get("function")
    if function not in ELEMENTWISE_TF_OPS:
        return f"channel pruning does not follow the TensorFlow op {function}"
    stack = [call]
    while stack:
        item = stack.pop()
        if _is_reference(item):
            stack.extend(item[3:])
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif not isinstance(item, (int, float, bool, str, type(None))):
            return f"{function} with a {type(item).__name__} operand"
    if any(isinstance(v, (list, tuple)) and not _is_reference(v) for v in _operands(call)):
        return f"{function} with an array constant (one value per channel)"
    return None


def _operands(call: Any) -> list:
    """The values of a TFOpLambda call's keyword arguments (its operands besides the first tensor)."""
    items = [call] if _is_reference(call) else call if isinstance(call, list) else []
    out = []
    for item in items:
        if _is_reference(item) and len(item) > 3 and isinstance(item[3], dict):
            out += list(item[3].values())
    return out


def _why_unhandled(layer, kind: str, in_shapes: list[tuple], shared: bool) -> str | None:
    """None when channel pruning can follow channels through ``layer``, else why not."""
    keras = tf_keras()
    if shared:
        return "a shared layer (called more than once)"
    if isinstance(layer, keras.Model):
        return "a nested model"
    config = layer.get_config()
    if config.get("data_format") == "channels_first":
        return "channels_first data format"
    if kind == "TFOpLambda":  # element by element (checked by _why_tf_op): a merge of the tensors it reads
        return None
    if kind in SOURCES or kind in DEPTHWISE or kind in CHANNELWISE or kind in PASS_THROUGH or kind in MERGES:
        if kind in ("Conv1D", "Conv2D", "Conv3D") and config.get("groups", 1) != 1:
            return "a grouped convolution"
        if kind == "BatchNormalization":
            axis = list(config["axis"]) if hasattr(config["axis"], "__len__") else [config["axis"]]
            rank = len(in_shapes[0])
            if [a % rank for a in axis] != [rank - 1]:
                return f"normalizes over axis {config['axis']}, not the channel axis"
        if kind == "Activation" and config.get("activation") in MIXING_ACTIVATIONS:
            return f"{config['activation']} mixes channels"
        if kind == "PReLU":
            alpha = layer.get_weights()[0]
            if alpha.shape[-1] not in (1, in_shapes[0][-1]):
                return "its alpha does not follow the channel axis"
        if kind in MERGES and len({s[-1] for s in in_shapes} - {1}) > 1:
            return "its inputs have different channel counts"
        return None
    if kind in ("Flatten", "Concatenate", "Reshape", "InputLayer"):
        return None
    if kind == "Softmax":
        return "softmax mixes channels"
    return f"channel pruning does not handle {kind} layers"


def _trace(model) -> tuple[dict[str, _Node], _Ids, dict[str, str], dict[str, np.ndarray]]:
    """Follow channel ids through ``model``: per layer its input/output ids; ids that must stay; why."""
    entries, view = _config_nodes(model)
    ids = _Ids()
    tensors: dict[tuple[str, int, int], np.ndarray] = {}
    nodes: dict[str, _Node] = {}
    unhandled: dict[str, str] = {}
    sources: dict[str, np.ndarray] = {}
    for entry in entries:
        name = entry["config"]["name"] if "name" not in entry else entry["name"]
        layer = view.get_layer(name)
        kind = type(layer).__name__
        calls = entry.get("inbound_nodes") or []
        shared = len(calls) > 1
        for node_index, call in enumerate(calls or [[]]):
            referenced = [key for key in _references(call) if key in tensors]
            items = [call] if _is_reference(call) else call if isinstance(call, list) else []
            inbound = [tuple(item[:3]) for item in items if _is_reference(item)]
            why = None
            if kind == "TFOpLambda":
                why = _why_tf_op(layer, call)
                inbound = referenced
            elif len(inbound) != len(items) or any(key not in tensors for key in inbound):
                why = "its inputs cannot be read from the model config"
            elif len(referenced) != len(inbound):
                why = "it takes tensors as keyword arguments"
            inputs = [tensors[key] for key in (referenced if why else inbound)]
            try:
                in_shapes = _shape_list(layer.get_input_shape_at(node_index)) if inputs else []
                out_shapes = _shape_list(layer.get_output_shape_at(node_index))
            except (RuntimeError, ValueError, AttributeError) as exc:
                raise OptimizeError(f"channel pruning cannot read the shapes of layer {name!r}: {_first_line(exc)}") from None
            if why is None and kind == "TFOpLambda" and {len(a) for a in inputs} - {1, out_shapes[0][-1]}:
                why = "its operands have different channel counts"
            if kind == "InputLayer":
                outputs = [ids.fresh(int(out_shapes[0][-1]))]
                ids.freeze(outputs[0], "the model input")
            else:
                why = why or _why_unhandled(layer, kind, in_shapes, shared)
                if why is None:
                    outputs = _propagate(layer, kind, inputs, in_shapes, out_shapes, ids, sources)
                    if outputs is None:
                        why = "it changes the channel axis (only reshapes that keep the last axis are followed)"
                if why is not None:
                    unhandled[name] = why
                    for array in inputs:
                        ids.freeze(array, f"read by {kind} {name!r}, which channel pruning leaves whole ({why})", name)
                    outputs = [ids.fresh(int(s[-1])) if s and s[-1] is not None else ids.fresh(0) for s in out_shapes]
                    for array in outputs:
                        ids.freeze(array, f"made by {kind} {name!r} ({why})")
            for t, array in enumerate(outputs):
                tensors[(name, node_index, t)] = array
            # a shared layer (left whole) is called more than once: each call counts its MACs
            nodes[name if node_index == 0 else f"{name}#{node_index}"] = _Node(layer, inputs, outputs, in_shapes, out_shapes, why)
    for tensor in view.outputs:
        history = tensor._keras_history
        array = tensors[(history.layer.name, history.node_index, history.tensor_index)]
        ids.freeze(array, f"reaches the model output {history.layer.name!r}")
    return nodes, ids, unhandled, sources


def _propagate(layer, kind, inputs, in_shapes, out_shapes, ids: _Ids, sources) -> list[np.ndarray] | None:
    config = layer.get_config()
    if kind in SOURCES:
        out = ids.fresh(int(out_shapes[0][-1]))
        sources[layer.name] = out
        if config.get("activation") in MIXING_ACTIVATIONS:
            ids.freeze(out, f"{config['activation']} in {layer.name!r} mixes its output channels")
        return [out]
    if kind in DEPTHWISE:
        return [np.repeat(inputs[0], int(config.get("depth_multiplier", 1)))]
    if kind in CHANNELWISE or kind in PASS_THROUGH:
        return [inputs[0]]
    if kind in MERGES or kind == "TFOpLambda":
        full = [a for a in inputs if len(a) > 1] or inputs
        for other in full[1:]:
            ids.union(full[0], other)
        return [full[0]]
    if kind == "Concatenate":
        rank = len(in_shapes[0])
        if config["axis"] % rank == rank - 1:
            return [np.concatenate(inputs)]
        for other in inputs[1:]:
            ids.union(inputs[0], other)
        return [inputs[0]]
    if kind == "Flatten":
        spatial = in_shapes[0][1:-1]
        if any(s is None for s in spatial):
            return None
        return [np.tile(inputs[0], int(np.prod(spatial, dtype=np.int64)))]
    if kind == "Reshape":
        if in_shapes[0][-1] != out_shapes[0][-1]:
            return None
        return [inputs[0]]
    raise AssertionError(kind)  # _why_unhandled lets only the kinds above through


# ---- importance, groups, allocation ------------------------------------------------------------------------
@dataclass
class _Plan:
    nodes: dict[str, _Node]
    ids: _Ids
    roots: np.ndarray  # id -> component index (compact)
    frozen: np.ndarray  # component -> must stay
    importance: np.ndarray  # component -> summed normalized importance
    groups: list[tuple[tuple[str, ...], np.ndarray]]  # (source layers, component indices)
    group_frozen: list[str]  # reason a group has frozen components ("" = none)
    unhandled: dict[str, str]
    terms: list[tuple[float, np.ndarray | None, np.ndarray | None]]  # MAC terms: factor × kept(in) × kept(out)


def _weights_by_name(layer) -> dict[str, np.ndarray]:
    return {w.name.split("/")[-1].split(":")[0]: value for w, value in zip(layer.weights, layer.get_weights())}


def _bn_scales(nodes: dict[str, _Node]) -> dict[int, float]:
    """id -> |gamma| / sqrt(var + eps) of the first BatchNormalization each channel meets."""
    scales: dict[int, float] = {}
    for node in nodes.values():
        layer = node.layer
        if type(layer).__name__ != "BatchNormalization" or not node.inputs:
            continue
        w = _weights_by_name(layer)
        gamma = w.get("gamma", np.ones_like(w["moving_variance"]))
        scale = np.abs(gamma) / np.sqrt(w["moving_variance"] + layer.epsilon)
        for i, s in zip(node.inputs[0].tolist(), scale.tolist()):
            scales.setdefault(i, s)
    return scales


def _filters(layer) -> np.ndarray:
    kind = type(layer).__name__
    weight = _weights_by_name(layer)[SCORED_WEIGHT.get(kind, "kernel")]
    out_axis = next(a for a, role in WEIGHT_AXES[kind][SCORED_WEIGHT.get(kind, "kernel")].items() if role == "out")
    moved = np.moveaxis(weight, out_axis, 0)
    return moved.reshape(moved.shape[0], -1).astype(np.float64)


def _mac_terms(nodes: dict[str, _Node]) -> list[tuple[float, np.ndarray | None, np.ndarray | None]]:
    """MACs of each layer as factor × (kept input channels) × (kept output channels); None = 1."""
    terms = []
    for node in nodes.values():
        layer, kind = node.layer, type(node.layer).__name__
        if not node.inputs or kind not in WEIGHT_AXES or kind in CHANNELWISE:
            continue
        in_shape, out_shape = node.in_shapes[0], node.out_shapes[0]
        if any(s is None for s in out_shape[1:]) or any(s is None for s in in_shape[1:]):
            continue
        kernel = int(np.prod(getattr(layer, "kernel_size", (1,))))
        spatial_out = int(np.prod(out_shape[1:-1], dtype=np.int64))
        if kind in DEPTHWISE:
            terms.append((spatial_out * kernel, None, node.outputs[0]))
        elif kind.startswith("SeparableConv"):
            mid = np.repeat(node.inputs[0], int(layer.depth_multiplier))
            terms.append((spatial_out * kernel, None, mid))
            terms.append((spatial_out, mid, node.outputs[0]))
        elif kind == "Conv2DTranspose":
            terms.append((int(np.prod(in_shape[1:-1])) * kernel, node.inputs[0], node.outputs[0]))
        else:
            terms.append((spatial_out * kernel, node.inputs[0], node.outputs[0]))
    return terms


def _plan(model, criterion: str) -> _Plan:
    if criterion not in CRITERIA:
        raise OptimizeError(f"unknown channel importance criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    nodes, ids, unhandled, sources = _trace(model)
    n_ids = len(ids.parent)
    root_of = np.array([ids.find(i) for i in range(n_ids)], dtype=np.int64)
    unique_roots, roots = np.unique(root_of, return_inverse=True)
    frozen = np.zeros(len(unique_roots), dtype=bool)
    frozen_why: dict[int, str] = {}
    frozen_by: dict[int, set[str]] = {}
    for i, why in ids.frozen.items():
        frozen[roots[i]] = True
        frozen_why.setdefault(int(roots[i]), why)
        frozen_by.setdefault(int(roots[i]), set()).update(ids.frozen_by[i])
    # name a layer left whole when it would have been pruned (a shared conv), or when it keeps channels that nothing
    # else keeps; not a preprocessing layer on the model input, nor a softmax on the model output
    unhandled = {name: why for name, why in unhandled.items() if type(nodes[name].layer).__name__ in SOURCES
                 or any(frozen_by[int(roots[i])] == {name} for array in nodes[name].inputs for i in array.tolist())}
    importance = np.zeros(len(unique_roots))
    scales = _bn_scales(nodes) if criterion == "l1-bn" else {}
    for name, out in sources.items():
        bn = np.array([scales.get(i, 1.0) for i in out.tolist()]) if scales else None
        score = CRITERIA[criterion](_filters(nodes[name].layer), bn)
        mean = float(score.mean())
        np.add.at(importance, roots[out], score / mean if mean > 0 else np.ones_like(score))
    # groups: source layers that share components
    owner: dict[int, str] = {}
    parent = {name: name for name in sources}

    def top(n):
        while parent[n] != n:
            n = parent[n]
        return n

    for name, out in sources.items():
        for c in set(roots[out].tolist()):
            if c in owner:
                a, b = top(owner[c]), top(name)
                if a != b:
                    parent[b] = a
            else:
                owner[c] = name
    members: dict[str, list[str]] = {}
    for name in sources:
        members.setdefault(top(name), []).append(name)
    groups, group_frozen = [], []
    for layers in members.values():
        comps = np.unique(np.concatenate([roots[sources[n]] for n in layers]))
        groups.append((tuple(layers), comps))
        group_frozen.append(next((frozen_why[int(c)] for c in comps if frozen[c]), ""))
    # a component's importance per member: groups of several layers sum several scores
    for layers, comps in groups:
        importance[comps] /= len(layers)
    return _Plan(nodes, ids, roots, frozen, importance, groups, group_frozen, unhandled, _mac_terms(nodes))


def _macs(plan: _Plan, keep: np.ndarray) -> int:
    total = 0
    for factor, a, b in plan.terms:
        n_in = 1 if a is None else int(keep[plan.roots[a]].sum())
        n_out = 1 if b is None else int(keep[plan.roots[b]].sum())
        total += int(factor) * n_in * n_out
    return total


def _round_up(n: float, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple) if multiple > 1 else int(math.ceil(n))


@dataclass(frozen=True)
class _Rules:
    ratio: float | None
    ratios: dict[str, float]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    min_channels: int
    round_to: int


def _eligible(plan: _Plan, rules: _Rules, model) -> list[str]:
    """Per group: "" if it may be pruned, else why it is left whole."""
    classes = {name: type(plan.nodes[name].layer).__name__ for layers, _ in plan.groups for name in layers}
    known = {l.name for l in model.layers} | {type(l).__name__ for l in model.layers}
    for entry, what in [(e, "include") for e in rules.include] + [(e, "exclude") for e in rules.exclude] + \
            [(e, "ratios") for e in rules.ratios]:
        if entry not in known:
            raise OptimizeError(f"channel pruning {what} {entry!r} matches no layer name or layer type in {model.name!r}; "
                                f"prunable layers: {', '.join(f'{n} ({c})' for n, c in classes.items()) or 'none'}")
    out = []
    for (layers, comps), why in zip(plan.groups, plan.group_frozen):
        match = lambda names: any(n in names or classes[n] in names for n in layers)  # noqa: E731
        if rules.exclude and match(rules.exclude):
            out.append("excluded")
        elif rules.include and not match(rules.include):
            out.append("not in include")
        elif why and plan.frozen[comps].all():
            out.append(f"left whole: {why}")
        else:
            out.append("")
    return out


def _floor(plan: _Plan, comps: np.ndarray, rules: _Rules) -> int:
    """The fewest components a group may keep."""
    n = len(comps)
    return min(n, max(1, rules.min_channels, int(plan.frozen[comps].sum())))


def _keep_count(n: int, floor: int, ratio: float, round_to: int) -> int:
    return min(n, _round_up(max(floor, n * (1.0 - ratio)), round_to))


def _select(plan: _Plan, counts: list[int]) -> np.ndarray:
    """Keep, per group, its frozen components and then the most important ones up to its count."""
    keep = np.ones(len(plan.frozen), dtype=bool)
    for (layers, comps), count in zip(plan.groups, counts):
        order = sorted(comps.tolist(), key=lambda c: (not plan.frozen[c], -plan.importance[c], c))
        keep[order[count:]] = False
    return keep


def _uniform_counts(plan: _Plan, rules: _Rules, eligible: list[str]) -> list[int]:
    counts = []
    for (layers, comps), why in zip(plan.groups, eligible):
        if why:
            counts.append(len(comps))
            continue
        ratio = min((rules.ratios[n] for n in layers if n in rules.ratios), default=rules.ratio)
        counts.append(_keep_count(len(comps), _floor(plan, comps, rules), ratio, rules.round_to))
    return counts


def _global_counts(plan: _Plan, rules: _Rules, eligible: list[str], max_macs: int) -> list[int]:
    """Remove the least important components across all eligible groups until the MACs fit ``max_macs``."""
    floors = [len(c) if why else _floor(plan, c, rules) for (_, c), why in zip(plan.groups, eligible)]
    ranked = []  # (importance, group index) of every removable component, least important first
    for g, ((layers, comps), why) in enumerate(zip(plan.groups, eligible)):
        if not why:
            ranked += [(plan.importance[c], c, g) for c in comps.tolist() if not plan.frozen[c]]
    ranked.sort()

    def counts_after(k: int) -> list[int]:
        removed = [0] * len(plan.groups)
        for _, _, g in ranked[:k]:
            removed[g] += 1
        out = []
        for g, (_, comps) in enumerate(plan.groups):
            n = len(comps)
            out.append(min(n, _round_up(max(floors[g], n - removed[g]), rules.round_to)))
        return out

    lo, hi = 0, len(ranked)
    if _macs(plan, _select(plan, counts_after(hi))) > max_macs:
        smallest = _macs(plan, _select(plan, counts_after(hi)))
        raise OptimizeError(f"max_macs {max_macs:,} is below the smallest model channel pruning can reach here "
                            f"({smallest:,} MACs with min_channels {rules.min_channels}); raise max_macs or lower min_channels")
    while lo < hi:
        mid = (lo + hi) // 2
        if _macs(plan, _select(plan, counts_after(mid))) <= max_macs:
            hi = mid
        else:
            lo = mid + 1
    return counts_after(lo)


# ---- rebuild -----------------------------------------------------------------------------------------------
def _slice(value: np.ndarray, axes: dict[int, str], masks: dict[str, np.ndarray]) -> np.ndarray:
    for axis, role in axes.items():
        mask = masks[role]
        if value.shape[axis] == len(mask):
            value = np.compress(mask, value, axis=axis)
        elif value.shape[axis] != 1:
            raise AssertionError(f"{role} axis {axis} of shape {value.shape} vs {len(mask)} channels")
    return value


def _rebuild(model, plan: _Plan, keep: np.ndarray):
    keras = tf_keras()
    configs: dict[str, dict] = {}
    weights: dict[str, list[np.ndarray]] = {}
    for name, node in plan.nodes.items():
        layer, kind = node.layer, type(node.layer).__name__
        if node.why is not None or not node.inputs:
            continue
        in_mask = keep[plan.roots[node.inputs[0]]]
        out_mask = keep[plan.roots[node.outputs[0]]]
        if in_mask.all() and out_mask.all():
            continue
        config = layer.get_config()
        if kind in SOURCES:
            config[SOURCES[kind]] = int(out_mask.sum())
        elif kind == "Reshape":
            config["target_shape"] = tuple(config["target_shape"][:-1]) + (int(out_mask.sum()),)
        configs[name] = config
        if kind in WEIGHT_AXES:
            masks = {"in": in_mask, "out": out_mask}
            if kind.startswith("SeparableConv"):
                masks["mid"] = np.repeat(in_mask, int(layer.depth_multiplier))
            table = WEIGHT_AXES[kind]
            weights[name] = [_slice(value, table.get(w.name.split("/")[-1].split(":")[0], {}), masks)
                             for w, value in zip(layer.weights, layer.get_weights())]

    def clone(layer):
        return layer.__class__.from_config(configs.get(layer.name, layer.get_config()))

    try:
        with quiet_native():
            smaller = keras.models.clone_model(model, clone_function=clone)
    except (ValueError, TypeError, RuntimeError, AttributeError) as exc:
        raise OptimizeError(f"channel pruning could not rebuild {model.name!r}: {_first_line(exc)}") from None
    for layer in model.layers:
        if not layer.weights:
            continue
        target = smaller.get_layer(layer.name)
        target.set_weights(weights.get(layer.name, layer.get_weights()))
    return smaller


# ---- public ------------------------------------------------------------------------------------------------
def prune_channels(
    model,
    ratio: float | None = 0.5,
    criterion: str = "l1",
    ratios: dict[str, float] | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    min_channels: int = 1,
    round_to: int = 1,
    max_macs: int | None = None,
) -> ChannelPruning:
    """Remove output channels from ``model`` (tf-keras, Sequential or Functional) and return a smaller model.

    ``ratio``: the share of each group's channels to remove (uniform allocation); ``ratios`` overrides it per
    layer name. ``max_macs``: allocate globally instead, removing the least important channels anywhere until the
    model needs at most that many multiply-accumulates. No fine-tuning happens here."""
    check_wrappable(model)
    if (ratio is None) == (max_macs is None):
        raise OptimizeError("give a channel ratio (uniform allocation) or max_macs (global allocation), one of the two")
    rules = _Rules(ratio, dict(ratios or {}), tuple(include), tuple(exclude), int(min_channels), int(round_to))
    plan = _plan(model, criterion)
    eligible = _eligible(plan, rules, model)
    everything = np.ones(len(plan.frozen), dtype=bool)
    before = _macs(plan, everything)
    if max_macs is None:
        counts = _uniform_counts(plan, rules, eligible)
    else:
        counts = _global_counts(plan, rules, eligible, int(max_macs))
    keep = _select(plan, counts)
    smaller = _rebuild(model, plan, keep)
    reports = []
    for (layers, comps), why, count, frozen_why in zip(plan.groups, eligible, counts, plan.group_frozen):
        note = why or (f"{int(plan.frozen[comps].sum())} channel(s) kept: {frozen_why}" if frozen_why else "")
        reports.append(ChannelGroup(layers, len(comps), count, note))
    kept = {name: np.flatnonzero(keep[plan.roots[node.outputs[0]]]) for name, node in plan.nodes.items() if node.outputs}
    return ChannelPruning(groups=tuple(reports), macs_before=before, macs_after=_macs(plan, keep),
                          params_before=int(model.count_params()), params_after=int(smaller.count_params()),
                          unhandled=dict(plan.unhandled), model=smaller, kept=kept)
