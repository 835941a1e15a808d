"""The bridge between Keras 3 and Keras 2 (tf-keras), checked numerically both ways.

tensorflow-model-optimization (pruning, clustering, quantization-aware training) only works on tf-keras models, and
tf-keras cannot read what ``tf.keras`` saves since TensorFlow 2.16 (Keras 3). :func:`to_tf_keras` rebuilds a Keras 3
model in tf-keras — layer by layer from its config, translating what differs (the table below), wiring the layers as
the Keras 3 graph wires them, copying the weights — and verifies on seeded inputs that both give the same outputs.
:func:`to_keras3` does the reverse for an optimized (stripped) tf-keras model, so a Keras 3 user gets a ``.keras``
file back.

What cannot be bridged (custom or subclassed models, layers with no counterpart on the other side, arguments the
other Keras does not have) raises :class:`BridgeError` naming every blocking layer; conversion and post-training
quantization still work on the Keras 3 model directly (``edgekit.convert``).

>>> from edgekit.keras.bridge import load_as_tf_keras, to_keras3
>>> bridged = load_as_tf_keras("model.keras")          # BridgeResult: .model is a tf-keras model
>>> ...prune / cluster / QAT bridged.model with tfmot, strip...
>>> to_keras3(stripped, "pruned.keras")                # BridgeResult: .path is the Keras 3 file
"""

from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import BridgeError
from edgekit.metrics import max_abs_error, rel_max_error

DEFAULT_TOLERANCE = 1e-5  # relative max error: max |a - b| / max |a|
VERIFY_SAMPLES = 16
VERIFY_SEED = 0

# Layer-config arguments one Keras has and the other does not, with the value that means "the other Keras' behaviour".
# An argument missing on the target side is dropped when its value is None/False or listed here; any other value
# blocks the bridge for that layer (its behaviour could not be reproduced).
NEUTRAL_ARGS: dict[str, tuple] = {
    "optional": (False,),  # Keras 3 InputLayer
    "use_cudnn": ("auto",),  # Keras 3 LSTM/GRU: an implementation choice, same maths
    "groups": (1,),  # tf-keras DepthwiseConv2D/SeparableConv2D configs of Keras 2.x
    "synchronized": (False,),  # BatchNormalization
    "rms_scaling": (False,),  # Keras 3 LayerNormalization
    "lora_rank": (None,),
    "lora_alpha": (None,),
    "quantization_config": (None,),
    "input_axes": (None,),  # Keras 3.13+ variance-scaling initializers
    "output_axes": (None,),
    "seed": (None,),
    "implementation": (1, 2),  # tf-keras LSTM/GRU: an implementation choice, same maths
}
# Arguments dropped whatever their value: they only describe shapes the rebuilt graph gets from its Input layers,
# or are unused by the layer they are serialized with.
IGNORED_ARGS = frozenset({"batch_input_shape", "input_length", "build_config"})
IGNORED_LAYER_ARGS = frozenset(
    {("SeparableConv1D", a) for a in ("kernel_initializer", "kernel_regularizer", "kernel_constraint")}
    | {("SeparableConv2D", a) for a in ("kernel_initializer", "kernel_regularizer", "kernel_constraint")}
)
# Arguments renamed between the two: (class name, Keras 3 name) -> tf-keras name.
RENAMED_ARGS_TO_TF_KERAS: dict[tuple[str, str], str] = {("InputLayer", "batch_shape"): "batch_input_shape"}
RENAMED_ARGS_TO_KERAS3: dict[tuple[str, str], str] = {(c, new): old for (c, old), new in RENAMED_ARGS_TO_TF_KERAS.items()}
# Keras 3 dtype-policy classes whose config names a plain policy ("float32", "mixed_float16") tf-keras understands.
PLAIN_DTYPE_POLICIES = frozenset({"DTypePolicy", "FloatDTypePolicy", "Policy"})
# Wrappers tfmot leaves in a model that was not stripped, and why they cannot go to Keras 3.
TFMOT_WRAPPERS = {
    "PruneLowMagnitude": "a pruning wrapper: strip it first with tfmot.sparsity.keras.strip_pruning",
    "ClusterWeights": "a clustering wrapper: strip it first with tfmot.clustering.keras.strip_clustering",
    "ClusterWeightsMHA": "a clustering wrapper: strip it first with tfmot.clustering.keras.strip_clustering",
    "QuantizeWrapper": "a quantization-aware-training wrapper with fake-quant ops Keras 3 has no layer for; ship the int8 TFLite",
    "QuantizeWrapperV2": "a quantization-aware-training wrapper with fake-quant ops Keras 3 has no layer for; ship the int8 TFLite",
    "QuantizeLayer": "a quantization-aware-training input quantizer Keras 3 has no layer for; ship the int8 TFLite",
}
STILL_WORKS = (
    "conversion (TFLite float/dynamic/float16/int8/16x8, ONNX) and post-training quantization still work on the model "
    "as it is, without the bridge"
)


@dataclass(frozen=True)
class BridgeResult:
    model: Any  # the rebuilt model: tf-keras for to_tf_keras / load_as_tf_keras, Keras 3 for to_keras3
    direction: str  # "keras3->tf_keras", "tf_keras->keras3" or "tf_keras" (a Keras 2 file, nothing to bridge)
    max_abs_error: float  # largest |original - rebuilt| over every output on the verification inputs
    rel_error: float  # max_abs_error / max |original|
    tolerance: float
    inputs: str  # what the verification ran on
    layers: int  # layers rebuilt (nested models counted by their layers)
    path: str | None = None  # the file written (to_keras3 with a path)
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "model"}


# --------------------------------------------------------------------------------------------------- public API


def load_as_tf_keras(path: str | os.PathLike, trust_model: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> BridgeResult:
    """A tf-keras model for ``path``, whatever Keras saved it: a Keras 2 file loads with tf-keras as it is
    (``direction="tf_keras"``); a Keras 3 file loads with Keras 3 and is bridged and verified."""
    from edgekit.keras.loading import inspect_model_file, load_keras3_model, load_keras_model

    model_file = inspect_model_file(path)
    if model_file.keras_major is not None and model_file.keras_major >= 3:
        return to_tf_keras(load_keras3_model(path, trust_model=trust_model), tolerance=tolerance)
    model = load_keras_model(path, trust_model=trust_model)
    return BridgeResult(model, "tf_keras", 0.0, 0.0, tolerance, "none (loaded as saved)", len(model.layers))


def bridge_blockers(model3: Any) -> list[str]:
    """What stops ``model3`` (a Keras 3 model) from being rebuilt in tf-keras: one entry per blocking layer or
    argument, empty when the bridge applies."""
    from edgekit._tf import keras3, tf_keras

    return _Bridge(keras3(), tf_keras(), to_tf_keras=True).blockers_of(model3)


def to_tf_keras(model3: Any, tolerance: float = DEFAULT_TOLERANCE, seed: int = VERIFY_SEED) -> BridgeResult:
    """Rebuild a Keras 3 model in tf-keras, copy its weights and verify the outputs match (relative max error at
    most ``tolerance`` on seeded inputs). The caller's model is not changed."""
    from edgekit._tf import keras3, tf_keras

    k3, k2 = keras3(), tf_keras()
    bridge = _Bridge(k3, k2, to_tf_keras=True)
    model2 = bridge.rebuild(model3)
    _compile_like(model3, model2, bridge)
    return _verified(model3, model2, bridge, "keras3->tf_keras", tolerance, seed)


def to_keras3(model2: Any, path: str | os.PathLike | None = None, tolerance: float = DEFAULT_TOLERANCE, seed: int = VERIFY_SEED) -> BridgeResult:
    """Rebuild a (stripped) tf-keras model in Keras 3, copy its weights, verify the outputs match, and write it to
    ``path`` (a ``.keras`` file, atomically) when given. tfmot wrappers that were not stripped block it with a note
    saying why (quantization-aware-training models stay tf-keras: their deliverable is the int8 TFLite)."""
    from edgekit._tf import keras3, tf_keras

    if path is not None and Path(path).suffix not in (".keras", ".h5"):
        raise BridgeError(f"a Keras 3 model is written as a .keras or .h5 file; got {Path(path).name!r}")
    k3, k2 = keras3(), tf_keras()
    bridge = _Bridge(k3, k2, to_tf_keras=False)
    model3 = bridge.rebuild(model2)
    _compile_like(model2, model3, bridge)
    result = _verified(model2, model3, bridge, "tf_keras->keras3", tolerance, seed)
    if path is None:
        return result
    from edgekit._fs import atomic_path
    from edgekit._log import quiet_native

    with atomic_path(path) as tmp:
        keras_tmp = tmp.with_name(tmp.name + Path(path).suffix)  # Keras 3 picks the format by the suffix
        try:
            with quiet_native():
                model3.save(keras_tmp)
            keras_tmp.replace(tmp)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return BridgeResult(**{**result.__dict__, "path": str(path)})


def save_like_source(model2: Any, loaded: BridgeResult, path: str | os.PathLike) -> tuple[str, str | None]:
    """Write an optimized tf-keras model in the Keras the user came with, and say where.

    ``loaded`` is what :func:`load_as_tf_keras` returned for the user's file. A Keras 3 user gets a Keras 3 model
    (rebuilt and verified) at ``path`` as given: ``.keras``, or ``.h5`` (Keras 3's HDF5 format) when that is what
    was asked for, never a silently renamed file; where no Keras 3 model can be written (a quantization-aware-
    training model), the tf-keras model is written instead, as ``.h5``, with a note saying why. Returns (path
    written, note or None)."""
    from edgekit._fs import atomic_path
    from edgekit._log import quiet_native

    target = Path(path)
    note = None
    if loaded.direction == "keras3->tf_keras":
        try:
            return to_keras3(model2, target if target.suffix in (".keras", ".h5") else target.with_suffix(".keras")).path, None
        except BridgeError as exc:
            target = target.with_suffix(".h5")
            note = f"only the tf-keras model could be written ({target.name}), not a Keras 3 one: {exc}"
    with atomic_path(target) as tmp, quiet_native(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf-keras calls .h5 "legacy"; it is the format the user gave
        model2.save(str(tmp))
    return str(target), note


# --------------------------------------------------------------------------------------------------- the rebuild


class _Bridge:
    """One rebuild in one direction: ``src`` is the Keras the model comes from, ``dst`` the one it goes to."""

    def __init__(self, k3: Any, k2: Any, to_tf_keras: bool):
        self.k3, self.k2 = k3, k2
        self.to_tf_keras = to_tf_keras
        self.src, self.dst = (k3, k2) if to_tf_keras else (k2, k3)
        self.dst_name = "tf-keras" if to_tf_keras else "Keras 3"
        self.pairs: list[tuple[Any, Any]] = []  # (source layer, rebuilt layer) for the weight copy
        self.notes: list[str] = []

    # ---- what blocks it
    def blockers_of(self, model: Any) -> list[str]:
        blockers: list[str] = []
        if not self._is_graph_model(model):
            return [f"{model.name} ({type(model).__name__}): a subclassed model; its call() is Python code, not a layer graph"]
        if self.to_tf_keras and not isinstance(model, self.src.Sequential):
            for node in self._nodes(model):
                op = node.operation
                if not isinstance(op, self.k3.layers.Layer):
                    blockers.append(f"{op.name} ({type(op).__name__}): a keras.ops operation, not a layer; tf-keras has no counterpart")
        for layer in model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            if self._is_graph_model(layer) or (isinstance(layer, self.src.Model) and not self._is_graph_model(layer)):
                blockers += self.blockers_of(layer) if self._is_graph_model(layer) else [
                    f"{layer.name} ({type(layer).__name__}): a subclassed model; its call() is Python code, not a layer graph"
                ]
                continue
            try:
                self._layer_config(layer)
            except BridgeError as exc:
                blockers.extend(exc.blockers)
        return blockers

    def _raise_if_blocked(self, model: Any) -> None:
        blockers = self.blockers_of(model)
        if blockers:
            raise BridgeError(
                f"{model.name} cannot be rebuilt in {self.dst_name}; blocked by: " + "; ".join(blockers)
                + (f". Pruning, clustering and quantization-aware training need tf-keras, but {STILL_WORKS}"
                   if self.to_tf_keras else ". The optimized tf-keras model is still usable (and its TFLite/ONNX artifacts)"),
                tuple(blockers),
            )

    # ---- the model
    def rebuild(self, model: Any) -> Any:
        self._raise_if_blocked(model)
        return self._rebuild(model)

    def _is_graph_model(self, obj: Any) -> bool:
        return isinstance(obj, (self.src.Sequential,)) or type(obj).__name__ == "Functional"

    def _rebuild(self, model: Any) -> Any:
        if isinstance(model, self.src.Sequential):
            return self._rebuild_sequential(model)
        return self._rebuild_functional(model)

    def _input(self, tensor: Any, name: str) -> Any:
        shape = tuple(None if d is None else int(d) for d in tensor.shape)
        dtype = getattr(tensor.dtype, "name", tensor.dtype)
        return self.dst.Input(batch_shape=shape, dtype=dtype, name=name)

    def _rebuild_sequential(self, model: Any) -> Any:
        layers = [self._layer(layer) for layer in model.layers]
        inputs = [self._input(model.inputs[0], _input_name(model, 0, self.to_tf_keras))] if getattr(model, "inputs", None) else []
        return self.dst.Sequential(inputs + layers, name=model.name)

    def _nodes(self, model: Any) -> list[Any]:
        by_depth = model._nodes_by_depth  # both Kerases keep the graph this way; there is no public accessor
        return [n for depth in sorted(by_depth, reverse=True) for n in by_depth[depth]]

    def _rebuild_functional(self, model: Any) -> Any:
        tensors: dict[int, Any] = {}
        for i, t in enumerate(model.inputs):
            tensors[id(t)] = self._input(t, _input_name(model, i, self.to_tf_keras))
        created: dict[int, Any] = {}
        for node in self._nodes(model):
            op, args, kwargs, outputs = self._node_parts(node)
            if op is None:
                continue
            if id(op) not in created:
                created[id(op)] = self._layer(op)
            mapped_args = self._map_tensors(args, tensors)
            mapped_kwargs = {k: self._map_tensors(v, tensors) for k, v in kwargs.items() if v is not None}
            out = created[id(op)](*mapped_args, **mapped_kwargs)
            for t_src, t_dst in zip(outputs, _flatten(out)):
                tensors[id(t_src)] = t_dst
        inputs = [tensors[id(t)] for t in model.inputs]
        outputs = [tensors[id(t)] for t in model.outputs]
        return self.dst.Model(
            inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0], name=model.name
        )

    def _node_parts(self, node: Any) -> tuple[Any, tuple, dict, list]:
        if self.to_tf_keras:  # Keras 3 node
            if node.is_input:
                return None, (), {}, []
            return node.operation, tuple(node.arguments.args), dict(node.arguments.kwargs), list(node.outputs)
        if node.is_input:  # tf-keras node
            return None, (), {}, []
        return node.layer, tuple(node.call_args), dict(node.call_kwargs), _flatten(node.outputs)

    def _map_tensors(self, structure: Any, tensors: dict[int, Any]) -> Any:
        if isinstance(structure, (list, tuple)):
            return type(structure)(self._map_tensors(s, tensors) for s in structure)
        if isinstance(structure, dict):
            return {k: self._map_tensors(v, tensors) for k, v in structure.items()}
        return tensors.get(id(structure), structure)

    # ---- one layer
    def _layer(self, layer: Any) -> Any:
        if self._is_graph_model(layer):
            return self._rebuild(layer)
        class_name, config = self._layer_config(layer)
        cls = getattr(self.dst.layers, class_name)
        try:
            rebuilt = cls.from_config(config)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BridgeError(
                f"{layer.name} ({class_name}) could not be rebuilt in {self.dst_name}: {first[:200]}",
                (f"{layer.name} ({class_name}): {first[:200]}",),
            ) from None
        self.pairs.append((layer, rebuilt))
        return rebuilt

    def _layer_config(self, layer: Any) -> tuple[str, dict]:
        class_name = type(layer).__name__
        module = type(layer).__module__
        src_root = "keras" if self.to_tf_keras else "tf_keras"
        if class_name in TFMOT_WRAPPERS:
            raise BridgeError("", (f"{layer.name} ({class_name}): {TFMOT_WRAPPERS[class_name]}",))
        if module.split(".")[0] != src_root:
            raise BridgeError("", (f"{layer.name} ({class_name}): a custom layer from {module}",))
        if class_name in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
            raise BridgeError("", (f"{layer.name} ({class_name}): runs Python code the bridge will not carry over",))
        cls = getattr(self.dst.layers, class_name, None)
        if cls is None or not isinstance(cls, type):
            raise BridgeError("", (f"{layer.name} ({class_name}): {self.dst_name} has no {class_name} layer",))
        problems: list[str] = []
        config = self._translate(layer.get_config(), problems, where=f"{layer.name} ({class_name})")
        config = self._fit(cls, class_name, config, problems, where=f"{layer.name} ({class_name})")
        if problems:
            raise BridgeError("", tuple(problems))
        return class_name, config

    def _translate(self, value: Any, problems: list[str], where: str) -> Any:
        """Serialized objects inside a layer config (initializers, regularizers, constraints, dtype policies,
        wrapped layers) in the target Keras' format."""
        if isinstance(value, list):
            return [self._translate(v, problems, where) for v in value]
        if not isinstance(value, dict):
            return value
        if "class_name" in value and "config" in value:
            class_name = value["class_name"]
            inner = value["config"]
            if self.to_tf_keras and class_name in PLAIN_DTYPE_POLICIES and isinstance(inner, dict):
                return inner.get("name", "float32")
            if class_name.endswith("DTypePolicy") or class_name.startswith("Quantized"):
                problems.append(f"{where}: dtype policy {class_name} (quantized Keras 3 layers) has no tf-keras counterpart")
                return None
            if not isinstance(inner, dict):
                return {"class_name": class_name, "config": inner}
            translated = self._translate(inner, problems, where)
            module = value.get("module") or ""
            target = self._target_class(module, class_name)
            if target is not None:
                translated = self._fit(target, class_name, translated, problems, where=f"{where} {class_name}")
            if not self.to_tf_keras:
                return {"module": module or None, "class_name": class_name, "config": translated, "registered_name": None} if module else {"class_name": class_name, "config": translated}
            return {"class_name": class_name, "config": translated}
        return {k: self._translate(v, problems, where) for k, v in value.items()}

    def _target_class(self, module: str, class_name: str) -> Any:
        for part in ("initializers", "regularizers", "constraints", "layers"):
            if part in module or (not module and part == "initializers"):
                found = getattr(getattr(self.dst, part), class_name, None)
                if isinstance(found, type):
                    return found
        return None

    def _fit(self, cls: type, class_name: str, config: dict, problems: list[str], where: str) -> dict:
        """``config`` with only the arguments ``cls`` accepts: renamed ones renamed, neutral extras dropped, and a
        problem recorded for an extra argument whose value would change behaviour."""
        renames = RENAMED_ARGS_TO_TF_KERAS if self.to_tf_keras else RENAMED_ARGS_TO_KERAS3
        accepted = _accepted_args(cls)
        out: dict = {}
        for key, value in config.items():
            key = renames.get((class_name, key), key)
            if (key in IGNORED_ARGS and class_name != "InputLayer") or (class_name, key) in IGNORED_LAYER_ARGS:
                continue
            if class_name == "BatchNormalization" and key == "axis" and isinstance(value, list) and len(value) == 1:
                value = value[0]  # tf-keras writes [axis], Keras 3 wants an int
            if accepted is None or key in accepted:
                out[key] = value
            elif value is None or value is False or value in NEUTRAL_ARGS.get(key, ()) or value == []:
                continue
            else:
                problems.append(f"{where}: argument {key}={value!r} has no {self.dst_name} counterpart")
        return out


def _accepted_args(cls: type) -> set[str] | None:
    """Names a class' from_config accepts: its __init__ parameters along the MRO while they take **kwargs, plus
    the base-layer keywords. None when that cannot be told (accept everything)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        names |= {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n != "self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return names
    base = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape", "batch_input_shape", "batch_size",
            "weights", "activity_regularizer", "autocast", "implementation"}
    return names | base


def _flatten(structure: Any) -> list:
    if isinstance(structure, (list, tuple)):
        return [x for s in structure for x in _flatten(s)]
    if isinstance(structure, dict):
        return [x for k in sorted(structure) for x in _flatten(structure[k])]
    return [structure]


def _input_name(model: Any, index: int, from_keras3: bool) -> str:
    tensor = model.inputs[index]
    if from_keras3:
        return tensor.name
    layer = tensor._keras_history.layer if hasattr(tensor, "_keras_history") else None
    return layer.name if layer is not None else tensor.name.split(":")[0]


# --------------------------------------------------------------------------------------------------- weights, checks


def _copy_weights(bridge: _Bridge) -> None:
    for src, dst in bridge.pairs:
        values = src.get_weights()
        targets = dst.weights
        if len(values) == len(targets) and all(tuple(v.shape) == tuple(t.shape) for v, t in zip(values, targets)):
            dst.set_weights(values)
            _finalize(dst)
            continue
        by_name = {_weight_key(w): v for w, v in zip(src.weights, values)}
        try:
            dst.set_weights([by_name[_weight_key(t)] for t in targets])
            _finalize(dst)
        except (KeyError, ValueError):
            raise BridgeError(
                f"{src.name} ({type(src).__name__}): its weights "
                f"{[f'{_weight_key(w)}{tuple(w.shape)}' for w in src.weights]} do not map onto the rebuilt layer's "
                f"{[f'{_weight_key(w)}{tuple(w.shape)}' for w in targets]}",
                (f"{src.name} ({type(src).__name__}): weights do not map",),
            ) from None


def _finalize(layer: Any) -> None:
    """Preprocessing layers (Keras 3 Normalization) compute what they use from their weights in finalize_state();
    set_weights alone would leave them computing with the old values."""
    finalize = getattr(layer, "finalize_state", None)
    if callable(finalize) and type(layer).__name__ in ("Normalization",):
        finalize()


def _weight_key(weight: Any) -> str:
    name = getattr(weight, "path", None) or weight.name
    return name.split("/")[-1].split(":")[0]


def _compile_like(original: Any, rebuilt: Any, bridge: _Bridge) -> None:
    """Carry the compile settings over: the loss with its arguments (``from_logits`` decides whether fine-tuning
    trains the model or wrecks it) and the optimizer with its learning rate. Metrics are not carried: fine-tuning
    compiles its own."""
    loss = getattr(original, "loss", None)
    if not getattr(original, "optimizer", None) or loss is None:
        return
    rebuilt_loss = _translated_object(loss, bridge.dst.losses)
    if rebuilt_loss is None:
        bridge.notes.append("compile settings not carried over (the loss is not a built-in Keras loss)")
        return
    optimizer = _translated_object(original.optimizer, bridge.dst.optimizers) or "adam"
    try:
        rebuilt.compile(optimizer=optimizer, loss=rebuilt_loss)
    except Exception:
        bridge.notes.append(f"compile settings not carried over (loss {_describe(loss)} unknown to {bridge.dst_name})")
        return
    bridge.notes.append(f"compiled with loss {_describe(rebuilt_loss)} and optimizer {_describe(optimizer)}")


def _translated_object(obj: Any, namespace: Any) -> Any:
    """A loss or optimizer of the other Keras equal to ``obj``: the same class (``SparseCategoricalCrossentropy``,
    ``Adam``) with the constructor arguments both understand, or the same built-in function name; None when there is
    no counterpart. A loss compiled from a class keeps its arguments (``from_logits=True``), which a bare name would
    silently reset."""
    if isinstance(obj, str):
        return obj
    config = obj.get_config() if hasattr(obj, "get_config") else {}
    name = config.get("name") if isinstance(config.get("name"), str) else getattr(obj, "__name__", None)
    candidates = [type(obj).__name__, "".join(part.capitalize() for part in (name or "").split("_"))]
    cls = next((getattr(namespace, c) for c in candidates if isinstance(getattr(namespace, c, None), type)), None)
    if cls is None:
        return name if callable(getattr(namespace, name or "", None)) else None
    accepted = _accepted_args(cls) or set()
    arguments = {k: float(v) if isinstance(v, np.floating) else v for k, v in config.items()
                 if k in accepted and k != "name" and v is not None and not isinstance(v, dict)}
    try:
        return cls(**arguments)
    except (TypeError, ValueError):
        return None


def _describe(obj: Any) -> str:
    if isinstance(obj, str):
        return repr(obj)
    config = obj.get_config() if hasattr(obj, "get_config") else {}
    shown = {k: v for k, v in config.items() if k in ("from_logits", "learning_rate")}
    return type(obj).__name__ + (f"({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in shown.items())})" if shown else "")


def _verification_inputs(model: Any, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = [VERIFY_SAMPLES] + [8 if d is None else int(d) for d in tensor.shape[1:]]
        limit = _embedding_limit(model, tensor)
        dtype = str(getattr(tensor.dtype, "name", tensor.dtype))
        if limit is not None or "int" in dtype:
            arrays.append(rng.integers(0, limit or 2, size=shape).astype(dtype if "int" in dtype else np.float32))
        else:
            arrays.append(rng.normal(size=shape).astype(np.float32))
    return arrays


def _embedding_limit(model: Any, tensor: Any) -> int | None:
    """input_dim of the Embedding layers an input feeds directly (their indices must stay in range)."""
    limits = []
    for layer in model.layers:
        if type(layer).__name__ == "Embedding":
            try:
                feeds = layer.input is tensor or getattr(layer.input, "name", None) == tensor.name
            except (AttributeError, ValueError):
                feeds = False
            if feeds:
                limits.append(int(layer.input_dim))
    return min(limits) if limits else None


def _outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    out = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [np.asarray(o, np.float64) for o in _flatten(out)] if not isinstance(out, dict) else [
        np.asarray(out[k], np.float64) for k in sorted(out)
    ]


def _verified(original: Any, rebuilt: Any, bridge: _Bridge, direction: str, tolerance: float, seed: int) -> BridgeResult:
    _copy_weights(bridge)
    inputs = _verification_inputs(original, seed)
    ref, got = _outputs(original, inputs), _outputs(rebuilt, inputs)
    if len(ref) != len(got) or any(r.shape != g.shape for r, g in zip(ref, got)):
        raise BridgeError(
            f"the rebuilt {original.name} has outputs {[g.shape for g in got]}, the original {[r.shape for r in ref]}"
        )
    max_abs, rel = max_abs_error(ref, got), rel_max_error(ref, got)
    if not np.isfinite(rel) or rel > tolerance:
        raise BridgeError(
            f"the {bridge.dst_name} rebuild of {original.name} differs from the original by {rel:.2e} (relative max "
            f"error; max abs {max_abs:.2e}), above the tolerance {tolerance:.0e}; the bridge is wrong for this model — "
            f"report it with the model's layer list. {STILL_WORKS}"
        )
    label = f"seeded random ({len(inputs[0])} samples, seed {seed})"
    return BridgeResult(rebuilt, direction, max_abs, rel, tolerance, label, len(bridge.pairs), notes=tuple(bridge.notes))
