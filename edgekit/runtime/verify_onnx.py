"""Check an ``.onnx`` file before ONNX Runtime sees it: its protobuf structure, its operator domains, and every
external-data reference.

An ONNX tensor may keep its bytes in another file (``data_location: EXTERNAL``, ``location: weights.bin``). Loaded
from bytes, ONNX Runtime resolves those names against the *current directory*, so a crafted model could return the
bytes of any file below it as its output. Here every reference must name a regular file inside the model's own
folder (no absolute path, no ``..``, no symbolic link that leaves the folder) with the bytes the tensor declares, and
the engine is told to resolve them from that folder only.

The walk reads the protobuf wire format directly (no ``onnx`` package needed on a device), bounded like the
flatbuffer verifier: every length inside the file, nesting at most ``_MAX_DEPTH`` graphs deep.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from edgekit._protobuf import Invalid as _Invalid
from edgekit._protobuf import fields as _fields
from edgekit._protobuf import text as _text
from edgekit._protobuf import varint as _varint
from edgekit.errors import ModelLoadError

# Operator domains ONNX Runtime implements itself. A node in any other domain is a custom op: it needs a custom-op
# library edgekit never registers (that would be native code from outside the model), so it is refused up front with
# a message instead of failing inside the runtime. Model-local functions may define further domains.
ALLOWED_DOMAINS = (
    "",  # ai.onnx, the default domain
    "ai.onnx",
    "ai.onnx.ml",  # traditional ML operators (onnxmltools, skl2onnx)
    "com.microsoft",  # ONNX Runtime contrib ops: quantization (QLinear*, DynamicQuantize*), fused ops
    "com.microsoft.nchwc",  # ONNX Runtime's own layout optimizations
    "ai.onnx.preview.training",
)
_MAX_DEPTH = 64
# TensorProto.DataType -> bytes per element (STRING and the 4-bit / complex types are not size-checked).
_ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2, 17: 1, 18: 1,
                  19: 1, 20: 1}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass(frozen=True)
class OnnxSummary:
    """What verification learned about an ``.onnx`` file."""

    folder: Path  # where its external data lives (the model's own folder)
    opsets: dict = field(default_factory=dict)  # domain -> version
    external_files: tuple[str, ...] = ()  # external data files it reads, relative to ``folder``
    custom_domains: tuple[str, ...] = ()  # domains defined by model-local functions


class _Walk:
    def __init__(self, buf: bytes, folder: Path, name: str):
        self.buf, self.folder, self.name = buf, folder, name
        self.root = os.path.realpath(folder)
        self.opsets: dict[str, int] = {}
        self.used_domains: set[str] = set()
        self.function_domains: set[str] = set()
        self.external: list[str] = []

    def model(self) -> None:
        buf = self.buf
        graph = None
        for number, wire, value in _fields(buf, 0, len(buf)):
            if number == 7 and wire == 2:
                graph = value
            elif number == 8 and wire == 2:  # opset_import
                domain, version = "", 0
                for n, w, v in _fields(buf, *value):
                    if n == 1 and w == 2:
                        domain = _text(buf, v, "an opset domain")
                    elif n == 2 and w == 0:
                        version = v
                self.opsets[domain] = version
            elif number == 25 and wire == 2:  # functions
                self.function(value, 1)
        if graph is None:
            raise _Invalid("the model has no graph")
        self.graph(graph, 1)

    def function(self, span, depth: int) -> None:
        for n, w, v in _fields(self.buf, *span):
            if n == 7 and w == 2:
                self.node(v, depth)
            elif n == 10 and w == 2:
                self.function_domains.add(_text(self.buf, v, "a function domain"))

    def graph(self, span, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Invalid(f"graphs nest deeper than {_MAX_DEPTH} levels")
        for n, w, v in _fields(self.buf, *span):
            if w != 2:
                continue
            if n == 1:
                self.node(v, depth)
            elif n == 5:
                self.tensor(v)
            elif n == 15:
                self.sparse(v)

    def node(self, span, depth: int) -> None:
        for n, w, v in _fields(self.buf, *span):
            if n == 7 and w == 2:
                self.used_domains.add(_text(self.buf, v, "an operator domain"))
            elif n == 5 and w == 2:  # attribute
                for an, aw, av in _fields(self.buf, *v):
                    if aw != 2:
                        continue
                    if an in (5, 10):  # t, tensors
                        self.tensor(av)
                    elif an in (6, 11):  # g, graphs
                        self.graph(av, depth + 1)
                    elif an in (22, 23):  # sparse_tensor(s)
                        self.sparse(av)

    def sparse(self, span) -> None:
        for n, w, v in _fields(self.buf, *span):
            if n in (1, 2) and w == 2:
                self.tensor(v)

    def tensor(self, span) -> None:
        buf = self.buf
        dims: list[int] = []
        dtype = location = 0
        raw = None
        entries: dict[str, str] = {}
        name = "?"
        for n, w, v in _fields(buf, *span):
            if n == 1 and w == 0:
                dims.append(v - (1 << 64) if v >= 1 << 63 else v)
            elif n == 1 and w == 2:  # packed dims
                pos, end = v
                while pos < end:
                    d, pos = _varint(buf, pos, end)
                    dims.append(d - (1 << 64) if d >= 1 << 63 else d)
            elif n == 2 and w == 0:
                dtype = v
            elif n == 8 and w == 2:
                name = _text(buf, v, "a tensor name")
            elif n == 9 and w == 2:
                raw = v[1] - v[0]
            elif n == 13 and w == 2:  # external_data: StringStringEntryProto
                key = value = ""
                for en, ew, ev in _fields(buf, *v):
                    if en == 1 and ew == 2:
                        key = _text(buf, ev, "an external-data key")
                    elif en == 2 and ew == 2:
                        value = _text(buf, ev, "an external-data value")
                entries[key] = value
            elif n == 14 and w == 0:
                location = v
        if any(d < 0 for d in dims):
            raise _Invalid(f"tensor {name!r} has a negative dimension {dims}")
        count = 1
        for d in dims:
            count *= d
        need = count * _ELEMENT_BYTES[dtype] if dtype in _ELEMENT_BYTES else None
        if location == _EXTERNAL:
            self.external_tensor(name, entries, need)
        elif raw is not None and need is not None and raw != need:
            raise _Invalid(f"tensor {name!r} of shape {dims} needs {need} bytes; its raw data holds {raw}")

    def external_tensor(self, name: str, entries: dict[str, str], need: int | None) -> None:
        location = entries.get("location", "")
        where = f"tensor {name!r} keeps its data in {location!r}"
        if not location:
            raise _Invalid(f"tensor {name!r} is stored externally but names no location")
        if ("\0" in location or PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute()
                or PureWindowsPath(location).drive or ".." in PurePosixPath(location.replace("\\", "/")).parts):
            raise _Invalid(f"{where}, outside the model's folder; external data must sit beside the model")
        target = os.path.realpath(os.path.join(self.folder, location))
        if os.path.commonpath([target, self.root]) != self.root:
            raise _Invalid(f"{where}, a link that leads outside the model's folder")
        try:
            info = os.stat(target)
        except OSError:
            raise _Invalid(f"{where}, which does not exist beside the model") from None
        if not stat.S_ISREG(info.st_mode):
            raise _Invalid(f"{where}, which is not a regular file")
        try:
            offset = int(entries.get("offset", "0") or 0)
            length = int(entries["length"]) if entries.get("length") else info.st_size - offset
        except ValueError:
            raise _Invalid(f"{where} with a non-numeric offset or length") from None
        if offset < 0 or length < 0 or offset + length > info.st_size:
            raise _Invalid(f"{where} at bytes {offset}..{offset + length}; that file has {info.st_size}")
        if need is not None and length != need:
            raise _Invalid(f"{where}: {length} bytes for a tensor that needs {need}")
        self.external.append(location)


def verify_onnx(data: bytes, path: str | os.PathLike) -> OnnxSummary:
    """Verify an ONNX model file's bytes; raise ModelLoadError (one line, naming the fault) if it is not safe to load."""
    p = Path(path)
    walk = _Walk(data, p.parent if str(p.parent) else Path("."), p.name)
    try:
        walk.model()
    except _Invalid as exc:
        raise ModelLoadError(f"{p.name} is not a valid ONNX model (corrupt, truncated or crafted): {exc}") from None
    except RecursionError:
        raise ModelLoadError(f"{p.name} is not a valid ONNX model: its messages nest too deeply") from None
    unknown = sorted(walk.used_domains - set(ALLOWED_DOMAINS) - walk.function_domains)
    if unknown:
        raise ModelLoadError(f"{p.name} uses operators from domain(s) {', '.join(map(repr, unknown))}, which ONNX "
                             f"Runtime does not implement (custom ops need a native library edgekit does not load); "
                             f"supported: {', '.join(repr(d) for d in ALLOWED_DOMAINS)}")
    return OnnxSummary(folder=p.parent.resolve(), opsets=dict(walk.opsets),
                       external_files=tuple(sorted(set(walk.external))),
                       custom_domains=tuple(sorted(walk.function_domains)))
