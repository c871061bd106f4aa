"""Geometric transforms: flips, affine warps, crops and resizes.

Each transform samples, for a whole batch at once, one **destination-to-source** matrix
per image: a homogeneous ``(3, 3)`` float64 map from an output pixel ``(x, y, 1)`` to the
input pixel it reads (pixel centres at integer coordinates, x the column). A chain of
transforms is the product ``T_1 @ T_2 @ ... @ T_k`` of their matrices (the first
transform's on the left), which :class:`fastaug.Compose` hands to one
``ops.augment(..., inverse=True)`` call.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Union

import numpy as np

from .. import ops
from .base import (
    FILL_MODES,
    INTERPOLATIONS,
    GeometricTransform,
    Geometry,
    Random,
    check_axes,
    check_choice,
    check_cval,
    check_p,
    check_range,
    check_size,
)

__all__ = [
    "Affine",
    "CenterCrop",
    "HorizontalFlip",
    "RandomCrop",
    "RandomResizedCrop",
    "Resize",
    "Rotate",
    "VerticalFlip",
]

Range = Union[float, Sequence[float]]


def _eye(n: int) -> np.ndarray:
    return np.broadcast_to(np.eye(3), (n, 3, 3)).copy()


def _homogeneous(m23: np.ndarray) -> np.ndarray:
    m = _eye(len(m23))
    m[:, :2] = m23
    return m


def _translation(tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    m = _eye(len(tx))
    m[:, 0, 2] = tx
    m[:, 1, 2] = ty
    return m


def _mirror(flip: np.ndarray, sizes: np.ndarray, axis: int) -> Geometry:
    """Mirrors along x (axis 0: ``x -> W - 1 - x``) or y (axis 1) where ``flip``."""
    m = _eye(len(sizes))
    m[:, axis, axis] = np.where(flip, -1.0, 1.0)
    m[:, axis, 2] = np.where(flip, sizes[:, 1 - axis] - 1.0, 0.0)
    return Geometry(m, sizes)


class HorizontalFlip(GeometricTransform):
    """Mirror left-right (``x -> W - 1 - x``) with probability ``p``.

    Parameters
    ----------
    p : float
        Probability of flipping each image, in [0, 1].
    """

    def __init__(self, p: float = 0.5):
        self.p = check_p(p)
        self._store(p=p)

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        return _mirror(rng.bernoulli(self.p), sizes, axis=0)


class VerticalFlip(GeometricTransform):
    """Mirror top-bottom (``y -> H - 1 - y``) with probability ``p``.

    Parameters
    ----------
    p : float
        Probability of flipping each image, in [0, 1].
    """

    def __init__(self, p: float = 0.5):
        self.p = check_p(p)
        self._store(p=p)

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        return _mirror(rng.bernoulli(self.p), sizes, axis=1)


class Affine(GeometricTransform):
    """Random rotation, translation, scale and shear about the image centre.

    The forward map (source to destination) is
    ``T(centre + shift) @ R(rotate) @ Shear @ Scale @ T(-centre)`` with the image centre
    at ``((W - 1) / 2, (H - 1) / 2)``; the output keeps the input size. Every range is a
    number ``v`` (meaning ``(-v, v)``; for ``scale`` the fixed value ``v``), a pair
    ``(low, high)``, or for ``translate``, ``scale`` and ``shear`` a dict
    ``{"x": range, "y": range}`` with one range per axis. Values are uniform in their
    range.

    Parameters
    ----------
    rotate : float or (float, float)
        Degrees; positive angles turn the picture counter-clockwise on screen, as
        ``cv2.getRotationMatrix2D`` and torchvision do.
    translate : float, (float, float) or dict
        Shift as a fraction of the image width (x) and height (y).
    scale : float, (float, float) or dict
        Zoom factor per axis (> 0); > 1 enlarges the picture.
    shear : float, (float, float) or dict
        Degrees in (-89, 89): x shear moves ``x' = x + tan(shear_x) * y``, y shear
        ``y' = y + tan(shear_y) * x`` (about the centre; x shear applied last).
    keep_ratio : bool
        One scale for both axes (the x range's) rather than one per axis.
    interpolation : {"bilinear", "nearest"}
    fill_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
        How pixels from outside the input are filled (scipy.ndimage's names).
    cval : float or sequence of float
        Fill value for "constant", 0..255.
    p : float
        Probability of transforming each image (else it is left unchanged).
    """

    resamples = True

    def __init__(self, rotate: Range = 0, translate: Range | dict = 0,
                 scale: Range | dict = 1, shear: Range | dict = 0,
                 keep_ratio: bool = True, interpolation: str = "bilinear",
                 fill_mode: str = "constant", cval: float | Sequence[float] = 0,
                 p: float = 1.0):
        self.rotate = check_range(rotate, "rotate")
        self.translate = check_axes(translate, "translate")
        self.scale = check_axes(scale, "scale", symmetric=None)
        for r in self.scale:
            if r[0] <= 0:
                raise ValueError(f"scale must be positive, got {scale!r}")
        self.shear = check_axes(shear, "shear", low=-89.0, high=89.0)
        if not isinstance(keep_ratio, bool):
            raise TypeError(f"keep_ratio must be a bool, got {keep_ratio!r}")
        self.keep_ratio = keep_ratio
        self.interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation")
        self.fill_mode = check_choice(fill_mode, FILL_MODES, "fill_mode")
        self.cval = check_cval(cval)
        self.p = check_p(p)
        self._store(rotate=rotate, translate=translate, scale=scale, shear=shear,
                    keep_ratio=keep_ratio, interpolation=interpolation, fill_mode=fill_mode,
                    cval=cval, p=p)

    @property
    def samples_outside(self) -> bool:
        return True

    @property
    def is_warp(self) -> bool:
        return True

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        n = len(sizes)
        apply = rng.bernoulli(self.p)
        u = rng.random(7)  # always 7 draws: the stream does not depend on the ranges
        (tx0, tx1), (ty0, ty1) = self.translate
        (sx0, sx1), (sy0, sy1) = self.scale
        (hx0, hx1), (hy0, hy1) = self.shear
        r0, r1 = self.rotate
        angle = np.deg2rad(r0 + (r1 - r0) * u[:, 0])
        h = sizes[:, 0].astype(np.float64)
        w = sizes[:, 1].astype(np.float64)
        tx = (tx0 + (tx1 - tx0) * u[:, 1]) * w
        ty = (ty0 + (ty1 - ty0) * u[:, 2]) * h
        # Scales uniform in their range, like torchvision and albumentations.
        sx = sx0 + (sx1 - sx0) * u[:, 3]
        sy = sx if self.keep_ratio else sy0 + (sy1 - sy0) * u[:, 4]
        shx = np.tan(np.deg2rad(hx0 + (hx1 - hx0) * u[:, 5]))
        shy = np.tan(np.deg2rad(hy0 + (hy1 - hy0) * u[:, 6]))
        cos, sin = np.cos(angle), np.sin(angle)
        # Linear part L = R @ [[1, shx], [0, 1]] @ [[1, 0], [shy, 1]] @ diag(sx, sy).
        a = (1.0 + shx * shy) * sx
        b = shx * sy
        c = shy * sx
        d = sy
        lin = np.empty((n, 2, 2))
        lin[:, 0, 0] = cos * a + sin * c
        lin[:, 0, 1] = cos * b + sin * d
        lin[:, 1, 0] = -sin * a + cos * c
        lin[:, 1, 1] = -sin * b + cos * d
        lin = np.where(apply[:, None, None], lin, np.eye(2))
        tx = np.where(apply, tx, 0.0)
        ty = np.where(apply, ty, 0.0)
        det = lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]
        inv = np.empty_like(lin)
        inv[:, 0, 0] = lin[:, 1, 1] / det
        inv[:, 0, 1] = -lin[:, 0, 1] / det
        inv[:, 1, 0] = -lin[:, 1, 0] / det
        inv[:, 1, 1] = lin[:, 0, 0] / det
        # Inverse map: x_src = c + L^-1 (x_dst - c - t).
        cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
        m = _eye(n)
        m[:, :2, :2] = inv
        m[:, 0, 2] = cx - inv[:, 0, 0] * (cx + tx) - inv[:, 0, 1] * (cy + ty)
        m[:, 1, 2] = cy - inv[:, 1, 0] * (cx + tx) - inv[:, 1, 1] * (cy + ty)
        return Geometry(m, sizes)


class Rotate(Affine):
    """Random rotation about the image centre by an angle uniform in ``limit``.

    Parameters
    ----------
    limit : float or (float, float)
        Degrees: ``v`` means ``(-v, v)``; positive is counter-clockwise on screen.
    interpolation : {"bilinear", "nearest"}
    fill_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
    cval : float or sequence of float
    p : float
        Probability of rotating each image.
    """

    def __init__(self, limit: Range = 90, interpolation: str = "bilinear",
                 fill_mode: str = "constant", cval: float | Sequence[float] = 0,
                 p: float = 1.0):
        check_range(limit, "limit")  # errors name this class's argument
        super().__init__(rotate=limit, interpolation=interpolation, fill_mode=fill_mode,
                         cval=cval, p=p)
        self._store(limit=limit, interpolation=interpolation, fill_mode=fill_mode,
                    cval=cval, p=p)


def _padding(padding) -> tuple[int, int, int, int]:
    """torchvision's padding forms -> (left, top, right, bottom)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        values = (padding,) * 4
    else:
        try:
            values = tuple(padding)
        except TypeError:
            raise TypeError(f"padding must be an int or a sequence of 2 or 4 ints, "
                            f"got {padding!r}") from None
        if len(values) == 2:
            values = values * 2
        elif len(values) != 4:
            raise ValueError(f"padding must have 1, 2 or 4 values, got {padding!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"padding values must be non-negative ints, got {padding!r}")
    return tuple(int(v) for v in values)


class RandomCrop(GeometricTransform):
    """Crop a random ``size`` window, after optional padding, like torchvision.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(height, width)``.
    padding : int or sequence of int
        Padding added around each image first: all sides, ``(left/right, top/bottom)`` or
        ``(left, top, right, bottom)``.
    pad_if_needed : bool
        Pad images smaller than ``size`` (by the shortfall on both sides, as torchvision
        does); otherwise such images raise ``ValueError``.
    pad_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
        How the padding is filled (torchvision's "edge", "symmetric" and "reflect" are
        "nearest", "reflect" and "mirror" here).
    cval : float or sequence of float
        Fill value for "constant", 0..255.
    """

    restricts = True

    def __init__(self, size: int | Sequence[int], padding=0, pad_if_needed: bool = False,
                 pad_mode: str = "constant", cval: float | Sequence[float] = 0):
        self.size = check_size(size)
        self.padding = _padding(padding)
        self.pad_if_needed = bool(pad_if_needed)
        self.fill_mode = check_choice(pad_mode, FILL_MODES, "pad_mode")
        self.cval = check_cval(cval)
        self._store(size=size, padding=padding, pad_if_needed=pad_if_needed,
                    pad_mode=pad_mode, cval=cval)

    @property
    def samples_outside(self) -> bool:
        return self.pad_if_needed or any(self.padding)

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        th, tw = self.size
        left, top, right, bottom = self.padding
        h = sizes[:, 0] + top + bottom
        w = sizes[:, 1] + left + right
        if self.pad_if_needed:
            extra_h = np.maximum(th - h, 0)
            extra_w = np.maximum(tw - w, 0)
            top = top + extra_h
            left = left + extra_w
            h = h + 2 * extra_h
            w = w + 2 * extra_w
        small = (h < th) | (w < tw)
        if small.any():
            k = int(np.flatnonzero(small)[0])
            raise ValueError(
                f"RandomCrop size {self.size} is larger than image {k} "
                f"({tuple(sizes[k].tolist())} after padding {self.padding}); "
                "pass pad_if_needed=True or a smaller size")
        u = rng.random(2)
        i = np.minimum(np.floor(u[:, 0] * (h - th + 1)), h - th)
        j = np.minimum(np.floor(u[:, 1] * (w - tw + 1)), w - tw)
        out = np.broadcast_to(np.array(self.size, np.int64), sizes.shape).copy()
        return Geometry(_translation(j - left, i - top), out)


class CenterCrop(GeometricTransform):
    """Crop the central ``size`` window, like torchvision.

    The top-left corner is ``round((H - h) / 2)``, ``round((W - w) / 2)`` (round half to
    even, as Python does). Images smaller than ``size`` raise ``ValueError``, or with
    ``pad_if_needed`` are padded with ``cval`` first, as torchvision always does.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(height, width)``.
    pad_if_needed : bool
        Off by default: a crop that may pad cannot fold into the same pass as a
        preceding crop or warp (Compose then adds a pass).
    cval : float or sequence of float
        Padding value, 0..255.
    """

    restricts = True

    def __init__(self, size: int | Sequence[int], pad_if_needed: bool = False,
                 cval: float | Sequence[float] = 0):
        self.size = check_size(size)
        self.pad_if_needed = bool(pad_if_needed)
        self.fill_mode = "constant"
        self.cval = check_cval(cval)
        self._store(size=size, pad_if_needed=pad_if_needed, cval=cval)

    @property
    def samples_outside(self) -> bool:
        return self.pad_if_needed

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        th, tw = self.size
        h, w = sizes[:, 0], sizes[:, 1]
        small = (h < th) | (w < tw)
        if small.any() and not self.pad_if_needed:
            k = int(np.flatnonzero(small)[0])
            raise ValueError(f"CenterCrop size {self.size} is larger than image {k} "
                             f"{tuple(sizes[k].tolist())}; pass pad_if_needed=True or a "
                             "smaller size")
        pt = np.where(th > h, (th - h) // 2, 0)
        pb = np.where(th > h, (th - h + 1) // 2, 0)
        pl = np.where(tw > w, (tw - w) // 2, 0)
        pr = np.where(tw > w, (tw - w + 1) // 2, 0)
        top = np.rint((h + pt + pb - th) / 2.0) - pt
        left = np.rint((w + pl + pr - tw) / 2.0) - pl
        out = np.broadcast_to(np.array(self.size, np.int64), sizes.shape).copy()
        return Geometry(_translation(left, top), out)


class RandomResizedCrop(GeometricTransform):
    """Crop a random area and aspect ratio, resized to ``size``: torchvision's sampling.

    Up to 10 tries of ``area * U(scale)`` and ``exp(U(log ratio))`` (width and height
    rounded half to even); the first that fits gives the crop, placed uniformly; if none
    fits, the centred crop of the whole image clamped to ``ratio``. The crop is resized
    like ``cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)`` (half-pixel
    centres, edge replicated inside the crop; torchvision's tensor path additionally
    antialiases when shrinking, PIL filters with its own kernel).

    Parameters
    ----------
    size : int or (int, int)
        Output ``(height, width)``.
    scale : (float, float)
        Range of the crop's area as a fraction of the image, 0 < low <= high.
    ratio : (float, float)
        Range of the crop's width / height, 0 < low <= high.
    interpolation : {"bilinear", "nearest"}
    """

    resamples = True
    restricts = True

    def __init__(self, size: int | Sequence[int], scale=(0.08, 1.0),
                 ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation: str = "bilinear"):
        self.size = check_size(size)
        self.scale = check_range(scale, "scale", low=0.0)
        self.ratio = check_range(ratio, "ratio", low=0.0)
        if self.scale[0] <= 0 or self.ratio[0] <= 0:
            raise ValueError(f"scale and ratio must be positive, got {scale!r}, {ratio!r}")
        self.interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation")
        self._store(size=size, scale=scale, ratio=ratio, interpolation=interpolation)

    def boxes(self, rng: Random, sizes: np.ndarray) -> np.ndarray:
        """Sampled crops ``(top, left, height, width)``, float64 (N, 4)."""
        h = sizes[:, 0].astype(np.float64)
        w = sizes[:, 1].astype(np.float64)
        area = (h * w)[:, None]
        lo_r, hi_r = np.log(self.ratio[0]), np.log(self.ratio[1])
        u = rng.random(10, 2)
        target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        aspect = np.exp(lo_r + (hi_r - lo_r) * u[..., 1])
        cw = np.rint(np.sqrt(target * aspect))
        ch = np.rint(np.sqrt(target / aspect))
        fits = (cw > 0) & (cw <= w[:, None]) & (ch > 0) & (ch <= h[:, None])
        first = np.argmax(fits, axis=1)
        rows = np.arange(len(h))
        bw, bh = cw[rows, first], ch[rows, first]
        pos = rng.random(2)
        top = np.floor(pos[:, 0] * (h - bh + 1))
        left = np.floor(pos[:, 1] * (w - bw + 1))
        # Fallback: the whole image, cropped centrally to the nearest allowed ratio.
        ratio = w / h
        fw = np.where(ratio < self.ratio[0], w,
                      np.where(ratio > self.ratio[1], np.rint(h * self.ratio[1]), w))
        fh = np.where(ratio < self.ratio[0], np.rint(w / self.ratio[0]), h)
        found = fits.any(axis=1)
        bw = np.where(found, bw, fw)
        bh = np.where(found, bh, fh)
        top = np.where(found, top, (h - fh) // 2)
        left = np.where(found, left, (w - fw) // 2)
        return np.stack([top, left, bh, bw], axis=1)

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        box = self.boxes(rng, sizes)
        out = np.broadcast_to(np.array(self.size, np.int64), sizes.shape).copy()
        return Geometry(_homogeneous(ops.crop_matrices(box, self.size)), out, box)


class Resize(GeometricTransform):
    """Resize every image to ``size``, like ``cv2.resize`` (no antialiasing).

    Parameters
    ----------
    size : int or (int, int)
        Output ``(height, width)``; an int gives a square.
    interpolation : {"bilinear", "nearest"}
        "nearest" matches ``cv2.INTER_NEAREST_EXACT``.
    """

    resamples = True

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear"):
        self.size = check_size(size)
        self.interpolation = check_choice(interpolation, INTERPOLATIONS, "interpolation")
        self._store(size=size, interpolation=interpolation)

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:
        n = len(sizes)
        box = np.zeros((n, 4))
        box[:, 2:] = sizes
        out = np.broadcast_to(np.array(self.size, np.int64), sizes.shape).copy()
        return Geometry(_homogeneous(ops.crop_matrices(box, self.size)), out, box)

