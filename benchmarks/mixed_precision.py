"""Selective int8 (issue 16): the two mechanisms side by side, the automatic search, and the op->layer map on a
real network. Prints markdown tables for BENCHMARKS.md.

Run: .venv/bin/python benchmarks/mixed_precision.py [--skip-mobilenet]

Models: the digits sample, and its "outlier twin": channel 5 of bn1 (fused into conv1's op) scaled up 1000x and
conv2's weights for that channel scaled down 1000x, so the float function is unchanged and plain int8 collapses.
A deeper twin (5 conv/FC ops, trained 6 epochs here) shows what share stays int8 when the network has more than the
two layers around the outlier tensor. MobileNetV2 (alpha 0.35, 96x96, weights=None: no downloads here) checks the op->layer map on BatchNorm folding,
depthwise convs, ReLU6 and residual adds; its accuracy is meaningless (random weights), so only fidelity is shown.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def outlier_twin(model, keras, channel=5, scale=1000.0):
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    gamma, beta, mean, var = twin.get_layer("bn1").get_weights()
    gamma[channel] *= scale
    beta[channel] *= scale
    twin.get_layer("bn1").set_weights([gamma, beta, mean, var])
    kernel, bias = twin.get_layer("conv2").get_weights()
    kernel[:, :, channel, :] /= scale
    twin.get_layer("conv2").set_weights([kernel, bias])
    return twin


def deep_twin(keras, x, y, channel=3, scale=1000.0):
    """The same defect in a 5-conv/FC CNN (conv1..conv3, fc1, fc2) trained for 6 epochs: what share stays int8."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)), L.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        L.Conv2D(16, 3, activation="relu", name="conv2"), L.Conv2D(32, 3, activation="relu", name="conv3"),
        L.Flatten(name="flatten"), L.Dense(32, activation="relu", name="fc1"), L.Dense(10, activation="softmax", name="fc2")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    k, b = model.get_layer("conv1").get_weights()
    k[..., channel] *= scale
    b[channel] *= scale
    model.get_layer("conv1").set_weights([k, b])
    k, b = model.get_layer("conv2").get_weights()
    k[:, :, channel, :] /= scale
    model.get_layer("conv2").set_weights([k, b])
    return model


def top1(path, x, y):
    from edgekit import runtime

    with runtime.load(path) as m:
        out = m.predict(x)
    return float(np.mean(out.argmax(axis=1) == y)), out


def converter_selective(model, calibration, denylisted_nodes):
    """The TF converter's own mechanism: QuantizationDebugger with denylisted nodes (full tensor names)."""
    from edgekit._log import quiet_native
    from edgekit._tf import tf
    from edgekit.keras.source import KerasSource

    tf_ = tf()
    function = KerasSource(model).tf_function().get_concrete_function()

    def make():
        c = tf_.lite.TFLiteConverter.from_concrete_functions([function], model)
        c.optimizations = [tf_.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([calibration[i : i + 1]] for i in range(len(calibration)))
        c.target_spec.supported_ops = [tf_.lite.OpsSet.TFLITE_BUILTINS_INT8, tf_.lite.OpsSet.TFLITE_BUILTINS]
        return c

    options = tf_.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylisted_nodes)
    with quiet_native():
        debugger = tf_.lite.experimental.QuantizationDebugger(
            converter=make(), debug_dataset=lambda: ([calibration[i : i + 1]] for i in range(len(calibration))),
            debug_options=options)
        return debugger.get_nondebug_quantized_model()


def mechanisms(models, calibration, x, y, work: Path) -> None:
    from edgekit.convert import to_tflite
    from edgekit.convert.layer_map import keras_layers, select
    from edgekit.convert.mixed_precision import MixedQuantizer, op_precisions
    from edgekit.metrics import snr_db

    print("### Mechanisms: the TF converter's denylist vs ai-edge-quantizer recipes\n")
    print("| model | mechanism | selection | top-1 | output SNR dB vs float | conv/FC ops int8 | file bytes | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, model in models.items():
        float_path = work / f"{name}_fp32.tflite"
        to_tflite(model, float_path)
        float_top1, reference = top1(float_path, x, y)
        names = keras_layers(model)

        def row(mech, selection, path, seconds):
            t, out = top1(path, x, y)
            p = op_precisions(path, names)
            print(f"| {name} | {mech} | {selection} | {100 * t:.2f}% | {snr_db(reference, out):.1f} | "
                  f"{p['int8_compute_ops']} of {p['compute_ops']} | {path.stat().st_size:,} | {seconds:.2f} |")

        print(f"| {name} | float32 | - | {100 * float_top1:.2f}% | inf | 0 of 4 | {float_path.stat().st_size:,} | - |")
        start = time.perf_counter()
        to_tflite(model, work / f"{name}_conv_int8.tflite", quantize="int8", calibration=calibration)
        row("TF converter", "all int8", work / f"{name}_conv_int8.tflite", time.perf_counter() - start)
        start = time.perf_counter()
        quantizer = MixedQuantizer(float_path, names, [calibration])
        calibrate_s = time.perf_counter() - start
        keep = ["conv1", "conv2"]
        nodes = [n for op in select(quantizer.ops, keep) for n in op.output_names]
        start = time.perf_counter()
        (work / f"{name}_conv_sel.tflite").write_bytes(converter_selective(model, calibration, nodes))
        row("TF converter (QuantizationDebugger, denylisted_nodes)", "conv1, conv2 float", work / f"{name}_conv_sel.tflite",
            time.perf_counter() - start)
        for label, kf, wide in (("all int8", (), ()), ("conv1, conv2 float", keep, ()), ("conv1, conv2 int16 activations", (), keep)):
            start = time.perf_counter()
            (work / f"{name}_aeq.tflite").write_bytes(quantizer.quantize(kf, wide))
            row("ai-edge-quantizer", label, work / f"{name}_aeq.tflite", time.perf_counter() - start)
        print(f"| {name} | ai-edge-quantizer | (calibration, once per model) | | | | | {calibrate_s:.2f} |")
    print("\nThe TF converter cannot give single layers int16 activations (its 16x8 mode is whole-model).\n")


def interleaved_latency(paths: dict, x: np.ndarray, rounds: int = 21, calls: int = 200) -> dict:
    """Median process-CPU µs per batch-1 call: the models timed in alternating blocks, the order rotated every
    round, so neither position nor other load on the shared machine favours one."""
    from edgekit import runtime

    loaded = {k: runtime.load(p, threads=1) for k, p in paths.items()}
    sample = x[:1]
    times = {k: [] for k in paths}
    for m in loaded.values():
        for _ in range(calls):
            m.predict(sample)
    order = list(loaded)
    for r in range(rounds):
        for k in order[r % len(order):] + order[: r % len(order)]:
            m = loaded[k]
            start = time.process_time()
            for _ in range(calls):
                m.predict(sample)
            times[k].append((time.process_time() - start) / calls * 1e6)
    for m in loaded.values():
        m.close()
    return {k: statistics.median(v) for k, v in times.items()}


def searches(models, calibration, x, y, work: Path, show=("outlier twin",)) -> None:
    from edgekit.convert.mixed_precision import quantizer_for
    from edgekit.convert.sensitivity import search

    print("### Automatic search (`--max-accuracy-drop 1`)\n")
    print("| model | float top-1 | plain int8 top-1 | int8-mixed top-1 | kept float | conv/FC ops int8 | file bytes (all int8 → mixed) "
          "| CPU µs/inference fp32 / int8 / mixed | same layers int16x8 instead: top-1, µs | search s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    loads = []
    details = {}
    for name, model in models.items():
        start = time.perf_counter()
        quantizer, keras_model = quantizer_for(model, work, calibration)
        found = search(quantizer, keras_model, [x], y, 1.0, [calibration])
        seconds = time.perf_counter() - start
        stem = "".join(c if c.isalnum() else "_" for c in name)
        paths = {"fp32": quantizer.float_path, "int8": work / f"{stem}_plain.tflite", "mixed": work / f"{stem}_mixed.tflite"}
        paths["int8"].write_bytes(quantizer.quantize())
        paths["mixed"].write_bytes(quantizer.quantize(keep_float=found.keep_float))
        wide = "-"
        if found.keep_float:
            paths["int16"] = work / f"{stem}_int16.tflite"
            paths["int16"].write_bytes(quantizer.quantize(int16x8=found.keep_float))
        loads.append(os.getloadavg()[0])
        lat = interleaved_latency(paths, x)
        if found.keep_float:
            wide = f"{100 * top1(paths['int16'], x, y)[0]:.2f}%, {lat['int16']:.1f}"
        print(f"| {name} | {100 * found.float_top1:.2f}% | {100 * found.int8_top1:.2f}% | {100 * found.top1:.2f}% | "
              f"{', '.join(found.keep_float) or 'none'} | {found.int8_compute_ops} of {found.compute_ops} | "
              f"{found.int8_bytes:,} → {found.bytes:,} | {lat['fp32']:.1f} / {lat['int8']:.1f} / {lat['mixed']:.1f} | {wide} | {seconds:.1f} |")
        details[name] = found
    print(f"\nLoad average (1 min) during the latency runs: {', '.join(f'{l:.1f}' for l in loads)} on 2 cores "
          "(other sessions were running: latency figures are noisy).\n")
    for name, found in details.items():
        if name not in show:
            continue
        print(f"**{name}**: {found.summary()}\n")
        print("```\n" + found.sensitivity.table() + "\n```\n")


def mobilenet(work: Path) -> None:
    from edgekit._tf import tf_keras
    from edgekit.convert import to_tflite
    from edgekit.convert.layer_map import keras_layers
    from edgekit.convert.mixed_precision import MixedQuantizer, op_precisions
    from edgekit.convert.sensitivity import Evaluator, analyze

    keras = tf_keras()
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    rng = np.random.default_rng(0)
    calibration = rng.uniform(-1, 1, (64, 96, 96, 3)).astype(np.float32)
    x = rng.uniform(-1, 1, (64, 96, 96, 3)).astype(np.float32)
    path = work / "mobilenetv2.tflite"
    to_tflite(model, path)
    start = time.perf_counter()
    quantizer = MixedQuantizer(path, keras_layers(model), [calibration])
    how = {}
    for op in quantizer.ops:
        how[op.how] = how.get(op.how, 0) + 1
    evaluator = Evaluator(path, [x])
    report = analyze(quantizer, model, [x], None, [calibration], evaluator, trials=False)
    to_tflite(model, work / "mobilenetv2_int8_conv.tflite", quantize="int8", calibration=calibration)
    _, conv_snr = evaluator.measure((work / "mobilenetv2_int8_conv.tflite").read_bytes())
    p = op_precisions(path, keras_layers(model))
    print("### Op → Keras layer map on MobileNetV2 (alpha 0.35, 96×96, random weights)\n")
    print(f"- {len(quantizer.ops)} ops, {p['compute_ops']} conv/FC; mapped by tensor name: {how.get('name', 0)}, from the "
          f"producing op: {how.get('producer', 0)}, from the consuming op: {how.get('consumer', 0)}, unmapped: {how.get('none', 0)}")
    print(f"- numeric check against the Keras layer outputs: {report.mapping['summary']}")
    print(f"- {len(quantizer.layers)} Keras layers own ops (BatchNormalization and ReLU layers are folded into their conv)")
    print(f"- all-int8 output SNR vs float on 64 random inputs: ai-edge-quantizer {report.int8_snr_db:.1f} dB, "
          f"TF converter {conv_snr:.1f} dB; analysis {time.perf_counter() - start:.1f} s\n")
    evaluator.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-mobilenet", action="store_true")
    args = parser.parse_args()

    from edgekit._tf import tf_keras
    from edgekit.keras.loading import load_keras_model

    sample = load_keras_model(ROOT / "samples/digits/model.h5")
    with np.load(ROOT / "samples/digits/data.npz") as d:
        calibration, x, y, x_train, y_train = d["x_train"][::7][:200], d["x_val"], d["y_val"], d["x_train"], d["y_train"]
    models = {"digits sample": sample, "outlier twin": outlier_twin(sample, tf_keras())}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mechanisms(models, calibration, x, y, work)
        searches({**models, "deeper outlier twin (5 conv/FC)": deep_twin(tf_keras(), x_train, y_train)}, calibration, x, y, work)
        if not args.skip_mobilenet:
            mobilenet(work)


if __name__ == "__main__":
    main()
