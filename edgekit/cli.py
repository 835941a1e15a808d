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

from edgekit.errors import EdgekitError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except EdgekitError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted; nothing half-written was left at the output path", code=130)
        except Exception as exc:  # an unexpected failure: still one line unless -v
            _fail(f"{type(exc).__name__}: {exc}".splitlines()[0] + " (run with -v for the traceback)")


def _fail(message: str, code: int = 1) -> None:
    if logging.getLogger("edgekit").isEnabledFor(logging.DEBUG):
        import traceback

        traceback.print_exc()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show framework logs and tracebacks.")
@click.version_option(package_name="edgekit", message="edgekit %(version)s")
def cli(verbose: bool) -> None:
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


def emit_json(data: Any) -> None:
    """The one way commands print machine-readable results on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=_json_default))


def _json_default(value: Any) -> Any:
    import dataclasses
    from pathlib import Path

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def main() -> None:
    cli(prog_name="edgekit")


# ---- commands -----------------------------------------------------------------------------------------
# Each command below: parse options, call one edgekit function, print (a table, or JSON with --json).


@cli.command()
@click.argument("model", type=click.Path(exists=False))
@click.option("--to", "to", type=click.Choice(["tflite", "onnx", "edgetpu"]), default="tflite", show_default=True)
@click.option("--quantize", type=click.Choice(["none", "dynamic", "float16", "int8", "int16x8"]), default="none", show_default=True, help="TFLite quantization.")
@click.option("--calibration", metavar="DATA", help="Calibration data for int8/int16x8: .npz, .npy, an image folder, or 'random' (synthetic, said so in the output).")
@click.option("--io-dtype", type=click.Choice(["int8", "uint8", "float32"]), help="Input/output type of an int8 model (default int8).")
@click.option("--eval-data", metavar="DATA", help="Inputs for the parity check (default: seeded random).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option("--static-batch", is_flag=True, help="ONNX: fix the batch dimension to 1 (default: dynamic).")
@click.option("-o", "--output", type=click.Path(), help="Output path (default: next to the model).")
@click.option("--trust-model", is_flag=True, help="Allow Lambda layers and custom objects (runs code from the model).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def convert(model, to, quantize, calibration, io_dtype, eval_data, opset, static_batch, output, trust_model, as_json):
    """Convert a Keras model (.h5, .keras, SavedModel) to TFLite, ONNX or an Edge-TPU-ready TFLite.

    Every conversion is checked against the Keras model (parity) and reported with its size.

    \b
    edgekit convert model.h5                                  # float32 .tflite
    edgekit convert model.h5 --quantize int8 --calibration data.npz
    edgekit convert model.h5 --to onnx --opset 17
    edgekit convert model.h5 --to edgetpu --calibration images/
    """
    from edgekit.convert import convert as run_convert
    from edgekit.convert.report import artifact_table

    artifact = run_convert(
        model, to=to, output=output, quantize=quantize, calibration=calibration, io_dtype=io_dtype,
        eval_data=eval_data, opset=opset, dynamic_batch=not static_batch, trust_model=trust_model,
    )
    if as_json:
        emit_json(artifact.to_dict())
    else:
        click.echo(artifact_table([artifact]))
