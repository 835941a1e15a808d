"""The LiteRT engine for ``.tflite`` files: the only module here that imports a TFLite runtime.

Runtime, first found wins: ``ai_edge_litert`` (LiteRT), then ``tflite_runtime``, then ``tf.lite`` from a full
TensorFlow (imported lazily through ``edgekit._tf``, and only when neither of the others is installed).

Accelerators:

- ``cpu``: the interpreter with XNNPACK (LiteRT's default CPU delegate) and ``threads`` threads.
  ``fully_delegated`` says whether XNNPACK took the whole graph (quantization schemes it does not support fall
  back to slower built-in kernels, op by op).
- ``gpu`` / ``npu``: LiteRT's CompiledModel API with its GPU (OpenCL/WebGPU) or NPU (vendor dispatch)
  accelerator, required to run the whole graph; or, for ``gpu`` with ``delegate=PATH``, an external TFLite
  delegate ``.so`` (which may take part of the graph: ``fully_delegated`` tells).
- ``edgetpu``: the Coral delegate ``libedgetpu.so.1`` (models compiled by ``edgetpu_compiler``).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import sys
from typing import Sequence

import numpy as np

from edgekit._log import quiet_native
from edgekit.errors import AcceleratorError, ModelLoadError
from edgekit.runtime.specs import QUANTIZED_DTYPES, TensorSpec

ACCELERATORS = ("cpu", "gpu", "npu", "edgetpu")
EDGETPU_LIBRARY = {"posix": "libedgetpu.so.1", "darwin": "libedgetpu.1.dylib", "nt": "edgetpu.dll"}


@functools.lru_cache(maxsize=None)
def runtime():
    """(backend name, Interpreter class, load_delegate) of the first TFLite runtime installed."""
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return name.split(".")[0], module.Interpreter, module.load_delegate
    try:
        from edgekit._tf import tf

        lite = tf().lite
    except Exception:  # DependencyError or a broken TensorFlow: say what to install
        raise AcceleratorError(
            "no TFLite runtime is installed (tried ai_edge_litert, tflite_runtime, tensorflow); "
            "install one with: pip install 'edgekit[runtime]'"
        ) from None
    return "tf.lite", lite.Interpreter, lite.experimental.load_delegate


def _edgetpu_library() -> str:
    import sys

    return EDGETPU_LIBRARY["darwin" if sys.platform == "darwin" else os.name]


@functools.lru_cache(maxsize=None)
def _library_loads(name: str) -> bool:
    return _load_error(name) == ""


def _load_error(name: str) -> str:
    """Why the delegate library ``name`` cannot be used ('' if it can): not loadable, or not a TFLite delegate."""
    try:
        library = ctypes.CDLL(name)
    except OSError as exc:
        return str(exc)
    missing = [s for s in ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate")
               if not hasattr(library, s)]
    if missing:
        return f"not a TFLite external delegate: it does not export {', '.join(missing)}"
    return ""


@functools.lru_cache(maxsize=None)
def _compiled_accelerator_works(which: str) -> tuple[bool, str]:
    """Whether LiteRT's CompiledModel runs a one-op model entirely on ``which`` ('gpu' or 'npu'), and why not."""
    try:
        from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator
    except ImportError:
        return False, "LiteRT's CompiledModel API needs ai_edge_litert"
    with quiet_native():  # LiteRT logs its accelerator registry on creation and on destruction: keep both quiet
        try:
            model = CompiledModel.from_buffer(_one_op_model(),
                                              hardware_accel=getattr(HardwareAccelerator, which.upper()))
            model.close()
            del model
        except Exception:  # RuntimeError with a native trace; the details are logged at DEBUG (-v)
            return False, f"LiteRT found no usable {which.upper()} device or driver (run with -v for its log)"
    return True, ""


@functools.lru_cache(maxsize=1)
def _one_op_model() -> bytes:
    """A float32 ADD of two [1, 4] tensors: the smallest model that tells whether an accelerator runs at all."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT()
    model.version = 3
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [s.BufferT() for _ in range(4)]
    graph = s.SubGraphT()
    graph.tensors = []
    for i, name in enumerate(("a", "b", "sum")):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], s.TensorType.FLOAT32, i + 1, name
        graph.tensors.append(t)
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.AddOptions, s.AddOptionsT()
    graph.operators, graph.inputs, graph.outputs = [op], [0, 1], [2]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def available() -> tuple[str, ...]:
    """Accelerators a ``.tflite`` model can run on here (probed: GPU/NPU by compiling a one-op model)."""
    found = ["cpu"]
    for which in ("gpu", "npu"):
        if _compiled_accelerator_works(which)[0]:
            found.append(which)
    if _library_loads(_edgetpu_library()):
        found.append("edgetpu")
    return tuple(found)


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip(" └") for ln in str(exc).splitlines() if ln.strip(" └")]
    text = " ".join(ln for ln in lines if not ln.startswith(("ERROR: [", "=== Source"))) or (lines[0] if lines else "")
    return text or type(exc).__name__


def _spec(details: dict) -> TensorSpec:
    dtype = np.dtype(details["dtype"]).name
    signature = details.get("shape_signature")
    if signature is None or len(signature) != len(details["shape"]):
        signature = details["shape"]
    shape = tuple(None if int(d) < 0 else int(d) for d in signature)
    quant = None
    params = details.get("quantization_parameters") or {}
    scales = params.get("scales", ())
    if dtype in QUANTIZED_DTYPES and len(scales) == 1 and float(scales[0]) > 0:
        quant = (float(scales[0]), int(params["zero_points"][0]))
    return TensorSpec(details["name"], shape, dtype, quant)


def _position(order: Sequence[int], tensor: int) -> int:
    return order.index(tensor) if tensor in order else len(order)


class LiteRTEngine:
    """One TFLite interpreter, driven through its signature runner's tensors (or the subgraph's, unsigned)."""

    def __init__(self, data: bytes, name: str, summary, accelerator: str = "cpu", threads: int | None = None,
                 delegate: str | None = None, delegate_options: dict | None = None, signature: str | None = None):
        self._data, self._name, self._summary = data, name, summary
        self._options = dict(accelerator=accelerator, threads=threads, delegate=delegate,
                             delegate_options=delegate_options, signature=signature)
        self.backend, Interpreter, load_delegate = runtime()
        delegates = []
        if accelerator == "edgetpu" or delegate:
            library = delegate or _edgetpu_library()
            if os.sep in library and not os.path.isfile(library):
                raise AcceleratorError(f"the {accelerator} delegate library {library} does not exist; "
                                       f"available here: {', '.join(available())}")
            if not _library_loads(library):  # checked first: LiteRT's Delegate.__del__ trips on a failed load
                raise AcceleratorError(f"the {accelerator} delegate library {library} cannot be loaded here "
                                       f"({_load_error(library)}); available here: {', '.join(available())}")
            try:
                with quiet_native():
                    delegates.append(load_delegate(library, delegate_options or {}))
            except (ValueError, OSError, RuntimeError, AttributeError) as exc:
                raise AcceleratorError(f"could not load the {accelerator} delegate {library} "
                                       f"({_one_line(exc)}); available here: {', '.join(available())}") from None
        self.notes: tuple[str, ...] = ()
        try:
            self._open(Interpreter, data, threads, delegates, signature, default_delegates=True)
        except ModelLoadError as exc:
            if delegates or "XNNPACK" not in str(exc):
                raise
            # XNNPACK (LiteRT's default CPU delegate) refuses some valid graphs at prepare time, e.g. an int8
            # depthwise conv after a folded BatchNormalization: LiteRT's own kernels still run them.
            self._open(Interpreter, data, threads, delegates, signature, default_delegates=False)
            self.notes = (f"XNNPACK could not prepare this model ({str(exc).split(': ', 1)[-1]}); "
                          "LiteRT's built-in CPU kernels run it instead (slower)",)
        self.accelerator = accelerator
        self.threads = threads
        n_ops = summary.operators
        if delegates:
            self.fully_delegated = self._fully_delegated(n_ops, n_ops + self._partitions)
        else:  # XNNPACK is applied lazily by the first allocation
            self.fully_delegated = self._fully_delegated(n_ops, self._w.NumNodes()) if self._sg == 0 else None
        self._refresh_shapes()

    def _open(self, Interpreter, data: bytes, threads, delegates: list, signature: str | None, default_delegates: bool) -> None:
        """Build the interpreter, pick the signature and allocate its tensors (ModelLoadError when it fails)."""
        options = {}
        if not default_delegates:
            options["experimental_op_resolver_type"] = sys.modules[Interpreter.__module__].OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            with quiet_native():
                self._interp = Interpreter(model_content=data, num_threads=threads, experimental_delegates=delegates or None, **options)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"LiteRT could not load {self._name}: {_one_line(exc)}") from None
        self._w = self._interp._interpreter  # the native wrapper: SetTensor/Invoke/GetTensor per subgraph
        # Explicit delegates' kernels are appended after the model's own nodes now; XNNPACK's only at allocation.
        self._partitions = self._w.NumNodes() - self._summary.operators
        self._select_signature(signature)
        try:
            with quiet_native():
                self._w.AllocateTensors(self._sg)
        except (ValueError, RuntimeError) as exc:
            message = _one_line(exc)
            if self._summary.edgetpu_compiled and not delegates:
                message = "it was compiled for the Edge TPU: load it with accelerator='edgetpu'"
            raise ModelLoadError(f"LiteRT could not prepare {self._name}: {message}") from None

    def _select_signature(self, signature: str | None) -> None:
        signatures = self._interp._get_full_signature_list()
        self.signatures = tuple(signatures)
        if signature is None and signatures:
            signature = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        if signature is not None:
            if signature not in signatures:
                raise ModelLoadError(f"{self._name} has no signature {signature!r}; it has: "
                                     f"{', '.join(signatures) or 'none'}")
            sig = signatures[signature]
            self._sg = self._w.GetSubgraphIndexFromSignature(signature)
            # Inputs in the signature's order (by name: the converter does not keep the Keras input order in
            # the subgraph either, so a list follows model.inputs; a dict is unambiguous). Outputs in the
            # subgraph's order, which is the model's (signature output maps come back sorted by name).
            sg_out = self._summary.io[self._sg][1] if self._sg < len(self._summary.io) else ()
            ins = list(sig["inputs"].items())
            outs = sorted(sig["outputs"].items(), key=lambda item: _position(sg_out, item[1]))
            in_names, in_idx = [n for n, _ in ins], [i for _, i in ins]
            out_names, out_idx = [n for n, _ in outs], [i for _, i in outs]
        else:
            self._sg = 0
            in_idx, out_idx = list(self._w.InputIndices()), list(self._w.OutputIndices())
            in_names = out_names = None
        self.signature = signature
        self._in_idx, self._out_idx = in_idx, out_idx
        details = self._interp._get_tensor_details
        ins = [_spec(details(i, self._sg)) for i in in_idx]
        outs_specs = [_spec(details(i, self._sg)) for i in out_idx]
        if in_names is not None:
            ins = [TensorSpec(n, s.shape, s.dtype, s.quantization) for n, s in zip(in_names, ins)]
            outs_specs = [TensorSpec(n, s.shape, s.dtype, s.quantization) for n, s in zip(out_names, outs_specs)]
        self.inputs, self.outputs = tuple(ins), tuple(outs_specs)
        self.resizable = True

    def _fully_delegated(self, first: int, end: int) -> bool:
        """One delegate kernel that consumes every model input and produces every model output."""
        if end - first != 1:
            return False
        node_in = set(int(i) for i in self._w.NodeInputs(first))
        node_out = set(int(i) for i in self._w.NodeOutputs(first))
        return set(self._w.OutputIndices()) <= node_out and set(self._w.InputIndices()) <= node_in

    def _refresh_shapes(self) -> None:
        details = self._interp._get_tensor_details
        self._shapes = [tuple(int(d) for d in details(i, self._sg)["shape"]) for i in self._in_idx]

    def shapes(self) -> list[tuple]:
        return self._shapes

    def resize(self, shapes: Sequence[tuple]) -> None:
        try:
            for idx, shape in zip(self._in_idx, shapes):
                self._w.ResizeInputTensor(idx, np.asarray(shape, dtype=np.int32), False, self._sg)
            self._w.AllocateTensors(self._sg)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"LiteRT could not resize {self._name} to {list(shapes)}: {_one_line(exc)}") from None
        self._refresh_shapes()

    def run(self, arrays: Sequence) -> list:
        w, sg = self._w, self._sg
        if self._summary.variables:  # e.g. a fused LSTM's state: each call starts from zero, as in Keras
            w.ResetVariableTensors()
        for idx, array in zip(self._in_idx, arrays):
            w.SetTensor(idx, array, sg)
        w.Invoke(sg)
        return [w.GetTensor(idx, sg) for idx in self._out_idx]

    def clone(self) -> "LiteRTEngine":
        return LiteRTEngine(self._data, self._name, self._summary, **self._options)

    def close(self) -> None:
        self._w = None
        self._interp = None


class CompiledEngine:
    """LiteRT's CompiledModel API on a hardware accelerator (GPU or NPU), which must run the whole graph."""

    def __init__(self, data: bytes, name: str, summary, accelerator: str, threads: int | None = None,
                 signature: str | None = None, hardware: str | None = None):
        from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator

        self._data, self._name, self._summary = data, name, summary
        self._options = dict(accelerator=accelerator, threads=threads, signature=signature, hardware=hardware)
        # Specs (names, quantization) from an interpreter over the same bytes: the compiled model omits them.
        probe = LiteRTEngine(data, name, summary, "cpu", 1, signature=signature)
        self.inputs, self.outputs, self.signatures = probe.inputs, probe.outputs, probe.signatures
        self.signature = probe.signature
        probe.close()
        why = None
        with quiet_native():
            try:
                self._cm = CompiledModel.from_buffer(
                    data, hardware_accel=getattr(HardwareAccelerator, (hardware or accelerator).upper()))
            except RuntimeError as exc:
                why = _one_line(exc)
        if why is not None:
            raise AcceleratorError(f"LiteRT's {accelerator} accelerator cannot run all of {name} ({why}); "
                                   f"for partial offload give an external delegate with delegate=PATH")
        self.backend = "ai_edge_litert.CompiledModel"
        self.accelerator, self.threads = accelerator, threads
        self.fully_delegated = bool(self._cm.is_fully_accelerated())
        self._sig_index = self._cm.get_signature_index(self.signature) if self.signature else 0
        self.resizable = True
        self._allocate()

    def _allocate(self) -> None:
        key = self.signature
        details = self._cm.get_input_tensor_details(key)
        self._shapes = [tuple(details[s.name]["shape"]) for s in self.inputs]
        out_details = self._cm.get_output_tensor_details(key)
        self._out_shapes = [tuple(out_details[s.name]["shape"]) for s in self.outputs]
        self._in_bufs = self._cm.create_input_buffers(self._sig_index)
        self._out_bufs = self._cm.create_output_buffers(self._sig_index)

    def shapes(self) -> list[tuple]:
        return self._shapes

    def resize(self, shapes: Sequence[tuple]) -> None:
        try:
            for i, shape in enumerate(shapes):
                self._cm.resize_input_tensor(i, shape, self._sig_index, strict=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"LiteRT could not resize {self._name} to {list(shapes)}: {_one_line(exc)}") from None
        self._allocate()

    def run(self, arrays: Sequence) -> list:
        for buf, array in zip(self._in_bufs, arrays):
            buf.write(array)
        self._cm.run_by_index(self._sig_index, self._in_bufs, self._out_bufs)
        outs = []
        for buf, spec, shape in zip(self._out_bufs, self.outputs, self._out_shapes):
            outs.append(buf.read(int(np.prod(shape)), np.dtype(spec.dtype)).reshape(shape))
        return outs

    def clone(self) -> "CompiledEngine":
        return CompiledEngine(self._data, self._name, self._summary, **self._options)

    def close(self) -> None:
        with quiet_native():
            self._in_bufs = self._out_bufs = []
            if self._cm is not None:
                self._cm.close()
            self._cm = None


def open_engine(data: bytes, name: str, summary, accelerator: str, threads: int | None, delegate: str | None,
                delegate_options: dict | None, signature: str | None):
    """The engine for this accelerator; AcceleratorError (listing what is available) when it cannot run here."""
    if accelerator not in ACCELERATORS:
        raise AcceleratorError(f"unknown accelerator {accelerator!r} for a .tflite model; "
                               f"known: {', '.join(ACCELERATORS)}")
    if accelerator == "cpu" or accelerator == "edgetpu" or delegate:
        return LiteRTEngine(data, name, summary, accelerator, threads, delegate, delegate_options, signature)
    ok, why = _compiled_accelerator_works(accelerator)
    if not ok:
        raise AcceleratorError(f"the {accelerator} accelerator is not available here: {why}; "
                               f"available: {', '.join(available())}")
    return CompiledEngine(data, name, summary, accelerator, threads, signature)
