"""What `edgekit optimize --device` costs and whether it agrees with a local run: the same recipes on the digits
sample measured here, on one loopback device, on two at once, and on two with --device-accuracy.

The "devices" are a throw-away OpenSSH sshd on 127.0.0.1 (tests/loopback_sshd.py) whose venv holds only
edgekit[runtime]; they share this machine's CPU, so each device's ranking should match the local one, and the
device accuracy (the held-out data run through the device's runtime) should equal the local accuracy exactly.

    .venv/bin/python benchmarks/devices_optimize.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from loopback_sshd import LoopbackSshd, unavailable  # noqa: E402

RECIPES = """variants:
  - name: fp32
  - name: float16
    quantize: {mode: float16}
  - name: dynamic
    quantize: {mode: dynamic}
  - name: int8
    quantize: {mode: int8}
"""


def _optimize(out: Path, *extra: str) -> tuple[float, dict, int]:
    argv = [sys.executable, "-m", "edgekit", "optimize", str(ROOT / "samples/digits/model.h5"), "--data",
            str(ROOT / "samples/digits/data.npz"), "--recipe", str(out.parent / "recipes.yaml"), "--no-robustness",
            "-o", str(out), "--json", *extra]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start, json.loads(done.stdout) if done.stdout else {}, done.returncode


def main() -> None:
    reason = unavailable()
    if reason:
        sys.exit(reason)
    from edgekit.devices import resolve_devices, setup_device

    with tempfile.TemporaryDirectory(prefix="edgekit-devopt-") as tmp:
        tmp = Path(tmp)
        (tmp / "recipes.yaml").write_text(RECIPES)
        server = LoopbackSshd(tmp / "sshd").start()
        try:
            work = tmp / "work"
            venv_python = str(work / "venv" / "bin" / "python")
            devices = {"pi1": server.device(work), "pi2": server.device(tmp / "work2", python=venv_python)}
            inventory = tmp / "devices.yaml"
            inventory.write_text(yaml.safe_dump({"devices": devices}))
            setup_device(resolve_devices(["pi1"], inventory)[0])
            on = ["--devices", str(inventory)]
            runs = [("here", []), ("1 device", ["--device", "pi1", *on]), ("2 devices", ["--device", "pi1", "--device", "pi2", *on]),
                    ("2 devices + accuracy", ["--device", "pi1", "--device", "pi2", "--device-accuracy", *on])]
            local_top1 = None
            for i, (what, extra) in enumerate(runs):
                load = os.getloadavg()[0]
                wall, results, code = _optimize(tmp / f"out{i}", *extra)
                assert code == 0, (what, code)
                top1 = {f"{v['name']}/{a['format']}": a["measurement"]["metrics"]["top1"]
                        for v in results["variants"] for a in v["artifacts"]}
                local_top1 = local_top1 or top1
                per_device = {d["name"]: d["ranking"]["recommended"] for d in results["devices"]}
                same = all(a["measurement"]["devices"][k]["metrics"]["top1"] == top1[f"{v['name']}/{a['format']}"]
                           for v in results["variants"] for a in v["artifacts"] for k in range(len(results["devices"]))
                           if a["measurement"]["devices"][k]["metrics"] is not None)
                verdicts = {d["name"]: {f"{v['name']}/{a['format']}": a["measurement"]["devices"][k]["latency_ms"]["verdict"]
                                        for v in results["variants"] for a in v["artifacts"]}
                            for k, d in enumerate(results["devices"])}
                if not results["devices"]:
                    verdicts = {"here": {f"{v['name']}/{a['format']}": a["measurement"]["latency_ms"]["verdict"]
                                         for v in results["variants"] for a in v["artifacts"]}}
                print(f"{what}: {wall:.1f} s wall (load average before {load:.2f}); recommended "
                      f"{results['ranking']['recommended']}; per device {per_device or '-'}; verdicts {verdicts}; "
                      f"device top-1 equal to local: {same if results['settings']['device_accuracy'] else 'n/a'}")
        finally:
            server.kill()


if __name__ == "__main__":
    main()
