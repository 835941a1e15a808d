"""The Coral Edge TPU target: a full-int8 ``.tflite`` with uint8 input/output and a static batch of 1, a pre-flight
report of which ops the Edge TPU can run (from Coral's published op table, ``edgetpu_ops.yaml``), and
``edgetpu_compiler`` when it is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edgekit import tflite_file
from edgekit._fs import scratch_dir
from edgekit.keras.source import open_source
from edgekit.recipe import Quantize

if TYPE_CHECKING:
    from edgekit.convert.artifact import Artifact

QUANTIZED_TYPES = ("int8", "uint8", "int32")  # int32: biases of quantized ops


@dataclass(frozen=True)
class OpCheck:
    index: int
    op: str
    on_edgetpu: bool
    reason: str  # why it stays on the CPU, or the published limitation to keep in mind


@dataclass(frozen=True)
class EdgeTpuReport:
    ops_total: int
    ops_mapped: int  # ops before the first one the Edge TPU cannot run: what the compiler would map
    first_cpu_op: str | None
    ops: tuple[OpCheck, ...]
    compiler: str  # edgetpu_compiler's summary, or why it did not run
    compiled_path: str | None

    def summary(self) -> str:
        if self.first_cpu_op is None:
            return f"all {self.ops_total} ops can run on the Edge TPU"
        return (
            f"{self.ops_mapped} of {self.ops_total} ops can run on the Edge TPU; the graph splits to the CPU at "
            f"{self.first_cpu_op}"
        )


@lru_cache(maxsize=1)
def supported_ops() -> dict[str, str]:
    data = yaml.safe_load((Path(__file__).with_name("edgetpu_ops.yaml")).read_text())
    return {k: v or "" for k, v in data["ops"].items()}


def preflight(path: str | os.PathLike) -> list[OpCheck]:
    """Check every op of a ``.tflite`` against the Edge TPU's op table and model-wide constraints."""
    table = supported_ops()
    checks = []
    for index, (op, tensors) in enumerate(_tflite_ops(Path(path))):
        problems = []
        if op not in table:
            problems.append("op not supported by the Edge TPU")
        for name, dtype, signature, constant in tensors:
            if dtype not in QUANTIZED_TYPES:
                problems.append(f"tensor {name} is {dtype}, not 8-bit quantized")
            if constant:  # weights: the shape limits apply to the activations flowing through
                continue
            if any(d < 0 for d in signature):
                problems.append(f"tensor {name} has a dynamic shape {list(signature)}")
            if len([d for d in signature[:-3] if d != 1]) > 0:
                problems.append(f"tensor {name} has more than 3 non-unit dimensions {list(signature)}")
        if op in ("QUANTIZE", "DEQUANTIZE") and index == 0:
            problems = []  # input/output conversion at the graph edges is expected
        reason = "; ".join(dict.fromkeys(problems)) if problems else table.get(op, "")
        checks.append(OpCheck(index, op, not problems, reason))
    return checks


def _tflite_ops(path: Path) -> list[tuple[str, list[tuple[str, str, tuple[int, ...], bool]]]]:
    """(op name, [(tensor name, dtype, shape signature, is constant)]) for each op of the first subgraph."""
    model, _ = tflite_file.read(path)
    names = tflite_file.operator_names(model)
    sub = model.Subgraphs(0)
    out = []
    for o in range(sub.OperatorsLength()):
        op = sub.Operators(o)
        name = names[op.OpcodeIndex()]
        tensors = []
        for t in list(op.InputsAsNumpy()) + list(op.OutputsAsNumpy()):
            if t < 0:
                continue
            tensor = sub.Tensors(int(t))
            signature = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else tensor.ShapeAsNumpy()
            shape = tuple(int(d) for d in signature) if not isinstance(signature, int) else ()
            constant = tflite_file.buffer_size(model, tensor.Buffer()) > 0
            tensors.append((tensor.Name().decode(), tflite_file.tensor_type(tensor.Type()), shape, constant))
        out.append((name, tensors))
    return out


def report(path: str | os.PathLike, compile: bool = True) -> EdgeTpuReport:
    checks = preflight(path)
    first = next((c for c in checks if not c.on_edgetpu and not (c.op == "DEQUANTIZE" and c.index == len(checks) - 1)), None)
    mapped = first.index if first else len(checks)
    compiler, compiled = _run_compiler(Path(path)) if compile else ("not run", None)
    return EdgeTpuReport(
        ops_total=len(checks),
        ops_mapped=mapped,
        first_cpu_op=f"op {first.index} {first.op} ({first.reason})" if first else None,
        ops=tuple(checks),
        compiler=compiler,
        compiled_path=compiled,
    )


def _run_compiler(path: Path) -> tuple[str, str | None]:
    exe = shutil.which("edgetpu_compiler")
    if exe is None:
        return "edgetpu_compiler not found on PATH: the pre-flight report above is from Coral's op table; install the compiler (Linux x86-64) to get its mapping and an _edgetpu.tflite", None
    with scratch_dir("edgetpu") as tmp:
        done = subprocess.run([exe, "-s", "-o", tmp, str(path)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return f"edgetpu_compiler failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}", None
        produced = next(Path(tmp).glob("*_edgetpu.tflite"), None)
        target = None
        if produced is not None:
            target = path.with_name(path.stem + "_edgetpu.tflite")
            shutil.move(str(produced), target)
        lines = [l for l in done.stdout.splitlines() if "Operations" in l or "mapped" in l.lower() or "Model" in l]
        return " | ".join(lines) or done.stdout.strip(), str(target) if target else None


def to_edgetpu(
    model: Any,
    output: str | os.PathLike,
    calibration: Any = None,
    eval_data: Any = None,
    trust_model: bool = False,
    compile: bool = True,
    input_range: Any = None,
    allow_low_parity: bool = False,
) -> Artifact:
    """Full int8 with uint8 input/output and a static batch of 1, plus the Edge TPU pre-flight report."""
    from edgekit.convert.tflite import _convert

    source = open_source(model, trust_model)
    artifact = _convert(source, output, Quantize(mode="int8", io_dtype="uint8"), calibration, eval_data, batch=1, fmt="edgetpu",
                        input_range=input_range, allow_low_parity=allow_low_parity)
    return replace(artifact, edgetpu=report(artifact.path, compile=compile))
