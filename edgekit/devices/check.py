"""``edgekit devices check`` and ``setup``: what a device has, and installing ``edgekit[runtime]`` on it.

``check`` runs the device's own ``edgekit devices info --json``. ``setup`` builds an edgekit wheel here, pushes it
(content-addressed) into the device's workdir, makes ``WORKDIR/venv`` with the device's ``python3`` and installs the
wheel with its ``[runtime]`` extra there (from the device's package index), then checks the device.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from edgekit.devices.inventory import Device
from edgekit.errors import DeviceError, EdgekitError

__all__ = ["DeviceCheck", "build_wheel", "check_devices", "setup_device"]

SETUP_TIMEOUT_S = 1800.0  # pip on a Raspberry Pi can take many minutes


@dataclass(frozen=True)
class DeviceCheck:
    device: str
    address: str
    ready: bool  # edgekit bench can run there
    info: dict[str, Any] | None = None  # edgekit devices info, when edgekit runs on the device
    problems: tuple[str, ...] = ()  # what is missing, each with how to fix it
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "address": self.address, "ready": self.ready, "info": self.info,
                "problems": list(self.problems), "notes": list(self.notes)}


async def _check(conn, device: Device) -> DeviceCheck:
    import edgekit
    from edgekit.devices.fleet import explain_failure
    from edgekit.devices.ssh import edgekit_command, run

    done = await run(conn, device, edgekit_command(device, "devices", "info", "--json"), timeout=120)
    if done.exit_status != 0:
        problem = explain_failure(device, done.exit_status, done.stderr)
        notes = ()
        if done.exit_status != 127:  # the interpreter is there: say which one
            version = await run(conn, device, shlex.join([device.remote_python, "--version"]), timeout=60)
            notes = (f"{device.remote_python}: {(version.stdout or version.stderr).strip()}",)
        return DeviceCheck(device.name, device.address, False, None, (problem,), notes)
    try:
        info = json.loads(done.stdout)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        return DeviceCheck(device.name, device.address, False, None, (f"edgekit devices info printed no report ({exc})",))
    from edgekit.devices.info import MODEL_RUNTIMES

    problems, notes = [], []
    missing = [str(m) for m in info.get("missing") or []]
    unusable = info.get("unusable") or {}
    working = [d for d in MODEL_RUNTIMES if d not in missing and d not in unusable]
    if [m for m in missing if m not in MODEL_RUNTIMES] or not working:
        problems.append(f"missing on the device: {', '.join(missing + list(unusable))} (run: edgekit devices setup "
                        f"{device.name})")
    else:  # one model runtime is enough to measure what it runs
        notes += [f"{d} {'is not installed' if d in missing else f'does not load ({unusable[d]})'}: its "
                  f"{MODEL_RUNTIMES[d][1]} artifacts cannot run there" for d in MODEL_RUNTIMES if d not in working]
    accel = device.accelerator
    if accel and accel != "cpu" and not any(accel in v for v in (info.get("accelerators") or {}).values()):
        problems.append(f"accelerator {accel!r} from the inventory is not available there; found: "
                        f"{info.get('accelerators')}")
    if info.get("edgekit") != edgekit.__version__:
        notes.append(f"edgekit {info.get('edgekit')} on the device, {edgekit.__version__} here "
                     f"(edgekit devices setup {device.name} installs this one)")
    return DeviceCheck(device.name, device.address, not problems, info, tuple(problems), tuple(notes))


def check_devices(devices: Sequence[Device], accept_new_host_key: bool = False) -> list[DeviceCheck]:
    """Connect to each device (concurrently) and report what it has and what is missing."""
    from edgekit.devices.fleet import DeviceFailure, run_on_devices

    outcomes = run_on_devices(devices, lambda session: _check(session.conn, session.device), accept_new_host_key).outcomes
    return [DeviceCheck(d.name, d.address, False, None, (o.message.removeprefix(f"device {d.name}: "),))
            if isinstance(o, DeviceFailure) else o for d in devices for o in [outcomes[d.name]]]


def build_wheel(dest: str | Path) -> Path:
    """An edgekit wheel built from the source tree this edgekit was imported from (copied, so the tree stays clean)."""
    import edgekit

    root = Path(edgekit.__file__).resolve().parents[1]
    files = [root / n for n in ("setup.cfg", "pyproject.toml", "README.md")]
    if not all(f.is_file() for f in files):
        raise EdgekitError(f"edgekit devices setup builds a wheel from the edgekit source tree, but {root} is not one "
                           "(run it from a git checkout of edgekit installed with pip install -e)")
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="edgekit-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "edgekit", src / "edgekit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for f in files:
            shutil.copy2(f, src / f.name)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                               "-w", str(dest), str(src)], capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise EdgekitError(f"building the edgekit wheel failed: {tail}")
    wheels = sorted(dest.glob("edgekit-*.whl"))
    if not wheels:
        raise EdgekitError(f"building the edgekit wheel left no wheel in {dest}")
    return wheels[-1]


def setup_device(device: Device, accept_new_host_key: bool = False, system_python: str = "python3") -> DeviceCheck:
    """Install this edgekit with its ``[runtime]`` extra into ``WORKDIR/venv`` on the device, then check it."""
    import posixpath

    from edgekit.devices.ssh import connect, push, run, sha256_file

    venv_python = posixpath.join(device.workdir, "venv", "bin", "python")
    if device.python and posixpath.normpath(device.python) != posixpath.normpath(venv_python):
        raise EdgekitError(f"device {device.name} runs edgekit with python {device.python}, but setup installs into "
                           f"{venv_python}: remove 'python' from its inventory entry (or set it to that path)")
    with tempfile.TemporaryDirectory(prefix="edgekit-setup-") as tmp:
        wheel = build_wheel(tmp)
        rel = f"wheels/{sha256_file(wheel)[:16]}/{wheel.name}"

        async def install() -> DeviceCheck:
            async with connect(device, accept_new_host_key) as conn:
                (remote,), _ = await push(conn, device, [(wheel, rel)])
                async with conn.start_sftp_client() as sftp:
                    fresh = not await sftp.exists(venv_python)
                install_runtime = ("installing edgekit[runtime]",
                                   [venv_python, "-m", "pip", "install", "--quiet", "--no-compile",
                                    f"{remote}[runtime]"])
                if fresh:
                    steps = [("creating the venv", [system_python, "-m", "venv", device.remote_path("venv")]),
                             install_runtime]
                else:  # the same version number may be a different build: replace edgekit itself, then its deps
                    steps = [("installing this edgekit build", [venv_python, "-m", "pip", "install", "--quiet",
                                                               "--force-reinstall", "--no-deps", remote]),
                             install_runtime]
                for what, argv in steps:
                    done = await run(conn, device, shlex.join(argv), timeout=max(device.timeout, SETUP_TIMEOUT_S))
                    if done.exit_status != 0:
                        lines = [line for line in done.stderr.splitlines() if line.strip()] or [f"exit {done.exit_status}"]
                        raise DeviceError(device.name, f"{what} failed: {lines[-1].strip()}")
                return await _check(conn, device)

        return asyncio.run(install())
