"""Fuzz edgekit.runtime.load with mutated model bytes: no mutation may crash the process or escape as anything
but a one-line EdgekitError.

Each case is a mutation of a valid model (byte flips, random 32-bit words, truncation, zeroed or duplicated
ranges), aimed at the flatbuffer's structure (not the weight bytes) for .tflite files. Cases run in worker
processes, in batches; when a worker dies (a native crash), the case it was on is recorded and a new worker
carries on from the next case.

    python benchmarks/runtime_fuzz.py MODEL.tflite [MODEL.onnx ...] --count 5000 --seed 0

Prints one summary line per model and exits 1 if any case crashed or raised something other than EdgekitError.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = r"""
import sys, numpy as np
from edgekit.errors import EdgekitError
from edgekit.runtime import load
for line in sys.stdin:
    path = line.strip()
    status = "ok"
    try:
        with load(path) as model:
            feed = {}
            for spec in model.inputs:
                shape = tuple(1 if d is None else d for d in spec.shape)
                if int(np.prod(shape, dtype=np.int64)) > 1_000_000 or spec.dtype in ("str", "object"):
                    raise EdgekitError("input too large to feed in the fuzzer")
                feed[spec.name] = np.zeros(shape, spec.dtype if not spec.quantized else "float32")
            model.predict(feed)
    except EdgekitError as exc:
        status = "rejected-load" if "valid TFLite" in str(exc) or "not an ONNX" in str(exc) or "not a TFLite" in str(exc) else "rejected-runtime"
        if "\n" in str(exc):
            status = "multiline-error"
    except Exception as exc:
        status = "unexpected:" + type(exc).__name__ + ":" + str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    print(status, flush=True)
"""


def structure_positions(data: bytes, kind: str) -> list[tuple[int, int]]:
    """Byte ranges that are not weight data (where mutations reach the parser rather than the numbers)."""
    if kind != "tflite":
        return [(0, len(data))]
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    data_ranges = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        n = buffer.DataLength()
        if n > 64:
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            data_ranges.append((start + 16, start + n - 16))  # keep the edges: vector lengths live next to them
    ranges, at = [], 0
    for start, end in sorted(data_ranges):
        if start > at:
            ranges.append((at, start))
        at = max(at, end)
    ranges.append((at, len(data)))
    return [r for r in ranges if r[1] > r[0]]


def mutate(data: bytes, ranges: list[tuple[int, int]], rng: random.Random) -> bytes:
    buf = bytearray(data)
    weights = [end - start for start, end in ranges]

    def position() -> int:
        start, end = rng.choices(ranges, weights)[0]
        return rng.randrange(start, end)

    roll = rng.random()
    if roll < 0.10:
        return bytes(buf[:rng.randrange(0, len(buf))])  # truncation
    if roll < 0.15:
        return bytes(buf + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))  # trailing junk
    if roll < 0.25:
        at = position()
        n = rng.randrange(1, 64)
        buf[at:at + n] = bytes(n)  # zeroed range
        return bytes(buf)
    for _ in range(rng.randint(1, 6)):
        at = position()
        if rng.random() < 0.5:
            buf[at] = rng.randrange(256)
        else:  # a random or boundary 32-bit word: offsets, lengths, indices
            word = rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, rng.randrange(2**32), len(buf),
                               rng.randrange(len(buf))])
            buf[at:at + 4] = word.to_bytes(4, "little")
    return bytes(buf[:len(data)])


def fuzz(model: Path, count: int, seed: int, workdir: Path) -> dict:
    data = model.read_bytes()
    kind = "onnx" if model.suffix == ".onnx" else "tflite"
    ranges = structure_positions(data, kind)
    rng = random.Random(f"{seed}:{model.name}")
    cases = []
    for i in range(count):
        path = workdir / f"case{i:06d}{model.suffix}"
        path.write_bytes(mutate(data, ranges, rng))
        cases.append(path)
    statuses: dict[str, int] = {}
    crashes, unexpected = [], []
    i = 0
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    while i < len(cases):
        proc = subprocess.run([sys.executable, "-c", WORKER], input="\n".join(str(c) for c in cases[i:]) + "\n",
                              capture_output=True, text=True, env=env)
        lines = proc.stdout.splitlines()
        for offset, status in enumerate(lines):
            statuses[status.split(":")[0]] = statuses.get(status.split(":")[0], 0) + 1
            if status.startswith(("unexpected", "multiline")):
                unexpected.append((cases[i + offset].name, status))
        i += len(lines)
        if proc.returncode != 0 and i < len(cases):
            crashes.append((cases[i].name, proc.returncode))
            kept = workdir.parent / f"crash_{model.stem}_{cases[i].name}"
            kept.write_bytes(cases[i].read_bytes())
            statuses["crash"] = statuses.get("crash", 0) + 1
            i += 1
    for case in cases:
        case.unlink(missing_ok=True)
    return {"model": str(model), "cases": count, "statuses": statuses, "crashes": crashes,
            "unexpected": unexpected[:20]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--count", type=int, default=2000, help="mutations per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    failed = False
    results = []
    with tempfile.TemporaryDirectory(prefix="edgekit-fuzz-") as tmp:
        for model in args.models:
            start = time.perf_counter()
            workdir = Path(tmp) / model.stem
            workdir.mkdir()
            result = fuzz(model, args.count, args.seed, workdir)
            result["seconds"] = round(time.perf_counter() - start, 1)
            results.append(result)
            failed |= bool(result["crashes"] or result["unexpected"])
            if not args.json:
                print(f"{model.name}: {result['cases']} cases in {result['seconds']} s: "
                      f"{json.dumps(result['statuses'], sort_keys=True)}; crashes {len(result['crashes'])}; "
                      f"unexpected {len(result['unexpected'])} {result['unexpected'][:3]}")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
