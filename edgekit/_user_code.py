"""The user's own code, named on the command line as ``module:NAME`` (``--custom-objects``, ``--data module:function``).

Importing it runs it, so callers allow it only under ``--trust-code``. The module is looked up on ``sys.path`` with the
working directory first on it, as ``python -m`` would.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any


def user_object(spec: str, option: str, error: type[Exception]) -> Any:
    """The object ``spec`` (``module:NAME``) names; a malformed spec, an import failure or a missing name raises
    ``error`` with one line that names ``option``."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name or not all(p.isidentifier() for p in module_name.split(".")) or not name.isidentifier():
        raise error(f"{option} {spec!r}: expected module:NAME, e.g. mymodels:Tagger")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise error(f"{option} {spec!r}: cannot import {module_name!r}: {exc}") from None
    if not hasattr(module, name):
        raise error(f"{option} {spec!r}: module {module_name!r} has no {name!r}")
    return getattr(module, name)
