"""``edgekit optimize``: one model in, a ranked set of deployable variants, results.json and report.html out.

The data path, once per variant: recipe → optimized Keras model → converted artifact(s) → measurements (accuracy
through ``edgekit.runtime`` on held-out data, size, MACs, latency and energy through ``edgekit.device_bench``) →
``variants/NAME/result.json``. Then: ranking → ``best.*`` → ``results.json`` → ``report.html``.

A variant's ``result.json`` is written last and atomically, so it marks the variant done: a re-run with the same
output folder reuses finished variants (same recipe) unless ``force``; an interrupted variant simply runs again.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgekit import __version__
from edgekit._fs import atomic_path, sweep_stale_temps, write_text_atomic
from edgekit._json import json_default
from edgekit._log import logger
from edgekit._versions import package_versions
from edgekit.data_range import range_mismatches
from edgekit.errors import BridgeError, DataError, EdgekitError
from edgekit.keras.loading import check_model_file
from edgekit.optimize.ranking import Candidate, Constraints, rank
from edgekit.recipe import Recipe, dump_recipes, preset
from edgekit.targets import TARGETS, accelerator

EVAL_RANDOM_SAMPLES = 256


@dataclass(frozen=True)
class Settings:
    target: str = "cpu"
    device_profile: str | None = None
    constraints: Constraints = Constraints()
    threads: int = 1
    bench_seconds: float = 0.5  # timed-run budget per artifact (after warm-up)
    force: bool = False
    device: Any = None  # an edgekit.devices.Device: latency, memory and energy are measured there over SSH
    accept_new_host_key: bool = False

    def __post_init__(self):
        accelerator(self.target)  # an unknown name is an error that lists the valid ones
        if self.threads < 1:
            raise EdgekitError(f"threads must be at least 1, got {self.threads}")
        if self.device_profile is not None:
            from edgekit.device_bench.energy import get_device_profile

            get_device_profile(self.device_profile)  # an unknown name fails here, listing the known ones


def default_recipes(target: str) -> tuple[Recipe, ...]:
    return preset(accelerator(target).preset)


def for_target(recipes: Sequence[Recipe], target: str) -> tuple[list[Recipe], list[dict]]:
    """An accelerator that runs one format only (the Edge TPU: full-int8 edgetpu artifacts with uint8 I/O) keeps the
    recipes whose quantization that format produces, converted to it, and skips the rest."""
    where = accelerator(target)
    fmt = where.format
    if fmt is None:
        return list(recipes), []
    spec = TARGETS[fmt]
    kept, skipped = [], []
    for r in recipes:
        if r.quantize.mixed and not spec.selective:
            if where.cpu_fallback:  # its float layers would run on the host CPU: a .tflite, whose search counts them
                kept.append(replace(r, quantize=replace(r.quantize, io_dtype="int8"), formats=("tflite",)))
            else:
                skipped.append(_not_run(r, "skipped", f"the {target} target converts every layer to int8; "
                                                      "layers kept out of int8 need a .tflite target"))
        elif r.quantize.mode in spec.quantize_modes:
            io = r.quantize.io_dtype if r.quantize.io_dtype in spec.io_dtypes else spec.default_io_dtype(r.quantize.mode)
            kept.append(replace(r, quantize=replace(r.quantize, io_dtype=io), formats=(fmt,)))
        else:
            skipped.append(_not_run(r, "skipped", f"the {target} target runs {' or '.join(spec.quantize_modes)} models only; "
                                                  f"this variant is {r.quantize.mode}"))
    return kept, skipped


def _not_run(recipe: Recipe, status: str, reason: str) -> dict:
    return {"name": recipe.name, "recipe": recipe.to_dict(), "status": status, "reason": reason, "artifacts": []}


class _Steps:
    """Progress for the whole run: which variant, which step, elapsed and an estimate of what remains.

    The estimate prices what is left by kind, from the variants already finished: a fine-tuned variant costs its
    epochs × the seconds per epoch measured so far (fine-tuning dominates), a post-training one the mean of those
    done. Until one of each kind has finished it says so instead of guessing: averaging a quick post-training
    variant over slow fine-tuned ones is what made the old estimate say 22 s left of 160."""

    def __init__(self, recipes: Sequence[Recipe], report: Callable[[str], None] | None, can_train: bool = True):
        self.recipes, self.report, self.start = list(recipes), report, time.monotonic()
        self.can_train = can_train  # without training data the fine-tuned variants are skipped: they cost nothing
        self.done = 0
        self._began = self.start
        self._trained: list[tuple[float, int]] = []  # (seconds, epochs) of finished fine-tuned variants
        self._post: list[float] = []  # seconds of finished post-training variants

    def finished(self, index: int, reused: bool = False) -> None:
        now = time.monotonic()
        recipe = self.recipes[index]
        if not reused:
            if recipe.needs_training:
                self._trained.append((now - self._began, max(recipe.train.epochs, 1)))
            else:
                self._post.append(now - self._began)
        self._began, self.done = now, self.done + 1

    def left(self) -> str:
        pending = [r for r in self.recipes[self.done:] if self.can_train or not r.needs_training]
        trained = [r for r in pending if r.needs_training]
        seconds = 0.0
        if trained:
            if not self._trained:
                return ", estimate after the first fine-tuned variant"
            per_epoch = sum(t for t, _ in self._trained) / sum(e for _, e in self._trained)
            seconds += sum(per_epoch * max(r.train.epochs, 1) for r in trained)
        if len(pending) > len(trained):
            if not self._post:
                return ", estimate after the first variant"
            seconds += (len(pending) - len(trained)) * sum(self._post) / len(self._post)
        return f", ~{seconds:.0f} s left" if pending else ""

    def __call__(self, index: int, name: str, step: str) -> None:
        if self.report is None:
            return
        elapsed = time.monotonic() - self.start
        self.report(f"[{index + 1}/{len(self.recipes)}] {name}: {step} ({elapsed:.0f} s elapsed{self.left()})")


def optimize(
    model: str | os.PathLike,
    outdir: str | os.PathLike,
    data: Any = None,
    recipes: Sequence[Recipe] | None = None,
    settings: Settings = Settings(),
    trust_model: bool = False,
    trust_code: bool = False,
    val_split: float | None = None,
    on_step: Callable[[str], None] | None = None,
    progress: Any = None,
) -> dict:
    """Run every recipe on ``model``, measure each artifact, rank them, write results.json and report.html.

    Returns the results (the content of results.json).
    """
    from edgekit.optimize.data import as_train_data, fit_to_model, load_train_data

    # Everything that can be checked without TensorFlow is checked first: a bad option, file or recipe fails in
    # a second, not after minutes of fine-tuning. So is the device: unreachable or not ready is known up front.
    if settings.device is not None:
        from edgekit.devices import check_devices

        (check,) = check_devices([settings.device], settings.accept_new_host_key)
        if not check.ready:
            raise EdgekitError(f"device {settings.device.name}: {'; '.join(check.problems)}")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"output folder {out} is a file; give a folder with -o")
    if isinstance(model, (str, os.PathLike)):
        check_model_file(model, trust_model)
    train = None
    if data is not None:
        train = load_train_data(data, val_split=val_split, trust_code=trust_code) if isinstance(data, (str, os.PathLike)) else as_train_data(data)
    recipes, not_run = for_target(list(recipes) if recipes else default_recipes(settings.target), settings.target)
    if not recipes:
        raise EdgekitError(f"no recipe can run for target {settings.target}: {'; '.join(v['reason'] for v in not_run)}")
    if train is not None and isinstance(model, (str, os.PathLike)):
        _check_data_shape(model, train)
    loaded = _load(model, trust_model)
    original = loaded.model
    if train is not None:
        train = fit_to_model(train, original)
    out.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(out, depth=2)  # what a killed earlier run left in OUTDIR and OUTDIR/variants/*
    write_text_atomic(out / "recipes.yaml", dump_recipes(recipes))

    eval_x, eval_y, eval_label = _eval_set(original, train)
    reference = _keras_outputs(original, eval_x)
    warnings = []
    if train is not None:
        warnings += range_mismatches([train.x_train], [train.x_val], "training data", "held-out data")
        for warning in warnings:
            logger.warning(warning)
    if eval_y is not None and np.ndim(reference) == 2:
        from edgekit.optimize.metrics import unusable_labels

        why = unusable_labels(eval_y, np.shape(reference)[1])
        if why:
            warnings.append(f"{why}: every variant would score the same top-1, so accuracy is not used; variants are "
                            "ranked by fidelity to the original (top-1 agreement, SNR) on the held-out inputs")
            eval_y, eval_label = None, f"{eval_label}, labels not used"
    from edgekit.optimize.metrics import evaluate_outputs

    original_metrics = evaluate_outputs(reference, eval_y, reference=reference)
    steps = _Steps(recipes, on_step, can_train=train is not None)
    variants: list[dict] = []
    for index, recipe in enumerate(recipes):
        needless = _mixed_not_needed(recipe, variants, original_metrics, settings) if recipe.quantize.searches else None
        if needless:
            steps(index, recipe.name, f"skipped: {needless}")
            variants.append(_not_run(recipe, "skipped", needless))
        else:
            variants.append(_run_variant(index, recipe, loaded, train, eval_x, eval_y, reference, out, settings, steps, progress))
        steps.finished(index, reused=bool(variants[-1].get("reused")) or variants[-1].get("status") != "done")
    variants += not_run
    latency = _interleave(variants, settings, on_step)
    results = _results(model, loaded, train, eval_label, len(eval_x), original_metrics, variants, settings)
    results["latency"] = latency
    if latency and latency.get("busy"):
        warnings.append(latency["busy"])
    results["warnings"] = warnings
    return _rank_and_publish(results, out)


def _interleave(variants: list[dict], settings: Settings, on_step) -> dict | None:
    """Time every artifact interleaved with the float32 .tflite (see device_bench.interleaved): each artifact's
    ``latency_ms`` becomes its median and spread, with its ratio to the baseline and the verdict (faster, slower,
    or no measurable difference). Returns how it was measured, and whether the machine was busy."""
    arts = {f"{v['name']}/{a['format']}": a for v in variants if v.get("status") == "done" for a in v["artifacts"]}
    if not arts:
        return None
    baseline = "fp32/tflite" if "fp32/tflite" in arts else next(iter(arts))
    if on_step is not None:
        on_step(f"latency: {len(arts)} artifacts interleaved with {baseline} in rounds"
                + (f" on device {settings.device.name}" if settings.device is not None else ""))
    if settings.device is not None:  # the device's own edgekit times them there: the ranking uses its figures
        from edgekit.devices.fleet import interleave_on_device

        order = [baseline, *(n for n in arts if n != baseline)]
        info = interleave_on_device([arts[n]["path"] for n in order], settings.device, settings.threads,
                                    settings.target, settings.accept_new_host_key)
        by_path = {str(arts[n]["path"]): n for n in order}
        spreads = {by_path[s["name"]]: s for s in info["spreads"]}
    else:
        from edgekit.device_bench.interleaved import measure_interleaved

        on_cpu = any(a.get("latency_note") for a in arts.values())
        info = measure_interleaved({n: a["path"] for n, a in arts.items()}, baseline, threads=settings.threads,
                                   accelerator="cpu" if on_cpu else settings.target).to_dict()
        spreads = {s["name"]: s for s in info["spreads"]}
    for name, spread in spreads.items():
        arts[name]["latency_ms"] = {
            "p50": spread["median_ms"], "p25": spread["p25_ms"], "p75": spread["p75_ms"], "iqr": spread["iqr_ms"],
            "runs": spread["runs"], "rounds": info["rounds"],
            "ratio": spread["ratio"], "ratio_ci95": spread["ratio_ci"], "verdict": spread["verdict"],
        }
    info.pop("spreads")
    return info | {"baseline_artifact": baseline}


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


def _check_data_shape(model_path, train) -> None:
    """The data against the input shape the model file declares, read without TensorFlow (a mismatch fails in a
    second, not after TensorFlow's start-up); the full check runs again on the loaded model."""
    from edgekit.data import check_input
    from edgekit.keras.loading import inspect_model_file

    if train.images is not None:  # an image folder is read at the model's size once the model is loaded
        return
    shape = _declared_input_shape(inspect_model_file(model_path).config)
    if shape is None:
        return
    check_input(np.asarray(train.x_train), shape, "input", f"{train.source} (training inputs)")
    check_input(np.asarray(train.x_val), shape, "input", f"{train.source} (held-out inputs)")


def _load(path, trust_model: bool):
    """The model as tf-keras (a Keras 3 file is bridged and verified). A Keras 3 model the bridge cannot rebuild
    stays Keras 3: it still converts and post-training quantizes; the fine-tuning variants are skipped (``blocked``)."""
    from edgekit.keras.bridge import BridgeResult, load_as_tf_keras
    from edgekit.keras.loading import load_keras3_model

    try:
        return load_as_tf_keras(path, trust_model=trust_model)
    except BridgeError as exc:
        model3 = load_keras3_model(path, trust_model=trust_model)
        return BridgeResult(model3, "keras3 (not bridged)", float("nan"), float("nan"), 0.0, "none", len(model3.layers), notes=(str(exc),))


def _eval_set(original, train) -> tuple[np.ndarray, np.ndarray | None, str]:
    from edgekit.optimize.single import eval_inputs

    x, y, label = eval_inputs(original, train, EVAL_RANDOM_SAMPLES)
    if train is None and isinstance(x, list):
        raise DataError("without --data, edgekit optimize can measure single-input models only; give --data")
    return x, y, label


def _keras_outputs(model, x: np.ndarray) -> np.ndarray:
    out = model.predict(x, batch_size=256, verbose=0)
    return out[0] if isinstance(out, list) else out


def _int8_sensitivity(model, calibration, eval_x, eval_y) -> dict:
    """Per-layer int8 figures for a plain int8 variant (ranges and errors in the all-int8 model; no trial models)."""
    from edgekit.convert.sensitivity import analyze_model

    try:
        return analyze_model(model, calibration, eval_x, eval_y, trials=False).to_dict()
    except EdgekitError as exc:
        return {"error": str(exc)}


def _mixed_not_needed(recipe: Recipe, variants: list[dict], original_metrics, settings: Settings) -> str | None:
    """Why a ``keep_float: auto`` variant need not run: its plain-int8 counterpart (same recipe, every layer int8)
    already meets the accuracy bound."""
    bound = settings.constraints.max_accuracy_drop
    plain = replace(recipe.quantize, keep_float=())
    for v in variants:  # the same recipe with every layer int8, whatever it converts to (edgetpu: with uint8 I/O)
        formats, io = tuple(v["recipe"].get("formats", ())), v["recipe"].get("quantize", {}).get("io_dtype", "float32")
        if v.get("status") != "done" or \
                v["recipe"] != replace(recipe, name=v["name"], quantize=replace(plain, io_dtype=io), formats=formats).to_dict():
            continue
        top1 = next((a["metrics"].get("top1") for a in v["artifacts"] if a["format"] in ("tflite", "edgetpu")), None)
        if top1 is None or original_metrics.top1 is None or bound is None:
            return None
        drop = 100 * (original_metrics.top1 - top1)
        if drop <= bound:
            return f"plain int8 ({v['name']}) already meets the accuracy bound: {drop:.2f} <= {bound:g} top-1 points"
    return None


def _run_variant(index, recipe: Recipe, loaded, train, eval_x, eval_y, reference, out: Path, settings: Settings, steps, progress) -> dict:
    vdir = out / "variants" / recipe.name
    done = vdir / "result.json"
    if done.is_file() and not settings.force:
        previous = json.loads(done.read_text())
        if previous.get("recipe") == recipe.to_dict() and previous.get("settings") == _variant_settings(settings):
            steps(index, recipe.name, "reused (finished in an earlier run; --force to redo)")
            previous["reused"] = True
            return previous
    if recipe.needs_training and train is None:
        return _not_run(recipe, "skipped", "needs training data for fine-tuning (--data)")
    if recipe.needs_training and loaded.direction == "keras3 (not bridged)":
        return _not_run(recipe, "skipped", f"fine-tuning needs a tf-keras model: {loaded.notes[0]}")
    if recipe.needs_calibration and train is None:
        return _not_run(recipe, "skipped", f"{recipe.quantize.mode} post-training quantization needs calibration data (--data)")
    if recipe.quantize.searches and (eval_y is None or settings.constraints.max_accuracy_drop is None):
        return _not_run(recipe, "skipped", "the search for layers to keep float needs held-out labels and --max-accuracy-drop")
    try:
        return _measure_variant(index, recipe, loaded, train, eval_x, eval_y, reference, vdir, settings, steps, progress)
    except EdgekitError as exc:
        steps(index, recipe.name, f"failed: {exc}")
        return _not_run(recipe, "failed", str(exc))


def _variant_settings(settings: Settings) -> dict:
    return {"threads": settings.threads, "device_profile": settings.device_profile, "target": settings.target} | (
        {"device": settings.device.name} if settings.device is not None else {})


def _measure_variant(index, recipe, loaded, train, eval_x, eval_y, reference, vdir: Path, settings, steps, progress) -> dict:
    from edgekit.convert import convert_for_recipe

    vdir.mkdir(parents=True, exist_ok=True)
    optimized, model, saved = None, loaded.model, None
    if recipe.needs_training:
        steps(index, recipe.name, "fine-tuning (" + ", ".join(s for s in (("channel pruning" if recipe.channel_pruning else "prune") if recipe.prune else "", "cluster" if recipe.cluster else "", "QAT" if recipe.quantize.aware else "") if s) + ")")
        from edgekit.keras.bridge import save_like_source
        from edgekit.optimize.apply import apply_recipe

        optimized = apply_recipe(loaded.model, recipe, train, progress=progress)
        model = optimized.model
        path, note = save_like_source(model, loaded, vdir / ("model.keras" if loaded.direction == "keras3->tf_keras" else "model.h5"))
        saved = {"path": path, "note": note}
    calibration = train.calibration() if train is not None else None
    planned, mixed = recipe, None
    if recipe.quantize.searches:
        from edgekit.convert.sensitivity import resolve_recipe

        bound = settings.constraints.max_accuracy_drop
        steps(index, recipe.name, f"searching for the layers to keep out of int8 (within {bound:g} top-1 points)")
        recipe, mixed = resolve_recipe(model, recipe, calibration, eval_x, eval_y, bound)
    artifacts = []
    for fmt in recipe.formats:
        steps(index, recipe.name, f"converting to {fmt}")
        artifact = convert_for_recipe(model, recipe, fmt, vdir / f"{recipe.name}{TARGETS[fmt].suffix}", calibration=calibration, eval_data=eval_x)
        steps(index, recipe.name, f"measuring {fmt} (accuracy, size, latency, energy)")
        artifacts.append(_measure_artifact(artifact, eval_x, eval_y, reference, settings))
    sensitivity = mixed.sensitivity.to_dict() if mixed is not None else None
    if recipe.quantize.mode == "int8" and not (recipe.quantize.aware or recipe.quantize.mixed) and calibration is not None:
        steps(index, recipe.name, "per-layer int8 sensitivity")
        sensitivity = _int8_sensitivity(model, calibration, eval_x, eval_y)
    result = {
        "name": recipe.name,
        "recipe": planned.to_dict(),  # as asked (keep_float: auto), so a re-run reuses it
        "resolved_recipe": recipe.to_dict() if mixed is not None else None,
        "mixed_precision": {k: v for k, v in mixed.to_dict().items() if k != "sensitivity"} if mixed is not None else None,
        "int8_sensitivity": sensitivity,  # per Keras layer (edgekit.convert.sensitivity.Sensitivity)
        "settings": _variant_settings(settings),
        "status": "done",
        "optimized": optimized.to_dict() if optimized is not None else None,
        "keras_model": saved,
        "artifacts": artifacts,
    }
    write_text_atomic(vdir / "result.json", json.dumps(result, indent=2, default=json_default))
    return json.loads(json.dumps(result, default=json_default))


def _measure_artifact(artifact, eval_x, eval_y, reference, settings: Settings) -> dict:
    from edgekit.optimize.single import measure_artifact

    metrics = measure_artifact(artifact.path, eval_x, eval_y, reference)
    measured, note = (_bench_on_device if settings.device is not None else _bench_here)(artifact, settings)
    record = artifact.to_dict()
    record.update(_bench_figures(measured))
    record["metrics"] = metrics.to_dict()
    record["latency_note"] = note
    return record


def _bench_here(artifact, settings: Settings) -> tuple[Any, str | None]:
    from edgekit.device_bench import bench
    from edgekit.errors import AcceleratorError

    options = dict(threads=settings.threads, min_time=settings.bench_seconds, device_profile=settings.device_profile)
    if artifact.mcu is not None:  # an MCU runs TFLite Micro: its arena and flash are in the artifact's mcu report
        return bench(artifact.path, accelerator="cpu", **options), (
            "latency: LiteRT on this machine's CPU, not an MCU; arena and flash are measured in TFLite Micro "
            "(edgekit bench --engine tflm adds host TFLM latency and MCU cycle estimates)")
    try:
        return bench(artifact.path, accelerator=settings.target, **options), None
    except AcceleratorError as exc:  # no such accelerator on this machine: measure on its CPU, and say so
        note = f"latency measured on this machine's CPU, not the {settings.target} target: {exc}"
        return bench(artifact.path, accelerator="cpu", **options), note


def _bench_on_device(artifact, settings: Settings) -> tuple[dict, str]:
    """The device's own ``edgekit bench`` of the artifact, over SSH; a failure fails this variant only."""
    from edgekit.devices import BenchSettings, bench_on_devices

    device = settings.device
    fleet = bench_on_devices([artifact.path], [device], BenchSettings(
        threads=(settings.threads,), accelerator=settings.target, min_time=settings.bench_seconds,
        device_profile=settings.device_profile), accept_new_host_key=settings.accept_new_host_key)
    if fleet.failures:
        raise EdgekitError(fleet.failures[0].message)
    return fleet.results[0], f"latency, memory and energy measured on device {device.name} ({device.address})"


def _bench_figures(result: Any) -> dict:
    """The figures of a device_bench result that the variant table, the ranking and the report use."""
    data = result if isinstance(result, dict) else asdict(result)  # a device's result arrives as JSON
    latency = data["latency"]
    return {
        "params": data["stats"]["params"],
        "macs": data["stats"]["macs"],
        "bytes_by_dtype": data["stats"]["bytes_by_dtype"],
        "latency_ms": {k: latency[k] for k in ("mean", "std", "min", "p50", "p90", "p99", "max") if k in latency} | {"runs": latency.get("runs")},
        "load_ms": data.get("load_ms"),
        "peak_rss_bytes": (data.get("memory") or {}).get("peak_rss_bytes"),
        "energy": data.get("energy", []),
        "accelerator": data.get("accelerator"),
        "conditions": data.get("conditions"),
        "device": data.get("device"),  # set when a device measured it (edgekit.devices)
    }


def _versions() -> dict:
    return {"python": platform.python_version(), **package_versions(
        ("tensorflow", "tf-keras", "tensorflow-model-optimization", "tf2onnx", "ai-edge-litert", "onnxruntime", "numpy"))}


def _results(model_path, loaded, train, eval_label, samples, original_metrics, variants, settings: Settings) -> dict:
    conditions = next((a.get("conditions") for v in variants for a in v.get("artifacts", []) if a.get("conditions")), None)
    for v in variants:
        for a in v.get("artifacts", []):
            a.pop("conditions", None)
    return {
        "edgekit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"path": str(model_path), "name": loaded.model.name, "params": int(loaded.model.count_params()), "keras": loaded.to_dict()},
        "settings": {
            "target": settings.target,
            "device_profile": settings.device_profile,
            "threads": settings.threads,
            "bench_seconds": settings.bench_seconds,
            "device": settings.device.describe() if settings.device is not None else None,
            "constraints": asdict(settings.constraints),
            "data": train.describe() if train is not None else None,
        },
        "versions": _versions(),
        "conditions": conditions or {},
        "eval": {"what": eval_label, "samples": samples},
        "original": {"metrics": original_metrics.to_dict()},
        "variants": variants,
    }


def candidates(results: dict) -> list[Candidate]:
    out = []
    for v in results["variants"]:
        for a in v.get("artifacts", []):
            m = a.get("metrics") or {}
            out.append(Candidate(
                name=f"{v['name']}/{a['format']}",
                accuracy=m.get("top1"),
                agreement=m.get("agreement"),
                file_bytes=a["file_bytes"],
                gzip_bytes=a["gzip_bytes"],
                latency_ms=(a.get("latency_ms") or {}).get("p50"),
                latency_verdict=(a.get("latency_ms") or {}).get("verdict"),
                snr_db=m.get("snr_db"),
                arena_bytes=((a.get("mcu") or {}).get("arena") or {}).get("bytes"),
                flash_bytes=(a.get("mcu") or {}).get("flash_bytes"),
            ))
    return out


def _rank_and_publish(results: dict, out: Path) -> dict:
    """Rank, copy the recommendation to ``best.*``, write results.json and report.html; return the results as
    written (plain JSON types)."""
    from edgekit.optimize.pipeline_report import render

    found = candidates(results)
    constraints = Constraints(**results["settings"]["constraints"])
    baseline = (results.get("latency") or {}).get("baseline_artifact") or next((c.name for c in found if c.name.startswith("fp32/")), None)
    ranking = rank(found, results["original"]["metrics"].get("top1"), constraints, baseline=baseline)
    results["ranking"] = asdict(ranking)
    results["best_path"] = None
    if ranking.recommended:
        variant, fmt = ranking.recommended.split("/")
        art = next(a for v in results["variants"] if v["name"] == variant for a in v["artifacts"] if a["format"] == fmt)
        best = out / ("best" + Path(art["path"]).suffix)
        with atomic_path(best) as tmp:
            shutil.copyfile(art["path"], tmp)
        results["best_path"] = str(best)
    text = json.dumps(results, indent=2, default=json_default)
    results = json.loads(text)
    write_text_atomic(out / "results.json", text)
    write_text_atomic(out / "report.html", render(results))
    return results
