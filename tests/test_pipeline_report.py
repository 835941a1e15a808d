from edgekit.device_bench.energy import EnergyEstimate
from edgekit.measurement import Latency, Measurement
from edgekit.optimize.metrics import Metrics
from edgekit.optimize.pipeline_report import preferred_energy, render, rows
from edgekit.optimize.ranking import Ranking, Verdict
from edgekit.recipe import Recipe
from edgekit.results import ModelInfo, Original, Results, Settings, Variant
from test_results import artifact


def test_energy_prefers_measurement_and_converts_units():
    estimates = [
        EnergyEstimate("op-count", "uJ/inference", 24.7),
        EnergyEstimate("time×power", "mJ/inference", 0.0226),
        EnergyEstimate("measured", "mJ/inference", None),
    ]
    best = preferred_energy(estimates)
    assert best["method"] == "time×power" and abs(best["uj"] - 22.6) < 1e-9
    assert preferred_energy(estimates[:1]) == {"method": "op-count", "uj": 24.7, "source": ""}
    assert preferred_energy(estimates[2:]) is None


def test_report_escapes_names_and_states_what_did_not_run():
    latency = Latency(1.0, 0.9, 1.1, 0.2, 40, 4)
    measured = artifact(Measurement(Metrics("classification", 10, top1=0.9), latency_ms=latency))
    results = Results(
        "0", "now", ModelInfo("<script>x</script>.h5", "digits", 1), Settings(), "test data", Original(Metrics("classification", 10, top1=0.95)),
        variants=(Variant("a", Recipe("a"), "done", artifacts=(measured,)),
                  Variant("b", Recipe("b"), "skipped", "needs training data for fine-tuning (--data)")),
        ranking=Ranking((Verdict("a/tflite", True, (), True),), "a/tflite", "smallest"),
    )
    page = render(results)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "b: skipped — needs training data for fine-tuning (--data)" in page
    assert [r["name"] for r in rows(results)] == ["a/tflite"]
