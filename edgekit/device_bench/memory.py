"""Process memory: resident set size now and at its peak, from ``/proc/self/status`` (Linux) or getrusage.

The peak is reset before a model is loaded (``/proc/self/clear_refs``, Linux ≥ 4.0), so the peak of one
setting is not the peak of an earlier, larger one. Where the reset is impossible the peak is the process
lifetime's and :class:`MemoryWatch` says so.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

__all__ = ["MemoryUsage", "MemoryWatch", "rss_bytes", "peak_rss_bytes"]

_STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    kb = _status_kb("VmRSS")
    return kb * 1024 if kb is not None else None


def peak_rss_bytes() -> int | None:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return None
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclasses.dataclass(frozen=True)
class MemoryUsage:
    baseline_rss_bytes: int | None  # before the model was loaded
    peak_rss_bytes: int | None  # peak during load + warm-up + timed runs
    peak_increase_bytes: int | None  # peak - baseline: what loading and running this model cost
    after_rss_bytes: int | None
    method: str


class MemoryWatch:
    """``start()`` before loading, ``stop()`` after the runs."""

    def __init__(self) -> None:
        self._baseline: int | None = None
        self._reset = False

    def start(self) -> None:
        self._reset = _reset_peak()
        self._baseline = rss_bytes()

    def stop(self) -> MemoryUsage:
        peak = peak_rss_bytes()
        after = rss_bytes()
        if self._reset:
            method = "/proc/self/status VmHWM, reset via /proc/self/clear_refs before loading"
        elif _STATUS.exists():
            method = "/proc/self/status VmHWM (process lifetime peak: the reset was not permitted)"
        else:
            method = f"resource.getrusage ru_maxrss (process lifetime peak) on {sys.platform}"
        increase = peak - self._baseline if peak is not None and self._baseline is not None else None
        return MemoryUsage(
            baseline_rss_bytes=self._baseline,
            peak_rss_bytes=peak,
            peak_increase_bytes=max(increase, 0) if increase is not None else None,
            after_rss_bytes=after,
            method=method + f" (pid {os.getpid()})",
        )
