"""`edgekit optimize` end to end on the digits sample, with a small recipe set to keep the suite fast."""

import html
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit import results as results_json
from edgekit.cli import cli
from edgekit.optimize.pipeline import Settings, optimize
from edgekit.optimize.progress import Progress
from edgekit.optimize.ranking import Constraints
from edgekit.recipe import Prune, Quantize, Recipe, Train

RECIPES = (
    Recipe("fp32", formats=("tflite", "onnx")),
    Recipe("int8", quantize=Quantize("int8"), formats=("tflite", "onnx")),
    Recipe("pruned-int8", prune=Prune(0.8), quantize=Quantize("int8"), train=Train(epochs=3)),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits_model_path, digits_data_path):
    out = tmp_path_factory.mktemp("optimize")
    steps = []
    results = optimize(digits_model_path, out, data=digits_data_path, recipes=RECIPES, settings=Settings(bench_seconds=0.2),
                       progress=Progress(on_step=steps.append))
    return out, results, steps


def test_every_variant_is_measured_on_its_artifact(run):
    out, results, steps = run
    rows = {f"{v.name}/{a.format}": a for v, a in results.measured()}
    assert set(rows) == {"fp32/tflite", "fp32/onnx", "int8/tflite", "int8/onnx", "pruned-int8/tflite"}
    original = results.original.metrics.top1
    assert original > 0.97
    for name, a in rows.items():
        m = a.measurement
        assert not Path(a.path).is_absolute() and a.file_bytes == (out / a.path).stat().st_size
        assert m.metrics.samples == 360 and m.macs > 1_000_000 and m.latency_ms.p50 > 0
        spread = m.latency_ms  # measured interleaved with fp32/tflite, in rounds
        assert spread.p25 <= spread.p50 <= spread.p75 and spread.rounds >= 2
        assert spread.verdict == "baseline" if name == "fp32/tflite" else spread.ratio_ci95[0] <= spread.ratio <= spread.ratio_ci95[1]
        assert any(e.method == "op-count" and e.value > 0 for e in m.energy)
        recipe = (out / a.path).with_suffix(".recipe.yaml").read_text()
        assert "tensorflow 2." in recipe and Recipe.from_yaml(recipe).name == name.split("/")[0]
    assert rows["int8/tflite"].measurement.metrics.top1 >= original - 0.01  # int8 within 1 point of float
    assert rows["int8/onnx"].measurement.metrics.top1 >= original - 0.01  # ONNX Runtime int8 too, at under 0.4x the size
    assert rows["int8/onnx"].quantize == "int8" and rows["int8/onnx"].file_bytes < 0.4 * rows["fp32/onnx"].file_bytes
    assert rows["pruned-int8/tflite"].gzip_bytes < 0.5 * rows["int8/tflite"].gzip_bytes
    assert rows["fp32/onnx"].measurement.metrics.agreement == 1.0
    pruned = next(v for v in results.variants if v.name == "pruned-int8")
    assert pruned.optimization.steps == ("prune",) and (out / pruned.keras_model).is_file()
    assert any(step.startswith("[3/3] pruned-int8: fine-tuning") for step in steps)


def test_int8_variants_check_their_op_to_layer_map_also_when_pruned(run):
    """A pruned model's layers keep the calls of the wrapped model tfmot stripped: its map was "not checked
    (IndexError)" in report.html."""
    _, results, _ = run
    for name in ("int8", "pruned-int8"):
        mapping = next(v for v in results.variants if v.name == name).int8_sensitivity.mapping
        assert mapping["matched"] == mapping["checked"] == 7, (name, mapping)
        assert mapping["summary"] == "7/7 layers reproduce their Keras output"


def test_results_json_validates_against_the_shipped_schema_and_reads_back(run):
    out, results, _ = run
    text = (out / "results.json").read_text()
    results_json.validate(json.loads(text))
    assert results_json.loads(text) == results
    assert json.loads(results_json.SCHEMA_PATH.read_text()) == results_json.schema()  # the shipped schema is current


def test_recommendation_is_copied_and_explained(run):
    out, results, _ = run
    ranking = results.ranking
    sizes = {f"{v.name}/{a.format}": a.gzip_bytes for v, a in results.measured()}
    feasible = [v.name for v in ranking.verdicts if v.meets]
    assert ranking.recommended == min(feasible, key=sizes.get)  # the smallest to ship within 1 pt of the original
    assert "smaller than fp32/tflite" in ranking.reason
    variant = ranking.recommended.split("/")[0]
    assert results.best == "best.tflite"
    assert (out / "best.tflite").read_bytes() == (out / f"variants/{variant}/{variant}.tflite").read_bytes()
    assert Recipe.from_yaml((out / "best.recipe.yaml").read_text()).name == variant
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["ranking"]["recommended"] == ranking.recommended and on_disk["versions"]["tensorflow"] and on_disk["conditions"]
    assert "variants:" in (out / "recipes.yaml").read_text()


def test_without_data_only_post_training_variants_run(tmp_path, digits_model_path):
    results = optimize(digits_model_path, tmp_path, recipes=(RECIPES[0], RECIPES[2], Recipe("f16", quantize=Quantize("float16"))),
                       settings=Settings(bench_seconds=0.1))
    status = {v.name: (v.status, v.reason) for v in results.variants}
    assert status["pruned-int8"] == ("skipped", "needs training data for fine-tuning (--data)")
    assert status["fp32"][0] == status["f16"][0] == "done"
    assert results.original.metrics.task == "fidelity"
    assert (tmp_path / "report.html").is_file() and results.ranking.recommended
    results_json.validate(json.loads((tmp_path / "results.json").read_text()))
    # no labels: ranked by fidelity, shown in the table, and said
    ranking = results.ranking
    assert ranking.basis == "fidelity" and "accuracy not measured (no labels): ranked by fidelity" in ranking.reason
    f16 = next(v for v in results.variants if v.name == "f16").artifacts[0].measurement.metrics
    assert f16.agreement > 0.9 and f16.snr_db > 20
    assert "accuracy was not measured" in (tmp_path / "report.html").read_text()


def test_edgetpu_target_keeps_fully_int8_variants(tmp_path, digits_model_path, digits_data_path):
    results = optimize(digits_model_path, tmp_path, data=digits_data_path, recipes=RECIPES[:2], settings=Settings(target="edgetpu", bench_seconds=0.1))
    status = {v.name: v.status for v in results.variants}
    assert status == {"int8": "done", "fp32": "skipped"}
    (art,) = next(v for v in results.variants if v.name == "int8").artifacts
    assert art.format == "edgetpu" and art.io_dtype == "uint8" and art.edgetpu.first_cpu_op is None
    # No Edge TPU here: latency comes from this machine's CPU, and the results say so instead of passing it off.
    note = art.measurement.latency_note
    assert art.measurement.accelerator == "cpu" and note.startswith("latency measured on this machine's CPU, not the edgetpu target")
    assert html.escape(note) in (tmp_path / "report.html").read_text()
    results_json.validate(json.loads((tmp_path / "results.json").read_text()))


def test_cli_bad_inputs_are_one_line_before_any_model_work(tmp_path, digits_model_path, monkeypatch):
    import edgekit.optimize.engine as engine

    def no_model_work(*args, **kwargs):
        raise AssertionError("the model was loaded before the options, files and recipes were checked")

    monkeypatch.setattr(engine, "_load", no_model_work)
    runner = CliRunner()
    out = tmp_path / "out"
    import numpy as np

    wrong_shape = tmp_path / "mnist_sized.npz"
    np.savez(wrong_shape, x=np.zeros((20, 28, 28, 1), np.float32), y=np.arange(20) % 10)
    cases = [
        (["--max-download", "2 parsecs"], 1, "error: size '2 parsecs' is not understood; write e.g. 2MB, 512KB (1 KB = 1000 B), 512KiB (1024 B) or a number of bytes"),
        (["--max-latency", "20"], 1, "error: latency '20' has no unit; write 20ms, 20s or 20us"),
        (["--device-profile", "unknown"], 1, "error: unknown device profile 'unknown'; available: coral-devboard,"),
        (["--recipe", "nope"], 1, "error: recipe file nope does not exist (or name a preset: default, edgetpu, mcu)"),
        (["--max-ram", "128KB"], 2, "--max-ram/--max-flash apply to --target mcu"),
        (["--data", str(tmp_path / "none.npz")], 1, "error: "),
        (["--max-size", "100KB"], 2, "--max-size is ambiguous and was removed: use --max-file-size"),
        (["--threads", "0"], 1, "error: threads must be at least 1, got 0"),
        (["--data", str(wrong_shape)], 1, "(training inputs): input 'input' expects shape (N, 8, 8, 1); got (16, 28, 28, 1)"),
    ]
    for args, code, message in cases:
        r = runner.invoke(cli, ["optimize", str(digits_model_path), *args, "-o", str(out)])
        errors = [line for line in r.stderr.splitlines() if line.lower().startswith("error")]
        assert r.exit_code == code and message in r.stderr and len(errors) == 1, (args, r.stderr)
        assert not out.exists()
    r = runner.invoke(cli, ["optimize", str(tmp_path / "none.h5"), "-o", str(out)])
    assert r.exit_code == 1 and "does not exist" in r.stderr


def test_cli_presets_by_name_and_listed():
    r = CliRunner().invoke(cli, ["optimize", "--list-recipes"])
    assert r.exit_code == 0 and "default" in r.output and "edgetpu" in r.output and "pruned-clustered-qat-int8" in r.output


def test_single_class_labels_fall_back_to_fidelity_and_unmet_constraints_exit_4(tmp_path, digits_model_path, digits_data):
    """Held-out labels of one class made every variant score 100 %: warn, rank by fidelity; and a run whose
    variants all miss a constraint exits 4 (documented), not 0."""
    import numpy as np

    keep = digits_data["y_val"] == 3
    data = tmp_path / "one_class.npz"
    np.savez(data, x_train=digits_data["x_train"], y_train=digits_data["y_train"], x_val=digits_data["x_val"][keep],
             y_val=digits_data["y_val"][keep])
    recipe = tmp_path / "fp32.yaml"
    recipe.write_text("name: fp32\n")
    out = tmp_path / "out"
    out.mkdir()
    for stale in ("best.tflite", "best.recipe.yaml", "best-pi4.tflite"):  # an earlier run's recommendations
        (out / stale).write_text("earlier")
    r = CliRunner().invoke(cli, ["optimize", str(digits_model_path), "--data", str(data), "--recipe", str(recipe),
                                 "--max-file-size", "1KB", "-o", str(out), "--json"])
    assert r.exit_code == 4, r.output
    assert not list(out.glob("best*"))  # nothing is recommended now: no file says otherwise
    results = json.loads((out / "results.json").read_text())
    results_json.validate(results)
    assert results["ranking"]["outcome"] == "none-meets-constraints" and results["ranking"]["basis"] == "fidelity"
    assert any(w.startswith("the held-out labels hold a single class (3)") and "ranked by fidelity" in w
               for w in results["warnings"])
    assert results["original"]["metrics"]["top1"] is None and "labels not used" in results["evaluated_on"]
    assert "single class" in (out / "report.html").read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (make test installs it when missing)")
def test_report_renders_in_a_browser(run, tmp_path):
    out, results, _ = run
    page = (out / "report.html").resolve()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<table id=\"variants\">" in dom and dom.count("<tr class=") == 5
    # four matplotlib plots inline, a point per artifact in both trade-off plots, fixed units on the axes
    assert dom.count('<svg class="plot"') == 6 and dom.count('id="point-') == 10
    assert "gzip (KB, 1 KB = 1000 B, log scale)" in dom and "top-1 accuracy (%)" in dom and "µJ per inference" in dom
    assert "interquartile range" in dom and "float32" in dom and "int8" in dom  # the dtype legend is all there
    assert f"Ship {results.ranking.recommended}" in dom and "<h1>edgekit optimize: model.h5</h1>" in dom
    assert "energy / inf (µJ, op-count estimate)" in dom
    shot = out / "report.png"
    subprocess.run([CHROMIUM, *flags, "--window-size=1300,1500", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000  # a real rendering, kept next to the report for review


# Runs last in this module: it re-ranks the shared output folder under other constraints.
def test_rerun_reuses_finished_variants_and_reranks(run, digits_model_path, digits_data_path):
    out, first, _ = run
    steps = []
    again = optimize(digits_model_path, out, data=digits_data_path, recipes=RECIPES,
                     settings=Settings(bench_seconds=0.2, constraints=Constraints(max_accuracy_drop=0.0, max_file_bytes=1000)),
                     progress=Progress(on_step=steps.append))
    assert len([s for s in steps if "reused" in s]) == 3 and not any("fine-tuning" in s for s in steps)
    assert again.ranking.recommended is None
    assert again.ranking.reason.startswith("no variant meets every constraint; closest:")
    assert "No recommendation" in (out / "report.html").read_text()


def test_eta_prices_fine_tuning_by_epochs_not_by_the_quick_variants(monkeypatch):
    """The old estimate averaged quick post-training variants over all: '22 s left' at 22 s of a 160 s run."""
    import edgekit.optimize.progress as progress_module

    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    recipes = [Recipe("fp32"), Recipe("int8", quantize=Quantize("int8")),
               Recipe("pruned", prune=Prune(0.5), train=Train(epochs=3)),
               Recipe("qat", quantize=Quantize("int8", aware=True), train=Train(epochs=2))]
    lines = []
    steps = Progress(on_step=lines.append)
    steps.begin(recipes)
    for i, seconds in enumerate([2.0, 4.0]):  # two post-training variants: 3 s on average
        clock[0] += seconds
        steps.finished(i)
    steps.step(2, "pruned", "fine-tuning")
    assert lines[-1] == "[3/4] pruned: fine-tuning (6 s elapsed, estimate after the first fine-tuned variant)"
    clock[0] += 60.0  # 3 epochs: 20 s an epoch
    steps.finished(2)
    steps.step(3, "qat", "fine-tuning")
    assert lines[-1] == "[4/4] qat: fine-tuning (66 s elapsed, ~40 s left)"
    no_data = Progress(on_step=lines.append)
    no_data.begin(recipes, can_train=False)
    clock[0] += 2.0
    no_data.finished(0)
    no_data.step(1, "int8", "converting")
    assert lines[-1].endswith("~2 s left)")  # the fine-tuned variants will be skipped


def test_no_artifact_at_all_exits_3(tmp_path, digits_model_path):
    """Every variant skipped (fine-tuning without --data): no recommendation, and the exit status says why."""
    recipe = tmp_path / "pruned.yaml"
    recipe.write_text("name: pruned\nprune: {sparsity: 0.5}\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["optimize", str(digits_model_path), "--recipe", str(recipe), "-o", str(out)])
    assert r.exit_code == 3, r.output
    assert "no recommendation: no variant produced an artifact" in r.output
    assert json.loads((out / "results.json").read_text())["ranking"]["outcome"] == "no-artifact"
