"""A throw-away OpenSSH server on 127.0.0.1: the "device" of the device tests and benchmarks/devices_fleet.py.

Each server has its own host key, an authorized user key, a known_hosts file holding its host key, a free port,
and logs in as the current user (root here) with key auth only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/bin/sshd") if os.access(p, os.X_OK)), None)
PRIVSEP_DIR = Path("/run/sshd")  # OpenSSH refuses to start without its privilege separation directory


def unavailable() -> str | None:
    """Why no loopback sshd can run here, or None."""
    if SSHD is None or shutil.which("ssh-keygen") is None:
        return "needs OpenSSH's sshd and ssh-keygen (make test installs openssh-server)"
    if not PRIVSEP_DIR.is_dir():
        if os.geteuid() != 0:
            return f"sshd needs {PRIVSEP_DIR}, which only root can create"
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgekit-test", "-f", str(path)], check=True)


class LoopbackSshd:
    def __init__(self, root: Path, user_key: Path | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = self.root / "host_key"
        _keygen(self.host_key)
        if user_key is None:
            user_key = self.root / "user_key"
            _keygen(user_key)
        self.user_key = Path(user_key)
        (self.root / "authorized_keys").write_text(Path(f"{user_key}.pub").read_text())
        self.port = _free_port()
        self.known_hosts = self.root / "known_hosts"
        pub = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")
        self.config = self.root / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.root / 'sshd.pid'}", f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "StrictModes no",  # the key files live in a temp dir, not ~/.ssh with its permission rules
            "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", "LogLevel ERROR", "MaxStartups 64",
            "MaxSessions 64", "",
        ]))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "LoopbackSshd":
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "sshd.log", "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def device(self, workdir: Path, **extra) -> dict:
        """An inventory entry for this server."""
        return {"host": "127.0.0.1", "port": self.port, "user": _user(), "identity_file": str(self.user_key),
                "known_hosts": str(self.known_hosts), "workdir": str(workdir), **extra}

    def kill(self) -> None:
        """Kill the server, its sessions and the Pythons they run: the device drops off the network. Other
        processes of a session (a login shell's helpers, e.g. pyenv's rehash holding its lock file) finish alone."""
        if self.proc is None:
            return
        doomed = [pid for pid in _descendants(self.proc.pid) if _comm(pid) == "sshd" or _comm(pid).startswith("python")]
        for pid in [*doomed, self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None

    stop = kill


def _user() -> str:
    import getpass

    return getpass.getuser()


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def python_running(server: LoopbackSshd, word: str) -> bool:
    """Whether a Python started through ``server`` runs with ``word`` among its arguments (the login shell that
    started it has finished its start-up files by then)."""
    if server.proc is None:
        return False
    for pid in _descendants(server.proc.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name.startswith("python") and word.encode() in argv:
            return True
    return False


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
