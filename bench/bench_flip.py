"""flip in detail: which images are flipped, vector and scalar code, against np.copyto.

Usage::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python bench/bench_flip.py [--batch 256] \
        [--size 224] [--repeat 15] [--channels 3]

Times, interleaved in one run (``fastaug.bench.timing.measure``), on the photos of
``compare_ops.py``'s flip row, one thread, ``out=`` preallocated: the memory floor
``np.copyto``; ``ops.flip`` with no image flipped, every image flipped left-right,
the workload's random half (p = 0.5), every image flipped top-bottom only, and both
ways; and the random half without AVX-512 VBMI (``_kernels.set_simd(True, vbmi=False)``)
and with the vector kernels switched off (``_kernels.set_simd(False)``). Prints one line
per callable: median (min-max) ms and copyto median / its median (higher is better).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adapters import copyto_adapter  # noqa: E402
from workloads import make_workload  # noqa: E402

from fastaug import _kernels, ops  # noqa: E402
from fastaug.bench.timing import print_against_floor  # noqa: E402


def callables(batch: int, size: int, channels: int) -> tuple[dict, dict]:
    """The timed callables ({label: run()}) and each flip's (horizontal, vertical) flags."""
    work = make_workload("flip", batch, size, channels=channels)
    images, half = work.images, work.params["horizontal"]
    out = work.empty_out()
    n = len(images)
    yes, no = np.ones(n, bool), np.zeros(n, bool)
    flags = {"none flipped": (no, no), "all left-right": (yes, no),
             "half left-right (p=0.5)": (half, no), "all top-bottom": (no, yes),
             "all both ways": (yes, yes)}

    def flip(h, v):
        return lambda: ops.flip(images, h, v, out=out, threads=1)

    def limited(**simd):
        def run():
            _kernels.set_simd(**simd)
            try:
                return ops.flip(images, half, out=out, threads=1)
            finally:
                _kernels.set_simd(True)
        return run

    fns = {"np.copyto": copyto_adapter(work)}
    fns.update({label: flip(h, v) for label, (h, v) in flags.items()})
    fns["half left-right, AVX2 (no VBMI)"] = limited(enabled=True, vbmi=False)
    fns["half left-right, scalar"] = limited(enabled=False)
    flags["half left-right, AVX2 (no VBMI)"] = flags["half left-right, scalar"] = (half, no)
    return fns, flags


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="images per batch (256)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (224)")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3, 4),
                        help="channels per pixel (3)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per callable (15)")
    args = parser.parse_args(argv)
    fns, flags = callables(args.batch, args.size, args.channels)
    images = make_workload("flip", args.batch, args.size, channels=args.channels).images
    for label, (h, v) in flags.items():
        expected = np.where(h[:, None, None, None], images[:, :, ::-1], images)
        expected = np.where(v[:, None, None, None], expected[:, ::-1], expected)
        np.testing.assert_array_equal(fns[label](), expected, err_msg=label)
    print(f"batch {images.shape} uint8, threads=1, {args.repeat} interleaved runs, "
          f"ratio = np.copyto median / median (higher is better)")
    print_against_floor(fns, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
