"""Hostile input files, built on the spot (never committed), and a CLI runner that measures what a run cost.

Shared by tests/test_hostile*.py and benchmarks/hostile_inputs.py: each builder writes one crafted file into a
folder and returns its path. The bombs are genuine: real deflate streams of zeros with honest zip headers, built
in milliseconds by repeating one independently-decodable compressed block instead of compressing gigabytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


# ---- running the CLI ---------------------------------------------------------------------------------------
@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    peak_rss_mb: float  # the child's own peak resident memory (VmHWM), NaN when it was killed

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("error:")]


# The child's peak RSS is read by the child itself (VmHWM at exit): wait4's ru_maxrss would also count the pages a
# big parent (pytest with TensorFlow loaded) had when it forked.
_LAUNCH = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as status, open(os.environ["HOSTILE_PEAK_FILE"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_peak)
sys.argv = ["edgekit", *sys.argv[1:]]
runpy.run_module("edgekit", run_name="__main__", alter_sys=True)
"""


def start_cli(args: list[str], cwd: str | os.PathLike, stdout, stderr, tmpdir: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    env["HOSTILE_PEAK_FILE"] = os.path.join(tempfile.gettempdir(), f"hostile-peak-{os.getpid()}-{time.time_ns()}")
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, *map(str, args)], cwd=cwd, stdout=stdout,
                            stderr=stderr, env=env)
    proc.peak_file = env["HOSTILE_PEAK_FILE"]
    return proc


def _peak_mb(proc: subprocess.Popen) -> float:
    try:
        with open(proc.peak_file) as fh:
            return int(fh.read()) / 1024
    except (OSError, ValueError):
        return float("nan")  # killed: no exit handler ran
    finally:
        with contextlib.suppress(OSError):
            os.unlink(proc.peak_file)


def wait_cli(proc: subprocess.Popen, stdout, stderr, timeout: float = 300) -> CliRun:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    stdout.seek(0)
    stderr.seek(0)
    return CliRun(proc.returncode, stdout.read().decode(errors="replace"), stderr.read().decode(errors="replace"),
                  _peak_mb(proc))


def run_cli(args: list[str], cwd: str | os.PathLike, timeout: float = 300, tmpdir: str | None = None) -> CliRun:
    """``python -m edgekit ARGS`` in ``cwd`` with this checkout's code; its exit code, output and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        return wait_cli(start_cli(args, cwd, out, err, tmpdir), out, err, timeout)


def terminate_when(args: list[str], cwd: str | os.PathLike, ready, sig: int = signal.SIGTERM,
                   timeout: float = 300, tmpdir: str | None = None) -> tuple[CliRun, bool]:
    """Start the CLI, send ``sig`` as soon as ``ready()`` is true (polled every 20 ms); (the run, whether the
    signal was sent before the run ended)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = start_cli(args, cwd, out, err, tmpdir)
        sent = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                proc.send_signal(sig)
                sent = True
                break
            time.sleep(0.02)
        return wait_cli(proc, out, err, timeout), sent


def snapshot(folder: str | os.PathLike) -> dict[str, int]:
    """Every file and folder under ``folder`` (hidden ones included) with its size: to prove nothing was written."""
    root = Path(folder)
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1) for p in sorted(root.rglob("*"))}


def edgekit_temps(*folders: str | os.PathLike) -> list[Path]:
    """edgekit temporaries under ``folders``: ``.NAME.PID@HOST.XXXXXXXX.tmp`` beside outputs, ``edgekit-PID-*`` scratch."""
    found = []
    for folder in folders:
        for p in Path(folder).rglob("*"):
            if (p.name.startswith(".") and p.name.endswith(".tmp")) or p.name.startswith("edgekit-"):
                found.append(p)
    return found


# ---- zip archives with genuine deflate bombs -------------------------------------------------------------------
def _deflate_zeros(prefix: bytes, zeros: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``prefix`` then ``zeros`` zero bytes, and its CRC-32: one 1 MiB block of zeros is
    compressed once (ending on a full flush, so it decodes on its own) and repeated."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = block.compress(bytes(MB)) + block.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(zeros, MB)
    tail_comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = tail_comp.compress(bytes(rest)) + tail_comp.flush()
    crc = zlib.crc32(prefix)
    zero_block = bytes(MB)
    for _ in range(full):
        crc = zlib.crc32(zero_block, crc)
    crc = zlib.crc32(bytes(rest), crc)
    return head + chunk * full + tail, crc


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip of (name, compressed bytes, CRC-32, uncompressed size, method) members, headers written by hand
    (sizes under 4 GiB: no zip64)."""
    out = bytearray()
    central = bytearray()
    for name, data, crc, size, method in members:
        raw = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0)
        out += raw + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset)
        central += raw
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       len(out) - len(central), 0)
    path.write_bytes(bytes(out))
    return path


def npy_header(shape: tuple, dtype: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def npz_bomb(path: Path, expand_mb: int = 1024, members: int = 1, name: str = "x") -> Path:
    """An ``.npz`` whose arrays are honest float32 zeros of (N, 8, 8, 1): ``expand_mb`` MiB each, ~1 KB per MiB."""
    items = []
    for i in range(members):
        count = expand_mb * MB // (64 * 4)
        header = npy_header((count, 8, 8, 1))
        data, crc = _deflate_zeros(header, count * 64 * 4)
        items.append((f"{name if members == 1 else f'{name}{i}'}.npy", data, crc, len(header) + count * 256, 8))
    return write_zip(path, items)


def npy_shape_lie(path: Path) -> Path:
    """An ``.npy`` of 80 bytes whose header declares a (10**9, 8, 8, 1) float32 array (256 GB)."""
    path.write_bytes(npy_header((10**9, 8, 8, 1)) + bytes(16))
    return path


def npz_shape_lie(path: Path) -> Path:
    """An ``.npz`` whose stored member holds 16 bytes after a header declaring (10**8, 8, 8, 1) float32."""
    body = npy_header((10**8, 8, 8, 1)) + bytes(16)
    return write_zip(path, [("x.npy", body, zlib.crc32(body), len(body), 0)])


def png_bomb(path: Path, side: int = 60_000) -> Path:
    """A PNG header declaring ``side`` × ``side`` pixels (3.6 GP), with one tiny compressed row: Pillow reads the
    size from the header before decoding anything."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(side + 1)))
                     + chunk(b"IEND", b""))
    return path


def alias_recipe(path: Path, depth: int = 9) -> Path:
    """The 'billion laughs' recipe (~400 bytes): each anchor lists the previous one nine times, and
    ``prune.include`` names the last: 9**depth layer names once expanded."""
    levels = ["&a0 [Dense, Dense, Dense, Dense, Dense, Dense, Dense, Dense, Dense]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth - 1)]
    path.write_text(f"name: bomb\nprune:\n  exclude: [{', '.join(levels)}]\n"
                    f"  include: [{', '.join([f'*a{depth - 2}'] * 9)}]\n")
    return path


# ---- ONNX models that point outside their folder -------------------------------------------------------------
def onnx_external(folder: Path, location: str, data: bytes | None = np.arange(4, dtype=np.float32).tobytes(),
                  length: int | None = 16, domain: str = "") -> Path:
    """``folder/model.onnx``: y = x + w, w (1, 4) float32 stored externally at ``location`` (written there, relative
    to ``folder``, when ``data`` is given)."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((1, 4), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("length", None if length is None else str(length))):
        if value is not None:
            entry = w.external_data.add()
            entry.key, entry.value = key, value
    node = helper.make_node("Add", ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="onnx-hostile-test")
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None and not os.path.isabs(location):
        target = folder / location
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def onnx_model(path: Path) -> Path:
    """A plain ONNX model, y = relu(x), x (N, 8, 8, 1) float32: something for ``edgekit run`` to feed data to."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 8, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 8, 1])])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                       producer_name="onnx-hostile-test").SerializeToString())
    return path


# ---- Keras / SavedModel files that run code, read files or expand ------------------------------------------
def savedmodel_writer(folder: Path, marker: Path) -> Path:
    """A plain SavedModel whose serving function writes ``marker`` with tf.io.write_file (an op, not Python)."""
    from edgekit._tf import tf as get_tf

    tf = get_tf()

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(marker), "written by the model")
            return {"y": x * 2.0}

    module = Writer()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def keras_lambda_savedmodel(folder: Path, marker: Path) -> Path:
    """A tf-keras model saved as a SavedModel (save_format="tf") whose Lambda touches ``marker`` in Python."""
    from edgekit._tf import tf_keras

    keras = tf_keras()
    touch = eval(f"lambda t: (open({str(marker)!r}, 'a').close(), t * 2.0)[1]")  # the path is in the bytecode
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Lambda(touch)(inp)))
    model.save(str(folder), save_format="tf")
    if marker.exists():
        marker.unlink()  # saving traced the Lambda; only loading counts
    return folder


def string_lookup_h5(path: Path, vocabulary: Path) -> Path:
    """A tf-keras .h5 whose StringLookup layer reads its vocabulary from ``vocabulary`` (a path) when loaded."""
    from edgekit._tf import tf_keras

    keras = tf_keras()
    vocabulary.write_text("cat\ndog\n")
    inp = keras.Input((1,), dtype="string")
    keras.Model(inp, keras.layers.StringLookup(vocabulary=str(vocabulary))(inp)).save(str(path))
    return path


_SMALL_KERAS_CONFIG = (b'{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [{"module": '
                       b'"keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "name": "i"}},'
                       b' {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2, "name": "d"}}]}}')


def keras_zip_bomb(path: Path, expand_mb: int = 1024) -> Path:
    """A Keras 3 ``.keras`` zip (config.json, metadata.json) whose model.weights.h5 is a deflate bomb."""
    meta = b'{"keras_version": "3.15.1", "date_saved": "2026-12-01@00:00:00"}'
    data, crc = _deflate_zeros(b"\x89HDF\r\n\x1a\n", expand_mb * MB)
    return write_zip(path, [("config.json", _SMALL_KERAS_CONFIG, zlib.crc32(_SMALL_KERAS_CONFIG), len(_SMALL_KERAS_CONFIG), 0),
                            ("metadata.json", meta, zlib.crc32(meta), len(meta), 0),
                            ("model.weights.h5", data, crc, 8 + expand_mb * MB, 8)])


def h5_bomb(path: Path, declared_mb: int = 1024) -> Path:
    """A tf-keras-style ``.h5`` (a model config) of ~2 KB whose one weight dataset declares ``declared_mb`` MB of
    never-written gzip chunks: reading the weights would allocate all of it."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = _SMALL_KERAS_CONFIG.decode()
        f.attrs["keras_version"] = "2.21.0"
        f.create_dataset("model_weights/d/kernel", shape=(declared_mb * 1000, 250), dtype="f4", chunks=(1000, 250),
                         compression="gzip")
    return path


def savedmodel_const_bomb(folder: Path, elements: int = 600_000_000) -> Path:
    """A SavedModel whose serving function adds a splat constant of ``elements`` float32 (2.4 GB), stored as one
    value and a shape: loading the function materializes all of it."""
    from edgekit._tf import tf as get_tf

    tf = get_tf()

    class Bomb(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return {"y": tf.reduce_sum(tf.constant(1.0, shape=[elements])) + x}

    module = Bomb()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder
