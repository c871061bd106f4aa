"""Whole pipelines as each library spells them: the ImageNet training pipeline and the
classic Keras configuration, for fastaug, albumentations, a hand-written OpenCV loop and
Keras' ``ImageDataGenerator``.

Each builder takes the shared batch and returns ``run() -> out``; random parameters are
drawn inside the timed call, except for the OpenCV loop (drawn beforehand: favours it).
"""
from __future__ import annotations

import importlib.metadata
from typing import Callable

import numpy as np

from .adapters import OPENCV_NORMALIZE_VARIANTS
from .timing import measure
from .workloads import IMAGENET_MEAN, IMAGENET_STD, rrc_boxes

try:
    import cv2
except ImportError:
    cv2 = None

SIZE_IN, SIZE_OUT = 256, 224  # the ImageNet pipeline: RandomResizedCrop(224) of 256x256


# ---- optional libraries ---------------------------------------------------------------


def import_albumentations():
    try:
        import albumentations
    except Exception as e:  # ImportError, or a broken install
        return None, f"albumentations not installed ({type(e).__name__})"
    return albumentations, None


def import_keras_idg():
    try:
        from keras.src.legacy.preprocessing.image import ImageDataGenerator
    except Exception as e:
        return None, f"Keras not installed ({type(e).__name__}: {e})"[:120]
    return ImageDataGenerator, None


def set_single_thread() -> dict:
    """One thread in every library; returns what each reports."""
    threads = {}
    if cv2 is not None:
        cv2.setNumThreads(1)
        threads["cv2"] = cv2.getNumThreads()
    try:
        import torch

        torch.set_num_threads(1)
        threads["torch"] = torch.get_num_threads()
    except ImportError:
        pass
    from .. import get_num_threads, set_num_threads

    set_num_threads(1)  # ImageDataGenerator.flow; Compose gets threads=1 too
    threads["fastaug"] = get_num_threads()
    return threads


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"



# ---- pipeline 1: ImageNet training --------------------------------------------------


def fastaug_imagenet(threads: int = 1, seed: int = 0, size: int = SIZE_OUT):
    """The ImageNet training pipeline as a fastaug ``Compose``."""
    import fastaug

    return fastaug.Compose([fastaug.RandomResizedCrop(size), fastaug.HorizontalFlip(),
                            fastaug.ColorJitter(0.4, 0.4, 0.4, 0.1),
                            fastaug.Normalize(layout="NCHW")], seed=seed, threads=threads)


def albumentations_imagenet(A, images: np.ndarray, seed: int = 0,
                            size: int = SIZE_OUT) -> Callable:
    """albumentations ``Compose`` per image, then CHW into a preallocated float32 batch."""
    t = A.Compose([A.RandomResizedCrop(size=(size, size), p=1.0),
                   A.HorizontalFlip(p=0.5),
                   A.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=1.0),
                   A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, p=1.0)], seed=seed)
    out = np.empty((len(images), 3, size, size), np.float32)
    srcs = list(images)

    def run():
        for src, dst in zip(srcs, out):
            np.copyto(dst, t(image=src)["image"].transpose(2, 0, 1))
        return out

    return run


_LUMA = np.array([0.299, 0.587, 0.114])


def jitter_parts(rng: np.random.Generator, n: int, brightness=0.4, contrast=0.4,
                 saturation=0.4, hue=0.1) -> tuple[np.ndarray, np.ndarray]:
    """Colour-jitter matrices split so that contrast's centre can be the image's mean.

    Brightness ``b``, then contrast ``c`` about the mean grey ``m`` of the brightened
    image, saturation ``s`` (blend with the luma), hue (rotation about the grey axis):
    ``x -> H S (c b x + (1 - c) m 1)``. Returns ``(base, v)``: ``base`` (n, 3, 4) is the
    matrix with ``m = 0`` and ``v`` (n, 3) the offset per unit of ``m``, so the full
    matrix is ``base`` with ``m * v`` added to its last column, where ``m`` is ``b`` times
    the luma of the mean colour of the image (``cv2.mean``).

    Returns
    -------
    base : ndarray, float64, (n, 3, 4)
    v : ndarray, float64, (n, 3)
    b : ndarray, float64, (n,)
    """
    b = rng.uniform(1 - brightness, 1 + brightness, n)
    c = rng.uniform(1 - contrast, 1 + contrast, n)
    s = rng.uniform(1 - saturation, 1 + saturation, n)
    angle = rng.uniform(-hue, hue, n) * 2 * np.pi
    eye = np.eye(3)
    sat = s[:, None, None] * eye + (1 - s)[:, None, None] * np.outer(np.ones(3), _LUMA)
    k = np.ones(3) / np.sqrt(3)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    rot = cos * eye + sin * kx + (1 - cos) * np.outer(k, k)
    hs = rot @ sat
    base = np.zeros((n, 3, 4))
    base[:, :, :3] = hs * (c * b)[:, None, None]
    v = (hs @ np.ones(3)) * (1 - c)[:, None]
    return base, v, b


def _gain_offset() -> tuple[np.ndarray, np.ndarray]:
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    return (1 / 255) / std, -mean / std


#: Geometry spellings of the OpenCV loop: crop resize (+ cv2.flip when drawn), or one
#: cv2.warpAffine whose matrix does crop, resize and flip at once.
OPENCV_GEOMETRY = ("resize+flip", "warpAffine")


def opencv_imagenet(images: np.ndarray, geometry: str, normalize: str,
                    seed: int = 0, size: int = SIZE_OUT) -> Callable:
    """The hand-written per-image OpenCV loop for the ImageNet pipeline.

    Random parameters (torchvision crop boxes, flips, jitter factors) are drawn here,
    outside the timed callable. Per image: geometry into a small scratch image, the
    image's mean (``cv2.mean``, for contrast), ``cv2.transform`` with the 3x4 colour
    matrix, then ``normalize`` (a key of ``adapters.OPENCV_NORMALIZE_VARIANTS``) into
    the float32 CHW output.
    """
    rng = np.random.default_rng([seed, 0x0C5])
    n, h, w, c = images.shape
    boxes = rrc_boxes(rng, n, h, w)
    flips = rng.random(n) < 0.5
    base, v, b = jitter_parts(rng, n)
    bl = b[:, None] * _LUMA  # m = bl @ mean colour
    mats = np.ascontiguousarray(base)
    norm = OPENCV_NORMALIZE_VARIANTS[normalize](3, *_gain_offset())
    out = np.empty((n, 3, size, size), np.float32)
    s1 = np.zeros((size, size, 3), np.uint8)
    s2 = np.zeros_like(s1)
    dsize = (size, size)
    if geometry == "resize+flip":
        crops = [im[t:t + bh, lf:lf + bw] for im, (t, lf, bh, bw) in zip(images, boxes)]

        def run():
            for i, crop in enumerate(crops):
                cv2.resize(crop, dsize, dst=s1, interpolation=cv2.INTER_LINEAR)
                src = s1
                if flips[i]:
                    cv2.flip(s1, 1, dst=s2)
                    src = s2
                m = mats[i]
                mc = cv2.mean(src)
                m[:, 3] = (bl[i, 0] * mc[0] + bl[i, 1] * mc[1] + bl[i, 2] * mc[2]) * v[i]
                dst = s1 if src is s2 else s2
                cv2.transform(src, m, dst=dst)
                norm(dst, out[i])
            return out

        return run
    if geometry == "warpAffine":
        # Destination-to-source maps of cv2.resize's half-pixel sampling, mirrored when
        # flipped; BORDER_REPLICATE keeps samples inside the crop like resize does.
        inv = np.zeros((n, 2, 3))
        for i, (t, lf, bh, bw) in enumerate(boxes):
            ax, ay = bw / size, bh / size
            if flips[i]:
                inv[i, 0] = (-ax, 0, lf + (size - 0.5) * ax - 0.5)
            else:
                inv[i, 0] = (ax, 0, lf + 0.5 * ax - 0.5)
            inv[i, 1] = (0, ay, t + 0.5 * ay - 0.5)
        crops = [im[t:t + bh, lf:lf + bw] for im, (t, lf, bh, bw) in zip(images, boxes)]
        # The crop as the source, so replicated borders are the crop's edges.
        inv[:, 0, 2] -= boxes[:, 1]
        inv[:, 1, 2] -= boxes[:, 0]
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

        def run():
            for i, crop in enumerate(crops):
                cv2.warpAffine(crop, inv[i], dsize, dst=s1, flags=flags,
                               borderMode=cv2.BORDER_REPLICATE)
                m = mats[i]
                mc = cv2.mean(s1)
                m[:, 3] = (bl[i, 0] * mc[0] + bl[i, 1] * mc[1] + bl[i, 2] * mc[2]) * v[i]
                cv2.transform(s1, m, dst=s2)
                norm(s2, out[i])
            return out

        return run
    raise ValueError(f"unknown geometry {geometry!r}")


def opencv_imagenet_variants() -> list[tuple[str, str]]:
    """(geometry, normalize) pairs the OpenCV loop can be spelled with."""
    norms = list(OPENCV_NORMALIZE_VARIANTS)
    if not hasattr(getattr(cv2, "dnn", None), "blobFromImageWithParams"):  # < 4.9
        norms.remove("dnn.blobFromImageWithParams")
    return [(g, nv) for g in OPENCV_GEOMETRY for nv in norms]


def pick_opencv_imagenet(images: np.ndarray, repeat: int, seed: int = 0,
                         size: int = SIZE_OUT):
    """Time every spelling of the OpenCV loop and return the fastest and all medians."""
    fns = {f"{g} + {nv}": opencv_imagenet(images, g, nv, seed, size)
           for g, nv in opencv_imagenet_variants()}
    times, _ = measure(fns, max(3, repeat // 2), warmup_seconds=0.1)
    medians = {k: float(np.median(t) * 1e3) for k, t in times.items()}
    best = min(medians, key=medians.get)
    return best, fns[best], medians


# ---- pipeline 2: Keras configuration ------------------------------------------------

#: ImageDataGenerator arguments of the classic configuration.
KERAS_CONFIG = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                    shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
                    fill_mode="nearest", rescale=1 / 255)


def fastaug_keras(threads: int = 1, seed: int = 0):
    """The Keras configuration as a fastaug ``Compose`` (float32 NHWC in [0, 1])."""
    import fastaug

    return fastaug.Compose([
        fastaug.Affine(rotate=40, translate=0.2, scale=(0.8, 1.2), shear={"x": 0.2},
                       keep_ratio=False, fill_mode="nearest"),
        fastaug.HorizontalFlip(),
        fastaug.Rescale(1 / 255),
    ], seed=seed, threads=threads)


def flow_runner(generator_cls, images: np.ndarray, seed: int = 0, **flow_kwargs) -> Callable:
    """``next()`` of ``generator_cls(**KERAS_CONFIG).flow`` over the whole batch.

    ``flow_kwargs`` go to ``flow``: fastaug's needs ``prefetch=0`` to be timed, or the
    batch is made by a background thread while other callables run, and ``next()``
    only collects it.
    """
    it = generator_cls(**KERAS_CONFIG).flow(images, batch_size=len(images), shuffle=False,
                                            seed=seed, **flow_kwargs)
    return lambda: next(it)


def albumentations_keras(A, images: np.ndarray, seed: int = 0) -> Callable:
    """albumentations ``Affine`` + ``HorizontalFlip`` per image, then /255 into the batch."""
    t = A.Compose([A.Affine(scale=(0.8, 1.2), translate_percent=(-0.2, 0.2),
                            rotate=(-40, 40), shear={"x": (-0.2, 0.2), "y": (0, 0)},
                            keep_ratio=False, interpolation=cv2.INTER_LINEAR,
                            border_mode=cv2.BORDER_REPLICATE, p=1.0),
                   A.HorizontalFlip(p=0.5)], seed=seed)
    out = np.empty(images.shape, np.float32)
    srcs = list(images)
    scale = np.float32(1 / 255)

    def run():
        for src, dst in zip(srcs, out):
            np.multiply(t(image=src)["image"], scale, out=dst)
        return out

    return run
