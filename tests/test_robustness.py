"""What compression costs beyond top-1: per-class damage, robustness under perturbations, download bytes."""

import gzip
import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli

from edgekit.device_bench.download import download_bytes
from edgekit.errors import DataError
from edgekit.optimize.metrics import classification_metrics, macro_prf, most_damaged, per_class
from edgekit.optimize.robustness import SEVERITIES, measure_robustness, perturbed_sets, robustness_drop


def test_per_class_figures_match_scikit_learn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 500)
    pred = np.where(rng.random(500) < 0.7, y, rng.integers(0, 6, 500))
    pred[pred == 5] = 4  # class 5 is never predicted: precision 0 by convention
    got = per_class(y, pred, 6)
    p, r, f, support = precision_recall_fscore_support(y, pred, labels=range(6), zero_division=0)
    np.testing.assert_allclose(got.precision, p)
    np.testing.assert_allclose(got.recall, r)
    np.testing.assert_allclose(got.f1, f)
    assert list(got.support) == list(support)
    assert [list(row) for row in got.confusion] == confusion_matrix(y, pred, labels=range(6)).tolist()
    mp, mr, mf, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    np.testing.assert_allclose(macro_prf(y, pred), (mp, mr, mf))


def test_classification_metrics_carry_per_class_and_the_damaged_class_is_named():
    y = np.repeat(np.arange(4), 25)
    good = np.eye(4)[y]
    bad = good.copy()
    bad[y == 2] = np.eye(4)[0]  # the variant loses class 2 entirely
    before, after = classification_metrics(good, y), classification_metrics(bad, y)
    assert before.per_class.f1 == (1.0, 1.0, 1.0, 1.0)
    assert after.per_class.confusion[2] == (25, 0, 0, 0)
    damaged = most_damaged(before.per_class, after.per_class)
    assert [d.label for d in damaged] == [2, 0] and damaged[0].f1_after == 0.0


def test_download_bytes_compress_and_delta_from_a_baseline(tmp_path):
    import bsdiff4
    import zstandard

    rng = np.random.default_rng(0)
    old = rng.integers(0, 255, 200_000, dtype=np.uint8).tobytes()
    new = bytearray(old)
    new[1000:1400] = rng.integers(0, 255, 400, dtype=np.uint8).tobytes()  # a small update
    (tmp_path / "old.tflite").write_bytes(old)
    (tmp_path / "new.tflite").write_bytes(bytes(new))
    d = download_bytes(tmp_path / "new.tflite", baseline=tmp_path / "old.tflite")
    assert d.file == 200_000
    assert d.gzip == len(gzip.compress(bytes(new), compresslevel=9, mtime=0))
    assert d.zstd == len(zstandard.ZstdCompressor(level=19).compress(bytes(new)))
    assert d.bsdiff_delta == len(bsdiff4.diff(old, bytes(new)))
    assert d.delta < 5_000 < 150_000 < d.gzip  # random bytes do not compress; the delta is the update's size
    assert d.to_ship == d.delta
    patched = bsdiff4.patch(old, bsdiff4.diff(old, bytes(new)))
    assert patched == bytes(new)
    plain = download_bytes(tmp_path / "new.tflite")
    assert plain.delta is None and plain.to_ship == min(plain.gzip, plain.zstd)
    with pytest.raises(DataError, match="baseline .* is not a file"):
        download_bytes(tmp_path / "new.tflite", baseline=tmp_path / "missing.tflite")


@pytest.fixture(scope="module")
def digits_sets(digits_keras, digits_data):
    return perturbed_sets(digits_keras, digits_data["x_val"], digits_data["y_val"], limit=128)


def test_robustness_falls_with_severity_and_attacks_transfer(digits_keras, digits_data, digits_sets):
    x, y = digits_data["x_val"][:128], digits_data["y_val"][:128]
    assert {p.name for p in digits_sets} == set(SEVERITIES)  # images: every perturbation applies
    assert all(p.x.min() >= x.min() and p.x.max() <= x.max() for p in digits_sets)  # clipped to the data's range
    clean = float(np.mean(np.argmax(digits_keras.predict(x, verbose=0), axis=1) == y))
    results = measure_robustness(lambda a: digits_keras.predict(a, verbose=0), digits_sets)
    acc = {(r.name, r.severity): r.accuracy for r in results}
    assert acc[("gaussian_noise", 0.5)] < acc[("gaussian_noise", 0.1)] <= clean
    assert acc[("fgsm", 0.1)] < acc[("fgsm", 0.05)] < clean  # crafted on the same float model: white-box
    assert acc[("pgd", 0.1)] <= acc[("fgsm", 0.1)]
    assert all(r.agreement == 1.0 for r in results)  # the original agrees with itself
    again = perturbed_sets(digits_keras, x, y, limit=128)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(digits_sets, again))  # seeded
    assert robustness_drop(results, results) == 0.0


def test_an_artifact_is_judged_on_the_same_perturbed_inputs(tmp_path, digits_keras, digits_data, digits_data_path, digits_sets):
    from edgekit import runtime
    from edgekit.convert import to_tflite

    original = measure_robustness(lambda a: digits_keras.predict(a, verbose=0), digits_sets)
    artifact = to_tflite(digits_keras, tmp_path / "i8.tflite", quantize="int8", calibration=digits_data_path)
    with runtime.load(artifact.path) as model:
        int8 = measure_robustness(model.predict, digits_sets)
    assert [(r.name, r.severity) for r in int8] == [(r.name, r.severity) for r in original]
    assert all(r.agreement >= 0.9 for r in int8)
    drop = robustness_drop(original, int8)
    assert drop == pytest.approx(np.mean([o.accuracy - v.accuracy for o, v in zip(original, int8)]))
    assert abs(drop) < 0.05


@pytest.fixture(scope="module")
def robust_run(tmp_path_factory, digits_model_path, digits_data_path):
    from edgekit.convert import to_tflite
    from edgekit.optimize.pipeline import Settings, optimize
    from edgekit.recipe import Quantize, Recipe

    root = tmp_path_factory.mktemp("robust-run")
    baseline = to_tflite(digits_model_path, root / "deployed.tflite").path  # what the fleet runs now
    recipes = (Recipe("fp32"), Recipe("int8", quantize=Quantize("int8")))
    results = optimize(digits_model_path, root / "out", data=digits_data_path, recipes=recipes,
                       settings=Settings(bench_seconds=0.05, baseline=str(baseline)))
    return root / "out", results


def test_optimize_measures_beyond_top1_on_every_shipped_artifact(robust_run, digits_data):
    from sklearn.metrics import confusion_matrix, f1_score

    from edgekit import runtime
    from edgekit import results as results_json

    out, results = robust_run
    assert [r.name for r in results.original.robustness][:3] == ["gaussian_noise"] * 3
    for variant, art in results.measured():
        m = art.measurement
        acc = {(r.name, r.severity): r.accuracy for r in m.robustness}
        noise = [acc[("gaussian_noise", s)] for s in (0.1, 0.25, 0.5)]
        assert noise[2] < noise[0] <= m.metrics.top1 + 0.01 and acc[("fgsm", 0.1)] < m.metrics.top1  # below clean, falling
        assert m.robustness_drop is not None and abs(m.robustness_drop) < 0.05
        with runtime.load(out / art.path) as model:  # independent: sklearn on the artifact's own predictions
            pred = np.argmax(model.predict(digits_data["x_val"]), axis=1)
        np.testing.assert_allclose(m.metrics.per_class.f1, f1_score(digits_data["y_val"], pred, average=None, labels=range(10), zero_division=0))
        assert [list(r) for r in m.metrics.per_class.confusion] == confusion_matrix(digits_data["y_val"], pred, labels=range(10)).tolist()
        d = m.download
        assert d.gzip == art.gzip_bytes and d.zstd < art.file_bytes and d.delta is not None
    fp32 = results.artifact("fp32/tflite")[1].measurement.download
    int8 = results.artifact("int8/tflite")[1].measurement.download
    assert fp32.delta < 1000 < int8.delta  # the deployed file is the float32 conversion: no update needed
    assert results.ranking.recommended == "fp32/tflite" and "smallest update from the baseline" in results.ranking.reason
    results_json.validate(json.loads((out / "results.json").read_text()))
    page = (out / "report.html").read_text()
    assert "Accuracy under perturbations and transferred attacks" in page and "Per-class F1 change against the original" in page
    assert "delta from baseline" in page and "Δ robust (pt)" in page


def test_robustness_constraint_and_opt_out(robust_run):
    from edgekit.optimize.pipeline import candidates
    from edgekit.optimize.ranking import Constraints, rank

    _, results = robust_run
    found = candidates(results)
    hurt = [replace(c, robustness_drop=0.02) for c in found]
    strict = rank(hurt, results.original.metrics.top1, Constraints(max_robustness_drop=1.0))
    assert strict.recommended is None and all(v.misses == ("robustness drop 2.00 pt > 1 pt",) for v in strict.verdicts)
    assert rank(found, results.original.metrics.top1, Constraints(max_robustness_drop=5.0)).recommended is not None
    unmeasured = [replace(c, robustness_drop=None) for c in found]
    verdict = rank(unmeasured, results.original.metrics.top1, Constraints(max_robustness_drop=1.0)).verdicts[0]
    assert "robustness not measured" in verdict.misses[0]


def test_cli_flags_for_robustness_and_download(tmp_path, digits_model_path):
    r = CliRunner().invoke(cli, ["optimize", str(digits_model_path), "--baseline", str(tmp_path / "nope.tflite"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "--baseline" in r.stderr and "is not a file" in r.stderr
    assert not (tmp_path / "o").exists()
