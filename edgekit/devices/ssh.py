"""SSH to a device with asyncssh: verified host keys, key auth only, fixed commands with quoted arguments.

The only module that imports asyncssh. Every failure becomes a :class:`DeviceError` naming the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Sequence

from edgekit.devices.inventory import Device
from edgekit.errors import DependencyError, DeviceError

__all__ = ["RemoteRun", "connect", "edgekit_command", "gathered", "pull", "push", "run"]

CONNECT_TIMEOUT_S = 15.0
MAX_OUTPUT_BYTES = 16 * 1024 * 1024  # a device may be hostile: results bigger than this are refused


def _asyncssh():
    try:
        import asyncssh
    except ImportError:
        raise DependencyError("asyncssh", "devices") from None
    return asyncssh


def _known_host_keys(device: Device, known_hosts: Path):
    asyncssh = _asyncssh()
    if not known_hosts.is_file():
        return []
    keys, *_ = asyncssh.match_known_hosts(str(known_hosts), device.host, device.host, device.port)
    return keys


async def _accept_new_host_key(device: Device, known_hosts: Path) -> None:
    """Trust on first use, as OpenSSH's ``StrictHostKeyChecking=accept-new``: a host with no entry gets one."""
    asyncssh = _asyncssh()
    if _known_host_keys(device, known_hosts):
        return
    key = await asyncssh.get_server_host_key(device.host, device.port, config=None)
    if key is None:
        raise DeviceError(device.name, f"{device.host}:{device.port} presented no host key")
    pattern = device.host if device.port == 22 else f"[{device.host}]:{device.port}"
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(f"{pattern} {key.export_public_key('openssh').decode().strip()}\n")


@contextlib.asynccontextmanager
async def connect(device: Device, accept_new_host_key: bool = False) -> AsyncIterator:
    """An open asyncssh connection to ``device``; the host key must be in its known_hosts file."""
    asyncssh = _asyncssh()
    known_hosts = Path(device.known_hosts).expanduser()
    options = dict(port=device.port, username=device.user, known_hosts=str(known_hosts), config=None,
                   preferred_auth="publickey", password_auth=False, kbdint_auth=False, gss_auth=False,
                   host_based_auth=False, connect_timeout=CONNECT_TIMEOUT_S)
    if device.identity_file:
        if not Path(device.identity_file).expanduser().is_file():
            raise DeviceError(device.name, f"identity_file {device.identity_file} does not exist here")
        options.update(client_keys=[str(Path(device.identity_file).expanduser())], agent_path=None)
    try:
        if accept_new_host_key:
            await _accept_new_host_key(device, known_hosts)
        elif not _known_host_keys(device, known_hosts):
            raise DeviceError(device.name, f"{device.host}:{device.port} is not in {known_hosts}; add its host key "
                                           f"(ssh-keyscan -p {device.port} {device.host} >> {known_hosts}) or pass "
                                           "--accept-new-host-key")
        conn = await asyncssh.connect(device.host, **options)
    except asyncssh.HostKeyNotVerifiable:
        raise DeviceError(device.name, f"the host key of {device.host}:{device.port} does not match the one in "
                                       f"{known_hosts}: refusing to connect (if the device was reinstalled, remove "
                                       "its old entry with ssh-keygen -R)") from None
    except asyncssh.PermissionDenied:
        key = device.identity_file or "the default ~/.ssh keys and agent"
        raise DeviceError(device.name, f"key authentication as {device.user} failed with {key}; add the public key "
                                       "to the device's ~/.ssh/authorized_keys") from None
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise DeviceError(device.name, f"cannot connect to {device.host}:{device.port}: {_reason(exc)}") from None
    try:
        yield conn
    finally:
        conn.close()
        with contextlib.suppress(Exception):
            await conn.wait_closed()


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def gathered(*aws):
    """``asyncio.gather(*aws)`` whose outcome is always retrieved: when an interruption (Ctrl-C, SIGTERM) leaves the
    event loop before it is awaited, asyncio would otherwise log its CancelledError with a traceback at shutdown."""
    future = asyncio.gather(*aws)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return future


def edgekit_command(device: Device, *args: str) -> str:
    """The one kind of command edgekit runs on a device: its own entry point, every argument quoted."""
    return shlex.join([device.remote_python, "-m", "edgekit", *map(str, args)])


@dataclass(frozen=True)
class RemoteRun:
    exit_status: int | None
    stdout: str
    stderr: str
    seconds: float


async def run(conn, device: Device, command: str, timeout: float | None = None) -> RemoteRun:
    """Run one command; its output is capped, the whole run is bounded by ``timeout`` (default: the device's).

    A timeout or a dropped connection is a :class:`DeviceError`; a non-zero exit is returned for the caller to
    explain (missing python, missing edgekit, a failed bench)."""
    asyncssh = _asyncssh()
    limit = timeout if timeout is not None else device.timeout
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def read(stream) -> str:
        chunks, size = [], 0
        while chunk := await stream.read(65536):
            size += len(chunk)
            if size > MAX_OUTPUT_BYTES:
                raise DeviceError(device.name, f"sent more than {MAX_OUTPUT_BYTES // 2**20} MiB of output; refused")
            chunks.append(chunk)
        return "".join(chunks)

    try:
        proc = await conn.create_process(command, encoding="utf-8", errors="replace")
        try:
            out, err = await asyncio.wait_for(gathered(read(proc.stdout), read(proc.stderr)), limit)
            await asyncio.wait_for(proc.wait_closed(), 10)
        except BaseException:
            # stop the remote command too: sshd forwards the signal to it (a non-tty session would otherwise run on)
            with contextlib.suppress(Exception):
                proc.terminate()
                proc.close()
            raise
        status = proc.exit_status
    except asyncio.TimeoutError:
        raise DeviceError(device.name, f"timed out after {limit:g} s (raise 'timeout' in the inventory)") from None
    except (OSError, asyncssh.Error) as exc:
        raise DeviceError(device.name, f"connection lost during the run: {_reason(exc)}") from None
    if status is None or status == -1:
        signal = proc.exit_signal[0] if proc.exit_signal else None
        raise DeviceError(device.name, "connection lost during the run" + (f" (remote signal {signal})" if signal else ""))
    return RemoteRun(status, out, err, loop.time() - start)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


async def push(conn, device: Device, files: Sequence[tuple[str | os.PathLike, str]]) -> tuple[list[str], int]:
    """Copy ``(local, relative remote path)`` pairs below the workdir over SFTP; a file already there with the same
    size is skipped (callers name files by their SHA-256, so the same name is the same content). Each file lands
    under a temporary name and is renamed into place, so an interrupted push leaves no partial file behind its name;
    the temporaries that dead runs from this machine left in those folders are removed first.
    Returns the remote paths and the bytes sent."""
    from edgekit._fs import part_name, stale_part

    asyncssh = _asyncssh()
    sent, remote_paths, swept = 0, [], set()
    try:
        async with conn.start_sftp_client() as sftp:
            for local, rel in files:
                remote = device.remote_path(rel)
                remote_paths.append(remote)
                folder = os.path.dirname(remote)
                if folder not in swept:
                    swept.add(folder)
                    await sftp.makedirs(folder, exist_ok=True)
                    for name in await sftp.listdir(folder):
                        if stale_part(name):
                            await sftp.remove(f"{folder}/{name}")
                size = os.path.getsize(local)
                if await sftp.exists(remote) and (await sftp.stat(remote)).size == size:
                    continue
                part = part_name(remote)
                await sftp.put(str(local), part)
                await sftp.posix_rename(part, remote)
                sent += size
    except (OSError, asyncssh.Error) as exc:
        raise DeviceError(device.name, f"copying files to {device.workdir} failed: {_reason(exc)}") from None
    return remote_paths, sent


async def pull(conn, device: Device, remote: str, local: str | os.PathLike, max_bytes: int) -> None:
    """Copy one file the device wrote (at a path from ``device.remote_path``) to ``local``, then remove it there; a
    file larger than ``max_bytes`` (a device may be hostile) is refused before anything is copied."""
    asyncssh = _asyncssh()
    try:
        async with conn.start_sftp_client() as sftp:
            size = (await sftp.stat(remote)).size
            if size is None or size > max_bytes:
                raise DeviceError(device.name, f"{remote} is {size} bytes, more than the {max_bytes:,} expected; refused")
            await sftp.get(remote, str(local))
            await sftp.remove(remote)
    except (OSError, asyncssh.Error) as exc:
        raise DeviceError(device.name, f"copying {remote} from the device failed: {_reason(exc)}") from None
