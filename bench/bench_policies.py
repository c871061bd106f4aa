"""RandAugment(2, 9): fastaug on the batch vs torchvision v2 per image, 1 thread.

Run from the repository root (needs torchvision): PYTHONPATH=. python bench/bench_policies.py
"""
import time

import numpy as np
import torch
from torchvision.transforms import v2

import fastaug as fa
from fastaug.bench import workloads

torch.set_num_threads(1)
x = workloads.sample_images(256, 224)
ra = fa.RandAugment(2, 9, seed=0, threads=1)
tv = v2.RandAugment(2, 9)
tensors = [torch.from_numpy(im.copy()).permute(2, 0, 1).contiguous() for im in x]


def med(f, r=5):
    f()
    ts = []
    for _ in range(r):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return np.median(ts) * 1e3


t_fa = med(lambda: ra(x))
t_tv = med(lambda: [tv(t) for t in tensors])
print(f"fastaug RandAugment(2, 9): {t_fa:.1f} ms; torchvision v2 per image: {t_tv:.1f} ms; "
      f"ratio {t_tv / t_fa:.2f}x")
