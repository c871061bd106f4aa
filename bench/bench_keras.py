"""ImageDataGenerator.flow prefetching: batch time with a simulated training step.

Run from the repository root: PYTHONPATH=. python bench/bench_keras.py

The classic Keras configuration (rotation 40, shifts 0.2, shear 0.2, zoom 0.2, flip,
fill "nearest", rescale 1/255) on 256x224x224x3 batches, one native thread. A consumer
that "trains" for T ms per batch (a sleep, which leaves the CPU to the producer) sees
about T + A ms per batch without prefetching (A: the augmentation time) and max(T, A)
with it.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastaug
from fastaug.keras import ImageDataGenerator


def per_batch_ms(gen, x, batch, prefetch, train_ms, batches):
    it = gen.flow(x, batch_size=batch, seed=0, prefetch=prefetch)
    next(it)  # start-up (the first batch is never overlapped)
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        next(it)
        time.sleep(train_ms / 1000)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=9)
    ap.add_argument("--train-ms", type=float, nargs="+", default=[0, 100, 200])
    args = ap.parse_args(argv)
    fastaug.set_num_threads(1)
    x = np.random.default_rng(0).integers(0, 256, (4 * args.batch, 224, 224, 3), np.uint8)
    gen = ImageDataGenerator(rotation_range=40, width_shift_range=0.2,
                             height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
                             horizontal_flip=True, fill_mode="nearest", rescale=1 / 255)
    print(f"batch {args.batch}x224x224x3, 1 native thread, median ms per batch of "
          f"{args.batches}")
    print("| train ms | prefetch=0 | prefetch=2 | ratio |")
    print("|---|---|---|---|")
    for t in args.train_ms:
        off = per_batch_ms(gen, x, args.batch, 0, t, args.batches)
        on = per_batch_ms(gen, x, args.batch, 2, t, args.batches)
        print(f"| {t:.0f} | {off:.1f} | {on:.1f} | {off / on:.2f}x |")


if __name__ == "__main__":
    main()
