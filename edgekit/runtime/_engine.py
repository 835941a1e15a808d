"""The one small protocol every runtime engine implements, and the table that picks an engine by file kind.

An engine owns one native session (a LiteRT interpreter, an ONNX Runtime session) and knows nothing about
batching, quantization or validation: :class:`edgekit.runtime.Model` does that once, for every engine.
"""

from __future__ import annotations

import importlib
from typing import Protocol, Sequence

from edgekit.runtime.specs import TensorSpec


class Engine(Protocol):
    backend: str  # "ai_edge_litert", "tflite_runtime", "tf.lite", "onnxruntime"
    accelerator: str  # what actually runs the model
    fully_delegated: bool | None
    threads: int | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    signatures: tuple[str, ...]
    signature: str | None
    resizable: bool  # whether inputs can be resized along dynamic (None) dimensions

    def shapes(self) -> list[tuple]:
        """The concrete input shapes the session is allocated for now."""

    def resize(self, shapes: Sequence[tuple]) -> None:
        """Re-allocate for these input shapes (only called when they differ from ``shapes()``)."""

    def run(self, arrays: Sequence) -> list:
        """Run on arrays already of the right dtype and allocated shape; return outputs in ``outputs`` order."""

    def clone(self) -> "Engine":
        """A new, independent session on the same model bytes and options."""

    def close(self) -> None: ...


# File kind -> (module, the extra that installs its runtime). Modules are imported only when a file of that
# kind is loaded, so `import edgekit.runtime` never pulls in onnxruntime or LiteRT.
ENGINES = {
    "tflite": ("edgekit.runtime.litert", "runtime"),
    "onnx": ("edgekit.runtime.onnx", "runtime"),
}

EXTENSIONS = {".tflite": "tflite", ".lite": "tflite", ".onnx": "onnx"}


def engine_module(kind: str):
    try:
        module_name, _extra = ENGINES[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(ENGINES)}") from None
    return importlib.import_module(module_name)
