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
    assert parse_size("2MB") == 2 * 1024**2 and parse_size("512 KB") == 512 * 1024 and parse_size("100") == 100
    assert parse_latency("20ms") == 20.0 and parse_latency("0.5s") == 500.0 and parse_latency("800us") == pytest.approx(0.8)
    with pytest.raises(EdgekitError, match="size '2 parsecs' is not understood"):
        parse_size("2 parsecs")
    with pytest.raises(EdgekitError, match="must not be negative"):
        Constraints(max_size=-1)


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
    r = rank(CANDIDATES, 0.99, Constraints(max_accuracy_drop=0.0, max_size=10_000))
    assert r.recommended is None
    assert r.reason.startswith("no variant meets every constraint; closest: int8/tflite (size 300,000 B > 10,000 B")
