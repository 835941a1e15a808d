"""Recipes: small, frozen, self-validating descriptions of what to do to a model, round-tripping through YAML.

A recipe names one variant: optional pruning, optional clustering, a quantization (post-training at conversion,
or quantization-aware training), fine-tuning settings, and the formats to convert to. A recipe file holds one
recipe (a mapping) or several under ``variants:``. Preset files live in ``edgekit/recipes/*.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from edgekit._fs import check_input_path
from edgekit._yaml import dump_yaml, load_yaml
from edgekit.errors import RecipeError
from edgekit.targets import CALIBRATION_METHODS, IO_DTYPES, QUANTIZE_MODES, TARGETS


PRUNE_SCHEDULES = ("polynomial", "constant")
PRUNE_STRUCTURES = ("unstructured", "2:4")  # magnitude pruning (Prune); "channels" is ChannelPrune
CHANNEL_CRITERIA = ("l1", "l2", "l1-bn")  # the names of edgekit.optimize.channels.CRITERIA
CLUSTER_INITS = ("kmeans++", "linear", "density", "random")
MAX_NAME = 64
_SAFE_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME - 1}}}")  # a folder name: never '.', '..' or hidden
AUTO = "auto"  # quantize.keep_float: search for the layers


def _choice(what: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise RecipeError(f"{what} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(str(v) for v in value)
    except TypeError:
        raise RecipeError(f"{what} must be a list of layer names or layer types; got {value!r}") from None


@dataclass(frozen=True)
class Prune:
    """Magnitude pruning. ``include``/``exclude`` match layer names or layer class names."""

    sparsity: float = 0.5
    schedule: str = "polynomial"
    structure: str = "unstructured"
    skip_first_last: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        if self.structure == "channels":
            raise RecipeError("prune.structure channels removes whole channels by ratio, not sparsity: "
                              "write prune: {structure: channels, ratio: 0.5} (ChannelPrune in Python)")
        if not isinstance(self.sparsity, (int, float)) or not 0.0 < float(self.sparsity) < 1.0:
            raise RecipeError(f"prune.sparsity must be strictly between 0 and 1; got {self.sparsity!r}")
        object.__setattr__(self, "sparsity", float(self.sparsity))
        _choice("prune.schedule", self.schedule, PRUNE_SCHEDULES)
        _choice("prune.structure", self.structure, PRUNE_STRUCTURES + ("channels",))
        if self.structure == "2:4" and self.sparsity != 0.5:
            raise RecipeError(f"prune.structure 2:4 zeroes two weights in every four, i.e. sparsity 0.5; got sparsity {self.sparsity}")
        object.__setattr__(self, "include", _names(self.include, "prune.include"))
        object.__setattr__(self, "exclude", _names(self.exclude, "prune.exclude"))


def _ratio(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise RecipeError(f"{what} is the share of channels to remove, from 0 up to (not including) 1; got {value!r}")
    return float(value)


def _count(what: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RecipeError(f"{what} must be an integer of at least {minimum}; got {value!r}")


@dataclass(frozen=True)
class ChannelPrune:
    """Channel pruning: remove whole output channels and rebuild a smaller model (fewer MACs, lower latency).

    ``ratio``: share of each group's channels to remove (uniform); ``ratios``: per-layer-name overrides;
    ``max_macs``: instead of a ratio, remove the least important channels anywhere until the model needs at most
    this many multiply-accumulates (global); ``max_latency_ms``: the MAC budget whose float32 .tflite runs within
    this many milliseconds here, found by measuring. ``include``/``exclude`` match layer names or class names."""

    structure: str = "channels"
    ratio: float | None = None  # None: 0.5, unless max_macs allocates globally
    criterion: str = "l1"
    ratios: dict = field(default_factory=dict)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_channels: int = 1
    round_to: int = 1
    max_macs: int | None = None
    max_latency_ms: float | None = None

    def __post_init__(self):
        if self.structure != "channels":
            raise RecipeError(f"ChannelPrune has structure channels; got {self.structure!r}")
        if self.max_latency_ms is not None:
            latency = self.max_latency_ms
            if isinstance(latency, bool) or not isinstance(latency, (int, float)) or latency <= 0:
                raise RecipeError(f"prune.max_latency_ms must be a positive number of milliseconds; got {latency!r}")
            object.__setattr__(self, "max_latency_ms", float(latency))
        budgets = [k for k in ("ratio", "max_macs", "max_latency_ms") if getattr(self, k) is not None]
        if len(budgets) > 1:
            raise RecipeError(f"prune.{' and prune.'.join(budgets)} exclude each other: give a ratio (uniform), "
                              "max_macs or max_latency_ms (global), one of them")
        if self.max_macs is not None or self.max_latency_ms is not None:
            if self.max_macs is not None:
                _count("prune.max_macs", self.max_macs, 1)
            if self.ratios:
                raise RecipeError("prune.ratios set per-layer ratios for uniform allocation; drop them with a budget")
        else:
            object.__setattr__(self, "ratio", _ratio("prune.ratio", 0.5 if self.ratio is None else self.ratio))
        _choice("prune.criterion", self.criterion, CHANNEL_CRITERIA)
        if not isinstance(self.ratios, Mapping):
            raise RecipeError(f"prune.ratios must map layer names to ratios; got {self.ratios!r}")
        object.__setattr__(self, "ratios", {str(k): _ratio(f"prune.ratios[{k}]", v) for k, v in self.ratios.items()})
        _count("prune.min_channels", self.min_channels, 1)
        _count("prune.round_to", self.round_to, 1)
        object.__setattr__(self, "include", _names(self.include, "prune.include"))
        object.__setattr__(self, "exclude", _names(self.exclude, "prune.exclude"))


@dataclass(frozen=True)
class Cluster:
    """Weight clustering: ``clusters`` unique values per weight tensor."""

    clusters: int = 16
    init: str = "kmeans++"
    preserve_sparsity: bool = True
    skip_first_last: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.clusters, bool) or not isinstance(self.clusters, int) or self.clusters < 2:
            raise RecipeError(f"cluster.clusters must be an integer of at least 2; got {self.clusters!r}")
        _choice("cluster.init", self.init, CLUSTER_INITS)
        object.__setattr__(self, "include", _names(self.include, "cluster.include"))
        object.__setattr__(self, "exclude", _names(self.exclude, "cluster.exclude"))


@dataclass(frozen=True)
class Quantize:
    """``mode`` is the conversion's quantization; ``aware`` adds quantization-aware training before it;
    ``calibration_method`` picks ONNX Runtime's activation-range calibration for int8 ONNX artifacts.

    Selective int8 (``mode: int8``): ``keep_float`` names Keras layers that stay float and ``int16x8`` layers that
    get int16 activations; ``keep_float: auto`` searches for the smallest such set that meets the accuracy bound
    (``edgekit quantize --max-accuracy-drop``, or optimize's bound), and the recipe written beside the artifact
    names the layers it found."""

    mode: str = "none"
    aware: bool = False
    io_dtype: str = "float32"
    calibration_method: str = "minmax"
    keep_float: tuple[str, ...] | str = ()
    int16x8: tuple[str, ...] = ()

    def __post_init__(self):
        _choice("quantize.mode", self.mode, QUANTIZE_MODES)
        _choice("quantize.io_dtype", self.io_dtype, IO_DTYPES)
        _choice("quantize.calibration_method", self.calibration_method, CALIBRATION_METHODS)
        if self.aware and self.mode != "int8":
            raise RecipeError(f"quantize.aware (QAT) produces an int8 model; set quantize.mode to int8, not {self.mode!r}")
        if self.io_dtype != "float32" and self.mode != "int8":
            raise RecipeError(f"quantize.io_dtype {self.io_dtype!r} needs quantize.mode int8; got {self.mode!r}")
        if self.keep_float != AUTO:
            object.__setattr__(self, "keep_float", _names(self.keep_float, "quantize.keep_float"))
        object.__setattr__(self, "int16x8", _names(self.int16x8, "quantize.int16x8"))
        if self.mixed:
            if self.mode != "int8" or self.aware:
                raise RecipeError(f"quantize.keep_float/int16x8 select layers of a post-training int8 model; set "
                                  f"quantize.mode to int8 without aware (got mode {self.mode!r}, aware {self.aware})")
            if self.io_dtype == "uint8":
                raise RecipeError("quantize.keep_float/int16x8 keep input/output float32 or int8; uint8 I/O needs plain int8")
            both = sorted(set(self.int16x8) & set(() if self.searches else self.keep_float))
            if both:
                raise RecipeError(f"layer(s) {', '.join(both)} are in both quantize.keep_float and quantize.int16x8; pick one")

    @property
    def mixed(self) -> bool:
        """Some layers stay out of int8 (selective quantization), or a search decides which."""
        return bool(self.keep_float) or bool(self.int16x8)

    @property
    def searches(self) -> bool:
        return self.keep_float == AUTO


@dataclass(frozen=True)
class Train:
    """Fine-tuning settings; ``None`` means: reuse the model's compile settings or edgekit's default."""

    epochs: int = 2
    batch_size: int = 32
    learning_rate: float | None = None
    loss: str | None = None
    distill: bool | None = None  # learn from the original model's outputs (plus labels if any); None: when no labels
    temperature: float = 4.0  # softening of both models' outputs for distillation
    distill_weight: float = 0.9  # with labels: share of the distillation term (the rest is the task loss)
    freeze_batchnorm: bool = True  # keep the trained model's BatchNorm statistics (small data wrecks them)

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise RecipeError(f"train.epochs must be a positive integer; got {self.epochs!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise RecipeError(f"train.batch_size must be a positive integer; got {self.batch_size!r}")
        if self.learning_rate is not None and not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise RecipeError(f"train.learning_rate must be a positive number; got {self.learning_rate!r}")
        if self.distill is not None and not isinstance(self.distill, bool):
            raise RecipeError(f"train.distill must be true, false or unset (distil when the data has no labels); got {self.distill!r}")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            raise RecipeError(f"train.temperature must be a positive number; got {self.temperature!r}")
        object.__setattr__(self, "temperature", float(self.temperature))
        weight = self.distill_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise RecipeError(f"train.distill_weight must be between 0 and 1; got {weight!r}")
        object.__setattr__(self, "distill_weight", float(weight))
        if not isinstance(self.freeze_batchnorm, bool):
            raise RecipeError(f"train.freeze_batchnorm must be true or false; got {self.freeze_batchnorm!r}")


@dataclass(frozen=True)
class Recipe:
    name: str
    prune: Prune | ChannelPrune | None = None
    cluster: Cluster | None = None
    quantize: Quantize = field(default_factory=Quantize)
    train: Train = field(default_factory=Train)
    formats: tuple[str, ...] = ("tflite",)

    def __post_init__(self):
        if not isinstance(self.name, str) or not _SAFE_NAME.fullmatch(self.name):
            shown = self.name if not isinstance(self.name, str) or len(self.name) <= 40 else self.name[:40] + "..."
            raise RecipeError(f"recipe name must be a folder name: a letter or digit, then at most {MAX_NAME - 1} "
                              f"letters, digits, '-', '_' or '.'; got {shown!r}")
        formats = _names(self.formats, "formats")
        for f in formats:
            _choice("formats", f, tuple(TARGETS))
            if TARGETS[f].mode_for(self.quantize.mode) is None:
                raise RecipeError(f"recipe {self.name!r}: the {f} format needs quantize.mode {' or '.join(TARGETS[f].quantize_modes)}")
        if not formats:
            raise RecipeError(f"recipe {self.name!r} converts to no format; give at least one of {', '.join(TARGETS)}")
        object.__setattr__(self, "formats", formats)

    @property
    def needs_training(self) -> bool:
        """Pruning, clustering and QAT fine-tune the model; they need training data."""
        return self.prune is not None or self.cluster is not None or self.quantize.aware

    @property
    def channel_pruning(self) -> bool:
        return isinstance(self.prune, ChannelPrune)

    @property
    def needs_calibration(self) -> bool:
        """Post-training full-integer quantization needs calibration data (per target: see edgekit.targets)."""
        return not self.quantize.aware and any(TARGETS[f].needs_calibration(self.quantize.mode) for f in self.formats)

    # -- dict / YAML round trip -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name}
        for f in fields(self):
            if f.name == "name":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if dataclasses.is_dataclass(value):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(value).items()
                         if not (f.name == "quantize" and k in ("keep_float", "int16x8") and not v)}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Recipe":
        if not isinstance(data, Mapping):
            raise RecipeError(f"a recipe must be a mapping; got {type(data).__name__}")
        _check_keys("recipe", data, {f.name for f in fields(cls)})
        kwargs: dict[str, Any] = dict(data)
        if "name" not in kwargs:
            raise RecipeError("a recipe needs a name")
        for key, kind in (("prune", Prune), ("cluster", Cluster), ("quantize", Quantize), ("train", Train)):
            if key == "prune" and isinstance(kwargs.get(key), Mapping) and kwargs[key].get("structure") == "channels":
                kind = ChannelPrune
            if key in kwargs and kwargs[key] is not None:
                kwargs[key] = _section(key, kind, kwargs[key])
        return cls(**kwargs)

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_yaml(cls, text: str) -> "Recipe":
        return cls.from_dict(_safe_load(text, "recipe"))

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)


def _check_keys(what: str, data: Mapping, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RecipeError(f"unknown {what} key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(sorted(allowed))}")


def _section(key: str, kind: type, value: Any):
    if value is True:
        return kind()
    if not isinstance(value, Mapping):
        raise RecipeError(f"{key} must be a mapping of settings; got {value!r}")
    _check_keys(key, value, {f.name for f in fields(kind)})
    return kind(**value)


def _safe_load(text: str, what: str) -> Any:
    return load_yaml(text, what, RecipeError)


def load_recipes(path: str | os.PathLike) -> tuple[Recipe, ...]:
    """Read a recipe file: one recipe (a mapping with ``name``) or ``variants: [recipe, ...]``."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise RecipeError(f"recipe file {p} does not exist (or name a preset: {', '.join(preset_names())})")
    check_input_path(p, "recipe file", RecipeError)
    data = _safe_load(p.read_text(encoding="utf-8"), f"recipe file {p}")
    return recipes_from_data(data, source=str(p))


def recipes_from_data(data: Any, source: str = "recipe") -> tuple[Recipe, ...]:
    """Recipes from a parsed recipe file: one recipe mapping, or ``variants: [...]`` and/or ``sweep: [...]`` (a grid
    of recipes, see :mod:`edgekit.recipe_sweep`)."""
    if isinstance(data, Mapping) and ("variants" in data or "sweep" in data):
        _check_keys(source, data, {"variants", "sweep"})
        items = data.get("variants", [])
        if not isinstance(items, list) or ("variants" in data and not items):
            raise RecipeError(f"{source}: variants must be a non-empty list of recipes")
        if "sweep" in data:
            from edgekit.recipe_sweep import expand_sweeps

            items = [*items, *expand_sweeps(data["sweep"], source)]
        recipes = tuple(Recipe.from_dict(item) for item in items)
    elif isinstance(data, Mapping):
        recipes = (Recipe.from_dict(data),)
    else:
        raise RecipeError(f"{source} must hold a recipe mapping, 'variants: [...]' or 'sweep: [...]'")
    names = [r.name for r in recipes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RecipeError(f"{source}: recipe names must be unique; repeated: {', '.join(dupes)}")
    return recipes


def dump_recipes(recipes: tuple[Recipe, ...] | list[Recipe]) -> str:
    recipes = tuple(recipes)
    if len(recipes) == 1:
        return recipes[0].to_yaml()
    return dump_yaml({"variants": [r.to_dict() for r in recipes]})


_PRESETS = Path(__file__).parent / "recipes"


def preset_names() -> list[str]:
    """Names of the preset recipe sets shipped in ``edgekit/recipes/`` (``--recipe NAME``)."""
    return sorted(p.stem for p in _PRESETS.glob("*.yaml"))


def preset(name: str) -> tuple[Recipe, ...]:
    """A preset recipe set shipped in ``edgekit/recipes/NAME.yaml``."""
    folder = _PRESETS
    available = preset_names()
    if name not in available:
        raise RecipeError(f"unknown preset {name!r}; available: {', '.join(available)}")
    return load_recipes(folder / f"{name}.yaml")
