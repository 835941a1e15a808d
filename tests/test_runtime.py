"""edgekit.runtime: loading, specs, predict (quantized, batched, multi-I/O, signatures), accelerators, threads."""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from edgekit.errors import AcceleratorError, DataError, EdgekitError, ModelLoadError
from edgekit.runtime import Model, TensorSpec, available_accelerators, load
from edgekit.runtime.specs import dequantize, quantize


@pytest.fixture(scope="module")
def keras_probs(runtime_models, digits_data):
    """The held-out inputs and the Keras model's outputs on them (stored beside the fixtures)."""
    return digits_data["x_val"], runtime_models.reference["digits"]


# -- specs and names ---------------------------------------------------------------------------------------------
def test_fp32_specs_use_keras_layer_names(runtime_models):
    with load(runtime_models.fp32) as model:
        assert model.inputs == (TensorSpec("image", (None, 8, 8, 1), "float32", None),)
        assert model.outputs == (TensorSpec("probs", (None, 10), "float32", None),)
        assert model.backend == "ai_edge_litert" and model.accelerator == "cpu"
        assert model.fully_delegated is True  # XNNPACK takes the whole float graph
        assert model.signature == "serving_default" and model.signatures == ("serving_default",)
        assert "image: float32[batch, 8, 8, 1]" in repr(model)


def test_int8_specs_carry_scale_and_zero_point(runtime_models):
    with load(runtime_models.int8) as model:
        (spec,) = model.inputs
        assert spec.dtype == "int8" and spec.quantized
        scale, zero = spec.quantization
        assert scale == pytest.approx(1 / 255, rel=1e-5) and zero == -128
        assert model.outputs[0].dtype == "int8" and model.outputs[0].quantization == (pytest.approx(1 / 256), -128)
        assert model.fully_delegated is False  # XNNPACK has no int8 SOFTMAX: one op stays on the built-in kernels


def test_onnx_specs_use_graph_names(runtime_models):
    with load(runtime_models.onnx) as model:
        assert model.backend == "onnxruntime"
        assert model.inputs == (TensorSpec("image", (None, 8, 8, 1), "float32", None),)
        assert [s.name for s in model.outputs] == ["probs"] and model.outputs[0].shape == (None, 10)


# -- predictions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["fp32", "onnx"])
def test_float_models_match_keras(runtime_models, keras_probs, which):
    x, expected = keras_probs
    with load(getattr(runtime_models, which)) as model:
        got = model.predict(x)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("which", ["int8", "int16"])
def test_quantized_models_take_and_return_float(runtime_models, keras_probs, digits_data, which):
    x, expected = keras_probs
    with load(getattr(runtime_models, which)) as model:
        got = model.predict(x)
        raw = model.predict(x, raw=True)
        out = model.outputs[0]
    assert got.dtype == np.float32 and raw.dtype == np.dtype(which)
    np.testing.assert_array_equal(got, dequantize(raw, out))  # raw=True is exactly the stored integers
    assert np.abs(got - expected).mean() < 0.01 and np.abs(got - expected).max() < 0.3
    agreement = (got.argmax(1) == expected.argmax(1)).mean()
    assert agreement >= 0.98, agreement
    assert (got.argmax(1) == digits_data["y_val"]).mean() >= 0.97


def test_prequantized_integers_pass_through(runtime_models, digits_data):
    x = digits_data["x_val"][:16]
    with load(runtime_models.int8) as model:
        q = quantize(x, model.inputs[0])
        np.testing.assert_array_equal(model.predict(q, raw=True), model.predict(x, raw=True))


def test_quantize_helpers_round_and_saturate():
    spec = TensorSpec("t", (None, 3), "int8", (0.5, 10))
    q = quantize(np.array([[0.0, 1.26, 1000.0]]), spec)
    assert q.dtype == np.int8 and q.tolist() == [[10, 13, 127]]
    np.testing.assert_allclose(dequantize(q, spec), [[0.0, 1.5, 58.5]])
    spec16 = TensorSpec("t", (3,), "int16", (1e-3, 0))
    assert quantize([-40.0, 0.0123, 40.0], spec16).tolist() == [-32768, 12, 32767]
    specu8 = TensorSpec("t", (2,), "uint8", (1 / 255, 0))
    assert quantize([-1.0, 0.6], specu8).tolist() == [0, 153]


def test_caller_data_is_not_modified(runtime_models, digits_data):
    x = digits_data["x_val"][:8].astype(np.float64)
    before = x.copy()
    with load(runtime_models.int8) as model:
        model.predict(x)
    np.testing.assert_array_equal(x, before)


def test_float64_and_lists_are_accepted(runtime_models, digits_data):
    x = digits_data["x_val"][:4]
    with load(runtime_models.fp32) as model:
        np.testing.assert_allclose(model.predict(x.astype(np.float64)), model.predict(x), atol=1e-6)
        np.testing.assert_allclose(model.predict({"image": x}), model.predict(x))
        np.testing.assert_allclose(model(x.tolist()), model.predict(x), atol=1e-6)


# -- batches -----------------------------------------------------------------------------------------------------
def test_dynamic_batch_resizes_once_per_size_and_matches_single_items(runtime_models, digits_data, monkeypatch):
    x = digits_data["x_val"][:10]
    with load(runtime_models.fp32) as model:
        singles = np.concatenate([model.predict(x[i:i + 1]) for i in range(10)])
        calls = []
        original = model._engine.resize
        monkeypatch.setattr(model._engine, "resize", lambda shapes: (calls.append(shapes), original(shapes)))
        for _ in range(3):
            batch = model.predict(x)
        assert calls == [[(10, 8, 8, 1)]]  # resized once, reused after
        model.predict(x[:3])
        assert len(calls) == 2
    np.testing.assert_allclose(batch, singles, atol=1e-6)


def test_fixed_batch_one_loops_with_the_same_result(runtime_models, digits_data):
    x = digits_data["x_val"][:7]
    with load(runtime_models.fixed1) as fixed, load(runtime_models.fp32) as dynamic:
        assert fixed.inputs[0].shape == (1, 8, 8, 1)
        got = fixed.predict(x)
        assert got.shape == (7, 10)
        np.testing.assert_allclose(got, dynamic.predict(x), atol=1e-6)


# -- multi-input / multi-output, signatures --------------------------------------------------------------------
def test_multi_input_multi_output_by_name_and_position(runtime_models):
    ref = runtime_models.reference
    a, b, expected = ref["multi_a"], ref["multi_b"], [ref["multi_zeta"], ref["multi_alpha"]]
    with load(runtime_models.multi) as model:
        assert [s.name for s in model.inputs] == ["a", "b"]
        assert [s.name for s in model.outputs] == ["zeta", "alpha"]  # the Keras model's output order
        by_name = model.predict({"b": b, "a": a})
        by_position = model.predict([a, b])
    assert list(by_name) == ["zeta", "alpha"]
    for key, want in zip(["zeta", "alpha"], expected):
        np.testing.assert_allclose(by_name[key], want, atol=1e-5)
        np.testing.assert_allclose(by_position[key], want, atol=1e-5)


def test_signatures_are_selectable(runtime_models):
    x, w = np.arange(6, dtype="float32").reshape(2, 3), np.ones((2, 3), "float32")
    with load(runtime_models.signatures, signature="double") as double:
        assert double.signatures == ("add", "double")
        np.testing.assert_array_equal(double.predict(x), 2 * x)
    with load(runtime_models.signatures, signature="add") as add:
        out = add.predict({"x": x, "w": w})
        assert list(out) == ["sum", "diff"]
        np.testing.assert_array_equal(out["sum"], x + w)
        np.testing.assert_array_equal(out["diff"], x - w)
    with pytest.raises(ModelLoadError, match="has no signature 'nope'; it has: add, double"):
        load(runtime_models.signatures, signature="nope")


# -- input validation --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 8, 8), "float32"), r"shape \(2, 8, 8\) \(rank 3\); expected rank 4: image: float32\[batch, 8, 8, 1\]"),
    (np.zeros((8, 8, 1), "float32"), r"add the batch axis with x\[None\]"),
    (np.zeros((2, 8, 9, 1), "float32"), r"axis 2 must be 9|axis 2 must be 8"),
    (np.zeros((2, 8, 8, 1), "int32"), r"is int32; expected image: float32\[batch, 8, 8, 1\]"),
    (np.array([["a"]]), r"expected"),
    (np.zeros((0, 8, 8, 1), "float32"), r"is empty"),
    ({"img": np.zeros((1, 8, 8, 1))}, r"inputs by name: got \['img'\]; the model takes \['image'\]"),
])
def test_bad_inputs_name_the_expected_spec(runtime_models, bad, message):
    with load(runtime_models.fp32) as model:
        with pytest.raises(DataError, match=message):
            model.predict(bad)


def test_quantized_input_rejects_other_integer_types(runtime_models):
    with load(runtime_models.int8) as model:
        with pytest.raises(DataError, match=r"is uint8; expected float values .* or int8 values already quantized"):
            model.predict(np.zeros((1, 8, 8, 1), "uint8"))


def test_multi_input_errors(runtime_models):
    with load(runtime_models.multi) as model:
        with pytest.raises(DataError, match="pass a list"):
            model.predict(np.zeros((1, 4), "float32"))
        with pytest.raises(DataError, match="got 1 inputs; the model takes 2"):
            model.predict([np.zeros((1, 4), "float32")])
        with pytest.raises(DataError, match=r"different batch sizes \[1, 2\]"):
            model.predict([np.zeros((1, 4), "float32"), np.zeros((2, 3), "float32")])


# -- lifecycle, threads ------------------------------------------------------------------------------------------
def test_close_is_idempotent_and_final(runtime_models, digits_data):
    model = load(runtime_models.fp32)
    model.close()
    model.close()
    with pytest.raises(EdgekitError, match="was closed"):
        model.predict(digits_data["x_val"][:1])


def test_threads_option_and_validation(runtime_models, digits_data):
    x = digits_data["x_val"][:4]
    with load(runtime_models.fp32, threads=2) as two, load(runtime_models.fp32, threads=1) as one:
        assert two.threads == 2
        np.testing.assert_allclose(two.predict(x), one.predict(x), atol=1e-6)
    with load(runtime_models.onnx, threads=2) as model:
        assert model.threads == 2
    with pytest.raises(EdgekitError, match="threads must be a positive integer"):
        load(runtime_models.fp32, threads=0)


@pytest.mark.parametrize("which", ["fp32", "int8", "onnx"])
def test_one_model_shared_by_threads_gives_correct_results(runtime_models, digits_data, which):
    """Concurrent predict calls with different batch sizes (which resize the interpreter) on ONE model."""
    x = digits_data["x_val"]
    with load(getattr(runtime_models, which)) as model:
        expected = {n: model.predict(x[:n]) for n in (1, 3, 8)}
        errors = []

        def work(seed):
            rng = np.random.default_rng(seed)
            try:
                for _ in range(60):
                    n = int(rng.choice([1, 3, 8]))
                    np.testing.assert_array_equal(model.predict(x[:n]), expected[n])
            except Exception as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_clone_gives_independent_models(runtime_models, digits_data):
    x = digits_data["x_val"][:5]
    with load(runtime_models.int8, threads=1) as model:
        clone = model.clone()
        assert isinstance(clone, Model) and clone._engine is not model._engine
        np.testing.assert_array_equal(clone.predict(x), model.predict(x))
        model.close()
        np.testing.assert_array_equal(clone.predict(x[:2]), clone.predict(x)[:2])  # survives the original
        clone.close()


# -- accelerators ------------------------------------------------------------------------------------------------
def test_available_accelerators_has_cpu_first():
    assert available_accelerators("tflite")[0] == "cpu"
    assert available_accelerators("onnx")[0] == "cpu"
    with pytest.raises(EdgekitError, match="unknown model kind 'pt'"):
        available_accelerators("pt")


@pytest.mark.parametrize("accelerator", ["gpu", "npu", "edgetpu"])
def test_unavailable_accelerator_fails_clearly_or_falls_back(runtime_models, digits_data, accelerator):
    if accelerator in available_accelerators("tflite"):
        pytest.skip(f"this machine has a {accelerator}")
    with pytest.raises(AcceleratorError, match=rf"{accelerator}.*available(?: here)?: cpu"):
        load(runtime_models.fp32, accelerator=accelerator)
    with load(runtime_models.fp32, accelerator=accelerator, fallback="cpu") as model:
        assert model.accelerator == "cpu" and model.requested_accelerator == accelerator
        assert model.predict(digits_data["x_val"][:2]).shape == (2, 10)


def test_onnx_execution_provider_errors(runtime_models):
    if "cuda" not in available_accelerators("onnx"):
        with pytest.raises(AcceleratorError, match=r"no ONNX Runtime execution provider for 'cuda'.*available: cpu"):
            load(runtime_models.onnx, accelerator="cuda")
        with load(runtime_models.onnx, accelerator="gpu", fallback="cpu") as model:
            assert model.accelerator == "cpu"
    with pytest.raises(AcceleratorError, match="unknown accelerator 'tpu' for an .onnx model"):
        load(runtime_models.onnx, accelerator="tpu")
    with pytest.raises(AcceleratorError, match="unknown accelerator 'tpu' for a .tflite model; known: cpu, gpu"):
        load(runtime_models.fp32, accelerator="tpu")


def test_external_delegate_paths(runtime_models, tmp_path):
    missing = tmp_path / "libmissing_delegate.so"
    with pytest.raises(AcceleratorError, match=r"delegate library .*libmissing_delegate.so does not exist; "
                                               r"available here: cpu"):
        load(runtime_models.fp32, accelerator="gpu", delegate=str(missing))
    with pytest.raises(AcceleratorError, match="pass accelerator='gpu', 'npu' or 'edgetpu'"):
        load(runtime_models.fp32, delegate=str(missing))
    not_a_delegate = tmp_path / "libplain.so"
    not_a_delegate.write_bytes(b"\x7fELF not really")
    with pytest.raises(AcceleratorError, match="cannot be loaded here"):
        load(runtime_models.fp32, accelerator="gpu", delegate=str(not_a_delegate))


_NOOP_DELEGATE = r"""
#include <stddef.h>
#include <stdint.h>
/* The TfLiteDelegate layout of tensorflow/lite/core/c/common.h; Prepare claims no nodes. */
typedef struct TfLiteDelegate {
  void* data_;
  int (*Prepare)(void* context, struct TfLiteDelegate* delegate);
  void* CopyFromBufferHandle; void* CopyToBufferHandle; void* FreeBufferHandle;
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;
static int Prepare(void* context, TfLiteDelegate* delegate) { return 0; }
static TfLiteDelegate delegate = {NULL, Prepare, NULL, NULL, NULL, 0, NULL};
TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n, void (*report)(const char*)) {
  return &delegate;
}
void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {}
"""


def test_external_delegate_that_takes_nothing_is_reported_partial(runtime_models, digits_data, tmp_path):
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the test delegate")
    source, library = tmp_path / "noop.c", tmp_path / "libnoop_delegate.so"
    source.write_text(_NOOP_DELEGATE)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    x = digits_data["x_val"][:3]
    with load(runtime_models.fp32, accelerator="gpu", delegate=str(library)) as model, \
            load(runtime_models.fp32) as cpu:
        assert model.accelerator == "gpu" and model.fully_delegated is False
        np.testing.assert_allclose(model.predict(x), cpu.predict(x), atol=1e-6)


def test_compiled_model_engine_runs_on_cpu(runtime_models, digits_data):
    """The CompiledModel engine (the gpu/npu path) exercised with LiteRT's CPU accelerator, which exists here."""
    from edgekit.runtime.litert import CompiledEngine
    from edgekit.runtime.verify import verify_tflite

    data = runtime_models.fp32.read_bytes()
    engine = CompiledEngine(data, "digits", verify_tflite(data), "cpu", hardware="cpu")
    model = Model(engine, runtime_models.fp32, "tflite", "cpu")
    x = digits_data["x_val"][:6]
    with model, load(runtime_models.fp32) as reference:
        assert model.fully_delegated is True and model.inputs == reference.inputs
        np.testing.assert_allclose(model.predict(x[:1]), reference.predict(x[:1]), atol=1e-5)
        np.testing.assert_allclose(model.predict(x), reference.predict(x), atol=1e-5)


# -- no TensorFlow -----------------------------------------------------------------------------------------------
def test_runtime_never_imports_tensorflow(runtime_models, tmp_path):
    script = textwrap.dedent(f"""
        import sys, numpy as np
        import edgekit.runtime
        assert "numpy" not in sys.modules or True
        light = {{m for m in ("ai_edge_litert", "onnxruntime") if m in sys.modules}}
        from edgekit.runtime import load
        x = np.zeros((2, 8, 8, 1), "float32")
        for path in ({str(runtime_models.fp32)!r}, {str(runtime_models.int8)!r}):
            with load(path) as m:
                m.predict(x)
        assert "onnxruntime" not in sys.modules, "onnxruntime imported without an .onnx model"
        with load({str(runtime_models.onnx)!r}) as m:
            m.predict(x)
        heavy = sorted(m for m in ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tf2onnx")
                       if m in sys.modules)
        print("LIGHT", sorted(light), "HEAVY", heavy)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LIGHT [] HEAVY []" in result.stdout


@pytest.mark.slow
@pytest.mark.tensorflow
def test_falls_back_to_tf_lite_when_litert_is_missing(runtime_models):
    """With neither ai_edge_litert nor tflite_runtime importable, the same API runs on TensorFlow's tf.lite."""
    script = textwrap.dedent(f"""
        import sys
        for name in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
            sys.modules[name] = None  # makes `import name` fail
        import numpy as np
        from edgekit.runtime import load
        with load({str(runtime_models.int8)!r}, isolate=False) as model:
            print("BACKEND", model.backend, model.predict(np.zeros((2, 8, 8, 1), "float32")).shape)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "BACKEND tf.lite (2, 10)" in result.stdout
