"""`edgekit optimize --executor`: the variants as tasks on a real (local) Ray, against the local executor."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.errors import EdgekitError
from edgekit.optimize.executors import check_executor
from edgekit.optimize.pipeline import Settings, optimize
from edgekit.recipe import Quantize, Recipe

ray = pytest.importorskip("ray")

RECIPES = (Recipe("fp32"), Recipe("int8", quantize=Quantize("int8")), Recipe("float16", quantize=Quantize("float16")))


def test_executor_names_are_checked_before_any_work(tmp_path, digits_model_path):
    assert check_executor("ray:10.0.0.5:6379") == ("ray", "10.0.0.5:6379")
    with pytest.raises(EdgekitError, match="unknown executor 'dask'; choose one of local, ray"):
        Settings(executor="dask")
    r = CliRunner().invoke(cli, ["optimize", str(digits_model_path), "--executor", "spark", "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "unknown executor 'spark'" in r.stderr and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_ray_gives_the_local_executors_variants_accuracies_and_recommendation(tmp_path, digits_model_path, digits_data_path):
    fast = Settings(bench_seconds=0.05, robustness=False)
    local = optimize(digits_model_path, tmp_path / "local", data=digits_data_path, recipes=RECIPES, settings=fast)
    remote = optimize(digits_model_path, tmp_path / "ray", data=digits_data_path, recipes=RECIPES,
                      settings=Settings(**{**fast.__dict__, "executor": "ray"}))
    assert remote.execution.executor == "ray" and sum(remote.execution.variants_per_node.values()) == 3
    assert local.execution.executor == "local"
    on = {f"{v.name}/{a.format}": a.measurement for v, a in local.measured()}
    off = {f"{v.name}/{a.format}": a.measurement for v, a in remote.measured()}
    assert set(on) == set(off) == {"fp32/tflite", "int8/tflite", "float16/tflite"}
    for name in on:
        assert abs(on[name].metrics.top1 - off[name].metrics.top1) <= 0.005
        assert off[name].macs == on[name].macs and off[name].latency_ms is not None  # benchmarked here, not on a node
    assert local.ranking.recommended == remote.ranking.recommended
    saved = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert saved["execution"]["executor"] == "ray" and saved["settings"]["executor"] == "ray"
    assert all((tmp_path / "ray" / a.path).is_file() for _, a in remote.measured())  # artifacts came back to OUTDIR


def _task_pids(name: str) -> list[int]:
    """Processes running the variant ``name`` as a Ray task (Ray titles a worker process after its task's name)."""
    title = f"ray::edgekit variant {name}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().split(b"\0")[0] == title:
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


@pytest.mark.slow
def test_a_killed_task_fails_its_variant_only_and_a_rerun_resumes(tmp_path, digits_model_path, digits_data_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("variants:\n  - name: fp32\n  - name: pruned-int8\n    prune: {sparsity: 0.5}\n"
                      "    quantize: {mode: int8}\n    train: {epochs: 30}\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "edgekit", "optimize", str(digits_model_path), "--data", str(digits_data_path),
           "--recipe", str(recipe), "--executor", "ray", "--no-robustness", "-o", str(out)]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None and killed is None:
        pids = _task_pids("pruned-int8")  # the 30-epoch fine-tune, killed mid-run
        if pids:
            time.sleep(3)
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.2)
    stdout, stderr = run.communicate(timeout=240)
    assert killed is not None, stderr
    results = json.loads((out / "results.json").read_text())
    status = {v["name"]: (v["status"], v.get("reason") or "") for v in results["variants"]}
    assert status["fp32"][0] == "done"
    assert status["pruned-int8"][0] == "failed" and "worker running it died" in status["pruned-int8"][1]
    assert results["ranking"]["recommended"] == "fp32/tflite"

    recipe.write_text(recipe.read_text().replace("epochs: 30", "epochs: 1"))  # the re-run finishes the killed one
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "fp32: reused" in again.stderr
    status = {v["name"]: v["status"] for v in json.loads((out / "results.json").read_text())["variants"]}
    assert status == {"fp32": "done", "pruned-int8": "done"}
