"""``load`` and ``Model``: one object shape for every engine, with validation, batching and quantization.

Thread safety: a ``Model`` is safe to share between threads; calls to ``predict`` on one model are serialized by
a lock (a TFLite interpreter must never run two invocations at once). For parallel inference give each thread its
own ``model.clone()``: a new interpreter/session on the same, already verified, model bytes (no file read, no
re-verification).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgekit._fs import check_input_path
from edgekit.errors import AcceleratorError, DataError, EdgekitError, ModelLoadError
from edgekit.runtime._engine import ENGINES, EXTENSIONS, engine_module
from edgekit.runtime.specs import TensorSpec, dequantize, format_specs, quantize
from edgekit.runtime.verify import sniff, verify_tflite
from edgekit.runtime.verify_onnx import verify_onnx

_FLOAT_KINDS = "f"
_INT_KINDS = "iu"


class Model:
    """A loaded ``.tflite`` or ``.onnx`` model. Get one from :func:`load`.

    ``inputs`` / ``outputs``: tuples of :class:`TensorSpec`. ``accelerator``: what actually runs it.
    ``fully_delegated``: whether that accelerator's delegate runs the whole graph (on ``cpu`` with LiteRT:
    whether XNNPACK does), None where the runtime cannot tell. ``backend``: the runtime library.
    """

    def __init__(self, engine, path: Path, kind: str, requested: str):
        self._engine = engine
        self._lock = threading.Lock()
        self.path = path
        self.kind = kind
        self.requested_accelerator = requested
        self.inputs: tuple[TensorSpec, ...] = engine.inputs
        self.outputs: tuple[TensorSpec, ...] = engine.outputs
        self._in_names = [s.name for s in self.inputs]
        self._out_names = [s.name for s in self.outputs]
        self._single_in = len(self.inputs) == 1
        self._single_out = len(self.outputs) == 1
        # Per input: the dtype the runtime wants, whether floats get quantized, the batch policy.
        self._in_dtypes = [np.dtype(s.dtype) for s in self.inputs]
        self._loop_batch = all(s.rank and s.shape[0] == 1 for s in self.inputs)
        self._shapes = list(engine.shapes())
        self._fast = self._single_in  # an array of the stored dtype and allocated shape: straight to the engine
        self._dequant_out = [s.quantized for s in self.outputs]
        self._any_dequant = any(self._dequant_out)
        self._closed = False

    # -- properties ------------------------------------------------------------------------------------------
    @property
    def accelerator(self) -> str:
        return self._engine.accelerator

    @property
    def fully_delegated(self) -> bool | None:
        return self._engine.fully_delegated

    @property
    def backend(self) -> str:
        return self._engine.backend

    @property
    def notes(self) -> tuple[str, ...]:
        """What the user should know about how this model runs (e.g. a delegate that could not take it)."""
        return getattr(self._engine, "notes", ())

    @property
    def threads(self) -> int | None:
        return self._engine.threads

    @property
    def signature(self) -> str | None:
        return self._engine.signature

    @property
    def signatures(self) -> tuple[str, ...]:
        return self._engine.signatures

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.backend} on {self.accelerator}"
        return (f"<edgekit.runtime.Model {self.path.name} ({state}) inputs=[{format_specs(self.inputs)}] "
                f"outputs=[{format_specs(self.outputs)}]>")

    # -- running ---------------------------------------------------------------------------------------------
    def predict(self, x: Any, raw: bool = False):
        """Run the model on ``x``: one array (single-input models), a list (by position) or a dict (by name).

        Floats in, float32 out: quantized inputs are quantized with their scale/zero-point and quantized outputs
        dequantized. An integer array whose dtype is the quantized input's own dtype is taken as already
        quantized. ``raw=True`` returns outputs exactly as the model produced them (integers for quantized
        outputs). The first axis is the batch: a model with a dynamic batch is resized (once per new batch
        size), a model with a fixed batch of 1 runs item by item. Returns one array for a single-output model,
        else a dict name -> array in the model's output order.
        """
        with self._lock:
            if self._closed:
                raise EdgekitError(f"model {self.path.name} was closed; load it again")
            try:
                if (self._fast and type(x) is np.ndarray and x.dtype == self._in_dtypes[0]
                        and x.shape == self._shapes[0]):
                    outs = self._engine.run((x,))  # the common case: nothing to convert
                else:
                    outs = self._run(self._prepare(x))
            except (RuntimeError, ValueError) as exc:  # the native runtime failed while running the model
                text = " ".join(str(exc).split()) or type(exc).__name__
                raise EdgekitError(f"{self.backend} failed running {self.path.name}: {text[:300]}") from None
        return self._finish(outs, raw)

    __call__ = predict

    def _finish(self, outs: list, raw: bool):
        if self._any_dequant and not raw:
            outs = [dequantize(o, s) if q else o for o, s, q in zip(outs, self.outputs, self._dequant_out)]
        if self._single_out:
            return outs[0]
        return dict(zip(self._out_names, outs))

    def _run(self, arrays: list) -> list:
        if not arrays:  # a model without inputs
            return self._engine.run(arrays)
        batch = arrays[0].shape[0] if arrays[0].ndim else None
        shapes = [a.shape for a in arrays]
        if shapes == self._shapes:
            return self._engine.run(arrays)
        if self._loop_batch and batch and batch > 1 and all(a.shape[1:] == s[1:] for a, s in
                                                             zip(arrays, self._shapes)):
            parts = [self._engine.run([a[i:i + 1] for a in arrays]) for i in range(batch)]
            return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(self.outputs))]
        self._engine.resize(shapes)
        self._shapes = list(self._engine.shapes())
        return self._engine.run(arrays)

    def _prepare(self, x: Any) -> list:
        """Map ``x`` to one array per input, validated against the specs and converted to the runtime dtype."""
        specs = self.inputs
        if isinstance(x, Mapping):
            unknown = [k for k in x if k not in self._in_names]
            missing = [n for n in self._in_names if n not in x]
            if unknown or missing:
                raise DataError(f"inputs by name: got {sorted(map(str, x))}; the model takes "
                                f"{self._in_names} ({format_specs(specs)})")
            values = [x[n] for n in self._in_names]
        elif isinstance(x, (list, tuple)) and not self._single_in:
            if len(x) != len(specs):
                raise DataError(f"got {len(x)} inputs; the model takes {len(specs)}: {format_specs(specs)}")
            values = list(x)
        elif self._single_in:
            values = [x]
        else:
            raise DataError(f"the model takes {len(specs)} inputs ({format_specs(specs)}): pass a list "
                            f"(by position) or a dict (by name)")
        arrays = [self._convert(v, s, dt) for v, s, dt in zip(values, specs, self._in_dtypes)]
        batches = {a.shape[0] for a in arrays if a.ndim}
        if len(batches) > 1:
            raise DataError(f"inputs have different batch sizes {sorted(batches)}; they must match")
        return arrays

    @staticmethod
    def _convert(value: Any, spec: TensorSpec, want: np.dtype) -> np.ndarray:
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise DataError(f"input {spec.name!r}: could not make an array of {type(value).__name__} ({exc}); "
                            f"expected {spec}") from None
        kind = array.dtype.kind
        if array.ndim != spec.rank:
            hint = ""
            if array.ndim == spec.rank - 1 and spec.rank and spec.shape[0] in (None, 1):
                hint = "; add the batch axis with x[None]"
            raise DataError(f"input {spec.name!r} has shape {array.shape} (rank {array.ndim}); expected rank "
                            f"{spec.rank}: {spec}{hint}")
        for axis, (got, need) in enumerate(zip(array.shape, spec.shape)):
            if axis == 0 and need == 1:
                continue  # fixed batch of 1: larger batches run item by item
            if need is not None and got != need:
                raise DataError(f"input {spec.name!r} has shape {array.shape}; expected {spec} "
                                f"(axis {axis} must be {need})")
        if array.size == 0:
            raise DataError(f"input {spec.name!r} is empty (shape {array.shape}); expected {spec}")
        if spec.quantized:
            if array.dtype == want:
                return np.ascontiguousarray(array)  # already quantized
            if kind in _FLOAT_KINDS:
                return quantize(array, spec)
            raise DataError(f"input {spec.name!r} is {array.dtype}; expected float values (quantized for you) or "
                            f"{spec.dtype} values already quantized: {spec}")
        if array.dtype == want:
            return np.ascontiguousarray(array)
        if want.kind in _FLOAT_KINDS and kind in _FLOAT_KINDS:
            return array.astype(want)
        if want.kind in _INT_KINDS and kind in _INT_KINDS and np.can_cast(array, want, "same_kind"):
            if kind == "u" or np.all(array >= np.iinfo(want).min) and np.all(array <= np.iinfo(want).max):
                return array.astype(want)
        if want.kind == "b" and kind == "b":
            return array.astype(want)
        raise DataError(f"input {spec.name!r} is {array.dtype}; expected {spec}"
                        + (" (convert it with x.astype('float32'), scaled as in training)"
                           if want.kind in _FLOAT_KINDS else ""))

    # -- lifecycle -------------------------------------------------------------------------------------------
    def clone(self) -> "Model":
        """A new, independent Model on the same bytes and options: one per thread for parallel inference."""
        with self._lock:
            if self._closed:
                raise EdgekitError(f"model {self.path.name} was closed; load it again")
            return Model(self._engine.clone(), self.path, self.kind, self.requested_accelerator)

    def close(self) -> None:
        """Release the native interpreter/session. Idempotent."""
        with self._lock:
            if not self._closed:
                self._engine.close()
                self._closed = True

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read(path: Path) -> bytes:
    if not path.exists() and not path.is_symlink():
        raise ModelLoadError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a directory; edgekit.runtime loads a .tflite or .onnx file")
    if not path.is_file():
        check_input_path(path, "model", ModelLoadError)  # says what it is: a FIFO, a link loop, ...
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise ModelLoadError(f"{path} is empty (0 bytes); re-export the model")
    return data


def _kind(path: Path, data: bytes) -> str:
    suffix = path.suffix.lower()
    kind = EXTENSIONS.get(suffix)
    if kind is None:
        raise ModelLoadError(f"{path.name}: unknown model extension {suffix or '(none)'!r}; "
                             f"edgekit.runtime loads {', '.join(sorted(EXTENSIONS))}")
    found = sniff(data)
    if found is not None and found != kind:
        right = ".tflite" if found == "tflite" else ".onnx"
        raise ModelLoadError(f"{path.name} is named {suffix} but holds a {found.upper()} model; rename it to "
                             f"{path.stem}{right}")
    if kind == "onnx" and found is None:
        raise ModelLoadError(f"{path.name} is not an ONNX model (no ONNX protobuf header; corrupt, truncated, or "
                             f"another format)")
    return kind


def load(path: str | os.PathLike, accelerator: str = "cpu", threads: int | None = None, fallback: str | None = None,
         delegate: str | None = None, signature: str | None = None, delegate_options: dict | None = None,
         isolate: bool = True) -> Model:
    """Load a ``.tflite`` or ``.onnx`` model for inference.

    accelerator: ``cpu`` (default), ``gpu``, ``npu``, ``edgetpu`` for TFLite; ``cpu``, ``gpu``, ``npu`` or an
    execution provider name (``cuda``, ``tensorrt``, ``openvino``, ...) for ONNX. One that is not available here
    raises AcceleratorError listing what is, unless ``fallback="cpu"``: then the model runs on the CPU and
    ``model.accelerator`` says so. threads: CPU threads (None: the runtime's default). delegate: path of an
    external TFLite delegate library (with ``accelerator="gpu"``, ``"npu"`` or ``"edgetpu"``), options in
    ``delegate_options``. signature: the TFLite signature to run (default ``serving_default``, else the first).

    The file is checked before any native code reads it: missing, empty, truncated or corrupt files, the wrong
    extension for the content, and flatbuffers that fail verification raise ModelLoadError. With ``isolate``
    (default), the first load of a ``.tflite``'s bytes in this process is also tried in a helper process, so
    well-formed but absurd content that makes TFLite abort raises ModelLoadError instead of killing the app
    (one helper process per app, a few ms per new model; ``isolate=False`` skips it).
    """
    path = Path(path)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise EdgekitError(f"threads must be a positive integer, got {threads!r}")
    if fallback not in (None, "cpu"):
        raise AcceleratorError(f"fallback must be None or 'cpu', got {fallback!r}")
    if delegate is not None and accelerator == "cpu":
        raise AcceleratorError("delegate= names the library for an accelerator: pass accelerator='gpu', 'npu' or "
                               "'edgetpu' with it")
    data = _read(path)
    kind = _kind(path, data)
    summary = verify_tflite(data, path.name) if kind == "tflite" else verify_onnx(data, path)
    if summary is not None and isolate:
        from edgekit.runtime._isolate import check_in_child

        check_in_child(data, path.name)
    module = engine_module(kind)
    try:
        engine = module.open_engine(data, path.name, summary, accelerator, threads, delegate, delegate_options,
                                    signature)
    except AcceleratorError:
        if fallback != "cpu" or accelerator == "cpu":
            raise
        from edgekit._log import logger

        logger.warning("%s is not available for %s; running on the CPU (fallback='cpu')", accelerator, path.name)
        engine = module.open_engine(data, path.name, summary, "cpu", threads, None, None, signature)
    return Model(engine, path, kind, accelerator)


def available_accelerators(kind: str = "tflite") -> tuple[str, ...]:
    """Accelerators a model of this kind ('tflite' or 'onnx') can run on here, probed, ``cpu`` first."""
    if kind not in ENGINES:
        raise EdgekitError(f"unknown model kind {kind!r}; known: {', '.join(ENGINES)}")
    return engine_module(kind).available()
