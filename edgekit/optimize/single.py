"""One recipe, end to end, for ``edgekit prune/cluster/quantize``: the engine of ``edgekit optimize``
(:mod:`edgekit.optimize.engine`) run on one recipe, with the files named after ``output``:

  OUTPUT                  the optimized Keras model (.h5 or .keras) in the Keras the user came with (a QAT model
                          loads under tfmot's quantize_scope)
  OUTPUT stem + .tflite   the converted model (quantized as the recipe says), and .onnx when the recipe asks
  OUTPUT stem + .recipe.yaml   the recipe that ran, with the versions that ran it, so the result can be reproduced

Accuracy is measured on the artifacts through ``edgekit.runtime`` (what would ship), and the original model is
converted to a float32 ``.tflite`` and measured the same way, so every delta is side by side. Latency is measured
by ``edgekit optimize`` and ``edgekit bench``, not here.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit._fs import sweep_stale_temps
from edgekit.data import check_data_source
from edgekit.errors import DataError, ModelLoadError
from edgekit.keras.params import count_params
from edgekit.optimize.progress import Progress
from edgekit.recipe import Recipe
from edgekit.results import ModelInfo, Original, Results, Settings

KERAS_SUFFIXES = (".h5", ".keras")


def optimize_model(
    model: Any,
    recipe: Recipe,
    data: Any = None,
    output: str | os.PathLike = "optimized.h5",
    calibration: Any = None,
    progress: Progress | None = None,
    trust_model: bool = False,
    trust_code: bool = False,
    val_split: float | None = None,
    max_accuracy_drop: float = 1.0,
) -> Results:
    """Apply ``recipe`` to ``model`` (a path or a tf-keras model), write the Keras model, its artifacts and the
    recipe next to ``output``, and measure the artifacts and the original model on ``data``'s held-out split.

    ``data``: training data (see :mod:`edgekit.optimize.data`); without it only post-training quantization runs,
    and the artifacts are compared with the original on seeded random inputs (fidelity only). ``calibration``
    overrides the int8 calibration inputs (default: a sample of the training inputs). A recipe with
    ``quantize.keep_float: auto`` keeps the fewest layers float that hold top-1 within ``max_accuracy_drop`` points
    of the float model on the held-out split; the recipe written beside the artifact names them."""
    from edgekit import __version__
    from edgekit.optimize.engine import VariantPaths, measure_original, prepare, run_variant, versions

    out = Path(output)
    if out.suffix not in KERAS_SUFFIXES:
        raise ModelLoadError(f"the output {out} must end in .h5 or .keras (the optimized Keras model); its .tflite goes beside it")
    progress = progress or Progress(False)
    if recipe.quantize.searches and data is None:
        raise DataError("quantize.keep_float: auto searches under an accuracy bound: give --data with held-out labels")
    check_data_source(calibration)
    sweep_stale_temps(out.parent)  # what a killed earlier run left beside the output
    settings = Settings(bench_seconds=0)
    with progress.task(f"loading {Path(model).name if isinstance(model, (str, os.PathLike)) else 'the model'}"):
        prepared = prepare(model, data, trust_model=trust_model, trust_code=trust_code, val_split=val_split)
    notes = list(prepared.notes)
    if prepared.train is None and not recipe.needs_training:
        notes.append("no training data: only post-training quantization ran, and accuracy is compared with the "
                     "original on seeded random inputs (fidelity only); give --data for accuracy figures")
    original = measure_original(prepared, settings, progress)
    variant, _ = run_variant(prepared, recipe, VariantPaths(out, out.with_name(out.name[: -len(out.suffix)])), settings, progress,
                             calibration=calibration, write_keras=True, max_accuracy_drop=max_accuracy_drop)
    return Results(
        edgekit_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=ModelInfo(str(model) if isinstance(model, (str, os.PathLike)) else prepared.name, prepared.model.name,
                        count_params(prepared.model), prepared.loaded.to_dict()),
        settings=settings,
        evaluated_on=prepared.evaluated_on,
        original=Original(original.measurement.metrics, original),
        variants=(variant,),
        data=prepared.train.describe() if prepared.train is not None else None,
        versions=versions(),
        notes=tuple(notes),
    )
