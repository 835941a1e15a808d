"""edgekit.devices against a real OpenSSH sshd on 127.0.0.1 (tests/loopback_sshd.py).

The "device" is a venv that `edgekit devices setup` makes over SSH with only edgekit[runtime] in it (no TensorFlow);
every bench result says which environment ran it, so the tests can prove it ran there.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.devices import Device, resolve_devices
from edgekit.errors import EdgekitError

sys.path.insert(0, str(Path(__file__).parent))
from loopback_sshd import LoopbackSshd, _keygen, python_running, unavailable  # noqa: E402

pytest.importorskip("asyncssh", reason="needs edgekit[devices]")


# ---- the inventory and the command line that runs on a device: no sshd needed ------------------------------
def test_inventory_validates_and_resolves(tmp_path):
    inv = tmp_path / "devices.yaml"
    inv.write_text(yaml.safe_dump({"devices": {"pi": {"host": "10.0.0.2", "user": "pi", "device_profile": "rpi4"}},
                                   "groups": {"lab": ["pi"]}}))
    (pi,) = resolve_devices(["lab"], inv)
    assert (pi.address, pi.remote_python) == ("pi@10.0.0.2:22", "edgekit-device/venv/bin/python")
    (one_off,) = resolve_devices(["bob@192.168.1.7:2222"])
    assert (one_off.user, one_off.host, one_off.port) == ("bob", "192.168.1.7", 2222)
    with pytest.raises(EdgekitError, match=r"unknown device 'nope'.*pi, lab"):
        resolve_devices(["nope"], inv)
    inv.write_text(yaml.safe_dump({"devices": {"pi": {"host": "10.0.0.2", "password": "x"}}}))
    with pytest.raises(EdgekitError, match=r"unknown keys \['password'\]; allowed: .*identity_file"):
        resolve_devices(["pi"], inv)
    for bad, match in [({"host": "a;rm -rf /"}, "not a host name"), ({"host": "h", "workdir": "../etc"}, "'..'"),
                       ({"host": "h", "port": 0}, "not a TCP port")]:
        inv.write_text(yaml.safe_dump({"devices": {"d": bad}}))
        with pytest.raises(EdgekitError, match=match):
            resolve_devices(["d"], inv)


def test_remote_paths_stay_in_workdir_and_arguments_are_quoted():
    from edgekit.devices.ssh import edgekit_command

    d = Device(name="d", host="h", workdir="/srv/edgekit")
    assert d.remote_path("models/ab.tflite") == "/srv/edgekit/models/ab.tflite"
    with pytest.raises(EdgekitError, match="would leave the workdir"):
        d.remote_path("../../etc/passwd")
    command = edgekit_command(d, "bench", "m; rm -rf ~ $(reboot).tflite", "--json")
    assert shlex.split(command) == ["/srv/edgekit/venv/bin/python", "-m", "edgekit", "bench",
                                    "m; rm -rf ~ $(reboot).tflite", "--json"]


# ---- a real sshd ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def loopback(tmp_path_factory):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def lab(loopback, tmp_path_factory):
    """An inventory whose 'loopback' device got edgekit[runtime] from `edgekit devices setup`, plus broken twins."""
    root = tmp_path_factory.mktemp("lab")
    work = root / "work"
    _keygen(root / "impostor")  # what known_hosts says the device's key is: not the key the server has
    other_key = root / "other_known_hosts"
    other_key.write_text(f"[127.0.0.1]:{loopback.port} " + " ".join((root / "impostor.pub").read_text().split()[:2]))
    venv_python = str(work / "venv" / "bin" / "python")
    devices = {
        "loopback": loopback.device(work),
        "nopython": loopback.device(root / "w2", python="/nonexistent/bin/python"),
        "noedgekit": loopback.device(root / "w3", python=str(Path(sys.base_prefix) / "bin" / "python3")),
        "wrongkey": loopback.device(work, python=venv_python, known_hosts=str(other_key)),
        "newhost": loopback.device(work, python=venv_python, known_hosts=str(root / "empty_known_hosts")),
        "slow": loopback.device(work, python=venv_python, timeout=3),
        "metered": loopback.device(work, python=venv_python, energy_command="echo 2.5", energy_unit="W",
                                   device_profile="rpi4"),
    }
    inv = root / "devices.yaml"
    inv.write_text(yaml.safe_dump({"devices": devices}))
    done = CliRunner().invoke(cli, ["devices", "setup", "loopback", "--devices", str(inv)])
    assert done.exit_code == 0, done.output
    return {"inventory": inv, "root": root, "venv": work / "venv", "python": venv_python, "server": loopback}


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _invoke_dropping(server: LoopbackSshd, *args, within: float = 30):
    """The command line, while ``server``'s device drops off the network once its edgekit bench runs."""
    def pull_the_plug():
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if python_running(server, "bench"):
                server.kill()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=pull_the_plug)
    killer.start()
    try:
        return _invoke(*args)
    finally:
        killer.join()


def test_check_reports_the_device_venv_and_what_is_missing(lab):
    done = _invoke("devices", "check", "loopback", "nopython", "noedgekit", "--devices", lab["inventory"], "--json")
    assert done.exit_code == 1  # two devices are not ready
    checks = {c["device"]: c for c in json.loads(done.stdout)}
    ok = checks["loopback"]
    assert ok["ready"] and ok["info"]["prefix"] == str(lab["venv"]) and ok["info"]["missing"] == []
    assert "tensorflow" not in ok["info"]["packages"] and ok["info"]["packages"]["ai-edge-litert"] == "2.3.0"
    assert "cpu" in ok["info"]["accelerators"]["tflite"]
    assert checks["nopython"]["problems"] == ["python /nonexistent/bin/python not found on the device (run: edgekit "
                                              "devices setup nopython, or set 'python' in the inventory)"]
    assert checks["noedgekit"]["problems"][0].startswith("edgekit is not installed for ")
    assert checks["noedgekit"]["notes"][0].endswith("Python " + ".".join(map(str, sys.version_info[:3])))


def test_bench_on_the_device_agrees_with_a_local_bench(lab, runtime_models, tmp_path):
    from edgekit._fs import part_name

    model = runtime_models.fp32
    models = lab["root"] / "work" / "models"
    models.mkdir(parents=True, exist_ok=True)
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not Path(f"/proc/{pid}").exists())
    stale = Path(part_name(str(models / "a.tflite")).replace(f"-{os.getpid()}@", f"-{dead}@"))
    live, foreign = Path(part_name(str(models / "b.tflite"))), models / f"c.tflite.part-{dead}@elsewhere"
    for p in (stale, live, foreign):  # what killed runs left: this host's dead one goes; the others are not ours
        p.write_bytes(b"partial")
    args = ["--min-time", "0.5", "--json"]
    remote = _invoke("bench", model, "--device", "loopback", "--devices", lab["inventory"], *args)
    assert not stale.exists() and live.exists() and foreign.exists()
    live.unlink(), foreign.unlink()
    local = _invoke("bench", model, *args)
    assert remote.exit_code == 0, remote.stderr
    (r,), (here,) = json.loads(remote.stdout), json.loads(local.stdout)
    assert r["device"]["name"] == "loopback" and r["model"] == str(model)
    assert r["conditions"]["python_prefix"] == str(lab["venv"])  # it ran in the device's runtime-only venv
    assert "tensorflow" not in r["conditions"]["versions"]
    assert r["device"]["remote_model"].startswith(str(lab["root"] / "work" / "models") + "/")
    assert (r["stats"], r["backend"], r["settings"]["threads"]) == (here["stats"], here["backend"], 1)
    # the same CPU, measured one after the other on a shared 2-core machine: equal within its noise
    assert 0.5 < r["latency"]["p50"] / here["latency"]["p50"] < 2.0


def test_interleaved_bench_on_the_device_names_the_local_files(lab, runtime_models):
    done = _invoke("bench", runtime_models.fp32, runtime_models.int8, "--interleaved", "--device", "loopback",
                   "--devices", lab["inventory"], "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["baseline"] == str(runtime_models.fp32) and result["device"]["name"] == "loopback"
    assert [s["name"] for s in result["spreads"]] == [str(runtime_models.fp32), str(runtime_models.int8)]
    assert str(lab["root"]) not in result["method"]  # the device's paths are not what the user gave
    assert result["spreads"][1]["verdict"] in ("faster", "tie", "slower") and result["spreads"][1]["ratio"] > 0


def test_fleet_keeps_the_good_devices_and_says_why_each_other_failed(lab, runtime_models, tmp_path):
    start = time.monotonic()
    done = _invoke("bench", runtime_models.int8, "--device", "loopback", "--device", "nopython", "--device",
                   "noedgekit", "--device", "wrongkey", "--device", "newhost", "--runs", "20", "--devices",
                   lab["inventory"], "--json")
    assert done.exit_code == 1
    (result,) = json.loads(done.stdout)
    assert result["device"]["name"] == "loopback" and result["latency"]["runs"] == 20
    errors = sorted(done.stderr.splitlines())
    assert len(errors) == 4 and all(e.startswith("error: device ") for e in errors), errors
    assert "error: device newhost: 127.0.0.1:" in errors[0] and "pass --accept-new-host-key" in errors[0]
    assert errors[1].startswith("error: device noedgekit: edgekit is not installed for")
    assert errors[2].startswith("error: device nopython: python /nonexistent/bin/python not found")
    assert errors[3].startswith("error: device wrongkey: the host key of 127.0.0.1:") and "does not match" in errors[3]
    assert time.monotonic() - start < 30


def test_energy_comes_from_the_devices_sensor_and_profile(lab, runtime_models):
    done = _invoke("bench", runtime_models.int8, "--device", "metered", "--runs", "50", "--devices", lab["inventory"],
                   "--json")
    assert done.exit_code == 0, done.stderr
    (r,) = json.loads(done.stdout)
    energy = {e["method"]: e for e in r["energy"]}
    assert r["settings"]["energy_command"] == "echo 2.5" and r["settings"]["device_profile"] == "rpi4"
    assert energy["measured"]["value"] > 0 and "echo 2.5" in energy["measured"]["source"]
    assert energy["time×power"]["value"] > 0


def test_optimize_refuses_devices_that_are_not_ready_before_any_work(lab, digits_model_path, tmp_path):
    start = time.monotonic()
    done = _invoke("optimize", digits_model_path, "-o", tmp_path / "out", "--device", "loopback", "--device",
                   "nopython", "--device", "wrongkey", "--devices", lab["inventory"])
    assert done.exit_code == 1 and not (tmp_path / "out").exists() and time.monotonic() - start < 30
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: device nopython: python /nonexistent/bin/python not found on the device") and (
        " | device wrongkey: the host key of 127.0.0.1:" in line), line
    assert "loopback" not in line
    lonely = _invoke("optimize", digits_model_path, "--device-accuracy", "-o", tmp_path / "out")
    assert lonely.exit_code == 2 and "--device-accuracy runs the held-out data on the devices" in lonely.stderr


def test_accept_new_host_key_records_a_new_host_but_never_a_changed_one(lab):
    known = Path(yaml.safe_load(lab["inventory"].read_text())["devices"]["newhost"]["known_hosts"])
    known.unlink(missing_ok=True)
    assert _invoke("devices", "check", "newhost", "--devices", lab["inventory"]).exit_code == 1
    assert _invoke("devices", "check", "newhost", "--devices", lab["inventory"], "--accept-new-host-key").exit_code == 0
    host_key = (lab["server"].root / "host_key.pub").read_text().split()[1]
    assert host_key in known.read_text() and known.read_text().startswith(f"[127.0.0.1]:{lab['server'].port} ")
    assert _invoke("devices", "check", "newhost", "--devices", lab["inventory"]).exit_code == 0  # now known
    changed = _invoke("devices", "check", "wrongkey", "--devices", lab["inventory"], "--accept-new-host-key")
    assert changed.exit_code == 1 and "does not match" in changed.stdout


def test_a_timeout_is_one_line_and_stops_the_remote_bench(lab, runtime_models):
    start = time.monotonic()
    done = _invoke("bench", runtime_models.fp32, "--device", "slow", "--min-time", "60", "--devices", lab["inventory"])
    assert done.exit_code == 1 and time.monotonic() - start < 20
    assert done.stderr.strip() == "error: device slow: timed out after 3 s (raise 'timeout' in the inventory)"
    deadline = time.monotonic() + 10  # the signal reaches the remote bench: it stops, it does not run on for 60 s
    while python_running(lab["server"], "bench") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not python_running(lab["server"], "bench")


def test_sigterm_during_a_device_run_is_one_line_and_stops_the_remote_bench(lab, runtime_models):
    import signal
    import subprocess

    run = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", str(runtime_models.fp32), "--device", "loopback",
                            "--min-time", "60", "--devices", str(lab["inventory"])], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])})
    deadline = time.monotonic() + 30
    while not python_running(lab["server"], "bench") and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 143  # no asyncio traceback for the interrupted connection, only the one line
    assert stderr.splitlines() == ["error: terminated (SIGTERM); nothing half-written and no temporary file was left"]
    deadline = time.monotonic() + 10
    while python_running(lab["server"], "bench") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not python_running(lab["server"], "bench")


def test_a_device_that_drops_mid_run_keeps_the_others_and_a_rerun_resumes(lab, runtime_models, tmp_path):
    flaky = LoopbackSshd(tmp_path / "flaky", user_key=lab["server"].user_key).start()
    inv = tmp_path / "devices.yaml"
    devices = yaml.safe_load(lab["inventory"].read_text())["devices"]
    devices["flaky"] = flaky.device(tmp_path / "flaky-work", python=lab["python"])
    inv.write_text(yaml.safe_dump({"devices": devices}))
    out = tmp_path / "fleet.json"
    args = ["bench", runtime_models.fp32, "--device", "loopback", "--device", "flaky", "--runs", "200",
            "--devices", inv, "-o", out, "--json"]

    try:
        first = _invoke_dropping(flaky, *args)
        assert first.exit_code == 1
        assert first.stderr.startswith("error: device flaky: connection lost during the run"), first.stderr
        (kept,) = json.loads(out.read_text())
        assert kept["device"]["name"] == "loopback" and json.loads(first.stdout) == [kept]
        flaky.start()  # the device is back: the re-run measures only what is missing
        again = _invoke(*args)
        assert again.exit_code == 0, again.stderr
        results = json.loads(again.stdout)
        assert [r["device"]["name"] for r in results] == ["loopback", "flaky"]
        assert results[0] == kept  # reused, not measured again
        assert results[1]["device"]["pushed_bytes"] == 0  # the model was already there (content-addressed)
    finally:
        flaky.kill()


@pytest.mark.slow
@pytest.mark.tensorflow  # converts the variants here; the devices run them without TensorFlow
def test_optimize_ranks_on_each_device_keeps_the_others_when_one_drops_and_resumes(lab, digits_model_path,
                                                                                   digits_data_path, tmp_path):
    """Two devices, accuracy measured through their runtimes; one drops mid-run; the re-run resumes."""
    flaky = LoopbackSshd(tmp_path / "flaky", user_key=lab["server"].user_key).start()
    inv = tmp_path / "devices.yaml"
    devices = yaml.safe_load(lab["inventory"].read_text())["devices"]
    devices["flaky"] = flaky.device(tmp_path / "flaky-work", python=lab["python"])
    liar = tmp_path / "liar-python"  # a hostile device: its edgekit run sends back other outputs than it computed
    liar.write_text(f"""#!/bin/sh
{shlex.quote(lab["python"])} "$@" || exit $?
while [ $# -gt 0 ]; do
  if [ "$1" = --save-outputs ]; then
    exec {shlex.quote(lab["python"])} -c 'import numpy, sys; numpy.savez(sys.argv[1], numpy.zeros((3, 7)))' "$2"
  fi
  shift
done
""")
    liar.chmod(0o755)
    devices["liar"] = lab["server"].device(tmp_path / "liar-work", python=str(liar))
    hidden = tmp_path / "no-ort" / "onnxruntime"  # a device whose runtime has LiteRT but no ONNX Runtime
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('No module named onnxruntime')\n")
    no_ort = tmp_path / "no-ort-python"
    no_ort.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(hidden.parent))} exec {shlex.quote(lab['python'])} \"$@\"\n")
    no_ort.chmod(0o755)
    devices["noort"] = lab["server"].device(tmp_path / "noort-work", python=str(no_ort))
    inv.write_text(yaml.safe_dump({"devices": devices}))
    (check,) = json.loads(_invoke("devices", "check", "noort", "--devices", inv, "--json").stdout)
    assert check["ready"] and check["info"]["unusable"] == {"onnxruntime": "onnxruntime is not installed; install it "
                                                                           "with: pip install 'edgekit[runtime]'"}
    assert check["notes"] == ["onnxruntime does not load (onnxruntime is not installed; install it with: pip install "
                              "'edgekit[runtime]'): its .onnx artifacts cannot run there"]
    recipes = tmp_path / "recipes.yaml"
    recipes.write_text("variants:\n  - name: fp32\n    formats: [tflite, onnx]\n  - name: dynamic\n"
                       "    quantize: {mode: dynamic}\n")
    out = tmp_path / "out"
    args = ["optimize", digits_model_path, "--data", digits_data_path, "--recipe", recipes, "-o", out, "--device",
            "loopback", "--device", "flaky", "--device-accuracy", "--no-robustness", "--devices", inv, "--json"]

    from edgekit import results as results_json
    from edgekit.optimize.pipeline import candidates

    try:
        first = _invoke_dropping(flaky, *args, "--device", "liar", "--device", "noort", within=300)
        assert first.exit_code == 1, first.stderr
        errors = first.stderr.splitlines()[-2:]
        assert errors[0].startswith("error: device flaky: connection lost during the run"), errors
        assert errors[1] == ("error: device liar: the outputs of fp32/tflite cannot be scored: it returned outputs of "
                             "shapes [(3, 7)]; the original's are [(360, 10)]")
        kept = results_json.loads(first.stdout)
        assert [(d.name, d.failure is None) for d in kept.devices] == [("loopback", True), ("flaky", False),
                                                                       ("liar", False), ("noort", True)]
        # the device that cannot run the .onnx measures the rest; the .onnx is ruled out there and for the fleet
        onnx = kept.artifact("fp32/onnx")[1].measurement
        assert onnx.on("noort").failure.startswith("onnxruntime is not installed") and onnx.on("loopback").failure is None
        assert kept.artifact("dynamic/tflite")[1].measurement.on("noort").latency_ms.p50 > 0
        noort = {v.name: v for v in kept.devices[3].ranking.verdicts}
        assert not noort["fp32/onnx"].meets and noort["fp32/onnx"].misses[0].startswith(
            "does not run on device noort: onnxruntime is not installed")
        assert not {v.name: v for v in kept.ranking.verdicts}["fp32/onnx"].meets
        assert kept.ranking.recommended is not None and not (out / "best-flaky.tflite").exists()
        assert any(w.startswith("device flaky was not measured (device flaky: connection lost") for w in kept.warnings)

        flaky.start()  # the device is back: the re-run builds nothing and measures only flaky
        again = _invoke(*args)
        assert again.exit_code == 0, again.stderr
    finally:
        flaky.kill()
    results = results_json.loads(again.stdout)
    results_json.validate(json.loads((out / "results.json").read_text()))  # the shipped schema knows devices
    assert all(v.reused for v in results.variants)
    loopback, back = results.devices
    assert loopback.reused and loopback.latency == kept.devices[0].latency and not back.reused and back.failure is None
    assert results.settings.device_accuracy and back.accuracy and back.run.python == lab["python"]
    assert back.conditions.python_prefix == str(lab["venv"]) and "tensorflow" not in back.conditions.versions
    artifacts = {f"{v.name}/{a.format}": a for v, a in results.measured()}
    assert set(artifacts) == {"fp32/tflite", "fp32/onnx", "dynamic/tflite"}
    for name, a in artifacts.items():
        m = a.measurement
        assert [o.device for o in m.devices] == ["loopback", "flaky"] and m.latency_ms is None
        for on in m.devices:
            assert on.latency_ms.p50 > 0 and on.load_ms > 0 and on.peak_rss_bytes > 0
            assert on.transfer.remote_model.endswith(f"/models/{on.transfer.model_sha256}{Path(a.path).suffix}")
            # the held-out data ran through the device's runtime: the same LiteRT on the same CPU scores the same
            assert on.metrics.top1 == m.metrics.top1 and on.metrics.agreement == m.metrics.agreement
    for d in results.devices:  # each device ranked on its own latencies
        assert d.latency.baseline_artifact == "fp32/tflite" and d.ranking.recommended in artifacts
        assert [c.latency_ms for c in candidates(results, d.name)] == [artifacts[n].measurement.on(d.name).latency_ms.p50
                                                                       for n in artifacts]
        assert (out / d.best).read_bytes() == (out / artifacts[d.ranking.recommended].path).read_bytes()
        assert d.best == f"best-{d.name}.tflite" and (out / f"best-{d.name}.recipe.yaml").is_file()
    assert results.ranking.reason.startswith("on each of the 2 devices (loopback, flaky, their worst figures): ")
    assert (out / results.best).read_bytes() == (out / artifacts[results.ranking.recommended].path).read_bytes()
    # the device's workdir keeps the models by content, and no outputs or partial copies
    workdir = tmp_path / "flaky-work"
    assert sorted(p.name for p in (workdir / "models").iterdir()) == sorted(
        {f"{o.transfer.model_sha256}{Path(a.path).suffix}" for a in artifacts.values() for o in a.measurement.devices
         if o.device == "flaky"} | {p.name for p in (workdir / "models").glob("*.npz")})
    assert list((workdir / "outputs").iterdir()) == []
    report = (out / "report.html").read_text()
    assert "On device loopback (" in report and "On device flaky (" in report and "Ship " in report
    # the same OUTDIR without devices: nothing is built again; this machine benchmarks and ranks the artifacts
    here = _invoke(*args[:args.index("--device")], "--no-robustness", "--json")
    assert here.exit_code == 0, here.stderr
    local = results_json.loads(here.stdout)
    assert all(v.reused for v in local.variants) and local.devices == () and local.latency is not None
    for v, a in local.measured():
        assert a.measurement.devices == () and a.measurement.load_ms > 0 and a.measurement.latency_ms.p50 > 0
    assert not list(out.glob("best-*"))  # the device run's per-device copies are not this run's recommendations
