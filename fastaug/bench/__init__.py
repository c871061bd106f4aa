"""fastaug's benchmark suite: fastaug against the libraries people use instead.

``python -m fastaug.bench`` (or ``fastaug bench``) times every library on the same
workloads and the same decoded photos, prints a markdown table and writes JSON, markdown
and a PNG chart; ``--sweep`` measures fastaug's scaling. See :mod:`fastaug.bench.cli`.

Modules: :mod:`~fastaug.bench.workloads` (the shared photos and random parameters),
:mod:`~fastaug.bench.adapters` (fastaug ops, per-image OpenCV loops, the memory floor),
:mod:`~fastaug.bench.pipelines` (whole pipelines per library),
:mod:`~fastaug.bench.peers` (the comparison's workloads and one adapter per library),
:mod:`~fastaug.bench.timing` and :mod:`~fastaug.bench.chart`.
"""
from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark command line (see ``python -m fastaug.bench --help``)."""
    from .cli import main as _main

    return _main(argv)


__all__ = ["main"]
