"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
import re
import tempfile
import time

__all__ = [
    "atomic_write",
    "clean_stale_temporaries",
    "publish_run",
    "finish_run",
    "read_manifest",
    "check_complete",
    "MANIFEST",
]

#: when this module was imported: a temporary of our pid older than that is a dead namesake's
_IMPORTED = time.time()


def _temp_pattern(base: str) -> re.Pattern[str]:
    """relunet's temporaries for ``base``: .BASE.PID.RANDOM.tmp (RANDOM from tempfile)."""
    return re.compile(rf"\.{re.escape(base)}\.([0-9]+)\.[A-Za-z0-9_]+\.tmp")


def _owner_alive(pid: int, mtime: float) -> bool:
    """Whether process ``pid`` exists and may have written a file last changed at ``mtime``."""
    if pid == os.getpid():
        return mtime >= _IMPORTED - 2.0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # it exists but is another user's (or the pid is not one we can ask about)
    started = _start_time(pid)  # a process that began after the file was written did not write it
    return started is None or started <= mtime + 2.0


def _start_time(pid: int) -> float | None:
    """When process ``pid`` began (seconds since the epoch), where /proc says; else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith(b"btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def clean_stale_temporaries(path: str) -> list[str]:
    """Remove the temporaries an earlier :func:`atomic_write` to ``path`` left behind when its
    process died: only names of relunet's own pattern whose owner process is gone (or began
    after the file was written). Returns the names removed."""
    folder = os.path.dirname(os.path.abspath(path))
    pattern = _temp_pattern(os.path.basename(path))
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for name in entries:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        full = os.path.join(folder, name)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if not os.path.isfile(full) or os.path.islink(full) or _owner_alive(int(match.group(1)), st.st_mtime):
            continue
        try:
            os.unlink(full)
            removed.append(name)
        except OSError:
            pass
    return removed


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then os.replace it onto
    ``path``: a crash leaves either the old file or the new one, never half of one. The file keeps
    the mode of the one it replaces; a new file gets the mode open() would give it. The
    temporary is named .NAME.PID.RANDOM.tmp, so that the next write can tell a dead process's
    leftover (removed first, see :func:`clean_stale_temporaries`) from a live one's."""
    if os.path.isdir(path):  # os.replace would fail only after the write, naming the temporary
        raise IsADirectoryError(f"cannot write {path!r}: path is a directory")
    folder = os.path.dirname(os.path.abspath(path))
    clean_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):
            mode = os.stat(path).st_mode & 0o777
        else:
            mask = os.umask(0)
            os.umask(mask)
            mode = 0o666 & ~mask
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ----------------------------------------------------------------------------- run folders
#: the manifest of a run folder, written last: the files of one complete run and their SHA-256
MANIFEST = "run.json"
#: while a run is being published: the names of every earlier run's files, for the next run to remove
_EARLIER = ".run.json.earlier"
_STAGING = ".staging-"


def _sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: str, name: str = MANIFEST) -> dict[str, str] | None:
    """{file name: SHA-256} of the folder's last complete run, or None if it has no manifest."""
    import json

    path = os.path.join(folder, name)
    try:
        with open(path, encoding="utf-8") as f:
            files = json.load(f)["files"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a run manifest ({type(exc).__name__})") from None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ValueError(f"{path} is not a run manifest (its files must map names to SHA-256)")
    return files


def finish_run(folder: str, names: list[str], previous: dict[str, str] | None) -> list[str]:
    """Remove the files of earlier runs (``previous``, and those an interrupted publish recorded)
    that this run did not write, then write this run's manifest last. Returns the names removed."""
    import json

    earlier = set(previous or ()) | set(read_manifest(folder, _EARLIER) or ())
    removed = []
    for name in sorted(earlier - set(names) - {MANIFEST}):
        if os.path.basename(name) != name:  # a manifest names files of this folder only
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(name)
        except FileNotFoundError:
            pass
    digest = {name: _sha256(os.path.join(folder, name)) for name in sorted(names)}
    atomic_write(os.path.join(folder, MANIFEST), json.dumps({"files": digest}, indent=1).encode("utf-8"))
    try:
        os.unlink(os.path.join(folder, _EARLIER))
    except FileNotFoundError:
        pass
    return removed


def _retire_manifest(folder: str) -> None:
    """Before a run's files are renamed into place: record every earlier run's file names in
    .run.json.earlier (so that a run after a crash still knows what to remove), then remove the
    manifest, from which moment readers refuse the folder until the new manifest is written."""
    import json

    earlier = {**(read_manifest(folder, _EARLIER) or {}), **(read_manifest(folder) or {})}
    if earlier:
        atomic_write(os.path.join(folder, _EARLIER), json.dumps({"files": earlier}, indent=1).encode("utf-8"))
    try:
        os.unlink(os.path.join(folder, MANIFEST))
    except FileNotFoundError:
        pass


def publish_run(folder: str, write) -> tuple[list[str], list[str]]:
    """Run ``write(stage)`` in a fresh staging folder inside ``folder``, then publish what it wrote
    as one run: the old manifest goes first (its names kept in .run.json.earlier; from then on the
    folder holds no complete run), the new files are renamed into place, the earlier runs' other
    files are removed, and the new manifest is written last. A crash at any point leaves either the
    old complete run or no manifest, which :func:`check_complete` refuses; the next call removes
    dead processes' staging folders and every file an earlier run wrote that it does not write.
    Returns (names written, names removed)."""
    import shutil
    import tempfile

    created = not os.path.exists(folder)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_staging(folder)
    stage = tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=folder)
    try:
        write(stage)
        names = sorted(os.listdir(stage))
        previous = read_manifest(folder)
        _retire_manifest(folder)
        for name in names:
            os.replace(os.path.join(stage, name), os.path.join(folder, name))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    os.rmdir(stage)
    return names, finish_run(folder, names, previous)


def _remove_stale_staging(folder: str) -> None:
    """Remove ``.staging-<pid>-*`` folders whose process is gone (a live one may still be writing)."""
    import shutil

    for entry in os.listdir(folder):
        if not entry.startswith(_STAGING):
            continue
        pid = entry[len(_STAGING):].split("-", 1)[0]
        full = os.path.join(folder, entry)
        try:
            mtime = os.lstat(full).st_mtime
        except OSError:
            continue
        if pid.isdigit() and _owner_alive(int(pid), mtime):
            continue
        shutil.rmtree(full, ignore_errors=True)


def check_complete(path: str) -> None:
    """Refuse a file inside a run folder that holds no complete run, or whose bytes are not the
    ones its manifest names (a crash between a run's renames, or a file changed since)."""
    folder, name = os.path.split(os.path.abspath(path))
    manifest = read_manifest(folder)
    if manifest is None:
        if any(e.startswith(_STAGING) or e == _EARLIER for e in os.listdir(folder)):
            raise ValueError(f"{folder} holds no complete run (no {MANIFEST}: a run was interrupted while publishing)")
        return
    if name in manifest and _sha256(path) != manifest[name]:
        raise ValueError(f"{path} is not the file its run wrote (SHA-256 differs from {MANIFEST})")
