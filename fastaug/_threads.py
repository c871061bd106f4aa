"""The default number of native threads, and how to change it."""
from __future__ import annotations

import os

_num_threads: int | None = None
MAX_THREADS = 1024


def _cpu_quota() -> int | None:
    """CPUs allowed by a cgroup v2 quota (containers), if one is set."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, int(int(quota) // int(period)))


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    quota = _cpu_quota()
    return max(1, min(count, quota) if quota else count)


def get_num_threads() -> int:
    """Number of native threads a kernel uses when called without ``threads=``.

    Returns
    -------
    int
        The value given to :func:`set_num_threads`, else ``OMP_NUM_THREADS``, else the
        CPUs this process may run on (affinity mask and cgroup quota).
    """
    return _num_threads if _num_threads is not None else _default_threads()


def set_num_threads(n: int | None) -> None:
    """Set the default number of native threads for every kernel call.

    Parameters
    ----------
    n : int or None
        A positive thread count, or None to go back to the automatic default.
    """
    global _num_threads
    if n is not None:
        n = _check_threads(n)
    _num_threads = n


def _check_threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int,)) and not hasattr(
        threads, "__index__"
    ):
        raise TypeError(f"threads must be a positive integer, got {threads!r}")
    threads = int(threads)
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be between 1 and {MAX_THREADS}, got {threads}")
    return threads


def resolve_threads(threads) -> int:
    """``threads`` validated, or the default when it is None."""
    return get_num_threads() if threads is None else _check_threads(threads)
