"""Augmentation policies: RandAugment, TrivialAugmentWide, AutoAugment and AugMix, sampled
per image and run natively on the whole batch.

All four follow torchvision's ``transforms.v2`` implementations: the same operations
(the op ids below), magnitude bins and sampling (RandAugment: ops drawn uniformly *with
replacement*; TrivialAugmentWide: op and bin uniform; AutoAugment: a sub-policy of
``AUTOAUGMENT_POLICIES`` uniform, each of its two ops applied with its probability;
AugMix: see :class:`AugMix`), a signed magnitude negated with probability 1/2,
torchvision's default interpolation (nearest; AugMix bilinear) and a 0 fill, both
settable (``interpolation``, ``fill``).

=====  ============  ==================================================================
id     op            magnitude: RandAugment and AutoAugment / TrivialAugmentWide / AugMix
=====  ============  ==================================================================
0      Identity      --
1, 2   ShearX/Y      ±linspace(0, 0.3) / ±linspace(0, 0.99) / as RandAugment (shear
                     factor, about the top-left corner, like torchvision)
3, 4   TranslateX/Y  ±linspace(0, 150/331 * W or H) / ±linspace(0, 32) /
                     ±linspace(0, W or H / 3), pixels, truncated to integers
5      Rotate        ±linspace(0, 30) / ±linspace(0, 135) / ±linspace(0, 30) degrees,
                     counter-clockwise
6      Brightness    factor 1 ± linspace(0, 0.9) / 1 ± linspace(0, 0.99) / as RandAugment
7      Color         saturation factor, same
8      Contrast      contrast factor, same (mean grey of the image at that point)
9      Sharpness     sharpness factor, same (torchvision's 3x3 smoothing blend)
10     Posterize     bits round(8 - k / ((bins - 1) / 4)) / ... / 6) /
                     round(4 - k / ((bins - 1) / 4)) (AugMix: down to 0 bits)
11     Solarize      threshold 255 * linspace(1, 0)
12     AutoContrast  --
13     Equalize      -- (PIL's / torchvision's equalize)
14     Invert        -- (``255 - x``; AutoAugment only)
=====  ============  ==================================================================

AutoAugment and AugMix use 10 bins; AugMix draws the bin uniformly in ``0 .. severity - 1``.

Each image draws its own ops and magnitudes from the per-sample counter-based streams
of :mod:`fastaug.transforms.base` (keyed by seed, epoch and global sample index), so
results do not depend on the batch size or the order of calls, as with ``Compose``.

How a batch runs (one native call, no loop over images)
-------------------------------------------------------
The drawn ops become per-image steps of one ``ops.sequence`` call (csrc/sequence.c),
which runs each image's steps one after the other while the image is in the caches:

- **lookups** (posterize, solarize, invert: tables built in numpy; autocontrast,
  equalize: tables from the histogram of the image at that point, built in C):
  consecutive lookups compose into one table per channel, one pass.
- **warp + colour** (one ``ops.augment`` of the image): a geometric op is the image's
  destination-to-source matrix (nearest or bilinear, fill ``fill``); a colour op
  (brightness, saturation, contrast) the colour matrix, in the same pass as a warp
  drawn right before it, applied to the warped pixels and to the fill as torchvision
  does. Contrast's mean grey is that of the warped image (floored grey levels, as
  torchvision), taken in C by a warp of its own first.
- **sharpness**: torchvision's rounded 3x3 smoothing and the blend
  ``f x + (1 - f) smooth`` truncated, in one pass; the one-pixel frame keeps its values.

So every op sees exactly the clipped uint8 image that the op before it produced, in
torchvision's order, and a batch is read once and written once whatever was drawn
(the values equal those of the separate ``ops.lut``, ``ops.histogram``,
``ops.augment``, ``ops.filter3x3`` and ``ops.blend`` passes). AugMix runs one call per
chain and mixes with one ``ops.blend`` pass.

Differences from applying the ops one by one (torchvision)
----------------------------------------------------------
- None by design in the values: colour ops, sharpness and AugMix's mix truncate
  their result like torchvision's ``.to(uint8)`` (the passes round
  ``v - 0.5 + 2**-8``), bilinear warps round like torchvision. But values that land
  exactly on an integer may go either way with the float error of each
  implementation (so may a nearest source on a rounding tie, e.g. ShearX 0.2 on every
  fifth row), and AutoContrast/Equalize can amplify such a 1-level difference of their
  input by their stretch factor.
- A bilinear warp and the colour op after it share a pass: the colour op sees the
  unrounded samples where torchvision rounds them first (within 1 level).
- With an explicit ``fill`` and bilinear sampling, the band of output pixels partly
  covered by the image blends the fill once, like OpenCV's constant border;
  torchvision computes ``mask * (zero-padded sample - fill) + fill``, counting the
  coverage twice there.

``tests/test_policies.py`` measures the result against a sequential numpy reference of
torchvision's ops on photos: for random ``RandAugment(2, 9)`` draws 0.03% of pixels differ
by more than 2 grey levels, for ``TrivialAugmentWide`` 0.004%, for ``AugMix()`` 0.003%;
single ops and most pairs are identical but for a few pixels off by one.

Use
---
The policies are standalone callables with Compose's seed/epoch/indices semantics::

    ra = RandAugment(num_ops=2, magnitude=9, seed=0)
    out = ra(batch)                 # uint8 (N, H, W, C), same size
    ops_, mags = ra.sample(len(batch), batch.shape[1:3])
    out = ra.apply(batch, ops_, mags)   # deterministic: fixed ops and magnitudes

    am = AugMix(seed=0)
    op, mag, weights = am.sample(len(batch), batch.shape[1:3])
    out = am.apply(batch, op, mag, weights)

They are not Compose transforms: Compose's plan folds each transform into one kind of
pass, while one policy needs several kinds (warp, colour, filter, lookups) whose order
depends on the image; a policy output can be fed to a Compose.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from .. import ops
from .._pool import OutputPool
from .base import Random, SampleStream, sample_keys
from .color import (
    GRAY_WEIGHTS,
    brightness_matrix,
    saturation_matrix,
)

__all__ = ["AugMix", "AutoAugment", "RandAugment", "TrivialAugmentWide", "OP_NAMES"]

OP_NAMES = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
            "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
            "AutoContrast", "Equalize", "Invert")
IDENTITY, SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE = range(6)
BRIGHTNESS, COLOR, CONTRAST, SHARPNESS, POSTERIZE, SOLARIZE, AUTOCONTRAST, EQUALIZE = range(6, 14)
INVERT = 14
NUM_OPS = len(OP_NAMES)
_GEOMETRIC = (SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE)
_COLOR = (BRIGHTNESS, COLOR, CONTRAST)
_SIGNED = np.zeros(NUM_OPS, bool)
_SIGNED[[SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE, BRIGHTNESS, COLOR, CONTRAST,
         SHARPNESS]] = True

#: Offset that turns the colour pass's rounding into torchvision's truncation.
_TRUNCATE = 0.5 - 2.0 ** -8


def magnitude_table(space: str, num_bins: int, height: int, width: int) -> np.ndarray:
    """Unsigned magnitudes of every op and bin, float64 (15, num_bins) (0 where none).

    ``space`` is "rand" (RandAugment and AutoAugment, whose 10 bins are
    RandAugment's space), "wide" (TrivialAugmentWide) or "augmix" (AugMix, 10 bins).
    """
    t = np.zeros((NUM_OPS, num_bins))
    lin = np.linspace
    k = np.arange(num_bins)
    bits = 8
    if space == "augmix":
        t[SHEAR_X] = t[SHEAR_Y] = lin(0.0, 0.3, num_bins)
        t[TRANSLATE_X] = lin(0.0, width / 3.0, num_bins)
        t[TRANSLATE_Y] = lin(0.0, height / 3.0, num_bins)
        t[ROTATE] = lin(0.0, 30.0, num_bins)
        t[[BRIGHTNESS, COLOR, CONTRAST, SHARPNESS]] = lin(0.0, 0.9, num_bins)
        bits, steps = 4, 4
    elif space == "rand":
        t[SHEAR_X] = t[SHEAR_Y] = lin(0.0, 0.3, num_bins)
        t[TRANSLATE_X] = lin(0.0, 150.0 / 331.0 * width, num_bins)
        t[TRANSLATE_Y] = lin(0.0, 150.0 / 331.0 * height, num_bins)
        t[ROTATE] = lin(0.0, 30.0, num_bins)
        t[[BRIGHTNESS, COLOR, CONTRAST, SHARPNESS]] = lin(0.0, 0.9, num_bins)
        steps = 4
    else:
        t[SHEAR_X] = t[SHEAR_Y] = lin(0.0, 0.99, num_bins)
        t[TRANSLATE_X] = t[TRANSLATE_Y] = lin(0.0, 32.0, num_bins)
        t[ROTATE] = lin(0.0, 135.0, num_bins)
        t[[BRIGHTNESS, COLOR, CONTRAST, SHARPNESS]] = lin(0.0, 0.99, num_bins)
        steps = 6
    # torch: (bits - (arange(bins) / ((bins - 1) / steps))).round().int(), round half even
    t[POSTERIZE] = np.rint(bits - k / ((num_bins - 1) / steps)) if num_bins > 1 else bits
    t[SOLARIZE] = lin(1.0, 0.0, num_bins)
    return t


# ---- per-op pieces, vectorised over images ------------------------------------------


def _geometry(op: np.ndarray, mag: np.ndarray, h: int, w: int) -> np.ndarray:
    """Destination-to-source (N, 3, 3) maps of the geometric ops (identity elsewhere)."""
    n = len(op)
    m = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    s = op == SHEAR_X  # src_x = x + m (y + 0.5): shear about the corner (-0.5, -0.5)
    m[s, 0, 1] = mag[s]
    m[s, 0, 2] = 0.5 * mag[s]
    s = op == SHEAR_Y
    m[s, 1, 0] = mag[s]
    m[s, 1, 2] = 0.5 * mag[s]
    s = op == TRANSLATE_X  # torchvision: translate=[int(magnitude), 0]
    m[s, 0, 2] = -np.trunc(mag[s])
    s = op == TRANSLATE_Y
    m[s, 1, 2] = -np.trunc(mag[s])
    s = op == ROTATE  # counter-clockwise on screen about the centre
    th = np.deg2rad(mag[s])
    cos, sin = np.cos(th), np.sin(th)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    m[s, 0, 0] = cos
    m[s, 0, 1] = -sin
    m[s, 1, 0] = sin
    m[s, 1, 1] = cos
    m[s, 0, 2] = cx - cos * cx + sin * cy
    m[s, 1, 2] = cy - sin * cx - cos * cy
    return m


def _point_tables(op: np.ndarray, mag: np.ndarray, channels: int) -> np.ndarray:
    """Tables (N, C, 256) of posterize/solarize/invert (identity elsewhere)."""
    v = np.arange(256)
    n = len(op)
    t = np.broadcast_to(v, (n, 256)).copy()
    s = op == POSTERIZE
    bits = np.clip(mag[s], 0, 8).astype(np.int64)
    mask = ((1 << bits) - 1) << (8 - bits)
    t[s] = v[None, :] & mask[:, None]
    s = op == SOLARIZE
    thr = 255.0 * mag[s]
    t[s] = np.where(v[None, :] >= thr[:, None], 255 - v[None, :], v[None, :])
    t[op == INVERT] = 255 - v
    return np.repeat(t[:, None, :], channels, axis=1).astype(np.uint8)


def _fresh(pool: OutputPool | None, shape: tuple) -> np.ndarray | None:
    """A uint8 output buffer from ``pool`` (memory a dropped output had), or None."""
    return None if pool is None else pool.empty(shape, np.uint8)


# ---- the policies -------------------------------------------------------------------


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        hi = "" if high is None else f", at most {high}"
        raise ValueError(f"{name} must be at least {low}{hi}, got {value!r}")
    return int(value)


def _check_interpolation(value) -> str:
    """"nearest" or "bilinear" (or an enum with that value, like torchvision's)."""
    value = getattr(value, "value", value)
    if not isinstance(value, str) or value not in ops.INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(ops.INTERPOLATIONS)}, got "
                         f"{value!r}")
    return value


def _check_fill(value) -> tuple[float, ...] | None:
    """None (0), a number or a sequence of numbers (one per channel), each 0..255."""
    if value is None:
        return None
    values = [value] if isinstance(value, numbers.Real) else value
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"fill must be None, a number or a sequence of numbers, "
                        f"got {value!r}") from None
    if not 1 <= len(values) <= 4 or any(
            isinstance(v, bool) or not isinstance(v, numbers.Real) for v in values):
        raise TypeError(f"fill must be None, a number or 1 to 4 numbers, got {value!r}")
    if not all(0.0 <= float(v) <= 255.0 for v in values):
        raise ValueError(f"fill values must lie in 0..255, got {value!r}")
    return tuple(float(v) for v in values)


class _Policy(SampleStream):
    """Shared machinery: seed/epoch/indices like Compose, sampling, the native call.

    Subclasses set ``interpolation`` and ``fill`` (see :func:`_init_warp`) and define
    ``_draw``, which returns the parameters that ``apply`` takes after the images.
    """

    def _init_warp(self, interpolation, fill) -> None:
        self.interpolation = _check_interpolation(interpolation)
        self.fill = _check_fill(fill)

    def _pool(self, size: int = 2) -> OutputPool:
        """This policy's pool of output memory (made on first use, and after pickling)."""
        pool = self.__dict__.get("_outputs")
        if pool is None or pool.size < size:
            pool = self._outputs = OutputPool(size)
        return pool

    def _cval(self, channels: int) -> np.ndarray:
        """The fill as ``ops.augment``'s cval for images with ``channels`` channels."""
        return ops._channel_values(self.fill, channels, "fill", 0.0)

    def _warp_repr(self, default: str = "nearest") -> str:
        parts = [] if self.interpolation == default else [f"interpolation={self.interpolation!r}"]
        if self.fill is not None:
            parts.append(f"fill={self.fill!r}")
        return "".join(", " + p for p in parts)

    # ---- sampling ----

    def sample(self, n: int, size, indices=None, groups=None) -> tuple[np.ndarray, ...]:
        """Random parameters of ``n`` images, the arguments of :meth:`apply` after the
        images (for RandAugment, TrivialAugmentWide and AutoAugment: ops (N, K) int64
        and signed magnitudes (N, K) float64).

        ``size`` is the images' ``(H, W)`` (translations scale with it).
        ``indices`` default to the running counter (which advances, as a call does).
        Images with the same ``groups`` id (int (n,)) draw the same ops (see SampleStream).
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        h, w = int(size[0]), int(size[1])
        ids = self._check_groups(int(n), groups)
        keys = sample_keys(self.seed, self._epoch,
                           self._group_ids(self._indices(int(n), indices), ids))
        return self._draw(Random(keys, 0), h, w)

    def _draw(self, rng: Random, h: int, w: int):  # pragma: no cover
        raise NotImplementedError

    # ---- applying ----

    def __call__(self, images: np.ndarray, indices=None, groups=None) -> np.ndarray:
        """Augment a uint8 batch (N, H, W, C) or (N, H, W) with freshly drawn parameters;
        images with the same ``groups`` id get the same ones."""
        x, _ = self._batch(images)
        return self.apply(images, *self.sample(len(x), x.shape[1:3], indices, groups))

    @staticmethod
    def _batch(images) -> tuple[np.ndarray, bool]:
        if not isinstance(images, np.ndarray):
            raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
        if images.dtype != np.uint8:
            raise TypeError(f"images must have dtype uint8, got {images.dtype}")
        if images.ndim == 3:
            return images[..., np.newaxis], True
        if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
            raise ValueError(f"images must have shape (N, H, W, C) with C in 1, 3, 4 or "
                             f"(N, H, W), got {images.shape}")
        return images, False

    @staticmethod
    def _ops(op, magnitude, n: int, ndim: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Validated op ids (int64) and magnitudes (float64) of shape (N, ...)."""
        op = np.asarray(op)
        mag = ops._float_array(magnitude, "magnitude")
        if ndim == 2 and op.ndim == 1:
            op = op[:, None]
        if ndim == 2 and mag.ndim == 1:
            mag = mag[:, None]
        want = "K" if ndim == 2 else "W, D"
        if op.dtype.kind not in "iu" or op.ndim != ndim or op.shape[0] != n:
            raise ValueError(f"op must be ({n}, {want}) integers, got {op.dtype} {op.shape}")
        if mag.shape != op.shape:
            raise ValueError(f"magnitude must have op's shape {op.shape}, got {mag.shape}")
        if op.size and (op.min() < 0 or op.max() >= NUM_OPS):
            raise ValueError(f"op ids must lie in 0..{NUM_OPS - 1} (see OP_NAMES)")
        return op.astype(np.int64), mag

    def apply(self, images: np.ndarray, op, magnitude) -> np.ndarray:
        """Apply ops (N, K) with signed magnitudes (N, K) in order: deterministic.

        Magnitudes are in torchvision's units (see the module table); unsigned ops
        ignore the sign, magnitude-less ops their magnitude.

        Parameters
        ----------
        images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        op : array_like of int, shape (N, K) or (N,)
            Op ids (see ``OP_NAMES``).
        magnitude : array_like of float, same shape as ``op``

        Returns
        -------
        ndarray, uint8, same shape as ``images``
        """
        x, squeeze = self._batch(images)
        op, mag = self._ops(op, magnitude, len(x))
        out = run_ops(x, op, mag, self.threads, self.interpolation, self._cval(x.shape[3]),
                      self._pool())
        return out[..., 0] if squeeze else out


#: The ``ops.sequence`` step kind of each op (colour ops may join a warp's step).
_STEP_OF_OP = np.full(NUM_OPS, ops.STEP_KINDS["none"], np.int32)
_STEP_OF_OP[list(_GEOMETRIC + _COLOR)] = ops.STEP_KINDS["augment"]
_STEP_OF_OP[[POSTERIZE, SOLARIZE, INVERT]] = ops.STEP_KINDS["lut"]
_STEP_OF_OP[AUTOCONTRAST] = ops.STEP_KINDS["autocontrast"]
_STEP_OF_OP[EQUALIZE] = ops.STEP_KINDS["equalize"]
_STEP_OF_OP[SHARPNESS] = ops.STEP_KINDS["sharpness"]


def _sequence_steps(op: np.ndarray, mag: np.ndarray, h: int, w: int, c: int) -> dict:
    """``ops.sequence``'s steps for ops (N, K) with magnitudes (N, K): one step per op
    in drawn order, except that a colour op right after a warp (Identity between them
    allowed) joins the warp's step, the warp and the colour matrix one pass."""
    n, k = op.shape
    kind = _STEP_OF_OP[op]
    geo, col = np.isin(op, _GEOMETRIC), np.isin(op, _COLOR)
    point = kind == ops.STEP_KINDS["lut"]
    steps: dict = {"kinds": kind}
    if geo.any():
        inv = np.empty((n, k, 2, 3))
        for j in range(k):
            inv[:, j] = _geometry(np.where(geo[:, j], op[:, j], IDENTITY), mag[:, j], h, w)[:, :2]
        steps["matrices"] = inv
    if col.any():
        colors = np.broadcast_to(np.eye(c, c + 1), (n, k, c, c + 1)).copy()
        gray = np.zeros((n, k, c))
        tone = 1 if c == 1 else 3
        after_warp = np.zeros(n, bool)  # the last op before j that is not Identity
        last = np.zeros(n, np.int64)
        for j in range(k):
            rows = np.flatnonzero(col[:, j])
            at = np.where(after_warp[rows], last[rows], j)
            o, f = op[rows, j], 1.0 + mag[rows, j]
            # contrast is f x plus (1 - f) x the mean grey, which the kernel adds
            m = np.where((o == COLOR)[:, None, None], saturation_matrix(f, c),
                         brightness_matrix(f, c))
            # torchvision truncates a colour op's result: floor(v) = round(v - 0.5),
            # less 2**-8 so that integers stay put whichever way the kernel breaks ties
            m[:, :tone, c] -= _TRUNCATE
            colors[rows, at] = m[:, :c]
            contrast = o == CONTRAST
            gray[rows[contrast], at[contrast], :tone] = 1.0 - f[contrast, None]
            kind[rows[at != j], j] = ops.STEP_KINDS["none"]
            live = op[:, j] != IDENTITY
            after_warp = np.where(live, geo[:, j], after_warp)
            last = np.where(live, j, last)
        steps["colors"], steps["gray"] = colors, gray
    if point.any():
        tables = np.empty((n, k, c, 256), np.uint8)
        for j in range(k):
            tables[:, j] = _point_tables(np.where(point[:, j], op[:, j], IDENTITY), mag[:, j], c)
        tables[..., 1 if c == 1 else 3:, :] = np.arange(256, dtype=np.uint8)  # alpha
        steps["tables"] = tables
    sharp = op == SHARPNESS
    if sharp.any():
        f = 1.0 + mag
        steps["weights"] = np.where(sharp[..., None], np.stack([f, 1.0 - f], axis=-1), 0.0)
        steps["offset"] = -_TRUNCATE
    return steps


def run_ops(x: np.ndarray, op: np.ndarray, mag: np.ndarray, threads=None,
            interpolation: str = "nearest", cval=0, pool: OutputPool | None = None) -> np.ndarray:
    """Ops (N, K) int64 ids with signed magnitudes (N, K) float64, applied in order to a
    (N, H, W, C) uint8 batch in one ``ops.sequence`` call (see the module docstring);
    warps sample with ``interpolation`` and fill with ``cval`` (a scalar or one value
    per channel). The output comes from ``pool`` when given.
    """
    n, h, w, c = x.shape
    return ops.sequence(x, **_sequence_steps(op, mag, h, w, c), gray_weights=GRAY_WEIGHTS,
                        interpolation=interpolation, cval=cval, threads=threads,
                        out=_fresh(pool, x.shape))


class RandAugment(_Policy):
    """torchvision's ``RandAugment``: ``num_ops`` ops per image, fixed magnitude bin.

    Parameters
    ----------
    num_ops : int
        Ops drawn per image (uniformly, with replacement), >= 0.
    magnitude : int
        Magnitude bin, in ``0 .. num_magnitude_bins - 1``.
    num_magnitude_bins : int
        >= 1.
    seed : int, optional
    threads : int, optional
    interpolation : {"nearest", "bilinear"}
        Sampling of the geometric ops (torchvision's default: nearest).
    fill : float or sequence of float, optional
        Value of pixels warped in from outside, one for all channels or one per channel,
        0..255; default 0.
    """

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 seed: int | None = None, threads: int | None = None, *,
                 interpolation: str = "nearest", fill=None):
        self.num_ops = _check_int(num_ops, "num_ops", 0, 64)
        self.num_magnitude_bins = _check_int(num_magnitude_bins, "num_magnitude_bins", 1)
        self.magnitude = _check_int(magnitude, "magnitude", 0, self.num_magnitude_bins - 1)
        self._init_warp(interpolation, fill)
        self._init_stream(seed, threads)

    def _draw(self, rng: Random, h: int, w: int):
        table = magnitude_table("rand", self.num_magnitude_bins, h, w)[:, self.magnitude]
        n, k = rng.n, self.num_ops
        op = np.empty((n, k), np.int64)
        neg = np.empty((n, k), bool)
        for j in range(k):  # torchvision: op, then the sign coin, per op
            op[:, j] = rng.integers(0, 14)  # Identity..Equalize: not Invert
            neg[:, j] = rng.random() <= 0.5
        mag = table[op] * np.where(neg & _SIGNED[op], -1.0, 1.0)
        return op, mag

    def __repr__(self) -> str:
        return (f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"num_magnitude_bins={self.num_magnitude_bins}, seed={self.seed}"
                f"{self._warp_repr()})")


class TrivialAugmentWide(_Policy):
    """torchvision's ``TrivialAugmentWide``: one op per image, a random magnitude bin.

    Parameters
    ----------
    num_magnitude_bins : int
        >= 1.
    seed : int, optional
    threads : int, optional
    interpolation : {"nearest", "bilinear"}
    fill : float or sequence of float, optional
        As :class:`RandAugment`.
    """

    def __init__(self, num_magnitude_bins: int = 31, seed: int | None = None,
                 threads: int | None = None, *, interpolation: str = "nearest", fill=None):
        self.num_magnitude_bins = _check_int(num_magnitude_bins, "num_magnitude_bins", 1)
        self._init_warp(interpolation, fill)
        self._init_stream(seed, threads)

    def _draw(self, rng: Random, h: int, w: int):
        table = magnitude_table("wide", self.num_magnitude_bins, h, w)
        op = rng.integers(0, 14)
        b = rng.integers(0, self.num_magnitude_bins)
        neg = rng.random() <= 0.5
        mag = table[op, b] * np.where(neg & _SIGNED[op], -1.0, 1.0)
        return op[:, None], mag[:, None]

    def __repr__(self) -> str:
        return (f"TrivialAugmentWide(num_magnitude_bins={self.num_magnitude_bins}, "
                f"seed={self.seed}{self._warp_repr()})")


# AutoAugment's learned policies (Cubuk et al. 2019), as torchvision lists them: 25
# sub-policies of two (op, probability, magnitude bin out of 10) each; None: no magnitude.
AUTOAUGMENT_POLICIES = {
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    "cifar10": (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}


@functools.cache
def _policy_arrays(policy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Op ids (S, 2) int64, probabilities (S, 2) and magnitude bins (S, 2) (0 for None)."""
    subs = AUTOAUGMENT_POLICIES[policy]
    op = np.array([[OP_NAMES.index(name) for name, _, _ in sub] for sub in subs], np.int64)
    prob = np.array([[p for _, p, _ in sub] for sub in subs])
    bins = np.array([[0 if b is None else b for _, _, b in sub] for sub in subs], np.int64)
    for a in (op, prob, bins):
        a.flags.writeable = False  # cached: shared by every call
    return op, prob, bins


class AutoAugment(_Policy):
    """torchvision's ``AutoAugment``: one learned sub-policy of two ops per image.

    Each image draws one of the policy's 25 sub-policies uniformly, then applies each
    of its two ops with the op's probability, at the sub-policy's magnitude bin out of
    10 bins of RandAugment's space (signed ops negated with probability 1/2). The ops
    include Invert (``255 - x``, a lookup like posterize). An op not applied is Identity
    in :meth:`sample`'s result, so :meth:`apply` is :class:`RandAugment`'s.

    Parameters
    ----------
    policy : {"imagenet", "cifar10", "svhn"}
        The learned policy (``AUTOAUGMENT_POLICIES``); any case, or an enum with such a
        value (torchvision's ``AutoAugmentPolicy``).
    interpolation : {"nearest", "bilinear"}
        Sampling of the geometric ops (torchvision's default: nearest); an enum with
        such a value (torchvision's ``InterpolationMode``) works for every policy.
    fill : float or sequence of float, optional
        Value of pixels warped in from outside, 0..255 (default 0).
    seed : int, optional
    threads : int, optional
    """

    def __init__(self, policy: str = "imagenet", interpolation: str = "nearest", fill=None,
                 seed: int | None = None, threads: int | None = None):
        name = getattr(policy, "value", policy)  # torchvision's AutoAugmentPolicy too
        if not isinstance(name, str) or name.lower() not in AUTOAUGMENT_POLICIES:
            raise ValueError(f"policy must be one of {sorted(AUTOAUGMENT_POLICIES)}, "
                             f"got {policy!r}")
        self.policy = name.lower()
        self._init_warp(interpolation, fill)
        self._init_stream(seed, threads)

    def _draw(self, rng: Random, h: int, w: int):
        sub_op, sub_prob, sub_bin = _policy_arrays(self.policy)
        table = magnitude_table("rand", 10, h, w)
        sub = rng.integers(0, len(sub_op))
        op = np.empty((rng.n, 2), np.int64)
        mag = np.empty((rng.n, 2))
        for j in range(2):  # torchvision: the probability coin, then the sign coin, per op
            applied = rng.random() < sub_prob[sub, j]
            neg = rng.random() <= 0.5
            o = sub_op[sub, j]
            m = table[o, sub_bin[sub, j]] * np.where(neg & _SIGNED[o], -1.0, 1.0)
            op[:, j] = np.where(applied, o, IDENTITY)
            mag[:, j] = np.where(applied, m, 0.0)
        return op, mag

    def __repr__(self) -> str:
        warp = f", interpolation={self.interpolation!r}, fill={self.fill!r}"
        return f"AutoAugment(policy={self.policy!r}{warp}, seed={self.seed})"


# ---- AugMix ---------------------------------------------------------------------------

#: AugMix's ops in torchvision's order; the first 9 are the set without ``all_ops``.
AUGMIX_OPS = (SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE, POSTERIZE, SOLARIZE,
              AUTOCONTRAST, EQUALIZE, BRIGHTNESS, COLOR, CONTRAST, SHARPNESS)
_AUGMIX_PARTIAL = 9
_GAMMA_BOOST_SLOT = 1 << 40  # far from the attempt slots 0, 1, 2, ...


def log_gamma_variates(keys: np.ndarray, alpha: float, k: int) -> np.ndarray:
    """Logarithms of Gamma(alpha, 1) variates, float64 (N, k), on per-sample streams.

    Marsaglia and Tsang's method (2000): attempt ``t`` of sample ``i`` uses
    ``Random(keys[i:i+1], t)``, and only samples with a rejected value make another
    attempt, so the values of a sample depend on its key alone. ``alpha < 1`` uses
    their boost ``G(alpha) = G(alpha + 1) U**(1 / alpha)``, in logs (no underflow for
    small alpha).

    Parameters
    ----------
    keys : ndarray, uint64, shape (N,)
    alpha : float
        Shape, > 0.
    k : int
        Variates per sample.
    """
    n = len(keys)
    a = alpha + 1.0 if alpha < 1.0 else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = np.zeros((n, k))
    todo = np.ones((n, k), bool)
    t = 0
    rows = np.arange(n)
    while len(rows):
        rng = Random(keys[rows], t)
        z = rng.normal(k)
        log_u = np.log1p(-rng.random(k))
        v = 1.0 + c * z
        v3 = np.where(v > 0, v, 1.0) ** 3
        ok = (v > 0) & (log_u < 0.5 * z * z + d - d * v3 + d * np.log(v3))
        take = todo[rows] & ok
        sub = out[rows]
        sub[take] = np.log(d) + np.log(v3[take])
        out[rows] = sub
        todo[rows] &= ~take
        rows = rows[todo[rows].any(axis=1)]
        t += 1
    if alpha < 1.0:
        out += np.log1p(-Random(keys, _GAMMA_BOOST_SLOT).random(k)) / alpha
    return out


def dirichlet(keys: np.ndarray, alpha: float, k: int) -> np.ndarray:
    """Dirichlet(alpha, ..., alpha) samples over ``k`` parts, float64 (N, k), rows sum to 1
    (normalised Gamma variates, see :func:`log_gamma_variates`)."""
    lg = log_gamma_variates(keys, alpha, k)
    e = np.exp(lg - lg.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class AugMix(_Policy):
    """torchvision's ``AugMix``: a mix of the image with ``mixture_width`` augmented chains.

    Per image: weights ``m ~ Dirichlet(alpha, alpha)`` (``m[1]`` is Beta(alpha, alpha))
    and ``w ~ Dirichlet(alpha, ..., alpha)`` over the chains; chain ``c`` applies
    ``chain_depth`` ops (or 1-3, uniformly, drawn per chain and image when
    ``chain_depth`` is negative), each drawn uniformly from ``AUGMIX_OPS`` (the first 9
    without ``all_ops``) with a magnitude bin uniform in ``0 .. severity - 1`` of 10
    bins (signed ops negated with probability 1/2); the output is
    ``m[0] x + sum_c m[1] w[c] chain_c(x)``, truncated to uint8 like torchvision.

    Natively, each chain is one ``ops.sequence`` call over the whole batch (every
    image's ops in the caches, see the module docstring) and the mix is one
    ``ops.blend`` pass: ``mixture_width + 1`` passes whatever was drawn.

    Parameters
    ----------
    severity : int
        1..10.
    mixture_width : int
        Chains, 1..64.
    chain_depth : int
        Ops per chain, 1..64, or negative for 1-3 at random.
    alpha : float
        Dirichlet / Beta concentration, > 0.
    all_ops : bool
        Include Brightness, Color, Contrast and Sharpness.
    interpolation : {"nearest", "bilinear"}
        Sampling of the geometric ops (torchvision's AugMix default: bilinear).
    fill : float or sequence of float, optional
        Value of pixels warped in from outside, 0..255 (default 0).
    seed : int, optional
    threads : int, optional
    """

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1,
                 alpha: float = 1.0, all_ops: bool = True, interpolation: str = "bilinear",
                 fill=None, seed: int | None = None, threads: int | None = None):
        self.severity = _check_int(severity, "severity", 1, 10)
        self.mixture_width = _check_int(mixture_width, "mixture_width", 1, 64)
        if isinstance(chain_depth, bool) or not isinstance(chain_depth, numbers.Integral):
            raise TypeError(f"chain_depth must be an integer, got {chain_depth!r}")
        if chain_depth == 0 or chain_depth > 64:
            raise ValueError("chain_depth must be 1..64, or negative for a random depth "
                             f"of 1 to 3, got {chain_depth!r}")
        self.chain_depth = int(chain_depth)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise TypeError(f"alpha must be a number, got {alpha!r}")
        if not (np.isfinite(alpha) and 1e-3 <= alpha <= 1e3):
            raise ValueError(f"alpha must lie in [0.001, 1000], got {alpha!r}")
        self.alpha = float(alpha)
        if not isinstance(all_ops, (bool, np.bool_)):
            raise TypeError(f"all_ops must be a bool, got {all_ops!r}")
        self.all_ops = bool(all_ops)
        self._init_warp(interpolation, fill)
        self._init_stream(seed, threads)

    @property
    def _depth(self) -> int:
        return self.chain_depth if self.chain_depth > 0 else 3

    def sample(self, n: int, size, indices=None,
               groups=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random parameters of ``n`` images: the arguments of :meth:`apply`; images with
        the same ``groups`` id get the same ones.

        Returns
        -------
        op : ndarray, int64, shape (N, mixture_width, depth)
            Op ids per chain (Identity past a chain's drawn depth); depth is
            ``chain_depth``, or 3 when it is random.
        magnitude : ndarray, float64, same shape
            Signed magnitudes.
        weights : ndarray, float64, shape (N, mixture_width + 1)
            Weight of the image itself, then of each chain; rows sum to 1.
        """
        return super().sample(n, size, indices, groups)

    def _draw(self, rng: Random, h: int, w: int):
        n, width, depth = rng.n, self.mixture_width, self._depth
        table = magnitude_table("augmix", 10, h, w)
        choices = np.array(AUGMIX_OPS if self.all_ops else AUGMIX_OPS[:_AUGMIX_PARTIAL])
        op = np.empty((n, width, depth), np.int64)
        mag = np.empty((n, width, depth))
        for c in range(width):
            d = rng.integers(1, 4) if self.chain_depth < 0 else np.full(n, depth)
            for j in range(depth):
                o = choices[rng.integers(0, len(choices))]
                b = rng.integers(0, self.severity)
                neg = rng.random() <= 0.5
                m = table[o, b] * np.where(neg & _SIGNED[o], -1.0, 1.0)
                op[:, c, j] = np.where(j < d, o, IDENTITY)
                mag[:, c, j] = np.where(j < d, m, 0.0)
        beta = dirichlet(rng.keys(), self.alpha, 2)
        chains = dirichlet(rng.keys(), self.alpha, width)
        weights = np.concatenate([beta[:, :1], chains * beta[:, 1:]], axis=1)
        return op, mag, weights

    def apply(self, images: np.ndarray, op, magnitude, weights) -> np.ndarray:
        """Mix each image with its chains for fixed parameters: deterministic.

        Parameters
        ----------
        images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        op : array_like of int, shape (N, W, D)
            Op ids of each chain, applied in order (see ``OP_NAMES``).
        magnitude : array_like of float, same shape
            Signed magnitudes in torchvision's units.
        weights : array_like of float, shape (N, W + 1)
            Weight of the image, then of each chain (any finite values; the result is
            truncated and saturated).

        Returns
        -------
        ndarray, uint8, same shape as ``images``
        """
        x, squeeze = self._batch(images)
        n = len(x)
        op, mag = self._ops(op, magnitude, n, ndim=3)
        wt = ops._float_array(weights, "weights")
        if wt.shape != (n, op.shape[1] + 1):
            raise ValueError(f"weights must have shape ({n}, {op.shape[1] + 1}) (the image, "
                             f"then each chain), got {wt.shape}")
        cval = self._cval(x.shape[3])
        pool = self._pool(2 * op.shape[1] + 2)
        chains = [run_ops(x, op[:, c], mag[:, c], self.threads, self.interpolation, cval, pool)
                  for c in range(op.shape[1])]
        out = ops.blend([x, *chains], wt, offset=-_TRUNCATE, threads=self.threads,
                        out=_fresh(pool, x.shape))
        return out[..., 0] if squeeze else out

    def __repr__(self) -> str:
        return (f"AugMix(severity={self.severity}, mixture_width={self.mixture_width}, "
                f"chain_depth={self.chain_depth}, alpha={self.alpha}, all_ops={self.all_ops}, "
                f"interpolation={self.interpolation!r}, fill={self.fill!r}, seed={self.seed})")
