"""Verbosity: edgekit is quiet by default; ``-v`` (logger ``edgekit`` at DEBUG) lets framework chatter through.

Native libraries (TensorFlow, the TFLite converter, XNNPACK) write straight to file descriptor 2, which Python's
logging cannot filter, so :func:`quiet_native` redirects that descriptor while they run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Iterator

logger = logging.getLogger("edgekit")


def verbose() -> bool:
    return logger.isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Silence writes to fd 2 (and fd 1 native writes are left alone) unless verbose; the captured text is
    logged at DEBUG so ``-v`` shows it."""
    if verbose():
        yield
        return
    fd = 2  # native code writes to descriptor 2 whatever sys.stderr is (a test runner may have replaced it)
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                logger.debug("native output:\n%s", text)
