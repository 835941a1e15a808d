"""Keras 3 figures for BENCHMARKS.md: which zoo models bridge to tf-keras (and back), with what error, and the
conversion parity of every zoo model straight from its Keras 3 file (no bridge).

Run: .venv/bin/python benchmarks/keras3_bridge.py
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from keras3_zoo import blocked_model, build_zoo, sample_inputs  # noqa: E402


def main() -> None:
    from edgekit._tf import keras3
    from edgekit.convert import to_onnx, to_tflite
    from edgekit.errors import EdgekitError
    from edgekit.keras.bridge import load_as_tf_keras, to_keras3

    keras = keras3()
    zoo = build_zoo(keras)
    zoo["blocked"] = blocked_model(keras)
    print("| model | params | file | bridge → tf-keras (rel / max abs) | back → Keras 3 .keras (max abs) | TFLite float rel | ONNX rel | TFLite int8 cosine |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in zoo.items():
            data = sample_inputs(model, count=64)
            for fmt in ("keras", "h5"):
                path = Path(tmp) / f"{name}.{fmt}"
                source = model if name == "blocked" else path  # the custom layer is registered only in this process
                if name != "blocked":
                    model.save(path)
                try:
                    bridged = load_as_tf_keras(path) if name != "blocked" else None
                    if bridged is None:
                        from edgekit.keras.bridge import to_tf_keras

                        bridged = to_tf_keras(model)
                    bridge = f"yes ({bridged.rel_error:.1e} / {bridged.max_abs_error:.1e})"
                    back = to_keras3(bridged.model, Path(tmp) / f"{name}_{fmt}_back.keras")
                    back_cell = f"yes ({back.max_abs_error:.1e})"
                except EdgekitError as exc:
                    bridge = "no: " + "; ".join(getattr(exc, "blockers", ()) or [str(exc)[:80]])
                    back_cell = "—"
                tfl = to_tflite(source, Path(tmp) / "m.tflite", eval_data=data)
                onx = to_onnx(source, Path(tmp) / "m.onnx", eval_data=data)
                if any(type(l).__name__ in ("LSTM", "GRU") for l in model.layers):
                    # TF 2.21's converter segfaults on full-int8 LSTM/GRU (Keras 3 and tf-keras alike): not run
                    int8_cell = "not run (converter segfault on int8 LSTM/GRU)"
                else:
                  try:
                    int8 = to_tflite(source, Path(tmp) / "m8.tflite", quantize="int8", calibration=data, eval_data=data)
                    int8_cell = f"{int8.parity.cosine:.4f}"
                  except EdgekitError as exc:
                    int8_cell = "fails: " + str(exc)[-70:]
                note = " (static batch 1)" if any("static batch" in n for n in tfl.notes) else ""
                print(f"| {name} | {model.count_params()} | .{fmt} | {bridge} | {back_cell} | {tfl.parity.rel_max:.1e}{note} | "
                      f"{onx.parity.rel_max:.1e} | {int8_cell} |")
                if name == "blocked":
                    break


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
