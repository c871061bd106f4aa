"""Loader benchmarks: overlap with a simulated training step, and throughput vs a direct loop.

Run from the repository root: PYTHONPATH=. python bench/bench_loader.py [--files]
(--files: a folder of 2,000 JPEG files, fastaug.Loader vs torchvision ImageFolder +
DataLoader when torchvision is importable; see --help with --files)
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


# ---- --files: a JPEG folder, fastaug.Loader vs torchvision ImageFolder + DataLoader ----

#: scikit-image sample pictures that ship with the package (no download).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
          "immunohistochemistry", "retina", "colorwheel", "camera", "coins", "moon",
          "clock", "brick", "grass", "gravel")

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def make_jpegs(root, n=2000, classes=10, size=(500, 375), seed=0):
    """``n`` JPEG files (quality 90) of ``size`` (width, height) in ``classes`` subfolders.

    Each is a random crop (35-100% of the side, about 4:3), resize, optional flip and
    brightness/contrast/tint change of a scikit-image sample picture, so that file sizes
    and decode times are like photos rather than flat or noise images. Existing files
    are kept.
    """
    import os

    import cv2
    import skimage.data

    photos = []
    for name in PHOTOS:
        p = np.asarray(getattr(skimage.data, name)())
        if p.ndim == 2:
            p = np.repeat(p[:, :, None], 3, axis=2)
        photos.append(np.ascontiguousarray(p[:, :, :3]))
    rng = np.random.default_rng(seed)
    w_out, h_out = size
    for k in range(n):
        d = os.path.join(root, f"n{k % classes:08d}")
        path = os.path.join(d, f"img_{k:05d}.jpg")
        # Draw every parameter first: file k is the same whichever files exist.
        p = photos[rng.integers(len(photos))]
        h, w = p.shape[:2]
        s = rng.uniform(0.35, 1.0)
        ch = int(min(h, w * h_out / w_out) * s)
        cw = min(w, int(ch * w_out / h_out * rng.uniform(0.9, 1.1)))
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        flip = rng.random() < 0.5
        gain = rng.uniform(0.7, 1.3) * rng.uniform(0.85, 1.15, 3)
        contrast = rng.uniform(0.8, 1.2)
        if os.path.exists(path):
            continue
        img = cv2.resize(p[y0:y0 + ch, x0:x0 + cw], size, interpolation=cv2.INTER_AREA)
        if flip:
            img = img[:, ::-1]
        img = np.clip((img - 128.0) * contrast + 128.0 * gain, 0, 255)
        os.makedirs(d, exist_ok=True)
        cv2.imwrite(path, np.ascontiguousarray(img.astype(np.uint8)[:, :, ::-1]),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])


def _tv_worker_init(_):
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def torchvision_loader(root, bs, workers):
    """torchvision's ImageFolder (PIL decode) + transforms.v2 + DataLoader, or None."""
    try:
        import torch
        import torchvision
        from torchvision.transforms import v2
    except ImportError as exc:
        print(f"torchvision comparison skipped: {exc}")
        return None
    torch.set_num_threads(1)
    tf = v2.Compose([v2.RandomResizedCrop(224), v2.RandomHorizontalFlip(), v2.ToImage(),
                     v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    ds = torchvision.datasets.ImageFolder(root, transform=tf)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    # persistent_workers: worker start-up is not counted in the timed epochs.
    return torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=True, num_workers=workers,
                                       persistent_workers=True,
                                       worker_init_fn=_tv_worker_init)


def _cpu_seconds(loader) -> float:
    """CPU time (user + system) of this process and of a torch DataLoader's workers."""
    import os

    t = sum(os.times()[:2])
    tick = os.sysconf("SC_CLK_TCK")
    for w in getattr(getattr(loader, "_iterator", None), "_workers", None) or []:
        try:
            with open(f"/proc/{w.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return t


def _epoch(loader, limit=None):
    """(images, seconds, CPU seconds) for one pass (``limit`` images at most)."""
    it = iter(loader)  # torch: resets persistent workers (outside the timing)
    count = 0
    c0 = _cpu_seconds(loader)
    t0 = time.perf_counter()
    for images, labels in it:
        assert tuple(images.shape[1:]) == (3, 224, 224) and len(labels) == len(images)
        assert str(images.dtype).endswith("float32")
        count += len(images)
        if limit is not None and count >= limit:
            break
    sec = time.perf_counter() - t0
    return count, sec, _cpu_seconds(loader) - c0


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def files(root, n=2000, bs=64, workers=2, epochs=2, warmup=256, decode_size=None):
    """JPEG folder 500x375 -> RandomResizedCrop(224) + flip + normalise, float32 NCHW.

    fastaug.Loader (threads, OpenCV decode, one native thread per worker) against
    torchvision ImageFolder + DataLoader (processes, PIL decode) with the same number
    of workers; epochs interleaved, images per second of each epoch, median.
    """
    import cv2

    cv2.setNumThreads(1)
    make_jpegs(root, n)
    ds = fastaug.ImageFolder(root)
    aug = fastaug.Compose([fastaug.RandomResizedCrop(224), fastaug.HorizontalFlip(),
                           fastaug.Normalize(mean=MEAN, std=STD, layout="NCHW")], seed=0)
    fa = Loader(ds, batch_size=bs, augment=aug, workers=workers, seed=0,
                decode_size=decode_size)
    print(f"{ds}, batch {bs}, workers={workers}, decode_size={decode_size}, "
          f"{epochs} timed epochs each after a {warmup}-image warm-up; "
          f"loadavg before: {_loadavg()}")
    tv = torchvision_loader(root, bs, workers)
    loaders = {"fastaug.Loader": fa}
    if tv is not None:
        loaders["torchvision DataLoader"] = tv
    rates = {name: [] for name in loaders}
    cpu = {name: [] for name in loaders}
    for ld in reversed(loaders.values()):  # torch forks its workers first
        _epoch(ld, warmup)
    for e in range(epochs):
        for name, ld in loaders.items():
            if hasattr(ld, "set_epoch"):
                ld.set_epoch(e)
            count, sec, cpu_s = _epoch(ld)
            rates[name].append(count / sec)
            cpu[name].append(cpu_s / count * 1e3)
            print(f"  epoch {e} {name:24s} {count} images {sec:6.2f} s "
                  f"{count / sec:7.0f} img/s  {cpu_s / count * 1e3:5.2f} CPU ms/img  "
                  f"loadavg {_loadavg()}")
    # CPU ms per image (all threads/processes of the loader) hardly depends on what
    # else runs on the machine; wall-clock img/s does.
    print(f"\n| {'loader':24s} | {'img/s (median)':>14s} | {'CPU ms/img':>10s} | "
          "img/s per epoch |")
    print(f"|{'-' * 26}|{'-' * 16}|{'-' * 12}|-----------------|")
    for name, r in rates.items():
        print(f"| {name:24s} | {statistics.median(r):14.0f} | "
              f"{statistics.median(cpu[name]):10.2f} | "
              f"{', '.join(f'{x:.0f}' for x in r)} |")
    if tv is not None:
        ratio = (statistics.median(rates["fastaug.Loader"])
                 / statistics.median(rates["torchvision DataLoader"]))
        cpu_ratio = (statistics.median(cpu["torchvision DataLoader"])
                     / statistics.median(cpu["fastaug.Loader"]))
        print(f"\nratio fastaug / torchvision: {ratio:.2f}x img/s, "
              f"{cpu_ratio:.2f}x less CPU per image")


if __name__ == "__main__" and "--files" in __import__("sys").argv:
    _p = argparse.ArgumentParser()
    _p.add_argument("--files", action="store_true")
    _p.add_argument("--root", default="/tmp/jpeg2000")
    _p.add_argument("--n", type=int, default=2000)
    _p.add_argument("--batch", type=int, default=64)
    _p.add_argument("--workers", type=int, default=2)
    _p.add_argument("--epochs", type=int, default=2)
    _p.add_argument("--warmup", type=int, default=256)
    _p.add_argument("--decode-size", type=int, default=None,
                    help="pass decode_size=(S, S) to fastaug.Loader")
    _a = _p.parse_args()
    files(_a.root, _a.n, _a.batch, _a.workers, _a.epochs, _a.warmup,
          None if _a.decode_size is None else (_a.decode_size, _a.decode_size))
