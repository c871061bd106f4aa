"""Test-time augmentation: deterministic views of a batch, and merging of predictions.

Typical use::

    v, info = fastaug.tta.views(images, "ten_crop", size=224, return_info=True)
    logits = model(v.reshape(-1, *v.shape[2:])).reshape(len(v), len(images), -1)
    label = fastaug.tta.merge(logits, "vote")            # (N,) int64

    v, info = fastaug.tta.views(images, "flip", return_info=True)
    masks = seg_model(v.reshape(-1, *v.shape[2:])).reshape(*v.shape[:4], -1)
    probs = fastaug.tta.merge(masks, "mean", info=info)  # (N, H, W, K), original frame

Views
-----
``kind`` names a fixed set of views (``info.names`` lists them in order):

=============  ==  =====================================================================
kind           V   views
=============  ==  =====================================================================
"flip"         2   identity, hflip (left-right mirror; no vertical flip)
"flip4"        4   identity, hflip, vflip, hvflip (= rotation by 180 degrees)
"d4"           8   the dihedral group of the square: identity, rot90, rot180, rot270
                   (counter-clockwise, as ``np.rot90``), hflip, vflip, transpose,
                   antitranspose; square images only
"five_crop"    5   ``size`` crops: top_left, top_right, bottom_left, bottom_right,
                   center (torchvision's ``FiveCrop``, same order and centre rounding)
"ten_crop"     10  the five crops, then the five crops of the hflipped image
                   (torchvision's ``TenCrop`` with ``vertical_flip=False``)
=============  ==  =====================================================================

Each of these views is one native pass over the whole batch (nearest sampling on
integer coordinates: exact copies). A :class:`fastaug.Compose` as ``kind`` gives ``n``
seeded views: view ``v`` applies to every image the parameters of group ``v`` (see
``groups=`` of :meth:`fastaug.Compose.__call__`) at the pipeline's current epoch, so
an image's views depend only on the pipeline's seed, not on the batch it is in, and
repeated calls give the same views.

Inversion
---------
``views(..., return_info=True)`` also returns a :class:`ViewInfo` with every view's
forward map from the image frame to the view frame. :func:`invert` maps dense
per-view predictions ``(V, N, h, w[, K])`` back to the image frame: every image pixel
is looked up at its place in the view (bilinear, or nearest), with a ``valid`` mask of
the pixels the view covers. Predictions may be at another resolution than the views
(e.g. a stride-4 segmentation head): they are taken to cover the view frame with
half-pixel centres, like a resize. :func:`merge` then combines only covered pixels.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from . import ops
from .compose import Compose
from .targets import _chain, stage_maps
from .transforms.base import check_choice, check_size

__all__ = ["ViewInfo", "invert", "merge", "views"]

KINDS = ("flip", "flip4", "d4", "five_crop", "ten_crop")
MERGES = ("mean", "max", "vote")


@dataclass(frozen=True)
class ViewInfo:
    """What :func:`views` did, for :func:`invert`.

    Attributes
    ----------
    names : tuple of str
        One name per view, in order.
    matrices : ndarray, float64, shape (V, N, 2, 3)
        Forward maps from image pixel ``(x, y)`` to view pixel (pixel centres at
        integers), like ``cv2.warpAffine``'s matrices.
    image_size : (int, int)
        ``(height, width)`` of the images.
    view_size : (int, int)
        ``(height, width)`` of the views.
    """

    names: tuple
    matrices: np.ndarray
    image_size: tuple
    view_size: tuple

    def __post_init__(self) -> None:
        m = np.asarray(self.matrices, np.float64)
        if m.ndim != 4 or m.shape[2:] != (2, 3) or not np.isfinite(m).all():
            raise ValueError("matrices must be finite (V, N, 2, 3) affine maps, got shape "
                             f"{m.shape}")
        if len(self.names) != len(m):
            raise ValueError(f"names has {len(self.names)} entries for {len(m)} views")
        # frozen: set the checked values through object.__setattr__
        object.__setattr__(self, "matrices", m)
        object.__setattr__(self, "image_size", check_size(self.image_size, "image_size"))
        object.__setattr__(self, "view_size", check_size(self.view_size, "view_size"))


def _fixed_views(kind: str, h: int, w: int, size) -> tuple[list, list, tuple]:
    """Names, destination-to-source 2x3 matrices and the view size of a named kind."""
    def m(a, b, c, d, e, f):
        return np.array([[a, b, c], [d, e, f]], np.float64)

    hflip = m(-1, 0, w - 1, 0, 1, 0)
    vflip = m(1, 0, 0, 0, -1, h - 1)
    ident = m(1, 0, 0, 0, 1, 0)
    if kind in ("flip", "flip4", "d4") and size is not None:
        raise ValueError(f"size applies to five_crop and ten_crop, not to kind={kind!r}")
    if kind == "flip":
        return ["identity", "hflip"], [ident, hflip], (h, w)
    if kind == "flip4":
        return (["identity", "hflip", "vflip", "hvflip"],
                [ident, hflip, vflip, m(-1, 0, w - 1, 0, -1, h - 1)], (h, w))
    if kind == "d4":
        if h != w:
            raise ValueError(f"kind='d4' needs square images (rotations by 90 degrees "
                             f"keep the shape), got {h}x{w}")
        s = h - 1
        return (["identity", "rot90", "rot180", "rot270", "hflip", "vflip", "transpose",
                 "antitranspose"],
                [ident, m(0, -1, s, 1, 0, 0), m(-1, 0, s, 0, -1, s), m(0, 1, 0, -1, 0, s),
                 hflip, vflip, m(0, 1, 0, 1, 0, 0), m(0, -1, s, -1, 0, s)], (h, w))
    if size is None:
        raise ValueError(f"kind={kind!r} needs size=(height, width) of the crops")
    ch, cw = check_size(size)
    if ch > h or cw > w:
        raise ValueError(f"crop size {(ch, cw)} is larger than the images ({h}, {w})")
    # torchvision's center_crop rounds (Python round: half to even).
    corners = [("top_left", 0, 0), ("top_right", 0, w - cw), ("bottom_left", h - ch, 0),
               ("bottom_right", h - ch, w - cw),
               ("center", int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0)))]
    names = [c[0] for c in corners]
    mats = [m(1, 0, left, 0, 1, top) for _, top, left in corners]
    if kind == "ten_crop":
        # A crop at (top, left) of the mirrored image reads x_src = w - 1 - left - x.
        names += [f"hflip_{c[0]}" for c in corners]
        mats += [m(-1, 0, w - 1 - left, 0, 1, top) for _, top, left in corners]
    return names, mats, (ch, cw)


def _check_images(images) -> tuple[np.ndarray, int, int]:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array (N, H, W, C) or (N, H, W), got "
                        f"{type(images).__name__}; stack images of one size")
    if images.dtype != np.uint8:
        raise TypeError(f"images must have dtype uint8, got {images.dtype}")
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W, C) or (N, H, W), got "
                         f"{images.shape}")
    return images, int(images.shape[1]), int(images.shape[2])


def views(images: np.ndarray, kind: str | Compose = "flip", n: int | None = None,
          size: int | tuple[int, int] | None = None, *, return_info: bool = False,
          threads: int | None = None):
    """Deterministic test-time views of a batch, stacked on a new first axis.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    kind : {"flip", "flip4", "d4", "five_crop", "ten_crop"} or Compose
        The views (see the module docstring), or a pipeline that draws ``n`` views.
    n : int, optional
        Number of views of a Compose (required then; not allowed otherwise).
    size : int or (int, int), optional
        ``(height, width)`` of the crops of "five_crop"/"ten_crop" (required then; not
        allowed otherwise). At most the image size.
    return_info : bool
        Also return the :class:`ViewInfo` that :func:`invert` needs.
    threads : int, optional
        Native threads of the named kinds (a Compose uses its own ``threads``).

    Returns
    -------
    views : ndarray, shape (V, N, OH, OW, C) or (V, N, OH, OW) for 3-D input
        uint8 for the named kinds; a Compose's output dtype and layout otherwise (e.g.
        float32 ``(V, N, C, OH, OW)`` after ``Normalize(layout="NCHW")``).
    info : ViewInfo
        Only with ``return_info``.
    """
    x, h, w = _check_images(images)
    count = len(x)
    if isinstance(kind, Compose):
        if size is not None:
            raise ValueError("size does not apply to a Compose: its transforms set the size")
        if threads is not None:
            raise ValueError("threads does not apply to a Compose: set its threads")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"a Compose kind needs n, a positive number of views, got {n!r}")
        if kind.group_size is not None:
            raise ValueError("a Compose with group_size cannot make views: each view is "
                             "one group of all images")
        if any(t.kind == "batch" for t in kind.transforms):
            raise ValueError("a Compose with MixUp/CutMix cannot make test-time views: "
                             "they mix images")
        shape = x.shape[1:] if x.ndim == 4 else x.shape[1:] + (1,)
        outs, mats = [], []
        for v in range(int(n)):
            params = kind.sample(count, shape, indices=np.arange(count),
                                 groups=np.full(count, v))
            outs.append(kind.apply(x, params))
            mats.append(_chain(stage_maps(params)))
        out = np.stack(outs)
        spatial = out.shape[3:5] if params["output"]["layout"] == "NCHW" else out.shape[2:4]
        view_size = (int(spatial[0]), int(spatial[1]))
        names = tuple(f"view{v}" for v in range(int(n)))
        matrices = np.stack(mats)
    else:
        kind = check_choice(kind, KINDS, "kind")
        if n is not None:
            raise ValueError(f"n applies to a Compose kind, not to kind={kind!r}")
        names, inverses, view_size = _fixed_views(kind, h, w, size)
        out = np.empty((len(names), count) + view_size + x.shape[3:], np.uint8)
        for v, inv in enumerate(inverses):
            ops.augment(x, inv, size=view_size, inverse=True, interpolation="nearest",
                        out=out[v], threads=threads)
        forward = ops._inverse_matrices(np.stack(inverses), len(inverses), False)
        matrices = np.broadcast_to(forward[:, None],
                                   (len(names), count, 2, 3)).copy()
        names = tuple(names)
    if not return_info:
        return out
    return out, ViewInfo(names, matrices, (h, w), view_size)


def _check_info(info, v: int, count: int) -> None:
    if not isinstance(info, ViewInfo):
        raise TypeError(f"info must be the ViewInfo from views(..., return_info=True), "
                        f"got {type(info).__name__}")
    if info.matrices.shape[:2] != (v, count):
        raise ValueError(f"predictions have {v} views of {count} images, info describes "
                         f"{info.matrices.shape[0]} views of {info.matrices.shape[1]}")


def invert(predictions, info: ViewInfo, interpolation: str = "bilinear"
           ) -> tuple[np.ndarray, np.ndarray]:
    """Map dense per-view predictions back to the image frame.

    Parameters
    ----------
    predictions : array_like, shape (V, N, h, w) or (V, N, h, w, K)
        One map per view and image (channels last), covering the view frame; ``h, w``
        may differ from the view size (then scaled with half-pixel centres).
    info : ViewInfo
        From :func:`views` with ``return_info=True``.
    interpolation : {"bilinear", "nearest"}
        How each image pixel reads its view's map. Both are exact for the named kinds
        at the view's resolution; "nearest" keeps the dtype (class-id maps).

    Returns
    -------
    maps : ndarray, shape (V, N, H, W) or (V, N, H, W, K)
        float32 (float64 for float64 input) with "bilinear", the input dtype with
        "nearest"; pixels a view does not cover hold 0.
    valid : ndarray, bool, shape (V, N, H, W)
        The image pixels each view covers (inside its frame).
    """
    interpolation = check_choice(interpolation, ("bilinear", "nearest"), "interpolation")
    p = np.asarray(predictions)
    if p.ndim not in (4, 5):
        raise ValueError(f"predictions must have shape (V, N, h, w) or (V, N, h, w, K), "
                         f"got {p.shape}")
    if p.dtype.kind not in "biuf":
        raise TypeError(f"predictions must be numeric, got dtype {p.dtype}")
    v, count, ph, pw = p.shape[:4]
    _check_info(info, v, count)
    if p.size == 0 and count:
        raise ValueError(f"predictions must have non-empty maps, got {p.shape}")
    h, w = info.image_size
    vh, vw = info.view_size
    # Image pixel -> view pixel (forward map) -> prediction pixel (half-pixel scale).
    sx, sy = pw / vw, ph / vh
    a = info.matrices * np.array([sx, sy])[:, None]
    a[..., 0, 2] += 0.5 * sx - 0.5
    a[..., 1, 2] += 0.5 * sy - 0.5
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    dtype = p.dtype if interpolation == "nearest" else np.result_type(p.dtype, np.float32)
    maps = np.empty((v, count, h, w) + p.shape[4:], dtype)
    valid = np.empty((v, count, h, w), bool)
    if count == 0:
        return maps, valid
    flat = p.reshape(v, count * ph * pw, -1)
    base = (np.arange(count) * (ph * pw))[:, None, None]
    for k in range(v):  # small: one vectorised lookup per view
        if count and np.all(a[k] == a[k][0]) and _paste(p[k], a[k][0], maps[k], valid[k]):
            continue
        c = a[k][:, :, :, None, None]  # (N, 2, 3, 1, 1)
        px = c[:, 0, 0] * xs + c[:, 0, 1] * ys + c[:, 0, 2]
        py = c[:, 1, 0] * xs + c[:, 1, 1] * ys + c[:, 1, 2]
        eps = 1e-9
        valid[k] = (px >= -0.5 - eps) & (px <= pw - 0.5 + eps) & (py >= -0.5 - eps) & (
            py <= ph - 0.5 + eps)
        px = np.clip(px, 0.0, pw - 1.0)
        py = np.clip(py, 0.0, ph - 1.0)
        if interpolation == "nearest":
            ix = np.minimum(np.floor(px + 0.5), pw - 1).astype(np.int64)
            iy = np.minimum(np.floor(py + 0.5), ph - 1).astype(np.int64)
            got = flat[k][base + iy * pw + ix]
        else:
            x0, y0 = np.floor(px), np.floor(py)
            fx, fy = (px - x0)[..., None], (py - y0)[..., None]
            x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
            x1, y1 = np.minimum(x0 + 1, pw - 1), np.minimum(y0 + 1, ph - 1)
            src = flat[k].astype(dtype, copy=False)
            top = src[base + y0 * pw + x0] * (1 - fx) + src[base + y0 * pw + x1] * fx
            bottom = src[base + y1 * pw + x0] * (1 - fx) + src[base + y1 * pw + x1] * fx
            got = top * (1 - fy) + bottom * fy
        got = np.where(valid[k][..., None], got, 0)
        maps[k] = got.reshape(maps.shape[1:])
    return maps, valid


def _paste(src: np.ndarray, a: np.ndarray, out: np.ndarray, valid: np.ndarray) -> bool:
    """Invert one view by slicing when its map ``a`` (2, 3), image pixel -> prediction
    pixel, is an axis permutation with unit signs and an integer shift (flips, crops,
    90-degree rotations at the view's resolution): exact, no lookups. False otherwise."""
    lin, t = a[:, :2], a[:, 2]
    if not (np.all(np.isin(lin, (-1.0, 0.0, 1.0))) and np.all(t == np.round(t))
            and np.count_nonzero(lin) == 2 and abs(np.linalg.det(lin)) == 1.0):
        return False
    swap = lin[0, 1] != 0
    # q[:, r, c] with r = sr * y + tr, c = sc * x + tc for image pixel (x, y).
    q = src.swapaxes(1, 2) if swap else src
    sr, tr = (lin[0, 1], t[0]) if swap else (lin[1, 1], t[1])
    sc, tc = (lin[1, 0], t[1]) if swap else (lin[0, 0], t[0])
    rows, cols = q.shape[1:3]
    if sr < 0:
        q, tr = q[:, ::-1], rows - 1 - tr
    if sc < 0:
        q, tc = q[:, :, ::-1], cols - 1 - tc
    oy, ox = int(tr), int(tc)
    h, w = out.shape[1:3]
    y0, y1 = max(0, -oy), min(h, rows - oy)
    x0, x1 = max(0, -ox), min(w, cols - ox)
    out[...] = 0
    valid[...] = False
    if y0 < y1 and x0 < x1:
        out[:, y0:y1, x0:x1] = q[:, y0 + oy:y1 + oy, x0 + ox:x1 + ox]
        valid[:, y0:y1, x0:x1] = True
    return True


def merge(predictions, how: str = "mean", *, valid=None, info: ViewInfo | None = None
          ) -> np.ndarray:
    """Combine per-view predictions into one per image.

    Parameters
    ----------
    predictions : array_like, shape (V, N, ...)
        Per-view outputs: scores or logits ``(V, N, K)``, dense maps
        ``(V, N, H, W[, K])``, ...
    how : {"mean", "max", "vote"}
        "mean" and "max" combine elementwise over the views. "vote" takes every view's
        class (the argmax over the last axis, the first maximum on ties) and returns
        the class most views chose; ties go to the smallest class index.
    valid : array_like of bool, shape (V, N, ...), optional
        Which views count at each position (from :func:`invert`); its shape is the
        predictions' without the last axis for dense maps with classes ``K``, or the
        same shape. Positions no view covers give NaN ("mean", "max") or -1 ("vote").
    info : ViewInfo, optional
        From :func:`views`: invert dense predictions ``(V, N, h, w[, K])`` first
        (bilinear, see :func:`invert`) and merge in the image frame. Not with ``valid``.

    Returns
    -------
    ndarray, shape (N, ...)
        "mean": float32 (float64 for float64 input); "max": the input dtype (float32
        or wider with ``valid``); "vote": int64 without the last axis.
    """
    how = check_choice(how, MERGES, "how")
    if info is not None:
        if valid is not None:
            raise ValueError("give valid or info, not both (info computes valid)")
        predictions, valid = invert(predictions, info)
    p = np.asarray(predictions)
    if p.ndim < 2:
        raise ValueError(f"predictions must have shape (V, N, ...), got {p.shape}")
    if p.dtype.kind not in "biuf":
        raise TypeError(f"predictions must be numeric, got dtype {p.dtype}")
    if p.shape[0] == 0:
        raise ValueError("predictions must have at least one view")
    if how == "vote" and (p.ndim < 3 or p.shape[-1] == 0):
        raise ValueError(f"vote takes the argmax over a last axis of classes: predictions "
                         f"must have shape (V, N, ..., K), got {p.shape}")
    if valid is not None:
        valid = np.asarray(valid)
        if valid.dtype != np.bool_:
            raise TypeError(f"valid must be a boolean array, got dtype {valid.dtype}")
        if valid.shape == p.shape[:-1] and p.ndim > 2:
            valid = valid[..., None]
        elif valid.shape != p.shape:
            raise ValueError(f"valid must have shape {p.shape} or {p.shape[:-1]}, got "
                             f"{valid.shape}")
    if how == "vote":
        return _vote(p, valid)
    ftype = np.result_type(p.dtype, np.float32)
    # Sums of a few views: accumulating in the output's float type is accurate enough.
    if valid is None:
        if how == "mean":
            return p.mean(axis=0, dtype=ftype)
        return p.max(axis=0)
    if how == "mean":
        total = np.sum(p, axis=0, where=valid, dtype=ftype)
        count = valid.sum(axis=0, dtype=ftype)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count
    out = np.where(valid, p.astype(ftype, copy=False), -np.inf).max(axis=0)
    return np.where(valid.any(axis=0), out, np.nan).astype(ftype)


def _vote(p: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Majority class over the views, smallest class on ties, -1 where no view counts."""
    classes = p.argmax(axis=-1)  # (V, N, ...)
    views, k = classes.shape[0], p.shape[-1]
    cells = classes[0].size
    ok = None if valid is None else valid.all(axis=-1)
    # Votes per (cell, class) in one count; argmax keeps the smallest class on ties.
    key = (classes.reshape(views, cells) + k * np.arange(cells)).ravel()
    counts = np.bincount(key, None if ok is None else ok.reshape(-1),
                         minlength=cells * k).reshape(cells, k)
    best = counts.argmax(axis=1).reshape(classes.shape[1:])
    if ok is not None:
        best[counts.max(axis=1).reshape(classes.shape[1:]) == 0] = -1
    return best
