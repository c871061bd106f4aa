"""The policies on 256x224x224x3, 1 thread: fastaug on the batch vs torchvision v2 per image.

Run from the repository root: PYTHONPATH=. python bench/bench_policies.py
Without torchvision only fastaug is timed (medians of 5 runs, ms).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")



import fastaug as fa  # noqa: E402
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
