"""The ONNX Runtime engine for ``.onnx`` files: the only module here that imports onnxruntime.

Accelerators map to execution providers (``cpu`` -> CPUExecutionProvider, ``gpu`` -> the first of CUDA, ROCm,
DirectML, CoreML that is installed, ``npu`` -> QNN or OpenVINO, or a provider by short name: ``cuda``,
``tensorrt``, ``openvino``, ``coreml``, ``dml``, ``rocm``, ``qnn``, ``xnnpack``). The CPU provider always stays
last in the list, so nodes the chosen provider cannot run still run; ONNX Runtime does not report how many nodes
each provider took, so ``fully_delegated`` is None except on ``cpu``, where the CPU provider runs everything.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Sequence

from edgekit._log import logger, quiet_native, verbose
from edgekit.errors import AcceleratorError, DependencyError, ModelLoadError
from edgekit.runtime.specs import TensorSpec

PROVIDERS = {
    "cpu": ("CPUExecutionProvider",),
    "gpu": ("CUDAExecutionProvider", "ROCMExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider"),
    "npu": ("QNNExecutionProvider", "OpenVINOExecutionProvider", "VitisAIExecutionProvider"),
    "cuda": ("CUDAExecutionProvider",),
    "tensorrt": ("TensorrtExecutionProvider",),
    "openvino": ("OpenVINOExecutionProvider",),
    "coreml": ("CoreMLExecutionProvider",),
    "dml": ("DmlExecutionProvider",),
    "rocm": ("ROCMExecutionProvider",),
    "qnn": ("QNNExecutionProvider",),
    "xnnpack": ("XnnpackExecutionProvider",),
}
_ONNX_DTYPES = {"float": "float32", "double": "float64", "float16": "float16", "int8": "int8", "uint8": "uint8",
                "int16": "int16", "uint16": "uint16", "int32": "int32", "uint32": "uint32", "int64": "int64",
                "uint64": "uint64", "bool": "bool", "string": "str"}


@functools.lru_cache(maxsize=1)
def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise DependencyError("onnxruntime", "runtime") from None
    return onnxruntime


def available() -> tuple[str, ...]:
    """Accelerator names whose execution providers this onnxruntime build has."""
    installed = set(_ort().get_available_providers())
    return tuple(name for name, providers in PROVIDERS.items() if installed.intersection(providers))


def _spec(arg) -> TensorSpec:
    type_name = arg.type[len("tensor("):-1] if arg.type.startswith("tensor(") else arg.type
    dtype = _ONNX_DTYPES.get(type_name, type_name)
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
    return TensorSpec(arg.name, shape, dtype, None)


class OnnxEngine:
    def __init__(self, data: bytes, name: str, accelerator: str = "cpu", threads: int | None = None,
                 folder: str | None = None):
        ort = _ort()
        self._data, self._name = data, name
        self._options = dict(accelerator=accelerator, threads=threads, folder=folder)
        if accelerator not in PROVIDERS:
            raise AcceleratorError(f"unknown accelerator {accelerator!r} for an .onnx model; "
                                   f"known: {', '.join(PROVIDERS)}")
        installed = ort.get_available_providers()
        chosen = next((p for p in PROVIDERS[accelerator] if p in installed), None)
        if chosen is None:
            raise AcceleratorError(f"no ONNX Runtime execution provider for {accelerator!r} is installed "
                                   f"(wanted one of {', '.join(PROVIDERS[accelerator])}); available: "
                                   f"{', '.join(available())}")
        providers = [chosen] + (["CPUExecutionProvider"] if chosen != "CPUExecutionProvider" else [])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 0 if verbose() else 3
        if folder is not None:  # external data from the model's folder (verified), never the current directory
            options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(folder))
        printed = io.StringIO()  # onnxruntime print()s provider fallbacks on stdout: keep them off the app's
        try:
            with quiet_native(), contextlib.redirect_stdout(printed):
                self._session = ort.InferenceSession(data, sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception classes (Fail, InvalidGraph, ...)
            raise ModelLoadError(f"ONNX Runtime could not load {name}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        if printed.getvalue().strip():
            logger.debug("onnxruntime: %s", printed.getvalue().strip())
        used = self._session.get_providers()
        if chosen not in used:
            raise AcceleratorError(f"ONNX Runtime did not register {chosen} for {name}; it runs on {', '.join(used)}")
        self.backend = "onnxruntime"
        self.accelerator = accelerator
        self.threads = threads
        self.fully_delegated = True if chosen == "CPUExecutionProvider" else None
        self.inputs = tuple(_spec(a) for a in self._session.get_inputs())
        self.outputs = tuple(_spec(a) for a in self._session.get_outputs())
        self._in_names = [s.name for s in self.inputs]
        self._out_names = [s.name for s in self.outputs]
        self.signatures, self.signature = (), None
        self.resizable = True
        self._shapes = [tuple(1 if d is None else d for d in s.shape) for s in self.inputs]

    def shapes(self) -> list[tuple]:
        return self._shapes

    def resize(self, shapes: Sequence[tuple]) -> None:
        self._shapes = [tuple(s) for s in shapes]  # ONNX Runtime takes any shape the graph allows, per call

    def run(self, arrays: Sequence) -> list:
        try:
            return self._session.run(self._out_names, dict(zip(self._in_names, arrays)))
        except Exception as exc:  # onnxruntime's own exception classes (Fail, InvalidArgument, ...)
            raise RuntimeError(str(exc)) from None

    def clone(self) -> "OnnxEngine":
        return OnnxEngine(self._data, self._name, **self._options)

    def close(self) -> None:
        self._session = None


def open_engine(data: bytes, name: str, summary, accelerator: str, threads: int | None, delegate: str | None,
                delegate_options: dict | None, signature: str | None):
    if delegate:
        raise AcceleratorError("delegate= loads a TFLite delegate library; for .onnx models pick an execution "
                               f"provider with accelerator= (available: {', '.join(available())})")
    if signature:
        raise ModelLoadError(f"{name} is an ONNX model: it has no signatures (signature={signature!r})")
    return OnnxEngine(data, name, accelerator, threads, folder=str(summary.folder) if summary is not None else None)
