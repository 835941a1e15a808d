"""The edgekit command line: a thin Click layer. Each command parses options, calls one library function, prints.

Heavy imports (TensorFlow, LiteRT, ONNX Runtime) happen inside the callbacks, so ``edgekit --help`` stays fast.
Errors the user can act on (``EdgekitError``) print as one line on stderr and exit 1; usage errors exit 2;
anything unexpected prints one line too, and the traceback only with ``-v``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from edgekit._json import json_default
from edgekit.errors import EdgekitError, Terminated
from edgekit.recipe import CLUSTER_INITS, PRUNE_SCHEDULES, PRUNE_STRUCTURES
from edgekit.targets import ACCELERATORS, CALIBRATION_METHODS, IO_DTYPES, QUANTIZE_MODES, TARGETS


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Terminated:
            _fail(_TERMINATED, code=143)
        except KeyboardInterrupt:
            _fail("interrupted; nothing half-written was left at the output path", code=130)
        except Exception as exc:
            from edgekit._fs import terminated

            if terminated():  # SIGTERM arrived in code that caught it and then failed otherwise (TensorFlow does)
                _fail(_TERMINATED, code=143)
            if isinstance(exc, EdgekitError):
                _fail(str(exc))
            _fail(f"{type(exc).__name__}: {exc}".splitlines()[0] + " (run with -v for the traceback)")  # unexpected


_TERMINATED = "terminated (SIGTERM); nothing half-written and no temporary file was left"


def _fail(message: str, code: int = 1) -> None:
    if logging.getLogger("edgekit").isEnabledFor(logging.DEBUG):
        import traceback

        traceback.print_exc()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show framework logs and tracebacks.")
@click.option("--max-expand", metavar="SIZE",
              help="Largest size an input file may expand to (zip members together, one array) [default: 2GB].")
@click.option("--max-ratio", type=click.FloatRange(min=1), default=100, show_default=True,
              help="Largest expansion ratio of a zip member or HDF5 dataset past 16 MB (bombs reach 1000+).")
@click.option("--max-image-pixels", type=click.IntRange(min=1), default=50_000_000, show_default=True,
              help="Largest image (width x height) decoded from an image folder.")
@click.version_option(package_name="edgekit", message="edgekit %(version)s")
def cli(verbose: bool, max_expand: str, max_ratio: float, max_image_pixels: int) -> None:
    """edgekit: make a trained Keras model fit an edge device.

    \b
    edgekit optimize model.h5 --data data.npz    # try variants, rank them, write a report
    edgekit convert model.h5 --to tflite --quantize int8 --calibration data.npz
    edgekit bench model.tflite --threads 1,2     # on the device itself
    edgekit run model.tflite --input x.npy
    """
    level = logging.DEBUG if verbose else logging.WARNING
    logger = logging.getLogger("edgekit")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    from edgekit import limits

    chosen = {"max_ratio": max_ratio, "max_image_pixels": max_image_pixels}
    if max_expand is not None:
        from edgekit.optimize.ranking import parse_size

        try:
            chosen["max_expand"] = parse_size(max_expand)
        except EdgekitError as exc:
            raise click.BadParameter(str(exc), param_hint="--max-expand") from None
    click.get_current_context().with_resource(limits.using(limits.Limits(**chosen)))


def emit_json(data: Any) -> None:
    """The one way commands print machine-readable results on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=json_default))


def main() -> None:
    from edgekit._fs import run_temp_folder, sigterm_as_interrupt

    with sigterm_as_interrupt(), run_temp_folder():  # SIGTERM cleans up like Ctrl-C; every temporary in one place
        cli(prog_name="edgekit")


# ---- commands -----------------------------------------------------------------------------------------
# Each command below: parse options, call one edgekit function, print (a table, or JSON with --json).


@cli.command()
@click.argument("model", type=click.Path(exists=False))
@click.option("--to", "to", type=click.Choice(list(TARGETS)), default="tflite", show_default=True)
@click.option("--quantize", type=click.Choice(list(QUANTIZE_MODES)), default="none", show_default=True, help="Quantization (each target takes some modes).")
@click.option("--calibration", metavar="DATA", help="Calibration data for int8/int16x8: .npz, .npy, an image folder, or 'random' (synthetic, said so in the output).")
@click.option("--calibration-method", type=click.Choice(list(CALIBRATION_METHODS)), default="minmax", show_default=True,
              help="ONNX int8: how ONNX Runtime picks activation ranges.")
@click.option("--io-dtype", type=click.Choice(list(IO_DTYPES)), help="Input/output type of an int8 model (default int8).")
@click.option("--eval-data", metavar="DATA", help="Inputs for the parity check (default: the calibration data, else seeded random in the inputs' range).")
@click.option("--input-range", "input_range", multiple=True, metavar="[NAME=]LOW:HIGH", help="Range of the model's inputs for random calibration and check inputs, e.g. 0:255 (default: from the data or the model's Rescaling/Normalization/Embedding layers).")
@click.option("--allow-low-parity", is_flag=True, help="Keep a quantized artifact whose parity collapsed (agreement < 50 % or SNR < 5 dB).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option("--static-batch", is_flag=True, help="ONNX: fix the batch dimension to 1 (default: dynamic).")
@click.option("-o", "--output", type=click.Path(), help="Output path (default: next to the model).")
@click.option("--trust-model", is_flag=True, help="Allow Lambda layers and custom objects (runs code from the model).")
@click.option("--custom-objects", "custom_objects", multiple=True, metavar="MODULE:NAME", help="A class the model file names (subclassed model, custom layer), imported from your code (needs --trust-code); repeatable.")
@click.option("--trust-code", is_flag=True, help="Allow --custom-objects to import your code.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def convert(model, to, quantize, calibration, calibration_method, io_dtype, eval_data, input_range, allow_low_parity, opset,
            static_batch, output, trust_model, custom_objects, trust_code, as_json):
    """Convert a Keras model (.h5, .keras, SavedModel) to TFLite, ONNX or an Edge-TPU-ready TFLite.

    Every conversion is checked against the Keras model (parity) and reported with its size.

    \b
    edgekit convert model.h5                                  # float32 .tflite
    edgekit convert model.h5 --quantize int8 --calibration data.npz
    edgekit convert model.h5 --to onnx --opset 17
    edgekit convert model.h5 --to onnx --quantize int8 --calibration data.npz
    edgekit convert model.h5 --to edgetpu --calibration images/
    edgekit convert model.h5 --to mcu --calibration data.npz -o kws     # kws.tflite, kws.cc, kws.h
    """
    from pathlib import Path

    from edgekit.convert import convert as run_convert
    from edgekit.convert.report import artifact_table
    from edgekit.keras.loading import register_custom_objects
    from edgekit.optimize.progress import Progress

    register_custom_objects(custom_objects, trust_code)

    what = f"{Path(model).name} → {to}" + (f" {quantize}" if quantize != "none" else "")
    with Progress(not as_json and sys.stderr.isatty()).task(f"converting {what} (then checking parity)"):  # a live spinner on a terminal only
        artifact = run_convert(
            model, to=to, output=output, quantize=quantize, calibration=calibration, io_dtype=io_dtype,
            eval_data=eval_data, opset=opset, dynamic_batch=not static_batch, trust_model=trust_model,
            calibration_method=calibration_method, input_range=list(input_range) or None,
            allow_low_parity=allow_low_parity,
        )
    if as_json:
        emit_json(artifact.to_dict())
    else:
        click.echo(artifact_table([artifact]))


@cli.command("run")
@click.argument("model", type=click.Path())
@click.option("-i", "--input", "input_path", required=True, type=click.Path(),
              help="Input: .npy (one input; batch axis optional), .npz (inputs by name), or an image (.png, .jpg; "
                   "scaled to [0, 1], needs Pillow).")
@click.option("--accelerator", default="cpu", show_default=True,
              help="cpu, gpu, npu, edgetpu (.tflite); cpu, gpu, npu, cuda, tensorrt, openvino, ... (.onnx).")
@click.option("--fallback-cpu", is_flag=True, help="Run on the CPU if the accelerator is not available.")
@click.option("--delegate", type=click.Path(), help="External TFLite delegate library (.so) for --accelerator.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: the runtime's).")
@click.option("--top-k", type=click.IntRange(min=0), default=None,
              help="Classes to show per item (0: none). Default: 5 for outputs that are class probabilities "
                   "(rows of a softmax); regression and other outputs are printed as values.")
@click.option("--raw", is_flag=True, help="Quantized outputs as stored integers, not dequantized floats.")
@click.option("--save-outputs", type=click.Path(dir_okay=False), metavar="FILE.npz",
              help="Also write every output, whole, to FILE.npz (arr_0, arr_1, ... in the model's output order).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def run_command(model, input_path, accelerator, fallback_cpu, delegate, threads, top_k, raw, save_outputs, as_json):
    """Run a .tflite or .onnx model on one input file and print its outputs (top-k classes for classifiers).

    \b
    edgekit run digits.tflite --input sample.npy
    edgekit run model_int8.tflite --input cat.png --top-k 3
    edgekit run model.onnx --input batch.npz --threads 2 --json
    edgekit run model_edgetpu.tflite --input x.npy --accelerator edgetpu --fallback-cpu
    """
    from edgekit.runtime.run import run as run_model

    result = run_model(model, input_path, accelerator=accelerator, threads=threads,
                       fallback="cpu" if fallback_cpu else None, delegate=delegate, top_k=top_k, raw=raw,
                       save_outputs=save_outputs)
    if as_json:
        emit_json(result.to_dict())
        return
    delegated = {True: "whole graph", False: "partly", None: "n/a"}[result.fully_delegated]
    click.echo(f"{result.model}: {result.backend} on {result.accelerator} (delegated: {delegated}), "
               f"load {result.load_ms:.1f} ms, predict {result.latency_ms:.2f} ms, input {result.input_shape}")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for out in result.outputs:
        click.echo(f"{out.name}: {out.dtype}{list(out.shape)}")
        if out.top_k:
            for item, tops in enumerate(out.top_k):
                ranked = "  ".join(f"{cls}:{score:.4f}" for cls, score in tops)
                click.echo(f"  [{item}] {ranked}")
        elif out.values:
            click.echo(f"  {out.values}")
        else:
            click.echo("  (too large to print; use --json or the Python API)")


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 1,2,4, got {value!r}") from None
    if not items or any(i < 1 for i in items):
        raise click.BadParameter(f"expected positive integers such as 1,2,4, got {value!r}")
    return items


def _device_options(func):
    """--device / --devices / --accept-new-host-key, shared by bench and optimize."""
    options = [
        click.option("--device", multiple=True, metavar="NAME",
                     help="Measure on this device over SSH: a name or group from the inventory, or user@host[:port]; "
                          "repeatable (needs edgekit[devices]; see edgekit devices --help)."),
        click.option("--devices", "devices_file", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Device inventory YAML (default: $EDGEKIT_DEVICES, else ~/.config/edgekit/devices.yaml)."),
        click.option("--accept-new-host-key", is_flag=True,
                     help="Trust and record the host key of a device not yet in its known_hosts (a changed key is "
                          "still refused)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _given(ctx: click.Context, name: str) -> bool:
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def _bench_interleaved(models, accelerator, threads, names, devices_file, accept_new_host_key, as_json) -> None:
    if len(models) < 2:
        raise click.UsageError("--interleaved compares models with the first: give two or more")
    if len(threads) != 1:
        raise click.UsageError("--interleaved takes one thread count")
    if names:
        from edgekit.devices import resolve_devices
        from edgekit.devices.fleet import interleave_on_device

        found = resolve_devices(list(names), devices_file)
        if len(found) != 1:
            raise click.UsageError("--interleaved runs on one device at a time")
        result = interleave_on_device(models, found[0], threads[0], accelerator, accept_new_host_key)
    else:
        from edgekit.device_bench import measure_interleaved

        result = measure_interleaved({m: m for m in models}, models[0], threads=threads[0],
                                     accelerator=accelerator or "cpu").to_dict()
    if as_json:
        emit_json(result)
    else:
        from edgekit.device_bench.report import interleaved_report

        click.echo(interleaved_report(result))


def _bench_on_devices(models, names, devices_file, accept_new_host_key, settings, output, as_json, as_csv) -> None:
    """edgekit bench --device: results per model × device; a failed device is one line on stderr and exit 1, after
    the other devices' results are printed (and written to -o, from which a re-run resumes)."""
    from pathlib import Path

    from edgekit.devices import bench_on_devices, resolve_devices

    if not models:
        raise click.UsageError("give at least one model: edgekit bench model.tflite --device NAME")
    devices = resolve_devices(names, devices_file)
    previous = []
    if output and Path(output).is_file():
        from edgekit.device_bench import load_results

        previous = load_results(output)
    fleet = bench_on_devices(models, devices, settings, accept_new_host_key=accept_new_host_key, previous=previous)
    results = list(fleet.results)
    if output and results:
        from edgekit._fs import write_text_atomic

        write_text_atomic(output, json.dumps(results, indent=2, default=json_default))
    if as_json:
        emit_json(results)
    elif as_csv:
        from edgekit.device_bench import to_csv

        click.echo(to_csv(results), nl=False)
    else:
        from edgekit.devices.report import fleet_table

        click.echo(fleet_table(results))
        if fleet.reused:
            click.echo(f"{fleet.reused} result(s) reused from {output} (same device, model content and settings)")
    for failure in fleet.failures:
        click.echo(f"error: {failure.message}", err=True)
    if fleet.failures:
        sys.exit(1)


@cli.command()
@click.argument("models", nargs=-1, type=click.Path())
@click.option("--accelerator", default="cpu", show_default=True, help="cpu, gpu, npu, edgetpu (TFLite); cpu, gpu or an execution provider (ONNX).")
@click.option("--threads", default="1", show_default=True, callback=_int_list, help="Thread counts, comma-separated: one result per value.")
@click.option("--batch", default="1", show_default=True, callback=_int_list, help="Batch sizes, comma-separated: one result per value.")
@click.option("--runs", type=click.IntRange(min=1), help="Timed runs (exactly N; with --min-time: at least N).")
@click.option("--min-time", type=click.FloatRange(min=0, min_open=True), help="Keep timing until S seconds have passed (default 1 s when --runs is not given).")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True, help="Untimed runs after the first inference.")
@click.option("--device-profile", metavar="NAME", help="Power profile for the time×power energy estimate (see --list-profiles).")
@click.option("--device-profiles", "profiles_file", type=click.Path(), metavar="FILE", help="YAML file with your own device profiles.")
@click.option("--list-profiles", is_flag=True, help="List the device profiles (with --device-profiles FILE: yours too) and exit.")
@click.option("--energy-command", metavar="CMD", help="Command printing joules (counter) or watts (sampled), e.g. an INA219 reader.")
@click.option("--energy-unit", type=click.Choice(["J", "mJ", "uJ", "W", "mW", "uW"]), help="Unit of --energy-command's output when it prints a bare number.")
@click.option("--profile-ops", is_flag=True, help="Time per op type; with two models, explain which ops got slower.")
@click.option("--compare", "compare_files", is_flag=True, help="Compare two results files: edgekit bench --compare a.json b.json.")
@click.option("--engine", type=click.Choice(["auto", "tflm"]), default="auto", show_default=True,
              help="tflm: TensorFlow Lite Micro on this host: arena, flash, host latency, MCU cycle estimates.")
@click.option("--mcu-profile", "mcu_profiles", metavar="NAMES", help="With --engine tflm: MCU profiles to estimate for, comma-separated (default all).")
@click.option("--interleaved", is_flag=True, help="Time the models in rounds interleaved with the first (the baseline): "
              "median, IQR, ratio to the baseline with its 95 % interval; a difference within the noise is a tie.")
@click.option("-o", "--output", type=click.Path(), help="Also write the results as JSON to this file (for --compare).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per model and setting.")
@_device_options
@click.pass_context
def bench(ctx, models, accelerator, threads, batch, runs, min_time, warmup, device_profile, profiles_file, list_profiles,
          energy_command, energy_unit, profile_ops, compare_files, engine, mcu_profiles, interleaved, output, as_json,
          as_csv, device, devices_file, accept_new_host_key):
    """Benchmark .tflite/.onnx models on this machine: size, latency, memory, MACs, energy proxies.

    Run it on the device itself (needs only edgekit[runtime]). Each model × threads × batch gives one result
    with the settings, the machine conditions and the edgekit version, so results can be compared later.

    \b
    edgekit bench model.tflite --threads 1,2,4 --min-time 2
    edgekit bench fp32.tflite int8.tflite --device-profile rpi4 -o pi.json
    edgekit bench fp32.tflite dynamic.tflite --profile-ops     # why is one slower?
    edgekit bench --compare before.json after.json
    edgekit bench model.onnx --batch 1,8 --csv > results.csv
    edgekit bench kws.tflite --engine tflm --mcu-profile nucleo-l4r5zi
    edgekit bench fp32.tflite int8.tflite --interleaved           # is int8 faster, beyond the noise?
    edgekit bench model.tflite --device pi4 --device pi5 -o fleet.json    # on devices over SSH
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv are exclusive: pick one output format")
    if device and engine == "tflm":
        raise click.UsageError("--engine tflm runs on this machine only; drop it or --device")
    if engine == "tflm":
        _bench_tflm(models, accelerator, runs, mcu_profiles, output, as_json, as_csv)
        return
    if interleaved:
        _bench_interleaved(models, accelerator if _given(ctx, "accelerator") else None, threads, device, devices_file,
                           accept_new_host_key, as_json)
        return
    if device:
        local_only = {"profile_ops": "--profile-ops", "compare_files": "--compare", "list_profiles": "--list-profiles",
                      "energy_command": "--energy-command", "profiles_file": "--device-profiles"}
        given = [flag for name, flag in local_only.items() if ctx.params.get(name)]
        if given:
            raise click.UsageError(f"{', '.join(given)} run on this machine only; drop them or --device")
        from edgekit.devices import BenchSettings

        settings = BenchSettings(threads=tuple(threads), batches=tuple(batch), runs=runs, min_time=min_time,
                                 warmup=warmup, device_profile=device_profile,
                                 accelerator=accelerator if _given(ctx, "accelerator") else None)
        _bench_on_devices(list(models), device, devices_file, accept_new_host_key, settings, output, as_json, as_csv)
        return
    if list_profiles:
        import dataclasses

        from edgekit.device_bench import device_profiles

        table = device_profiles(profiles_file)
        if as_json:
            emit_json({name: {**dataclasses.asdict(p), "citation": p.citation} for name, p in table.items()})
        else:
            from edgekit._table import render

            click.echo(render(["profile", "active W", "device", "source"],
                              [[p.name, p.active_power_w, p.description, p.citation] for p in table.values()]))
        return
    if compare_files:
        if len(models) != 2:
            raise click.UsageError("--compare takes exactly two results files: edgekit bench --compare a.json b.json")
        from edgekit.device_bench import compare_results
        from edgekit.device_bench.report import comparison_report

        result = compare_results(models[0], models[1])
        emit_json(result) if as_json else click.echo(comparison_report(result))
        return
    if not models:
        raise click.UsageError("give at least one model: edgekit bench model.tflite")
    from edgekit.device_bench import bench_many, diff_op_profiles, to_csv
    from edgekit.device_bench.report import op_diff_report, results_report

    results = bench_many(list(models), threads=threads, batches=batch, accelerator=accelerator, runs=runs,
                         min_time=min_time, warmup=warmup, device_profile=device_profile, profile_ops=profile_ops,
                         device_profiles_path=profiles_file, energy_command=energy_command, energy_unit=energy_unit)
    diff = None
    if profile_ops and len(models) == 2 and results[0].op_profile and results[-1].op_profile:
        diff = diff_op_profiles(results[0].op_profile, results[-1].op_profile)
    if output:
        import json as _json

        from edgekit._fs import write_text_atomic

        write_text_atomic(output, _json.dumps([r.to_dict() for r in results], indent=2, default=json_default))
    if as_json:
        emit_json({"results": [r.to_dict() for r in results], "op_diff": diff} if diff else
                  [r.to_dict() for r in results])
    elif as_csv:
        click.echo(to_csv(results), nl=False)
    else:
        click.echo(results_report(results))
        if diff is not None:
            click.echo("")
            click.echo(op_diff_report(diff))


def _bench_tflm(models, accelerator, runs, mcu_profiles, output, as_json, as_csv) -> None:
    if not models:
        raise click.UsageError("give at least one model: edgekit bench model.tflite --engine tflm")
    if accelerator != "cpu" or as_csv:
        raise click.UsageError("--engine tflm runs TFLite Micro on this CPU: drop --accelerator/--csv")
    from edgekit.device_bench.tflm import bench_report, bench_tflm

    names = [n.strip() for n in mcu_profiles.split(",") if n.strip()] if mcu_profiles else None
    results = [bench_tflm(m, runs=runs or 50, profiles=names) for m in models]
    if output:
        from edgekit._fs import write_text_atomic

        write_text_atomic(output, json.dumps([r.to_dict() for r in results], indent=2, default=json_default))
    emit_json([r.to_dict() for r in results]) if as_json else click.echo(bench_report(results))


@cli.command()
@click.argument("model", type=click.Path(), required=False)
@click.option("--data", metavar="DATA", help="Training + held-out data: .npz (x_train/y_train/x_val/y_val), an image folder, or module:function (--trust-code).")
@click.option("--val-split", type=float, help="Held-out fraction when DATA has only x/y.")
@click.option("--recipe", "recipe_file", metavar="NAME|FILE", help="A preset name (see --list-recipes) or a recipe YAML (one recipe or 'variants: [...]'); default: the preset for the target.")
@click.option("--list-recipes", is_flag=True, help="List the preset recipe sets and their variants, and exit.")
@click.option("--dry-run", is_flag=True, help="Print the variants that would run (sweeps expanded) as a recipe file, and exit.")
@click.option("--executor", default="local", show_default=True, metavar="local|ray[:ADDRESS]",
              help="Where the variants run: here, or as Ray tasks on a local Ray (ray) or a cluster (ray:ADDRESS; "
                   "pip install 'edgekit[cluster]'). Latency is measured on this machine (or the --device), never on a node.")
@click.option("--target", type=click.Choice(list(ACCELERATORS)), default="cpu", show_default=True, help="The accelerator latency is measured on.")
@click.option("--device-profile", help="Device whose active power turns latency into energy (see edgekit bench --list-profiles).")
@click.option("--max-accuracy-drop", type=float, default=1.0, show_default=True, help="Top-1 points below the original a variant may lose (without labels: points of top-1 agreement with the original).")
@click.option("--max-file-size", help="Largest artifact file (flash/disk), e.g. 2MB (1 KB = 1000 B; KiB = 1024 B).")
@click.option("--max-download", help="Largest download: the gzipped artifact (what an app download or OTA update carries), "
                                     "or its delta from --baseline, e.g. 100KB.")
@click.option("--baseline", type=click.Path(), help="The artifact your devices run now: each variant's download is also "
                                                   "measured as a binary delta from it (bsdiff4, zstd).")
@click.option("--max-robustness-drop", type=float, help="Points of accuracy under perturbations and transferred attacks a "
                                                        "variant may lose against the original.")
@click.option("--no-robustness", is_flag=True, help="Skip the robustness measurements (perturbations, FGSM/PGD), for speed.")
@click.option("--max-size", hidden=True, help="Removed: ambiguous; use --max-file-size or --max-download.")
@click.option("--max-latency", help="Slowest median latency on this machine (with --device: on each device), with its unit: 20ms, 0.5s, 800us.")
@click.option("--max-ram", help="--target mcu: largest TFLite Micro tensor arena, e.g. 128KB.")
@click.option("--max-flash", help="--target mcu: most flash the model may take, e.g. 512KB.")
@click.option("--threads", type=int, default=1, show_default=True, help="Threads for the latency measurements.")
@click.option("-o", "--outdir", type=click.Path(), default="edgekit-out", show_default=True)
@click.option("--force", is_flag=True, help="Redo variants finished in an earlier run with the same OUTDIR.")
@click.option("--loss", help="Keras loss for every fine-tuning variant (default: the model's own, matched to the labels).")
@click.option("--trust-model", is_flag=True, help="Allow Lambda layers and custom objects (runs code from the model).")
@click.option("--trust-code", is_flag=True, help="Allow --data module:function and --custom-objects (runs your code).")
@click.option("--custom-objects", "custom_objects", multiple=True, metavar="MODULE:NAME", help="A class the model file names (subclassed model, custom layer), imported from your code (needs --trust-code); repeatable.")
@click.option("--device-accuracy", is_flag=True, help="With --device: also run the held-out data through each device's "
                                                   "runtime, and rank by the accuracy measured there.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout; no progress output.")
@_device_options
def optimize(model, data, val_split, recipe_file, list_recipes, dry_run, executor, target, device_profile, max_accuracy_drop,
             max_file_size, max_download, baseline, max_robustness_drop, no_robustness, max_size, max_latency, max_ram,
             max_flash, threads, outdir, force, loss, trust_model, trust_code, custom_objects, device_accuracy, as_json,
             device, devices_file, accept_new_host_key):
    """Try optimization variants of MODEL, measure each shipped artifact, rank them and recommend one.

    Writes OUTDIR/results.json, OUTDIR/report.html, OUTDIR/best.* and every artifact under OUTDIR/variants/.
    Exit status: 0 a recommendation; 1 an error (or a --device that could not be measured: the other devices'
    figures are kept); 2 a usage error; 3 no variant produced an artifact;
    4 artifacts were made but none meets every constraint (results.json and report.html say which came closest).

    \b
    edgekit optimize model.h5 --data data.npz
    edgekit optimize model.h5 --data data.npz --max-download 100KB --max-latency 5ms --device-profile rpi4
    edgekit optimize model.h5 --data images/ --target edgetpu --recipe edgetpu -o out/
    edgekit optimize kws.h5 --data kws.npz --target mcu --max-ram 128KB --max-flash 512KB
    edgekit optimize model.h5 --data data.npz --device pi4    # rank by the device's own latency
    edgekit optimize model.h5 --data data.npz --device pi4 --device jetson --device-accuracy   # per device, and for both
    edgekit optimize --list-recipes
    edgekit optimize --recipe sweep.yaml --dry-run
    edgekit optimize model.h5 --data data.npz --recipe sweep.yaml --executor ray
    """
    from pathlib import Path

    from edgekit.recipe import preset, preset_names

    if list_recipes:
        from edgekit._table import render

        click.echo(render(["preset", "variants"], [[n, ", ".join(r.name for r in preset(n))] for n in preset_names()]))
        return
    if dry_run:
        from edgekit.recipe import dump_recipes
        from edgekit.targets import accelerator

        chosen = _optimize_recipes(recipe_file) or preset(accelerator(target).preset)
        click.echo(dump_recipes(chosen), nl=False)
        click.echo(f"{len(chosen)} variant(s): {', '.join(r.name for r in chosen)}; nothing was run (--dry-run)", err=True)
        return
    if not model:
        raise click.UsageError("give a model: edgekit optimize model.h5 (or --list-recipes)")
    if max_size is not None:
        raise click.UsageError("--max-size is ambiguous and was removed: use --max-file-size (the file, flash/disk) "
                               "or --max-download (gzip, what ships)")
    if (max_ram or max_flash) and target != "mcu":
        raise click.UsageError("--max-ram/--max-flash apply to --target mcu (TFLite Micro measures the arena)")
    from edgekit.optimize.pipeline import Settings
    from edgekit.optimize.pipeline import optimize as run_optimize
    from edgekit.optimize.pipeline_report import text_summary
    from edgekit.optimize.progress import Progress
    from edgekit.optimize.ranking import Constraints, parse_latency, parse_size

    on_devices = ()
    if device:
        from edgekit.devices import resolve_devices

        on_devices = tuple(resolve_devices(list(device), devices_file))
    elif device_accuracy:
        raise click.UsageError("--device-accuracy runs the held-out data on the devices: give --device NAME")
    settings = Settings(
        target=target, device_profile=device_profile, threads=threads, force=force, devices=on_devices,
        device_accuracy=device_accuracy, accept_new_host_key=accept_new_host_key, robustness=not no_robustness, baseline=baseline, executor=executor,
        constraints=Constraints(max_accuracy_drop, parse_size(max_file_size), parse_size(max_download),
                                parse_latency(max_latency), parse_size(max_ram), parse_size(max_flash),
                                max_robustness_drop),
    )
    recipes = _optimize_recipes(recipe_file)
    if loss:
        from dataclasses import replace

        from edgekit.optimize.pipeline import default_recipes
        from edgekit.optimize.train import check_loss_name

        check_loss_name(loss)
        recipes = [r.replace(train=replace(r.train, loss=loss)) for r in (recipes or default_recipes(target))]
    from edgekit.keras.loading import register_custom_objects

    register_custom_objects(custom_objects, trust_code)
    results = run_optimize(
        model, outdir, data=data, recipes=recipes, settings=settings, trust_model=trust_model, trust_code=trust_code,
        val_split=val_split, progress=Progress(not as_json),
    )
    if as_json:
        emit_json(results)
    else:
        click.echo(text_summary(results))
        click.echo(f"\nreport: {Path(outdir) / 'report.html'}\nresults: {Path(outdir) / 'results.json'}")
    for d in results.devices:  # the other devices' figures are in the results; this one's are missing
        if d.failure:
            click.echo(f"error: {d.failure}", err=True)
    code = OPTIMIZE_EXIT_CODES.get(results.ranking.outcome if results.ranking else None, 0)
    if code or any(d.failure for d in results.devices):
        sys.exit(code or 1)


def _optimize_recipes(recipe_file):
    """The recipes ``--recipe`` names: a preset, or a recipe file (sweeps expanded); None for the target's default."""
    from edgekit.recipe import load_recipes, preset, preset_names

    if not recipe_file:
        return None
    return preset(recipe_file) if recipe_file in preset_names() else load_recipes(recipe_file)


# `edgekit optimize` exit status when it ran but recommends nothing (README "Exit status").
OPTIMIZE_EXIT_CODES = {"recommended": 0, "no-artifact": 3, "none-meets-constraints": 4}


# ---- prune / cluster / quantize (issue 5) ----------------------------------------------------------------
def _technique_options(func):
    """Options shared by prune, cluster and quantize: data, fine-tuning, output, recipe file."""
    options = [
        click.argument("model", type=click.Path(exists=True, dir_okay=True)),
        click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                     help="Optimized Keras model (.h5 or .keras); the .tflite, .onnx and .recipe.yaml go beside it. "
                          "Default: ./MODEL-COMMAND.h5"),
        click.option("--data", default=None, help="Training data: .npz (x_train/y_train/x_val/y_val, or x/y), a folder "
                     "of class-named image folders, or module:function returning a tf.data.Dataset (--trust-code)."),
        click.option("--val-split", type=float, default=None, help="Held-out share for data given as x/y or a folder (0.2)."),
        click.option("--trust-code", is_flag=True, help="Allow --data module:function to run your code."),
        click.option("--trust-model", is_flag=True, help="Load a model with Lambda or custom layers (runs its code)."),
        click.option("--custom-objects", "custom_objects", multiple=True, metavar="MODULE:NAME",
                     help="A class the model file names, imported from your code (needs --trust-code); repeatable."),
        click.option("--recipe", "recipe_file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Run this recipe YAML instead of the technique options (the .recipe.yaml of a run reproduces it)."),
        click.option("--epochs", type=int, default=None, help="Fine-tuning epochs (default 2)."),
        click.option("--batch-size", type=int, default=None, help="Fine-tuning batch size (default 32)."),
        click.option("--learning-rate", type=float, default=None, help="Fine-tuning learning rate (default: the model's own, else 1e-3)."),
        click.option("--loss", default=None, help="Keras loss name (default: the model's own, else from the labels)."),
        click.option("--distill/--no-distill", default=None, help="Fine-tune by distillation from the original model "
                     "(KL on softened outputs, plus the task loss when --data has labels). Default: on for --channels "
                     "and for data without labels (.npy, .npz with x only, a folder of images without class folders)."),
        click.option("--temperature", type=float, default=None, help="Distillation temperature (default 4)."),
        click.option("--unfreeze-batchnorm", is_flag=True, help="Let fine-tuning update BatchNorm statistics (frozen by "
                     "default: a few epochs on small data wreck a trained model's statistics)."),
        click.option("--calibration", default=None, help="int8/16x8 calibration inputs (default: a sample of --data; 'random' for synthetic)."),
        click.option("--onnx", is_flag=True, help="Also convert the optimized model to ONNX."),
        click.option("--json", "as_json", is_flag=True, help="Print the results as JSON (no progress bars)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _layer_options(func):
    options = [
        click.option("--include", multiple=True, help="Only these layers (name or type, e.g. Dense); repeatable."),
        click.option("--exclude", multiple=True, help="Leave these layers alone (name or type); repeatable."),
        click.option("--all-layers", is_flag=True, help="Also optimize the first and last layers (skipped by default)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_RECIPE_OPTIONS = ("sparsity", "schedule", "structure", "clusters", "init", "preserve_sparsity", "mode", "io_dtype",
                   "quantize", "include", "exclude", "all_layers", "keep_float", "int16x8_layers", "epochs", "batch_size", "learning_rate", "loss", "onnx",
                   "distill", "temperature", "channels", "max_macs", "channel_latency", "criterion", "min_channels",
                   "round_to", "unfreeze_batchnorm")


def _run_technique(ctx: click.Context, command: str, build, kw: dict) -> None:
    """Build the recipe (from options, or --recipe), run it, print the table or JSON."""
    from pathlib import Path

    from click.core import ParameterSource

    from edgekit.recipe import Recipe, Train, load_recipes

    if kw["recipe_file"]:
        given = [f"--{n.replace('_', '-')}" for n in _RECIPE_OPTIONS
                 if n in ctx.params and ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--recipe sets the technique and training options; drop {', '.join(given)} or edit the recipe")
        recipes = load_recipes(kw["recipe_file"])
        if len(recipes) != 1:
            raise click.UsageError(f"{kw['recipe_file']} holds {len(recipes)} recipes; give a file with one (edgekit optimize runs several)")
        recipe = recipes[0]
    else:
        train = Train(**{k: kw[k] for k in ("epochs", "batch_size", "learning_rate", "loss", "distill", "temperature")
                         if kw[k] is not None}, freeze_batchnorm=not kw["unfreeze_batchnorm"])
        recipe = build(train)
        if kw["onnx"]:
            recipe = recipe.replace(formats=("tflite", "onnx"))
        recipe = Recipe.from_dict(recipe.to_dict())  # validate the combination once more, as a file would be
    output = kw["output"] or f"{Path(kw['model']).stem}-{command}.h5"
    from edgekit.keras.loading import register_custom_objects
    from edgekit.optimize import Progress, optimize_model
    from edgekit.optimize.table import format_result

    register_custom_objects(kw["custom_objects"], kw["trust_code"])
    bound = kw.get("max_accuracy_drop")
    result = optimize_model(kw["model"], recipe, kw["data"], output, calibration=kw["calibration"],
                            progress=Progress(not kw["as_json"]), trust_model=kw["trust_model"],
                            trust_code=kw["trust_code"], val_split=kw["val_split"],
                            max_accuracy_drop=1.0 if bound is None else bound)
    if kw["as_json"]:
        emit_json(result)
    else:
        click.echo(format_result(result))


def _select(kw: dict) -> dict:
    return {"include": tuple(kw["include"]), "exclude": tuple(kw["exclude"]), "skip_first_last": not kw["all_layers"]}


@cli.command()
@_technique_options
@_layer_options
@click.option("--sparsity", type=float, default=None, help="Target share of zero weights, in (0, 1) (default 0.5).")
@click.option("--schedule", type=click.Choice(PRUNE_SCHEDULES), default="polynomial", show_default=True,
              help="Ramp sparsity up over fine-tuning, or apply it from the start.")
@click.option("--structure", type=click.Choice(PRUNE_STRUCTURES), default="unstructured", show_default=True,
              help="2:4 = two zeros in every four weights (50%), for sparse kernels.")
@click.option("--quantize", type=click.Choice(list(QUANTIZE_MODES)), default="none",
              show_default=True, help="Post-training quantization of the .tflite.")
@click.option("--channels", type=float, default=None, metavar="RATIO",
              help="Channel pruning: remove this share of each layer's output channels and rebuild a smaller, faster "
                   "model (instead of zeroing weights).")
@click.option("--max-macs", type=int, default=None, help="Channel pruning to a MAC budget: remove the least important "
              "channels anywhere until the model needs at most this many multiply-accumulates.")
@click.option("--max-latency", "channel_latency", default=None, metavar="TIME",
              help="Channel pruning to a latency target, e.g. 5ms: the largest model whose float32 .tflite runs "
                   "within it on this machine (found by measuring).")
@click.option("--criterion", type=click.Choice(["l1", "l2", "l1-bn"]), default=None,
              help="Channel importance (default l1; l1-bn scales by the following BatchNormalization).")
@click.option("--min-channels", type=int, default=None, help="Channel pruning: keep at least this many per layer.")
@click.option("--round-to", type=int, default=None, help="Channel pruning: keep multiples of this (e.g. 8 or 4).")
@click.pass_context
def prune(ctx, **kw):
    """Prune MODEL, fine-tune it on --data, and measure the cost.

    Magnitude pruning (--sparsity) zeroes weights: the file compresses, the latency stays. Channel pruning
    (--channels, --max-macs or --max-latency) removes whole filters: fewer MACs, lower latency.

    \b
    edgekit prune model.h5 --data data.npz --sparsity 0.8
    edgekit prune model.h5 --data data.npz --structure 2:4 --quantize int8 -o out/pruned.h5
    edgekit prune model.h5 --data data.npz --channels 0.5 --round-to 8
    edgekit prune model.h5 --data inputs.npy --max-macs 2000000      # inputs only: distillation
    edgekit prune model.h5 --data data.npz --max-latency 5ms          # measured on this machine
    edgekit prune model.h5 --recipe out/pruned.recipe.yaml --data data.npz
    """
    from dataclasses import replace

    from edgekit.recipe import ChannelPrune, Prune, Quantize, Recipe

    channel_options = ("max_macs", "criterion", "min_channels", "round_to")
    channel_budget = kw["channels"] is not None or kw["max_macs"] is not None or kw["channel_latency"] is not None
    if channel_budget:
        given = [f"--{n.replace('_', '-')}" for n in ("sparsity", "all_layers") if kw[n]]
        given += [f"--{n}" for n in ("schedule", "structure") if ctx.get_parameter_source(n).name == "COMMANDLINE"]
        if given:
            raise click.UsageError(f"{', '.join(given)} set(s) magnitude pruning; channel pruning (--channels/--max-macs/--max-latency) "
                                   "takes --criterion, --min-channels, --round-to, --include, --exclude")
    elif any(kw[n] is not None for n in channel_options):
        raise click.UsageError("--criterion, --min-channels and --round-to apply to channel pruning; add --channels "
                               "RATIO, --max-macs N or --max-latency TIME")

    def build_channels(train):
        from edgekit.optimize.ranking import parse_latency

        options = {k: kw[k] for k in ("criterion", "min_channels", "round_to", "max_macs") if kw[k] is not None}
        spec = ChannelPrune(ratio=kw["channels"], include=tuple(kw["include"]), exclude=tuple(kw["exclude"]),
                            max_latency_ms=parse_latency(kw["channel_latency"]), **options)
        if train.distill is None:  # channel pruning learns from the original by default
            train = replace(train, distill=True)
        name = (f"channels-{spec.ratio:g}" if spec.ratio is not None else f"channels-{spec.max_macs}macs"
                if spec.max_macs is not None else f"channels-{spec.max_latency_ms:g}ms")
        return Recipe(name, prune=spec, quantize=Quantize(mode=kw["quantize"]), train=train)

    if channel_budget:
        _run_technique(ctx, "pruned", build_channels, kw)
        return

    def build(train):
        spec = Prune(**({"sparsity": kw["sparsity"]} if kw["sparsity"] is not None else {}),
                     schedule=kw["schedule"], structure=kw["structure"], **_select(kw))
        return Recipe(f"pruned-{spec.structure.replace(':', 'of') if spec.structure == '2:4' else spec.sparsity}",
                      prune=spec, quantize=Quantize(mode=kw["quantize"]), train=train)

    _run_technique(ctx, "pruned", build, kw)


@cli.command()
@_technique_options
@_layer_options
@click.option("--clusters", type=int, default=16, show_default=True, help="Unique weight values per tensor (>= 2).")
@click.option("--init", type=click.Choice(CLUSTER_INITS), default="kmeans++",
              show_default=True, help="Centroid initialisation.")
@click.option("--preserve-sparsity/--no-preserve-sparsity", default=True, show_default=True,
              help="Keep the zeros of a pruned model zero.")
@click.option("--quantize", type=click.Choice(list(QUANTIZE_MODES)), default="none",
              show_default=True, help="Post-training quantization of the .tflite.")
@click.pass_context
def cluster(ctx, **kw):
    """Cluster the weights of MODEL (N unique values per tensor), fine-tune on --data, and measure the cost.

    \b
    edgekit cluster model.h5 --data data.npz --clusters 16
    edgekit cluster pruned.h5 --data data.npz --clusters 8 --init linear --quantize int8
    """
    from edgekit.recipe import Cluster, Quantize, Recipe

    def build(train):
        spec = Cluster(clusters=kw["clusters"], init=kw["init"], preserve_sparsity=kw["preserve_sparsity"], **_select(kw))
        return Recipe(f"clustered-{spec.clusters}", cluster=spec, quantize=Quantize(mode=kw["quantize"]), train=train)

    _run_technique(ctx, "clustered", build, kw)


@cli.command()
@_technique_options
@click.option("--mode", type=click.Choice([*(m for m in QUANTIZE_MODES if m != "none"), "qat"]), default="int8",
              show_default=True, help="Post-training mode, or qat: quantization-aware training (needs --data) then int8.")
@click.option("--io-dtype", type=click.Choice(list(IO_DTYPES)), default="float32", show_default=True,
              help="Input/output type of an int8 model.")
@click.option("--keep-float", multiple=True, metavar="LAYER",
              help="int8: keep this Keras layer float32 (selective int8); repeatable.")
@click.option("--int16x8", "int16x8_layers", multiple=True, metavar="LAYER",
              help="int8: give this Keras layer int16 activations (int8 weights); repeatable.")
@click.option("--max-accuracy-drop", type=click.FloatRange(min=0), default=None,
              help="int8: keep the fewest layers float that hold top-1 within this many points of float (needs --data).")
@click.option("--analyze", is_flag=True,
              help="int8: print each Keras layer's int8 sensitivity and activation range; writes no model.")
@click.pass_context
def quantize(ctx, **kw):
    """Quantize MODEL: post-training (dynamic, float16, int8, int16x8) or quantization-aware training (qat).

    Layers tfmot cannot quantize-aware-train (e.g. a BatchNormalization after an activation) stay float during
    QAT and are calibrated at conversion; the output lists them and why.

    \b
    edgekit quantize model.h5 --mode int8 --data data.npz
    edgekit quantize model.h5 --mode qat --data data.npz --epochs 1
    edgekit quantize model.h5 --mode dynamic        # no data needed
    edgekit quantize model.h5 --mode int8 --data data.npz --analyze              # which layers int8 hurts, and why
    edgekit quantize model.h5 --mode int8 --data data.npz --max-accuracy-drop 1  # keep those float, within 1 pt
    edgekit quantize model.h5 --mode int8 --data data.npz --keep-float conv1 --keep-float conv2
    """
    from edgekit.recipe import AUTO, Quantize, Recipe

    selective = kw["keep_float"] or kw["int16x8_layers"] or kw["max_accuracy_drop"] is not None or kw["analyze"]
    if selective and kw["mode"] != "int8":
        raise click.UsageError("--keep-float, --int16x8, --max-accuracy-drop and --analyze apply to --mode int8")
    if kw["max_accuracy_drop"] is not None and kw["keep_float"]:
        raise click.UsageError("--max-accuracy-drop chooses the float layers itself; drop --keep-float (or the bound)")
    if (kw["max_accuracy_drop"] is not None or kw["analyze"]) and not kw["data"]:
        raise click.UsageError("--max-accuracy-drop and --analyze measure on held-out data: give --data")
    if kw["analyze"]:
        return _analyze(kw)

    def build(train):
        mode = "int8" if kw["mode"] == "qat" else kw["mode"]
        name = "qat-int8" if kw["mode"] == "qat" else mode
        keep = AUTO if kw["max_accuracy_drop"] is not None else tuple(kw["keep_float"])
        if keep or kw["int16x8_layers"]:
            name = "int8-mixed"
        return Recipe(name, quantize=Quantize(mode=mode, aware=kw["mode"] == "qat", io_dtype=kw["io_dtype"],
                                              keep_float=keep, int16x8=tuple(kw["int16x8_layers"])), train=train)

    _run_technique(ctx, "quantized", build, kw)


def _analyze(kw: dict) -> None:
    """edgekit quantize --analyze: the per-layer int8 sensitivity table (or JSON)."""
    from edgekit.convert.sensitivity import analyze_model
    from edgekit.optimize import as_train_data

    data = as_train_data(kw["data"], kw["val_split"], kw["trust_code"])
    report = analyze_model(kw["model"], kw["calibration"] or data.calibration(), data.x_val, data.y_val,
                           io_dtype=kw["io_dtype"], trust_model=kw["trust_model"])
    if kw["as_json"]:
        emit_json(report.to_dict())
    else:
        click.echo(report.table(limit=40))


# ---- devices (issue 14) -----------------------------------------------------------------------------------
@cli.group()
def devices():
    """Benchmark on real devices over SSH (needs edgekit[devices]; the devices need only edgekit[runtime]).

    Devices are listed in an inventory YAML (--devices FILE, else $EDGEKIT_DEVICES, else
    ~/.config/edgekit/devices.yaml):

    \b
    devices:
      pi4: {host: 192.168.1.20, user: pi, identity_file: ~/.ssh/id_ed25519, device_profile: rpi4}
    groups:
      lab: [pi4]

    \b
    edgekit devices setup pi4          # install edgekit[runtime] in a venv on the device
    edgekit devices check              # what every device has, and what is missing
    edgekit bench model.tflite --device pi4
    edgekit optimize model.h5 --data data.npz --device pi4
    """


def _inventory_devices(names, devices_file):
    from edgekit.devices import load_inventory, resolve_devices

    if names:
        return resolve_devices(list(names), devices_file)
    return list(load_inventory(devices_file)[0].values())


@devices.command("check")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), metavar="FILE", help="Device inventory YAML.")
@click.option("--accept-new-host-key", is_flag=True, help="Trust and record the host key of a device not yet known.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def devices_check(names, devices_file, accept_new_host_key, as_json):
    """Connect to devices (default: all in the inventory) and report Python, edgekit, LiteRT and ONNX Runtime
    versions, CPU, governor, temperature and accelerators, and exactly what is missing. Exit 1 if one is not ready."""
    from edgekit.devices import check_devices
    from edgekit.devices.report import check_table

    checks = check_devices(_inventory_devices(names, devices_file), accept_new_host_key=accept_new_host_key)
    emit_json([c.to_dict() for c in checks]) if as_json else click.echo(check_table(checks))
    if not all(c.ready for c in checks):
        sys.exit(1)


@devices.command("setup")
@click.argument("name")
@click.option("--devices", "devices_file", type=click.Path(dir_okay=False), metavar="FILE", help="Device inventory YAML.")
@click.option("--accept-new-host-key", is_flag=True, help="Trust and record the host key of a device not yet known.")
@click.option("--python", "system_python", default="python3", show_default=True,
              help="The device's interpreter that creates the venv.")
def devices_setup(name, devices_file, accept_new_host_key, system_python):
    """Install this edgekit with its [runtime] extra in WORKDIR/venv on the device: a wheel is built here and
    pushed; the device installs its dependencies from its own package index."""
    from edgekit.devices import resolve_devices, setup_device
    from edgekit.devices.report import check_table

    (device,) = resolve_devices([name], devices_file)[:1]
    check = setup_device(device, accept_new_host_key=accept_new_host_key, system_python=system_python)
    click.echo(check_table([check]))
    if not check.ready:
        sys.exit(1)


@devices.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def devices_info(as_json):
    """Describe this machine as a device (what 'edgekit devices check' runs on each device)."""
    from edgekit.devices.info import device_info

    info = device_info()
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")
