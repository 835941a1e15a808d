"""What benchmarking over SSH costs: one bench on a loopback device vs the same bench run directly, and a fleet of 4
loopback devices run concurrently vs one after another.

The "devices" are a throw-away OpenSSH sshd on 127.0.0.1 (tests/loopback_sshd.py) whose venv holds only
edgekit[runtime], made by edgekit.devices.setup_device. All four fleet devices share this machine's cores, so the
concurrent run also shows what sharing a CPU does to the latency figures (real devices do not share).

    .venv/bin/python benchmarks/devices_fleet.py [--model M.tflite] [--min-time 1.0]
"""

from __future__ import annotations

import argparse
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


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=os.environ | {"PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help=".tflite to bench (default: the digits sample converted to float32)")
    parser.add_argument("--min-time", type=float, default=1.0)
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        sys.exit(reason)
    from edgekit.devices import BenchSettings, bench_on_devices, resolve_devices, setup_device

    with tempfile.TemporaryDirectory(prefix="edgekit-fleet-") as tmp:
        tmp = Path(tmp)
        model = Path(args.model) if args.model else tmp / "digits.tflite"
        if not args.model:
            from edgekit.convert import convert

            convert(str(ROOT / "samples" / "digits" / "model.h5"), to="tflite", output=str(model))
        server = LoopbackSshd(tmp / "sshd").start()
        try:
            work = tmp / "work"
            venv_python = str(work / "venv" / "bin" / "python")
            devices = {"loopback": server.device(work)}
            devices |= {f"pi{i}": server.device(tmp / f"work{i}", python=venv_python) for i in range(1, 5)}
            inventory = tmp / "devices.yaml"
            inventory.write_text(yaml.safe_dump({"devices": devices}))
            (device,) = resolve_devices(["loopback"], inventory)
            start = time.perf_counter()
            check = setup_device(device)
            print(f"setup (wheel, venv, pip install edgekit[runtime], check): {time.perf_counter() - start:.1f} s, "
                  f"ready={check.ready}, python {check.info['python']}, prefix {check.info['prefix']}")

            # one bench: the device's own CLI run directly vs the workstation's CLI driving it over SSH
            bench = ["bench", str(model), "--min-time", str(args.min_time), "--json"]
            edgekit = [sys.executable, "-m", "edgekit"]
            _wall([venv_python, "-m", "edgekit", *bench])  # file cache and first import, for both sides
            _wall([*edgekit, *bench, "--device", "loopback", "--devices", str(inventory)])
            direct = _wall([venv_python, "-m", "edgekit", *bench])
            over_ssh = _wall([*edgekit, *bench, "--device", "loopback", "--devices", str(inventory)])
            fleet = bench_on_devices([model], [device], BenchSettings(min_time=args.min_time))
            how = fleet.results[0]["device"]
            print(f"one bench, --min-time {args.min_time}: direct {direct:.2f} s, over SSH {over_ssh:.2f} s, "
                  f"ratio {over_ssh / direct:.2f}, overhead {over_ssh - direct:+.2f} s "
                  f"(in-process: push {how['push_s']:.3f} s, {how['pushed_bytes']} B sent (already there), "
                  f"remote command {how['run_s']:.2f} s, whole {fleet.seconds:.2f} s)")

            # a fleet of 4 devices: concurrent vs sequential, interleaved
            four = resolve_devices([f"pi{i}" for i in range(1, 5)], inventory)
            settings = BenchSettings(min_time=args.min_time)
            rows = []
            for concurrent in (False, True, False, True):
                load = os.getloadavg()[0]
                r = bench_on_devices([model], four, settings, concurrent=concurrent)
                assert not r.failures, r.failures
                p50 = sorted(x["latency"]["p50"] for x in r.results)
                rows.append((concurrent, r.seconds, p50, load))
                print(f"fleet of 4, {'concurrent' if concurrent else 'sequential'}: {r.seconds:.2f} s wall, "
                      f"p50 per device {', '.join(f'{v:.4f}' for v in p50)} ms, load average before {load:.2f}")
            seq = [s for c, s, _, _ in rows if not c]
            conc = [s for c, s, _, _ in rows if c]
            print(f"sequential / concurrent wall time: {sum(seq) / sum(conc):.2f}x "
                  f"(means {sum(seq) / len(seq):.2f} s vs {sum(conc) / len(conc):.2f} s; {os.cpu_count()} cores)")
        finally:
            server.kill()


if __name__ == "__main__":
    main()
