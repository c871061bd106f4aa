"""Loader benchmarks: overlap with a simulated training step, and throughput vs a direct loop.

Run from the repository root: PYTHONPATH=. python bench/bench_loader.py [--files]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastaug
from fastaug import ops
from fastaug.loader import Loader


def warp_normalize(images, indices, threads=None):
    """Per-sample rotation + flip + resize to 224 + normalise to float32 NCHW, one pass."""
    n, h, w, _ = images.shape
    rng = np.random.default_rng(indices)
    ang = np.deg2rad(rng.uniform(-20, 20, n))
    s = 224 / min(h, w) * rng.uniform(1.0, 1.2, n)
    flip = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    m = np.zeros((n, 2, 3))
    m[:, 0, 0] = s * np.cos(ang) * flip
    m[:, 0, 1] = -s * np.sin(ang)
    m[:, 1, 0] = s * np.sin(ang) * flip
    m[:, 1, 1] = s * np.cos(ang)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    m[:, 0, 2] = 111.5 - (m[:, 0, 0] * cx + m[:, 0, 1] * cy)
    m[:, 1, 2] = 111.5 - (m[:, 1, 0] * cx + m[:, 1, 1] * cy)
    return ops.augment(images, m, size=(224, 224), dtype="float32", layout="NCHW",
                       mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                       fill_mode="reflect", threads=threads)


def time_aug(x, bs, threads):
    idx = np.arange(bs)
    warp_normalize(x[idx], idx, threads)
    t = []
    for k in range(5):
        idx = np.arange(k * bs, (k + 1) * bs) % len(x)
        t0 = time.perf_counter()
        warp_normalize(x[idx], idx, threads)
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


def overlap(x, bs, batches, workers, train_ms, sleep_aug_ms=None):
    if sleep_aug_ms is not None:
        # Augmentation simulated by a GIL-releasing sleep: measures the pipelining
        # itself, whatever other processes do to the CPUs.
        a = sleep_aug_ms / 1e3

        def aug(images, indices):
            time.sleep(a)
            return images
    else:
        aug = warp_normalize
        a = time_aug(x, bs, 1)  # one worker's time per batch (gather + augment, 1 thread)
    print(f"\n== overlap ({'sleep' if sleep_aug_ms else 'warp+normalise'} augment, "
          f"{batches} batches): batch {bs} of {x.shape[1:]} -> float32 (3, 224, 224), "
          f"workers={workers}; A = {a * 1e3:.1f} ms per batch on one thread")
    print(f"{'T ms':>6} {'epoch/batch ms':>15} {'T + A':>8} {'max(T, A/w)':>12} "
          f"{'ratio to max':>13}")
    for t_ms in train_ms:
        t = t_ms / 1e3
        loader = Loader(x, batch_size=bs, augment=aug, workers=workers,
                        seed=0, drop_last=True)
        n = min(batches, len(loader))
        t0 = time.perf_counter()
        for k, _ in enumerate(loader):
            if k == 0:
                t1 = time.perf_counter()  # after the first batch (start-up latency)
            time.sleep(t)  # the training step (releases the GIL, like a GPU step)
            if k + 1 == n:
                break
        end = time.perf_counter()
        per = (end - t0) / n
        steady = (end - t1) / n
        floor = max(t, a / workers)
        print(f"{t_ms:6.1f} {per * 1e3:15.1f} {(t + a) * 1e3:8.1f} {floor * 1e3:12.1f} "
              f"{per / floor:13.2f}   (steady state {steady * 1e3:.1f} ms)")


def throughput(x, bs, batches, workers, aug=None, name="warp+normalise", loader_aug=None):
    fn = aug if aug is not None else warp_normalize
    batches = min(batches, len(x) // bs)
    n = batches * bs
    # direct: gather + augment in a tight loop, kernels on `workers` threads
    direct = []
    loader_t = []
    for _rep in range(3):
        perm = np.random.default_rng(0).permutation(len(x))
        t0 = time.perf_counter()
        for k in range(batches):
            idx = perm[k * bs:(k + 1) * bs]
            if aug is None:
                fn(x[idx], idx, threads=workers)
            else:
                fn(x[idx], indices=idx)
        direct.append(n / (time.perf_counter() - t0))
        loader = Loader(x, batch_size=bs, augment=loader_aug or fn, workers=workers,
                        seed=0, drop_last=True)
        t0 = time.perf_counter()
        for k, _ in enumerate(loader):
            if k + 1 == batches:
                break
        loader_t.append(n / (time.perf_counter() - t0))
    d, lo = statistics.median(direct), statistics.median(loader_t)
    print(f"\n== throughput ({name}, batch {bs}, {workers} threads total): direct "
          f"{d:.0f} img/s, Loader {lo:.0f} img/s, ratio {lo / d:.2f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=30)
    args, _ = p.parse_known_args()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    import cv2
    img = cv2.resize(base, (500, 375), interpolation=cv2.INTER_CUBIC)
    x = np.stack([np.roll(img, k, axis=1) for k in range(1024)])
    a = time_aug(x, args.batch, 1) * 1e3
    overlap(x, args.batch, args.batches, args.workers,
            [round(a * f, 1) for f in (0.25, 0.5, 1.0, 1.5)])
    overlap(x, args.batch, args.batches, args.workers, [5.0, 10.0, 20.0, 30.0],
            sleep_aug_ms=20.0)
    throughput(x, args.batch, args.batches, args.workers)
    if hasattr(fastaug, "Compose"):
        def pipeline(threads):
            return fastaug.Compose([fastaug.RandomResizedCrop(224),
                                    fastaug.HorizontalFlip(),
                                    fastaug.ColorJitter(0.4, 0.4, 0.4, 0.1),
                                    fastaug.Normalize(layout="NCHW")], seed=0,
                                   threads=threads)
        # direct: one Compose on `workers` threads; Loader: threads=None, which the
        # Loader runs on one thread per worker
        throughput(x, args.batch, args.batches, args.workers, pipeline(args.workers),
                   "Compose ImageNet pipeline", loader_aug=pipeline(None))


if __name__ == "__main__" and "--files" not in __import__("sys").argv:
    main()


def files(root, n=400, bs=32, workers=2):
    """JPEG folder (500x375 from skimage photos) decoded + Compose to 224: workers vs none."""
    import os

    import cv2
    import skimage.data

    if not os.path.isdir(root):
        photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
                  skimage.data.rocket()]
        rng = np.random.default_rng(0)
        for k in range(n):
            p = photos[k % len(photos)]
            h, w = p.shape[:2]
            y0, x0 = rng.integers(0, h // 4), rng.integers(0, w // 4)
            img = cv2.resize(p[y0:y0 + 3 * h // 4, x0:x0 + 3 * w // 4], (500, 375))
            d = os.path.join(root, f"c{k % 4}")
            os.makedirs(d, exist_ok=True)
            cv2.imwrite(os.path.join(d, f"{k}.jpg"), img[:, :, ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
    ds = fastaug.ImageFolder(root) if hasattr(fastaug, "ImageFolder") else None
    from fastaug.loader import ImageFolder
    ds = ds or ImageFolder(root)
    aug = fastaug.Compose([fastaug.RandomResizedCrop(224), fastaug.HorizontalFlip(),
                           fastaug.Normalize(layout="NCHW")], seed=0)
    for w in (0, 1, workers):
        best = []
        for _ in range(3):
            loader = Loader(ds, batch_size=bs, augment=aug, workers=w, seed=0)
            t0 = time.perf_counter()
            count = sum(len(b[1]) for b in loader)
            best.append(count / (time.perf_counter() - t0))
        print(f"files: {len(ds)} JPEG 500x375 -> float32 224, workers={w}: "
              f"{statistics.median(best):.0f} img/s")


if __name__ == "__main__" and "--files" in __import__("sys").argv:
    files("/tmp/fastaug_bench/jpegs")
