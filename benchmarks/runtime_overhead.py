"""What edgekit.runtime costs over the raw LiteRT interpreter, measured side by side in one run.

For each model, the same input, the same threads: ``Model.predict(x)`` against the raw loop
``interpreter.set_tensor(i, x); interpreter.invoke(); interpreter.get_tensor(o)``, timed in interleaved blocks
(raw, predict, raw, predict, ...) so machine drift hits both alike; the figure per side is the median block of
process CPU time per call (robust to other load on the machine; with threads > 1 it sums all threads).
Models: the digits sample (tiny: the per-call overhead in µs) and MobileNetV2 1.0/224 (weights=None) in fp32 and
int8 (the overhead in %). The int8 model is timed with int8 input on both sides (same work); the cost of
predict's float input path (quantize + dequantize) is reported separately. Then import times, each the median of
fresh processes: ``import edgekit.runtime`` against ``import ai_edge_litert`` (and ``ai_edge_litert.interpreter``).

    python benchmarks/runtime_overhead.py [--threads 1] [--workdir bench-out/runtime] [--json]

Models are converted once (TensorFlow, in a child process, so the timing process never imports it) into
--workdir and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("digits_fp32", "digits_int8", "mobilenetv2_fp32", "mobilenetv2_int8")


def convert_models(workdir: Path) -> None:
    """Convert the benchmark models with TensorFlow's TFLite converter (runs in a child process)."""
    import numpy as np

    from edgekit._tf import tf as get_tf, tf_keras

    tf, keras = get_tf(), tf_keras()
    digits = keras.models.load_model(ROOT / "samples" / "digits" / "model.h5", compile=False)
    with np.load(ROOT / "samples" / "digits" / "data.npz") as data:
        digits_x = data["x_train"][:200]
    mobilenet = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
    rng = np.random.default_rng(0)
    mobilenet_x = rng.uniform(-1, 1, size=(16, 224, 224, 3)).astype("float32")
    for name, model, calib in (("digits", digits, digits_x), ("mobilenetv2", mobilenet, mobilenet_x)):
        for mode in ("fp32", "int8"):
            path = workdir / f"{name}_{mode}.tflite"
            if path.exists():
                continue
            conv = tf.lite.TFLiteConverter.from_keras_model(model)
            if mode == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = lambda c=calib: ([c[i:i + 1]] for i in range(len(c)))
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.inference_input_type = conv.inference_output_type = tf.int8
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(conv.convert())
            os.replace(tmp, path)


def _blocks(fn, block: int, rounds: int) -> list[float]:
    """Per-call CPU time of the whole process (all threads), per block: unlike wall time, it does not count the
    time other processes on a busy machine take from this one."""
    out = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(block):
            fn()
        out.append((time.process_time() - start) / block)
    return out


def measure_model(path: Path, threads: int, block: int, rounds: int) -> dict:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.runtime import load

    model = load(path, threads=threads)
    spec = model.inputs[0]
    shape = tuple(1 if d is None else d for d in spec.shape)
    rng = np.random.default_rng(0)
    x_float = rng.uniform(0, 1, size=shape).astype("float32")
    x = (np.clip(np.rint(x_float / spec.quantization[0]) + spec.quantization[1], -128, 127).astype(spec.dtype)
         if spec.quantized else x_float)

    raw = Interpreter(model_path=str(path), num_threads=threads)
    raw.allocate_tensors()
    in_index = raw.get_input_details()[0]["index"]
    out_index = raw.get_output_details()[0]["index"]

    def raw_call():
        raw.set_tensor(in_index, x)
        raw.invoke()
        return raw.get_tensor(out_index)

    def predict_call():
        return model.predict(x, raw=True)

    def predict_float_call():
        return model.predict(x_float)

    assert np.array_equal(raw_call(), predict_call())  # same work, same answer
    for fn in (raw_call, predict_call, predict_float_call):
        _blocks(fn, block, 2)  # warm-up
    raw_t, ek_t, float_t = [], [], []
    for _ in range(rounds):
        raw_t += _blocks(raw_call, block, 1)
        ek_t += _blocks(predict_call, block, 1)
        if spec.quantized:
            float_t += _blocks(predict_float_call, block, 1)
    raw_s, ek_s = statistics.median(raw_t), statistics.median(ek_t)
    result = {
        "model": path.name, "threads": threads, "input": f"{spec.dtype}{list(shape)}", "calls": block * rounds,
        "raw_us": round(raw_s * 1e6, 2), "predict_us": round(ek_s * 1e6, 2),
        "overhead_us": round((ek_s - raw_s) * 1e6, 2), "overhead_pct": round((ek_s / raw_s - 1) * 100, 2),
    }
    if float_t:
        result["predict_float_in_us"] = round(statistics.median(float_t) * 1e6, 2)
    model.close()
    return result


def import_times(statements: tuple[str, ...], repeats: int) -> dict[str, float]:
    """Median wall time (ms) of each import statement in fresh processes, interleaved round by round (A B C, A B C,
    ...) so that load from other processes on the machine hits all statements alike."""
    times: dict[str, list[float]] = {s: [] for s in statements}
    for _ in range(repeats):
        for statement in statements:
            code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            times[statement].append(float(out.strip().splitlines()[-1]) * 1e3)
    return {s: round(statistics.median(t), 2) for s, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-out" / "runtime")
    parser.add_argument("--import-repeats", type=int, default=21)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--convert-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.convert_only:
        convert_models(args.workdir)
        return 0
    if not all((args.workdir / f"{m}.tflite").exists() for m in MODELS):
        subprocess.run([sys.executable, __file__, "--convert-only", "--workdir", str(args.workdir)], check=True)

    results = []
    for name in MODELS:
        tiny = name.startswith("digits")
        block, rounds = (2000, 15) if tiny else (5, 60)
        results.append(measure_model(args.workdir / f"{name}.tflite", args.threads, block, rounds))
    imports = import_times(("import ai_edge_litert", "import ai_edge_litert.interpreter", "import edgekit.runtime",
                            "from edgekit.runtime import load"), args.import_repeats)
    report = {"models": results, "import_ms": imports,
              "import_ratio_vs_ai_edge_litert": round(imports["import edgekit.runtime"]
                                                      / imports["import ai_edge_litert"], 2),
              "import_ratio_load_vs_interpreter": round(imports["from edgekit.runtime import load"]
                                                        / imports["import ai_edge_litert.interpreter"], 2)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("| model | threads | input | raw set/invoke/get (µs) | Model.predict (µs) | overhead | float-in predict (µs) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['threads']} | {r['input']} | {r['raw_us']:.1f} | {r['predict_us']:.1f} | "
              f"{r['overhead_us']:+.2f} µs ({r['overhead_pct']:+.2f} %) | {r.get('predict_float_in_us', '-')} |")
    print()
    for stmt, ms in imports.items():
        print(f"- `{stmt}`: {ms} ms (median of {args.import_repeats} fresh processes)")
    print(f"- ratio `import edgekit.runtime` / `import ai_edge_litert`: {report['import_ratio_vs_ai_edge_litert']}")
    print(f"- ratio `from edgekit.runtime import load` / `import ai_edge_litert.interpreter`: "
          f"{report['import_ratio_load_vs_interpreter']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
