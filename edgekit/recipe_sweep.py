"""Sweeps: a grid of recipes written once. A recipe file may hold, beside (or instead of) ``variants:``, a
``sweep:`` list; each entry is a base recipe and a ``grid`` of dotted setting names to lists of values::

    sweep:
      - name: pruned-int8
        recipe: {quantize: {mode: int8}, train: {epochs: 2}}
        grid:
          prune.sparsity: [0.5, 0.7, 0.9]
          cluster.clusters: [8, 16]

expands to 6 recipes named systematically from the base name and each grid value, in grid order:
``pruned-int8_sparsity0.5_clusters8``, ``pruned-int8_sparsity0.5_clusters16``, ... Each expanded recipe is validated
like any other. A grid may expand to at most :data:`MAX_SWEEP_VARIANTS` recipes in all (a file is untrusted input).
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any, Mapping

from edgekit.errors import RecipeError

MAX_SWEEP_VARIANTS = 256
_SECTIONS = ("prune", "cluster", "quantize", "train")


def expand_sweeps(entries: Any, source: str, max_variants: int = MAX_SWEEP_VARIANTS) -> list[dict]:
    """Recipe mappings for every point of every sweep in ``entries`` (the value of ``sweep:``)."""
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise RecipeError(f"{source}: sweep must be a non-empty list of {{name, recipe, grid}} entries")
    out: list[dict] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise RecipeError(f"{source}: each sweep entry must be a mapping with name, recipe and grid; got {entry!r}")
        unknown = sorted(set(entry) - {"name", "recipe", "grid"})
        if unknown:
            raise RecipeError(f"{source}: unknown sweep key(s) {', '.join(map(str, unknown))}; allowed: grid, name, recipe")
        name, base, grid = entry.get("name"), entry.get("recipe") or {}, entry.get("grid")
        if not isinstance(name, str) or not name:
            raise RecipeError(f"{source}: a sweep needs a name (the prefix of the names it expands to)")
        if not isinstance(base, Mapping):
            raise RecipeError(f"{source}: sweep {name!r}: recipe must be a mapping of recipe settings")
        if not isinstance(grid, Mapping) or not grid:
            raise RecipeError(f"{source}: sweep {name!r}: grid must map setting names (e.g. prune.sparsity) to lists of values")
        keys = list(grid)
        values = []
        for key in keys:
            _check_key(source, name, key)
            v = grid[key]
            if not isinstance(v, list) or not v:
                raise RecipeError(f"{source}: sweep {name!r}: grid {key} must be a non-empty list of values; got {v!r}")
            values.append(v)
        count = 1
        for v in values:
            count *= len(v)
        if len(out) + count > max_variants:
            raise RecipeError(
                f"{source}: the sweeps expand to more than {max_variants} variants ({len(out) + count} so far); "
                "split the sweep or raise the limit (--max-variants)"
            )
        for point in itertools.product(*values):
            recipe = copy.deepcopy(dict(base))
            parts = [name]
            for key, value in zip(keys, point):
                section, _, leaf = key.rpartition(".")
                target = recipe
                if section:
                    target = recipe.setdefault(section, {})
                    if not isinstance(target, dict):
                        raise RecipeError(f"{source}: sweep {name!r}: recipe.{section} must be a mapping to sweep {key}")
                target[leaf] = value
                parts.append(f"{leaf}{_token(value)}")
            recipe["name"] = "_".join(parts)
            out.append(recipe)
    return out


def _check_key(source: str, name: str, key: Any) -> None:
    if not isinstance(key, str) or not re.fullmatch(r"([a-z_]+\.)?[a-z_]+", key):
        raise RecipeError(f"{source}: sweep {name!r}: grid keys are setting names like prune.sparsity; got {key!r}")
    section = key.partition(".")[0] if "." in key else None
    if section is not None and section not in _SECTIONS:
        raise RecipeError(f"{source}: sweep {name!r}: {key} is not a recipe setting; sections: {', '.join(_SECTIONS)}")
    if section is None and key != "formats":
        raise RecipeError(f"{source}: sweep {name!r}: {key} is not a recipe setting; use SECTION.SETTING or formats")


def _token(value: Any) -> str:
    """A value as it appears in an expanded name: letters, digits, '-' and '.' only."""
    text = "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"[^A-Za-z0-9.\-]+", "-", text).strip("-") or "x"
