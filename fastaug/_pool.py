"""A pool that recycles the memory of large arrays nobody references any more."""

from __future__ import annotations

import sys
import sysconfig
import threading

import numpy as np


class OutputPool:
    """Recycles the memory of large outputs that nobody references any more.

    A fresh array of many MiB is mapped anew by the allocator, and the kernel pays a page
    fault and a page of zeroing for every 4 KiB it first writes (about a fifth of a
    float32 ImageNet batch's time). The pool keeps the last ``size`` outputs; an output
    is handed out again only when its sole references are the pool's own, i.e. the
    caller has dropped it and every view of it (a view, a ``torch.from_numpy`` tensor or
    a buffer export holds a reference). Nothing is reused on interpreters without
    reliable reference counts (free-threaded builds). Pickles as an empty pool.
    """

    MIN_BYTES = 1 << 20
    ENABLED = hasattr(sys, "getrefcount") and not sysconfig.get_config_var("Py_GIL_DISABLED")

    def __init__(self, size: int = 2):
        self._size = size
        self._arrays: list = []
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """How many outputs the pool remembers."""
        return self._size

    def take(self, shape: tuple, dtype) -> np.ndarray | None:
        """An unreferenced array of ``shape`` and ``dtype``, removed from the pool, or None."""
        if not self.ENABLED:
            return None
        dtype = np.dtype(dtype)
        with self._lock:
            for k in range(len(self._arrays)):
                a = self._arrays[k]
                # References: the list, `a`, getrefcount's argument.
                if a.shape == shape and a.dtype == dtype and sys.getrefcount(a) == 3:
                    del self._arrays[k]
                    return a
        return None

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``: recycled when one is free,
        and kept for reuse once the caller drops it."""
        a = self.take(shape, dtype)
        if a is None:
            a = np.empty(shape, dtype)
        self.keep(a)
        return a

    def keep(self, array: np.ndarray) -> None:
        """Remember a large output for reuse once the caller has dropped it."""
        if self.ENABLED and array.nbytes >= self.MIN_BYTES and array.base is None:
            with self._lock:
                self._arrays = [*self._arrays, array][-self._size:]

    def __getstate__(self) -> dict:
        return {"size": self._size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"])
