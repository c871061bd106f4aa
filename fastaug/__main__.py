"""Command line: ``fastaug demo`` (also ``python -m fastaug demo``)."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def sample_image() -> np.ndarray:
    """The sample photo shipped with the package, uint8 (200, 300, 3) RGB."""
    from importlib.resources import files

    with files("fastaug").joinpath("data/chelsea.npz").open("rb") as f:
        return np.load(f)["image"]


def _demo(args: argparse.Namespace) -> int:
    from . import get_num_threads, ops

    image = sample_image()
    batch = np.repeat(image[np.newaxis], args.batch, axis=0)
    rng = np.random.default_rng(0)
    angles = np.deg2rad(rng.uniform(-30, 30, args.batch))
    h, w = image.shape[:2]
    cos, sin = np.cos(angles), np.sin(angles)
    matrices = np.zeros((args.batch, 2, 3))
    matrices[:, 0, 0], matrices[:, 0, 1] = cos, -sin
    matrices[:, 1, 0], matrices[:, 1, 1] = sin, cos
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    matrices[:, :, 2] = centre - np.einsum("nij,j->ni", matrices[:, :, :2], centre)
    ops.augment(batch, matrices, size=(h, w), fill_mode="reflect")
    start = time.perf_counter()
    out = ops.augment(batch, matrices, size=(h, w), fill_mode="reflect", dtype="float32",
                      layout="NCHW")
    elapsed = time.perf_counter() - start
    print(f"fastaug: rotated {args.batch} images of {h}x{w}x3 to float32 NCHW {out.shape} "
          f"in {elapsed * 1e3:.1f} ms ({args.batch / elapsed:,.0f} images/s, "
          f"{get_num_threads()} threads)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastaug`` console script."""
    parser = argparse.ArgumentParser(prog="fastaug", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="augment the bundled sample photo and time it")
    demo.add_argument("--batch", type=int, default=64, help="batch size for the timing")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
