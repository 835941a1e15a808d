"""Check a model file before any native runtime sees it.

Native runtimes trust their input: a flatbuffer whose offsets point outside the file, or whose operators name
tensors that do not exist, can make them read out of bounds and take the host process down. So every ``.tflite``
is verified here first, in pure Python, the way flatbuffers' own C++ ``Verifier`` does it (every table, vtable,
vector and string inside the file, alignment, depth and table-count limits) and then against what TFLite itself
assumes (indices of tensors, buffers, operator codes and subgraphs in range, constant data as large as its
shape). The layout comes from LiteRT's schema (``_tflite_schema.py``, generated from it).

``sniff`` tells the format from the bytes, whatever the extension says.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from edgekit.errors import ModelLoadError
from edgekit.runtime._tflite_schema import TABLES, UNIONS

TFLITE_IDENTIFIER = b"TFL3"
_MAX_DEPTH = 64  # flatbuffers::Verifier defaults
_MAX_TABLES = 1_000_000
_MAX_FLATBUFFER = 2**31 - 1

# TFLite TensorType -> bits per element (STRING, RESOURCE, VARIANT have no fixed size: None).
_TYPE_BITS = {0: 32, 1: 16, 2: 32, 3: 8, 4: 64, 5: None, 6: 8, 7: 16, 8: 64, 9: 8, 10: 64, 11: 128, 12: 64,
              13: None, 14: None, 15: 32, 16: 16, 17: 4, 18: 16, 19: 2}
# Integer TensorType -> the range its zero points must lie in (INT8, UINT8, INT16, INT4).
_ZERO_POINT_RANGE = {9: (-128, 127), 3: (0, 255), 7: (-32768, 32767), 17: (-8, 7)}
_u8 = struct.Struct("<B").unpack_from
_u16 = struct.Struct("<H").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from


class _Invalid(Exception):
    pass


@dataclass(frozen=True)
class TFLiteSummary:
    """What verification learned about a ``.tflite`` file (cheap facts, no runtime needed)."""

    version: int
    subgraphs: int
    operators: int  # in the primary subgraph
    tensors: int  # in the primary subgraph
    signatures: tuple[str, ...]
    custom_ops: tuple[str, ...] = field(default=())
    io: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = field(default=())  # per subgraph: (inputs, outputs)
    variables: bool = False  # the model has variable tensors (state the runtime resets before each call)

    @property
    def edgetpu_compiled(self) -> bool:
        return "edgetpu-custom-op" in self.custom_ops


def sniff(data: bytes) -> str | None:
    """'tflite', 'onnx' or None, from the bytes alone."""
    if len(data) >= 8 and data[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    # An ONNX ModelProto is a protobuf message: it starts with field 1 (ir_version, varint: 0x08) in practice
    # for every exporter, and names its opset domain or producer early on.
    if data[:1] == b"\x08" and (b"onnx" in data[:4096].lower() or b"opset_import" in data[:4096]):
        return "onnx"
    return None


class _Walker:
    """Structural verification of a flatbuffer against TABLES, in the manner of flatbuffers::Verifier."""

    def __init__(self, buf: bytes):
        self.buf = buf
        self.size = len(buf)
        self.tables = 0

    def _need(self, pos: int, length: int, what: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise _Invalid(f"{what} at byte {pos} (+{length}) runs past the end of the file ({self.size} bytes)")

    def _align(self, pos: int, n: int, what: str) -> None:
        if pos % n:
            raise _Invalid(f"{what} at byte {pos} is not {n}-byte aligned")

    def offset(self, pos: int, what: str) -> int:
        self._need(pos, 4, what)
        self._align(pos, 4, what)
        rel = _u32(self.buf, pos)[0]
        if rel == 0:
            raise _Invalid(f"{what} at byte {pos} is a null offset")
        target = pos + rel
        self._need(target, 4, what)
        return target

    def vector(self, pos: int, elem: int, what: str) -> tuple[int, int]:
        """Verify the vector at ``pos`` (its length word); return (first element position, length)."""
        self._need(pos, 4, what)
        self._align(pos, 4, what)
        n = _u32(self.buf, pos)[0]
        if n * elem > self.size:
            raise _Invalid(f"{what} at byte {pos} claims {n} elements, more than the file holds")
        self._need(pos + 4, n * elem, what)
        if elem > 1 and elem <= 8:
            self._align(pos + 4, min(elem, 8), what)
        return pos + 4, n

    def string(self, pos: int, what: str) -> None:
        start, n = self.vector(pos, 1, what)
        self._need(start, n + 1, what)
        if self.buf[start + n] != 0:
            raise _Invalid(f"{what} at byte {pos} is not NUL-terminated")
        try:  # runtimes hand names to Python as str
            bytes(self.buf[start:start + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid(f"{what} at byte {pos} is not UTF-8 text") from None

    def table(self, pos: int, name: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Invalid(f"tables nest deeper than {_MAX_DEPTH} levels")
        self.tables += 1
        if self.tables > _MAX_TABLES:
            raise _Invalid(f"more than {_MAX_TABLES} tables")
        self._need(pos, 4, f"{name} table")
        self._align(pos, 4, f"{name} table")
        vtable = pos - _i32(self.buf, pos)[0]
        self._need(vtable, 4, f"{name} vtable")
        self._align(vtable, 2, f"{name} vtable")
        vsize, tsize = _u16(self.buf, vtable)[0], _u16(self.buf, vtable + 2)[0]
        if vsize < 4 or vsize % 2:
            raise _Invalid(f"{name} vtable at byte {vtable} has an invalid size {vsize}")
        self._need(vtable, vsize, f"{name} vtable")
        self._need(pos, tsize, f"{name} table")
        fields = TABLES[name]
        for slot in range(4, vsize, 2):
            rel = _u16(self.buf, vtable + slot)[0]
            if rel == 0:
                continue
            spec = fields.get(slot)
            if spec is None:
                continue  # a field from a newer schema: its bytes are inside the table, never followed
            fname, kind, arg = spec
            where = f"{name}.{fname}"
            width = arg if kind == "scalar" else 4
            if rel + width > tsize:
                raise _Invalid(f"{where} lies outside its table at byte {pos}")
            fpos = pos + rel
            if kind == "scalar":
                continue
            target = self.offset(fpos, where)
            if kind == "string":
                self.string(target, where)
            elif kind == "table":
                self.table(target, arg, depth + 1)
            elif kind == "scalars":
                self.vector(target, arg, where)
            elif kind == "structs":
                self.vector(target, arg, where)
            elif kind in ("tables", "strings"):
                start, n = self.vector(target, 4, where)
                for i in range(n):
                    item = self.offset(start + 4 * i, f"{where}[{i}]")
                    if kind == "tables":
                        self.table(item, arg, depth + 1)
                    else:
                        self.string(item, f"{where}[{i}]")
            elif kind == "union":
                enum, type_slot = arg
                type_value = self.scalar_field(pos, vtable, vsize, tsize, type_slot, 1)
                member = UNIONS[enum].get(type_value)
                if member is not None:  # NONE, or a type from a newer schema: not followed (as flatc does)
                    self.table(target, member, depth + 1)
            else:  # pragma: no cover - the generator only emits the kinds above
                raise _Invalid(f"{where}: unknown field kind {kind}")

    def scalar_field(self, pos: int, vtable: int, vsize: int, tsize: int, slot: int, width: int) -> int:
        if slot >= vsize:
            return 0
        rel = _u16(self.buf, vtable + slot)[0]
        if rel == 0:
            return 0
        if rel + width > tsize:
            raise _Invalid(f"field at slot {slot} lies outside its table at byte {pos}")
        return int.from_bytes(self.buf[pos + rel:pos + rel + width], "little")


class _Reader:
    """Reads fields of a flatbuffer that _Walker has verified (so every read below is in bounds)."""

    def __init__(self, buf: bytes):
        self.buf = buf

    def _slot(self, pos: int, slot: int) -> int:
        vtable = pos - _i32(self.buf, pos)[0]
        if slot >= _u16(self.buf, vtable)[0]:
            return 0
        rel = _u16(self.buf, vtable + slot)[0]
        return pos + rel if rel else 0

    def scalar(self, pos: int, slot: int, fmt: str, default: int = 0) -> int:
        at = self._slot(pos, slot)
        return struct.unpack_from(fmt, self.buf, at)[0] if at else default

    def ref(self, pos: int, slot: int) -> int:
        at = self._slot(pos, slot)
        return at + _u32(self.buf, at)[0] if at else 0

    def ints(self, pos: int, slot: int, fmt: str = "i") -> tuple:
        at = self.ref(pos, slot)
        if not at:
            return ()
        n = _u32(self.buf, at)[0]
        return struct.unpack_from(f"<{n}{fmt}", self.buf, at + 4)

    def vector_len(self, pos: int, slot: int) -> int:
        at = self.ref(pos, slot)
        return _u32(self.buf, at)[0] if at else 0

    def tables(self, pos: int, slot: int) -> list[int]:
        at = self.ref(pos, slot)
        if not at:
            return []
        n = _u32(self.buf, at)[0]
        return [at + 4 + 4 * i + _u32(self.buf, at + 4 + 4 * i)[0] for i in range(n)]

    def string(self, pos: int, slot: int) -> str:
        at = self.ref(pos, slot)
        if not at:
            return ""
        n = _u32(self.buf, at)[0]
        return bytes(self.buf[at + 4:at + 4 + n]).decode("utf-8", "replace")


def _semantic(buf: bytes, root: int) -> TFLiteSummary:
    """What TFLite assumes of a model without checking everywhere: indices in range, constants big enough."""
    r = _Reader(buf)
    version = r.scalar(root, 4, "<I")
    if version != 3:
        raise _Invalid(f"schema version is {version}, TFLite models have version 3")
    opcodes = r.tables(root, 6)
    subgraphs = r.tables(root, 8)
    buffers = r.tables(root, 12)
    if not subgraphs:
        raise _Invalid("the model has no subgraph")
    custom = []
    for oc in opcodes:
        name = r.string(oc, 6)
        if name:
            custom.append(name)
    buffer_bytes = []
    for i, b in enumerate(buffers):
        data_len = r.vector_len(b, 4)
        offset, size = r.scalar(b, 6, "<Q"), r.scalar(b, 8, "<Q")
        if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            if offset + size > len(buf):
                raise _Invalid(f"buffer {i} points at bytes {offset}..{offset + size}, past the end of the file")
            data_len = size
        buffer_bytes.append(data_len)
    n_sub = len(subgraphs)
    variables = False
    for s, sg in enumerate(subgraphs):
        tensors = r.tables(sg, 4)
        n_t = len(tensors)
        for t, tensor in enumerate(tensors):
            shape = r.ints(tensor, 4)
            if any(d < 0 for d in shape):
                raise _Invalid(f"subgraph {s} tensor {t} has a negative dimension in shape {list(shape)}")
            if any(d < -1 for d in r.ints(tensor, 18)):
                raise _Invalid(f"subgraph {s} tensor {t} has an invalid shape signature")
            variables = variables or bool(r.scalar(tensor, 14, "<B"))  # Tensor.is_variable
            ttype = r.scalar(tensor, 6, "<b")
            if ttype not in _TYPE_BITS:
                raise _Invalid(f"subgraph {s} tensor {t} has unknown type {ttype}")
            bidx = r.scalar(tensor, 8, "<I")
            if bidx >= len(buffers):
                raise _Invalid(f"subgraph {s} tensor {t} uses buffer {bidx}; the model has {len(buffers)}")
            bits = _TYPE_BITS[ttype]
            if bidx and buffer_bytes[bidx] and bits and not r.ref(tensor, 16):  # dense constant
                count = 1
                for d in shape:
                    count *= d
                if buffer_bytes[bidx] < (count * bits + 7) // 8:
                    raise _Invalid(f"subgraph {s} tensor {t} needs {(count * bits + 7) // 8} bytes of constant "
                                   f"data; its buffer {bidx} holds {buffer_bytes[bidx]}")
            q = r.ref(tensor, 12)
            if q:
                scales, zps = r.ints(q, 8, "f"), r.ints(q, 10, "q")
                qdim = r.scalar(q, 16, "<i")
                if zps and len(zps) != len(scales):
                    raise _Invalid(f"subgraph {s} tensor {t} has {len(scales)} scales but {len(zps)} zero points")
                if any(not (sc >= 0.0 and sc < float("inf")) for sc in scales):  # also catches NaN
                    raise _Invalid(f"subgraph {s} tensor {t} has a negative or non-finite quantization scale")
                low, high = _ZERO_POINT_RANGE.get(ttype, (None, None))
                if low is not None and any(not low <= z <= high for z in zps):
                    raise _Invalid(f"subgraph {s} tensor {t} has a zero point outside [{low}, {high}]")
                if len(scales) > 1 and not 0 <= qdim < max(len(shape), 1):
                    raise _Invalid(f"subgraph {s} tensor {t} quantizes along axis {qdim} of a rank-{len(shape)} "
                                   f"tensor")
        for kind, slot in (("input", 6), ("output", 8)):
            for idx in r.ints(sg, slot):
                if not 0 <= idx < n_t:
                    raise _Invalid(f"subgraph {s} {kind} tensor {idx} does not exist ({n_t} tensors)")
        for o, op in enumerate(r.tables(sg, 10)):
            code = r.scalar(op, 4, "<I")
            if code >= len(opcodes):
                raise _Invalid(f"subgraph {s} operator {o} uses operator code {code}; the model has {len(opcodes)}")
            for slot in (6, 8, 20):
                for idx in r.ints(op, slot):
                    if not -1 <= idx < n_t:
                        raise _Invalid(f"subgraph {s} operator {o} refers to tensor {idx} ({n_t} tensors)")
            lco, lcs = r.scalar(op, 22, "<Q"), r.scalar(op, 24, "<Q")
            if lco and lco + lcs > len(buf):
                raise _Invalid(f"subgraph {s} operator {o} has custom options past the end of the file")
            for type_slot, slot, enum in ((10, 12, "BuiltinOptions"), (26, 28, "BuiltinOptions2")):
                member = UNIONS[enum].get(r.scalar(op, type_slot, "<B"))
                options = r.ref(op, slot) if member else 0
                if options:
                    _check_subgraph_refs(r, options, member, n_sub, f"subgraph {s} operator {o}")
    signatures = []
    for sig in r.tables(root, 18):
        key = r.string(sig, 8)
        sidx = r.scalar(sig, 12, "<I")
        if sidx >= n_sub:
            raise _Invalid(f"signature {key!r} runs subgraph {sidx}; the model has {n_sub}")
        n_t = len(r.tables(subgraphs[sidx], 4))
        for slot in (4, 6):
            for tm in r.tables(sig, slot):
                if r.scalar(tm, 6, "<I") >= n_t:
                    raise _Invalid(f"signature {key!r} names tensor {r.scalar(tm, 6, '<I')} ({n_t} tensors)")
        signatures.append(key)
    primary = subgraphs[0]
    return TFLiteSummary(version=version, subgraphs=n_sub, operators=r.vector_len(primary, 10),
                         tensors=r.vector_len(primary, 4), signatures=tuple(signatures),
                         custom_ops=tuple(sorted(set(custom))),
                         io=tuple((r.ints(sg, 6), r.ints(sg, 8)) for sg in subgraphs), variables=variables)


def _check_subgraph_refs(r: _Reader, options: int, table: str, n_sub: int, where: str) -> None:
    """Control-flow options (IF, WHILE, CALL_ONCE, StableHLO while/case/...) name subgraphs by index."""
    for slot, (fname, kind, _arg) in TABLES[table].items():
        if "Subgraph" not in fname:
            continue
        values = (r.scalar(options, slot, "<i"),) if kind == "scalar" else r.ints(options, slot)
        for v in values:
            if not 0 <= v < n_sub:
                raise _Invalid(f"{where} ({table}.{fname}) runs subgraph {v}; the model has {n_sub}")


def verify_tflite(data: bytes, name: str = "model") -> TFLiteSummary:
    """Verify a TFLite flatbuffer; raise ModelLoadError (one line, naming the fault) if it is not safe to load."""
    size = len(data)
    if size < 8:
        raise ModelLoadError(f"{name} is not a TFLite model: {size} bytes is too short to be a flatbuffer")
    if data[4:8] != TFLITE_IDENTIFIER:
        raise ModelLoadError(f"{name} is not a TFLite model: no 'TFL3' identifier at byte 4")
    walker = _Walker(data)
    try:
        root = walker.offset(0, "root table")
        # Models over 2 GB keep weights after the flatbuffer; the flatbuffer itself is still < 2 GB.
        if root > _MAX_FLATBUFFER:
            raise _Invalid("root table offset is beyond 2 GB")
        walker.table(root, "Model", 0)
        return _semantic(data, root)
    except _Invalid as exc:
        raise ModelLoadError(f"{name} is not a valid TFLite model (corrupt or truncated): {exc}") from None
    except (struct.error, IndexError, RecursionError, OverflowError) as exc:
        raise ModelLoadError(f"{name} is not a valid TFLite model (corrupt or truncated): {exc}") from None
