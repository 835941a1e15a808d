"""Keras model files: what a file is (without TensorFlow), whether it is safe to load, and loading it.

Safe by default, without ``trust_model=True`` a model is refused when loading it would
- run code from the file or from somewhere else: a Lambda layer or a class that is not a built-in Keras layer;
- open a file its config names: the ``file_layers`` of ``untrusted.yaml`` (a vocabulary given as a path);
- run file, Python or network ops (a SavedModel's graph, read without executing it: ``savedmodel_graph.py``);
- expand past :mod:`edgekit.limits` (a ``.keras`` zip bomb).
"""

from __future__ import annotations

import functools
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from edgekit._fs import check_input_path
from edgekit._log import quiet_native
from edgekit.errors import ModelLoadError, UnsafeModelError
from edgekit.expansion import check_h5, check_zip

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CODE_LAYERS = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda"})  # layers that carry or call arbitrary code
KERAS_MODULES = ("keras", "tf_keras")


@dataclass(frozen=True)
class ModelFile:
    """What :func:`inspect_model_file` learnt about a model path, read without TensorFlow."""

    path: Path
    kind: str  # "h5", "keras" (zip) or "savedmodel" (directory)
    keras_version: str | None  # the Keras that saved it; None for a plain SavedModel
    config: dict | None  # the architecture, when the file carries one
    graph: Any = None  # a SavedModel's ops (keras.savedmodel_graph.SavedModelGraph)

    @property
    def keras_major(self) -> int | None:
        if not self.keras_version:
            return None
        try:
            return int(self.keras_version.split(".")[0])
        except ValueError:
            return None


def inspect_model_file(path: str | Path) -> ModelFile:
    p = check_input_path(path, "model", ModelLoadError, allow_dir=True)
    if p.is_dir():
        return _inspect_savedmodel(p)
    with p.open("rb") as fh:
        head = fh.read(8)
    if head == HDF5_SIGNATURE:
        return _inspect_h5(p)
    if head[:4] == b"PK\x03\x04":
        return _inspect_keras_zip(p)
    raise ModelLoadError(
        f"{p} is not a Keras model: expected an HDF5 .h5 file, a .keras zip or a SavedModel directory"
        + (" (it looks like a TFLite flatbuffer; run it with edgekit run/bench)" if head[4:8] == b"TFL3" else "")
    )


def _inspect_h5(p: Path) -> ModelFile:
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py comes with tensorflow
        from edgekit.errors import DependencyError

        raise DependencyError("h5py") from None
    try:
        with h5py.File(p, "r") as f:
            check_h5(f, str(p), ModelLoadError)  # declared dataset sizes, before any weight is read
            attrs = dict(f.attrs)
    except OSError as exc:
        raise ModelLoadError(f"{p} is not a readable HDF5 file (truncated or corrupt?): {str(exc).splitlines()[0]}") from None
    raw = attrs.get("model_config")
    if raw is None:
        raise ModelLoadError(f"{p} holds weights only, no model architecture; save the whole model with model.save()")
    config = _json(raw, p)
    version = attrs.get("keras_version")
    if isinstance(version, bytes):
        version = version.decode()
    return ModelFile(p, "h5", str(version) if version is not None else None, config)


def _inspect_keras_zip(p: Path) -> ModelFile:
    try:
        with zipfile.ZipFile(p) as z:
            check_zip(z, str(p), ModelLoadError)  # before reading any member: a zip bomb costs nothing
            names = set(z.namelist())
            if "config.json" not in names:
                raise ModelLoadError(f"{p} is a zip file but not a .keras model (no config.json inside)")
            config = _json(z.read("config.json"), p)
            meta = _json(z.read("metadata.json"), p) if "metadata.json" in names else {}
            weights = next((i for i in z.infolist() if i.filename == "model.weights.h5"), None)
            if weights is not None and weights.compress_type == zipfile.ZIP_STORED:  # seekable in place: cheap
                _check_inner_h5(z, weights, p)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(f"{p} is not a readable .keras zip (truncated or corrupt?): {exc}") from None
    return ModelFile(p, "keras", meta.get("keras_version"), config)


def _check_inner_h5(z: zipfile.ZipFile, info: zipfile.ZipInfo, p: Path) -> None:
    import h5py

    try:
        with z.open(info) as fh, h5py.File(fh, "r") as f:
            check_h5(f, f"{p} ({info.filename})", ModelLoadError)
    except OSError as exc:
        raise ModelLoadError(f"{p} holds an unreadable {info.filename} (truncated or corrupt?): {exc}") from None


def _inspect_savedmodel(p: Path) -> ModelFile:
    from edgekit.keras.savedmodel_graph import inspect_savedmodel_graph

    if (p / "saved_model.pbtxt").is_file() and not (p / "saved_model.pb").is_file():
        raise ModelLoadError(f"{p} holds a text SavedModel (saved_model.pbtxt), which edgekit cannot inspect "
                             "before loading; save it in the binary format (saved_model.pb)")
    graph = inspect_savedmodel_graph(p)
    version = None
    if (p / "keras_metadata.pb").is_file():
        version = "2"  # only Keras 2 writes keras_metadata.pb next to a SavedModel
    elif graph.keras_objects:  # Keras 2.4 and older kept this metadata inside saved_model.pb; tf-keras loads those
        version = next((str(o["keras_version"]) for o in graph.keras_objects if o.get("keras_version")), None)
    config = {"layers": list(graph.keras_objects)} if graph.keras_objects else None
    return ModelFile(p, "savedmodel", version, config, graph)


def _json(raw: Any, p: Path) -> dict:
    try:
        data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, UnicodeDecodeError):
        raise ModelLoadError(f"{p} carries a model config that is not valid JSON (corrupt file?)") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{p} carries a model config that is not a mapping (corrupt file?)")
    return data


def _layer_configs(config: Any) -> Iterator[dict]:
    """Every dict with a class_name in a (possibly nested) Keras config."""
    if isinstance(config, dict):
        if "class_name" in config:
            yield config
        for value in config.values():
            yield from _layer_configs(value)
    elif isinstance(config, list):
        for value in config:
            yield from _layer_configs(value)


def code_carrying_layers(config: dict | None, builtin: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Names of the classes in ``config`` that would run code from outside Keras itself when loaded:
    Lambda layers, and classes registered by a user package (Keras 3 ``registered_name``/``module``)."""
    found: list[str] = []
    for item in _layer_configs(config or {}):
        name = item.get("class_name")
        if not isinstance(name, str):
            continue
        module = item.get("module")
        registered = item.get("registered_name")
        if module == "builtins" and name == "function" and isinstance(item.get("config"), str):
            continue  # a built-in function referenced by name (a loss or metric), looked up, never deserialized
        if (name, module) in _registered or (module is None and name in {n for n, _ in _registered}):
            continue  # a class the user named with --custom-objects (imported under --trust-code)
        custom = (
            name in CODE_LAYERS
            or (isinstance(module, str) and not module.startswith(KERAS_MODULES)
                and not (module.startswith("tensorflow_model_optimization.") and name in builtin))
            or (isinstance(registered, str) and "Custom>" not in registered and ">" in registered)
            or (builtin and "config" in item and item.get("module") is None and name not in builtin and _looks_like_layer(item))
        )
        if custom and name not in found:
            found.append(name)
    return found


_registered: set[tuple[str, str]] = set()  # (class name, module) registered by register_custom_objects


def register_custom_objects(specs: Sequence[str], trust_code: bool = False) -> dict[str, Any]:
    """``--custom-objects module:NAME``: import the user's module (this runs its code, so only with ``trust_code``)
    and make ``NAME`` known to both Kerases' loaders for this process, so a model file naming that class (a
    subclassed model, a custom layer) loads without ``trust_model``. Returns ``{NAME: object}``."""
    from edgekit._user_code import user_object

    if specs and not trust_code:
        raise UnsafeModelError(f"--custom-objects {' '.join(specs)} imports and runs your code; add --trust-code to allow it")
    found: dict[str, Any] = {}
    for spec in specs:
        module_name, _, name = spec.partition(":")
        found[name] = user_object(spec, "--custom-objects", ModelLoadError)
        _registered.add((name, module_name))
    if found:
        from edgekit._tf import keras3, tf_keras

        keras3().saving.get_custom_objects().update(found)
        tf_keras().utils.get_custom_objects().update(found)
    return found


def _looks_like_layer(item: dict) -> bool:
    cfg = item.get("config")
    return isinstance(cfg, dict) and ("name" in cfg or "layers" in cfg)


@functools.lru_cache(maxsize=1)
def _file_layers() -> dict[str, tuple[str, ...]]:
    data = yaml.safe_load(Path(__file__).with_name("untrusted.yaml").read_text())
    return {name: tuple(keys) for name, keys in data["file_layers"].items()}


def file_reading_layers(config: dict | None) -> list[str]:
    """``Layer(key='path')`` for each layer in ``config`` whose config names a file that loading would open."""
    table = _file_layers()
    found: list[str] = []
    for item in _layer_configs(config or {}):
        keys = table.get(item.get("class_name"))
        cfg = item.get("config")
        if keys and isinstance(cfg, dict):
            for key in keys:
                if isinstance(cfg.get(key), str):
                    found.append(f"{item['class_name']}({key}={cfg[key][:80]!r})")
    return found


_TRUST = "Pass --trust-model (trust_model=True) only for a model you trust"


def check_safe(model_file: ModelFile, trust_model: bool, builtin: frozenset[str] | set[str] = frozenset()) -> None:
    """UnsafeModelError (one line) if loading ``model_file`` would run code, ops with side effects or open files
    named in it, unless ``trust_model``."""
    if trust_model:
        return
    denied = model_file.graph.denied if model_file.graph is not None else ()
    if denied:
        shown = "; ".join(f"{d.op} in {d.where} ({d.reason})" for d in denied[:3])
        more = f" and {len(denied) - 3} more" if len(denied) > 3 else ""
        raise UnsafeModelError(
            f"{model_file.path} is a SavedModel whose graph runs {shown}{more}; loading it would run them. Refused "
            f"by default: --trust-model on a SavedModel means running it. {_TRUST}"
        )
    risky = code_carrying_layers(model_file.config, builtin)
    if risky:
        raise UnsafeModelError(
            f"{model_file.path} contains {', '.join(risky)}, which would run code from the model file or a custom "
            f"module when loaded; refused by default. {_TRUST}; a class from your own code loads with --custom-objects "
            "MODULE:NAME --trust-code"
        )
    reading = file_reading_layers(model_file.config)
    if reading:
        raise UnsafeModelError(
            f"{model_file.path} contains {', '.join(reading[:3])}: loading it would open that file. Refused by "
            "default: give the vocabulary as a list, or pass --trust-model (trust_model=True) for a model you trust"
        )


def check_model_file(path: str | Path, trust_model: bool = False) -> ModelFile:
    """Inspect a model path and refuse it if unsafe, without TensorFlow: the check every command runs before any
    slow work (the full check, against the loading Keras' own layer list, runs again at load)."""
    model_file = inspect_model_file(path)
    check_safe(model_file, trust_model)
    return model_file


def _tf_keras_builtins(keras) -> frozenset[str]:
    names = {n for n in dir(keras.layers) if not n.startswith("_")}
    names |= {"Functional", "Sequential", "Model", "InputLayer"}
    return frozenset(names)


def load_keras_model(path: str | Path, trust_model: bool = False, custom_objects: dict | None = None):
    """Load a Keras 2 (tf-keras) model from .h5, .keras or a Keras SavedModel directory, safely by default.

    Keras 3 files are detected and refused with a message naming what loads them: :func:`load_keras3_model`
    (a Keras 3 model) or ``edgekit.keras.bridge.load_as_tf_keras`` (a tf-keras model rebuilt from it).
    """
    from edgekit._tf import tf_keras

    model_file = inspect_model_file(path)
    if model_file.keras_major is not None and model_file.keras_major >= 3:
        raise ModelLoadError(
            f"{model_file.path} was saved by Keras {model_file.keras_version} (tf.keras in TensorFlow 2.16+); "
            "tf-keras cannot read it: load it with load_keras3_model(), or edgekit.keras.bridge.load_as_tf_keras() "
            "for a verified tf-keras rebuild"
        )
    if model_file.kind == "savedmodel" and model_file.keras_version is None:
        raise ModelLoadError(
            f"{model_file.path} is a plain SavedModel without Keras metadata; it cannot be loaded as a Keras model"
        )
    keras = tf_keras()
    known = _tfmot_objects() if _names_tfmot(model_file.config) else {}
    check_safe(model_file, trust_model, _tf_keras_builtins(keras) | set(known))
    return _load(keras, model_file, trust_model, custom_objects={**known, **(custom_objects or {})})


# Classes only a tfmot-wrapped model names: a quantization-aware-training model (what edgekit quantize --mode qat
# and the QAT variants of optimize write) loads with tfmot's objects.
TFMOT_MARKERS = frozenset({"QuantizeLayer", "QuantizeWrapper", "QuantizeWrapperV2", "QuantizeAnnotate"})


def _names_tfmot(config: dict | None) -> bool:
    return any(item.get("class_name") in TFMOT_MARKERS for item in _layer_configs(config or {}))


def _tfmot_objects() -> dict[str, type]:
    """tfmot's serializable classes: QAT wrappers, quantize configs and quantizers (also the prune- and
    cluster-preserving ones of PQAT/CQAT). Classes of an installed library, looked up by name: no code from the file."""
    from edgekit._tf import tfmot

    mot = tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras import quantizers
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
        cluster_preserve_quantize_registry as cluster_preserve,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (
        prune_preserve_quantize_registry as prune_preserve,
    )

    objects: dict[str, type] = {}
    for table in mot.quantization.keras.quantize_scope().custom_objects:
        objects.update(table)
    for module in (prune_preserve, cluster_preserve):
        objects.update({name: cls for name, cls in vars(module).items()
                        if isinstance(cls, type) and issubclass(cls, quantizers.Quantizer)})
    return objects


def is_keras3_model(obj: Any) -> bool:
    """True for a Keras 3 model object (without importing Keras 3 when it was never imported)."""
    import sys

    keras = sys.modules.get("keras")
    if keras is None or not str(getattr(keras, "__version__", "0")).startswith("3"):
        return False
    return isinstance(obj, keras.Model)


def load_keras3_model(path: str | Path, trust_model: bool = False):
    """Load a model saved by Keras 3 (``.keras`` or ``.h5``) with Keras 3, safely by default.

    Lambda layers and classes from outside Keras are refused unless ``trust_model=True``; ``.keras`` files also load
    with Keras' own ``safe_mode`` unless trusted. A Keras 2 file is refused here: load it with :func:`load_keras_model`.
    """
    from edgekit._tf import keras3

    model_file = inspect_model_file(path)
    if model_file.kind == "savedmodel":
        raise ModelLoadError(
            f"{model_file.path} is a SavedModel directory; Keras 3 cannot load those as a model (it only writes them with "
            "model.export()); convert it directly with edgekit convert, or give the .keras file"
        )
    if model_file.keras_major is None or model_file.keras_major < 3:
        raise ModelLoadError(
            f"{model_file.path} was saved by Keras {model_file.keras_version or '2 (no version recorded)'}, not Keras 3; "
            "load it with load_keras_model()"
        )
    keras = keras3()
    check_safe(model_file, trust_model)
    return _load(keras, model_file, trust_model)


def _load(keras: Any, model_file: ModelFile, trust_model: bool, **options: Any):
    """``keras.models.load_model`` with the model's compile settings when Keras can rebuild them (else without),
    Keras' safe_mode for .keras files unless trusted, and every failure as one ModelLoadError line."""
    kwargs: dict[str, Any] = {"compile": True, **options}
    if model_file.kind == "keras" or str(keras.__version__).startswith("3"):  # Keras 3 applies it to .h5 too
        kwargs["safe_mode"] = not trust_model
    try:
        with quiet_native():
            try:
                return keras.models.load_model(str(model_file.path), **kwargs)
            except (ValueError, TypeError) as exc:  # compile settings Keras cannot rebuild: load the model without them
                if not any(word in str(exc).lower() for word in ("optimizer", "compile", "loss")):
                    raise
                return keras.models.load_model(str(model_file.path), **{**kwargs, "compile": False})
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "safe_mode" in message or "lambda" in message.lower():
            raise UnsafeModelError(
                f"{model_file.path} carries code that Keras' safe_mode refuses to load ({message[:200]}); pass "
                "--trust-model (trust_model=True) only for a model you trust"
            ) from None
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", message)
        if missing:
            module = re.search(r"'module': '([^']+)'", message)
            where = f"{module.group(1)}:{missing.group(1)}" if module else f"MODULE:{missing.group(1)}"
            raise ModelLoadError(
                f"{model_file.path} uses {missing.group(1)}, a class Keras cannot find (a subclassed model or custom "
                f"layer defined in your code); pass --custom-objects {where} --trust-code (in Python: import it, or "
                "custom_objects={...})"
            ) from None
        if "Unknown" in message or "custom_objects" in message:
            raise ModelLoadError(
                f"{model_file.path} uses a class or function Keras does not know ({message[:200]}); load it in Python "
                "with load_keras_model(path, custom_objects={...})"
            ) from None
        raise ModelLoadError(f"could not load {model_file.path} with Keras {keras.__version__}: {message[:300]}") from None
