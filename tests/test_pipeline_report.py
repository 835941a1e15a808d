from edgekit.optimize.pipeline_report import preferred_energy, render, rows


def test_energy_prefers_measurement_and_converts_units():
    estimates = [
        {"method": "op-count", "value": 24.7, "units": "uJ/inference"},
        {"method": "time×power", "value": 0.0226, "units": "mJ/inference"},
        {"method": "measured", "value": None, "units": "mJ/inference"},
    ]
    best = preferred_energy(estimates)
    assert best["method"] == "time×power" and abs(best["uj"] - 22.6) < 1e-9
    assert preferred_energy(estimates[:1]) == {"method": "op-count", "uj": 24.7, "source": ""}
    assert preferred_energy([{"method": "measured", "value": None, "units": "mJ/inference"}]) is None


def test_report_escapes_names_and_states_what_did_not_run():
    results = {
        "model": {"name": "<script>x</script>"},
        "variants": [
            {"name": "a", "status": "done", "artifacts": [{"format": "tflite", "file_bytes": 10, "gzip_bytes": 5,
                                                          "metrics": {"top1": 0.9}, "latency_ms": {"p50": 1.0}}]},
            {"name": "b", "status": "skipped", "reason": "needs training data for fine-tuning (--data)", "artifacts": []},
        ],
        "ranking": {"recommended": "a/tflite", "reason": "smallest", "verdicts": [{"name": "a/tflite", "meets": True, "misses": [], "pareto": True}]},
    }
    page = render(results)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "b: skipped — needs training data for fine-tuning (--data)" in page
    assert [r["name"] for r in rows(results)] == ["a/tflite"]
