"""Refusing decompression and expansion bombs before reading them: zip members and ``.npy`` headers.

A zip's central directory declares every member's size, and Python's zipfile never returns more than the declared
size, so checking the declared sizes (their total, and each big member's compression ratio) bounds what reading
the archive can cost. An ``.npy`` header declares a shape: its byte count must match what the file (or zip member)
actually holds, or numpy allocates the declared size up front. The bounds are :mod:`edgekit.limits`.
"""

from __future__ import annotations

import zipfile
from typing import IO

import numpy as np

from edgekit import limits as _limits
from edgekit._table import human_bytes

_RAISE = "raise the limit with edgekit --max-expand SIZE (Python: edgekit.limits.using) if you trust the file"


def check_zip(archive: zipfile.ZipFile, label: str, error: type[Exception]) -> list[zipfile.ZipInfo]:
    """The members of ``archive`` if their declared sizes stay within the limits; else ``error`` (one line)."""
    limit = _limits.current()
    members = archive.infolist()
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size > limit.ratio_floor:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limit.max_ratio:
                raise error(
                    f"{label}: member {info.filename!r} expands {ratio:.0f}-fold ({human_bytes(info.compress_size)} "
                    f"to {human_bytes(info.file_size)}), past the {limit.max_ratio:g}-fold limit (a decompression "
                    f"bomb?); raise it with edgekit --max-ratio N if you trust the file"
                )
    if total > limit.max_expand:
        raise error(
            f"{label}: its {len(members)} member(s) expand to {human_bytes(total)}, past the "
            f"{human_bytes(limit.max_expand)} limit (a decompression bomb?); {_RAISE}"
        )
    return members


def check_npy_header(fh: IO[bytes], available: int, label: str, error: type[Exception]) -> tuple[tuple, np.dtype]:
    """Read the ``.npy`` header at the start of ``fh``; refuse a shape whose data ``available`` bytes (the file or
    member size) cannot hold, or that is past the limit. Returns (shape, dtype); ``fh`` is left after the header."""
    try:
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read_header(fh)
    except (ValueError, TypeError, KeyError, OSError, EOFError, SyntaxError) as exc:
        raise error(f"{label} is not a readable numpy array: {str(exc).splitlines()[0][:200]}") from None
    if dtype.hasobject:
        raise error(f"{label} holds Python objects (pickles), which edgekit never loads; save plain numeric arrays")
    count = 1
    for dim in shape:
        count *= int(dim)
    needed = count * dtype.itemsize
    held = available - fh.tell()
    if needed > held:
        raise error(
            f"{label} declares shape {tuple(shape)} of {dtype} ({human_bytes(needed)}) but holds "
            f"{human_bytes(max(held, 0))} of data (truncated or crafted file)"
        )
    limit = _limits.current().max_expand
    if needed > limit:
        raise error(f"{label} holds a {human_bytes(needed)} array, past the {human_bytes(limit)} limit; {_RAISE}")
    return tuple(shape), dtype


def check_h5(h5file, label: str, error: type[Exception]) -> None:
    """Refuse an open HDF5 file (h5py) whose datasets declare more than the limits: a 1 KB file can declare a
    gigabyte dataset of unwritten (fill-value) or gzip-compressed chunks, and reading the weights allocates it."""
    limit = _limits.current()
    total = 0
    worst: tuple[float, str, int, int] | None = None

    def visit(name, obj):
        nonlocal total, worst
        if not hasattr(obj, "id") or not hasattr(obj, "nbytes") or not hasattr(obj.id, "get_storage_size"):
            return  # a group
        nbytes = int(obj.nbytes)
        total += nbytes
        if nbytes > limit.ratio_floor:
            stored = int(obj.id.get_storage_size())
            ratio = nbytes / max(stored, 1)
            if ratio > limit.max_ratio and (worst is None or ratio > worst[0]):
                worst = (ratio, name, stored, nbytes)

    h5file.visititems(visit)
    if worst is not None:
        ratio, name, stored, nbytes = worst
        raise error(f"{label}: dataset {name!r} expands {ratio:.0f}-fold ({human_bytes(stored)} stored, "
                    f"{human_bytes(nbytes)} declared), past the {limit.max_ratio:g}-fold limit (an expansion bomb?); "
                    "raise it with edgekit --max-ratio N if you trust the file")
    if total > limit.max_expand:
        raise error(f"{label}: its datasets declare {human_bytes(total)}, past the {human_bytes(limit.max_expand)} "
                    f"limit; {_RAISE}")
