"""The one orchestrator: a recipe on a model, end to end, for ``edgekit optimize`` (many recipes, ranked) and for
``edgekit prune/cluster/quantize`` (one recipe).

    prepare(model, data)          load and check the model and data once (cheap checks before any TensorFlow work),
                                  and the evaluation set and the original model's outputs on it
    run_variant(prepared, recipe) techniques → optimized Keras model → artifact per format (edgekit.targets) →
                                  measurement of each artifact → Variant; the recipe and package versions are
                                  written beside the artifacts
    measure(path, prepared)       quality through edgekit.runtime, shipped weights, latency/memory/energy
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit._fs import scratch_dir, write_text_atomic
from edgekit._log import quiet_native
from edgekit._versions import package_versions
from edgekit.convert.artifact import Artifact
from edgekit.errors import AcceleratorError, BridgeError, DataError, EdgekitError
from edgekit.measurement import Measurement
from edgekit.optimize.data import TrainData
from edgekit.optimize.progress import Progress
from edgekit.recipe import Recipe
from edgekit.results import Settings, Variant
from edgekit.targets import TARGETS

EVAL_RANDOM_SAMPLES = 256  # without data: seeded random inputs, fidelity only
VERSIONED = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "ai-edge-litert", "onnxruntime", "numpy")


def versions() -> dict[str, str]:
    """The versions of what produced a result: python and the packages that convert, optimize and run."""
    from edgekit import __version__

    return {"edgekit": __version__, "python": platform.python_version(), **package_versions(VERSIONED)}


@dataclass(frozen=True, eq=False)
class Prepared:
    """The model and data a run works on, loaded and checked once."""

    name: str  # the model's file stem (or the in-memory model's name)
    loaded: Any  # BridgeResult: the tf-keras model (or a Keras 3 one the bridge could not rebuild) and how
    train: TrainData | None
    eval_x: Any
    eval_y: Any
    evaluated_on: str
    reference: Any  # the Keras model's outputs on eval_x
    notes: tuple[str, ...] = ()
    perturbed: tuple = ()  # robustness inputs (edgekit.optimize.robustness.Perturbed), made once per run
    original_robustness: tuple = ()  # the original Keras model's accuracy on them

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def bridged(self) -> bool:
        return self.loaded.direction != "keras3 (not bridged)"


def prepare(model: Any, data: Any = None, trust_model: bool = False, trust_code: bool = False,
            val_split: float | None = None) -> Prepared:
    """Check and load ``model`` (a path or a tf-keras model) and ``data`` (see :mod:`edgekit.optimize.data`).

    The model file and the data are checked before TensorFlow starts: a missing or foreign file fails in a second."""
    from edgekit.keras.bridge import BridgeResult
    from edgekit.keras.loading import check_model_file
    from edgekit.optimize.data import as_train_data, fit_to_model, load_train_data

    is_path = isinstance(model, (str, os.PathLike))
    model_file = check_model_file(model, trust_model) if is_path else None
    train = load_train_data(data, val_split, trust_code) if isinstance(data, (str, os.PathLike)) else as_train_data(data, val_split, trust_code)
    if train is not None and model_file is not None:
        _check_data_shape(model_file, train)
    if is_path:
        loaded = _load(model, trust_model)
    else:
        loaded = BridgeResult(model, "tf_keras", 0.0, 0.0, 0.0, "none (in memory)", len(model.layers))
    notes = list(loaded.notes)
    if train is not None:
        train = fit_to_model(train, loaded.model)
    eval_x, eval_y, evaluated_on = eval_inputs(loaded.model, train, EVAL_RANDOM_SAMPLES)
    with quiet_native():
        reference = loaded.model.predict(eval_x, batch_size=256, verbose=0)
    name = (Path(model).name if Path(model).is_dir() else Path(model).stem) if is_path else loaded.model.name
    return Prepared(name, loaded, train, eval_x, eval_y, evaluated_on, reference, tuple(notes))


def _declared_input_shape(config: Any) -> tuple | None:
    """The one input shape a saved Keras config declares (InputLayer ``batch_input_shape`` in Keras 2, ``batch_shape``
    in Keras 3, or the first layer of a Sequential), or None when it has several inputs or says nothing."""
    layers = ((config or {}).get("config") or {}).get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list) or not layers:
        return None
    inputs = [l for l in layers if isinstance(l, dict) and l.get("class_name") == "InputLayer"]
    candidates = inputs if inputs else ([layers[0]] if config.get("class_name") == "Sequential" else [])
    if len(candidates) != 1:
        return None
    cfg = candidates[0].get("config") or {}
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
    return tuple(shape) if isinstance(shape, (list, tuple)) else None


def _check_data_shape(model_file, train: TrainData) -> None:
    """The data against the input shape the model file declares, read without TensorFlow (a mismatch fails in a
    second, not after TensorFlow's start-up); the full check runs again on the loaded model."""
    from edgekit.data import check_input

    if train.images is not None:  # an image folder is read at the model's size once the model is loaded
        return
    shape = _declared_input_shape(model_file.config)
    if shape is None:
        return
    check_input(np.asarray(train.x_train), shape, "input", f"{train.source} (training inputs)")
    check_input(np.asarray(train.x_val), shape, "input", f"{train.source} (held-out inputs)")


def _load(path, trust_model: bool):
    """The model as tf-keras (a Keras 3 file is bridged and verified). A Keras 3 model the bridge cannot rebuild
    stays Keras 3: it still converts and post-training quantizes; fine-tuning recipes cannot run on it."""
    from edgekit.keras.bridge import BridgeResult, load_as_tf_keras
    from edgekit.keras.loading import load_keras3_model

    try:
        return load_as_tf_keras(path, trust_model=trust_model)
    except BridgeError as exc:
        model3 = load_keras3_model(path, trust_model=trust_model)
        return BridgeResult(model3, "keras3 (not bridged)", float("nan"), float("nan"), 0.0, "none", len(model3.layers), notes=(str(exc),))


def eval_inputs(model, train: TrainData | None, count: int):
    """What the original and its artifacts are measured on: the held-out split with its labels, else ``count`` seeded
    random inputs (no labels: fidelity only). ``model`` is a tf-keras or Keras 3 model."""
    if train is not None:
        return train.x_val, train.y_val, f"{train.source} held-out split ({len(train.x_val)} samples)"
    from edgekit.convert.domain import describe, domain_inputs, keras_domains

    specs = [(t.name.split(":")[0], tuple(None if d is None else int(d) for d in t.shape)) for t in model.inputs]
    domains = keras_domains(model)  # the model's own input range where it tells it (Rescaling, Embedding ...)
    arrays = domain_inputs(specs, domains, count=count, seed=0)
    x = arrays[0] if len(arrays) == 1 else {name: a for (name, _), a in zip(specs, arrays)}  # bound by name
    return x, None, f"seeded random inputs ({count} samples, no labels: {describe(specs, domains)})"


def skip_reason(recipe: Recipe, prepared: Prepared) -> str | None:
    """Why ``recipe`` cannot run on what was prepared (None: it can)."""
    if recipe.needs_training and prepared.train is None:
        return "needs training data for fine-tuning (--data)"
    if recipe.needs_training and not prepared.bridged:
        return f"fine-tuning needs a tf-keras model: {prepared.loaded.notes[0]}"
    if recipe.needs_calibration and prepared.train is None:
        return f"{recipe.quantize.mode} post-training quantization needs calibration data (--data)"
    return None


@dataclass(frozen=True)
class VariantPaths:
    """Where a variant's files go: ``keras`` (the optimized Keras model) and ``stem`` + each target's suffix for
    the artifacts, ``stem.recipe.yaml`` for the recipe."""

    keras: Path
    stem: Path

    def artifact(self, fmt: str) -> Path:
        return Path(f"{self.stem}{TARGETS[fmt].suffix}")

    @property
    def recipe(self) -> Path:
        return Path(f"{self.stem}.recipe.yaml")


def recipe_text(recipe: Recipe, source: str) -> str:
    """The recipe as YAML, headed by what it was run on and the package versions that ran it."""
    header = f"# recipe that produced this variant of {source}; reproduce with: edgekit <command> MODEL --recipe THIS_FILE\n"
    return header + "# " + ", ".join(f"{k} {v}" for k, v in versions().items()) + "\n" + recipe.to_yaml()


def run_variant(prepared: Prepared, recipe: Recipe, paths: VariantPaths, settings: Settings, progress: Progress,
                calibration: Any = None, index: int = 0, write_keras: bool = False,
                max_accuracy_drop: float | None = None, sensitivity: bool = False) -> tuple[Variant, Any]:
    """Run ``recipe``: techniques, the Keras model (written when a technique changed it, or always with
    ``write_keras``), a ``keep_float: auto`` search within ``max_accuracy_drop`` top-1 points, an artifact per
    format, each measured; with ``sensitivity``, a plain int8 variant's per-layer int8 sensitivity too. Returns the
    variant and the machine conditions of its first benchmark."""
    from edgekit.convert import convert_for_recipe
    from edgekit.keras.bridge import save_like_source
    from edgekit.optimize.apply import apply_recipe

    if recipe.needs_training:
        pruning = "channel pruning" if recipe.channel_pruning else "prune"
        techniques = [t for t, on in ((pruning, recipe.prune), ("cluster", recipe.cluster), ("QAT", recipe.quantize.aware)) if on]
        progress.step(index, recipe.name, f"fine-tuning ({', '.join(techniques)})")
    optimized = apply_recipe(prepared.model, recipe, prepared.train, progress=progress)
    notes = []
    keras_path = None
    if optimized.steps or write_keras:
        keras_path, note = save_like_source(optimized.model, prepared.loaded, paths.keras)
        notes += [note] if note else []
    if calibration is None and prepared.train is not None and optimized.needs_calibration:
        calibration = prepared.train.calibration()
    planned, mixed = recipe, None
    if recipe.quantize.searches:
        from edgekit.convert.sensitivity import resolve_recipe

        progress.step(index, recipe.name, f"searching for the layers to keep out of int8 (within {max_accuracy_drop:g} top-1 points)")
        recipe, mixed = resolve_recipe(optimized.model, recipe, calibration, prepared.eval_x, prepared.eval_y, max_accuracy_drop)
        notes.append(mixed.summary())
    write_text_atomic(paths.recipe, recipe_text(recipe, prepared.name))  # concrete: the layers kept float named
    artifacts, conditions = [], None
    for fmt in recipe.formats:
        progress.step(index, recipe.name, f"converting to {fmt}")
        artifact = convert_for_recipe(optimized.model, recipe, fmt, paths.artifact(fmt), calibration=calibration, eval_data=prepared.eval_x)
        progress.step(index, recipe.name, f"measuring {fmt} (accuracy, size" + (", latency, energy)" if settings.bench_seconds and not settings.devices else ")"))
        measurement, measured_on = measure(artifact, prepared, settings)
        conditions = conditions or measured_on
        artifacts.append(replace(artifact, measurement=measurement))
    report = mixed.sensitivity if mixed is not None else None
    if sensitivity and recipe.quantize.mode == "int8" and not (recipe.quantize.aware or recipe.quantize.mixed) and calibration is not None:
        progress.step(index, recipe.name, "per-layer int8 sensitivity")
        report, note = _int8_sensitivity(optimized.model, calibration, prepared.eval_x, prepared.eval_y)
        notes += [note] if note else []
    variant = Variant(planned.name, planned, "done", artifacts=tuple(artifacts), optimization=optimized.optimization,
                      keras_model=keras_path, recipe_file=str(paths.recipe), settings=settings, notes=tuple(notes),
                      resolved_recipe=recipe if mixed is not None else None,
                      mixed_precision=replace(mixed, sensitivity=None) if mixed is not None else None,
                      int8_sensitivity=report)
    return variant, conditions


def _int8_sensitivity(model, calibration, eval_x, eval_y) -> tuple[Any, str | None]:
    """Per-layer int8 figures for a plain int8 variant (ranges and errors in the all-int8 model; no trial models),
    or why there are none."""
    from edgekit.convert.sensitivity import analyze_model
    from edgekit.errors import EdgekitError

    try:
        return analyze_model(model, calibration, eval_x, eval_y, trials=False), None
    except EdgekitError as exc:
        return None, f"per-layer int8 sensitivity not analysed: {exc}"


def measure(artifact: Artifact, prepared: Prepared, settings: Settings) -> tuple[Measurement, Any]:
    """Quality (through edgekit.runtime, float32 in and out), the weights the artifact ships (read by its target's
    weight reader) and, unless ``settings.bench_seconds`` is 0 or devices measure speed
    (:mod:`edgekit.optimize.on_devices`), MACs, memory and energy (latency itself is measured for all artifacts
    together, interleaved: :mod:`edgekit.optimize.pipeline`). Returns the measurement and the machine conditions of
    the benchmark (None when not run)."""
    from edgekit import runtime
    from edgekit.device_bench.download import download_bytes
    from edgekit.optimize.metrics import evaluate_outputs, most_damaged
    from edgekit.optimize.robustness import measure_robustness, robustness_drop

    path = artifact.path
    with runtime.load(path) as loaded:
        outputs = loaded.predict(prepared.eval_x)
        robustness = measure_robustness(loaded.predict, prepared.perturbed)
    metrics = evaluate_outputs(outputs, prepared.eval_y, prepared.reference)
    damaged = ()
    if metrics.per_class is not None:
        damaged = most_damaged(evaluate_outputs(prepared.reference, prepared.eval_y).per_class, metrics.per_class)
    layer_names = [layer.name for layer in prepared.model.layers]
    weights = tuple(TARGETS[artifact.format].shipped_weights(path, layer_names))
    beyond_top1 = dict(robustness=robustness, robustness_drop=robustness_drop(prepared.original_robustness, robustness),
                       damaged_classes=damaged, download=download_bytes(path, settings.baseline))
    if not settings.bench_seconds or settings.devices:  # no timed runs here: the graph's own figures (MACs, parameters)
        from edgekit.device_bench import model_stats

        try:
            stats = model_stats(path)
        except EdgekitError:
            return Measurement(metrics, weights, **beyond_top1), None
        return Measurement(metrics, weights, params=stats.params, macs=stats.macs,
                           bytes_by_dtype=dict(stats.bytes_by_dtype), **beyond_top1), None
    figures, conditions = bench_figures(path, settings, mcu=artifact.mcu is not None)
    return Measurement(metrics, weights, **figures, **beyond_top1), conditions


def bench_figures(path, settings: Settings, mcu: bool = False) -> tuple[dict, Any]:
    """The benchmark's part of a :class:`Measurement` (MACs, memory, energy, what ran it) and the machine conditions."""
    from edgekit.device_bench import bench

    options = dict(threads=settings.threads, min_time=settings.bench_seconds, device_profile=settings.device_profile)
    note = None
    if mcu:  # an MCU runs TFLite Micro: its arena and flash are in the artifact's mcu report
        result = bench(path, accelerator="cpu", **options)
        note = ("latency: LiteRT on this machine's CPU, not an MCU; arena and flash are measured in TFLite Micro "
                "(edgekit bench --engine tflm adds host TFLM latency and MCU cycle estimates)")
    else:
        try:
            result = bench(path, accelerator=settings.target, **options)
        except AcceleratorError as exc:  # no such accelerator on this machine: measure on its CPU, and say so
            result = bench(path, accelerator="cpu", **options)
            note = f"latency measured on this machine's CPU, not the {settings.target} target: {exc}"
    return dict(params=result.stats.params, macs=result.stats.macs, bytes_by_dtype=dict(result.stats.bytes_by_dtype),
                load_ms=result.load_ms, peak_rss_bytes=result.memory.peak_rss_bytes, energy=tuple(result.energy),
                accelerator=result.accelerator, latency_note=note), result.conditions


def measure_original(prepared: Prepared, settings: Settings, progress: Progress) -> Artifact:
    """The original model converted to a float32 .tflite (in a temporary folder, not kept) and measured like the
    variants, so every delta is side by side."""
    from edgekit.convert import to_tflite

    with scratch_dir("original") as tmp, progress.task("converting the original (float32)"):
        artifact = to_tflite(prepared.model, Path(tmp) / f"{prepared.name}.tflite", quantize="none")
        measurement, _ = measure(artifact, prepared, settings)
    return replace(artifact, path=f"{prepared.name} as float32 .tflite (not kept)", measurement=measurement)


def check_evaluable(prepared: Prepared) -> None:
    """Without data, only single-input models can be compared with the original on random inputs."""
    if prepared.train is None and isinstance(prepared.eval_x, (list, dict)):
        raise DataError("without --data, edgekit optimize can measure single-input models only; give --data")
