"""The policies on 256x224x224x3, 1 thread: fastaug on the batch vs torchvision v2 per image.

Run from the repository root: PYTHONPATH=. python bench/bench_policies.py [--split]
Without torchvision only fastaug is timed (medians of 5 runs, ms). ``--split`` also
prints, per policy, the time of each native op it calls (``ops.sequence``, AugMix's
``ops.blend``; summed over 10 calls, per call) and the rest (sampling, the steps'
parameters), and the time of RandAugment applying each op alone to every image.
"""
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")



import numpy as np  # noqa: E402

import fastaug as fa  # noqa: E402
from fastaug import ops  # noqa: E402
from fastaug.bench import workloads  # noqa: E402
from fastaug.bench.timing import median_ms  # noqa: E402

try:
    import torch
    from torchvision.transforms import v2
except ImportError:
    torch = v2 = None


x = workloads.sample_images(256, 224)
CASES = [
    ("RandAugment(2, 9)", fa.RandAugment(2, 9, seed=0, threads=1),
     lambda: v2.RandAugment(2, 9)),
    ("TrivialAugmentWide()", fa.TrivialAugmentWide(seed=0, threads=1),
     lambda: v2.TrivialAugmentWide()),
    ("AutoAugment('imagenet')", fa.AutoAugment("imagenet", seed=0, threads=1),
     lambda: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)),
    ("AugMix()", fa.AugMix(seed=0, threads=1), lambda: v2.AugMix()),
]
if torch is not None:
    torch.set_num_threads(1)
    tensors = [torch.from_numpy(im.copy()).permute(2, 0, 1).contiguous() for im in x]
for name, ours, theirs in CASES:
    t_fa = median_ms(lambda ours=ours: ours(x))
    line = f"{name:26s} fastaug {t_fa:7.1f} ms"
    if torch is not None:
        tv = theirs()
        t_tv = median_ms(lambda tv=tv: [tv(t) for t in tensors])
        line += f"; torchvision v2 per image {t_tv:7.1f} ms; ratio {t_tv / t_fa:5.2f}x"
    print(line, flush=True)


def split(policy, images, calls: int = 10) -> str:
    """ms per call of each ``ops`` function the policy calls, and of the rest."""
    spent: dict = {}
    names = ("sequence", "blend")
    originals = {n: getattr(ops, n) for n in names}

    def timed(name, fn):
        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        return call

    try:
        for n, fn in originals.items():
            setattr(ops, n, timed(n, fn))
        policy(images)
        spent.clear()
        t = time.perf_counter()
        for _ in range(calls):
            policy(images)
        total = time.perf_counter() - t
    finally:
        for n, fn in originals.items():
            setattr(ops, n, fn)
    parts = [f"{n} {v / calls * 1e3:.1f}" for n, v in sorted(spent.items(), key=lambda kv: -kv[1])]
    rest = (total - sum(spent.values())) / calls * 1e3
    return f"    {total / calls * 1e3:.1f} ms a call: " + ", ".join(parts) + f", rest {rest:.1f}"


def per_op(images) -> str:
    """ms of RandAugment(2, 9)'s magnitude of each op alone on every image (signs
    alternating), medians of 5 runs."""
    from fastaug.transforms import policies as P

    n, h, w = images.shape[:3]
    ra = fa.RandAugment(1, 9, threads=1)
    table = P.magnitude_table("rand", 31, h, w)[:, 9]
    sign = np.where(np.arange(n) % 2, 1.0, -1.0)[:, None]
    parts = []
    for op, name in enumerate(P.OP_NAMES[:14]):
        ops_ = np.full((n, 1), op)
        mags = table[ops_] * sign
        t = median_ms(lambda ops_=ops_, mags=mags: ra.apply(images, ops_, mags))
        parts.append(f"{name} {t:.1f}")
    return "    each op alone (ms): " + ", ".join(parts)


if "--split" in sys.argv[1:]:
    for name, ours, _ in CASES:
        print(f"{name:26s}", split(ours, x), flush=True)
    print(per_op(x), flush=True)
