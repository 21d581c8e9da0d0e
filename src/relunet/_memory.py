"""Refusing what cannot fit: the bytes a network or a fit needs, against the memory available."""

from __future__ import annotations

import os
from collections.abc import Sequence

#: requests below this many bytes are not checked: asking the system costs more than they risk
UNCHECKED = 1 << 26


def available_memory() -> int | None:
    """Bytes this process may still allocate: the least of the physical memory available (psutil,
    else /proc/meminfo's MemAvailable, else the memory installed), the room left under a cgroup
    limit and RLIMIT_AS; None where none of them can be read."""
    bounds = [b for b in (_physical(), _cgroup_room(), _address_space_room()) if b is not None]
    return min(bounds) if bounds else None


def require_memory(what: str, needed: int, parts: str = "") -> None:
    """ValueError when ``needed`` bytes exceed :func:`available_memory`; ``what`` names the
    request, ``parts`` (e.g. " (10 parameters)") follows the estimate."""
    if needed < UNCHECKED:
        return
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(f"{what} needs about {gib(needed)}{parts}, but {gib(available)} of memory is available")


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:,.1f} GiB"


def sizes_text(sizes: Sequence[int]) -> str:
    """m_0 … m_L, a run of three or more equal sizes written once: [784, 100 ×50, 10]."""
    runs: list[list[int]] = []
    for m in sizes:
        if runs and runs[-1][0] == m:
            runs[-1][1] += 1
        else:
            runs.append([m, 1])
    return "[" + ", ".join(f"{m} ×{k}" if k > 2 else ", ".join([str(m)] * k) for m, k in runs) + "]"


def _physical() -> int | None:
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


#: (limit, usage) files of the process's memory cgroup: version 2, then version 1
_CGROUP_FILES = (("memory.max", "memory.current"), ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"))


def _cgroup_room() -> int | None:
    for limit_file, usage_file in _CGROUP_FILES:
        try:
            with open(os.path.join("/sys/fs/cgroup", limit_file)) as f:
                limit = f.read().strip()
            with open(os.path.join("/sys/fs/cgroup", usage_file)) as f:
                usage = int(f.read())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max", or v1's near-2^63 for no limit
            return max(int(limit) - usage, 0)
    return None


def _address_space_room() -> int | None:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError, IndexError):
        return None
    return max(soft - used, 0)
