"""One recipe, end to end: optimize the Keras model, write it, convert it, and measure the shipped artifacts
against the original model on the same held-out data.

``optimize_model(model, recipe, data, output)`` writes, atomically:
  OUTPUT                  the optimized Keras model (.h5 or .keras; a QAT model loads under tfmot's quantize_scope)
  OUTPUT stem + .tflite   the converted model (quantized as the recipe says), and .onnx when the recipe asks
  OUTPUT stem + .recipe.yaml   the recipe that ran, with the versions that ran it, so the result can be reproduced

Accuracy is measured on the artifacts through ``edgekit.runtime`` (what would ship), and the original model is
converted to a float32 ``.tflite`` and measured the same way, so every delta is side by side.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit._fs import scratch_dir, sweep_stale_temps, write_text_atomic
from edgekit._log import quiet_native
from edgekit.data import check_data_source, random_inputs
from edgekit.errors import DataError, ModelLoadError
from edgekit.keras.loading import check_model_file
from edgekit.optimize.apply import apply_recipe
from edgekit.optimize.data import TrainData, as_train_data, fit_to_model
from edgekit.optimize.metrics import Metrics, WeightStats, evaluate_outputs, size_summary
from edgekit.optimize.progress import Progress
from edgekit.optimize.result import OptimizedModel
from edgekit.recipe import Recipe
from edgekit.targets import TARGETS, target

KERAS_SUFFIXES = (".h5", ".keras")
RANDOM_EVAL_SAMPLES = 128


@dataclass(frozen=True)
class Variant:
    """One measured model: the original or an optimized artifact."""

    name: str
    format: str
    path: str
    quantize: str
    metrics: Metrics
    file_bytes: int
    gzip_bytes: int
    params: int
    weights: WeightStats | None = None  # totals over the weight tensors of the artifact
    layers: tuple[WeightStats, ...] = ()  # per weight tensor, read from the artifact

    def to_dict(self) -> dict:
        out = asdict(self)
        out["metrics"] = self.metrics.to_dict()
        out["weights"] = size_summary(list(self.layers)) if self.layers else None
        out["layers"] = [s.to_dict() for s in self.layers]
        return out


@dataclass(frozen=True, eq=False)
class OptimizeResult:
    recipe: Recipe
    optimized: OptimizedModel
    keras_path: str
    recipe_path: str
    variants: tuple[Variant, ...]  # the original first, then the artifacts
    evaluated_on: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    mixed: Any = None  # the keep-float search (edgekit.convert.sensitivity.MixedSearch) for keep_float: auto

    @property
    def original(self) -> Variant:
        return self.variants[0]

    def to_dict(self) -> dict:
        return {
            "recipe": self.recipe.to_dict(),
            "keras_model": self.keras_path,
            "recipe_file": self.recipe_path,
            "evaluated_on": self.evaluated_on,
            "optimized": self.optimized.to_dict(),
            "variants": [v.to_dict() for v in self.variants],
            "notes": list(self.notes),
            "mixed_precision": None if self.mixed is None else self.mixed.to_dict(),
        }


def output_paths(output: str | os.PathLike) -> dict[str, Path]:
    out = Path(output)
    if out.suffix not in KERAS_SUFFIXES:
        raise ModelLoadError(f"the output {out} must end in .h5 or .keras (the optimized Keras model); its .tflite goes beside it")
    stem = out.with_suffix("")
    return {"keras": out, **{name: stem.with_suffix(t.suffix) for name, t in TARGETS.items()}, "recipe": Path(f"{stem}.recipe.yaml")}


def optimize_model(
    model: Any,
    recipe: Recipe,
    data: Any = None,
    output: str | os.PathLike = "optimized.h5",
    calibration: Any = None,
    progress: Progress | None = None,
    trust_model: bool = False,
    max_accuracy_drop: float = 1.0,
) -> OptimizeResult:
    """Apply ``recipe`` to ``model`` (a path or a tf-keras model), write the Keras model, its artifacts and the
    recipe next to ``output``, and measure the artifacts and the original model on ``data``'s held-out split.

    ``data``: training data (see :mod:`edgekit.optimize.data`); without it only post-training quantization runs,
    and the artifacts are compared with the original on seeded random inputs (fidelity only). ``calibration``
    overrides the int8 calibration inputs (default: a sample of the training inputs). A recipe with
    ``quantize.keep_float: auto`` keeps the fewest layers float that hold top-1 within ``max_accuracy_drop`` points
    of the float model on the held-out split; the recipe written beside the artifact names them."""
    from edgekit.keras.bridge import BridgeResult, load_as_tf_keras, save_like_source

    progress = progress or Progress(False)
    paths = output_paths(output)
    if recipe.quantize.searches and data is None:
        raise DataError("quantize.keep_float: auto searches under an accuracy bound: give --data with held-out labels")
    if isinstance(model, (str, os.PathLike)):
        check_model_file(model, trust_model)  # before any TensorFlow work
    check_data_source(calibration)
    sweep_stale_temps(Path(output).parent)  # what a killed earlier run left beside the output
    source_name = Path(model).stem if isinstance(model, (str, os.PathLike)) else getattr(model, "name", "model")
    if isinstance(model, (str, os.PathLike)):
        with progress.task(f"loading {Path(model).name}"):
            loaded = load_as_tf_keras(model, trust_model=trust_model)  # a Keras 3 file is bridged and verified
    else:
        loaded = BridgeResult(model, "tf_keras", 0.0, 0.0, 0.0, "none (in memory)", len(model.layers))
    model = loaded.model
    train = as_train_data(data)
    notes: list[str] = []
    if train is not None:
        train = fit_to_model(train, model)
    elif not recipe.needs_training:
        notes.append("no training data: only post-training quantization ran, and accuracy is compared with the "
                     "original on seeded random inputs (fidelity only); give --data for accuracy figures")
    optimized = apply_recipe(model, recipe, train, progress)
    notes += optimized.notes
    if calibration is None and train is not None and optimized.needs_calibration:
        calibration = train.calibration()
    mixed = None
    if recipe.quantize.searches:
        from edgekit.convert.sensitivity import resolve_recipe

        with progress.task(f"searching for the layers to keep out of int8 (bound {max_accuracy_drop:g} pt)"):
            recipe, mixed = resolve_recipe(optimized.model, recipe, calibration, train.x_val, train.y_val, max_accuracy_drop)
        notes.append(mixed.summary())

    with progress.task("writing the Keras model"):
        keras_path, note = save_like_source(optimized.model, loaded, paths["keras"])  # in the Keras the user came with
    if note:
        notes.append(note)
    write_text_atomic(paths["recipe"], _recipe_text(recipe, source_name))
    x_eval, y_eval, evaluated_on = eval_inputs(model, train, RANDOM_EVAL_SAMPLES)
    with quiet_native():
        reference = model.predict(x_eval, verbose=0)
    layer_names = [l.name for l in model.layers]
    variants = [_measure_original(model, source_name, x_eval, y_eval, reference, layer_names, progress)]
    for fmt in recipe.formats:
        if fmt == "edgetpu":
            notes.append("the edgetpu format is compiled by edgekit convert --to edgetpu; skipped here")
            continue
        variants.append(_convert_and_measure(optimized, recipe, fmt, paths[fmt], calibration, x_eval, y_eval, reference, layer_names, progress))
    return OptimizeResult(recipe, optimized, keras_path, str(paths["recipe"]), tuple(variants), evaluated_on, tuple(notes), mixed)


def _recipe_text(recipe: Recipe, source: str) -> str:
    from edgekit import __version__

    from edgekit._versions import package_versions

    versions = [f"edgekit {__version__}", f"python {platform.python_version()}"]
    versions += [f"{dist} {v}" for dist, v in package_versions(("tensorflow", "tf-keras", "tensorflow-model-optimization")).items()]
    header = f"# recipe that produced this variant of {source}; reproduce with: edgekit <command> MODEL --recipe THIS_FILE\n"
    return header + "# " + ", ".join(versions) + "\n" + recipe.to_yaml()


def eval_inputs(model, train: TrainData | None, count: int):
    """What the original and its artifacts are measured on: the held-out split with its labels, else ``count`` seeded
    random inputs (no labels: fidelity only). ``model`` is a tf-keras or Keras 3 model."""
    if train is not None:
        return train.x_val, train.y_val, f"{train.source} held-out split ({len(train.x_val)} samples)"
    specs = [(t.name.split(":")[0], tuple(None if d is None else int(d) for d in t.shape)) for t in model.inputs]
    arrays = random_inputs(specs, count=count, seed=0)
    return arrays[0] if len(arrays) == 1 else arrays, None, f"seeded random inputs ({count} samples, no labels)"


def measure_artifact(path: str | os.PathLike, x: Any, labels: Any, reference: Any) -> Metrics:
    """Metrics of a ``.tflite``/``.onnx`` run through ``edgekit.runtime`` (float32 in and out)."""
    from edgekit import runtime

    with runtime.load(path) as loaded:
        outputs = loaded.predict(x)
    return evaluate_outputs(outputs, labels, reference)


def _variant(name: str, artifact, x, labels, reference, layer_names) -> Variant:
    metrics = measure_artifact(artifact.path, x, labels, reference)
    layers = tuple(target(artifact.format).shipped_weights(artifact.path, layer_names))
    return Variant(name, artifact.format, artifact.path, artifact.quantize, metrics, artifact.file_bytes,
                   artifact.gzip_bytes, artifact.params, None, layers)


def _measure_original(model, name, x, labels, reference, layer_names, progress) -> Variant:
    from edgekit.convert import to_tflite

    with scratch_dir("original") as tmp, progress.task("converting the original (float32)"):
        artifact = to_tflite(model, Path(tmp) / f"{name}.tflite", quantize="none")
        variant = _variant("original", artifact, x, labels, reference, layer_names)
    return replace(variant, path=f"{name} as float32 .tflite (not kept)")


def _convert_and_measure(optimized: OptimizedModel, recipe: Recipe, fmt: str, path: Path, calibration, x, labels, reference, layer_names, progress) -> Variant:
    from edgekit.convert import convert_for_recipe

    with progress.task(f"converting to {fmt}" + (f" ({recipe.quantize.mode})" if fmt == "tflite" else "")):
        artifact = convert_for_recipe(optimized.model, recipe, fmt, path, calibration=calibration)
    return _variant(recipe.name, artifact, x, labels, reference, layer_names)
