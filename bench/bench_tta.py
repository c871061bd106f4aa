"""fastaug.tta: views and dense inversion against plain numpy, 1 thread.

Views: ``tta.views(x, kind)`` (one native pass per view) against numpy slicing and
flipping copied into one ``(V, N, ...)`` array, and against ``np.copyto`` of the output's
size (the memory floor). Inversion: ``tta.merge(maps, "mean", info=info)`` of flip views
against ``np.flip`` back and a mean (the fastest exact numpy equivalent).

Run from the repository root: PYTHONPATH=. python bench/bench_tta.py
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import fastaug as fa  # noqa: E402
from fastaug import tta  # noqa: E402
from fastaug.bench import workloads  # noqa: E402
from fastaug.bench.timing import median_ms  # noqa: E402

fa.set_num_threads(1)


def numpy_ten_crop(x, ch, cw):
    h, w = x.shape[1:3]
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    out = np.empty((10, len(x), ch, cw, x.shape[3]), np.uint8)
    for k, src in enumerate((x, x[:, :, ::-1])):
        for j, (t, lft) in enumerate([(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw),
                                      (top, left)]):
            out[5 * k + j] = src[:, t:t + ch, lft:lft + cw]
    return out


def numpy_flip(x):
    out = np.empty((2,) + x.shape, np.uint8)
    out[0] = x
    out[1] = x[:, :, ::-1]
    return out


x = workloads.sample_images(64, 256)
print(f"batch {x.shape}, 1 thread, medians of 7 runs")
for name, ours, theirs, shape in [
    ("flip", lambda: tta.views(x, "flip"), lambda: numpy_flip(x), (2,) + x.shape),
    ("ten_crop 224", lambda: tta.views(x, "ten_crop", size=224),
     lambda: numpy_ten_crop(x, 224, 224), (10, 64, 224, 224, 3)),
]:
    src = np.ones(shape, np.uint8)
    dst = np.empty_like(src)
    t_fa, t_np = median_ms(ours), median_ms(theirs)
    t_cp = median_ms(lambda d=dst, s=src: np.copyto(d, s))
    print(f"views {name:13s} fastaug {t_fa:7.1f} ms  numpy {t_np:7.1f} ms  "
          f"copyto {t_cp:7.1f} ms  numpy/fastaug {t_np / t_fa:.2f}x  "
          f"fastaug/copyto {t_fa / t_cp:.2f}x")

small = x[:16, :128, :128]
v, info = tta.views(small, "flip", return_info=True)
maps = np.random.default_rng(0).random((2, 16, 128, 128, 21), dtype=np.float32)
t_fa = median_ms(lambda: tta.merge(maps, "mean", info=info))
t_np = median_ms(lambda: (maps[0] + maps[1][:, :, ::-1]) / 2)
print(f"invert+merge flip (2, 16, 128, 128, 21) float32: fastaug.tta {t_fa:.1f} ms  "
      f"numpy flip-back {t_np:.1f} ms  ratio {t_fa / t_np:.1f}x slower")
