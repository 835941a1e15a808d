"""`edgekit run`: outputs, top-k, JSON, images, and one-line errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli


@pytest.fixture()
def sample_npy(tmp_path, digits_data):
    path = tmp_path / "x.npy"
    np.save(path, digits_data["x_val"][:3])
    return path, digits_data["y_val"][:3]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_run_prints_top_k(runtime_models, sample_npy):
    path, labels = sample_npy
    result = invoke("run", runtime_models.int8, "--input", path, "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert "ai_edge_litert on cpu (delegated: partly)" in result.output
    assert "probs: float32[3, 10]" in result.output
    rows = [line for line in result.output.splitlines() if line.startswith("  [")]
    assert len(rows) == 3
    assert [int(r.split("]")[1].split(":")[0]) for r in rows] == labels.tolist()


def test_run_json_matches_the_python_api(runtime_models, sample_npy):
    from edgekit.runtime import load

    path, _ = sample_npy
    result = invoke("run", runtime_models.onnx, "-i", path, "--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["backend"] == "onnxruntime" and report["accelerator"] == "cpu" and report["threads"] == 1
    (out,) = report["outputs"]
    assert out["name"] == "probs" and out["shape"] == [3, 10] and len(out["top_k"]) == 3
    with load(runtime_models.onnx) as model:
        expected = model.predict(np.load(path))
    np.testing.assert_allclose(np.array(out["values"]), expected, rtol=1e-6)


def test_run_single_sample_without_batch_axis(runtime_models, tmp_path, digits_data):
    one = tmp_path / "one.npy"
    np.save(one, digits_data["x_val"][0])
    result = invoke("run", runtime_models.fp32, "-i", one, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["input_shape"] == [1, 8, 8, 1]


def test_run_image(runtime_models, tmp_path, digits_data):
    Image = pytest.importorskip("PIL.Image")
    x = digits_data["x_val"][0, :, :, 0]
    png = tmp_path / "digit.png"
    Image.fromarray(np.round(x * 255).astype("uint8")).save(png)
    result = invoke("run", runtime_models.fp32, "-i", png, "--top-k", "1", "--json")
    assert result.exit_code == 0, result.output
    top = json.loads(result.output)["outputs"][0]["top_k"][0][0]
    assert top[0] == int(digits_data["y_val"][0])


def test_run_npz_by_name_for_multi_input(runtime_models, tmp_path):
    data = tmp_path / "ab.npz"
    np.savez(data, a=np.ones((2, 4), "float32"), b=np.zeros((2, 3), "float32"))
    result = invoke("run", runtime_models.multi, "-i", data, "--json")
    assert result.exit_code == 0, result.output
    assert [o["name"] for o in json.loads(result.output)["outputs"]] == ["zeta", "alpha"]


def test_run_saves_every_output_whole_in_output_order(runtime_models, tmp_path):
    from edgekit.runtime import load

    data, saved = tmp_path / "ab.npz", tmp_path / "out" / "y.npz"
    x = {"a": np.random.default_rng(0).normal(size=(70, 4)).astype("float32"), "b": np.ones((70, 3), "float32")}
    np.savez(data, **x)
    result = invoke("run", runtime_models.multi, "-i", data, "--save-outputs", saved, "--top-k", "0", "--json")
    assert result.exit_code == 0, result.output
    assert [o["values"] for o in json.loads(result.output)["outputs"]] == [[], []]  # too large for the JSON
    with np.load(saved) as got, load(runtime_models.multi) as model:
        expected = model.predict(x)
        assert got.files == ["arr_0", "arr_1"]
        np.testing.assert_array_equal(got["arr_0"], expected["zeta"])
        np.testing.assert_array_equal(got["arr_1"], expected["alpha"])
    assert sorted(p.name for p in saved.parent.iterdir()) == ["y.npz"]  # written in place atomically
    bad = invoke("run", runtime_models.multi, "-i", data, "--save-outputs", tmp_path / "y.txt")
    assert bad.exit_code == 1 and bad.stderr.strip() == f"error: --save-outputs {tmp_path / 'y.txt'}: give a .npz file"


@pytest.mark.parametrize("args, message", [
    (["--accelerator", "edgetpu"], "error: the edgetpu delegate library libedgetpu.so.1 cannot be loaded here"),
    (["--accelerator", "gpu", "--delegate", "/nonexistent/libgpu_delegate.so"],
     "error: the gpu delegate library /nonexistent/libgpu_delegate.so does not exist; available here: cpu"),
    (["--accelerator", "warp"], "error: unknown accelerator 'warp' for a .tflite model"),
])
def test_run_accelerator_errors_are_one_line(runtime_models, sample_npy, args, message):
    from edgekit.runtime import available_accelerators

    if args[1] in available_accelerators("tflite"):
        pytest.skip(f"this machine has {args[1]}")
    result = invoke("run", runtime_models.fp32, "-i", sample_npy[0], *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1


def test_run_fallback_cpu(runtime_models, sample_npy):
    result = invoke("run", runtime_models.fp32, "-i", sample_npy[0], "--accelerator", "edgetpu", "--fallback-cpu",
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["accelerator"] == "cpu"


def test_run_bad_files(runtime_models, tmp_path, sample_npy):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 100)
    result = invoke("run", bad, "-i", sample_npy[0])
    assert result.exit_code == 1 and "error: bad.tflite is not a TFLite model" in result.output
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 5), "float32"))
    result = invoke("run", runtime_models.fp32, "-i", wrong)
    assert result.exit_code == 1
    assert "expected rank 4: image: float32[batch, 8, 8, 1]" in result.output
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = invoke("run", runtime_models.fp32, "-i", pickled)
    assert result.exit_code == 1 and "pickles" in result.output


def test_run_help_has_an_example():
    result = invoke("run", "--help")
    assert result.exit_code == 0 and "edgekit run digits.tflite --input sample.npy" in result.output


def test_regression_outputs_are_values_not_classes(runtime_models, tmp_path, sample_npy):
    """Two Dense heads without softmax: no top-k unless asked; a softmax classifier still gets its top-5."""
    data = tmp_path / "ab.npz"
    np.savez(data, a=np.ones((2, 4), "float32"), b=np.zeros((2, 3), "float32"))
    outs = json.loads(invoke("run", runtime_models.multi, "-i", data, "--json").output)["outputs"]
    assert [o["top_k"] for o in outs] == [[], []] and all(len(o["values"]) == 2 for o in outs)
    asked = json.loads(invoke("run", runtime_models.multi, "-i", data, "--json", "--top-k", "2").output)["outputs"]
    assert all(len(o["top_k"]) == 2 for o in asked)
    probs = json.loads(invoke("run", runtime_models.int8, "-i", sample_npy[0], "--json").output)["outputs"][0]
    assert len(probs["top_k"]) == 3 and len(probs["top_k"][0]) == 5


def test_missing_pillow_points_to_the_runtime_extra(monkeypatch, tmp_path):
    import sys

    from edgekit.data import read_image
    from edgekit.errors import DependencyError

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DependencyError, match=r"pip install 'edgekit\[runtime\]'"):
        read_image(tmp_path / "x.png", (8, 8, 1))


def test_pillow_is_in_the_runtime_extra_and_matplotlib_in_full():
    import configparser
    from pathlib import Path

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    extras = cfg["options.extras_require"]
    assert "pillow" in extras["runtime"] and "matplotlib" in extras["full"]
