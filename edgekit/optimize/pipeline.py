"""``edgekit optimize``: one model in, a ranked set of deployable variants, results.json and report.html out.

The data path, once per variant (:mod:`edgekit.optimize.engine`): recipe → optimized Keras model → converted
artifact(s) → measurements (accuracy through ``edgekit.runtime`` on held-out data, size, MACs, latency and energy
through ``edgekit.device_bench``) → ``variants/NAME/result.json``. Then: ranking → ``best.*`` (with
``best.recipe.yaml``) → ``results.json`` (:mod:`edgekit.results`) → ``report.html``.

A variant's ``result.json`` is written last and atomically, so it marks the variant done: a re-run with the same
output folder reuses finished variants (same recipe, same measurement settings) unless ``force``; an interrupted
variant simply runs again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit import __version__
from edgekit._fs import atomic_path, sweep_stale_temps, write_text_atomic
from edgekit._json import from_json, to_json
from edgekit._log import logger
from edgekit.data_range import range_mismatches
from edgekit.errors import EdgekitError
from edgekit.keras.params import count_params
from edgekit.optimize.executors import Context, Job, executor
from edgekit.optimize.progress import Progress
from edgekit.optimize.ranking import Candidate, rank, worst_case
from edgekit.recipe import Recipe, dump_recipes, preset
from edgekit.measurement import LatencyRun, from_interleaved
from edgekit.results import ModelInfo, Original, Results, Settings, Variant, dumps, loads, relative, relative_artifact
from edgekit.targets import TARGETS, accelerator

__all__ = ["Settings", "candidates", "default_recipes", "for_target", "optimize"]


def default_recipes(target: str) -> tuple[Recipe, ...]:
    return preset(accelerator(target).preset)


def for_target(recipes: Sequence[Recipe], target: str) -> tuple[list[Recipe], list[Variant]]:
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
                skipped.append(Variant(r.name, r, "skipped", f"the {target} target converts every layer to int8; "
                                                              "layers kept out of int8 need a .tflite target"))
        elif r.quantize.mode in spec.quantize_modes:
            io = r.quantize.io_dtype if r.quantize.io_dtype in spec.io_dtypes else spec.default_io_dtype(r.quantize.mode)
            kept.append(replace(r, quantize=replace(r.quantize, io_dtype=io), formats=(fmt,)))
        else:
            skipped.append(Variant(r.name, r, "skipped", f"the {target} target runs {' or '.join(spec.quantize_modes)} "
                                                          f"models only; this variant is {r.quantize.mode}"))
    return kept, skipped


def optimize(
    model: str | os.PathLike,
    outdir: str | os.PathLike,
    data: Any = None,
    recipes: Sequence[Recipe] | None = None,
    settings: Settings = Settings(),
    trust_model: bool = False,
    trust_code: bool = False,
    val_split: float | None = None,
    progress: Progress | None = None,
) -> Results:
    """Run every recipe on ``model``, measure each artifact, rank them, write results.json and report.html.

    Returns the results (as written to results.json: paths relative to ``outdir``)."""
    from edgekit.optimize.engine import check_evaluable, prepare, versions
    from edgekit.optimize.metrics import evaluate_outputs

    # Everything that can be checked without TensorFlow is checked first (here and in prepare): a bad option, file
    # or recipe fails in a second, not after minutes of fine-tuning.
    progress = progress or Progress(False)
    if settings.devices:  # so are the devices: unreachable or not ready is known up front
        from edgekit.devices import check_devices

        problems = [f"device {c.device}: {'; '.join(c.problems)}"
                    for c in check_devices(list(settings.devices), settings.accept_new_host_key) if not c.ready]
        if problems:
            raise EdgekitError(" | ".join(problems))
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"output folder {out} is a file; give a folder with -o")
    recipes, not_run = for_target(list(recipes) if recipes else default_recipes(settings.target), settings.target)
    if not recipes:
        raise EdgekitError(f"no recipe can run for target {settings.target}: {'; '.join(v.reason for v in not_run)}")
    prepared = prepare(model, data, trust_model=trust_model, trust_code=trust_code, val_split=val_split)
    check_evaluable(prepared)
    warnings = []
    if prepared.train is not None:
        warnings += range_mismatches([prepared.train.x_train], [prepared.train.x_val], "training data", "held-out data")
        for warning in warnings:
            logger.warning(warning)
    prepared, unusable = _usable_labels(prepared)
    warnings += unusable
    if settings.robustness:
        prepared, why_not = _with_perturbations(prepared, progress)
        warnings += why_not
    out.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(out, depth=2)  # what a killed earlier run left in OUTDIR and OUTDIR/variants/*
    write_text_atomic(out / "recipes.yaml", dump_recipes(recipes))
    original = Original(evaluate_outputs(prepared.reference, prepared.eval_y, reference=prepared.reference),
                        robustness=prepared.original_robustness)
    progress.begin(recipes, can_train=prepared.train is not None)
    runner = executor(settings.executor)
    variants, conditions, first, searches = [None] * len(recipes), None, [], []
    for index, recipe in enumerate(recipes):
        variants[index] = _reused(index, recipe, out, settings, progress)
        if variants[index] is not None:
            progress.finished(index, reused=True)
        else:  # a search (int8-mixed) runs only when its plain counterpart, in the first batch, misses the bound
            (searches if recipe.quantize.searches else first).append(Job(index, recipe))

    def run_here(job: Job) -> Variant:
        nonlocal conditions
        variant, measured_on = _run_variant(job.index, job.recipe, prepared, out, settings, progress)
        conditions = conditions or measured_on
        progress.finished(job.index, reused=variant.status != "done")
        return variant

    context = Context(str(model), trust_model, data, val_split, trust_code, settings, _portable(prepared))
    for batch in (first, searches):
        jobs = []
        for job in batch:
            done = [v for v in variants if v is not None]
            needless = _mixed_not_needed(job.recipe, done, original, settings) if job.recipe.quantize.searches else None
            if needless:
                progress.step(job.index, job.recipe.name, f"skipped: {needless}")
                variants[job.index] = Variant(job.recipe.name, job.recipe, "skipped", needless)
            else:
                jobs.append(job)
        for job, variant in zip(jobs, runner.run(jobs, run_here, context, out, progress.line)):
            variants[job.index] = variant
    on_devices = ()
    if settings.devices:  # every speed figure comes from the devices
        from edgekit.optimize.on_devices import measure_on_devices

        variants, on_devices = measure_on_devices(variants, out, settings, prepared, progress, _previous_results(out))
        latency = None
        warnings += [f"device {d.name} was not measured ({d.failure}); a re-run with the same -o measures it"
                     for d in on_devices if d.failure]
    else:
        variants, benched_on = _bench_here(variants, out, settings)
        conditions = conditions or benched_on
        variants, latency = _interleave(variants, out, settings, progress)
    variants = [v.on_devices([d.name for d in settings.devices]) for v in variants]  # not an earlier run's others
    if latency is not None and latency.busy:
        warnings.append(latency.busy)
    warnings += [f"device {d.name}: {d.latency.busy}" for d in on_devices if d.latency is not None and d.latency.busy]

    results = Results(
        edgekit_version=__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=ModelInfo(str(model), prepared.model.name, count_params(prepared.model), prepared.loaded.to_dict()),
        settings=settings,
        evaluated_on=prepared.evaluated_on,
        original=original,
        variants=tuple(variants + not_run),
        data=prepared.train.describe() if prepared.train is not None else None,
        versions=versions(),
        conditions=conditions,
        latency=latency,
        warnings=tuple(warnings),
        notes=prepared.notes,
        execution=runner.describe(),
        devices=on_devices,
    )
    return _rank_and_publish(results, out)


def _usable_labels(prepared) -> tuple[Any, list[str]]:
    """Held-out labels of a single class (or with a class seen once) make every variant score the same top-1: then
    the labels are not used, and variants are ranked by fidelity to the original."""
    from edgekit.optimize.metrics import unusable_labels

    reference = prepared.reference
    if prepared.eval_y is None or np.ndim(reference) != 2:
        return prepared, []
    why = unusable_labels(prepared.eval_y, np.shape(reference)[1])
    if not why:
        return prepared, []
    warning = (f"{why}: every variant would score the same top-1, so accuracy is not used; variants are ranked by "
               "fidelity to the original (top-1 agreement, SNR) on the held-out inputs")
    return replace(prepared, eval_y=None, evaluated_on=f"{prepared.evaluated_on}, labels not used"), [warning]


def _with_perturbations(prepared, progress: Progress) -> tuple[Any, list[str]]:
    """The perturbed held-out inputs every artifact is measured on (made once, from the float Keras model), and the
    original's accuracy on them; a model that is not a single-input classifier with labels gets none, and a note."""
    from edgekit.optimize.metrics import is_classification, sparse_labels
    from edgekit.optimize.robustness import measure_robustness, perturbed_sets

    if prepared.eval_y is None or isinstance(prepared.eval_x, list) or not is_classification(prepared.reference, prepared.eval_y):
        return prepared, ["robustness not measured: it needs labelled held-out data for a single-input classifier"]
    progress.line("robustness: perturbed inputs and transferred attacks (FGSM, PGD) from the float model")
    labels = sparse_labels(prepared.eval_y, np.shape(prepared.reference)[1])
    sets = perturbed_sets(prepared.model, prepared.eval_x, labels)
    original = measure_robustness(lambda x: prepared.model.predict(x, verbose=0), sets)
    return replace(prepared, perturbed=sets, original_robustness=original), []


def _interleave(variants: list[Variant], out: Path, settings: Settings, progress: Progress) -> tuple[list[Variant], LatencyRun | None]:
    """Time every artifact interleaved with the float32 .tflite (see device_bench.interleaved): each artifact's
    ``latency_ms`` is its median and spread, with its ratio to the baseline and the verdict (faster, slower, or no
    measurable difference). Also returns how it was measured, and whether the machine was busy."""
    from edgekit.device_bench.interleaved import measure_interleaved

    arts = {f"{v.name}/{a.format}": a for v in variants if v.status == "done" for a in v.artifacts}
    if not arts or not settings.bench_seconds:
        return variants, None
    baseline = "fp32/tflite" if "fp32/tflite" in arts else next(iter(arts))
    progress.line(f"latency: {len(arts)} artifacts interleaved with {baseline} in rounds")
    on_cpu = any(a.measurement.latency_note for a in arts.values())
    info = measure_interleaved({n: out / a.path for n, a in arts.items()}, baseline, threads=settings.threads,
                               accelerator="cpu" if on_cpu else settings.target).to_dict()
    spreads, run = from_interleaved(info)

    def timed(v: Variant) -> Variant:
        return replace(v, artifacts=tuple(replace(a, measurement=replace(a.measurement, latency_ms=spreads[f"{v.name}/{a.format}"]))
                                          if f"{v.name}/{a.format}" in spreads else a for a in v.artifacts))

    return [timed(v) for v in variants], run


def _reused(index: int, recipe: Recipe, out: Path, settings: Settings, progress: Progress) -> Variant | None:
    """The variant as an earlier run with the same OUTDIR, recipe and measurement settings finished it, or None."""
    done = out / "variants" / recipe.name / "result.json"
    if not done.is_file() or settings.force:
        return None
    previous = _previous(done)
    if previous is None or previous.recipe != recipe or not settings.same_measurement(previous.settings):
        return None
    progress.step(index, recipe.name, "reused (finished in an earlier run; --force to redo)")
    return replace(previous, reused=True)


def _portable(prepared) -> dict:
    """The fields of ``prepared`` a worker cannot rebuild by itself: the evaluation arrays made here."""
    from dataclasses import fields

    return {f.name: getattr(prepared, f.name) for f in fields(prepared) if f.name not in ("loaded", "train")}


def run_job_in(job: Job, context: Context, out: Path) -> Variant:
    """On a worker (:mod:`edgekit.optimize.executors`): rebuild what this machine prepared, then run one variant into
    ``out`` with the benchmark left to the machine that measures latency (``bench_seconds`` 0)."""
    from edgekit.optimize.engine import prepare

    prepared = prepare(context.model, context.data, trust_model=context.trust_model, trust_code=context.trust_code,
                       val_split=context.val_split)
    prepared = replace(prepared, **context.prepared)
    settings = replace(context.settings, bench_seconds=0.0, executor="local")
    variant, _ = _run_variant(job.index, job.recipe, prepared, out, settings, Progress(False))
    return replace(variant, settings=context.settings)


def _bench_here(variants: list[Variant], out: Path, settings: Settings) -> tuple[list[Variant], Any]:
    """MACs, memory and energy of the artifacts not yet benchmarked on this machine: made by a cluster (never
    measured on a node), or by an earlier run that measured them on devices."""
    from edgekit.optimize.engine import bench_figures

    conditions, done = None, []
    for v in variants:
        if v.status == "done" and settings.bench_seconds and any(a.measurement.load_ms is None for a in v.artifacts):
            artifacts = []
            for a in v.artifacts:
                figures, measured_on = bench_figures(out / a.path, settings, mcu=a.mcu is not None)
                conditions = conditions or measured_on
                artifacts.append(replace(a, measurement=replace(a.measurement, **figures)))
            v = replace(v, artifacts=tuple(artifacts))
            write_text_atomic(out / "variants" / v.name / "result.json", json.dumps(to_json(v), indent=2))
        done.append(v)
    return done, conditions


def _run_variant(index: int, recipe: Recipe, prepared, out: Path, settings: Settings, progress: Progress) -> tuple[Variant, Any]:
    from edgekit.optimize.engine import VariantPaths, run_variant, skip_reason

    vdir = out / "variants" / recipe.name
    done = vdir / "result.json"
    reason = skip_reason(recipe, prepared)
    if not reason and recipe.quantize.searches and (prepared.eval_y is None or settings.constraints.max_accuracy_drop is None):
        reason = "the search for layers to keep float needs held-out labels and --max-accuracy-drop"
    if reason:
        return Variant(recipe.name, recipe, "skipped", reason), None
    try:
        keras = vdir / ("model.keras" if prepared.loaded.direction == "keras3->tf_keras" else "model.h5")
        variant, conditions = run_variant(prepared, recipe, VariantPaths(keras, vdir / recipe.name), settings, progress, index=index,
                                          max_accuracy_drop=settings.constraints.max_accuracy_drop, sensitivity=True)
    except EdgekitError as exc:
        progress.step(index, recipe.name, f"failed: {exc}")
        return Variant(recipe.name, recipe, "failed", str(exc)), None
    variant = _relative_variant(variant, out)
    write_text_atomic(done, json.dumps(to_json(variant), indent=2))
    return variant, conditions


def _mixed_not_needed(recipe: Recipe, variants: list[Variant], original: Original, settings: Settings) -> str | None:
    """Why a ``keep_float: auto`` variant need not run: its plain-int8 counterpart (same recipe, every layer int8)
    already meets the accuracy bound."""
    bound = settings.constraints.max_accuracy_drop
    plain = replace(recipe.quantize, keep_float=())
    for v in variants:  # the same recipe with every layer int8, whatever it converts to (edgetpu: with uint8 I/O)
        if v.status != "done" or v.recipe != replace(recipe, name=v.name, formats=v.recipe.formats,
                                                     quantize=replace(plain, io_dtype=v.recipe.quantize.io_dtype)):
            continue
        top1 = next((a.measurement.metrics.top1 for a in v.artifacts if a.format in ("tflite", "edgetpu")), None)
        if top1 is None or original.metrics.top1 is None or bound is None:
            return None
        drop = 100 * (original.metrics.top1 - top1)
        if drop <= bound:
            return f"plain int8 ({v.name}) already meets the accuracy bound: {drop:.2f} <= {bound:g} top-1 points"
    return None


def _previous_results(out: Path) -> Results | None:
    """The results.json an earlier run left in ``out``, or None (none, unreadable, or of another format)."""
    try:
        return loads((out / "results.json").read_text(encoding="utf-8"))
    except (OSError, EdgekitError):
        return None


def _previous(path: Path) -> Variant | None:
    """A finished variant from an earlier run, or None when the file is unreadable or of another format."""
    try:
        return from_json(Variant, json.loads(path.read_text(encoding="utf-8")), str(path))
    except (EdgekitError, ValueError):
        return None


def _relative_variant(variant: Variant, root: Path) -> Variant:
    return replace(variant, artifacts=tuple(relative_artifact(a, root) for a in variant.artifacts),
                   keras_model=relative(variant.keras_model, root), recipe_file=relative(variant.recipe_file, root))


def candidates(results: Results, device: str | None = None) -> list[Candidate]:
    """The ranking's view of every measured artifact: with ``device``, that device's latency (and its accuracy,
    where --device-accuracy measured it there)."""
    out = []
    for v, a in results.measured():
        m = a.measurement
        on = m.on(device) if device is not None else None
        metrics = on.metrics if on is not None and on.metrics is not None else m.metrics
        latency = on.latency_ms if on is not None else None if device is not None else m.latency_ms
        out.append(Candidate(f"{v.name}/{a.format}", metrics.top1, metrics.agreement, a.file_bytes, a.gzip_bytes,
                             latency.p50 if latency else None, latency.verdict if latency else None, metrics.snr_db,
                             arena_bytes=a.mcu.arena.bytes if a.mcu is not None else None,
                             flash_bytes=a.mcu.flash_bytes if a.mcu is not None else None,
                             delta_bytes=m.download.delta if m.download else None, robustness_drop=m.robustness_drop,
                             failure=f"does not run on device {device}: {on.failure}" if on and on.failure else None))
    return out


def _rank_and_publish(results: Results, out: Path) -> Results:
    """Rank, copy the recommendation to ``best.*`` with its recipe beside it, write results.json and report.html.

    With devices, each device is ranked on its own figures, and the recommendation is ranked on every measured
    device's worst figures (it meets each constraint on each device); with several devices, each device's own
    recommendation is copied to ``best-NAME.*`` too."""
    from edgekit.optimize.pipeline_report import render

    original, limits = results.original.metrics.top1, results.settings.constraints
    measured = [d for d in results.devices if d.failure is None]
    devices = []
    suffixes = (*{t.suffix for t in TARGETS.values()}, ".recipe.yaml")
    for old in out.glob("best*"):  # an earlier run's recommendations are not this run's
        if (old.name.startswith("best-") or old.name.startswith("best.")) and old.name.endswith(suffixes) and old.is_file():
            old.unlink()
    found = {d.name: candidates(results, d.name) for d in measured}
    for d in results.devices:
        if d.failure is None:
            d = replace(d, ranking=rank(found[d.name], original, limits, baseline=d.latency.baseline_artifact))
            if len(results.devices) > 1 and d.ranking.recommended:
                d = replace(d, best=_publish(results, d.ranking.recommended, out, f"best-{_file_part(d.name)}"))
        devices.append(d)
    if measured:
        fleet = worst_case(list(found.values()))
        baseline = measured[0].latency.baseline_artifact
    else:
        fleet = candidates(results, results.devices[0].name) if results.devices else candidates(results)
        baseline = results.latency.baseline_artifact if results.latency else next((c.name for c in fleet if c.name.startswith("fp32/")), None)
    ranking = rank(fleet, original, limits, baseline=baseline)
    if len(measured) > 1 and ranking.recommended:
        ranking = replace(ranking, reason=f"on each of the {len(measured)} devices ({', '.join(d.name for d in measured)}, "
                                          f"their worst figures): {ranking.reason}")
    best = _publish(results, ranking.recommended, out, "best") if ranking.recommended else None
    text = dumps(replace(results, ranking=ranking, best=best, devices=tuple(devices)))
    results = loads(text, str(out / "results.json"))  # exactly what was written
    write_text_atomic(out / "results.json", text)
    write_text_atomic(out / "report.html", render(results))
    return results


def _file_part(name: str) -> str:
    """A device name as part of a file name (a one-off user@host:port device has characters that are not)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _publish(results: Results, name: str, out: Path, stem: str) -> str:
    """Copy the artifact ``name`` to ``out/STEM.SUFFIX`` with its recipe beside it (``STEM.recipe.yaml``)."""
    variant, artifact = results.artifact(name)
    best = out / (stem + Path(artifact.path).suffix)
    with atomic_path(best) as tmp:
        shutil.copyfile(out / artifact.path, tmp)
    write_text_atomic(out / f"{stem}.recipe.yaml", (out / variant.recipe_file).read_text(encoding="utf-8"))
    return relative(best, out)
