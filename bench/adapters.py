"""Library adapters: moved to :mod:`fastaug.bench.adapters` (one copy, installed).

Kept so that the scripts here can still ``import adapters``.
"""
from fastaug.bench.adapters import *  # noqa: F403
from fastaug.bench.adapters import __all__  # noqa: F401
