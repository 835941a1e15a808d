"""What shipping an artifact costs in bytes: compressed with gzip and zstd, and as a binary delta from the artifact a
fleet already runs (an over-the-air update sends only the delta).

Deltas: ``bsdiff4`` (the classic binary diff, as used by OS updaters) and zstd with the old file as a raw-content
dictionary (``--patch-from`` style). Both are measured; the smaller is what an updater would send. zstandard and
bsdiff4 are in the ``full`` extra; without them the figures they give are None and the note says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgekit._fs import gzip_size
from edgekit.errors import DataError

ZSTD_LEVEL = 19
MAX_BASELINE_BYTES = 1 << 31  # a delta needs both files in memory: refuse a baseline larger than 2 GiB


@dataclass(frozen=True)
class DownloadBytes:
    file: int
    gzip: int
    zstd: int | None
    baseline: str | None = None  # the file the deltas are taken from
    bsdiff_delta: int | None = None
    zstd_delta: int | None = None
    note: str | None = None

    @property
    def delta(self) -> int | None:
        """The smaller delta: the bytes an over-the-air update from the baseline sends."""
        deltas = [d for d in (self.bsdiff_delta, self.zstd_delta) if d is not None]
        return min(deltas) if deltas else None

    @property
    def to_ship(self) -> int:
        """Bytes to ship: the delta when there is a baseline, else the best whole-file compression."""
        if self.delta is not None:
            return self.delta
        return min(b for b in (self.gzip, self.zstd) if b is not None)


def download_bytes(path: str | os.PathLike, baseline: str | os.PathLike | None = None) -> DownloadBytes:
    """Sizes of ``path`` compressed and, with ``baseline`` (the artifact the devices run now), as a delta from it."""
    data = Path(path).read_bytes()
    notes = []
    zstd = _zstd()
    if zstd is None:
        notes.append("zstandard is not installed (pip install 'edgekit[full]'): no zstd figures")
    old = _read_baseline(baseline) if baseline is not None else None
    bsdiff = zstd_delta = None
    if old is not None:
        try:
            import bsdiff4

            bsdiff = len(bsdiff4.diff(old, data))
        except ImportError:
            notes.append("bsdiff4 is not installed (pip install 'edgekit[full]'): no bsdiff delta")
        if zstd is not None:
            dictionary = zstd.ZstdCompressionDict(old, dict_type=zstd.DICT_TYPE_RAWCONTENT)
            zstd_delta = len(zstd.ZstdCompressor(level=ZSTD_LEVEL, dict_data=dictionary).compress(data))
    return DownloadBytes(
        file=len(data),
        gzip=gzip_size(path),
        zstd=len(zstd.ZstdCompressor(level=ZSTD_LEVEL).compress(data)) if zstd is not None else None,
        baseline=str(baseline) if baseline is not None else None,
        bsdiff_delta=bsdiff,
        zstd_delta=zstd_delta,
        note="; ".join(notes) or None,
    )


def _read_baseline(baseline: str | os.PathLike) -> bytes:
    p = Path(baseline)
    if not p.is_file():
        raise DataError(f"baseline {p} is not a file: give the artifact your devices run now (--baseline OLD.tflite)")
    size = p.stat().st_size
    if size > MAX_BASELINE_BYTES:
        raise DataError(f"baseline {p} is {size:,} bytes; deltas are computed in memory up to {MAX_BASELINE_BYTES:,} bytes")
    return p.read_bytes()


def _zstd():
    try:
        import zstandard

        return zstandard
    except ImportError:
        return None
