"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os
import re
import tempfile
import time

__all__ = ["atomic_write", "clean_stale_temporaries"]

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
