"""Convert the digits sample to every TFLite mode, ONNX and the Edge TPU target; print a markdown table.

Run: .venv/bin/python benchmarks/convert_modes.py [--model M] [--data D] [--out DIR]
Each row is one artifact: sizes, and parity against the Keras model on the held-out split (360 images; the parity
check uses the first 256).
"""

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(ROOT / "samples/digits/model.h5"))
    parser.add_argument("--data", default=str(ROOT / "samples/digits/data.npz"))
    parser.add_argument("--out", default=str(ROOT / "bench-out/convert"))
    args = parser.parse_args()

    import numpy as np

    from edgekit.convert import to_edgetpu, to_onnx, to_tflite
    from edgekit.keras.loading import load_keras_model

    model = load_keras_model(args.model)
    with np.load(args.data) as d:
        x_val = d["x_val"]
    out = Path(args.out)
    jobs = [
        ("float32", lambda: to_tflite(model, out / "fp32.tflite", eval_data=x_val)),
        ("dynamic", lambda: to_tflite(model, out / "dynamic.tflite", quantize="dynamic", eval_data=x_val)),
        ("float16", lambda: to_tflite(model, out / "float16.tflite", quantize="float16", eval_data=x_val)),
        ("int8 (int8 I/O)", lambda: to_tflite(model, out / "int8.tflite", quantize="int8", calibration=args.data, io_dtype="int8", eval_data=x_val)),
        ("int16x8", lambda: to_tflite(model, out / "int16x8.tflite", quantize="int16x8", calibration=args.data, eval_data=x_val)),
        ("ONNX opset 17", lambda: to_onnx(model, out / "model.onnx", eval_data=x_val)),
        ("Edge TPU (int8, uint8 I/O, batch 1)", lambda: to_edgetpu(model, out / "edgetpu.tflite", calibration=args.data, eval_data=x_val)),
    ]
    print("| artifact | file bytes | gzip bytes | max abs err | cosine | SNR dB | top-1 agreement | convert s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, job in jobs:
        start = time.perf_counter()
        a = job()
        seconds = time.perf_counter() - start
        p = a.parity
        print(f"| {label} | {a.file_bytes:,} | {a.gzip_bytes:,} | {p.max_abs:.2e} | {p.cosine:.6f} | {p.snr_db:.1f} | "
              f"{100 * p.top1_agreement:.2f}% | {seconds:.1f} |")


if __name__ == "__main__":
    main()
