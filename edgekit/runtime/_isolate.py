"""Run a model's first load in a child process, so a file that crashes the native runtime cannot kill the app.

The flatbuffer verifier (``verify.py``) rules out everything structural: offsets, lengths, indices. What it cannot
rule out is numerically absurd but well-formed content, such as a quantization scale of 1e14, on which TFLite's
kernels abort (``TFLITE_CHECK``) while preparing. So the first time a given model (by content hash) is loaded in
a process, a long-lived child process (started on the first load, ~0.2 s, then a few ms per model) builds an
interpreter for it on the CPU, allocates it and runs each signature once on zeros; if the child dies, ``load``
raises ModelLoadError instead (and the next load starts a new child). Later loads of the same bytes skip it.
The child imports only the TFLite runtime (never edgekit, never TensorFlow unless tf.lite is the only runtime).
"""

from __future__ import annotations

import atexit
import hashlib
import signal
import struct
import subprocess
import sys
import threading

from edgekit._fs import stop_child
from edgekit.errors import ModelLoadError

_CHILD = r"""
import struct, sys
try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from tensorflow.lite import Interpreter
import numpy as np


def trial(data):
    interpreter = Interpreter(model_content=data, num_threads=1)
    signatures = interpreter.get_signature_list() or {None: None}
    for key in signatures:
        runner = interpreter.get_signature_runner(key) if key is not None else None
        if runner is not None:
            details = list(runner.get_input_details().items())
        else:
            details = [(d["name"], d) for d in interpreter.get_input_details()]
        feed = {}
        for name, d in details:
            shape = [1 if s < 0 else int(s) for s in d.get("shape_signature", d["shape"])]
            if int(np.prod(shape, dtype=np.int64)) > 50_000_000:
                return
            feed[name] = np.zeros(shape, d["dtype"])
        if runner is not None:
            runner(**feed)
        else:
            interpreter.allocate_tensors()
            for name, d in details:
                interpreter.set_tensor(d["index"], feed[name])
            interpreter.invoke()


stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while True:
    header = stdin.read(8)
    if len(header) < 8:
        break
    data = stdin.read(struct.unpack("<Q", header)[0])
    try:
        trial(data)
    except Exception:
        pass  # Python-level errors are reported cleanly by the real load; only a crash matters here
    stdout.write(b"k")
    stdout.flush()
"""


class _Worker:
    """One long-lived child process that trial-loads models sent over a pipe (started on first use)."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def trial(self, data: bytes) -> int | None:
        """None if the child survived the model, else its (negative: signal) return code."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc = self.proc
        try:
            proc.stdin.write(struct.pack("<Q", len(data)) + data)
            proc.stdin.flush()
            answer = proc.stdout.read(1)
        except (BrokenPipeError, OSError):
            answer = b""
        if answer == b"k":
            return None
        code = proc.wait()
        self.proc = None
        return code if code is not None else -1

    def close(self) -> None:
        stop_child(self.proc, timeout=5)
        self.proc = None


_checked: set[str] = set()
_lock = threading.Lock()
_worker: _Worker | None = None


def check_in_child(data: bytes, name: str) -> None:
    """ModelLoadError if loading and running ``data`` once kills the trial process; cached per content hash."""
    global _worker
    digest = hashlib.sha256(data).hexdigest()
    with _lock:
        if digest in _checked:
            return
        if _worker is None:
            _worker = _Worker()
            atexit.register(_worker.close)
        code = _worker.trial(data)
        if code is None:
            _checked.add(digest)
            return
    if code < 0:
        try:
            how = signal.Signals(-code).name
        except ValueError:
            how = f"signal {-code}"
    else:
        how = f"exit code {code}"
    raise ModelLoadError(f"{name} is not a valid TFLite model: the TFLite runtime crashed ({how}) loading it in "
                         f"a trial process; the file is corrupt or its quantization parameters are absurd")
