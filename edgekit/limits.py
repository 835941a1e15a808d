"""How far an input file may expand before edgekit refuses it: the bounds on untrusted files, raisable by the user.

A 4 MB zip can declare gigabytes; an ``.npy`` header can declare a shape its file does not hold. Every reader of
untrusted files (data archives, ``.keras`` zips) checks the declared sizes against these limits *before* reading a
byte of the contents, so a hostile file costs a directory listing, not the machine's memory.

The CLI sets them from ``edgekit --max-expand SIZE --max-ratio N --max-image-pixels N``; the Python API uses :func:`using`::

    with edgekit.limits.using(Limits(max_expand=8 * 2**30)):
        convert("model.keras", ...)
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Iterator

from edgekit.errors import EdgekitError

@dataclass(frozen=True)
class Limits:
    """``max_expand``: bytes one input file may expand to (all members of a zip together, or one array).
    ``max_ratio``: the compression ratio a zip member that expands past ``ratio_floor`` bytes may have (real data
    and weights compress 1-20×; deflate bombs reach ~1000×, bzip2/lzma bombs far more). ``max_image_pixels``:
    pixels one image may decode to (a 50 MP RGB image decodes to 150 MB; PNG bombs declare billions)."""

    max_expand: int = 2 * 1000**3
    max_ratio: float = 100.0
    max_image_pixels: int = 50_000_000
    ratio_floor: int = 16 * 1000**2

    def __post_init__(self):
        if isinstance(self.max_expand, bool) or not isinstance(self.max_expand, int) or self.max_expand < 1:
            raise EdgekitError(f"max_expand must be a positive number of bytes; got {self.max_expand!r}")
        if not isinstance(self.max_ratio, (int, float)) or not self.max_ratio >= 1:
            raise EdgekitError(f"max_ratio must be a number of at least 1; got {self.max_ratio!r}")
        if isinstance(self.max_image_pixels, bool) or not isinstance(self.max_image_pixels, int) or self.max_image_pixels < 1:
            raise EdgekitError(f"max_image_pixels must be a positive integer; got {self.max_image_pixels!r}")


_CURRENT: contextvars.ContextVar[Limits] = contextvars.ContextVar("edgekit_limits", default=Limits())


def current() -> Limits:
    return _CURRENT.get()


@contextlib.contextmanager
def using(limits: Limits) -> Iterator[Limits]:
    """Apply ``limits`` to every file read inside the block (this thread/context only)."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)
