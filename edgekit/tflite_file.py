"""Reading a ``.tflite`` flatbuffer without TensorFlow or an interpreter: the schema that ships in the ai-edge-litert
wheel, and the few lookups every reader needs (operator names, tensor types, buffer bytes).

Used by the graph statistics and the per-op profiles (device_bench), the Edge TPU pre-flight (convert) and the
shipped-weight checks (optimize). The runtime verifies files with its own generated verifier before a native
runtime sees them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from edgekit.errors import DependencyError, ModelLoadError


def schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise DependencyError("ai-edge-litert", "runtime") from None
    return schema_py_generated


@lru_cache(maxsize=None)
def _enum(name: str) -> dict[int, str]:
    return {v: k for k, v in vars(getattr(schema(), name)).items() if not k.startswith("_") and isinstance(v, int)}


def tensor_type(code: int, unknown: str = "unknown") -> str:
    """A TensorType as a numpy-style name: 0 → "float32", 9 → "int8"."""
    return _enum("TensorType").get(code, unknown).lower()


def builtin_operator(code: int, unknown: str | None = None) -> str:
    """A BuiltinOperator's name: 3 → "CONV_2D" (``unknown``, default "BUILTIN_<code>", for codes newer than the schema)."""
    return _enum("BuiltinOperator").get(code, unknown or f"BUILTIN_{code}")


def read(path: str | Path) -> tuple[Any, bytes]:
    """The flatbuffer's root ``Model`` object and the file's bytes; ModelLoadError for anything else."""
    data = Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelLoadError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier); re-export it or check the file is complete")
    try:
        model = schema().Model.GetRootAs(data, 0)
        model.SubgraphsLength()
    except Exception as exc:  # flatbuffers raises struct/index errors on garbage
        raise ModelLoadError(f"could not parse {path} as a TFLite model ({type(exc).__name__}); the file may be truncated") from None
    return model, data


def operator_names(model: Any) -> list[str]:
    """The name of each operator code, by opcode index: builtin names ("CONV_2D") or "CUSTOM:<code>"."""
    custom = schema().BuiltinOperator.CUSTOM
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == custom:
            text = code.CustomCode()
            names.append("CUSTOM:" + (text.decode() if text else "?"))
        else:
            names.append(builtin_operator(builtin))
    return names


def buffer_bytes(model: Any, data: bytes, index: int) -> bytes:
    """The bytes of buffer ``index`` (empty for none): inline, or after the flatbuffer in models over 2 GB."""
    if index <= 0 or index >= model.BuffersLength():
        return b""
    buf = model.Buffers(index)
    if buf.Offset() > 1:
        return data[buf.Offset(): buf.Offset() + buf.Size()]
    return buf.DataAsNumpy().tobytes() if buf.DataLength() else b""


def buffer_size(model: Any, index: int) -> int:
    """Bytes in buffer ``index`` without copying them."""
    if index <= 0 or index >= model.BuffersLength():
        return 0
    buf = model.Buffers(index)
    return int(buf.Size()) if buf.Offset() > 1 else int(buf.DataLength())
