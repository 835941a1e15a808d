"""Run the models edgekit produces, in an app: one small API over LiteRT (``.tflite``) and ONNX Runtime (``.onnx``).

    from edgekit.runtime import load
    with load("model.tflite", accelerator="cpu", threads=2) as model:
        probs = model.predict(images)          # float32 in, float32 out, even for int8 models
        print(model.inputs, model.accelerator, model.fully_delegated)

Needs only ``edgekit[runtime]`` (numpy, ai-edge-litert, onnxruntime): this package never imports TensorFlow.
Importing it is cheap: numpy, LiteRT and ONNX Runtime load on first use (onnxruntime only for ``.onnx`` files).
A ``Model`` is safe to share between threads (calls are serialized); use ``model.clone()`` per thread to run in
parallel.
"""

from __future__ import annotations

from edgekit.runtime.specs import TensorSpec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from edgekit.runtime.model import Model, available_accelerators, load
    from edgekit.runtime.verify import TFLiteSummary, verify_tflite

__all__ = ["Model", "TFLiteSummary", "TensorSpec", "available_accelerators", "load", "verify_tflite"]

_LAZY = {
    "Model": "edgekit.runtime.model",
    "load": "edgekit.runtime.model",
    "available_accelerators": "edgekit.runtime.model",
    "verify_tflite": "edgekit.runtime.verify",
    "TFLiteSummary": "edgekit.runtime.verify",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit.runtime' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
