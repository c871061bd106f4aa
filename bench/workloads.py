"""Shared benchmark data: moved to :mod:`fastaug.bench.workloads` (one copy, installed).

Kept so that the scripts here can still ``import workloads``.
"""
from fastaug.bench.workloads import *  # noqa: F403
from fastaug.bench.workloads import __all__  # noqa: F401
