"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
import tempfile

__all__ = ["atomic_write", "publish_run", "finish_run", "read_manifest", "check_complete", "MANIFEST"]


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then os.replace it onto
    ``path``: a crash leaves either the old file or the new one, never half of one. The file keeps
    the mode of the one it replaces; a new file gets the mode open() would give it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
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
_STAGING = ".staging-"


def _sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: str) -> dict[str, str] | None:
    """{file name: SHA-256} of the folder's last complete run, or None if it has no manifest."""
    import json

    path = os.path.join(folder, MANIFEST)
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
    """Remove the files of the previous run (``previous``, its manifest) that this run did not
    write, then write this run's manifest last. Returns the names removed."""
    import json

    removed = []
    for name in sorted(set(previous or ()) - set(names) - {MANIFEST}):
        if os.path.basename(name) != name:  # a manifest names files of this folder only
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(name)
        except FileNotFoundError:
            pass
    digest = {name: _sha256(os.path.join(folder, name)) for name in sorted(names)}
    atomic_write(os.path.join(folder, MANIFEST), json.dumps({"files": digest}, indent=1).encode("utf-8"))
    return removed


def publish_run(folder: str, write) -> tuple[list[str], list[str]]:
    """Run ``write(stage)`` in a fresh staging folder inside ``folder``, then publish what it wrote
    as one run: the old manifest goes first (from then on the folder holds no complete run), the new
    files are renamed into place, the previous run's other files are removed, and the new manifest
    is written last. A crash at any point leaves either the old complete run or no manifest, which
    :func:`check_complete` refuses; staging folders of dead processes are removed on the next call.
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
        try:
            os.unlink(os.path.join(folder, MANIFEST))
        except FileNotFoundError:
            pass
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
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_complete(path: str) -> None:
    """Refuse a file inside a run folder that holds no complete run, or whose bytes are not the
    ones its manifest names (a crash between a run's renames, or a file changed since)."""
    folder, name = os.path.split(os.path.abspath(path))
    manifest = read_manifest(folder)
    if manifest is None:
        if any(e.startswith(_STAGING) for e in os.listdir(folder)):
            raise ValueError(f"{folder} holds no complete run (no {MANIFEST}: a run was interrupted while publishing)")
        return
    if name in manifest and _sha256(path) != manifest[name]:
        raise ValueError(f"{path} is not the file its run wrote (SHA-256 differs from {MANIFEST})")
