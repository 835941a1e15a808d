"""JSON in one place: frozen dataclasses to plain JSON types and back, read from their type hints, and the JSON
Schema of a dataclass generated from the same hints.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``Any``, ``X | None``, ``tuple[X, ...]``,
``dict[str, X]`` and nested dataclasses. Fields declared with ``field(init=False)`` are derived: written, and
recomputed (not read) on the way back. Unknown keys are an error on the way back, as for recipes.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError


def json_default(value: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy values, paths and dataclasses as plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(value: Any) -> Any:
    """``value`` (a dataclass, or anything holding them) as plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _parts(hint: Any) -> tuple[Any, tuple]:
    origin = typing.get_origin(hint)
    if origin is types.UnionType:
        origin = typing.Union
    return origin, typing.get_args(hint)


def from_json(cls: Any, data: Any, where: str = "") -> Any:
    """A ``cls`` (a dataclass or a type hint) from plain JSON types; a value that does not fit is an EdgekitError
    naming where it is."""
    where = where or getattr(cls, "__name__", str(cls))
    origin, args = _parts(cls)
    if cls is Any:
        return data
    if origin is typing.Union:
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return from_json(option, data, where)
            except EdgekitError as exc:
                errors.append(str(exc))
        raise EdgekitError(errors[0] if len(errors) == 1 else f"{where}: {data!r} fits none of its types")
    if origin in (tuple, list):
        if not isinstance(data, list):
            raise EdgekitError(f"{where}: expected a list, got {type(data).__name__}")
        item = args[0] if args else Any
        return tuple(from_json(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin in (dict, typing.Mapping) or cls is dict:
        if not isinstance(data, dict):
            raise EdgekitError(f"{where}: expected a mapping, got {type(data).__name__}")
        item = args[1] if len(args) == 2 else Any
        return {k: from_json(item, v, f"{where}.{k}") for k, v in data.items()}
    if dataclasses.is_dataclass(cls):
        if not isinstance(data, dict):
            raise EdgekitError(f"{where}: expected a mapping, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise EdgekitError(f"{where}: unknown key(s) {', '.join(unknown)}")
        hints = _hints(cls)
        kwargs = {name: from_json(hints[name], data[name], f"{where}.{name}") for name, f in fields.items() if f.init and name in data}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise EdgekitError(f"{where}: {exc}") from None
    if cls is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
    elif cls is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif cls in (str, bool):
        if isinstance(data, cls):
            return data
    else:
        raise EdgekitError(f"{where}: cannot read a {cls!r} from JSON")
    raise EdgekitError(f"{where}: expected {cls.__name__}, got {data!r}")


def json_schema(cls: Any) -> dict:
    """The JSON Schema (draft 2020-12) of ``cls``: every dataclass under ``$defs``, referenced by name."""
    defs: dict[str, dict] = {}
    root = _schema(cls, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": dict(sorted(defs.items()))}


def _schema(hint: Any, defs: dict[str, dict]) -> dict:
    origin, args = _parts(hint)
    if hint is Any:
        return {}
    if origin is typing.Union:
        options = [_schema(a, defs) for a in args if a is not type(None)]
        nullable = type(None) in args
        if len(options) == 1 and not nullable:
            return options[0]
        return {"anyOf": options + ([{"type": "null"}] if nullable else [])}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema(args[0], defs) if args else {}}
    if origin in (dict, typing.Mapping) or hint is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs) if len(args) == 2 else {}}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name in defs and defs[name].get("title") not in (None, f"{hint.__module__}.{name}"):
            name = f"{hint.__module__}.{name}"  # two dataclasses of one name (e.g. two OpCheck): qualify the second
        if name not in defs:
            defs[name] = {"title": f"{hint.__module__}.{hint.__name__}"}  # placeholder: recursion-safe
            hints = _hints(hint)
            fields = dataclasses.fields(hint)
            defs[name] = {
                "title": f"{hint.__module__}.{hint.__name__}",
                "type": "object",
                "description": (hint.__doc__ or "").strip().splitlines()[0] if hint.__doc__ else "",
                "properties": {f.name: _schema(hints[f.name], defs) for f in fields},
                "required": [f.name for f in fields],
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema for {hint!r}")
