"""Colour transforms: each is a per-image affine colour matrix (plus contrast's mean).

A colour transform returns *steps* ``(contrast, matrix)``: ``matrix`` is a homogeneous
``(N, C + 1, C + 1)`` float64 array (``out = M @ [c_0, ..., c_{C-1}, 1]``) and
``contrast`` None or per-image factors of a blend with the image's mean grey level,
applied before the matrix. :class:`fastaug.Compose` multiplies all matrices of a chain
into one ``(C, C + 1)`` matrix per image for ``ops.augment``.

Channel conventions: 3 channels are RGB; with 4 the fourth (alpha) is left unchanged;
with 1 (grey) saturation, hue and grayscale are the identity. Grey is torchvision's
``0.2989 R + 0.587 G + 0.114 B``.

Differences from a per-transform implementation such as torchvision's: values are
saturated to 0..255 and rounded once, at the end of the fused chain, not after every
transform, so results differ where an intermediate result would have left 0..255 (the
fused result is the exact one); ``Hue`` is a rotation about the grey axis, not HSV hue
(see :class:`Hue`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

from .base import (
    ColorTransform,
    Random,
    check_factor_range,
    check_p,
    check_range,
)

__all__ = [
    "Brightness",
    "ChannelShift",
    "ColorJitter",
    "ColorMatrix",
    "Contrast",
    "Grayscale",
    "Hue",
    "Saturation",
    "GRAY_WEIGHTS",
]

#: Weights of R, G and B in the grey level (torchvision's ``rgb_to_grayscale``).
GRAY_WEIGHTS = np.array([0.2989, 0.587, 0.114])

Range = Union[float, Sequence[float]]


def color_channels(channels: int) -> int:
    """Channels that colour transforms change: 1 for grey, else 3 (alpha kept)."""
    return 1 if channels == 1 else 3


def gray_weights(channels: int) -> np.ndarray:
    """Weights of each channel in the grey level, float64 (C,)."""
    w = np.zeros(channels)
    if channels == 1:
        w[0] = 1.0
    else:
        w[:3] = GRAY_WEIGHTS
    return w


def identity(n: int, channels: int) -> np.ndarray:
    """Identity colour matrices, float64 (N, C + 1, C + 1)."""
    return np.broadcast_to(np.eye(channels + 1), (n, channels + 1, channels + 1)).copy()


def _embed(linear: np.ndarray, channels: int, offset: np.ndarray | None = None
           ) -> np.ndarray:
    """(N, k, k) matrices on the k colour channels -> (N, C + 1, C + 1) homogeneous."""
    n, k = linear.shape[:2]
    m = identity(n, channels)
    m[:, :k, :k] = linear
    if offset is not None:
        m[:, :k, channels] = offset
    return m


def brightness_matrix(factor: np.ndarray, channels: int) -> np.ndarray:
    """``x -> factor * x`` on the colour channels, (N, C + 1, C + 1)."""
    k = color_channels(channels)
    return _embed(factor[:, None, None] * np.eye(k), channels)


_GRAY_ROWS = np.outer(np.ones(3), GRAY_WEIGHTS)  # every row: the grey weights
_AXIS = np.full(3, 1.0 / np.sqrt(3.0))  # the grey axis, unit length
_AXIS_CROSS = np.array([[0.0, -_AXIS[2], _AXIS[1]], [_AXIS[2], 0.0, -_AXIS[0]],
                        [-_AXIS[1], _AXIS[0], 0.0]])  # v -> axis x v
_AXIS_OUTER = np.outer(_AXIS, _AXIS)


def _saturation_linear(factor: np.ndarray) -> np.ndarray:
    """The (N, 3, 3) RGB part of :func:`saturation_matrix`."""
    f = factor[:, None, None]
    return f * np.eye(3) + (1.0 - f) * _GRAY_ROWS


def _hue_linear(shift: np.ndarray) -> np.ndarray:
    """The (N, 3, 3) RGB part of :func:`hue_matrix` (Rodrigues' rotation formula)."""
    theta = 2.0 * np.pi * shift
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    return cos * np.eye(3) + sin * _AXIS_CROSS + (1.0 - cos) * _AXIS_OUTER


def saturation_matrix(factor: np.ndarray, channels: int) -> np.ndarray:
    """Blend with the grey image: ``factor * x + (1 - factor) * gray(x)``."""
    if channels == 1:
        return identity(len(factor), channels)
    return _embed(_saturation_linear(factor), channels)


def hue_matrix(shift: np.ndarray, channels: int) -> np.ndarray:
    """Rotation about the grey axis (1, 1, 1) by ``shift`` turns (R -> G -> B positive)."""
    if channels == 1:
        return identity(len(shift), channels)
    return _embed(_hue_linear(shift), channels)


def grayscale_matrix(n: int, channels: int) -> np.ndarray:
    """Every colour channel replaced by the grey level."""
    if channels == 1:
        return identity(n, channels)
    return _embed(np.broadcast_to(np.outer(np.ones(3), GRAY_WEIGHTS), (n, 3, 3)), channels)


def contrast_matrix(factor: np.ndarray, mean: np.ndarray, channels: int) -> np.ndarray:
    """``x -> factor * x + (1 - factor) * mean`` on the colour channels (mean per image)."""
    k = color_channels(channels)
    return _embed(factor[:, None, None] * np.eye(k), channels,
                  ((1.0 - factor) * mean)[:, None] * np.ones(k))


def _select(apply: np.ndarray, m: np.ndarray, channels: int) -> np.ndarray:
    return np.where(apply[:, None, None], m, identity(len(apply), channels))


class _FactorTransform(ColorTransform):
    """A colour transform driven by one random factor per image (1 = unchanged)."""

    def __init__(self, factor: Range = 0.2, p: float = 1.0):
        self.factor = check_factor_range(factor, "factor")
        self.p = check_p(p)
        self._store(factor=factor, p=p)

    def _factors(self, rng: Random) -> np.ndarray:
        apply = rng.bernoulli(self.p)
        return np.where(apply, rng.uniform(*self.factor), 1.0)


class Brightness(_FactorTransform):
    """Multiply the colour channels by a random factor (torchvision's brightness).

    Parameters
    ----------
    factor : float or (float, float)
        ``v`` means factors in ``[max(0, 1 - v), 1 + v]``; a pair is the range.
    p : float
        Probability of changing each image.
    """

    def sample(self, rng: Random, n: int, channels: int) -> list:
        f = self._factors(rng)
        return [(None, brightness_matrix(f, channels))]


class Contrast(_FactorTransform):
    """Blend with the image's mean grey level (torchvision's contrast).

    ``x -> f * x + (1 - f) * mean`` where ``mean`` is the mean grey level of the image
    *as it is at this point of the chain*: Compose estimates it from a 32x32 grid of
    nearest samples of the image after the geometric transforms that precede this one
    (through their matrices, so a crop's mean is the crop's) and after the colour
    transforms that precede it (through their matrices, exactly).

    Parameters
    ----------
    factor : float or (float, float)
        ``v`` means factors in ``[max(0, 1 - v), 1 + v]``; a pair is the range.
    p : float
        Probability of changing each image.
    """

    def sample(self, rng: Random, n: int, channels: int) -> list:
        f = self._factors(rng)
        return [(f, identity(n, channels))]


class Saturation(_FactorTransform):
    """Blend with the grey image (torchvision's saturation).

    Parameters
    ----------
    factor : float or (float, float)
        ``v`` means factors in ``[max(0, 1 - v), 1 + v]``; 0 is grey, 1 unchanged.
    p : float
        Probability of changing each image.
    """

    def sample(self, rng: Random, n: int, channels: int) -> list:
        f = self._factors(rng)
        return [(None, saturation_matrix(f, channels))]


class Hue(ColorTransform):
    """Rotate colours about the grey axis by a random fraction of a turn.

    This is a linear stand-in for torchvision's HSV hue shift, so that it folds into the
    colour matrix: a shift of ``h`` turns rotates RGB about (1, 1, 1) by ``2 pi h``
    (red towards green for positive ``h``; 1/3 maps red to green exactly as HSV does).
    It keeps ``R + G + B`` and the distance from grey, where HSV keeps the max and min
    channel; on photos the two differ by a few grey levels for small shifts (measured
    in ``tests/test_transforms.py::test_hue_close_to_hsv``).

    Parameters
    ----------
    factor : float or (float, float)
        Turns: ``v`` in [0, 0.5] means ``[-v, v]``; a pair within [-0.5, 0.5].
    p : float
        Probability of changing each image.
    """

    def __init__(self, factor: Range = 0.05, p: float = 1.0):
        self.factor = check_range(factor, "factor", low=-0.5, high=0.5)
        self.p = check_p(p)
        self._store(factor=factor, p=p)

    def sample(self, rng: Random, n: int, channels: int) -> list:
        apply = rng.bernoulli(self.p)
        h = np.where(apply, rng.uniform(*self.factor), 0.0)
        return [(None, hue_matrix(h, channels))]


class ColorJitter(ColorTransform):
    """torchvision's ``ColorJitter``: brightness, contrast, saturation and hue in a random
    order per image.

    Factors are drawn uniformly from torchvision's ranges: for brightness, contrast and
    saturation ``v`` means ``[max(0, 1 - v), 1 + v]``, for hue ``v`` in [0, 0.5] means
    ``[-v, v]``; pairs are ranges. 0 disables a component. Hue is :class:`Hue`'s
    rotation; contrast uses the mean grey level of the image as it is at its place in
    the per-image order.

    Parameters
    ----------
    brightness, contrast, saturation : float or (float, float)
    hue : float or (float, float)
    p : float
        Probability of jittering each image.
    """

    def __init__(self, brightness: Range = 0, contrast: Range = 0, saturation: Range = 0,
                 hue: Range = 0, p: float = 1.0):
        self.brightness = check_factor_range(brightness, "brightness")
        self.contrast = check_factor_range(contrast, "contrast")
        self.saturation = check_factor_range(saturation, "saturation")
        self.hue = check_range(hue, "hue", low=-0.5, high=0.5)
        self.p = check_p(p)
        self._store(brightness=brightness, contrast=contrast, saturation=saturation,
                    hue=hue, p=p)

    def sample(self, rng: Random, n: int, channels: int) -> list:
        apply = rng.bernoulli(self.p)
        u = rng.random(4)
        order = rng.permutations(4)  # torchvision's indices: 0 b, 1 c, 2 s, 3 h
        b = self.brightness[0] + (self.brightness[1] - self.brightness[0]) * u[:, 0]
        c = self.contrast[0] + (self.contrast[1] - self.contrast[0]) * u[:, 1]
        s = self.saturation[0] + (self.saturation[1] - self.saturation[0]) * u[:, 2]
        h = self.hue[0] + (self.hue[1] - self.hue[0]) * u[:, 3]
        # Work on the k colour channels' (k, k) linear parts (none of these has an
        # offset), embed once at the end: sampling stays a small part of the call.
        # Brightness is a multiple of the identity and commutes with the others; only
        # which side of the contrast blend it falls on matters, and the order of
        # saturation and hue between themselves.
        k = color_channels(channels)
        place = np.argsort(order, axis=1)  # place[:, op]: its position in the order
        before = place < place[:, 1:2]  # (N, 4): op comes before the contrast blend
        if k == 1:  # grey: saturation and hue are the identity
            sm = hm = np.ones((n, 1, 1))
        else:
            sm, hm = _saturation_linear(s), _hue_linear(h)
        s_first = (place[:, 2] < place[:, 3])[:, None, None]
        both = np.where(s_first, hm @ sm, sm @ hm)
        eye = np.eye(k)
        s_pre, h_pre = before[:, 2, None, None], before[:, 3, None, None]
        pre = np.where(s_pre & h_pre, both, np.where(s_pre, sm, np.where(h_pre, hm, eye)))
        post = np.where(~s_pre & ~h_pre, both,
                        np.where(~s_pre, sm, np.where(~h_pre, hm, eye)))
        b_pre = before[:, 0, None, None]
        pre = pre * np.where(b_pre, b[:, None, None], 1.0)
        post = post * np.where(b_pre, 1.0, b[:, None, None])
        pre = _embed(np.where(apply[:, None, None], pre, eye), channels)
        post = _embed(np.where(apply[:, None, None], post, eye), channels)
        if self.contrast == (1.0, 1.0):
            return [(None, post @ pre)]
        return [(None, pre), (np.where(apply, c, 1.0), post)]


class ChannelShift(ColorTransform):
    """Add a random value to each colour channel (the classic "colour shifting").

    Parameters
    ----------
    limit : float or (float, float)
        Grey levels: ``v`` means ``[-v, v]``; within [-255, 255].
    per_channel : bool
        One value per channel (else one value for all, Keras's ``channel_shift_range``,
        which however clips to the image's own min and max instead of 0..255).
    p : float
        Probability of shifting each image.
    """

    def __init__(self, limit: Range = 20, per_channel: bool = True, p: float = 1.0):
        self.limit = check_range(limit, "limit", low=-255.0, high=255.0)
        if not isinstance(per_channel, bool):
            raise TypeError(f"per_channel must be a bool, got {per_channel!r}")
        self.per_channel = per_channel
        self.p = check_p(p)
        self._store(limit=limit, per_channel=per_channel, p=p)

    def sample(self, rng: Random, n: int, channels: int) -> list:
        apply = rng.bernoulli(self.p)
        shift = rng.uniform(self.limit[0], self.limit[1], 3)  # 3 draws whatever C
        k = color_channels(channels)
        shift = shift[:, :k] if self.per_channel else np.repeat(shift[:, :1], k, axis=1)
        shift = np.where(apply[:, None], shift, 0.0)
        return [(None, _embed(np.broadcast_to(np.eye(k), (n, k, k)), channels, shift))]


class Grayscale(ColorTransform):
    """Replace the colour channels by the grey level with probability ``p``.

    Parameters
    ----------
    p : float
        Probability of converting each image (torchvision's ``RandomGrayscale(0.1)`` is
        ``Grayscale(p=0.1)``).
    """

    def __init__(self, p: float = 1.0):
        self.p = check_p(p)
        self._store(p=p)

    def sample(self, rng: Random, n: int, channels: int) -> list:
        apply = rng.bernoulli(self.p)
        return [(None, _select(apply, grayscale_matrix(n, channels), channels))]


class ColorMatrix(ColorTransform):
    """A fixed, user-supplied colour matrix, applied with probability ``p``.

    Parameters
    ----------
    matrix : array_like, shape (C, C + 1) or (C, C)
        ``out[c] = sum_k M[c, k] * in[k] + M[c, C]`` (the offset column may be left out).
    p : float
        Probability of applying it to each image.
    """

    def __init__(self, matrix, p: float = 1.0):
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] not in (1, 3, 4) or m.shape[1] not in (m.shape[0],
                                                                            m.shape[0] + 1):
            raise ValueError(f"matrix must have shape (C, C + 1) or (C, C) with C in 1, 3, 4, "
                             f"got {m.shape}")
        if not np.all(np.isfinite(m)):
            raise ValueError("matrix must be finite")
        if m.shape[1] == m.shape[0]:
            m = np.hstack([m, np.zeros((m.shape[0], 1))])
        self.matrix = m
        self.p = check_p(p)
        self._store(matrix=m.tolist(), p=p)

    def sample(self, rng: Random, n: int, channels: int) -> list:
        apply = rng.bernoulli(self.p)
        if self.matrix.shape[0] != channels:
            raise ValueError(f"ColorMatrix has {self.matrix.shape[0]} channels but the images "
                             f"have {channels}")
        m = identity(n, channels)
        m[:, :channels] = self.matrix
        return [(None, _select(apply, m, channels))]
