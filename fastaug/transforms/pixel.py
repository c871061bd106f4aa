"""Pixel-level transforms: noise, blur, sharpening and erasing.

They cannot fold into a matrix, so each runs as its own native pass over the whole
batch (``fastaug.ops.gaussian_noise``, ``gaussian_blur``, ``filter3x3``, ``erase``) at
its place in the chain. Their random values come from per-image keys drawn from the
same per-sample streams as every other parameter, so they are reproducible and
independent of threads and batching.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Union

import numpy as np

from .. import ops
from .base import (
    PixelTransform,
    Random,
    check_number,
    check_p,
    check_range,
)

__all__ = ["Cutout", "GaussianBlur", "GaussianNoise", "RandomErasing", "Sharpen"]

Range = Union[float, Sequence[float]]
Value = Union[float, Sequence[float], str]


def _value(value: Value, name: str = "value") -> float | tuple | str:
    if isinstance(value, str):
        if value != "random":
            raise ValueError(f"{name} must be a number, one number per channel or 'random', "
                             f"got {value!r}")
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check_number(value, name)
    try:
        values = tuple(check_number(v, f"{name}[{k}]") for k, v in enumerate(value))
    except TypeError:
        raise TypeError(f"{name} must be a number, a sequence of numbers or 'random', "
                        f"got {value!r}") from None
    if len(values) not in (1, 3, 4):
        raise ValueError(f"{name} must have 1, 3 or 4 values, got {len(values)}")
    return values


class GaussianNoise(PixelTransform):
    """Add Gaussian noise of a random standard deviation per image.

    The noise is deterministic per (image key, pixel): see ``ops.gaussian_noise``.

    Parameters
    ----------
    std : float or (float, float)
        Standard deviation in grey levels: a fixed value or a ``(low, high)`` range,
        within [0, 255].
    per_channel : bool
        Independent noise per channel (else the same value for every channel of a pixel).
    p : float
        Probability of adding noise to each image.
    """

    def __init__(self, std: Range = 10.0, per_channel: bool = True, p: float = 1.0):
        self.std = check_range(std, "std", low=0.0, high=255.0, symmetric=None)
        self.per_channel = bool(per_channel)
        self.p = check_p(p)
        self._store(std=std, per_channel=per_channel, p=p)

    def sample(self, rng: Random, sizes: np.ndarray, channels: int) -> dict:
        apply = rng.bernoulli(self.p)
        std = rng.uniform(*self.std)
        return {"std": np.where(apply, std, 0.0), "keys": rng.keys()}

    def apply(self, images: np.ndarray, params: dict, layout: str = "NHWC",
              threads: int | None = None, inplace: bool = False) -> np.ndarray:
        return ops.gaussian_noise(images, params["std"], params["keys"],
                                  per_channel=self.per_channel, threads=threads)


class GaussianBlur(PixelTransform):
    """Gaussian blur with a random sigma per image, like ``cv2.GaussianBlur``.

    The kernel size follows from sigma (OpenCV's rule for uint8: ``round(6 sigma + 1)``,
    odd); borders are mirrored (``BORDER_REFLECT_101``).

    Parameters
    ----------
    sigma : float or (float, float)
        Pixels: a fixed value or a ``(low, high)`` range within [0, 100]; torchvision's
        default range is (0.1, 2.0).
    p : float
        Probability of blurring each image.
    """

    def __init__(self, sigma: Range = (0.1, 2.0), p: float = 1.0):
        self.sigma = check_range(sigma, "sigma", low=0.0, high=100.0, symmetric=None)
        self.p = check_p(p)
        self._store(sigma=sigma, p=p)

    def sample(self, rng: Random, sizes: np.ndarray, channels: int) -> dict:
        apply = rng.bernoulli(self.p)
        return {"sigma": np.where(apply, rng.uniform(*self.sigma), 0.0)}

    def apply(self, images: np.ndarray, params: dict, layout: str = "NHWC",
              threads: int | None = None, inplace: bool = False) -> np.ndarray:
        return ops.gaussian_blur(images, params["sigma"], threads=threads)


class Sharpen(PixelTransform):
    """Sharpen with albumentations' / imgaug's 3x3 kernel.

    ``K = (1 - alpha) * identity + alpha * [[-1, -1, -1], [-1, 8 + lightness, -1],
    [-1, -1, -1]]``, alpha and lightness uniform in their ranges per image; borders
    mirrored.

    Parameters
    ----------
    alpha : float or (float, float)
        Blend with the identity, within [0, 1].
    lightness : float or (float, float)
        Centre weight offset, >= 0 (1 keeps the brightness).
    p : float
        Probability of sharpening each image.
    """

    def __init__(self, alpha: Range = (0.2, 0.5), lightness: Range = (0.5, 1.0),
                 p: float = 1.0):
        self.alpha = check_range(alpha, "alpha", low=0.0, high=1.0, symmetric=None)
        self.lightness = check_range(lightness, "lightness", low=0.0, symmetric=None)
        self.p = check_p(p)
        self._store(alpha=alpha, lightness=lightness, p=p)

    def sample(self, rng: Random, sizes: np.ndarray, channels: int) -> dict:
        apply = rng.bernoulli(self.p)
        alpha = np.where(apply, rng.uniform(*self.alpha), 0.0)
        lightness = rng.uniform(*self.lightness)
        k = np.broadcast_to(-np.ones((3, 3)), (len(alpha), 3, 3)).copy()
        k[:, 1, 1] = 8.0 + lightness
        identity = np.zeros((3, 3))
        identity[1, 1] = 1.0
        a = alpha[:, None, None]
        return {"kernels": (1.0 - a) * identity + a * k}

    def apply(self, images: np.ndarray, params: dict, layout: str = "NHWC",
              threads: int | None = None, inplace: bool = False) -> np.ndarray:
        return ops.filter3x3(images, params["kernels"], threads=threads)


class _Erasing(PixelTransform):
    """Shared apply of the erasing transforms (boxes (N, K, 4), value, optional keys)."""

    on_float = True

    def apply(self, images: np.ndarray, params: dict, layout: str = "NHWC",
              threads: int | None = None, inplace: bool = False) -> np.ndarray:
        random = self.value == "random"
        return ops.erase(images, params["boxes"], 0 if random else self.value,
                         keys=params["keys"] if random else None, layout=layout,
                         inplace=inplace, threads=threads)


class Cutout(_Erasing):
    """Cutout (DeVries & Taylor): erase squares of a fixed size at random centres.

    Each hole is centred on a uniformly random pixel and clipped at the borders, so it
    may be partly outside the image.

    Parameters
    ----------
    size : int, (int, int) or float
        Hole ``(height, width)`` in pixels, or a fraction (0, 1] of the image's sides.
    num_holes : int
        Holes per image, 1..16.
    value : float, sequence of float or "random"
        Fill value in the batch's units at this point (0..255 before the output
        transform), or random values (see ``ops.erase``).
    p : float
        Probability of erasing each image.
    """

    def __init__(self, size: int | Sequence[int] | float = 0.25, num_holes: int = 1,
                 value: Value = 0, p: float = 1.0):
        if isinstance(size, float):
            self.size = (check_number(size, "size", 0.0, 1.0, low_open=True),) * 2
        else:
            if isinstance(size, numbers.Integral):
                size = (size, size)
            try:
                h, w = size
            except (TypeError, ValueError):
                raise TypeError(f"size must be an int, a pair of ints or a fraction, got "
                                f"{size!r}") from None
            for v in (h, w):
                if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                    raise ValueError(f"size must be positive integers, got {size!r}")
            self.size = (int(h), int(w))
        if isinstance(num_holes, bool) or not isinstance(num_holes, numbers.Integral) or \
                not 1 <= num_holes <= 16:
            raise ValueError(f"num_holes must be an integer in 1..16, got {num_holes!r}")
        self.num_holes = int(num_holes)
        self.value = _value(value)
        self.p = check_p(p)
        self._store(size=size, num_holes=num_holes, value=value, p=p)

    def sample(self, rng: Random, sizes: np.ndarray, channels: int) -> dict:
        apply = rng.bernoulli(self.p)
        h, w = sizes[:, 0].astype(np.float64), sizes[:, 1].astype(np.float64)
        if isinstance(self.size[0], float):
            hh = np.maximum(np.rint(h * self.size[0]), 1.0)
            hw = np.maximum(np.rint(w * self.size[1]), 1.0)
        else:
            hh, hw = np.full(len(h), float(self.size[0])), np.full(len(h), float(self.size[1]))
        u = rng.random(self.num_holes, 2)
        cy = np.floor(u[..., 0] * h[:, None])
        cx = np.floor(u[..., 1] * w[:, None])
        boxes = np.stack([cy - (hh // 2)[:, None], cx - (hw // 2)[:, None],
                          np.broadcast_to(hh[:, None], cy.shape),
                          np.broadcast_to(hw[:, None], cy.shape)], axis=-1)
        boxes[~apply, :, 2:] = 0
        return {"boxes": boxes, "keys": rng.keys()}


class RandomErasing(_Erasing):
    """torchvision's ``RandomErasing``: erase one random rectangle per image.

    Up to 10 tries of an area ``U(scale)`` of the image and an aspect ratio
    ``exp(U(log ratio))`` (height / width); the first that fits strictly inside the
    image is placed uniformly, otherwise the image is left unchanged.

    Parameters
    ----------
    p : float
        Probability of erasing each image.
    scale : (float, float)
        Range of the erased area as a fraction of the image, 0 < low <= high <= 1.
    ratio : (float, float)
        Range of the aspect ratio, 0 < low <= high.
    value : float, sequence of float or "random"
        Fill value in the batch's units at this point (after ``Normalize`` 0 is the
        mean, torchvision's default), or random values (see ``ops.erase``).
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                 value: Value = 0):
        self.p = check_p(p)
        self.scale = check_range(scale, "scale", low=0.0, high=1.0)
        self.ratio = check_range(ratio, "ratio", low=0.0)
        if self.scale[0] <= 0 or self.ratio[0] <= 0:
            raise ValueError(f"scale and ratio must be positive, got {scale!r}, {ratio!r}")
        self.value = _value(value)
        self._store(p=p, scale=scale, ratio=ratio, value=value)

    def sample(self, rng: Random, sizes: np.ndarray, channels: int) -> dict:
        apply = rng.bernoulli(self.p)
        h = sizes[:, 0].astype(np.float64)[:, None]
        w = sizes[:, 1].astype(np.float64)[:, None]
        u = rng.random(10, 2)
        area = h * w * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        lo, hi = np.log(self.ratio[0]), np.log(self.ratio[1])
        aspect = np.exp(lo + (hi - lo) * u[..., 1])
        eh = np.rint(np.sqrt(area * aspect))
        ew = np.rint(np.sqrt(area / aspect))
        fits = (eh < h) & (ew < w)
        first = np.argmax(fits, axis=1)
        rows = np.arange(len(h))
        bh, bw = eh[rows, first], ew[rows, first]
        pos = rng.random(2)
        top = np.floor(pos[:, 0] * (h[:, 0] - bh + 1))
        left = np.floor(pos[:, 1] * (w[:, 0] - bw + 1))
        ok = apply & fits.any(axis=1)
        boxes = np.stack([top, left, np.where(ok, bh, 0), np.where(ok, bw, 0)], axis=1)
        return {"boxes": boxes[:, None], "keys": rng.keys()}
