"""The device inventory: which machines edgekit may benchmark on over SSH, and how to reach them.

    devices:
      pi4:
        host: 192.168.1.20
        user: pi
        identity_file: ~/.ssh/id_ed25519     # key auth only; default: the usual ~/.ssh keys and the agent
        known_hosts: ~/.ssh/known_hosts      # the device's host key must be in it (or --accept-new-host-key)
        workdir: edgekit-device              # everything edgekit writes on the device stays below it
        python: edgekit-device/venv/bin/python   # default: WORKDIR/venv/bin/python (what `devices setup` makes)
        accelerator: cpu
        device_profile: rpi4
        energy_command: ina219-read --watts  # run ON the device by its edgekit bench (a power sensor), optional
        energy_unit: W
        timeout: 600                         # seconds one remote command may take
    groups:
      pis: [pi4, pi5]

The file is found at ``--devices FILE``, else ``$EDGEKIT_DEVICES``, else ``~/.config/edgekit/devices.yaml``.
A device can also be named once as ``user@host[:port]`` without an inventory entry.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import posixpath
import re
from pathlib import Path
from typing import Any, Sequence

from edgekit.errors import EdgekitError

__all__ = ["Device", "DeviceRun", "inventory_path", "load_inventory", "resolve_devices"]

DEFAULT_WORKDIR = "edgekit-device"
DEFAULT_TIMEOUT_S = 600.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOST = re.compile(r"^[A-Za-z0-9_.:-]+$")  # a host name, IPv4 or IPv6 address: nothing a shell or ssh would read
_ONE_OFF = re.compile(r"^(?:(?P<user>[A-Za-z0-9_.-]+)@)?(?P<host>[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:]+\])(?::(?P<port>\d+))?$")


@dataclasses.dataclass(frozen=True)
class Device:
    """One device, validated. Paths on the workstation are expanded; paths on the device are POSIX strings."""

    name: str
    host: str
    port: int = 22
    user: str = dataclasses.field(default_factory=getpass.getuser)
    identity_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    workdir: str = DEFAULT_WORKDIR
    python: str | None = None
    accelerator: str | None = None
    device_profile: str | None = None
    energy_command: str | None = None  # the device's power/energy sensor, run there by its edgekit bench
    energy_unit: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S

    def __post_init__(self):
        where = f"device {self.name!r}"
        if not _NAME.match(self.name) and not _ONE_OFF.match(self.name):
            raise EdgekitError(f"{where}: names are letters, digits, '_', '.', '-' (or user@host[:port])")
        if not _HOST.match(self.host.strip("[]")):
            raise EdgekitError(f"{where}: host {self.host!r} is not a host name or address")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise EdgekitError(f"{where}: port {self.port!r} is not a TCP port (1-65535)")
        if not _NAME.match(self.user):
            raise EdgekitError(f"{where}: user {self.user!r} is not a login name")
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise EdgekitError(f"{where}: timeout must be a positive number of seconds, got {self.timeout!r}")
        _check_remote_path(where, "workdir", self.workdir)
        if self.python is not None:
            _check_remote_path(where, "python", self.python)

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def remote_python(self) -> str:
        """The interpreter that runs edgekit on the device: ``python``, else the venv ``devices setup`` makes."""
        return self.python or posixpath.join(self.workdir, "venv", "bin", "python")

    def remote_path(self, *parts: str) -> str:
        """A path below ``workdir``; anything that would leave it is refused."""
        path = posixpath.normpath(posixpath.join(self.workdir, *parts))
        if not path.startswith(posixpath.normpath(self.workdir) + "/"):
            raise EdgekitError(f"device {self.name}: {'/'.join(parts)!r} would leave the workdir {self.workdir}")
        return path

    def describe(self) -> dict[str, Any]:
        """What a result says about the device it came from (the fields of :class:`DeviceRun` it knows)."""
        return {"name": self.name, "host": self.host, "port": self.port, "user": self.user,
                "python": self.remote_python, "accelerator": self.accelerator, "device_profile": self.device_profile,
                "energy_command": self.energy_command}


@dataclasses.dataclass(frozen=True)
class DeviceRun:
    """The ``device`` block of a result measured over SSH: which device, and what the round trip cost."""

    name: str
    host: str
    port: int
    user: str
    python: str  # the interpreter that ran edgekit there
    accelerator: str | None = None
    device_profile: str | None = None
    energy_command: str | None = None
    pushed_bytes: int = 0  # 0: every model was already on the device (content-addressed)
    push_s: float | None = None
    run_s: float | None = None  # the remote edgekit command, wall time seen from here
    model_sha256: str | None = None  # bench results: the model measured, and where it lay on the device
    remote_model: str | None = None


def _check_remote_path(where: str, key: str, value: Any) -> None:
    if not isinstance(value, str) or not value or value in ("/", ".") or any(c in value for c in "\n\r\0"):
        raise EdgekitError(f"{where}: {key} {value!r} is not a usable path on the device")
    if ".." in value.split("/"):
        raise EdgekitError(f"{where}: {key} {value!r} may not contain '..'")


_KEYS = {f.name for f in dataclasses.fields(Device)} - {"name"}


def inventory_path(given: str | os.PathLike | None = None) -> Path:
    """``given``, else ``$EDGEKIT_DEVICES``, else ``~/.config/edgekit/devices.yaml``."""
    if given:
        return Path(given).expanduser()
    if os.environ.get("EDGEKIT_DEVICES"):
        return Path(os.environ["EDGEKIT_DEVICES"]).expanduser()
    return Path("~/.config/edgekit/devices.yaml").expanduser()


def load_inventory(path: str | os.PathLike | None = None) -> tuple[dict[str, Device], dict[str, tuple[str, ...]]]:
    """The devices and groups of an inventory file. Unknown keys, unknown group members and bad values are errors."""
    from edgekit._fs import check_input_path
    from edgekit._yaml import load_yaml

    p = inventory_path(path)
    if not p.exists() and not p.is_symlink():
        raise EdgekitError(f"device inventory not found: {p} (give --devices FILE or set $EDGEKIT_DEVICES)")
    try:
        text = check_input_path(p, "device inventory", EdgekitError).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"{p} is not a readable YAML device inventory: {str(exc).splitlines()[0]}") from None
    data = load_yaml(text, f"device inventory {p}", EdgekitError)  # no aliases: a small file stays small
    if not isinstance(data, dict) or not isinstance(data.get("devices"), dict):
        raise EdgekitError(f"{p}: expected a 'devices:' mapping of name -> host, user, ... (see edgekit devices --help)")
    unknown = set(data) - {"devices", "groups"}
    if unknown:
        raise EdgekitError(f"{p}: unknown top-level keys {sorted(unknown)}; allowed: devices, groups")
    devices = {}
    for name, entry in data["devices"].items():
        if not isinstance(entry, dict) or "host" not in entry:
            raise EdgekitError(f"{p}: device {name!r} needs a mapping with at least 'host'")
        bad = set(entry) - _KEYS
        if bad:
            raise EdgekitError(f"{p}: device {name!r} has unknown keys {sorted(bad)}; allowed: {', '.join(sorted(_KEYS))}")
        values = dict(entry)
        for key in ("identity_file", "known_hosts"):
            if values.get(key) is not None:
                values[key] = str(Path(str(values[key])).expanduser())
        devices[str(name)] = Device(name=str(name), **values)
    groups = {}
    for group, members in (data.get("groups") or {}).items():
        if not isinstance(members, list) or not members:
            raise EdgekitError(f"{p}: group {group!r} must be a list of device names")
        missing = [m for m in members if m not in devices]
        if missing:
            raise EdgekitError(f"{p}: group {group!r} names unknown devices {missing}; known: {', '.join(devices)}")
        groups[str(group)] = tuple(members)
    return devices, groups


def resolve_devices(names: Sequence[str], path: str | os.PathLike | None = None) -> list[Device]:
    """Devices for ``--device`` values: inventory names, group names, or one-off ``user@host[:port]``."""
    devices: dict[str, Device] = {}
    groups: dict[str, tuple[str, ...]] = {}
    if any(n for n in names if "@" not in n) or path:
        devices, groups = load_inventory(path)
    out: dict[str, Device] = {}
    for name in names:
        if name in devices:
            out[name] = devices[name]
        elif name in groups:
            out.update({m: devices[m] for m in groups[name]})
        elif (m := _ONE_OFF.match(name)) and "@" in name:
            out[name] = Device(name=name, host=m["host"].strip("[]"), port=int(m["port"] or 22),
                               user=m["user"] or getpass.getuser())
        else:
            known = ", ".join([*devices, *groups]) or "none"
            raise EdgekitError(f"unknown device {name!r}; devices and groups in {inventory_path(path)}: {known} "
                               "(or give user@host[:port])")
    return list(out.values())
