import pytest

from edgekit.errors import EdgekitError
from edgekit.optimize.ranking import Candidate, Constraints, pareto_front, parse_latency, parse_size, rank


def c(name, acc, gz, lat, file_bytes=None):
    return Candidate(name, acc, acc, file_bytes or gz * 2, gz, lat)


CANDIDATES = [
    c("fp32/tflite", 0.99, 500_000, 0.020),
    c("int8/tflite", 0.99, 150_000, 0.008),
    c("pruned/tflite", 0.985, 50_000, 0.009),
    c("slow-small/tflite", 0.95, 40_000, 0.050),
]


def test_parse_units():
    assert parse_size("2MB") == 2_000_000 and parse_size("512 KB") == 512_000 and parse_size("100") == 100
    assert parse_size("512KiB") == 512 * 1024 and parse_size("1MiB") == 1024**2
    assert parse_latency("20ms") == 20.0 and parse_latency("0.5s") == 500.0 and parse_latency("800us") == pytest.approx(0.8)
    with pytest.raises(EdgekitError, match="size '2 parsecs' is not understood"):
        parse_size("2 parsecs")
    with pytest.raises(EdgekitError, match="latency '20' has no unit; write 20ms, 20s or 20us"):
        parse_latency("20")
    with pytest.raises(EdgekitError, match="must not be negative"):
        Constraints(max_file_bytes=-1)


def test_kilobytes_are_1000_bytes_in_every_table():
    from edgekit._table import human_bytes

    assert human_bytes(45_939) == "45.9 KB" and human_bytes(609_640) == "609.6 KB" and human_bytes(2_500_000) == "2.5 MB"


def test_file_and_download_bounds_are_separate_and_named():
    """--max-size bounded file bytes while the ranking shipped by gzip bytes: a 100 KB bound rejected the 45 KB
    download. Now each bound says what it bounds."""
    small_download = c("pcqat/tflite", 0.99, 45_000, 0.01, file_bytes=160_000)
    r = rank([small_download], 0.99, Constraints(max_download_bytes=100_000))
    assert r.recommended == "pcqat/tflite"
    r = rank([small_download], 0.99, Constraints(max_file_bytes=100_000))
    assert r.recommended is None and r.outcome == "none-meets-constraints"
    assert r.verdicts[0].misses == ("file 160,000 B > 100,000 B (by 60,000 B)",)
    r = rank([small_download], 0.99, Constraints(max_download_bytes=40_000))
    assert r.verdicts[0].misses == ("download (gzip) 45,000 B > 40,000 B (by 5,000 B)",)
    assert rank([], 0.99, Constraints()).outcome == "no-artifact"


def test_latency_noise_cannot_rank_ties_and_the_reason_quotes_no_latency_figure():
    base = Candidate("fp32/tflite", 0.99, 1.0, 600_000, 560_000, 0.035, "baseline")
    # same size, same accuracy: the lucky run (lower median, but a tie) must not win over a measured speed-up
    lucky = Candidate("a/tflite", 0.99, 1.0, 160_000, 150_000, 0.020, "tie")
    faster = Candidate("b/tflite", 0.99, 1.0, 160_000, 150_000, 0.025, "faster")
    r = rank([base, lucky, faster], 0.99, Constraints(), baseline="fp32/tflite")
    assert r.recommended == "b/tflite" and "faster than fp32/tflite (measured interleaved)" in r.reason
    tie = rank([base, lucky], 0.99, Constraints(), baseline="fp32/tflite")
    assert "latency: no measurable difference from fp32/tflite" in tie.reason
    assert "0.02" not in tie.reason and "ms" not in tie.reason


def test_without_labels_rank_by_fidelity_and_say_accuracy_was_not_measured():
    base = Candidate("fp32/tflite", None, 1.0, 600_000, 560_000, 0.03, "baseline", snr_db=float("inf"))
    good = Candidate("int8/tflite", None, 0.995, 160_000, 150_000, 0.02, "faster", snr_db=31.0)
    bad = Candidate("pruned/tflite", None, 0.90, 160_000, 50_000, 0.02, "faster", snr_db=9.0)
    r = rank([base, good, bad], None, Constraints(max_accuracy_drop=1.0), baseline="fp32/tflite")
    assert r.basis == "fidelity" and r.recommended == "int8/tflite"
    assert "accuracy not measured (no labels): ranked by fidelity to the original (top-1 agreement 99.50%, SNR 31.0 dB)" in r.reason
    misses = {v.name: v.misses for v in r.verdicts}
    assert misses["pruned/tflite"] == ("top-1 agreement 90.00% < 99% (accuracy not measured: the bound applies to "
                                       "agreement with the original)",)


def test_pareto_front_keeps_only_undominated():
    assert pareto_front(CANDIDATES) == {"int8/tflite", "pruned/tflite", "slow-small/tflite"}


def test_recommends_the_smallest_variant_meeting_every_constraint():
    r = rank(CANDIDATES, 0.99, Constraints(max_accuracy_drop=1.0), baseline="fp32/tflite")
    assert r.recommended == "pruned/tflite"
    assert "10.0× smaller than fp32/tflite" in r.reason
    misses = {v.name: v.misses for v in r.verdicts}
    assert misses["slow-small/tflite"] == ("accuracy drop 4.00 pt > 1 pt (by 3.00 pt)",)


def test_latency_is_ranked_on_what_was_measured_not_assumed():
    r = rank(CANDIDATES, 0.99, Constraints(max_accuracy_drop=5, max_latency_ms=0.0085))
    assert r.recommended == "int8/tflite"


def test_unmeetable_constraints_name_the_closest_and_by_how_much():
    r = rank(CANDIDATES, 0.99, Constraints(max_accuracy_drop=0.0, max_file_bytes=10_000))
    assert r.recommended is None
    assert r.reason.startswith("no variant meets every constraint; closest: int8/tflite (file 300,000 B > 10,000 B")


def test_a_fleet_is_ranked_on_each_artifacts_worst_device():
    from dataclasses import replace

    from edgekit.optimize.ranking import worst_case

    # int8 is the fastest on the A72-like device, but the NPU-like one runs it slower than fp32 and scores it lower
    a72 = [replace(c("fp32/tflite", 0.99, 500_000, 20.0), latency_verdict="baseline"),
           replace(c("int8/tflite", 0.99, 150_000, 8.0), latency_verdict="faster")]
    npu = [replace(c("fp32/tflite", 0.99, 500_000, 5.0), latency_verdict="baseline"),
           replace(c("int8/tflite", 0.97, 150_000, 12.0), latency_verdict="slower")]
    fleet = worst_case([a72, npu])
    assert [(f.name, f.accuracy, f.latency_ms, f.latency_verdict) for f in fleet] == [
        ("fp32/tflite", 0.99, 20.0, "baseline"), ("int8/tflite", 0.97, 12.0, "slower")]
    limits = Constraints(max_accuracy_drop=1.0, max_latency_ms=15.0)
    assert rank(a72, 0.99, limits, baseline="fp32/tflite").recommended == "int8/tflite"
    assert rank(npu, 0.99, limits, baseline="fp32/tflite").recommended == "fp32/tflite"
    everywhere = rank(fleet, 0.99, limits, baseline="fp32/tflite")
    assert everywhere.recommended is None and everywhere.outcome == "none-meets-constraints"
    assert "latency 20.000 ms > 15 ms" in " ".join(everywhere.verdicts[0].misses)
    assert "accuracy drop 2.00 pt > 1 pt" in " ".join(everywhere.verdicts[1].misses)
    missing = worst_case([a72, [replace(x, latency_ms=None, latency_verdict=None) for x in npu]])
    assert all(f.latency_ms is None and f.latency_verdict is None for f in missing)  # not measured stays unknown
