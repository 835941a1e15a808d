"""Hostile model files (issue 11 holes 1, 2, 4, 7): SavedModels that run ops or Lambdas, Keras files that open
paths, .keras zip bombs. Built here; refused before TensorFlow loads them, with nothing written and no marker."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from edgekit.errors import ModelLoadError, UnsafeModelError
from edgekit.keras.loading import check_model_file

from hostile import (keras_lambda_savedmodel, keras_zip_bomb, run_cli, savedmodel_const_bomb, savedmodel_writer,
                     snapshot, string_lookup_h5)
from test_hostile import MEMORY_CAP_MB


@pytest.fixture(scope="module")
def hostile_models(tmp_path_factory):
    """The crafted models, saved once; each test runs in its own folder and checks its own marker."""
    root = tmp_path_factory.mktemp("hostile_models")
    marker = root / "marker.txt"
    models = {
        "writer": savedmodel_writer(root / "writer", marker),
        "lambda": keras_lambda_savedmodel(root / "lambda_tf", marker),
        "lookup": string_lookup_h5(root / "lookup.h5", root / "vocab.txt"),
        "const": savedmodel_const_bomb(root / "const_bomb"),
    }
    return models, marker


def _refused(run, folder, before, message, marker):
    assert run.code == 1, (run.code, run.stderr)
    assert len(run.lines) == 1 and run.lines[0].startswith("error: "), run.stderr
    assert message in run.lines[0], run.lines[0]
    assert snapshot(folder) == before
    assert not marker.exists()
    assert run.peak_rss_mb < MEMORY_CAP_MB, run.peak_rss_mb


@pytest.mark.parametrize("model, message", [
    ("writer", "is a SavedModel whose graph runs WriteFile in function __inference_serve_"),
    ("lambda", "contains Lambda, which would run code"),
    ("lookup", "contains StringLookup(vocabulary="),
    ("const", "declares 2.4 GB of constants and variables (the largest: constant 'Const', 2.4 GB), past the 2.0 GB"),
])
@pytest.mark.parametrize("command", ["convert", "optimize"])
def test_code_and_file_access_refused_without_trust(tmp_path, hostile_models, model, message, command):
    models, marker = hostile_models
    work = tmp_path / "work"
    work.mkdir()
    before = snapshot(work)
    args = [command, models[model], "-o", work / ("out.tflite" if command == "convert" else "out")]
    run = run_cli(args, work)
    _refused(run, work, before, message, marker)
    assert ("--max-expand SIZE" if model == "const" else "--trust-model") in run.lines[0]
    assert run.peak_rss_mb < 300  # refused from the file alone: TensorFlow never loaded


@pytest.mark.slow
def test_trust_model_on_a_savedmodel_means_running_it(tmp_path, hostile_models):
    """The documented meaning of --trust-model on a SavedModel: its ops run (the parity reference run writes the
    marker). This is what the inspection above prevents."""
    models, marker = hostile_models
    try:
        run_cli(["convert", models["writer"], "--trust-model", "-o", tmp_path / "out.tflite"], tmp_path)
        assert marker.read_text() == "written by the model"
    finally:
        marker.unlink(missing_ok=True)


def test_savedmodel_inspection_keeps_the_savers_checkpoint_ops(hostile_models):
    from edgekit.keras.savedmodel_graph import deny_table, inspect_savedmodel_graph

    graph = inspect_savedmodel_graph(hostile_models[0]["lambda"])
    assert {"SaveV2", "RestoreV2", "MergeV2Checkpoints"} <= graph.ops  # every SavedModel's saver has them...
    assert graph.denied == ()  # ...and they are allowed there
    assert [o["class_name"] for o in graph.keras_objects][:3] == ["Functional", "InputLayer", "Lambda"]
    from edgekit._tf import tf

    unknown = sorted(op for op in deny_table() if not hasattr(tf().raw_ops, op))
    assert unknown == [], f"not TensorFlow ops (typo?): {unknown}"


def test_keras_zip_bomb_is_refused_before_reading(tmp_path):
    bomb = keras_zip_bomb(tmp_path / "bomb.keras")
    before = snapshot(tmp_path)
    run = run_cli(["convert", bomb, "-o", tmp_path / "out.tflite"], tmp_path)
    assert run.code == 1 and len(run.lines) == 1, run.stderr
    assert re.search(r"member 'model.weights.h5' expands \d{4}-fold \(1.1 MB to 1.1 GB\), past the 100-fold", run.lines[0])
    assert snapshot(tmp_path) == before and run.peak_rss_mb < MEMORY_CAP_MB
    big = keras_zip_bomb(tmp_path / "big.keras", expand_mb=3000)
    with pytest.raises(ModelLoadError, match=r"its 3 member\(s\) expand to 3.1 GB, past the 2.0 GB limit"):
        from edgekit import limits

        with limits.using(limits.Limits(max_ratio=10_000)):
            check_model_file(big)


@pytest.mark.parametrize("kind", ["fifo", "loop", "pbtxt"])
def test_model_paths_described_honestly(tmp_path, kind):
    path = tmp_path / ("model.h5" if kind != "pbtxt" else "sm")
    if kind == "fifo":
        os.mkfifo(path)
        message = "is a FIFO (named pipe), not a regular file"
    elif kind == "loop":
        os.symlink(path, path)
        message = "is a symbolic link loop"
    else:
        path.mkdir()
        (path / "saved_model.pbtxt").write_text("meta_graphs {}")
        message = "holds a text SavedModel (saved_model.pbtxt)"
    before = snapshot(tmp_path)
    run = run_cli(["convert", path, "-o", tmp_path / "out.tflite"], tmp_path, timeout=60)
    assert run.code == 1 and run.lines == [run.error_lines[0]] and message in run.lines[0], run.stderr
    assert snapshot(tmp_path) == before


def test_keras3_h5_lambda_loads_when_trusted(tmp_path):
    from edgekit._tf import keras3
    from edgekit.keras.loading import load_keras3_model

    keras = keras3()
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp)).save(tmp_path / "lam3.h5")
    with pytest.raises(UnsafeModelError, match="contains Lambda"):
        load_keras3_model(tmp_path / "lam3.h5")
    model = load_keras3_model(tmp_path / "lam3.h5", trust_model=True)
    np.testing.assert_allclose(np.asarray(model(np.ones((1, 4), np.float32))), 2.0)


def test_h5_declaring_a_gigabyte_is_refused_before_reading(tmp_path):
    from hostile import h5_bomb

    bomb = h5_bomb(tmp_path / "bomb.h5")
    assert bomb.stat().st_size < 10_000
    before = snapshot(tmp_path)
    run = run_cli(["convert", bomb, "-o", tmp_path / "out.tflite"], tmp_path)
    assert run.code == 1 and len(run.lines) == 1, run.stderr
    assert "dataset 'model_weights/d/kernel' expands 1024000000-fold (0 B stored, 1.0 GB declared)" in run.lines[0]
    assert snapshot(tmp_path) == before and run.peak_rss_mb < MEMORY_CAP_MB


def test_compiled_savedmodel_metrics_and_optimizer_are_not_layers(tmp_path, digits_keras):
    """A compiled tf-keras SavedModel's metadata lists its metrics and optimizer; they are not custom layers."""
    from edgekit.keras.loading import load_keras_model

    digits_keras.save(tmp_path / "saved", save_format="tf")
    assert load_keras_model(tmp_path / "saved").count_params() == digits_keras.count_params()
