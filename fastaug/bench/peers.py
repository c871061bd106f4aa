"""The comparison suite's workloads and one adapter per library.

A :class:`Spec` is one workload: the shared batch of decoded photos and what must be done
to it. Every library's adapter turns a spec into a callable doing that work once on the
whole batch, the way a user of the library would write it; everything that is not the
work (building the transform, converting parameters, allocating the output) happens
outside the callable, which is the only thing timed.

=========  ===============================================================================
workload   what every library does, per image, on the same batch
=========  ===============================================================================
flip       horizontal flip with p = 0.5, uint8 out
rrc        ``RandomResizedCrop(size)`` (scale 0.08-1, ratio 3/4-4/3) of size x 256/224
           inputs, bilinear, uint8 out
keras      the classic Keras configuration: rotation 40, width/height shift 0.2, shear
           0.2 (degrees), zoom 0.2, horizontal flip, fill "nearest", rescale 1/255, float32
color      ``ColorJitter(0.4, 0.4, 0.4, 0.1)``, uint8 out
full       ImageNet training: RandomResizedCrop(size) of size x 256/224 inputs, flip,
           ColorJitter(0.4, 0.4, 0.4, 0.1), ImageNet normalisation, float32 NCHW out
=========  ===============================================================================

Random parameters are drawn inside the timed call by every library except the
hand-written OpenCV loop, whose parameters are drawn beforehand (this favours OpenCV).
``np.copyto`` of the input batch is the memory floor: reading the batch once and
writing it once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .adapters import FILL_TO_CV2, copyto_adapter, opencv_adapter
from .pipelines import (
    albumentations_imagenet,
    albumentations_keras,
    fastaug_imagenet,
    fastaug_keras,
    flow_runner,
    import_albumentations,
    import_keras_idg,
    opencv_imagenet,
    pick_opencv_imagenet,
)
from .workloads import IMAGENET_MEAN, IMAGENET_STD, Workload, affine_matrices, make_workload
from .workloads import sample_images as _sample_images

try:
    import cv2
except ImportError:
    cv2 = None

__all__ = ["ADAPTERS", "LIBRARIES", "WORKLOADS", "Adapter", "Skip", "Spec", "input_size",
           "make_spec"]

#: Workload names in table order.
WORKLOADS = ("flip", "rrc", "keras", "color", "full")
#: Library names in table order; ``copyto`` is the memory floor.
LIBRARIES = ("fastaug", "albumentations", "torchvision", "kornia", "keras", "opencv", "copyto")

_TITLES = {
    "flip": "horizontal flip p=0.5, uint8",
    "rrc": "RandomResizedCrop {in}->{out}, uint8",
    "keras": "Keras config (rot 40, shift/shear/zoom 0.2, flip, nearest, 1/255), float32",
    "color": "ColorJitter(0.4, 0.4, 0.4, 0.1), uint8",
    "full": "ImageNet train: RRC {in}->{out}, flip, jitter, normalize, float32 NCHW",
}


class Skip(Exception):
    """An adapter cannot run here (library missing, or no such transform): the note says why."""


@dataclass(frozen=True)
class Spec:
    """One workload, identical for every adapter.

    Attributes
    ----------
    name : str
        One of :data:`WORKLOADS`.
    title : str
    images : ndarray, uint8, (N, H, W, 3)
        The shared input batch (read-only; :func:`fastaug.bench.workloads.sample_images`).
    size : int
        Output side.
    seed : int
    """

    name: str
    title: str
    images: np.ndarray
    size: int
    seed: int = 0

    @property
    def batch(self) -> int:
        return len(self.images)


def input_size(name: str, size: int) -> int:
    """Input side of a workload: 256/224 of the output for the cropping ones."""
    return int(round(size * 256 / 224)) if name in ("rrc", "full") else size


def make_spec(name: str, batch: int = 256, size: int = 224, seed: int = 0) -> Spec:
    """The named workload on ``batch`` photos (same arguments, same images).

    Parameters
    ----------
    name : str
        One of :data:`WORKLOADS`.
    batch, size, seed : int
        Batch size, output side, seed of the images (and the OpenCV loop's parameters).

    Returns
    -------
    Spec
    """
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    in_size = input_size(name, size)
    images = _sample_images(batch, in_size, 3, seed)
    return Spec(name, _TITLES[name].format(**{"in": in_size, "out": size}), images, size, seed)


@dataclass
class Adapter:
    """A library's way to do a spec: ``run()`` does ``images`` images of it."""

    run: Callable[[], object]
    label: str
    images: int
    note: str = ""


def _per_image(transform: Callable, images: np.ndarray, out: np.ndarray) -> Callable:
    srcs = list(images)

    def run():
        for src, dst in zip(srcs, out):
            np.copyto(dst, transform(src))
        return out

    return run


# ---- fastaug ---------------------------------------------------------------------------


def fastaug_adapter(spec: Spec, threads: int) -> Adapter:
    """fastaug ``Compose``, one call on the whole batch (sampling included)."""
    import fastaug

    s, seed = spec.size, spec.seed
    if spec.name == "flip":
        aug = fastaug.Compose([fastaug.HorizontalFlip()], seed=seed, threads=threads)
    elif spec.name == "rrc":
        aug = fastaug.Compose([fastaug.RandomResizedCrop(s)], seed=seed, threads=threads)
    elif spec.name == "keras":
        aug = fastaug_keras(threads, seed)
    elif spec.name == "color":
        aug = fastaug.Compose([fastaug.ColorJitter(0.4, 0.4, 0.4, 0.1)], seed=seed,
                              threads=threads)
    else:
        aug = fastaug_imagenet(threads, seed, s)
    images = spec.images
    return Adapter(lambda: aug(images), f"fastaug {fastaug.__version__} Compose",
                   spec.batch)


# ---- albumentations --------------------------------------------------------------------


def albumentations_adapter(spec: Spec, threads: int) -> Adapter:
    """albumentations ``Compose`` per image into a preallocated batch."""
    A, why = import_albumentations()
    if A is None:
        raise Skip(why)
    if cv2 is None:
        raise Skip("OpenCV not installed")
    images, s, seed = spec.images, spec.size, spec.seed
    label = f"albumentations {A.__version__} per image"
    if spec.name == "keras":
        return Adapter(albumentations_keras(A, images, seed), label, spec.batch)
    if spec.name == "full":
        return Adapter(albumentations_imagenet(A, images, seed, s), label + " + CHW",
                       spec.batch)
    if spec.name == "flip":
        t = A.HorizontalFlip(p=0.5)
    elif spec.name == "rrc":
        t = A.RandomResizedCrop(size=(s, s), p=1.0)
    else:
        t = A.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=1.0)
    aug = A.Compose([t], seed=seed)
    out = np.empty((spec.batch, s, s, 3), np.uint8)
    return Adapter(_per_image(lambda x: aug(image=x)["image"], images, out), label,
                   spec.batch)


# ---- torchvision transforms v2 ---------------------------------------------------------


def torchvision_adapter(spec: Spec, threads: int) -> Adapter:
    """torchvision ``transforms.v2`` per uint8 CHW tensor, as a ``Dataset`` applies them."""
    try:
        import torch
        import torchvision
        from torchvision.transforms import v2
    except Exception as e:
        raise Skip(f"torchvision not installed ({type(e).__name__})") from None
    s = spec.size
    torch.manual_seed(spec.seed)
    jitter = v2.ColorJitter(0.4, 0.4, 0.4, 0.1)
    note = ""
    if spec.name == "flip":
        t = v2.RandomHorizontalFlip()
    elif spec.name == "rrc":
        t = v2.RandomResizedCrop(s, antialias=True)
    elif spec.name == "color":
        t = jitter
    elif spec.name == "keras":
        t = v2.Compose([v2.RandomAffine(40, translate=(0.2, 0.2), scale=(0.8, 1.2),
                                        shear=(-0.2, 0.2),
                                        interpolation=v2.InterpolationMode.BILINEAR),
                        v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])
        note = "no fill 'nearest': constant fill"
    else:
        t = v2.Compose([v2.RandomResizedCrop(s, antialias=True), v2.RandomHorizontalFlip(),
                        jitter, v2.ToDtype(torch.float32, scale=True),
                        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    dtype = torch.float32 if spec.name in ("keras", "full") else torch.uint8
    out = torch.empty((spec.batch, 3, s, s), dtype=dtype)
    srcs = [torch.from_numpy(im).permute(2, 0, 1) for im in spec.images]

    def run():
        with torch.inference_mode():
            for i, x in enumerate(srcs):
                out[i] = t(x)
        return out

    note = "; ".join(filter(None, ["NCHW out", note]))
    return Adapter(run, f"torchvision {torchvision.__version__} v2 per image", spec.batch, note)


# ---- kornia ----------------------------------------------------------------------------


def kornia_adapter(spec: Spec, threads: int) -> Adapter:
    """kornia ``augmentation`` on the whole batch as a float32 NCHW tensor.

    The uint8 NHWC -> float32 NCHW conversion is inside the timed call (it is part of the
    work); the output stays float32 NCHW in [0, 1] (normalised for ``full``).
    """
    try:
        import kornia
        import kornia.augmentation as K
        import torch
    except Exception as e:
        raise Skip(f"kornia not installed ({type(e).__name__})") from None
    s = spec.size
    torch.manual_seed(spec.seed)
    jitter = K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)
    if spec.name == "flip":
        ts = [K.RandomHorizontalFlip(p=0.5)]
    elif spec.name == "rrc":
        ts = [K.RandomResizedCrop((s, s))]
    elif spec.name == "color":
        ts = [jitter]
    elif spec.name == "keras":
        ts = [K.RandomAffine(40, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=(-0.2, 0.2),
                             padding_mode="border", p=1.0), K.RandomHorizontalFlip(p=0.5)]
    else:
        ts = [K.RandomResizedCrop((s, s)), K.RandomHorizontalFlip(p=0.5), jitter,
              K.Normalize(torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD))]
    aug = torch.nn.Sequential(*ts)
    x = torch.from_numpy(spec.images.copy())  # writable: torch warns on read-only

    def run():
        with torch.inference_mode():
            return aug(x.permute(0, 3, 1, 2).float().div_(255))

    return Adapter(run, f"kornia {kornia.__version__} batched", spec.batch,
                   "float32 NCHW out, conversion timed")


# ---- Keras ImageDataGenerator ----------------------------------------------------------


def keras_adapter(spec: Spec, threads: int, max_images: int = 32) -> Adapter:
    """Keras' legacy ``ImageDataGenerator.flow`` (slow: timed on ``max_images``, scaled)."""
    if spec.name not in ("flip", "keras"):
        raise Skip("no such transform in ImageDataGenerator")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    IDG, why = import_keras_idg()
    if IDG is None:
        raise Skip(why)
    import keras

    n = min(max_images, spec.batch)
    images = spec.images[:n]
    if spec.name == "keras":
        run = flow_runner(IDG, images, spec.seed)
    else:
        it = IDG(horizontal_flip=True).flow(images, batch_size=n, shuffle=False,
                                            seed=spec.seed)
        run = lambda: next(it)  # noqa: E731
    note = f"timed on {n} images, scaled" if n < spec.batch else ""
    return Adapter(run, f"Keras {keras.__version__} ImageDataGenerator.flow", n,
                   "; ".join(filter(None, ["float32 out", note])))


# ---- hand-written OpenCV loop ----------------------------------------------------------


def _opencv_keras(spec: Spec) -> Callable:
    """warpAffine (flip folded into the matrix, replicated border), then 1/255 to float32."""
    images, seed = spec.images, spec.seed
    n, h, w, _ = images.shape
    rng = np.random.default_rng([seed, 0x4E5])
    ms = affine_matrices(rng, n, h, w, rotation=40, shear=0.2, zoom=(0.8, 1.2), shift=0.2)
    flips = rng.random(n) < 0.5
    ms[flips, :, 0] *= -1  # x -> (w - 1) - x before the affine map
    ms[flips, :, 2] -= ms[flips, :, 0] * (w - 1)
    ms = [np.ascontiguousarray(m) for m in ms]
    out = np.empty((n, h, w, 3), np.float32)
    scratch = np.zeros((h, w, 3), np.uint8)
    border = getattr(cv2, FILL_TO_CV2["nearest"])
    scale = np.float32(1 / 255)

    def run():
        for src, m, dst in zip(images, ms, out):
            cv2.warpAffine(src, m, (w, h), dst=scratch, flags=cv2.INTER_LINEAR,
                           borderMode=border)
            np.multiply(scratch, scale, out=dst)
        return out

    return run


_OPENCV_BEST: dict = {}


def opencv_adapter_for(spec: Spec, threads: int, repeat: int = 5) -> Adapter:
    """The fastest hand-written per-image OpenCV loop, ``dst=`` preallocated."""
    if cv2 is None:
        raise Skip("OpenCV not installed")
    label = f"OpenCV {cv2.__version__} per-image loop"
    note = "params drawn untimed"
    if spec.name in ("flip", "rrc", "color"):
        # The same images: fastaug.bench.workloads caches them by (n, size, seed).
        work = make_workload(spec.name, spec.batch, spec.size, seed=spec.seed)
        assert work.images is spec.images or np.array_equal(work.images, spec.images)
        if spec.name == "color":
            note += "; contrast about mid-grey"
        return Adapter(opencv_adapter(work), label, spec.batch, note)
    if spec.name == "keras":
        return Adapter(_opencv_keras(spec), label, spec.batch, note)
    key = (spec.batch, spec.size, spec.seed)
    if key not in _OPENCV_BEST:  # time every spelling once, keep the fastest
        best, _, medians = pick_opencv_imagenet(spec.images, repeat, spec.seed, spec.size)
        _OPENCV_BEST[key] = best, medians
    best, medians = _OPENCV_BEST[key]
    geometry, normalize = best.split(" + ")
    run = opencv_imagenet(spec.images, geometry, normalize, spec.seed, spec.size)
    return Adapter(run, label, spec.batch,
                   f"{note}; fastest of {len(medians)} spellings: {best}")


# ---- the memory floor ------------------------------------------------------------------


def copyto_floor(spec: Spec, threads: int) -> Adapter:
    """``np.copyto`` of the input batch into a preallocated one: the memory floor."""
    images = spec.images
    work = Workload("copy", "np.copyto", images, images.shape, np.dtype(np.uint8))
    return Adapter(copyto_adapter(work), "np.copyto of the input (memory floor)", spec.batch)


#: Adapter builders by library: ``builder(spec, threads) -> Adapter`` or raise :class:`Skip`.
ADAPTERS: dict[str, Callable[[Spec, int], Adapter]] = {
    "fastaug": fastaug_adapter,
    "albumentations": albumentations_adapter,
    "torchvision": torchvision_adapter,
    "kornia": kornia_adapter,
    "keras": keras_adapter,
    "opencv": opencv_adapter_for,
    "copyto": copyto_floor,
}
