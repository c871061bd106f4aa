"""fastaug: C-accelerated batch image augmentation.

Batches are uint8 numpy arrays ``(N, H, W, C)``; see :mod:`fastaug.ops` for the native
operations and the conventions every part of the package follows.
"""
from . import ops
from ._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = ["get_num_threads", "ops", "set_num_threads", "__version__"]
