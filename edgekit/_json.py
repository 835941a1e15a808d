"""JSON for results: numpy values, paths and dataclasses written as plain JSON types."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def json_default(value: Any) -> Any:
    """``default=`` for :func:`json.dumps`."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
