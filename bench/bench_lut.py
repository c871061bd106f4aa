"""lut in detail: each native path, table shape and thread count against np.copyto.

Usage::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python bench/bench_lut.py [--batch 256] \
        [--size 224] [--repeat 9]

Times, interleaved in one run (``fastaug.bench.timing.measure``), on the workload of
``compare_ops.py``'s lut row (photos, one random table per image and channel): the
memory floor ``np.copyto``, ``ops.lut`` with per-image, per-channel and single tables
on the path this CPU runs by default (AVX-512 VBMI where it has it), the portable C path
with per-image tables and the per-image ``cv2.LUT`` loop; then, in a second group (an
OpenMP worker still spinning after a threads=2 call would slow the single-threaded
callables), np.copyto and per-image tables on one and two threads. Prints one line per
callable: median (min-max) ms and copyto median / its median.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adapters import copyto_adapter, opencv_adapter  # noqa: E402
from workloads import make_workload  # noqa: E402

from fastaug import _kernels, ops  # noqa: E402
from fastaug.bench.timing import print_against_floor  # noqa: E402

try:
    import cv2
except ImportError:
    cv2 = None


def callables(batch: int, size: int) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """The timing groups ({label: run()} each), the input batch and its tables."""
    work = make_workload("lut", batch, size)
    images, tables = work.images, work.params["tables"]
    out = work.empty_out()
    best = _kernels.lut_path("best")

    def on_path(path, fn):
        def run():
            _kernels.lut_path(path)
            try:
                return fn()
            finally:
                _kernels.lut_path("best")
        return run

    fns = {
        "np.copyto": copyto_adapter(work),
        f"lut {best}, (N, C, 256), threads=1":
            lambda: ops.lut(images, tables, out=out, threads=1),
        f"lut {best}, (C, 256), threads=1":
            lambda: ops.lut(images, tables[0], out=out, threads=1),
        f"lut {best}, (256,), threads=1":
            lambda: ops.lut(images, tables[0, 0], out=out, threads=1),
    }
    if best != "portable":
        fns["lut portable, (N, C, 256), threads=1"] = on_path(
            "portable", lambda: ops.lut(images, tables, out=out, threads=1))
    if cv2 is not None:
        fns["cv2.LUT loop"] = opencv_adapter(work)
    threads = {
        "np.copyto": fns["np.copyto"],
        f"lut {best}, (N, C, 256), threads=1": fns[f"lut {best}, (N, C, 256), threads=1"],
        f"lut {best}, (N, C, 256), threads=2":
            lambda: ops.lut(images, tables, out=out, threads=2),
    }
    return [fns, threads], images, tables


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="images per batch (256)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (224)")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per callable (9)")
    args = parser.parse_args(argv)
    if cv2 is not None:
        cv2.setNumThreads(1)
    groups, images, tables = callables(args.batch, args.size)
    expected = tables[np.arange(len(images))[:, None, None, None], np.arange(3), images]
    print(f"batch {images.shape} uint8, {args.repeat} interleaved runs per group, "
          f"ratio = np.copyto median / median (higher is better)")
    for fns in groups:
        for label, fn in fns.items():
            if label.startswith("lut") and "(N, C, 256)" in label:
                np.testing.assert_array_equal(fn(), expected, err_msg=label)
        print()
        print_against_floor(fns, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
