"""Files in and out, safely: atomic outputs, no stray temporaries, honest answers about what a path is.

A failed or interrupted write never leaves a half-written file at the output path. Every temporary carries the id
of the process that made it (``.NAME.PID@HOST.XXXXXXXX.tmp`` beside the output, ``edgekit-PID-...`` in the system
temp folder); SIGTERM is handled like Ctrl-C (temporaries removed on the way out), and since SIGKILL cannot be handled,
every run sweeps the temporaries of dead edgekit processes from its output folders before it writes.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from edgekit.errors import Terminated

# An output's temporary names its process and host (an output folder may be shared between machines, where a PID
# means nothing): .NAME.PID@HOST.XXXXXXXX.tmp. Scratch folders live in this machine's temp folder: edgekit-PID-*.
_OUTPUT_TEMP = re.compile(r"^\..+\.(\d+)@([A-Za-z0-9-]*)\.[A-Za-z0-9_]{8}\.tmp$")
_SCRATCH = re.compile(r"^edgekit-(\d+)-")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); move it into place only if the block succeeds.

    Works for files and directories (SavedModel). On any exception the temporary is removed and
    ``path`` is left as it was.
    """
    final = Path(path)
    tmpdir = temp_beside(final)
    tmp = tmpdir / final.name
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def temp_beside(final: Path) -> Path:
    """A new temporary folder beside ``final`` (created with its parents) named for this process and host, after
    sweeping the ones dead edgekit processes left there: where an output is staged before it moves into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(final.parent)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}@{_host()}.", suffix=".tmp", dir=final.parent))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def gzip_size(path: str | os.PathLike) -> int:
    """Bytes the file takes gzip-compressed (level 9): what shipping it over a network costs."""
    p = Path(path)
    if p.is_dir():
        return sum(gzip_size(f) for f in sorted(p.rglob("*")) if f.is_file())
    return len(gzip.compress(p.read_bytes(), compresslevel=9, mtime=0))


def file_size(path: str | os.PathLike) -> int:
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


@contextlib.contextmanager
def scratch_dir(purpose: str) -> Iterator[Path]:
    """A temporary folder in the system temp folder, removed on exit (also on SIGTERM); swept if the process died."""
    sweep_stale_temps(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"edgekit-{os.getpid()}-{purpose}-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def run_temp_folder() -> Iterator[Path]:
    """Point every temporary file of this process (TensorFlow's converter folders included) and of its children
    into one ``edgekit-PID-run-*`` folder, removed on exit; after a SIGKILL the next run sweeps it. For the CLI,
    which owns its process; library calls leave the caller's temp settings alone."""
    system = tempfile.gettempdir()
    sweep_stale_temps(system)
    folder = Path(tempfile.mkdtemp(prefix=f"edgekit-{os.getpid()}-run-", dir=system))
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), str(folder)
    os.environ.setdefault("RAY_TMPDIR", system)  # Ray's sessions outlive a run and need short socket paths
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a number we cannot ask about): leave its files alone
    return True


_PART = re.compile(r"\.part-(\d+)@([A-Za-z0-9-]*)$")


def part_name(final: str) -> str:
    """The temporary a file is copied to before it is renamed to ``final`` where no atomic_path can run (a device's
    workdir, over SFTP): named for this process and host, so the next run from here knows a dead one's leftovers."""
    return f"{final}.part-{os.getpid()}@{_host()}"


def stale_part(name: str) -> bool:
    """Whether ``name`` is a :func:`part_name` temporary of a process of this host that no longer runs."""
    match = _PART.search(name)
    return match is not None and match.group(2) == _host() and not _alive(int(match.group(1)))


def sweep_stale_temps(folder: str | os.PathLike, depth: int = 0) -> list[Path]:
    """Remove the temporaries that edgekit processes which no longer run left in ``folder`` (and ``depth``
    levels of subfolders): what a SIGKILL or a power cut leaves behind. A live process's temporaries stay."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _OUTPUT_TEMP.match(entry.name) or _SCRATCH.match(entry.name)
        ours = match is not None and (match.re is _SCRATCH or match.group(2) == _host())
        if ours and not _alive(int(match.group(1))):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed.append(path)
        elif depth > 0 and entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
            removed += sweep_stale_temps(entry.path, depth - 1)
    return removed


def stop_child(proc, timeout: float) -> None:
    """End a long-lived helper process that reads requests on stdin: close its stdin (it exits at end of input),
    kill it if it has not after ``timeout`` seconds, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_terminated = False  # set by the SIGTERM handler below, never reset: the process is on its way out


def terminated() -> bool:
    """Whether SIGTERM arrived: code that caught the interruption (TensorFlow does, and fails otherwise) still
    ends the run as terminated."""
    return _terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`~edgekit.errors.Terminated` (a KeyboardInterrupt), so every
    ``finally`` and context manager runs and no temporary survives ``kill``. A second SIGTERM while cleaning up is
    ignored; SIGKILL still ends the process at once (the next run sweeps what it left)."""
    previous: Callable | int | None = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        global _terminated
        if not _terminated:
            _terminated = True
            raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def check_input_path(path: str | os.PathLike, what: str, error: type[Exception], allow_dir: bool = False) -> Path:
    """``path`` if it is a readable, non-empty regular file (or a folder, with ``allow_dir``); otherwise ``error``
    with one line that says what the path really is: missing, a symlink loop, a FIFO/socket/device, empty."""
    p = Path(path)
    try:
        info = p.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{what} {p} is a symbolic link loop; point it at a real file") from None
        if p.is_symlink():
            raise error(f"{what} {p} is a symbolic link to {os.readlink(p)}, which does not exist") from None
        if exc.errno == errno.ENOENT:
            raise error(f"{what} {p} does not exist") from None
        raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        if allow_dir:
            return p
        raise error(f"{what} {p} is a directory; give a file")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise error(f"{what} {p} is {kind}, not a regular file; edgekit reads only regular files")
    if info.st_size == 0:
        raise error(f"{what} {p} is an empty file (0 bytes)")
    return p
