"""Run edgekit's CLI on the whole hostile-input corpus (issue 11) and print what it cost.

Every case builds its crafted file on the spot (tests/hostile.py; nothing hostile is committed), runs
``python -m edgekit ...`` in a fresh folder with its own TMPDIR, and checks the contract:

- refusals: exit 1, exactly one ``error:`` line on stderr, no traceback, nothing new in the folder, no marker file;
- signals: SIGTERM -> exit 143 with one line and no temporary; SIGKILL -> the next run leaves no temporary;
- every case: no edgekit temporary left anywhere under its folder or its TMPDIR; peak RSS of the child (VmHWM).

    python benchmarks/hostile_inputs.py            # the whole corpus (about 3-5 minutes on 2 cores)
    python benchmarks/hostile_inputs.py --quick    # without the cases that load TensorFlow

Totals line: cases, clean, exit-0, crashes (a signal or a traceback that was not asked for), temps left, peak memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import hostile  # noqa: E402  (tests/hostile.py: the builders and the CLI runner)

DIGITS = ROOT / "samples" / "digits"


@dataclass
class Case:
    name: str
    build: Callable[[Path], list]  # folder -> CLI arguments (files built inside the folder)
    heavy: bool = False  # loads TensorFlow before the point under test
    signal_at: Callable[[Path], Callable[[], bool]] | None = None  # folder -> "send the signal now?"
    sig: int = signal.SIGTERM
    rerun: bool = False  # after SIGKILL: run the same command again; it must leave nothing behind


def _onnx(folder: Path) -> Path:
    return hostile.onnx_model(folder / "relu.onnx")


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _loop(path: Path) -> Path:
    os.symlink(path, path)
    return path


def _empty(path: Path) -> Path:
    np.savez(path, x=np.zeros((0, 8, 8, 1), np.float32))
    return path


def _recipe(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _external(folder: Path, location: str, **kw) -> Path:
    return hostile.onnx_external(folder / "m", location, **kw)


def _symlink_out(folder: Path) -> Path:
    (folder / "secret.bin").write_bytes(bytes(16))
    (folder / "m").mkdir()
    os.symlink(folder / "secret.bin", folder / "m" / "w.bin")
    return hostile.onnx_external(folder / "m", "w.bin", data=None)


def _x(folder: Path) -> Path:
    np.save(folder / "x.npy", np.zeros((1, 4), np.float32))
    return folder / "x.npy"


def _cwd_secret(folder: Path) -> list:
    (folder / "secret.bin").write_bytes(np.full(4, 7, np.float32).tobytes())
    return ["run", _external(folder, "secret.bin", data=None), "--input", _x(folder)]


def _pbtxt(folder: Path) -> Path:
    (folder / "sm").mkdir()
    (folder / "sm" / "saved_model.pbtxt").write_text("meta_graphs {}")
    return folder / "sm"


MODEL = DIGITS / "model.h5"
DATA = DIGITS / "data.npz"
ONE_RECIPE = "name: fp32\nformats: [tflite]\n"


def corpus(marker: Path) -> list[Case]:
    bombs = {
        "npz deflate bomb (1 GB from 1 MB)": lambda d: hostile.npz_bomb(d / "b.npz", 1024),
        "npz 3 members, 2.2 GB": lambda d: hostile.npz_bomb(d / "b.npz", 700, members=3),
        "npy header declares 256 GB": lambda d: hostile.npy_shape_lie(d / "b.npy"),
        "npz member header lies": lambda d: hostile.npz_shape_lie(d / "b.npz"),
        "0 samples": lambda d: _empty(d / "e.npz"),
        "FIFO": lambda d: _fifo(d / "f.npz"),
        "symlink loop": lambda d: _loop(d / "l.npz"),
    }
    cases = []
    for label, build in bombs.items():
        cases.append(Case(f"data {label}: run --input", lambda d, b=build: ["run", _onnx(d), "--input", b(d)]))
        cases.append(Case(f"data {label}: convert --calibration",
                          lambda d, b=build: ["convert", MODEL, "--quantize", "int8", "--calibration", b(d), "-o",
                                              d / "o.tflite"]))
        if label not in ("0 samples",):
            cases.append(Case(f"data {label}: optimize --data",
                              lambda d, b=build: ["optimize", MODEL, "--data", b(d), "-o", d / "out"]))
    cases += [
        Case("image bomb 8000x8000: run --input", lambda d: ["run", _onnx(d), "--input", hostile.png_bomb(d / "b.png", 8000)]),
        Case("image bomb 60000x60000: run --input", lambda d: ["run", _onnx(d), "--input", hostile.png_bomb(d / "b.png")]),
        Case("recipe YAML aliases (billion laughs)", lambda d: ["optimize", MODEL, "--recipe", hostile.alias_recipe(d / "r.yaml"), "-o", d / "out"]),
        Case("recipe name '..'", lambda d: ["optimize", MODEL, "--recipe", _recipe(d / "r.yaml", "name: '..'\n"), "-o", d / "out"]),
        Case("recipe name of 300 chars", lambda d: ["optimize", MODEL, "--recipe", _recipe(d / "r.yaml", f"name: {'x' * 300}\n"), "-o", d / "out"]),
        Case("recipe FIFO", lambda d: ["optimize", MODEL, "--recipe", _fifo(d / "r.yaml"), "-o", d / "out"]),
        Case("onnx external data '../secret.bin'", lambda d: ["run", _external(d, "../secret.bin", data=None), "--input", _x(d)]),
        Case("onnx external data absolute path", lambda d: ["run", _external(d, str(d / "s.bin"), data=None), "--input", _x(d)]),
        Case("onnx external data via symlink out", lambda d: ["run", _symlink_out(d), "--input", _x(d)]),
        Case("onnx external data from the current dir", _cwd_secret),
        Case("onnx external data shorter than declared", lambda d: ["run", _external(d, "w.bin", data=bytes(8)), "--input", _x(d)]),
        Case("onnx custom-op domain", lambda d: ["run", _external(d, "w.bin", domain="evil.custom"), "--input", _x(d)]),
        Case("onnx external data: bench", lambda d: ["bench", _external(d, "../secret.bin", data=None), "--runs", "1"]),
        Case("keras zip bomb: convert", lambda d: ["convert", hostile.keras_zip_bomb(d / "b.keras"), "-o", d / "o.tflite"]),
        Case("keras zip bomb: optimize", lambda d: ["optimize", hostile.keras_zip_bomb(d / "b.keras"), "-o", d / "out"]),
        Case("h5 declaring 1 GB of weights: convert", lambda d: ["convert", hostile.h5_bomb(d / "b.h5"), "-o", d / "o.tflite"]),
        Case("h5 declaring 1 GB of weights: optimize", lambda d: ["optimize", hostile.h5_bomb(d / "b.h5"), "-o", d / "out"]),
        Case("model FIFO: convert", lambda d: ["convert", _fifo(d / "m.h5"), "-o", d / "o.tflite"]),
        Case("model symlink loop: convert", lambda d: ["convert", _loop(d / "m.h5"), "-o", d / "o.tflite"]),
        Case("text SavedModel: convert", lambda d: ["convert", _pbtxt(d), "-o", d / "o.tflite"]),
    ]
    for kind in ("writer", "lambda", "lookup", "const"):
        for command in ("convert", "optimize", "quantize"):
            out = "o.tflite" if command == "convert" else ("out" if command == "optimize" else "o.h5")
            cases.append(Case(f"model {kind}: {command}", lambda d, k=kind, c=command, o=out:
                              [c, MODELS[k], "-o", d / o] + (["--mode", "dynamic"] if c == "quantize" else [])))
    ready_temp = lambda d: (lambda: bool(hostile.edgekit_temps(d / "out")))  # noqa: E731
    start = {}

    def after(seconds):
        def make(d):
            start[d] = time.monotonic()
            return lambda: time.monotonic() - start[d] > seconds
        return make

    cases += [
        Case("SIGTERM convert while starting", lambda d: ["convert", MODEL, "-o", d / "out" / "o.tflite"], heavy=True,
             signal_at=after(1.5)),
        Case("SIGTERM convert while writing", lambda d: ["convert", MODEL, "-o", d / "out" / "o.tflite"], heavy=True,
             signal_at=ready_temp),
        Case("SIGTERM optimize while writing a variant",
             lambda d: ["optimize", MODEL, "--data", DATA, "--recipe", _recipe(d / "r.yaml", ONE_RECIPE), "-o", d / "out"],
             heavy=True, signal_at=ready_temp),
        Case("SIGKILL convert while writing, then rerun", lambda d: ["convert", MODEL, "-o", d / "out" / "o.tflite"],
             heavy=True, signal_at=ready_temp, sig=signal.SIGKILL, rerun=True),
    ]
    return cases


MODELS: dict[str, Path] = {}


def _leftovers(folder: Path, tmp: Path) -> list[Path]:
    return hostile.edgekit_temps(folder) + [p for p in tmp.iterdir()]


def run_case(case: Case, root: Path, marker: Path) -> dict:
    folder = root / case.name.replace(" ", "_").replace("/", "_").replace("'", "")[:60]
    folder.mkdir()
    tmp = root / (folder.name + ".tmp")
    tmp.mkdir()
    args = case.build(folder)
    before = hostile.snapshot(folder)
    started = time.perf_counter()
    if case.signal_at is None:
        run = hostile.run_cli(args, folder, tmpdir=tmp)
        sent = False
    else:
        run, sent = hostile.terminate_when(args, folder, case.signal_at(folder), sig=case.sig, tmpdir=tmp)
    if case.rerun:
        again = hostile.run_cli(args, folder, tmpdir=tmp)
        rerun_ok = again.code == 0
    seconds = time.perf_counter() - started
    left = _leftovers(folder, tmp)
    traceback = "Traceback" in run.stderr
    if case.signal_at is None:
        clean = (run.code == 1 and len(run.lines) == 1 and run.lines[0].startswith("error: ") and not traceback
                 and hostile.snapshot(folder) == before and not marker.exists() and not left)
        crashed = run.code < 0 or traceback or run.code not in (0, 1, 2)
    elif case.sig == signal.SIGTERM:
        clean = sent and run.code == 143 and len(run.error_lines) == 1 and not left
        crashed = run.code not in (143, 0, 1) or traceback
    else:
        clean = sent and run.code == -9 and rerun_ok and not left
        crashed = not rerun_ok
    marker.unlink(missing_ok=True)
    return {"case": case.name, "exit": run.code, "clean": clean, "crash": crashed, "left": len(left),
            "peak_mb": run.peak_rss_mb, "s": seconds, "line": (run.error_lines or run.lines or [""])[0][:110]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the cases that load TensorFlow")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hostile-corpus-"))
    marker = root / "marker.txt"
    try:
        print("building the hostile models (SavedModels, Keras files) ...", flush=True)
        MODELS["writer"] = hostile.savedmodel_writer(root / "models" / "writer", marker)
        MODELS["lambda"] = hostile.keras_lambda_savedmodel(root / "models" / "lambda_tf", marker)
        MODELS["lookup"] = hostile.string_lookup_h5(root / "models" / "lookup.h5", root / "models" / "vocab.txt")
        MODELS["const"] = hostile.savedmodel_const_bomb(root / "models" / "const_bomb")
        cases = [c for c in corpus(marker) if not (args.quick and c.heavy)]
        rows = []
        for case in cases:
            row = run_case(case, root, marker)
            rows.append(row)
            peak = "  -  " if row["peak_mb"] != row["peak_mb"] else f"{row['peak_mb']:5.0f}"
            print(f"{'ok ' if row['clean'] else 'BAD'} exit {row['exit']:>4}  {peak} MB {row['s']:5.1f} s  "
                  f"{row['case']}: {row['line']}", flush=True)
        peaks = [r["peak_mb"] for r in rows if r["peak_mb"] == r["peak_mb"]]
        load = os.getloadavg()
        print(f"\ncases {len(rows)}, clean {sum(r['clean'] for r in rows)}, exit-0 {sum(r['exit'] == 0 for r in rows)}, "
              f"crashes {sum(r['crash'] for r in rows)}, temps left {sum(r['left'] for r in rows)}, "
              f"peak memory {max(peaks):.0f} MB (median {np.median(peaks):.0f} MB); "
              f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
