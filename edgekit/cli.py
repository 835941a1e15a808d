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
