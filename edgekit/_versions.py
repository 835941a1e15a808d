"""The versions of installed packages, for results that say what produced them."""

from __future__ import annotations

from importlib import metadata
from typing import Iterable


def package_versions(dists: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}`` for those of ``dists`` that are installed (the others are left out)."""
    out = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out
