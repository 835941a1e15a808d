"""The typed results: JSON round trip, the shipped schema, relative paths (no TensorFlow, no model)."""

import json
import math

import pytest

from edgekit import results as results_json
from edgekit.convert.parity import Parity
from edgekit.errors import EdgekitError
from edgekit.measurement import Latency, Measurement
from edgekit.optimize.metrics import Metrics, WeightStats
from edgekit.optimize.ranking import Ranking, Verdict
from edgekit.optimize.result import LayerReport, Optimization
from edgekit.recipe import Prune, Quantize, Recipe
from edgekit.results import ModelInfo, Original, Results, Settings, Variant, relative_artifact
from edgekit.convert.artifact import Artifact


def artifact(measurement=None, path="variants/a/a.tflite") -> Artifact:
    parity = Parity("seeded random (64 samples)", 0.0, 0.0, 0.0, 1.0, math.inf, 1.0, 1e-4)
    return Artifact(path, "tflite", "none", "float32", 1000, 900, 10, "none", parity, measurement=measurement)


def sample_results() -> Results:
    latency = Latency(1.4, 1.3, 1.5, 0.2, 60, 4, 0.8, (0.75, 0.85), "faster")
    weights = (WeightStats("fc/kernel", "fc", "FULLY_CONNECTED", "int8", 100, 20, 7, 7),)
    measured = Measurement(Metrics("classification", 360, top1=0.97, agreement=0.99), weights, params=10, macs=1000,
                           bytes_by_dtype={"int8": 100}, latency_ms=latency, accelerator="cpu")
    recipe = Recipe("pruned-int8", prune=Prune(0.8), quantize=Quantize("int8"))
    optimization = Optimization(("prune",), (LayerReport("fc", "Dense", 100, 20, 0.8, 7, pruned=True),))
    return Results(
        "0.1.0", "2026-12-01T10:00:00+00:00", ModelInfo("model.h5", "digits", 10, {"direction": "tf_keras"}), Settings(),
        "digits held-out split (360 samples)", Original(Metrics("classification", 360, top1=0.98)),
        variants=(Variant("pruned-int8", recipe, "done", artifacts=(artifact(measured),), optimization=optimization,
                          keras_model="variants/pruned-int8/model.h5", recipe_file="variants/pruned-int8/pruned-int8.recipe.yaml",
                          settings=Settings()),
                  Variant("qat", Recipe("qat", quantize=Quantize("int8", aware=True)), "skipped", "needs training data")),
        ranking=Ranking((Verdict("pruned-int8/tflite", True, (), True),), "pruned-int8/tflite", "smallest"),
        best="best.tflite",
    )


def test_results_round_trip_through_json_and_validate_against_the_shipped_schema():
    results = sample_results()
    text = results_json.dumps(results)
    results_json.validate(json.loads(text))
    back = results_json.loads(text)
    assert back == results and back.format_version == results_json.FORMAT_VERSION
    assert back.variants[0].artifacts[0].measurement.weights[0].sparsity == pytest.approx(0.8)  # derived, recomputed
    assert json.loads(results_json.SCHEMA_PATH.read_text()) == results_json.schema()  # regenerate: python -m edgekit.results


def test_schema_and_reader_refuse_what_does_not_fit():
    data = json.loads(results_json.dumps(sample_results()))
    data["variants"][0]["artifacts"][0]["measurement"]["latency_ms"]["p50"] = "fast"
    with pytest.raises(EdgekitError, match=r"variants/0/artifacts/0/measurement/latency_ms/p50: 'fast' is not of type 'number'"):
        results_json.validate(data)
    data = json.loads(results_json.dumps(sample_results()))
    data["variants"][0]["surprise"] = 1
    with pytest.raises(EdgekitError, match=r"unknown key\(s\) surprise"):
        results_json.loads(json.dumps(data))
    data["format_version"] = 0
    with pytest.raises(EdgekitError, match=f"format_version 0; this edgekit reads {results_json.FORMAT_VERSION}"):
        results_json.loads(json.dumps(data))
    with pytest.raises(EdgekitError, match="variant status must be one of done, skipped, failed"):
        Variant("x", Recipe("x"), "maybe")


def test_artifact_paths_are_made_relative_to_the_output_folder(tmp_path):
    inside = relative_artifact(artifact(path=str(tmp_path / "variants/a/a.tflite")), tmp_path)
    assert inside.path == "variants/a/a.tflite"
    outside = relative_artifact(artifact(path="/elsewhere/a.tflite"), tmp_path)
    assert outside.path == "/elsewhere/a.tflite"
