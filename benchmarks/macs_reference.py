"""edgekit's MAC and parameter counter against the published figures, on TFLite and ONNX files.

Each network is built with weights=None (no download), converted to .tflite (and MobileNetV2 also to .onnx with
tf2onnx), and counted by edgekit.device_bench.model_stats from the file alone. Published figures:
  MobileNetV1 (Howard et al. 2017, arXiv:1704.04861, tables 6 and 7), in millions of mult-adds / parameters;
  MobileNetV2 (Sandler et al. 2018, arXiv:1801.04381, table 4 and figure 5).

    python benchmarks/macs_reference.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

# (label, builder name, kwargs, published MMACs, published M params)
CASES = [
    ("MobileNetV1 1.0/224", "MobileNet", dict(alpha=1.0, input_shape=(224, 224, 3)), 569, 4.2),
    ("MobileNetV1 0.75/224", "MobileNet", dict(alpha=0.75, input_shape=(224, 224, 3)), 325, 2.6),
    ("MobileNetV1 0.5/224", "MobileNet", dict(alpha=0.5, input_shape=(224, 224, 3)), 149, 1.3),
    ("MobileNetV1 0.25/224", "MobileNet", dict(alpha=0.25, input_shape=(224, 224, 3)), 41, 0.5),
    ("MobileNetV1 1.0/192", "MobileNet", dict(alpha=1.0, input_shape=(192, 192, 3)), 418, 4.2),
    ("MobileNetV1 1.0/160", "MobileNet", dict(alpha=1.0, input_shape=(160, 160, 3)), 290, 4.2),
    ("MobileNetV1 1.0/128", "MobileNet", dict(alpha=1.0, input_shape=(128, 128, 3)), 186, 4.2),
    ("MobileNetV2 1.0/224", "MobileNetV2", dict(alpha=1.0, input_shape=(224, 224, 3)), 300, 3.4),
    ("MobileNetV2 1.4/224", "MobileNetV2", dict(alpha=1.4, input_shape=(224, 224, 3)), 585, 6.9),
]


def main() -> None:
    from edgekit._tf import tf as get_tf, tf_keras
    from edgekit.device_bench import model_stats

    tf, keras = get_tf(), tf_keras()
    out = Path(tempfile.mkdtemp(prefix="edgekit-macs-"))
    print(f"{'network':22} {'format':6} {'MMACs':>8} {'paper':>6} {'diff':>7} {'M params':>9} {'paper':>6} {'diff':>7}")
    for label, builder, kwargs, paper_macs, paper_params in CASES:
        model = getattr(keras.applications, builder)(weights=None, **kwargs)
        path = out / (label.replace(" ", "_").replace("/", "_") + ".tflite")
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        files = [path]
        if label == "MobileNetV2 1.0/224":
            import tf2onnx

            onnx_path = path.with_suffix(".onnx")
            spec = [tf.TensorSpec((None, *kwargs["input_shape"]), tf.float32, name="input")]
            tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=str(onnx_path))
            files.append(onnx_path)
        for f in files:
            s = model_stats(f)
            mmacs, mparams = s.macs / 1e6, s.params / 1e6
            print(f"{label:22} {s.format:6} {mmacs:8.1f} {paper_macs:6} {(mmacs / paper_macs - 1) * 100:+6.1f}% "
                  f"{mparams:9.3f} {paper_params:6} {(mparams / paper_params - 1) * 100:+6.1f}%", flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
