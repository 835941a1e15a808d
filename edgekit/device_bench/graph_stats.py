"""Size and compute of a model, read from the file itself: no TensorFlow, no interpreter.

``.tflite`` files are read through the FlatBuffer schema that ships in the ``ai-edge-litert`` wheel
(``ai_edge_litert.schema_py_generated``); ``.onnx`` files through the ``onnx`` package (``edgekit[full]``).

Counting conventions (the same for both formats, so a TFLite and an ONNX file of one network agree):

* **1 MAC = one multiply-add** (``acc += a * b``). MACs are counted for the ops that are made of them: convolution
  (``out_elements × kh × kw × in_channels / groups``), depthwise convolution (``out_elements × kh × kw``),
  transposed convolution (``in_elements × kh × kw × out_channels``), 3-D convolution, fully-connected / Gemm /
  MatMul / batch matmul (``out_elements × K``) and the gate matmuls of LSTM/GRU/RNN cells. This is the convention
  of the MobileNet papers (MobileNetV2 1.0/224 ≈ 300 M, MobileNetV1 1.0/224 ≈ 569 M).
* **Other arithmetic is not in ``macs``**: element-wise ops (add, mul, activations, softmax, quantize ...) count one
  operation per output element, pooling ``out_elements × window``, reductions one per input element, into the
  separate ``elementwise_ops`` figure. Pure data movement (reshape, transpose, concat, pad, slice, gather ...)
  counts nothing. Activations fused into a conv (ReLU6) count nothing.
* **Shapes at batch 1**: a dynamic batch dimension is taken as 1, so ``macs`` is per item; multiply by the batch.
* **Parameters** = elements of the constant tensors that hold weights: every floating-point or 8/16-bit integer
  constant, plus int32/int64 constants used as a bias; other integer constants (shapes, axes, paddings) are not
  parameters. A buffer shared by several tensors counts once. BatchNormalization folded into a conv by the
  converter therefore counts as the conv's bias; one that could not be folded counts as a per-channel mul + add.
* **Compute data type of a MAC**: the type of the op's input activations, except that an integer weight
  with a float activation (dynamic-range "hybrid" kernels, which quantize the activation on the fly) counts as
  integer MACs of the weight's type.
* **Bytes moved** (for the op-count energy model): ``weight_bytes`` = bytes of all constant data;
  ``activation_bytes`` = bytes every op reads from non-constant inputs plus writes to its outputs, at batch 1.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from edgekit import tflite_file
from edgekit._fs import file_size, gzip_size
from edgekit.errors import ModelLoadError

__all__ = ["ModelStats", "model_stats"]


@dataclasses.dataclass(frozen=True)
class ModelStats:
    """What a model file holds and costs per item (batch 1). ``None`` means "could not be counted" (see notes)."""

    path: str
    format: str  # "tflite" | "onnx"
    file_bytes: int
    gzip_bytes: int
    params: int | None
    macs: int | None
    macs_by_dtype: dict[str, int]
    macs_by_op: dict[str, int]
    elementwise_ops: int | None
    elementwise_by_dtype: dict[str, int]
    op_counts: dict[str, int]
    bytes_by_dtype: dict[str, int]  # constant (weight) bytes by data type
    weight_bytes: int | None
    activation_bytes: int | None
    notes: tuple[str, ...] = ()


def model_stats(path: str | Path) -> ModelStats:
    """Count parameters, MACs and bytes by data type of a ``.tflite`` or ``.onnx`` file.

    >>> s = model_stats("model.tflite"); print(s.params, s.macs, s.bytes_by_dtype)
    """
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"model file not found: {p}; give the path of a .tflite or .onnx file")
    if p.is_dir():
        raise ModelLoadError(f"{p} is a directory; give the path of a .tflite or .onnx file")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"model file is empty: {p}; re-export it (e.g. edgekit convert)")
    suffix = p.suffix.lower()
    if suffix == ".tflite":
        return _tflite_stats(p)
    if suffix == ".onnx":
        return _onnx_stats(p)
    raise ModelLoadError(f"unknown model format {suffix or '(no suffix)'!r} for {p}; supported: .tflite, .onnx")


# ---- shared helpers -----------------------------------------------------------------------------------

def _prod(shape: Sequence[int]) -> int:
    return int(math.prod(int(d) for d in shape))


def _acc(table: dict[str, int], key: str, value: int) -> None:
    table[key] = table.get(key, 0) + int(value)


_INT_WEIGHT_TYPES = ("int8", "uint8", "int4", "uint4", "int16", "int2")


def _mac_dtype(activation: str, weight: str | None) -> str:
    if weight and weight in _INT_WEIGHT_TYPES and activation.startswith(("float", "bfloat")):
        return weight  # hybrid (dynamic-range) kernel: activation is quantized on the fly
    return activation


@dataclasses.dataclass
class _Op:
    """One node, format-neutral: shapes at batch 1, dtypes as numpy-style names, const flags per input."""

    type: str
    inputs: list[tuple[int, ...] | None]
    input_dtypes: list[str | None]
    input_const: list[bool]
    outputs: list[tuple[int, ...] | None]
    output_dtypes: list[str | None]
    attrs: dict[str, Any]


def _in(op: _Op, i: int) -> tuple[int, ...] | None:
    return op.inputs[i] if i < len(op.inputs) else None


def _out_elems(op: _Op) -> int:
    return _prod(op.outputs[0]) if op.outputs and op.outputs[0] is not None else 0


# MAC rules: each returns (macs, index of the weight input or None). Shapes follow each format's layout.
def _tfl_conv(op: _Op):  # filter [Cout, kh, kw, Cin/groups]
    f = _in(op, 1)
    return _out_elems(op) * f[1] * f[2] * f[3], 1


def _tfl_depthwise(op: _Op):  # filter [1, kh, kw, Cout]
    f = _in(op, 1)
    return _out_elems(op) * f[1] * f[2], 1


def _tfl_conv3d(op: _Op):  # filter [kd, kh, kw, Cin, Cout]
    f = _in(op, 1)
    return _out_elems(op) * f[0] * f[1] * f[2] * f[3], 1


def _tfl_transpose_conv(op: _Op):  # inputs: output_shape, filter [Cout, kh, kw, Cin], input
    f, x = _in(op, 1), _in(op, 2)
    return _prod(x) * f[0] * f[1] * f[2], 1


def _tfl_conv3d_transpose(op: _Op):  # inputs: output_shape, filter [kd, kh, kw, Cout, Cin], input
    f, x = _in(op, 1), _in(op, 2)
    return _prod(x) * f[0] * f[1] * f[2] * f[3], 1


def _tfl_fully_connected(op: _Op):  # weights [units, K]
    f = _in(op, 1)
    return _out_elems(op) * f[-1], 1


def _tfl_batch_matmul(op: _Op):
    a = _in(op, 0)
    k = a[-2] if op.attrs.get("adj_x") else a[-1]
    return _out_elems(op) * k, (1 if op.input_const[1] else None)


def _tfl_lstm(op: _Op):  # input [B, T, I] (or [T, B, I]); gate weights at inputs 1..8, projection at 16
    x = _in(op, 0)
    steps = _prod(x[:-1]) if x else 0
    macs = 0
    for i in list(range(1, 9)) + [16]:
        w = _in(op, i)
        if w is not None and len(w) == 2:
            macs += steps * w[0] * w[1]
    return macs, 1


def _tfl_rnn(op: _Op):  # input [B, T, I]; weights [H, I], recurrent [H, H]
    x = _in(op, 0)
    steps = _prod(x[:-1]) if x else 0
    return steps * sum(_prod(_in(op, i)) for i in (1, 2) if _in(op, i) is not None), 1


_TFLITE_MACS: dict[str, Callable[[_Op], tuple[int, int | None]]] = {
    "CONV_2D": _tfl_conv,
    "DEPTHWISE_CONV_2D": _tfl_depthwise,
    "CONV_3D": _tfl_conv3d,
    "TRANSPOSE_CONV": _tfl_transpose_conv,
    "CONV_3D_TRANSPOSE": _tfl_conv3d_transpose,
    "FULLY_CONNECTED": _tfl_fully_connected,
    "BATCH_MATMUL": _tfl_batch_matmul,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _tfl_lstm,
    "LSTM": _tfl_lstm,
    "UNIDIRECTIONAL_SEQUENCE_RNN": _tfl_rnn,
    "RNN": _tfl_rnn,
}

# Ops that only move or re-label data: no arithmetic counted.
_DATA_MOVEMENT = frozenset(
    "RESHAPE SQUEEZE EXPAND_DIMS TRANSPOSE CONCATENATION PAD PADV2 MIRROR_PAD GATHER GATHER_ND SLICE STRIDED_SLICE "
    "SPLIT SPLIT_V PACK UNPACK SHAPE TILE BROADCAST_TO SPACE_TO_DEPTH DEPTH_TO_SPACE SPACE_TO_BATCH_ND "
    "BATCH_TO_SPACE_ND EMBEDDING_LOOKUP REVERSE_V2 CAST FILL ZEROS_LIKE ONES_LIKE RANGE WHERE SCATTER_ND "
    "RESIZE_NEAREST_NEIGHBOR IDENTITY "
    # ONNX spellings
    "Reshape Squeeze Unsqueeze Transpose Concat Pad Gather GatherND GatherElements Slice Split Shape Tile Expand "
    "Flatten Identity Cast ConstantOfShape Range Where ScatterND SpaceToDepth DepthToSpace Constant Dropout".split()
)
_POOLING = frozenset("AVERAGE_POOL_2D MAX_POOL_2D L2_POOL_2D MaxPool AveragePool LpPool".split())
_REDUCTIONS = frozenset(
    "MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD GlobalAveragePool GlobalMaxPool ReduceMean ReduceSum ReduceMax "
    "ReduceMin ReduceProd".split()
)


def _elementwise_ops(op: _Op, pool_window: int) -> int:
    if op.type in _DATA_MOVEMENT:
        return 0
    if op.type in _POOLING:
        return _out_elems(op) * max(pool_window, 1)
    if op.type in _REDUCTIONS:
        x = _in(op, 0)
        return _prod(x) if x is not None else 0
    return sum(_prod(o) for o in op.outputs if o is not None)


def _tally(ops: list[_Op], rules: dict[str, Callable[[_Op], tuple[int, int | None]]]) -> dict[str, Any]:
    macs_by_op: dict[str, int] = {}
    macs_by_dtype: dict[str, int] = {}
    op_counts: dict[str, int] = {}
    elementwise_by_dtype: dict[str, int] = {}
    activation_bytes = 0
    unknown: set[str] = set()
    for op in ops:
        _acc(op_counts, op.type, 1)
        if op.attrs.get("weight_prep"):  # dequantizing a constant weight: done once, not per inference
            continue
        repeat = op.attrs.get("repeat", 1)  # the body of a loop (a Keras 3 RNN's WHILE) runs once per step
        for shape, dtype, const in zip(op.inputs, op.input_dtypes, op.input_const):
            if shape is not None and dtype and not const:
                activation_bytes += _prod(shape) * _itemsize(dtype) * repeat
        for shape, dtype in zip(op.outputs, op.output_dtypes):
            if shape is not None and dtype:
                activation_bytes += _prod(shape) * _itemsize(dtype) * repeat
        rule = rules.get(op.type)
        if rule is None:
            dtype = (op.output_dtypes[0] if op.output_dtypes else None) or "float32"
            _acc(elementwise_by_dtype, dtype, _elementwise_ops(op, op.attrs.get("window", 1)) * repeat)
            continue
        try:
            macs, w_index = rule(op)
        except (TypeError, IndexError):  # a shape the file leaves unknown
            unknown.add(op.type)
            continue
        macs *= repeat
        _acc(macs_by_op, op.type, macs)
        act = op.input_dtypes[0] if op.input_dtypes and op.input_dtypes[0] else "float32"
        if op.type in ("TRANSPOSE_CONV", "CONV_3D_TRANSPOSE"):
            act = op.input_dtypes[2] or act
        weight = op.input_dtypes[w_index] if w_index is not None and w_index < len(op.input_dtypes) else None
        _acc(macs_by_dtype, _mac_dtype(act, weight), macs)
    return {
        "macs_by_op": macs_by_op,
        "macs_by_dtype": macs_by_dtype,
        "op_counts": op_counts,
        "elementwise_by_dtype": {k: v for k, v in elementwise_by_dtype.items() if v},
        "activation_bytes": activation_bytes,
        "unknown": unknown,
    }


_ITEMSIZE = {"int4": 0.5, "uint4": 0.5, "int2": 0.25, "bool": 1, "string": 1}


def _itemsize(dtype: str) -> float:
    if dtype in _ITEMSIZE:
        return _ITEMSIZE[dtype]
    import numpy as np

    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        return {"bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1}.get(dtype, 4)


def _is_param(dtype: str, is_bias: bool) -> bool:
    if dtype in ("int32", "int64", "uint32", "uint64"):
        return is_bias
    return dtype not in ("bool", "string", "resource", "variant")


def _stats(path: Path, fmt: str, params: int, tally: dict[str, Any], bytes_by_dtype: dict[str, int], notes: list[str]) -> ModelStats:
    return ModelStats(
        path=str(path),
        format=fmt,
        file_bytes=file_size(path),
        gzip_bytes=gzip_size(path),
        params=params,
        macs=sum(tally["macs_by_op"].values()),
        macs_by_dtype=tally["macs_by_dtype"],
        macs_by_op=tally["macs_by_op"],
        elementwise_ops=sum(tally["elementwise_by_dtype"].values()),
        elementwise_by_dtype=tally["elementwise_by_dtype"],
        op_counts=tally["op_counts"],
        bytes_by_dtype=bytes_by_dtype,
        weight_bytes=sum(bytes_by_dtype.values()),
        activation_bytes=int(tally["activation_bytes"]),
        notes=tuple(notes),
    )


# ---- TFLite -------------------------------------------------------------------------------------------

_BIAS_INPUT = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "CONV_3D": 2, "TRANSPOSE_CONV": 3}


def _tflite_stats(path: Path) -> ModelStats:
    model, data = tflite_file.read(path)
    schema = tflite_file.schema()
    try:
        opcodes = tflite_file.operator_names(model)
        ops: list[_Op] = []
        derived_const: set[int] = set()  # outputs of DEQUANTIZE on a constant (float16 / int8 weights)
        counted_buffers: set[int] = set()
        params = 0
        bytes_by_dtype: dict[str, int] = {}
        repeats = _loop_repeats(model, data, schema, opcodes)
        for g in range(model.SubgraphsLength()):
            sub = model.Subgraphs(g)
            tensors = []
            for t in range(sub.TensorsLength()):
                tensor = sub.Tensors(t)
                shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
                nbytes = tflite_file.buffer_size(model, tensor.Buffer())
                tensors.append((shape, tflite_file.tensor_type(tensor.Type()), tensor.Buffer(), nbytes))
            for o in range(sub.OperatorsLength()):
                op = sub.Operators(o)
                kind = opcodes[op.OpcodeIndex()]
                ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
                outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
                attrs = _tflite_attrs(schema, op, kind)
                if repeats.get(g, 1) > 1:
                    attrs["repeat"] = repeats[g]
                is_const = [i >= 0 and (tensors[i][3] > 0 or i in derived_const) for i in ins]
                if kind == "DEQUANTIZE" and ins and is_const[0]:
                    derived_const.update(outs)
                    attrs["weight_prep"] = True
                for pos, ti in enumerate(ins):
                    if ti < 0:
                        continue
                    shape, dtype, buf, nbytes = tensors[ti]
                    if nbytes and buf not in counted_buffers:
                        counted_buffers.add(buf)
                        _acc(bytes_by_dtype, dtype, nbytes)
                        if _is_param(dtype, _BIAS_INPUT.get(kind) == pos):
                            params += _prod(shape)
                ops.append(
                    _Op(
                        type=kind,
                        inputs=[tensors[i][0] if i >= 0 else None for i in ins],
                        input_dtypes=[tensors[i][1] if i >= 0 else None for i in ins],
                        input_const=is_const,
                        outputs=[tensors[i][0] for i in outs],
                        output_dtypes=[tensors[i][1] for i in outs],
                        attrs=attrs,
                    )
                )
    except ModelLoadError:
        raise
    except Exception as exc:  # a truncated or corrupt flatbuffer raises anything from struct to IndexError
        raise ModelLoadError(
            f"could not parse {path} as a TFLite model ({type(exc).__name__}: {exc}); the file may be truncated"
        ) from exc
    tally = _tally(ops, _TFLITE_MACS)
    notes = []
    if tally["unknown"]:
        notes.append("MACs not counted for ops with unknown shapes: " + ", ".join(sorted(tally["unknown"])))
    customs = sorted(k for k in tally["op_counts"] if k.startswith("CUSTOM:"))
    if customs:
        notes.append("custom ops are not counted in MACs: " + ", ".join(customs))
    return _stats(path, "tflite", params, tally, bytes_by_dtype, notes)


def _loop_repeats(model: Any, data: bytes, schema: Any, opcodes: list[str]) -> dict[int, int]:
    """How many times each WHILE body (and condition) subgraph runs per inference: the smallest constant its
    condition compares the loop counter with (``i < T``, ``i < max_iterations``, as a Keras 3 RNN converts), times
    the repeats of the subgraph the WHILE sits in. A loop without such a constant counts once (and a note says so
    via the caller's MAC total being per iteration)."""
    import numpy as np

    loops = []  # (parent subgraph, cond, body)
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for o in range(sub.OperatorsLength()):
            op = sub.Operators(o)
            if opcodes[op.OpcodeIndex()] != "WHILE" or op.BuiltinOptions() is None:
                continue
            opts = schema.WhileOptions()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            loops.append((g, int(opts.CondSubgraphIndex()), int(opts.BodySubgraphIndex())))
    repeats: dict[int, int] = {}
    for parent, cond, body in loops:
        bounds = []
        sub = model.Subgraphs(cond)
        for o in range(sub.OperatorsLength()):
            op = sub.Operators(o)
            if opcodes[op.OpcodeIndex()] not in ("LESS", "LESS_EQUAL") or op.InputsLength() != 2:
                continue
            tensor = sub.Tensors(int(op.Inputs(1)))
            raw = tflite_file.buffer_bytes(model, data, tensor.Buffer())
            kind = tflite_file.tensor_type(tensor.Type())
            if raw and kind in ("int32", "int64") and len(raw) == np.dtype(kind).itemsize:
                bound = int(np.frombuffer(raw, kind)[0]) + (opcodes[op.OpcodeIndex()] == "LESS_EQUAL")
                if bound > 0:
                    bounds.append(bound)
        times = min(bounds) if bounds else 1
        for g in (cond, body):
            repeats[g] = times * repeats.get(parent, 1)
    return repeats


def _tflite_attrs(schema: Any, op: Any, kind: str) -> dict[str, Any]:
    table = op.BuiltinOptions()
    if table is None:
        return {}
    if kind == "BATCH_MATMUL":
        opts = schema.BatchMatMulOptions()
        opts.Init(table.Bytes, table.Pos)
        return {"adj_x": bool(opts.AdjX()), "adj_y": bool(opts.AdjY())}
    if kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        opts = schema.Pool2DOptions()
        opts.Init(table.Bytes, table.Pos)
        return {"window": int(opts.FilterHeight()) * int(opts.FilterWidth())}
    return {}


# ---- ONNX ---------------------------------------------------------------------------------------------

def _onnx_conv(op: _Op):  # W [Cout, Cin/groups, k...]
    w = _in(op, 1)
    return _out_elems(op) * _prod(w[1:]), 1


def _onnx_conv_transpose(op: _Op):  # W [Cin, Cout/groups, k...]
    w, x = _in(op, 1), _in(op, 0)
    return _prod(x) * _prod(w[1:]), 1


def _onnx_qlinear_conv(op: _Op):  # x, x_scale, x_zp, W [Cout, Cin/g, k...], ...
    w = _in(op, 3)
    return _out_elems(op) * _prod(w[1:]), 3


def _onnx_gemm(op: _Op):
    a = _in(op, 0)
    k = a[0] if op.attrs.get("transA") else a[-1]
    return _out_elems(op) * k, (1 if op.input_const[1] else None)


def _onnx_matmul(op: _Op):
    a = _in(op, 0)
    return _out_elems(op) * a[-1], (1 if len(op.input_const) > 1 and op.input_const[1] else None)


def _onnx_qlinear_matmul(op: _Op):  # a, a_scale, a_zp, b, ...
    a = _in(op, 0)
    return _out_elems(op) * a[-1], 3


def _onnx_recurrent(gates: int):
    def rule(op: _Op):  # X [T, B, I], W [dirs, gates*H, I], R [dirs, gates*H, H]
        x, w, r = _in(op, 0), _in(op, 1), _in(op, 2)
        steps = x[0] * x[1]
        return steps * (_prod(w) + _prod(r)), 1

    return rule


_ONNX_MACS: dict[str, Callable[[_Op], tuple[int, int | None]]] = {
    "Conv": _onnx_conv,
    "ConvInteger": _onnx_conv,
    "QLinearConv": _onnx_qlinear_conv,
    "ConvTranspose": _onnx_conv_transpose,
    "Gemm": _onnx_gemm,
    "MatMul": _onnx_matmul,
    "MatMulInteger": _onnx_matmul,
    "QLinearMatMul": _onnx_qlinear_matmul,
    "LSTM": _onnx_recurrent(4),
    "GRU": _onnx_recurrent(3),
    "RNN": _onnx_recurrent(1),
}
_ONNX_BIAS_INPUT = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2, "QLinearConv": 8}


def _onnx_stats(path: Path) -> ModelStats:
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        return ModelStats(
            path=str(path), format="onnx", file_bytes=file_size(path), gzip_bytes=gzip_size(path), params=None,
            macs=None, macs_by_dtype={}, macs_by_op={}, elementwise_ops=None, elementwise_by_dtype={}, op_counts={},
            bytes_by_dtype={},
            weight_bytes=None, activation_bytes=None,
            notes=("ONNX MACs, parameters and bytes by dtype need the 'onnx' package, which is not installed here: "
                   "pip install onnx (or 'edgekit[full]'); size and latency are still measured",),
        )
    from edgekit.runtime.verify_onnx import verify_onnx

    verify_onnx(Path(path).read_bytes(), path)  # external data only from the model's folder, before onnx.load reads it
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"could not parse {path} as an ONNX model ({type(exc).__name__}: {exc})") from exc
    graph = model.graph
    for value in list(graph.input) + list(graph.output):  # dynamic dims (batch) -> 1, as for TFLite
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    try:
        model = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:
        raise ModelLoadError(f"ONNX shape inference failed on {path} ({type(exc).__name__}: {exc})") from exc
    graph = model.graph
    shapes: dict[str, tuple[int, ...] | None] = {}
    dtypes: dict[str, str | None] = {}

    def dtype_name(elem_type: int) -> str | None:
        try:
            return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
        except Exception:
            return None

    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        tt = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        shapes[value.name] = None if (not tt.HasField("shape") or None in dims) else tuple(dims)
        dtypes[value.name] = dtype_name(tt.elem_type)
    consts: dict[str, Any] = {}
    for init in graph.initializer:
        consts[init.name] = init
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = attr.t
    for name, tensor in consts.items():
        shapes[name] = tuple(int(d) for d in tensor.dims)
        dtypes[name] = dtype_name(tensor.data_type)

    bias_of = {}
    for node in graph.node:
        idx = _ONNX_BIAS_INPUT.get(node.op_type)
        if idx is not None and idx < len(node.input):
            bias_of[node.input[idx]] = True
    params = 0
    bytes_by_dtype: dict[str, int] = {}
    for name, tensor in consts.items():
        dtype = dtypes[name] or "unknown"
        nbytes = int(numpy_helper.to_array(tensor).nbytes) if tensor.data_location != 1 else int(
            _prod(tensor.dims) * _itemsize(dtype))
        _acc(bytes_by_dtype, dtype, nbytes)
        if _is_param(dtype, bias_of.get(name, False)):
            params += _prod(tensor.dims)

    ops = []
    derived_const: set[str] = set()
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear" and node.input and node.input[0] in consts:
            derived_const.update(node.output)
            attrs["weight_prep"] = True
        if node.op_type in _POOLING and "kernel_shape" in attrs:
            attrs["window"] = _prod(attrs["kernel_shape"])
        ins = list(node.input)
        ops.append(
            _Op(
                type=node.op_type,
                inputs=[shapes.get(n) if n else None for n in ins],
                input_dtypes=[dtypes.get(n) if n else None for n in ins],
                input_const=[bool(n) and (n in consts or n in derived_const) for n in ins],
                outputs=[shapes.get(n) for n in node.output],
                output_dtypes=[dtypes.get(n) for n in node.output],
                attrs=attrs,
            )
        )
    tally = _tally(ops, _ONNX_MACS)
    notes = []
    if tally["unknown"]:
        notes.append("MACs not counted for ops whose shapes ONNX shape inference left unknown: "
                     + ", ".join(sorted(tally["unknown"])))
    return _stats(path, "onnx", params, tally, bytes_by_dtype, notes)
