"""Timing helpers shared by every benchmark: interleaved runs, statistics, machine facts.

:func:`measure` warms every callable up, then times them ``repeat`` times each,
interleaved in rotating order with the garbage collector off, so that a change in
machine load hits every callable alike. :class:`OtherLoad` measures how many CPUs other
processes kept busy meanwhile (a suspect timing says so).
"""
from __future__ import annotations

import gc
import os
import platform
import time
from typing import Callable

import numpy as np

__all__ = ["OtherLoad", "cpu_model", "cpus", "loadavg", "measure", "median_ms", "stats"]


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    """Median milliseconds of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def stats(times: list[float]) -> dict:
    t = np.asarray(times) * 1e3
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return {"median_ms": float(med), "min_ms": float(t.min()), "max_ms": float(t.max()),
            "q1_ms": float(q1), "q3_ms": float(q3), "runs_ms": [float(x) for x in t]}


def measure(fns: dict[str, Callable[[], object]], repeat: int, min_warmup: int = 2,
            warmup_seconds: float = 0.3) -> tuple[dict, dict]:
    """Time each callable ``repeat`` times, interleaved, after a warm-up.

    Parameters
    ----------
    fns : dict of name -> callable
        Zero-argument callables doing one batch each.
    repeat : int
        Timed runs per callable.
    min_warmup : int
        Untimed runs per callable before timing (more until ``warmup_seconds`` pass):
        page faults, caches, branch predictors and CPU clocks settle.
    warmup_seconds : float

    Returns
    -------
    wall, cpu : dict of name -> list of float
        Wall-clock and process CPU seconds per run; CPU / wall is the number of cores
        a run kept busy, whatever else the machine was doing.
    """
    names = list(fns)
    start, rounds = time.perf_counter(), 0
    while rounds < min_warmup or (time.perf_counter() - start < warmup_seconds and rounds < 20):
        for name in names:
            fns[name]()
        rounds += 1
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # no collector pauses inside a timed run
    try:
        for r in range(repeat):
            # Rotate the order so no callable always runs right after the same one.
            for name in names[r % len(names):] + names[:r % len(names)]:
                c0, t0 = time.process_time(), time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times, cpu



def print_against_floor(fns: dict[str, Callable[[], object]], repeat: int,
                        floor: str = "np.copyto") -> None:
    """Time ``fns`` interleaved (:func:`measure`) and print each median with its range and
    its speed as a fraction of ``fns[floor]``'s (the memory floor), with the CPU time
    other processes took meanwhile."""
    with OtherLoad() as others:
        times, _ = measure(fns, repeat)
    reference = np.median(times[floor])
    if others.value is not None:
        print(f"other processes kept {others.value:.2f} CPUs busy meanwhile")
    width = max(map(len, fns))
    for label, t in times.items():
        s = stats(t)
        print(f"{label:<{width}}  {s['median_ms']:7.2f} ms ({s['min_ms']:.2f}-"
              f"{s['max_ms']:.2f})  {reference / np.median(t):5.2f}x")


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()



def loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _machine_busy_seconds() -> float | None:
    """CPU seconds used by every process since boot (Linux ``/proc/stat``), else None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    # Steal is time the hypervisor gave to other guests: just as lost to us.
    return (user + nice + system + irq + softirq + steal) / tick


class OtherLoad:
    """Average number of CPUs that *other* processes kept busy during a ``with`` block.

    Machine-wide busy time minus this process's CPU time, over the wall time; ``value``
    is None where ``/proc/stat`` is missing. Other processes skew every timing, the
    thread-scaling rows most, so the report shows it.
    """

    def __enter__(self):
        self.value = None
        self._busy, self._own = _machine_busy_seconds(), time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc):
        busy = _machine_busy_seconds()
        wall = time.perf_counter() - self._wall
        if busy is not None and self._busy is not None and wall > 0:
            own = time.process_time() - self._own
            self.value = max(0.0, (busy - self._busy - own) / wall)
        return False


def met_cell(met: bool | None, note: str | None) -> str:
    """The "met" column of a table row: yes / **no** / the note alone, note in brackets."""
    if met is None:
        return note or "—"
    return ("yes" if met else "**no**") + (f" ({note})" if note else "")
