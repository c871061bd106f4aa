"""Augmentation policies: RandAugment and TrivialAugmentWide, sampled per image.

Both follow torchvision's ``transforms.v2`` implementations: the same 14 operations, in
the same order (the op ids below), the same magnitude bins and the same sampling (ops
drawn uniformly *with replacement*, a signed magnitude negated with probability 1/2,
TrivialAugmentWide's bin drawn uniformly), nearest interpolation and a 0 fill.

=====  ============  =======================================================
id     op            magnitude (RandAugment / TrivialAugmentWide)
=====  ============  =======================================================
0      Identity      --
1, 2   ShearX/Y      ±linspace(0, 0.3) / ±linspace(0, 0.99)  (shear factor,
                     about the top-left corner, like torchvision)
3, 4   TranslateX/Y  ±linspace(0, 150/331 * W or H) / ±linspace(0, 32), pixels,
                     truncated to integers
5      Rotate        ±linspace(0, 30) / ±linspace(0, 135) degrees, counter-clockwise
6      Brightness    factor 1 ± linspace(0, 0.9) / 1 ± linspace(0, 0.99)
7      Color         saturation factor, same
8      Contrast      contrast factor, same (mean grey of the image at that point)
9      Sharpness     sharpness factor, same (torchvision's 3x3 smoothing blend)
10     Posterize     bits 8 - round(k / ((bins - 1) / 4))  /  ... / 6)
11     Solarize      threshold 255 * linspace(1, 0)
12     AutoContrast  --
13     Equalize      -- (PIL's / torchvision's equalize)
=====  ============  =======================================================

Each image draws its own ops and magnitudes from the per-sample counter-based streams
of :mod:`fastaug.transforms.base` (keyed by seed, epoch and global sample index), so
results do not depend on the batch size or the order of calls, as with ``Compose``.

How a batch runs (a fixed number of native passes whatever was drawn)
----------------------------------------------------------------------
1. **pre-LUT** (``ops.lut``, one 256-entry table per image and channel): the lookup ops
   (posterize, solarize, autocontrast, equalize) that come *first* in an image's drawn
   order (only Identity or other lookup ops before them); the tables of one image are
   composed in numpy, autocontrast/equalize statistics are per-image per-channel
   histograms of the source (one vectorised ``np.bincount``) carried through the tables
   that precede them. Skipped when no image needs it.
2. **warp + colour** (``ops.augment``): an image's geometric and colour ops are cut
   into segments, a new one at each geometric op that follows a geometric or colour
   op; segment ``s`` of every image runs in warp pass ``s`` (pass 0 on the whole batch,
   later passes only on the images that have such a segment, e.g. ~20% of the batch
   for ``RandAugment(2, 9)``). In a segment the (single, leading) geometric op is the
   per-image matrix and the colour ops that follow it multiply into one colour matrix
   per image, so every warp sees a fill of 0 and colour ops run in their drawn order.
   Contrast's mean grey is taken exactly from the image as it is at its place (on the
   subset of images that drew it: the warped image when a warp precedes it in the
   segment, through the colour matrix that precedes it).
3. **sharpness** (``ops.filter3x3`` on the images that drew it): the blend
   ``f x + (1 - f) blur(x)`` is one 3x3 kernel per image; the one-pixel frame keeps its
   values, as torchvision's does. One pass per sharpness draw of the same image (at
   most ``num_ops``), on that subset only.
4. **post-LUT** (``ops.lut`` on the images that need it): the other lookup ops, with
   statistics from the output of 2-3.

Deviations from applying the ops one by one (torchvision)
---------------------------------------------------------
For ``num_ops <= 2`` (and TrivialAugmentWide) the drawn order is kept except for
Sharpness followed by a geometric or colour op (the filter runs after the warp pass:
the smoothing kernel is nearly isotropic, and it commutes with colour matrices up to
clipping at 0 and 255). Other differences:

- values are rounded once per pass rather than truncated to uint8 after every op as
  torchvision does: within 1 grey level per op, but AutoContrast/Equalize after another
  op can amplify a 1-level difference of their input (by their stretch factor);
- nearest sampling rounds half up (``floor(s + 0.5)``), torch's rounds half to even
  (visible only where a source coordinate is on a tie, e.g. at 45-degree rotations).

With more ops, a lookup op that follows a non-lookup op runs in pass 4 even if a
colour, sharpness or geometric op comes after it in the drawn order.
``tests/test_policies.py::test_schedule_deviation_measured`` measures the effect
against a sequential numpy reference of torchvision's ops on photos: for
``RandAugment(2, 9)`` 0.44% of pixels differ by more than 2 grey levels (mean absolute
difference 0.29), for ``TrivialAugmentWide`` 0.004%.

Use
---
The policies are standalone callables with Compose's seed/epoch/indices semantics::

    ra = RandAugment(num_ops=2, magnitude=9, seed=0)
    out = ra(batch)                 # uint8 (N, H, W, C), same size
    ops_, mags = ra.sample(len(batch), batch.shape[1:3])
    out = ra.apply(batch, ops_, mags)   # deterministic: fixed ops and magnitudes

They are not Compose transforms: Compose's plan folds each transform into one kind of
pass, while one policy needs several kinds (warp, colour, filter, two lookups) whose
order depends on the image; a policy output can be fed to a Compose.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from .base import Random, SampleStream, sample_keys
from .color import brightness_matrix, contrast_matrix, gray_weights, identity, saturation_matrix

__all__ = ["RandAugment", "TrivialAugmentWide", "OP_NAMES"]

OP_NAMES = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
            "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
            "AutoContrast", "Equalize")
IDENTITY, SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE = range(6)
BRIGHTNESS, COLOR, CONTRAST, SHARPNESS, POSTERIZE, SOLARIZE, AUTOCONTRAST, EQUALIZE = range(6, 14)
_GEOMETRIC = (SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE)
_COLOR = (BRIGHTNESS, COLOR, CONTRAST)
_LUT = (POSTERIZE, SOLARIZE, AUTOCONTRAST, EQUALIZE)
_SIGNED = np.zeros(14, bool)
_SIGNED[[SHEAR_X, SHEAR_Y, TRANSLATE_X, TRANSLATE_Y, ROTATE, BRIGHTNESS, COLOR, CONTRAST,
         SHARPNESS]] = True

#: torchvision's sharpness smoothing kernel.
SMOOTH = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0


def magnitude_table(space: str, num_bins: int, height: int, width: int) -> np.ndarray:
    """Unsigned magnitudes of every op and bin, float64 (14, num_bins) (0 where none).

    ``space`` is "rand" (RandAugment) or "wide" (TrivialAugmentWide).
    """
    t = np.zeros((14, num_bins))
    lin = np.linspace
    k = np.arange(num_bins)
    if space == "rand":
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
    # torch: (8 - (arange(bins) / ((bins - 1) / steps))).round().int(), round half even
    t[POSTERIZE] = np.rint(8 - k / ((num_bins - 1) / steps)) if num_bins > 1 else 8
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


def _histograms(images: np.ndarray) -> np.ndarray:
    """Per-image per-channel histograms of a uint8 (K, H, W, C) batch, int64 (K, C, 256):
    one ``np.bincount`` of the values offset by 256 * (image * C + channel)."""
    k, h, w, c = images.shape
    if k == 0:
        return np.zeros((0, c, 256), np.int64)
    offsets = (np.arange(k * c, dtype=np.intp) * 256).reshape(k, 1, c)
    flat = images.reshape(k, h * w, c) + offsets
    return np.bincount(flat.ravel(), minlength=k * c * 256).reshape(k, c, 256)


def _remap_hist(hist: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Histograms of ``table[x]`` from those of ``x`` (K, C, 256)."""
    k, c, _ = hist.shape
    if k == 0:
        return hist
    offsets = np.arange(k * c, dtype=np.int64).reshape(k, c, 1) * 256
    return np.bincount((tables.astype(np.int64) + offsets).ravel(), weights=hist.ravel(),
                       minlength=k * c * 256).reshape(k, c, 256).astype(np.int64)


def autocontrast_tables(hist: np.ndarray) -> np.ndarray:
    """torchvision's ``autocontrast`` (uint8) as tables (K, C, 256) from histograms."""
    v = np.arange(256)
    present = hist > 0
    lo = np.argmax(present, axis=-1).astype(np.float32)
    hi = (255 - np.argmax(present[..., ::-1], axis=-1)).astype(np.float32)
    same = hi == lo
    inv_scale = (hi - lo) * np.float32(1.0 / 255.0)
    lo = np.where(same, np.float32(0), lo)
    inv_scale = np.where(same, np.float32(1), inv_scale)
    out = (v.astype(np.float32) - lo[..., None]) / inv_scale[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)  # truncation, like .to(uint8)


def equalize_tables(hist: np.ndarray) -> np.ndarray:
    """PIL's / torchvision's ``equalize`` as tables (K, C, 256) from histograms."""
    total = hist.sum(axis=-1)
    top = 255 - np.argmax(hist[..., ::-1] > 0, axis=-1)  # the largest value present
    step = (total - np.take_along_axis(hist, top[..., None], -1)[..., 0]) // 255
    valid = step > 0
    step = np.maximum(step, 1)[..., None]
    cum = np.cumsum(hist, axis=-1)[..., :-1]
    lut = np.clip((cum + step // 2) // step, 0, 255)
    lut = np.concatenate([np.zeros(lut.shape[:-1] + (1,), lut.dtype), lut], axis=-1)
    ident = np.broadcast_to(np.arange(256), lut.shape)
    return np.where(valid[..., None], lut, ident).astype(np.uint8)


def _point_tables(op: np.ndarray, mag: np.ndarray, channels: int) -> np.ndarray:
    """Tables (N, C, 256) of posterize/solarize (identity elsewhere)."""
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
    return np.repeat(t[:, None, :], channels, axis=1).astype(np.uint8)


def _lut_pass(x: np.ndarray, ops_: np.ndarray, mags: np.ndarray, use: np.ndarray,
              channels: int, threads, owned: bool = False) -> np.ndarray:
    """Apply the lookup ops selected by ``use`` (N, K), in order, to the images that have
    any: per-image tables composed in numpy, one ``ops.lut`` on that subset.

    Returns ``x`` itself when nothing is selected; else ``x`` changed in place when
    ``owned``, or a new array.
    """
    rows = np.flatnonzero(use.any(axis=1))
    if len(rows) == 0:
        return x
    ops_, mags, use = ops_[rows], mags[rows], use[rows]
    n, k = ops_.shape
    sub = x[rows]
    v = np.arange(256, dtype=np.uint8)
    tables = np.broadcast_to(v, (n, channels, 256)).copy()
    colour = 1 if channels == 1 else 3  # alpha keeps its values
    stats = use & np.isin(ops_, (AUTOCONTRAST, EQUALIZE))
    idx_stats = np.flatnonzero(stats.any(axis=1))
    hist = _histograms(sub[idx_stats]) if len(idx_stats) else None
    for j in range(k):
        sel = use[:, j]
        if not sel.any():
            continue
        op, mag = ops_[:, j], mags[:, j]
        new = _point_tables(np.where(sel, op, IDENTITY), mag, channels)
        sj = stats[:, j]
        if sj.any():
            at = np.flatnonzero(sj)
            pos = np.searchsorted(idx_stats, at)
            h = _remap_hist(hist[pos], tables[at])
            ac = op[at] == AUTOCONTRAST
            new[at] = np.where(ac[:, None, None], autocontrast_tables(h), equalize_tables(h))
        new[:, colour:] = v  # alpha
        tables = np.take_along_axis(new, tables.astype(np.intp), axis=-1)
    y = x if owned else x.copy()
    y[rows] = ops.lut(sub, tables, threads=threads)
    return y


# ---- the policies -------------------------------------------------------------------


def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        hi = "" if high is None else f", at most {high}"
        raise ValueError(f"{name} must be at least {low}{hi}, got {value!r}")
    return int(value)


class _Policy(SampleStream):
    """Shared machinery: seed/epoch/indices like Compose, sampling, the fixed schedule."""

    _space = "rand"

    # ---- sampling ----

    def sample(self, n: int, size, indices=None, groups=None) -> tuple[np.ndarray, np.ndarray]:
        """Ops (N, K) int64 and signed magnitudes (N, K) float64 of ``n`` images.

        ``size`` is the images' ``(H, W)`` (RandAugment's translations scale with it).
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
        """Augment a uint8 batch (N, H, W, C) or (N, H, W) with freshly drawn ops."""
        x, _ = self._batch(images)
        op, mag = self.sample(len(x), x.shape[1:3], indices, groups)
        return self.apply(images, op, mag)

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

    def apply(self, images: np.ndarray, op, magnitude) -> np.ndarray:
        """Apply ops (N, K) with signed magnitudes (N, K) in order: deterministic.

        Magnitudes are in torchvision's units (see the module table); unsigned ops
        ignore the sign, magnitude-less ops their magnitude.
        """
        x, squeeze = self._batch(images)
        n, h, w, c = x.shape
        op = np.asarray(op)
        mag = np.asarray(magnitude, dtype=np.float64)
        if op.ndim == 1:
            op = op[:, None]
        if mag.ndim == 1:
            mag = mag[:, None]
        if op.dtype.kind not in "iu" or op.ndim != 2 or op.shape[0] != n:
            raise ValueError(f"op must be ({n}, K) integers, got {op.dtype} {op.shape}")
        if mag.shape != op.shape:
            raise ValueError(f"magnitude must have op's shape {op.shape}, got {mag.shape}")
        if op.size and (op.min() < 0 or op.max() > 13):
            raise ValueError("op ids must lie in 0..13 (see OP_NAMES)")
        if not np.all(np.isfinite(mag)):
            raise ValueError("magnitude must be finite")
        out = run_ops(x, op.astype(np.int64), mag, self.threads)
        return out[..., 0] if squeeze else out


def run_ops(x: np.ndarray, op: np.ndarray, mag: np.ndarray, threads=None) -> np.ndarray:
    """The fixed schedule (see the module docstring) on a (N, H, W, C) uint8 batch."""
    n, h, w, c = x.shape
    k = op.shape[1]
    if n == 0:
        return x.copy()
    is_lut = np.isin(op, _LUT)
    # A lookup op runs before everything when only Identity/lookup ops precede it.
    other = ~is_lut & (op != IDENTITY)
    before = np.cumsum(other, axis=1) - other  # non-lookup ops strictly before
    pre = is_lut & (before == 0)
    post = is_lut & ~pre

    # 1. pre-LUT
    y = _lut_pass(x, op, mag, pre, c, threads)

    # 2. warp + colour: an image's geometric and colour ops split into segments, a new
    # one at each geometric op that follows a geometric or colour op; segment s of
    # every image runs in warp pass s (pass 0 on the batch, later ones on the images
    # that have such a segment), so each warp sees its fill and colour order is kept.
    is_geo = np.isin(op, _GEOMETRIC)
    is_col = np.isin(op, _COLOR)
    seg = np.zeros((n, k), np.int64)
    cur = np.zeros(n, np.int64)
    has = np.zeros(n, bool)
    for j in range(k):
        new = is_geo[:, j] & has
        cur = cur + new
        has = np.where(new, False, has) | is_geo[:, j] | is_col[:, j]
        seg[:, j] = cur
    active = is_geo | is_col
    passes = int(seg[active].max()) + 1 if active.any() else 0
    weights = gray_weights(c)
    eye = np.eye(c + 1)
    for p in range(passes):
        mine = active & (seg == p)
        rows = np.arange(n) if p == 0 else np.flatnonzero(mine.any(axis=1))
        if len(rows) == 0:
            continue
        sub_op, sub_mag, sub_mine = op[rows], mag[rows], mine[rows]
        src = y[rows] if p else y
        r = len(rows)
        inv = np.broadcast_to(np.eye(3), (r, 3, 3)).copy()
        col = identity(r, c)
        for j in range(k):
            o = np.where(sub_mine[:, j], sub_op[:, j], IDENTITY)
            m = sub_mag[:, j]
            geo = np.isin(o, _GEOMETRIC)
            if geo.any():
                inv = inv @ _geometry(o, m, h, w)
            f = 1.0 + m
            sel = o == BRIGHTNESS
            if sel.any():
                col = np.where(sel[:, None, None], brightness_matrix(f, c), eye) @ col
            sel = o == COLOR
            if sel.any():
                col = np.where(sel[:, None, None], saturation_matrix(f, c), eye) @ col
            sel = o == CONTRAST
            if sel.any():
                at = np.flatnonzero(sel)
                img = src[at]
                moved = ~np.all(np.isclose(inv[at], np.eye(3)), axis=(1, 2))
                if moved.any():
                    img[moved] = ops.augment(img[moved], inv[at][moved][:, :2],
                                             inverse=True, interpolation="nearest",
                                             fill_mode="constant", threads=threads)
                # a float32 matrix product: several times faster than .mean on uint8
                ones = np.full(h * w, 1.0 / (h * w), np.float32)
                mean = (ones @ img.reshape(len(at), h * w, c).astype(np.float32)).astype(
                    np.float64)
                here = col[at] @ np.concatenate([mean, np.ones((len(at), 1))], 1)[..., None]
                gray = np.zeros(r)
                gray[at] = here[:, :c, 0] @ weights
                col = np.where(sel[:, None, None], contrast_matrix(f, gray, c), eye) @ col
        moved = not np.allclose(inv, np.eye(3))
        coloured = not np.allclose(col, eye)
        if not (moved or coloured):
            continue
        res = ops.augment(src, inv[:, :2] if moved else None, col[:, :c] if coloured else None,
                          inverse=True, interpolation="nearest", fill_mode="constant",
                          threads=threads)
        if p == 0:
            y = res
        else:
            if y is x:
                y = x.copy()
            y[rows] = res

    # 3. sharpness, one pass per draw on the images that drew it
    sharp = op == SHARPNESS
    count = sharp.sum(axis=1)
    if count.any():
        if y is x:
            y = x.copy()
        order = np.cumsum(sharp, axis=1)
        for r in range(int(count.max())):
            rows = np.flatnonzero(count > r)
            col_r = np.argmax(sharp[rows] & (order[rows] == r + 1), axis=1)
            f = 1.0 + mag[rows, col_r]
            delta = np.zeros((3, 3))
            delta[1, 1] = 1.0
            kern = f[:, None, None] * delta + (1.0 - f)[:, None, None] * SMOOTH
            sub = y[rows]
            filt = ops.filter3x3(sub, kern, fill_mode="nearest", threads=threads)
            if h > 2 and w > 2:
                sub[:, 1:-1, 1:-1] = filt[:, 1:-1, 1:-1]  # torchvision keeps the frame
            y[rows] = sub

    # 4. post-LUT
    y = _lut_pass(y, op, mag, post, c, threads, owned=y is not x)
    return y.copy() if y is x else y


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
    """

    _space = "rand"

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 seed: int | None = None, threads: int | None = None):
        self.num_ops = _check_int(num_ops, "num_ops", 0, 64)
        self.num_magnitude_bins = _check_int(num_magnitude_bins, "num_magnitude_bins", 1)
        self.magnitude = _check_int(magnitude, "magnitude", 0, self.num_magnitude_bins - 1)
        self._init_stream(seed, threads)

    def _draw(self, rng: Random, h: int, w: int):
        table = magnitude_table("rand", self.num_magnitude_bins, h, w)[:, self.magnitude]
        n, k = rng.n, self.num_ops
        op = np.empty((n, k), np.int64)
        neg = np.empty((n, k), bool)
        for j in range(k):  # torchvision: op, then the sign coin, per op
            op[:, j] = rng.integers(0, 14)
            neg[:, j] = rng.random() <= 0.5
        mag = table[op] * np.where(neg & _SIGNED[op], -1.0, 1.0)
        return op, mag

    def __repr__(self) -> str:
        return (f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"num_magnitude_bins={self.num_magnitude_bins}, seed={self.seed})")


class TrivialAugmentWide(_Policy):
    """torchvision's ``TrivialAugmentWide``: one op per image, a random magnitude bin.

    Parameters
    ----------
    num_magnitude_bins : int
        >= 1.
    seed : int, optional
    threads : int, optional
    """

    _space = "wide"

    def __init__(self, num_magnitude_bins: int = 31, seed: int | None = None,
                 threads: int | None = None):
        self.num_magnitude_bins = _check_int(num_magnitude_bins, "num_magnitude_bins", 1)
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
                f"seed={self.seed})")
