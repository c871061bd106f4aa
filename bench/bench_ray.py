"""Ray Data overhead: fastaug.ray.Augment on a local Ray instance vs calling the pipeline.

2,000 in-memory 256x256 RGB photos through RandomResizedCrop(224) + HorizontalFlip +
ColorJitter (uint8 out, so the object store moves 300 MB, not 1.2 GB of float32), in
batches of 100:

- direct: ``aug(images[k:k+100], indices=ids[k:k+100])`` in a loop, ``threads`` 1 and 2;
- Ray: ``ds.map_batches(Augment, ..., compute=ActorPoolStrategy(size=k))`` with k = 1
  and 2 one-CPU actors (one kernel thread each), consumed in the driver with
  ``iter_batches`` as a training loop would. "end to end" includes starting the actors;
  "after start-up" subtracts the time of the same job on the first 100 images
  (start-up plus those) and counts the other 1,900 only.

Run from the repository root: PYTHONPATH=. python bench/bench_ray.py [--repeat 3]
Medians of ``--repeat`` runs; the Ray output is checked against the direct one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import fastaug as fa  # noqa: E402
from fastaug.bench.workloads import sample_images  # noqa: E402
from fastaug.ray import Augment  # noqa: E402

BATCH = 100


def pipeline() -> fa.Compose:
    return fa.Compose([fa.RandomResizedCrop(224), fa.HorizontalFlip(),
                       fa.ColorJitter(0.4, 0.4, 0.4)], seed=0)


def direct(images: np.ndarray, ids: np.ndarray, threads: int) -> tuple[float, np.ndarray]:
    aug = pipeline()
    aug.threads = threads
    t0 = time.perf_counter()
    out = [aug(images[k:k + BATCH], indices=ids[k:k + BATCH])
           for k in range(0, len(images), BATCH)]
    return time.perf_counter() - t0, np.concatenate(out)


def through_ray(ray, ds, concurrency: int) -> tuple[float, dict]:
    stage = ds.map_batches(Augment, fn_constructor_kwargs={"pipeline": pipeline()},
                           batch_format="numpy", batch_size=BATCH, num_cpus=1,
                           compute=ray.data.ActorPoolStrategy(size=concurrency))
    t0 = time.perf_counter()
    sums = {}
    for batch in stage.iter_batches(batch_size=None, batch_format="numpy"):
        # A checksum per row, to compare with the direct call.
        flat = batch["image"].reshape(len(batch["id"]), -1)
        sums.update(zip(batch["id"].tolist(), flat.sum(axis=1).tolist()))
    return time.perf_counter() - t0, sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)

    import ray

    images = sample_images(args.n, (256, 256), 3)
    ids = np.arange(args.n)
    n = args.n
    print(f"{n} images {images.shape[1:]} uint8 -> (224, 224, 3) uint8, batches of {BATCH}, "
          f"{os.cpu_count()} CPUs, ray {ray.__version__}, medians of {args.repeat}")

    rows = []
    direct(images[:BATCH], ids[:BATCH], 1)  # warm-up
    times: dict = {1: [], 2: []}
    for _ in range(args.repeat):
        for threads in times:
            t, out = direct(images, ids, threads)
            times[threads].append(t)
    ref_sums = out.reshape(n, -1).sum(axis=1).tolist()
    for threads, ts in times.items():
        rows.append((f"direct, threads={threads}", threads, n / statistics.median(ts), None))

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    try:
        ds = ray.data.from_items([{"id": int(i), "image": images[i]} for i in ids],
                                 override_num_blocks=n // BATCH).materialize()
        # Start-up + 100 images, in two blocks so that two actors both get one.
        one = ray.data.from_items([{"id": int(i), "image": images[i]} for i in ids[:BATCH]],
                                  override_num_blocks=2).materialize()
        for concurrency in (1, 2):
            ends, starts = [], []
            for _ in range(args.repeat):
                end, sums = through_ray(ray, ds, concurrency)
                assert sums == dict(enumerate(ref_sums)), "Ray output differs from direct"
                ends.append(end)
                starts.append(through_ray(ray, one, concurrency)[0])
            e2e, start = statistics.median(ends), statistics.median(starts)
            rows.append((f"ray, {concurrency} actor(s) x 1 CPU", concurrency, n / e2e,
                         (n - BATCH) / (e2e - start)))
            print(f"ray, {concurrency} actor(s): start-up + one batch {start:.2f} s, "
                  f"all {n} images {e2e:.2f} s")
    finally:
        ray.shutdown()

    direct_rate = {r[1]: r[2] for r in rows if r[3] is None}
    print(f"\n{'':28} {'end to end':>11} {'after start-up':>15}   ratio to direct "
          "(same CPUs)")
    for name, cpus, e2e, steady in rows:
        if steady is None:
            print(f"{name:28} {e2e:7.0f} img/s {'':>15}   1.00")
        else:
            print(f"{name:28} {e2e:7.0f} img/s {steady:9.0f} img/s   "
                  f"{e2e / direct_rate[cpus]:.2f} end to end, "
                  f"{steady / direct_rate[cpus]:.2f} after start-up")


if __name__ == "__main__":
    main()
