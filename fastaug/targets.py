"""Targets that follow the images' random transform: masks, bounding boxes, keypoints.

``aug(images, masks=..., boxes=..., keypoints=..., labels=...)`` (see
:class:`fastaug.Compose`) samples one set of parameters per image and hands them here;
this module moves every target with the same per-image geometry.

Geometry
--------
Every augment *stage* of a pipeline has, per image, a destination-to-source matrix
``inverse`` (3x3 homogeneous) and an output size. The forward (source-to-destination) map
of a stage is the inverse of that matrix; a pipeline of several stages is the chain of
its stages. Targets go through the stages one by one, so that what leaves the image in
an intermediate stage (which the images see as fill) is lost for the targets too.

Coordinate conventions (DESIGN.md): pixel centres sit at integer coordinates.

- **Keypoints** are points in that convention: a keypoint ``(x, y)`` on the centre of a
  pixel lands on the centre of the pixel where that pixel's content lands. A keypoint is
  visible when it lies on a pixel of the output, ``-0.5 <= x < OW - 0.5`` (same for y),
  in every stage.
- **Boxes** are regions: ``xyxy`` in pixels has its edges on pixel *borders*, so the
  whole image is ``[0, 0, W, H]`` and the box of pixels ``x0..x1`` (inclusive) is
  ``[x0, ., x1 + 1, .]`` (Pascal VOC / COCO / albumentations). A box corner ``u`` is the
  point ``u - 0.5`` in pixel-centre coordinates; the four corners are mapped and the
  box becomes the axis-aligned box around them, clipped to the output.
- **Masks** are warped with the images' matrices by the same kernel, always with nearest
  sampling, the stage's fill mode and ``mask_fill`` for ``"constant"``; colour, pixel
  and output transforms never touch them. int32 masks are warped as their four bytes
  (four uint8 channels sampled at the same source pixel), so class ids stay exact.

A reflection (negative determinant of the whole map, e.g. one flip) swaps the left and
right keypoints given by ``flip_index``.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

__all__ = ["BOX_FORMATS", "TargetOptions", "apply_targets", "stage_maps"]

#: Box formats: pixel corners, COCO's pixel (x, y, w, h), YOLO's normalised centre form.
BOX_FORMATS = ("xyxy", "pascal_voc", "xywh", "coco", "cxcywh", "yolo")
_ALIASES = {"pascal_voc": "xyxy", "coco": "xywh", "yolo": "cxcywh"}
#: Tolerance of the range checks, as a fraction of the image size (or of 1, normalised).
RANGE_TOL = 1e-6

ArrayList = Union[np.ndarray, Sequence[np.ndarray]]


class TargetOptions:
    """Options of the target transforms (keyword arguments of ``aug(...)``).

    Parameters
    ----------
    box_format : {"xyxy", "pascal_voc", "xywh", "coco", "cxcywh", "yolo"}
        ``"xyxy"``: ``(x1, y1, x2, y2)`` pixels; ``"xywh"``: ``(x, y, w, h)`` pixels;
        ``"cxcywh"``: ``(cx, cy, w, h)`` normalised by the image width and height.
    min_area : float
        Boxes whose area after clipping (in output pixels) is below it are dropped.
    min_visibility : float
        Boxes whose clipped area is below this fraction of their transformed, unclipped
        area are dropped, in [0, 1].
    remove_invisible : bool
        Drop keypoints that leave the image (else keep them and report
        ``keypoints_visible``).
    flip_index : sequence of int, optional
        Permutation of the keypoints of one image applied where the transform mirrors
        the image (swaps left/right body parts).
    mask_fill : int
        Mask value where the image is filled with a constant.
    """

    def __init__(self, box_format: str = "xyxy", min_area: float = 0.0,
                 min_visibility: float = 0.0, remove_invisible: bool = True,
                 flip_index: Sequence[int] | None = None, mask_fill: int = 0):
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {list(BOX_FORMATS)}, got {box_format!r}")
        self.box_format = _ALIASES.get(box_format, box_format)
        self.min_area = _number(min_area, "min_area", 0.0, np.inf)
        self.min_visibility = _number(min_visibility, "min_visibility", 0.0, 1.0)
        if not isinstance(remove_invisible, (bool, np.bool_)):
            raise TypeError(f"remove_invisible must be a bool, got {remove_invisible!r}")
        self.remove_invisible = bool(remove_invisible)
        self.flip_index = None
        if flip_index is not None:
            idx = np.asarray(flip_index)
            if (idx.ndim != 1 or idx.dtype.kind not in "iu"
                    or not np.array_equal(np.sort(idx), np.arange(len(idx)))):
                raise ValueError(f"flip_index must be a permutation of 0..K-1, got {flip_index!r}")
            self.flip_index = idx.astype(np.int64)
        if isinstance(mask_fill, bool) or not isinstance(mask_fill, numbers.Integral):
            raise TypeError(f"mask_fill must be an int, got {mask_fill!r}")
        self.mask_fill = int(mask_fill)


def _number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            low <= value <= high):
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


# ---- geometry -----------------------------------------------------------------------


def stage_maps(params: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-stage forward maps and output sizes from :meth:`Compose.sample`'s params.

    Parameters
    ----------
    params : dict
        Sampled parameters (``params["stages"][k]["inverse"]`` float64 (N, 2, 3)
        destination-to-source, ``["sizes"]`` int64 (N, 2)).

    Returns
    -------
    list of (ndarray float64 (N, 2, 3), ndarray int64 (N, 2))
        For every stage, the source-to-destination matrices and the output
        ``(height, width)``, in pipeline order.
    """
    out = []
    for st in params["stages"]:
        inv = st["inverse"]
        n = len(inv)
        full = np.zeros((n, 3, 3))
        full[:, :2] = inv
        full[:, 2, 2] = 1.0
        fwd = np.linalg.inv(full)[:, :2] if n else np.zeros((0, 2, 3))
        out.append((fwd, np.asarray(st["sizes"], np.int64)))
    return out


def _chain(maps: list) -> np.ndarray:
    """The forward map of the whole chain of stages, float64 (N, 2, 3)."""
    total = None
    for fwd, _ in maps:
        if total is None:
            total = fwd
        else:
            lin = fwd[:, :, :2] @ total[:, :, :2]
            shift = (fwd[:, :, :2] @ total[:, :, 2:])[..., 0] + fwd[:, :, 2]
            total = np.concatenate([lin, shift[..., None]], axis=2)
    return total


def _total_linear(maps: list) -> np.ndarray:
    """The 2x2 linear part of the whole chain, float64 (N, 2, 2)."""
    lin = None
    for fwd, _ in maps:
        lin = fwd[:, :, :2] if lin is None else fwd[:, :, :2] @ lin
    return lin


def _map_points(fwd: np.ndarray, ids: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Points (x, y), each of image ``ids``, through forward maps (N, 2, 3)."""
    c = _coefficients(fwd, ids)
    return c[0] * x + c[1] * y + c[2], c[3] * x + c[4] * y + c[5]


def _coefficients(fwd: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The six coefficients of each row's map, float64 (6, T), one contiguous row each."""
    return np.ascontiguousarray(fwd.reshape(len(fwd), 6).T)[:, ids]


# ---- flattening of per-image lists ----------------------------------------------------


def _flatten(value: Any, n: int, width: int | tuple, name: str
             ) -> tuple[np.ndarray, np.ndarray, str, Any]:
    """Per-image arrays as one (T, ...) array, image ids (T,), the input form and counts.

    Accepted: a list of N arrays (M_i, *width), an array (N, M, *width), or for boxes a
    pair ``(padded (N, M, *width), counts (N,))``.
    """
    widths = (width,) if isinstance(width, int) else width
    shape_txt = f"(M, {', '.join(str(w) for w in widths)})"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], np.ndarray):
        padded, counts = value
        padded = _numeric(padded, name)
        counts = np.asarray(counts)
        if padded.ndim != 2 + len(widths) or padded.shape[2:] != widths or len(padded) != n:
            raise ValueError(f"{name} padded array must have shape (N={n}, M, "
                             f"{', '.join(map(str, widths))}), got {padded.shape}")
        if (counts.shape != (n,) or counts.dtype.kind not in "iu" or np.any(counts < 0)
                or np.any(counts > padded.shape[1])):
            raise ValueError(f"{name} counts must be {n} ints in 0..{padded.shape[1]}, "
                             f"got {counts!r}")
        keep = np.arange(padded.shape[1]) < counts[:, None]
        ids = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
        return padded[keep], ids, "padded", (padded.shape[1], counts.astype(np.int64))
    if isinstance(value, np.ndarray):
        arr = _numeric(value, name)
        if arr.ndim != 2 + len(widths) or arr.shape[2:] != widths or len(arr) != n:
            raise ValueError(f"{name} must be a list of {n} arrays {shape_txt} or an array "
                             f"(N={n}, M, {', '.join(map(str, widths))}), got shape {arr.shape}")
        m = arr.shape[1]
        ids = np.repeat(np.arange(n), m)
        return arr.reshape((n * m,) + widths), ids, "array", np.full(n, m, np.int64)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays or an array, got "
                        f"{type(value).__name__}")
    if len(value) != n:
        raise ValueError(f"{name} has {len(value)} entries for {n} images")
    parts = []
    ndim = 1 + len(widths)
    for k, a in enumerate(value):
        a = np.asarray(a)
        if a.dtype.kind not in "iuf":
            raise TypeError(f"{name}[{k}] must hold numbers, got dtype {a.dtype}")
        if a.ndim != ndim or a.shape[1:] != widths:
            if a.size:
                raise ValueError(f"{name}[{k}] must have shape {shape_txt}, got {a.shape}")
            a = a.reshape((0,) + widths)
        parts.append(a)
    counts = np.fromiter(map(len, parts), np.int64, len(parts))
    flat = np.concatenate(parts) if parts else np.zeros((0,) + widths)
    ids = np.repeat(np.arange(n), counts)
    if flat.dtype.kind == "f":
        bad = ~np.isfinite(flat).all(axis=tuple(range(1, flat.ndim)))
        if bad.any():
            raise ValueError(f"{name}[{int(ids[np.flatnonzero(bad)[0]])}] must be finite")
    return flat, ids, "list", counts


def _numeric(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _unflatten(flat: np.ndarray, ids: np.ndarray, keep: np.ndarray | None, n: int,
               form: str, info: Any):
    """Inverse of :func:`_flatten` after dropping the rows where ``keep`` is False."""
    if keep is not None:
        flat, ids = flat[keep], ids[keep]
    counts = np.bincount(ids, minlength=n)
    if form == "list" or (form == "array" and keep is not None):
        ends = np.cumsum(counts).tolist()
        return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]
    if form == "array":
        return flat.reshape((n, -1) + flat.shape[1:])
    m = info[0]
    out = np.zeros((n, m) + flat.shape[1:], flat.dtype)
    out[np.arange(m) < counts[:, None]] = flat
    return out, counts


def _locate(bad: np.ndarray, ids: np.ndarray, counts: np.ndarray) -> str:
    """``[image][row]`` of the first True of ``bad`` (flat rows)."""
    t = int(np.flatnonzero(bad)[0])
    i = int(ids[t])
    j = t - int(np.sum(counts[:i]))
    return f"[{i}][{j}]"


# ---- boxes --------------------------------------------------------------------------


def _boxes_to_xyxy(b: np.ndarray, ids, counts, sizes: np.ndarray, fmt: str) -> np.ndarray:
    """Boxes in ``fmt`` (T, 4) -> float64 pixel corners (T, 4), validated."""
    b = b.astype(np.float64)
    h = sizes[ids, 0].astype(np.float64)
    w = sizes[ids, 1].astype(np.float64)
    if fmt == "xyxy":
        out = b.copy()
        scale_w, scale_h, tol = w, h, RANGE_TOL * np.maximum(w, h)
    elif fmt == "xywh":
        out = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
        scale_w, scale_h, tol = w, h, RANGE_TOL * np.maximum(w, h)
    else:
        if len(b):
            bad = (b < -RANGE_TOL) | (b > 1 + RANGE_TOL)
            if bad.any():
                where = _locate(bad.any(axis=1), ids, counts)
                raise ValueError(f"boxes{where}: normalised 'cxcywh' values must lie in [0, 1],"
                                 f" got {b[bad.any(axis=1)][0].tolist()}")
        hw, hh = b[:, 2] / 2, b[:, 3] / 2
        out = np.stack([(b[:, 0] - hw) * w, (b[:, 1] - hh) * h,
                        (b[:, 0] + hw) * w, (b[:, 1] + hh) * h], axis=1)
        scale_w, scale_h, tol = w, h, RANGE_TOL * np.maximum(w, h)
    if len(out):
        names = {"xyxy": ("x2 < x1", "y2 < y1"), "xywh": ("w < 0", "h < 0"),
                 "cxcywh": ("w < 0", "h < 0")}[fmt]
        for axis, label in ((0, names[0]), (1, names[1])):
            bad = out[:, axis + 2] < out[:, axis]
            if bad.any():
                raise ValueError(f"boxes{_locate(bad, ids, counts)}: {label} in format "
                                 f"{fmt!r}: {b[bad][0].tolist()}")
        bad = ((out[:, 0] < -tol) | (out[:, 1] < -tol) | (out[:, 2] > scale_w + tol)
               | (out[:, 3] > scale_h + tol))
        if bad.any():
            t = int(np.flatnonzero(bad)[0])
            raise ValueError(f"boxes{_locate(bad, ids, counts)}: {b[t].tolist()} lies outside "
                             f"the image of size (H, W) = {tuple(sizes[ids[t]].tolist())} "
                             f"(format {fmt!r})")
    return out


def _xyxy_to(b: np.ndarray, ids, sizes: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    if fmt == "xywh":
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    h = sizes[ids, 0].astype(np.float64)
    w = sizes[ids, 1].astype(np.float64)
    return np.stack([(b[:, 0] + b[:, 2]) / (2 * w), (b[:, 1] + b[:, 3]) / (2 * h),
                     (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], axis=1)


def _corners_box(fwd: np.ndarray, ids: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes around the mapped corners of pixel-corner boxes (T, 4).

    The box around the four mapped corners of a box with centre ``c`` and half sizes
    ``(hw, hh)`` has centre ``M c`` and half sizes ``|a| hw + |b| hh``,
    ``|c| hw + |d| hh`` (``[[a, b], [c, d]]`` the linear part): no corners needed.
    """
    k = _coefficients(fwd, ids)
    # Centre in pixel-centre coordinates (an edge u is the point u - 0.5).
    cx = (b[:, 0] + b[:, 2]) * 0.5 - 0.5
    cy = (b[:, 1] + b[:, 3]) * 0.5 - 0.5
    hw = (b[:, 2] - b[:, 0]) * 0.5
    hh = (b[:, 3] - b[:, 1]) * 0.5
    mx = k[0] * cx + k[1] * cy + k[2] + 0.5
    my = k[3] * cx + k[4] * cy + k[5] + 0.5
    ex = np.abs(k[0]) * hw + np.abs(k[1]) * hh
    ey = np.abs(k[3]) * hw + np.abs(k[4]) * hh
    out = np.empty((len(b), 4))
    out[:, 0] = mx - ex
    out[:, 1] = my - ey
    out[:, 2] = mx + ex
    out[:, 3] = my + ey
    return out


def transform_boxes(boxes_xyxy: np.ndarray, ids: np.ndarray, maps: list,
                    min_area: float = 0.0, min_visibility: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-corner boxes through the stages, clipped; and which ones to keep.

    Parameters
    ----------
    boxes_xyxy : ndarray, float64, shape (T, 4)
        ``(x1, y1, x2, y2)`` with edges on pixel borders.
    ids : ndarray, int, shape (T,)
        Image of every box.
    maps : list of (ndarray (N, 2, 3), ndarray (N, 2))
        From :func:`stage_maps`.
    min_area, min_visibility : float
        Drop thresholds (clipped area; clipped / unclipped transformed area).

    Returns
    -------
    boxes : ndarray, float64, shape (T, 4)
        Output boxes, clipped to each stage's output.
    keep : ndarray, bool, shape (T,)
        Boxes with a non-empty clipped box meeting both thresholds.
    """
    clipped = boxes_xyxy
    nonempty = np.ones(len(boxes_xyxy), bool)
    for fwd, sizes in maps:
        clipped = _corners_box(fwd, ids, clipped)
        hi = sizes[:, ::-1].astype(np.float64)[ids]  # (T, 2): width, height
        np.maximum(clipped, 0.0, out=clipped)
        np.minimum(clipped[:, :2], hi, out=clipped[:, :2])
        np.minimum(clipped[:, 2:], hi, out=clipped[:, 2:])
        nonempty &= (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    # The box around the corners through the whole chain (a box of a box grows at each
    # rotating stage); the result is its part inside every stage's clipped box.
    free = _corners_box(_chain(maps), ids, boxes_xyxy) if maps else boxes_xyxy
    if len(maps) > 1:
        np.maximum(clipped[:, :2], free[:, :2], out=clipped[:, :2])
        np.minimum(clipped[:, 2:], free[:, 2:], out=clipped[:, 2:])
        nonempty &= (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    full = (free[:, 2] - free[:, 0]) * (free[:, 3] - free[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        vis = np.where(full > 0, area / full, 0.0)
    keep = nonempty & (area >= min_area) & (vis >= min_visibility)
    return clipped, keep


# ---- keypoints ----------------------------------------------------------------------


def transform_keypoints(kp: np.ndarray, ids: np.ndarray, maps: list
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``(x, y[, angle, scale])`` through the stages.

    Parameters
    ----------
    kp : ndarray, float64, shape (T, 2) or (T, 4)
        Pixel-centre coordinates; optional angle (degrees, from the x axis towards y,
        i.e. clockwise on screen) and scale.
    ids : ndarray, int, shape (T,)
    maps : list of (ndarray (N, 2, 3), ndarray (N, 2))

    Returns
    -------
    keypoints : ndarray, float64, shape (T, 2) or (T, 4)
    visible : ndarray, bool, shape (T,)
        On a pixel of the output of every stage.
    """
    out = kp.astype(np.float64, copy=True)
    x, y = out[:, 0], out[:, 1]
    visible = np.ones(len(out), bool)
    for fwd, sizes in maps:
        x, y = _map_points(fwd, ids, x, y)
        visible &= ((x >= -0.5) & (x < sizes[ids, 1] - 0.5)
                    & (y >= -0.5) & (y < sizes[ids, 0] - 0.5))
    out[:, 0], out[:, 1] = x, y
    if out.shape[1] == 4:
        lin = _total_linear(maps)[ids]
        a = np.deg2rad(out[:, 2])
        dx = lin[:, 0, 0] * np.cos(a) + lin[:, 0, 1] * np.sin(a)
        dy = lin[:, 1, 0] * np.cos(a) + lin[:, 1, 1] * np.sin(a)
        out[:, 2] = np.rad2deg(np.arctan2(dy, dx))
        det = lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]
        out[:, 3] = out[:, 3] * np.sqrt(np.abs(det))
    return out, visible


# ---- masks --------------------------------------------------------------------------

Warp = Callable[[Any, np.ndarray, np.ndarray, Any, dict], Any]


def _mask_planes(masks: Any, sizes: np.ndarray, squeeze: list) -> tuple[Any, np.dtype, int]:
    """Masks as uint8 planes (N, H, W, P) or a list of (H, W, P); the dtype and K."""
    single = isinstance(masks, np.ndarray)
    items = [masks] if single else list(masks)
    if not single and len(items) != len(sizes):
        raise ValueError(f"masks has {len(items)} entries for {len(sizes)} images")
    dtypes = {np.asarray(m).dtype for m in items}
    if len(dtypes) > 1:
        raise TypeError(f"masks must all have one dtype, got {sorted(map(str, dtypes))}")
    out = []
    k_all = set()
    for k, m in enumerate(items):
        name = "masks" if single else f"masks[{k}]"
        m = np.asarray(m)
        if m.dtype not in (np.uint8, np.int32):
            raise TypeError(f"{name} must have dtype uint8 or int32, got {m.dtype}")
        base = 3 if single else 2
        if m.ndim == base:
            m = m[..., None]
            squeeze.append(True)
        elif m.ndim != base + 1:
            raise ValueError(f"{name} must have shape {'(N, H, W)' if single else '(H, W)'} "
                             f"or with a trailing K axis, got {m.shape}")
        hw = m.shape[1:3] if single else m.shape[:2]
        if single:
            expect = sizes[0] if len(sizes) else None
        else:
            expect = sizes[k]
        if single and len(m) != len(sizes):
            raise ValueError(f"masks has {len(m)} masks for {len(sizes)} images")
        if single and len(sizes) and np.any(sizes != sizes[0]):
            raise ValueError("masks: an array of masks needs images of one size")
        if expect is not None and tuple(hw) != tuple(expect):
            raise ValueError(f"{name} has size (H, W) = {tuple(hw)}, the images have "
                             f"{tuple(int(v) for v in expect)}")
        k_all.add(m.shape[-1])
        m = np.ascontiguousarray(m)
        if m.dtype == np.int32:
            m = m.view(np.uint8)  # (.., 4K): the bytes of every class id
        out.append(m)
    return (out[0] if single else out), items[0].dtype if items else np.dtype(np.uint8), (
        k_all.pop() if len(k_all) == 1 else -1)


def _chunks(p: int) -> list[tuple[int, int, int]]:
    """Channel groups (start, stop, padded width) of P planes for 1/3/4-channel warps."""
    out = [(a, a + 4, 4) for a in range(0, p - p % 4, 4)]
    r = p % 4
    if r:
        out.append((p - r, p, 1 if r == 1 else 3))
    return out


def warp_masks(masks: Any, params: dict, warp: Warp, mask_fill: int = 0) -> Any:
    """Masks warped with every stage's matrices, nearest sampling.

    Parameters
    ----------
    masks : ndarray, uint8 or int32, shape (N, H, W) or (N, H, W, K); or a list of such
        per image (H, W[, K])
        Label maps of the images' sizes.
    params : dict
        From :meth:`Compose.sample`.
    warp : callable
        ``warp(planes, inverse, sizes, boxes, kwargs)`` -> warped uint8 planes, as
        Compose runs a stage (``ops.augment(..., inverse=True)``).
    mask_fill : int
        Value outside the image for the "constant" fill mode.

    Returns
    -------
    ndarray or list
        Same dtype and layout, output size.
    """
    sizes = np.asarray(params["input_sizes"], np.int64)
    squeeze: list = []
    planes, dtype, _ = _mask_planes(masks, sizes, squeeze)
    single = isinstance(planes, np.ndarray)
    info = np.iinfo(dtype)
    if not info.min <= mask_fill <= info.max:
        raise ValueError(f"mask_fill must fit the masks' dtype {dtype}, got {mask_fill}")
    fill_bytes = np.array([mask_fill], dtype).view(np.uint8)
    p = planes.shape[-1] if single else (planes[0].shape[-1] if planes else 1)
    if not single and any(m.shape[-1] != p for m in planes):
        raise ValueError("masks must all have the same number of channels K")
    if len(sizes) == 0:
        size = params["stages"][-1]["size"] if params["stages"] else None
        if not single or size is None:
            return []
        return np.zeros((0, *size, *np.shape(masks)[3:]), dtype)
    results = []
    for a, b, width in _chunks(p):
        def part(x, a=a, b=b, width=width):
            x = x[..., a:b]
            if b - a < width:  # two planes: pad to three channels
                x = np.concatenate([x, x[..., :1]], axis=-1)
            return x

        x = part(planes) if single else [part(m) for m in planes]
        # Plane j of an int32 mask is byte j % 4 of its class ids: fill with that byte.
        cval = tuple(float(v) for v in fill_bytes[np.arange(a, a + width) % len(fill_bytes)])
        cval = cval[0] if width == 1 else cval
        cur = sizes
        for st in params["stages"]:
            if np.array_equal(st["sizes"], cur) and np.array_equal(
                    st["inverse"], np.broadcast_to(np.eye(2, 3), st["inverse"].shape)):
                continue  # an identity stage (e.g. around a pixel transform)
            kwargs = {"interpolation": "nearest", "fill_mode": st["fill_mode"], "cval": cval}
            x = warp(x, st["inverse"], st["sizes"], st["boxes"], kwargs)
            cur = st["sizes"]
        n_keep = b - a
        results.append(x[..., :n_keep] if isinstance(x, np.ndarray)
                       else [r[..., :n_keep] for r in x])

    def join(parts):
        y = np.ascontiguousarray(np.concatenate(parts, axis=-1)) if len(parts) > 1 else \
            np.ascontiguousarray(parts[0])
        if dtype == np.int32:
            y = y.view(np.int32)
        return y

    if isinstance(results[0], np.ndarray):
        out = join(results)
        return out[..., 0] if squeeze and squeeze[0] else out
    out = [join([r[i] for r in results]) for i in range(len(results[0]))]
    return [o[..., 0] if squeeze and squeeze[0] else o for o in out]


# ---- entry point --------------------------------------------------------------------


def apply_targets(params: dict, warp: Warp, *, masks: Any = None, boxes: Any = None,
                  keypoints: Any = None, labels: Any = None, **options) -> dict:
    """Transform every passed target with the sampled parameters (images excluded).

    Parameters
    ----------
    params : dict
        From :meth:`Compose.sample`; batch-level transforms (MixUp, CutMix) are refused.
    warp : callable
        Runs one nearest warp for the masks (see :func:`warp_masks`).
    masks : ndarray or list, optional
        uint8 or int32 ``(N, H, W[, K])`` or per image ``(H, W[, K])``.
    boxes : list of ndarray (M_i, 4), ndarray (N, M, 4), or (padded (N, M, 4), counts (N,))
        In ``box_format``.
    keypoints : list of ndarray (M_i, 2 or 4), or ndarray (N, M, 2 or 4), optional
        ``x, y`` in pixels (pixel centres at integers), optionally angle (degrees) and
        scale.
    labels : optional
        With ``boxes``: per-box labels in the same structure (``(M_i, ...)`` per image,
        or ``(N, M, ...)`` padded), dropped with their boxes. Without: per-image labels,
        returned unchanged.
    **options
        :class:`TargetOptions`.

    Returns
    -------
    dict
        The keys passed (``masks``, ``boxes``, ``keypoints``, ``labels``), plus
        ``keypoints_visible`` (bool, the keypoints' structure) with
        ``remove_invisible=False``. Boxes keep their input structure (a list stays a list;
        ``(padded, counts)`` gives ``(padded, counts)``; an array gives a list, since
        counts change), as float64 in ``box_format``. Keypoints are float64; an array
        input becomes a list when invisible points are removed.
    """
    try:
        opts = TargetOptions(**options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"unknown target option: {exc}; options are box_format, "
                            "min_area, min_visibility, remove_invisible, flip_index, "
                            "mask_fill") from None
        raise
    if params.get("batch"):
        raise ValueError("masks, boxes and keypoints cannot follow batch-level transforms "
                         "(MixUp, CutMix): they mix images")
    n = len(params["indices"])
    in_sizes = np.asarray(params["input_sizes"], np.int64)
    maps = stage_maps(params)
    out_sizes = maps[-1][1] if maps else in_sizes
    result: dict = {}
    # Validate everything before any work.
    box_parts = None
    if boxes is not None:
        flat, ids, form, info = _flatten(boxes, n, 4, "boxes")
        counts = np.bincount(ids, minlength=n)
        xyxy = _boxes_to_xyxy(flat, ids, counts, in_sizes, opts.box_format)
        box_parts = (xyxy, ids, form, info, counts)
        if labels is not None:
            lab = labels
            if form == "padded":
                lab = (np.asarray(labels), info[1])
            lab_flat, lab_ids, lab_form, lab_info = _flatten_labels(lab, n, form, counts)
    kp_parts = None
    if keypoints is not None:
        first = keypoints[0] if isinstance(keypoints, (list, tuple)) and len(keypoints) else \
            keypoints
        d = np.shape(first)[-1] if np.ndim(first) >= 2 else 2
        if d not in (2, 4):
            raise ValueError(f"keypoints must have 2 (x, y) or 4 (x, y, angle, scale) "
                             f"columns, got {d}")
        flat_kp, kp_ids, kp_form, kp_info = _flatten(keypoints, n, d, "keypoints")
        if opts.flip_index is not None:
            bad = kp_info != len(opts.flip_index)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"keypoints[{i}] has {kp_info[i]} points, flip_index has "
                                 f"{len(opts.flip_index)}")
        kp_parts = (flat_kp, kp_ids, kp_form, kp_info)
    if masks is not None:
        result["masks"] = warp_masks(masks, params, warp, opts.mask_fill)
    if box_parts is not None:
        xyxy, ids, form, info, counts = box_parts
        new, keep = transform_boxes(xyxy, ids, maps, opts.min_area, opts.min_visibility)
        new = _xyxy_to(new, ids, out_sizes, opts.box_format)
        result["boxes"] = _unflatten(new, ids, keep, n, "list" if form == "array" else form,
                                     info)
        if labels is not None:
            result["labels"] = _unflatten(lab_flat, lab_ids, keep, n,
                                          "list" if lab_form == "array" else lab_form,
                                          lab_info)
            if form == "padded":
                result["labels"] = result["labels"][0]
    elif labels is not None:
        result["labels"] = labels
    if kp_parts is not None:
        flat_kp, kp_ids, kp_form, kp_info = kp_parts
        if opts.flip_index is not None and len(flat_kp):
            lin = _total_linear(maps)
            mirrored = (lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]) < 0
            k = len(opts.flip_index)
            base = np.repeat(np.arange(n) * k, k) + np.tile(opts.flip_index, n)
            order = np.where(mirrored[kp_ids], base, np.arange(len(flat_kp)))
            flat_kp = flat_kp[order]
        new, visible = transform_keypoints(flat_kp, kp_ids, maps)
        if opts.remove_invisible:
            result["keypoints"] = _unflatten(new, kp_ids, visible, n, "list", None)
        else:
            result["keypoints"] = _unflatten(new, kp_ids, None, n, kp_form, kp_info)
            result["keypoints_visible"] = _unflatten(visible, kp_ids, None, n, kp_form,
                                                     kp_info)
    return result


def _flatten_labels(labels: Any, n: int, box_form: str, counts: np.ndarray):
    """Per-box labels in the boxes' structure, flattened; checked against ``counts``."""
    if box_form == "padded":
        lab, box_counts = labels
        if lab.ndim < 2 or len(lab) != n or lab.shape[1] < int(box_counts.max(initial=0)):
            raise ValueError(f"labels must be padded like the boxes, (N={n}, M, ...), got "
                             f"shape {lab.shape}")
        keep = np.arange(lab.shape[1]) < box_counts[:, None]
        ids = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
        return lab[keep], ids, "padded", (lab.shape[1], box_counts)
    if isinstance(labels, np.ndarray):
        if labels.ndim < 2 or len(labels) != n or labels.shape[1] != counts[0]:
            raise ValueError(f"labels must have shape (N={n}, M={int(counts[0]) if n else 0}"
                             f", ...) like the boxes, got {labels.shape}")
        m = labels.shape[1]
        return (labels.reshape((n * m,) + labels.shape[2:]), np.repeat(np.arange(n), m),
                "array", np.full(n, m))
    if not isinstance(labels, (list, tuple)) or len(labels) != n:
        raise ValueError(f"labels must be a list of {n} arrays, one per image, aligned with "
                         "boxes")
    parts = [np.asarray(v) for v in labels]
    for k, (a, c) in enumerate(zip(parts, counts)):
        if a.ndim == 0 or len(a) != c:
            raise ValueError(f"labels[{k}] has {0 if a.ndim == 0 else len(a)} entries for "
                             f"{c} boxes")
    full = [a for a in parts if a.size]
    dtype = full[0].dtype if full else parts[0].dtype if parts else np.float64
    flat = np.concatenate([a.astype(dtype, copy=False) for a in parts]) if parts else np.zeros(0)
    return flat, np.repeat(np.arange(n), counts), "list", counts
