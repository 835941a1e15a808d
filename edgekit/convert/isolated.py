"""The TFLite converter, run in a child process, so that a crash inside TensorFlow costs one conversion, not the run.

TensorFlow's converter and calibrator are native code; some models crash them outright (Keras 3 LSTM int8
calibration: SIGSEGV with TF 2.21), which used to kill ``edgekit optimize`` with no results and no message.
:func:`convert_isolated` exports the source's traced function as a SavedModel (its captured variables only, no
Keras) and has a long-lived worker process (started on first use, TensorFlow imported once) convert it with the same
settings. A worker that dies becomes a :class:`~edgekit.errors.ConversionError` naming the model, the mode and the
likely cause; the next conversion starts a new worker. The child cannot share the parent's TensorFlow: a forked
TensorFlow deadlocks, hence a fresh interpreter.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit._fs import stop_child
from edgekit.errors import ConversionError


def _export(source: Any, batch: int | None, directory: Path) -> Path:
    """``source``'s traced function as a SavedModel with one ``serving_default`` signature."""
    from edgekit._log import quiet_native
    from edgekit._tf import tf

    tf_ = tf()
    function = source.tf_function(batch=batch)
    concrete = function.get_concrete_function()
    module = tf_.Module()
    module.variables_ = list(concrete.variables)  # what the function captures: the model's weights, nothing else
    module.serve = function
    path = directory / "savedmodel"
    try:
        with quiet_native():
            tf_.saved_model.save(module, str(path), signatures={"serving_default": concrete})
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConversionError(f"could not export {source.name} for conversion: {first[:300]}") from None
    return path


class _Worker:
    """One child process converting SavedModels on request (JSON lines over its stdin/stdout)."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.stderr = None  # an anonymous temporary file (nothing left behind): what the child said before dying

    def request(self, job: dict) -> tuple[dict | None, int | None, str]:
        """(the child's answer, None, ""), or (None, its return code, its last stderr line) when it died."""
        if self.proc is None or self.proc.poll() is not None:
            self.stderr = tempfile.TemporaryFile()
            self.proc = subprocess.Popen([sys.executable, "-m", "edgekit.convert.isolated"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.stderr, env=_child_env())
        proc = self.proc
        start = self.stderr.seek(0, os.SEEK_END)
        try:
            proc.stdin.write((json.dumps(job) + "\n").encode())
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = b""
        if line:
            return json.loads(line), None, ""
        code = proc.wait()
        self.proc = None
        self.stderr.seek(start)
        said = [l.strip() for l in self.stderr.read()[-20000:].decode("utf-8", "replace").splitlines() if l.strip()]
        return None, code if code is not None else -1, said[-1][:300] if said else ""

    def close(self) -> None:
        stop_child(self.proc, timeout=10)
        self.proc = None


def _child_env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # this edgekit, also when it is not the installed one
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


_lock = threading.Lock()
_worker: _Worker | None = None


def convert_isolated(source: Any, mode: str, samples: Sequence[np.ndarray] | None, io_dtype: str, batch: int | None,
                     aware: bool) -> bytes:
    """The TFLite flatbuffer for ``source``, converted in the worker process (see the module docstring)."""
    global _worker
    from edgekit._fs import scratch_dir

    with scratch_dir("convert") as directory:
        job = {"savedmodel": str(_export(source, batch, directory)), "mode": mode, "io_dtype": io_dtype, "aware": aware,
               "names": [name for name, _ in source.input_specs], "output": str(directory / "model.tflite"),
               "samples": None, "name": source.name}
        if samples is not None:
            job["samples"] = str(directory / "samples.npz")
            np.savez(job["samples"], *samples)
        with _lock:
            if _worker is None:
                _worker = _Worker()
                atexit.register(_worker.close)
            answer, code, said = _worker.request(job)
        if answer is None:
            raise ConversionError(_crash_message(source, mode, code, said))
        if answer.get("error"):
            raise ConversionError(answer["error"])
        return Path(job["output"]).read_bytes()


def _crash_message(source: Any, mode: str, code: int | None, said: str = "") -> str:
    try:
        how = signal.Signals(-code).name if code is not None and code < 0 else f"exit code {code}"
    except ValueError:
        how = f"signal {-code}"
    if code is not None and code > 0 and said:  # the child exited (it did not crash): it says why
        return f"the TFLite converter process for {source.name} ({mode}) stopped ({how}): {said}"
    recurrent = getattr(source, "recurrent", {})
    if recurrent and mode in ("int8", "int16x8"):
        cause = (f"TensorFlow's {mode} calibrator crashes on recurrent layers ({', '.join(recurrent)}) of some models; "
                 "--quantize dynamic or float16 converts them")
    elif mode in ("int8", "int16x8"):
        cause = "a crash in TensorFlow's calibrator or quantizer on one of the model's ops; --quantize dynamic or float16 may convert it"
    else:
        cause = "a crash in TensorFlow's converter on one of the model's ops"
    return f"the TFLite converter crashed ({how}) converting {source.name} to {mode}: {cause}"


# --------------------------------------------------------------------------------------------------- the child


def _convert_job(job: dict) -> None:
    from edgekit._log import quiet_native
    from edgekit._tf import tf
    from edgekit.convert.tflite import configure

    tf_ = tf()
    converter = tf_.lite.TFLiteConverter.from_saved_model(job["savedmodel"], signature_keys=["serving_default"])
    samples = None
    if job["samples"]:
        with np.load(job["samples"]) as data:
            samples = [data[f"arr_{i}"] for i in range(len(data.files))]
    configure(converter, job["mode"], samples, job["names"], job["io_dtype"], job["aware"])
    with quiet_native():
        flatbuffer = converter.convert()
    Path(job["output"]).write_bytes(flatbuffer)


def serve() -> None:
    answers = os.fdopen(os.dup(1), "w")  # the protocol's channel; anything native code prints goes to stderr
    os.dup2(2, 1)
    for line in sys.stdin:
        job = json.loads(line)
        try:
            _convert_job(job)
            answer = {"error": None}
        except Exception as exc:
            lines = [l for l in str(exc).splitlines() if "error" in l.lower()] or str(exc).splitlines() or [type(exc).__name__]
            answer = {"error": f"the TFLite converter failed on {job['name']} ({job['mode']}): {lines[0].strip()[:300]}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
