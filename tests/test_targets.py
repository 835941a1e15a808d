"""The targets table: a new target is one entry plus its converter, and everything format-dependent follows
(no TensorFlow: the converter here copies a committed fixture, as a real one would write its artifact)."""

import json
import math
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from edgekit.convert.artifact import Artifact
from edgekit.convert.parity import Parity
from edgekit.convert.targets import convert, convert_for_recipe, default_output
from edgekit.errors import EdgekitError, RecipeError
from edgekit.optimize.pipeline import for_target
from edgekit.recipe import Quantize, Recipe
from edgekit.targets import ACCELERATORS, QUANTIZE_MODES, TARGETS, Accelerator, Target

FIXTURE = Path(__file__).parent / "data" / "digits_int8.tflite"
calls = []


def fake_npu_converter(model, output, quant, calibration=None, eval_data=None, trust_model=False, **options):
    """Writes the artifact (here: a prebuilt int8 .tflite) and describes it, like every converter."""
    calls.append({"quant": quant, "calibration": calibration, "options": options})
    shutil.copyfile(FIXTURE, output)
    size = Path(output).stat().st_size
    parity = Parity("none (prebuilt)", 0.0, 0.0, 0.0, 1.0, math.inf, None, None)
    return Artifact(str(output), "fake-npu", quant.mode, quant.io_dtype, size, size, 0, "data", parity)


FAKE = Target("fake-npu", ".npu.tflite", fake_npu_converter, quantize_modes=("int8", "int16x8"), io_dtypes=("int8",),
              calibration_modes=("int8", "int16x8"), runtime="litert", options=("cores",), tag="_npu")


@pytest.fixture()
def fake_target(monkeypatch):
    monkeypatch.setitem(TARGETS, "fake-npu", FAKE)
    monkeypatch.setitem(ACCELERATORS, "fake-npu", Accelerator("fake-npu", "default", format="fake-npu"))
    calls.clear()


def keras_file(path: Path) -> Path:
    """A .keras file edgekit's checks accept (a config of built-in layers); the fake converter never loads it."""
    config = {"class_name": "Sequential", "config": {"name": "net", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8, 1]}},
        {"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 10}}]}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.13.0"}))
    return path


def test_a_target_added_to_the_table_converts_validates_and_names_its_files(fake_target, tmp_path):
    model = keras_file(tmp_path / "net.keras")
    assert default_output(model, "fake-npu", "int16x8") == tmp_path / "net_npu_int16x8.npu.tflite"
    artifact = convert(model, to="fake-npu", quantize="int8", calibration="random", opset=13)
    assert artifact.path == str(tmp_path / "net_npu_int8.npu.tflite") and Path(artifact.path).read_bytes() == FIXTURE.read_bytes()
    # defaults from the entry; calibration passed because int8 needs it; the options every converter takes
    # (COMMON_OPTIONS) and, of the rest, only those the target declares (opset is ONNX's, so it is not passed)
    assert calls[-1] == {"quant": Quantize("int8", io_dtype="int8"), "calibration": "random",
                         "options": {"input_range": None, "allow_low_parity": False}}
    with pytest.raises(EdgekitError, match="the fake-npu target takes --quantize int8 or int16x8; got 'float16'"):
        convert(model, to="fake-npu", quantize="float16")
    with pytest.raises(EdgekitError, match="the fake-npu target takes --io-dtype int8; got 'uint8'"):
        convert(model, to="fake-npu", quantize="int8", io_dtype="uint8")

    recipe = Recipe("npu", quantize=Quantize("int8"), formats=("tflite", "fake-npu"))
    assert recipe.needs_calibration and Recipe.from_yaml(recipe.to_yaml()) == recipe
    with pytest.raises(RecipeError, match="the fake-npu format needs quantize.mode int8 or int16x8"):
        Recipe("f16", quantize=Quantize("float16"), formats=("fake-npu",))
    convert_for_recipe(None, recipe, "fake-npu", tmp_path / "npu.npu.tflite", calibration="data")
    assert calls[-1]["quant"] == Quantize("int8", io_dtype="int8") and calls[-1]["calibration"] == "data"


def test_an_accelerator_that_runs_one_format_keeps_the_recipes_it_can_run(fake_target):
    kept, skipped = for_target([Recipe("fp32"), Recipe("int8", quantize=Quantize("int8", io_dtype="float32"))], "fake-npu")
    assert [r.name for r in kept] == ["int8"] and kept[0].formats == ("fake-npu",) and kept[0].quantize.io_dtype == "int8"
    assert skipped[0].status == "skipped" and "runs int8 or int16x8 models only; this variant is none" in skipped[0].reason


def test_unknown_names_list_the_table():
    names = ", ".join(TARGETS)  # tflite, onnx, edgetpu, ...
    with pytest.raises(EdgekitError, match=f"unknown target 'coreml'; choose one of {names}$"):
        convert("m.h5", to="coreml")
    with pytest.raises(RecipeError, match=f"formats must be one of {names}; got 'coreml'"):
        Recipe("x", formats=("coreml",))


def test_cli_choices_are_the_tables():
    from edgekit.cli import cli

    params = {p.name: p for p in cli.commands["convert"].params}
    assert list(params["to"].type.choices) == list(TARGETS)
    assert list(params["quantize"].type.choices) == list(QUANTIZE_MODES)
    optimize = {p.name: p for p in cli.commands["optimize"].params}
    assert list(optimize["target"].type.choices) == list(ACCELERATORS)
    assert replace(FAKE, name="x").filename("m", "int8") == "m_npu_int8.npu.tflite"
