"""What a SavedModel would run, read from ``saved_model.pb`` without TensorFlow and without executing anything.

Every op of the graph and of its function library is listed and checked against ``untrusted.yaml``
(``savedmodel_ops``): file, Python, network and logging ops are refused; checkpoint ops only inside the saver
functions that ``saver_def`` names (every SavedModel has them to restore its variables). The Keras metadata a
SavedModel carries (``keras_metadata.pb``, or the user objects inside ``saved_model.pb``) is returned as layer
configs, so the Lambda/custom-layer check that ``.h5`` and ``.keras`` files get applies to SavedModels too. The
bytes its constants and variables declare (a splat constant stores one value and a shape) are held to
:mod:`edgekit.limits` before TensorFlow materializes them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from edgekit import limits
from edgekit._protobuf import Invalid, fields, text
from edgekit._table import human_bytes
from edgekit.errors import ModelLoadError

_MAX_PB = 2**31  # protobuf's own limit for one message
# tensorflow DataType -> bytes per element (others, e.g. strings and resources, count 1)
_DTYPE_BYTES = {1: 4, 2: 8, 3: 4, 4: 1, 5: 2, 6: 1, 8: 8, 9: 8, 10: 1, 14: 2, 17: 2, 18: 16, 19: 2, 22: 4, 23: 8}


@dataclass(frozen=True)
class Denied:
    op: str
    where: str  # "the graph" or "function NAME"
    reason: str


@dataclass(frozen=True)
class SavedModelGraph:
    ops: frozenset[str]
    denied: tuple[Denied, ...]
    keras_objects: tuple[dict, ...] = field(default=())  # Keras layer metadata (class_name, config, ...)


@functools.lru_cache(maxsize=1)
def deny_table() -> dict[str, tuple[str, bool]]:
    """op -> (reason, allowed inside the saver's functions)."""
    data = yaml.safe_load((Path(__file__).with_name("untrusted.yaml")).read_text())
    table = {}
    for group in data["savedmodel_ops"].values():
        for op in group["ops"]:
            table[op] = (group["reason"].strip(), bool(group.get("saver_only", False)))
    return table


class _Graph:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.top: list[tuple[str, str, set[str]]] = []  # (node name, op, functions it calls)
        self.functions: dict[str, list[tuple[str, set[str]]]] = {}  # name -> [(op, functions called)]
        self.saver_nodes: set[str] = set()
        self.metadata: list[tuple[str, str]] = []  # (identifier, JSON) of Keras user objects
        self.declared: list[tuple[int, str]] = []  # (bytes, what): constants and variables, as their shapes say

    def saved_model(self) -> None:
        for n, w, v in fields(self.buf, 0, len(self.buf)):
            if n == 2 and w == 2:
                self.meta_graph(v)

    def meta_graph(self, span) -> None:
        for n, w, v in fields(self.buf, *span):
            if w != 2:
                continue
            if n == 2:
                self.graph_def(v)
            elif n == 3:  # SaverDef: save_tensor_name (2), restore_op_name (3)
                for sn, sw, sv in fields(self.buf, *v):
                    if sn in (2, 3) and sw == 2:
                        self.saver_nodes.add(text(self.buf, sv, "a saver tensor name").split(":")[0])
            elif n == 7:  # SavedObjectGraph.nodes (1) -> SavedObject: user_object (4) -> metadata (3); variable (7)
                for on, ow, ov in fields(self.buf, *v):
                    if on == 1 and ow == 2:
                        for un, uw, uv in fields(self.buf, *ov):
                            if un == 4 and uw == 2:  # SavedUserObject: identifier (1), metadata (3)
                                strings = {mn: text(self.buf, mv, "Keras metadata") for mn, mw, mv
                                           in fields(self.buf, *uv) if mn in (1, 3) and mw == 2}
                                if 3 in strings:
                                    self.metadata.append((strings.get(1, ""), strings[3]))
                            elif un == 7 and uw == 2:  # SavedVariable: dtype (1), shape (2), name (6)
                                self.declared.append(self.sized(uv, 1, 2, 6, "variable"))

    def graph_def(self, span) -> None:
        for n, w, v in fields(self.buf, *span):
            if n == 1 and w == 2:
                self.top.append(self.node(v))
            elif n == 2 and w == 2:  # FunctionDefLibrary.function (1)
                for fn, fw, fv in fields(self.buf, *v):
                    if fn == 1 and fw == 2:
                        self.function(fv)

    def function(self, span) -> None:
        name, body = "", []
        for n, w, v in fields(self.buf, *span):
            if n == 1 and w == 2:  # OpDef signature: name (1)
                for sn, sw, sv in fields(self.buf, *v):
                    if sn == 1 and sw == 2:
                        name = text(self.buf, sv, "a function name")
            elif n == 3 and w == 2:
                _, op, calls = self.node(v)
                body.append((op, calls))
        self.functions[name] = body

    def node(self, span) -> tuple[str, str, set[str]]:
        name = op = ""
        calls: set[str] = set()
        for n, w, v in fields(self.buf, *span):
            if n == 1 and w == 2:
                name = text(self.buf, v, "a node name")
            elif n == 2 and w == 2:
                op = text(self.buf, v, "an op name")
            elif n == 5 and w == 2:  # attr entry: key (1), value (2) an AttrValue
                for an, aw, av in fields(self.buf, *v):
                    if an == 2 and aw == 2:
                        calls |= self.called(av)
                        for tn, tw, tv in fields(self.buf, *av):
                            if tn == 8 and tw == 2:  # AttrValue.tensor: a constant, TensorProto dtype (1), shape (2)
                                self.declared.append(self.sized(tv, 1, 2, None, "constant"))
        if self.declared and self.declared[-1][1] == "constant":
            self.declared[-1] = (self.declared[-1][0], f"constant {name!r}")
        return name, op, calls

    def sized(self, span, dtype_field: int, shape_field: int, name_field: int | None, what: str) -> tuple[int, str]:
        """Bytes a tensor's declared dtype and shape take (a splat constant stores one value for all of them)."""
        dtype, dims, label = 0, [], what
        for n, w, v in fields(self.buf, *span):
            if n == dtype_field and w == 0:
                dtype = v
            elif n == shape_field and w == 2:  # TensorShapeProto.dim (2) -> size (1)
                for dn, dw, dv in fields(self.buf, *v):
                    if dn == 2 and dw == 2:
                        dims += [dsv for dsn, dsw, dsv in fields(self.buf, *dv) if dsn == 1 and dsw == 0]
            elif name_field is not None and n == name_field and w == 2:
                label = f"{what} {text(self.buf, v, 'a variable name')!r}"
        count = 1
        for d in dims:
            count *= d if d < 1 << 63 else 0  # -1 (unknown) encodes as a huge varint: no size
        return count * _DTYPE_BYTES.get(dtype, 1), label

    def called(self, span) -> set[str]:
        """Function names an AttrValue refers to: func (10), or list (1) -> func (9)."""
        out: set[str] = set()
        for n, w, v in fields(self.buf, *span):
            if w != 2:
                continue
            if n == 10:
                out |= self.name_attr(v)
            elif n == 1:
                for ln, lw, lv in fields(self.buf, *v):
                    if ln == 9 and lw == 2:
                        out |= self.name_attr(lv)
        return out

    def name_attr(self, span) -> set[str]:
        for n, w, v in fields(self.buf, *span):
            if n == 1 and w == 2:
                return {text(self.buf, v, "a function name")}
        return set()

    def reachable(self, roots: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name in seen or name not in self.functions:
                continue
            seen.add(name)
            for op, calls in self.functions[name]:
                todo.extend(calls | ({op} if op in self.functions else set()))
        return seen


_NOT_LAYERS = ("_tf_keras_metric",)  # compile-time objects: what loading builds from them is not the model


def _keras_metadata(path: Path, buf_metadata: list[tuple[str, str]]) -> list[dict]:
    """The Keras layer objects (class_name, config, ...) of a SavedModel, from keras_metadata.pb or from the user
    objects inside saved_model.pb (Keras 2.4 and older); metrics and training settings left out."""
    items = list(buf_metadata)
    meta = path / "keras_metadata.pb"
    if meta.is_file():
        raw = meta.read_bytes()
        for n, w, v in fields(raw, 0, len(raw)):  # SavedMetadata.nodes: the identifier and the JSON metadata
            if n == 1 and w == 2:
                strings = [text(raw, sv, "Keras metadata") for sn, sw, sv in fields(raw, *v) if sw == 2]
                identifier = next((t for t in strings if t.startswith("_tf_keras")), "")
                items += [(identifier, t) for t in strings if t.startswith("{")]
    objects = []
    for identifier, item in items:
        if identifier in _NOT_LAYERS:
            continue
        try:
            value = json.loads(item)
        except ValueError:
            continue
        if isinstance(value, dict):
            value.pop("training_config", None)  # optimizer, loss and metrics: looked up, not part of the model
            objects.append(value)
    return objects


def inspect_savedmodel_graph(path: str | Path) -> SavedModelGraph:
    """The ops, the refused ops and the Keras metadata of the SavedModel folder ``path`` (one ModelLoadError line
    for a file that is not a well-formed SavedModel)."""
    p = Path(path)
    pb = p / "saved_model.pb"
    if not pb.is_file():
        raise ModelLoadError(f"{p} is a directory but not a SavedModel (no saved_model.pb inside)")
    if pb.stat().st_size >= _MAX_PB:
        raise ModelLoadError(f"{pb} is larger than a protobuf message can be (2 GB): corrupt or crafted")
    graph = _Graph(pb.read_bytes())
    try:
        graph.saved_model()
        keras_objects = _keras_metadata(p, graph.metadata)
    except Invalid as exc:
        raise ModelLoadError(f"{pb} is not a valid SavedModel (corrupt, truncated or crafted): {exc}") from None
    limit = limits.current().max_expand
    total = sum(size for size, _ in graph.declared)
    if total > limit:
        size, what = max(graph.declared)
        raise ModelLoadError(
            f"{pb} declares {human_bytes(total)} of constants and variables (the largest: {what}, {human_bytes(size)}), "
            f"past the {human_bytes(limit)} limit, allocated when it loads; raise it with edgekit --max-expand SIZE "
            "if you trust the model")
    saver_roots = set().union(*[calls for name, _, calls in graph.top if name in graph.saver_nodes] or [set()])
    saver = graph.reachable(saver_roots)
    table = deny_table()
    denied: list[Denied] = []
    ops: set[str] = set()
    bodies = [("the graph", [(op, calls) for _, op, calls in graph.top])]
    bodies += [(f"function {name}", body) for name, body in graph.functions.items()]
    for where, body in bodies:
        in_saver = where.startswith("function ") and where[len("function "):] in saver
        for op, _ in body:
            ops.add(op)
            rule = table.get(op)
            if rule and not (rule[1] and in_saver):
                denied.append(Denied(op, where, rule[0]))
    return SavedModelGraph(frozenset(ops), tuple(denied), tuple(keras_objects))
