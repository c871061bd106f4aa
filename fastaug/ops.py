"""Validated batch operations on uint8 images, backed by native kernels.

Every function takes a uint8 batch ``(N, H, W, C)`` with C in {1, 3, 4} (``(N, H, W)``
means C = 1 and gives a 3-D result), accepts any strides, releases the GIL, splits the
batch over ``threads`` native threads and returns a new C-contiguous array, or writes
into ``out=`` when it is given.

This module is the validation boundary: it checks every argument and converts it to
exactly what the kernels in ``fastaug._kernels`` expect. Nothing below it checks again.

Conventions (see DESIGN.md): x is the column and y the row; pixel centres sit at
integer coordinates. Affine matrices are forward maps ``[x_dst, y_dst] = M @ [x, y, 1]``
as in ``cv2.warpAffine``, unless ``inverse=True``. Sizes are ``(height, width)``.

Bilinear sampling is fixed point, the same integer formula on every path (general or
axis-aligned matrices, AVX2 or scalar code): source coordinates rounded to 1/4096 pixel,
interpolated values carried to 2^-16 grey level, within 0.07 grey level of exact
interpolation. Nearest samples are exact; the colour matrix and the output conversion
are float32 arithmetic on the samples. See ``csrc/augment.c``.

Fill modes, for a row ``a b c d``::

    constant   k k k | a b c d | k k k    (k = cval, blended at the edge)
    nearest    a a a | a b c d | d d d
    reflect    c b a | a b c d | d c b
    mirror     d c b | a b c d | c b a
    wrap       b c d | a b c d | a b c
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from . import _kernels
from ._threads import resolve_threads

__all__ = [
    "augment",
    "color_matrix",
    "flip",
    "lut",
    "normalize",
    "resized_crop",
    "warp_affine",
]

FILL_MODES = {"constant": 0, "nearest": 1, "reflect": 2, "mirror": 3, "wrap": 4}
INTERPOLATIONS = {"nearest": 0, "bilinear": 1}
LAYOUTS = ("NHWC", "NCHW")
_OUTPUT_U8, _OUTPUT_F32_NHWC, _OUTPUT_F32_NCHW = 0, 1, 2
# The largest output one call may produce (bytes): far beyond any real batch, small
# enough that sizes and offsets stay exact in 64 bits.
_MAX_OUTPUT_BYTES = 1 << 46
_MAX_SIDE = 1 << 28

ArrayLike = Union[np.ndarray, Sequence]
Size = Optional[Sequence[int]]


# ---- argument checks ----------------------------------------------------------------


def _images(images) -> tuple[np.ndarray, bool]:
    """The batch as a 4-D uint8 array the kernels can read, and whether it was 3-D."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"images must have dtype uint8, got {images.dtype}")
    squeeze = images.ndim == 3
    if squeeze:
        images = images[..., np.newaxis]
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (N, H, W, C) or (N, H, W), got shape {images.shape}"
        )
    n, h, w, c = images.shape
    if c not in (1, 3, 4):
        raise ValueError(f"images must have 1, 3 or 4 channels, got {c} (shape {images.shape})")
    if n and (h == 0 or w == 0):
        raise ValueError(f"images must have non-zero height and width, got shape {images.shape}")
    # The kernels read pixels C bytes apart with adjacent channels; rows and images may
    # have any stride. Anything else is copied once.
    if images.strides[2] != c or (c > 1 and images.strides[3] != 1):
        images = np.ascontiguousarray(images)
    return images, squeeze


def _choice(value, options, name: str):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return options[value] if isinstance(options, dict) else value


def _size(size, h: int, w: int, name: str = "size") -> tuple[int, int]:
    if size is None:
        return h, w
    try:
        oh, ow = size
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (height, width), got {size!r}") from None
    for v in (oh, ow):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be a pair of integers (height, width), got {size!r}")
        if not 0 < v <= _MAX_SIDE:
            raise ValueError(f"{name} must be positive and at most {_MAX_SIDE}, got {size!r}")
    return int(oh), int(ow)


def _float_array(value, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} must be an array of numbers, got None")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (contains NaN or inf)")
    return arr


def _fits_float32(arr: np.ndarray, name: str) -> None:
    """The kernels compute in float32: a finite value beyond its range would be inf."""
    if np.abs(arr).max(initial=0.0) > np.finfo(np.float32).max:
        raise ValueError(f"{name} must fit in float32 (|value| <= 3.4e38)")


def _per_image(arr: np.ndarray, n: int, item_shape: tuple, name: str, what: str) -> np.ndarray:
    """``arr`` shaped (N,) + item_shape, or item_shape or (1,) + item_shape for the whole
    batch -> (N or 1,) + item_shape."""
    if arr.shape == item_shape:
        return arr[np.newaxis]
    if arr.ndim == len(item_shape) + 1 and arr.shape[1:] == item_shape:
        if arr.shape[0] not in (n, 1):  # one entry is shared by the batch
            raise ValueError(f"{name} has {arr.shape[0]} entries for a batch of {n} images")
        return arr
    shape = ", ".join(str(s) for s in item_shape)
    raise ValueError(f"{name} must have shape (N, {shape}) or ({shape}) ({what}), got {arr.shape}")


def _inverse_matrices(matrices, n: int, inverse: bool) -> np.ndarray:
    """Destination-to-source matrices, (N or 1, 2, 3) float64 C-contiguous."""
    m = _per_image(_float_array(matrices, "matrices"), n, (2, 3), "matrices", "affine 2x3")
    if inverse:
        return np.ascontiguousarray(m)
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    norm = np.maximum(np.abs(m[:, :, :2]).max(axis=(1, 2)), 1e-300)
    singular = np.abs(det) <= 1e-12 * norm * norm
    if singular.any():
        i = int(np.flatnonzero(singular)[0])
        raise ValueError(
            f"matrices[{i}] is singular (determinant {det[i]:.3g}) and cannot be inverted; "
            "pass inverse=True with a destination-to-source matrix to sample it anyway"
        )
    inv = np.empty(m.shape)
    inv[:, 0, 0], inv[:, 0, 1] = e / det, -b / det
    inv[:, 1, 0], inv[:, 1, 1] = -d / det, a / det
    inv[:, 0, 2] = -(inv[:, 0, 0] * c + inv[:, 0, 1] * f)
    inv[:, 1, 2] = -(inv[:, 1, 0] * c + inv[:, 1, 1] * f)
    if not np.all(np.isfinite(inv)):
        raise ValueError("matrices are too close to singular to invert")
    return inv


def _identity(n_or_one: int = 1) -> np.ndarray:
    return np.broadcast_to(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (n_or_one, 2, 3)).copy()


def _channel_values(value, c: int, name: str, default: float) -> np.ndarray:
    """A scalar or one value per channel, as C float64 values."""
    if value is None:
        return np.full(c, default)
    arr = _float_array(value, name).reshape(-1)
    if arr.size == 1:
        return np.full(c, arr[0])
    if arr.size != c:
        raise ValueError(f"{name} must be a scalar or {c} values (one per channel), got {arr.size}")
    return arr


def _cval(cval, c: int) -> np.ndarray:
    values = _channel_values(cval, c, "cval", 0.0)
    if np.any(values < 0) or np.any(values > 255):
        raise ValueError(f"cval must lie in 0..255 for uint8 images, got {cval!r}")
    out = np.zeros(4, np.uint8)
    out[:c] = np.rint(values)
    return out


def _boxes(boxes, n: int) -> np.ndarray:
    """(N or 1, 4) float64 boxes (top, left, height, width) with positive sizes."""
    b = _per_image(_float_array(boxes, "boxes"), n, (4,), "boxes", "top, left, height, width")
    if np.any(b[:, 2:] <= 0):
        raise ValueError("boxes must have positive height and width (columns 2 and 3)")
    return b


def _clip_from_boxes(b: np.ndarray) -> np.ndarray:
    """Source-coordinate clamp (xmin, xmax, ymin, ymax) for each box."""
    top, left, height, width = b.T
    xmax = np.maximum(left, left + width - 1)
    ymax = np.maximum(top, top + height - 1)
    # Far-away boxes only ever sample fill: keep the clamp where the kernel's integer
    # conversion is exact.
    clip = np.stack([left, xmax, top, ymax], axis=1)
    return np.ascontiguousarray(np.clip(clip, -_MAX_SIDE, _MAX_SIDE))


def _colors(colors, n: int, c: int, name: str = "colors") -> np.ndarray | None:
    """(N or 1, C, C + 1) float32, or None when every matrix is the identity."""
    m = _per_image(_float_array(colors, name), n, (c, c + 1), name, "colour matrices")
    _fits_float32(m, name)
    identity = np.hstack([np.eye(c), np.zeros((c, 1))])
    if np.array_equal(m, np.broadcast_to(identity, m.shape)):
        return None
    return np.ascontiguousarray(m, dtype=np.float32)


def _out(out, shape: tuple, dtype, images: np.ndarray, pool=None) -> np.ndarray:
    nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    if nbytes > _MAX_OUTPUT_BYTES:
        raise ValueError(f"output of shape {shape} ({nbytes} bytes) is too large to allocate")
    if out is None:
        return np.empty(shape, dtype) if pool is None else pool.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out must be writeable (it is read-only)")
    if np.may_share_memory(out, images):
        raise ValueError("out must not overlap images (the kernels do not work in place)")
    return out


def _batch_out(out, shape: tuple, dtype, images, squeeze: bool, pool=None) -> np.ndarray:
    """The output of ``shape`` (N, ..., C): ``out`` validated, or a new array (from
    ``pool`` when given). A 3-D batch (``squeeze``) may come with a 3-D ``out``."""
    if out is not None and squeeze:
        return _out(out, shape[:3], dtype, images)[..., np.newaxis]
    return _out(out, shape, dtype, images, pool)


def _gray_weights(value, name: str) -> np.ndarray:
    """Three grey weights of R, G, B in [0, 1e6], float64."""
    wt = _float_array(value, name)
    if wt.shape != (3,) or np.any(wt < 0) or np.any(wt > 1e6):
        raise ValueError(f"{name} must be 3 numbers in [0, 1e6], got {value!r}")
    return wt


def _restore_ndim(result: np.ndarray, out, squeeze: bool, layout: str = "NHWC"):
    if out is not None:
        return out
    if squeeze and layout == "NHWC":
        return result[..., 0]
    return result


# ---- the fused kernel ---------------------------------------------------------------


def augment(
    images: np.ndarray,
    matrices: ArrayLike | None = None,
    colors: ArrayLike | None = None,
    size: Size = None,
    *,
    boxes: ArrayLike | None = None,
    inverse: bool = False,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    cval: float | Sequence[float] = 0,
    mean: None | float | Sequence[float] = None,
    std: None | float | Sequence[float] = None,
    scale: float | None = None,
    layout: str = "NHWC",
    dtype: str = "uint8",
    out: np.ndarray | None = None,
    threads: int | None = None,
    _pool=None,
) -> np.ndarray:
    """Geometric warp, colour matrix and output conversion in one pass per pixel.

    For each output pixel: the source point is found through the image's affine
    matrix, sampled (nearest or bilinear, with the fill mode outside the image), the
    colour matrix is applied (then values are saturated to 0..255), and the value is
    written as uint8 (rounded to nearest) or as float32 ``(v * scale - mean) / std``.
    The other functions of this module are special cases of this one and give
    identical results.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        The batch; C in {1, 3, 4}; any strides.
    matrices : array_like, shape (N, 2, 3) or (2, 3), optional
        Affine matrices, forward (source to destination) unless ``inverse``. None is the
        identity.
    colors : array_like, shape (N, C, C + 1) or (C, C + 1), optional
        Colour matrices: ``out[c] = sum_k M[c, k] * in[k] + M[c, C]``.
    size : (int, int), optional
        Output ``(height, width)``; default the input size.
    boxes : array_like, shape (N, 4) or (4,), optional
        ``(top, left, height, width)`` per image: source coordinates are clamped to the
        box before sampling, as ``resized_crop`` does.
    inverse : bool
        The matrices map destination to source (like ``cv2.WARP_INVERSE_MAP``). A
        singular matrix is then allowed; a singular forward matrix is an error.
    interpolation : {"nearest", "bilinear"}
    fill_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
    cval : float or sequence of float
        Fill value for "constant", 0..255, a scalar or one per channel.
    mean, std : float or sequence of float, optional
        Per-channel normalisation for float output (default 0 and 1).
    scale : float, optional
        Multiplier applied before ``mean`` and ``std`` for float output; default 1/255.
    layout : {"NHWC", "NCHW"}
        Output layout (NCHW requires a float dtype).
    dtype : {"uint8", "float32"}
        Output dtype.
    out : ndarray, optional
        C-contiguous, writeable output of the right shape and dtype, not overlapping
        ``images``.
    threads : int, optional
        Native threads; default :func:`fastaug.get_num_threads`.
    _pool : fastaug._pool.OutputPool, optional
        Internal (Compose, ImageDataGenerator): where a new output's memory may come
        from when ``out`` is not given.

    Returns
    -------
    ndarray
        uint8 or float32, shape (N, OH, OW, C) or (N, C, OH, OW); 3-D input gives 3-D
        NHWC output.
    """
    src, squeeze = _images(images)
    n, h, w, c = src.shape
    oh, ow = _size(size, h, w)
    interp = _choice(interpolation, INTERPOLATIONS, "interpolation")
    fill = _choice(fill_mode, FILL_MODES, "fill_mode")
    layout = _choice(layout, LAYOUTS, "layout")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be 'uint8' or 'float32', got {dtype!r}") from None
    if out_dtype not in (np.uint8, np.float32):
        raise ValueError(f"dtype must be 'uint8' or 'float32', got {dtype!r}")
    threads = resolve_threads(threads)
    fill_values = _cval(cval, c)
    inv = _identity() if matrices is None else _inverse_matrices(matrices, n, inverse)
    clip = None if boxes is None else _clip_from_boxes(_boxes(boxes, n))
    color = None if colors is None else _colors(colors, n, c)

    gain = np.ones(4, np.float32)
    offset = np.zeros(4, np.float32)
    if out_dtype == np.uint8:
        if mean is not None or std is not None or scale is not None:
            raise ValueError("mean, std and scale need a float output: pass dtype='float32'")
        if layout != "NHWC":
            raise ValueError("layout 'NCHW' needs a float output: pass dtype='float32'")
        output = _OUTPUT_U8
    else:
        if scale is None:
            scale = 1.0 / 255.0
        if not isinstance(scale, numbers.Real) or not np.isfinite(scale):
            raise ValueError(f"scale must be a finite number, got {scale!r}")
        mu = _channel_values(mean, c, "mean", 0.0)
        sigma = _channel_values(std, c, "std", 1.0)
        if np.any(sigma == 0):
            raise ValueError(f"std must not contain 0, got {std!r}")
        gain[:c] = scale / sigma
        offset[:c] = -mu / sigma
        output = _OUTPUT_F32_NCHW if layout == "NCHW" else _OUTPUT_F32_NHWC

    shape = (n, c, oh, ow) if output == _OUTPUT_F32_NCHW else (n, oh, ow, c)
    dst = _batch_out(out, shape, out_dtype, images, squeeze and layout == "NHWC", _pool)
    if n == 0:
        return _restore_ndim(dst, out, squeeze, layout)
    _kernels.augment(src, dst, inv, clip, color, interp, fill, fill_values, gain, offset,
                     output, threads)
    return _restore_ndim(dst, out, squeeze, layout)


# ---- special cases ------------------------------------------------------------------


def warp_affine(
    images: np.ndarray,
    matrices: ArrayLike,
    size: Size = None,
    *,
    inverse: bool = False,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    cval: float | Sequence[float] = 0,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Affine warp of every image by its own matrix, like ``cv2.warpAffine``.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    matrices : array_like, shape (N, 2, 3) or (2, 3)
        Forward maps ``[x_dst, y_dst] = M @ [x_src, y_src, 1]`` (or destination to
        source with ``inverse=True``).
    size : (int, int), optional
        Output ``(height, width)``; default the input size.
    inverse : bool
    interpolation : {"nearest", "bilinear"}
    fill_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
        "constant" blends with ``cval`` at the edge like ``cv2.BORDER_CONSTANT``.
    cval : float or sequence of float
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, shape (N, OH, OW, C)
    """
    if matrices is None:
        raise ValueError("matrices must be given, shape (N, 2, 3) or (2, 3)")
    return augment(images, matrices, size=size, inverse=inverse, interpolation=interpolation,
                   fill_mode=fill_mode, cval=cval, out=out, threads=threads)


def resized_crop(
    images: np.ndarray,
    boxes: ArrayLike,
    size: Sequence[int],
    *,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    cval: float | Sequence[float] = 0,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Crop a box from every image and resize it to ``size``.

    The box is mapped onto the output with the half-pixel-centre convention of
    ``cv2.resize``, and sample points are clamped to the box, so an integer box inside
    the image gives ``cv2.resize(image[top:top + h, left:left + w], (ow, oh))``.
    Nearest matches ``cv2.INTER_NEAREST_EXACT``. Parts of a box outside the image take
    ``fill_mode`` / ``cval``.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    boxes : array_like, shape (N, 4) or (4,)
        ``(top, left, height, width)`` in pixels, floats allowed, positive sizes.
    size : (int, int)
        Output ``(height, width)``.
    interpolation : {"nearest", "bilinear"}
    fill_mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
    cval : float or sequence of float
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, shape (N, OH, OW, C)
    """
    src, _ = _images(images)
    n = src.shape[0]
    if size is None:
        raise ValueError("size must be given as (height, width)")
    oh, ow = _size(size, 1, 1)
    b = _boxes(boxes, n)
    return augment(images, crop_matrices(b, (oh, ow)), size=(oh, ow), boxes=b, inverse=True,
                   interpolation=interpolation, fill_mode=fill_mode, cval=cval, out=out,
                   threads=threads)


def crop_matrices(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Destination-to-source matrices mapping an output of ``size`` onto each box.

    Parameters
    ----------
    boxes : ndarray, float, shape (N, 4)
        ``(top, left, height, width)``.
    size : (int, int)
        Output ``(height, width)``.

    Returns
    -------
    ndarray, float64, shape (N, 2, 3)
        Half-pixel-centre maps: ``x_src = left + (x + 0.5) * width / ow - 0.5``.
    """
    top, left, height, width = np.asarray(boxes, dtype=np.float64).T
    sx, sy = width / size[1], height / size[0]
    m = np.zeros((len(top), 2, 3))
    m[:, 0, 0] = sx
    m[:, 0, 2] = left + 0.5 * sx - 0.5
    m[:, 1, 1] = sy
    m[:, 1, 2] = top + 0.5 * sy - 0.5
    return m


def _flags(value, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype != np.bool_ and not (arr.dtype.kind in "iu" and np.isin(arr, (0, 1)).all()):
        raise TypeError(f"{name} must be a bool or a sequence of bools, got dtype {arr.dtype}")
    arr = arr.astype(bool)
    if arr.ndim == 0:
        return np.full(n, bool(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a bool or have length {n}, got shape {arr.shape}")
    return arr


def flip_matrices(horizontal: np.ndarray, vertical: np.ndarray, h: int, w: int) -> np.ndarray:
    """Destination-to-source matrices of per-image mirror flips, (N, 2, 3) float64."""
    m = np.zeros((len(horizontal), 2, 3))
    m[:, 0, 0] = np.where(horizontal, -1.0, 1.0)
    m[:, 0, 2] = np.where(horizontal, w - 1.0, 0.0)
    m[:, 1, 1] = np.where(vertical, -1.0, 1.0)
    m[:, 1, 2] = np.where(vertical, h - 1.0, 0.0)
    return m


def flip(
    images: np.ndarray,
    horizontal: bool | ArrayLike,
    vertical: None | bool | ArrayLike = None,
    *,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Mirror each image left-right and/or top-bottom.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    horizontal : bool or array_like of bool, shape (N,)
        Flip left-right (``x -> W - 1 - x``).
    vertical : bool or array_like of bool, shape (N,), optional
        Flip top-bottom; default no vertical flip.
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, _ = _images(images)
    n, h, w, _ = src.shape
    hflags = _flags(horizontal, n, "horizontal")
    vflags = _flags(False if vertical is None else vertical, n, "vertical")
    return augment(images, flip_matrices(hflags, vflags, h, w), inverse=True,
                   interpolation="nearest", out=out, threads=threads)


def color_matrix(
    images: np.ndarray,
    matrices: ArrayLike,
    *,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Apply an affine colour transform to every pixel.

    ``out[c] = sum_k M[c, k] * in[k] + M[c, C]``, computed in float32 as fused
    multiply-adds in channel order starting from ``M[c, C] + 0.5``, saturated to 0..255
    and truncated: rounded to nearest, halves up. Every native path (AVX-512, AVX2,
    portable C) gives the same values, and so does :func:`augment`.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    matrices : array_like, shape (N, C, C + 1) or (C, C + 1)
        Finite and within float32's range.
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, _ = _images(images)
    n, _, _, c = src.shape
    colors = _colors(matrices, n, c, "matrices")
    if colors is None:  # identity: still a copy into a new (or the given) array
        colors = np.hstack([np.eye(c), np.zeros((c, 1))])
    return augment(images, colors=colors, out=out, threads=threads)


def normalize(
    images: np.ndarray,
    mean: None | float | Sequence[float] = None,
    std: None | float | Sequence[float] = None,
    *,
    scale: float = 1.0 / 255.0,
    layout: str = "NHWC",
    dtype: str = "float32",
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Convert to float: ``(x * scale - mean) / std`` per channel.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    mean, std : float or sequence of float, optional
        Per channel (or one for all); default 0 and 1. ``std`` must not contain 0.
    scale : float
        Applied first; default 1/255 (values in 0..1 before ``mean``/``std``).
    layout : {"NHWC", "NCHW"}
    dtype : {"float32"}
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, float32, shape (N, H, W, C) or (N, C, H, W)
    """
    try:
        is_float32 = np.dtype(dtype) == np.float32
    except TypeError:
        is_float32 = False
    if not is_float32:
        raise ValueError(f"dtype must be 'float32', got {dtype!r}")
    return augment(images, mean=mean, std=std, scale=scale, layout=layout, dtype=dtype,
                   out=out, threads=threads)


def lut(
    images: np.ndarray,
    tables: ArrayLike,
    *,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Map every value through a 256-entry lookup table per channel.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    tables : ndarray, uint8, shape (256,), (C, 256) or (N, C, 256)
        One table for all channels, one per channel, or one per image and channel.
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, squeeze = _images(images)
    n, h, w, c = src.shape
    threads = resolve_threads(threads)
    t = np.asarray(tables)
    if t.dtype != np.uint8:
        raise TypeError(f"tables must have dtype uint8, got {t.dtype}")
    if t.shape == (256,):
        t = np.broadcast_to(t, (1, c, 256))
    elif t.shape == (c, 256):
        t = t[np.newaxis]
    elif t.shape == (n, c, 256):
        pass
    else:
        raise ValueError(f"tables must have shape (256,), ({c}, 256) or ({n}, {c}, 256), "
                         f"got {t.shape}")
    t = np.ascontiguousarray(t)
    shape = (n, h, w, c)
    dst = _batch_out(out, shape, np.uint8, images, squeeze)
    if n:
        _kernels.lut(src, dst, t, threads)
    return _restore_ndim(dst, out, squeeze)


# ---- pixel filters ----
# Per-pixel transforms that cannot fold into augment's matrices: their own native pass,
# from the fastaug._filters extension (csrc/filters.c).

_FILTER_FILL_MODES = {k: v for k, v in FILL_MODES.items() if k != "constant"}


def _filters_ext():
    from . import _filters  # imported on first use: the kernels above do not need it

    return _filters


def _per_image_values(value, n: int, name: str, low: float = -np.inf,
                      high: float = np.inf) -> np.ndarray:
    """A scalar or one value per image, as (N,) float64 within [low, high]."""
    arr = _float_array(value, name)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got {arr.shape}")
    if np.any(arr < low) or np.any(arr > high):
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}]")
    return np.ascontiguousarray(arr)


def _keys(keys, n: int) -> np.ndarray:
    """(N,) uint64 generator keys from non-negative integers (up to 2**64 - 1)."""
    if not isinstance(keys, np.ndarray):
        values = [keys] if np.ndim(keys) == 0 else list(np.ravel(np.asarray(keys, object)))
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            if any(not 0 <= int(v) < 1 << 64 for v in values):
                raise ValueError("keys must lie in 0..2**64 - 1")
            keys = np.array([int(v) for v in values], np.uint64).reshape(np.shape(keys))
    arr = np.asarray(keys)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"keys must be integers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise ValueError(f"keys must be a scalar or have shape ({n},), got {arr.shape}")
    if arr.dtype.kind == "i" and np.any(arr < 0):
        raise ValueError("keys must be non-negative")
    return np.ascontiguousarray(arr.astype(np.uint64))


def _filter_setup(images, out, fill_mode: str, threads):
    src, squeeze = _images(images)
    fill = _choice(fill_mode, _FILTER_FILL_MODES, "fill_mode")
    threads = resolve_threads(threads)
    dst = _batch_out(out, src.shape, np.uint8, images, squeeze)
    return src, squeeze, fill, threads, dst


def gaussian_noise(
    images: np.ndarray,
    std: float | ArrayLike,
    keys: int | ArrayLike,
    *,
    per_channel: bool = True,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Add Gaussian noise: ``round(x + std * z)`` saturated to 0..255.

    ``z`` is deterministic: draw ``k`` of image ``i`` is SplitMix64 of ``keys[i]`` and
    ``k`` (``k`` the NHWC index of the value in the image, or of the pixel when not
    ``per_channel``), turned into a normal value as the centred, unit-variance sum of its
    four 16-bit parts (Irwin-Hall: exact mean and variance, tails cut at 3.46 sigma).

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    std : float or array_like, shape (N,)
        Standard deviation in grey levels, per image or for all, >= 0.
    keys : int or array_like of int, shape (N,)
        Non-negative generator keys, one per image (or one for all).
    per_channel : bool
        Independent noise per channel, else one value per pixel for every channel.
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, squeeze, _, threads, dst = _filter_setup(images, out, "mirror", threads)
    n = src.shape[0]
    sigma = _per_image_values(std, n, "std", 0.0, 1e6)
    k = _keys(keys, n)
    if n:
        _filters_ext().noise(src, dst, sigma, k, bool(per_channel), threads)
    return _restore_ndim(dst, out, squeeze)


def gaussian_kernels(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-D Gaussian kernels like ``cv2.getGaussianKernel`` with OpenCV's uint8 size rule.

    Parameters
    ----------
    sigma : ndarray, float64, shape (N,)
        >= 0; 0 gives the identity.

    Returns
    -------
    kernels : ndarray, float32, shape (N, 2 * max(radius) + 1)
        Normalised taps, zero-padded to a common length (centred on index ``radius``).
    radius : ndarray, int64, shape (N,)
        ``(round(6 sigma + 1) | 1) // 2``, as ``cv2.GaussianBlur(ksize=(0, 0))``.
    """
    sigma = np.asarray(sigma, np.float64)
    size = np.floor(sigma * 6.0 + 1.0 + 0.5).astype(np.int64) | 1
    radius = np.where(sigma > 0, size // 2, 0)
    width = int(2 * radius.max() + 1) if len(radius) else 1
    x = np.arange(width) - (width - 1) / 2
    safe = np.where(sigma > 0, sigma, 1.0)
    k = np.exp(-(x[None, :] ** 2) / (2.0 * safe[:, None] ** 2))
    k = np.where(np.abs(x)[None, :] <= radius[:, None], k, 0.0)
    k /= k.sum(axis=1, keepdims=True)
    # Align every kernel to start at column 0: taps 0..2r of row i.
    shift = (width - 1) // 2 - radius
    rows = np.arange(len(radius))[:, None]
    cols = np.minimum(np.arange(width)[None, :] + shift[:, None], width - 1)
    aligned = np.where(np.arange(width)[None, :] <= 2 * radius[:, None], k[rows, cols], 0.0)
    return np.ascontiguousarray(aligned, np.float32), np.ascontiguousarray(radius)


def gaussian_blur(
    images: np.ndarray,
    sigma: float | ArrayLike,
    *,
    fill_mode: str = "mirror",
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Gaussian blur with a per-image sigma, like ``cv2.GaussianBlur(img, (0, 0), sigma)``.

    Separable, computed in float32 and rounded once; the kernel has OpenCV's size for
    uint8 images (``round(6 sigma + 1)``, made odd) and border ``fill_mode`` ("mirror" is
    OpenCV's default ``BORDER_REFLECT_101``). OpenCV's uint8 path uses fixed-point
    arithmetic: results agree within one grey level.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    sigma : float or array_like, shape (N,)
        Standard deviation in pixels, 0..1000 (0 leaves the image unchanged).
    fill_mode : {"nearest", "reflect", "mirror", "wrap"}
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, squeeze, fill, threads, dst = _filter_setup(images, out, fill_mode, threads)
    n = src.shape[0]
    sig = _per_image_values(sigma, n, "sigma", 0.0, 1000.0)
    if n:
        kernels, radius = gaussian_kernels(sig)
        _filters_ext().separable(src, dst, kernels, radius, fill, threads)
    return _restore_ndim(dst, out, squeeze)


def filter3x3(
    images: np.ndarray,
    kernels: ArrayLike,
    *,
    fill_mode: str = "mirror",
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Correlate every image with its own 3x3 kernel, like ``cv2.filter2D``.

    ``out[y, x] = sum_{dy, dx} K[dy + 1, dx + 1] * in[y + dy, x + dx]`` in float32, then
    rounded and saturated to 0..255.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
    kernels : array_like, shape (N, 3, 3) or (3, 3)
    fill_mode : {"nearest", "reflect", "mirror", "wrap"}
        Border ("mirror" is OpenCV's default ``BORDER_REFLECT_101``).
    out : ndarray, optional
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, squeeze, fill, threads, dst = _filter_setup(images, out, fill_mode, threads)
    n = src.shape[0]
    k = _per_image(_float_array(kernels, "kernels"), n, (3, 3), "kernels", "3x3 kernels")
    k = np.ascontiguousarray(np.broadcast_to(k, (n, 3, 3)).reshape(n, 9), np.float32)
    if n:
        _filters_ext().filter3x3(src, dst, k, fill, threads)
    return _restore_ndim(dst, out, squeeze)


def _batch_layout(images, layout: str, name: str = "images") -> tuple[np.ndarray, bool]:
    """A 4-D uint8 or float32 batch (3-D uint8 is C = 1) and whether it is NCHW."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(images).__name__}")
    layout = _choice(layout, LAYOUTS, "layout")
    if images.dtype == np.uint8:
        if layout != "NHWC":
            raise ValueError("uint8 batches are NHWC: pass layout='NHWC'")
        if images.ndim == 3:
            images = images[..., np.newaxis]
    elif images.dtype != np.float32:
        raise TypeError(f"{name} must have dtype uint8 or float32, got {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"{name} must be 4-D ({layout}), got shape {images.shape}")
    return images, layout == "NCHW"


def _clip_boxes(boxes, n: int, h: int, w: int) -> np.ndarray:
    """(N, K, 4) int64 boxes (top, left, height, width) clipped to the image."""
    b = _float_array(boxes, "boxes")
    if b.ndim == 2:
        b = b[:, np.newaxis]
    if b.ndim != 3 or b.shape[0] != n or b.shape[2] != 4:
        raise ValueError(f"boxes must have shape ({n}, 4) or ({n}, K, 4), got {b.shape}")
    if not np.array_equal(b, np.round(b)):
        raise ValueError("boxes must be whole pixels")
    top, left = b[..., 0], b[..., 1]
    bottom, right = top + np.maximum(b[..., 2], 0), left + np.maximum(b[..., 3], 0)
    top, left = np.clip(top, 0, h), np.clip(left, 0, w)
    bottom, right = np.clip(bottom, 0, h), np.clip(right, 0, w)
    out = np.stack([top, left, np.maximum(bottom - top, 0), np.maximum(right - left, 0)], -1)
    return np.ascontiguousarray(out.astype(np.int64))


def erase(
    images: np.ndarray,
    boxes: ArrayLike,
    value: float | Sequence[float] = 0,
    *,
    keys: int | ArrayLike | None = None,
    layout: str = "NHWC",
    inplace: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """Fill rectangles of every image with a value or with random values.

    Parameters
    ----------
    images : ndarray, uint8 (N, H, W, C) / (N, H, W), or float32 (N, H, W, C) / (N, C, H, W)
    boxes : array_like, shape (N, 4) or (N, K, 4)
        Whole-pixel ``(top, left, height, width)``; parts outside the image are ignored,
        boxes with a size <= 0 erase nothing.
    value : float or sequence of float
        Fill value, one for all channels or one per channel (uint8: 0..255, rounded).
    keys : int or array_like of int, shape (N,), optional
        Fill with random values instead (uint8: uniform 0..255; float32: approximately
        N(0, 1), torchvision's ``value="random"``), from per-image generator keys as in
        :func:`gaussian_noise` (indexed by the NHWC position).
    layout : {"NHWC", "NCHW"}
        Layout of a float32 batch.
    inplace : bool
        Write into ``images`` (which must then be C-contiguous and writeable) and return
        it; else work on a copy.
    threads : int, optional

    Returns
    -------
    ndarray
        Same dtype and shape as ``images``.
    """
    squeeze = isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 3
    data, nchw = _batch_layout(images, layout)
    threads = resolve_threads(threads)
    n = data.shape[0]
    c = data.shape[1] if nchw else data.shape[3]
    h, w = (data.shape[2], data.shape[3]) if nchw else (data.shape[1], data.shape[2])
    b = _clip_boxes(boxes, n, h, w)
    v = _channel_values(value, c, "value", 0.0)
    if data.dtype == np.uint8:
        if np.any(v < 0) or np.any(v > 255):
            raise ValueError(f"value must lie in 0..255 for uint8 images, got {value!r}")
        v = np.rint(v)
    v = np.ascontiguousarray(v, np.float32)
    k = None if keys is None else _keys(keys, n)
    if inplace:
        if not data.flags.c_contiguous or not data.flags.writeable:
            raise ValueError("inplace=True needs a C-contiguous, writeable array")
        target = data
    else:
        target = np.array(data, order="C", copy=True)
    if n:
        _filters_ext().erase(target, nchw, b, v, k, threads)
    return target[..., 0] if squeeze else target


def mix(
    images: np.ndarray,
    partner: ArrayLike,
    lam: float | ArrayLike | None = None,
    boxes: ArrayLike | None = None,
    *,
    layout: str = "NHWC",
    threads: int | None = None,
) -> np.ndarray:
    """Mix every image with a partner image of the same batch: MixUp or CutMix.

    With ``lam``: ``out[i] = lam[i] * x[i] + (1 - lam[i]) * x[partner[i]]`` (uint8:
    rounded). With ``boxes``: ``out[i] = x[i]`` with the box pasted from
    ``x[partner[i]]``.

    Parameters
    ----------
    images : ndarray, uint8 (N, H, W, C) / (N, H, W), or float32 (N, H, W, C) / (N, C, H, W)
    partner : array_like of int, shape (N,)
        Indices into the batch.
    lam : float or array_like, shape (N,), optional
        Weights of the images themselves, in [0, 1] (MixUp).
    boxes : array_like, shape (N, 4), optional
        Whole-pixel ``(top, left, height, width)`` (CutMix); exactly one of ``lam`` and
        ``boxes`` is given.
    layout : {"NHWC", "NCHW"}
        Layout of a float32 batch.
    threads : int, optional

    Returns
    -------
    ndarray
        A new C-contiguous array, same dtype and shape as ``images``.
    """
    squeeze = isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 3
    data, nchw = _batch_layout(images, layout)
    data = np.ascontiguousarray(data)
    threads = resolve_threads(threads)
    n = data.shape[0]
    h, w = (data.shape[2], data.shape[3]) if nchw else (data.shape[1], data.shape[2])
    p = np.asarray(partner)
    if p.dtype.kind not in "iu" or p.shape != (n,):
        raise ValueError(f"partner must be ({n},) integers, got {p.dtype} {p.shape}")
    if n and (p.min() < 0 or p.max() >= n):
        raise ValueError(f"partner indices must lie in 0..{n - 1}")
    p = np.ascontiguousarray(p, np.int64)
    if (lam is None) == (boxes is None):
        raise ValueError("give exactly one of lam (MixUp) and boxes (CutMix)")
    weights = None if lam is None else np.ascontiguousarray(
        _per_image_values(lam, n, "lam", 0.0, 1.0), np.float32)
    b = None if boxes is None else np.ascontiguousarray(_clip_boxes(boxes, n, h, w)[:, 0])
    dst = np.empty_like(data)
    if n:
        _filters_ext().mix(data, dst, nchw, p, weights, b, threads)
    return dst[..., 0] if squeeze else dst


def blend(
    images: Sequence[np.ndarray],
    weights: ArrayLike,
    *,
    offset: float = 0.0,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Weighted sum of K batches, with weights per image: AugMix's mixing step.

    ``out[i] = saturate(round(sum_k weights[i, k] * images[k][i] + offset))``, summed in
    float32 in the order of ``images``, then the offset (rounding half up).

    Parameters
    ----------
    images : sequence of ndarray, uint8, each shape (N, H, W, C) or (N, H, W)
        K >= 1 batches of the same shape; any strides.
    weights : array_like, shape (N, K) or (K,)
        Finite weights, per image or for the whole batch (any sign: the result saturates
        to 0..255).
    offset : float
        Added before rounding, -1..1 (e.g. ``-0.5 + 2**-8`` truncates instead).
    out : ndarray, optional
        C-contiguous, writeable, uint8, the batches' shape, overlapping none of them.
    threads : int, optional

    Returns
    -------
    ndarray, uint8, the batches' shape
    """
    if isinstance(images, np.ndarray) or not isinstance(images, Sequence) or not images:
        raise TypeError("images must be a non-empty sequence (list or tuple) of uint8 batches")
    batches = []
    for k, im in enumerate(images):
        try:
            src, squeeze = _images(im)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"images[{k}]: {exc}") from None
        if batches and im.shape != images[0].shape:
            raise ValueError(f"images[{k}] has shape {im.shape}, images[0] has {images[0].shape}")
        batches.append(np.ascontiguousarray(src))
    n = batches[0].shape[0]
    count = len(batches)
    wt = _float_array(weights, "weights")
    if wt.shape == (count,):
        wt = np.broadcast_to(wt, (n, count))
    if wt.shape != (n, count):
        raise ValueError(f"weights must have shape ({n}, {count}) or ({count},), got {wt.shape}")
    _fits_float32(wt, "weights")
    wt = np.ascontiguousarray(wt, np.float32)
    if (isinstance(offset, bool) or not isinstance(offset, numbers.Real)
            or not -1 <= offset <= 1):
        raise ValueError(f"offset must be a number in [-1, 1], got {offset!r}")
    threads = resolve_threads(threads)
    shape = batches[0].shape
    dst = _batch_out(out, shape, np.uint8, images[0], squeeze)
    for k, im in enumerate(images[1:], 1):
        if np.may_share_memory(dst, im):
            raise ValueError(f"out must not overlap images[{k}]")
    if n:
        _filters_ext().blend(batches, dst, wt, float(offset), threads)
    return _restore_ndim(dst, out, squeeze)


def mean_gray(images: np.ndarray, weights: ArrayLike = (0.2989, 0.587, 0.114), *,
              threads: int | None = None) -> np.ndarray:
    """Mean grey level of each image, with the grey image floored to integers like
    torchvision's ``rgb_to_grayscale`` of a uint8 image (the mean its ``adjust_contrast``
    blends with).

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        Any strides. C = 1: the image itself; C = 4: alpha is ignored.
    weights : array_like, shape (3,)
        Weights of R, G, B in [0, 1e6] (as float32); the grey level of a pixel is
        ``floor(w0 R + w1 G + w2 B)`` summed in that order in float32.
    threads : int, optional

    Returns
    -------
    ndarray, float64, shape (N,)
        The exact mean of the integer grey levels.
    """
    src, _ = _images(images)
    n, h, w, c = src.shape
    wt = _gray_weights(weights, "weights")
    threads = resolve_threads(threads)
    sums = np.zeros(n, np.int64)
    if n:
        _filters_ext().gray_sums(src, sums, float(wt[0]), float(wt[1]), float(wt[2]), threads)
    return sums / float(h * w)


def histogram(images: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """Per-image, per-channel 256-bin histograms of a uint8 batch.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        Any strides.
    threads : int, optional

    Returns
    -------
    ndarray, int64, shape (N, C, 256)
        ``hist[i, c, v]``: the number of pixels of image ``i`` whose channel ``c`` is ``v``.
    """
    src, _ = _images(images)
    n, h, w, c = src.shape
    threads = resolve_threads(threads)
    hist = np.empty((n, c, 256), np.int64)  # the kernel zeroes it
    if n:
        _filters_ext().histogram(src, hist, threads)
    return hist


# ---- per-image step sequences ----

#: Step kinds of :func:`sequence` and their codes.
STEP_KINDS = {"none": 0, "lut": 1, "autocontrast": 2, "equalize": 3, "augment": 4,
              "sharpness": 5}


def _step_array(value, shape: tuple, name: str, default) -> np.ndarray:
    """A (N, S, ...) float64 step parameter, ``default`` when None."""
    if value is None:
        return np.ascontiguousarray(np.broadcast_to(default, shape), np.float64)
    arr = _float_array(value, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    _fits_float32(arr, name)
    return np.ascontiguousarray(arr)


def sequence(
    images: np.ndarray,
    kinds: ArrayLike,
    *,
    matrices: ArrayLike | None = None,
    colors: ArrayLike | None = None,
    gray: ArrayLike | None = None,
    tables: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    offset: float = 0.0,
    gray_weights: ArrayLike = (0.2989, 0.587, 0.114),
    interpolation: str = "bilinear",
    cval: ArrayLike = 0,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Run S steps on every image, each on the uint8 result of the one before, with
    different steps per image: one native call, each image staying in the caches from
    its first step to its last (the augmentation policies' kernel).

    Step ``s`` of image ``i`` is ``kinds[i, s]`` (codes in ``STEP_KINDS``):

    - ``0`` "none": no work.
    - ``1`` "lut": ``tables[i, s]`` per channel (as :func:`lut`).
    - ``2`` "autocontrast", ``3`` "equalize": torchvision's ``autocontrast`` and PIL's
      ``equalize`` (tables from the histogram of the step's input) on the colour
      channels; alpha keeps its values.
    - ``4`` "augment": :func:`augment` with the destination-to-source matrix
      ``matrices[i, s]`` (fill "constant" ``cval``) and the colour matrix
      ``colors[i, s]`` whose offset column gets ``gray[i, s, c] * m``, ``m`` the
      :func:`mean_gray` (``gray_weights``) of the step's input warped by the matrix
      (contrast about the mean of the image).
    - ``5`` "sharpness": inside the one-pixel frame, ``round(w0 x + w1 smooth(x) +
      offset)`` with ``(w0, w1) = weights[i, s]`` and ``smooth`` the 3x3 filter
      ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` rounded (torchvision's
      ``adjust_sharpness``); the frame keeps its values.

    Consecutive lookup steps ("none" between them allowed) run as one pass of composed
    tables. The results equal the same steps run one op at a time: ``lut``,
    ``histogram`` and the tables, ``augment``, ``filter3x3`` and ``blend``.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, C) or (N, H, W)
        Any strides.
    kinds : array_like of int, shape (N, S)
    matrices : array_like, shape (N, S, 2, 3), optional
        Destination-to-source affine matrices of "augment" steps (default identity).
    colors : array_like, shape (N, S, C, C + 1), optional
        Colour matrices of "augment" steps (default identity).
    gray : array_like, shape (N, S, C), optional
        Weights of the mean grey in the colour offsets (default 0: none).
    tables : ndarray, uint8, shape (N, S, C, 256), optional
        Tables of "lut" steps; required when there are any.
    weights : array_like, shape (N, S, 2), optional
        Weights of "sharpness" steps; required when there are any.
    offset : float
        Added in "sharpness" steps before rounding, -1..1.
    gray_weights : array_like, shape (3,)
        As :func:`mean_gray`'s ``weights``.
    interpolation : {"nearest", "bilinear"}
    cval : float or sequence of float
        Fill of the warps, per channel or for all.
    out : ndarray, optional
        C-contiguous, writeable, uint8, the images' shape, not overlapping them.
    threads : int, optional

    Returns
    -------
    ndarray, uint8, same shape as ``images``
    """
    src, squeeze = _images(images)
    n, h, w, c = src.shape
    k = np.asarray(kinds)
    if k.dtype.kind not in "iu" or k.ndim != 2 or k.shape[0] != n:
        raise ValueError(f"kinds must be ({n}, S) integers, got {k.dtype} {k.shape}")
    if k.size and (k.min() < 0 or k.max() >= len(STEP_KINDS)):
        raise ValueError(f"kinds must lie in 0..{len(STEP_KINDS) - 1} (see STEP_KINDS)")
    k = np.ascontiguousarray(k, np.int32)
    s = k.shape[1]
    inv = _step_array(matrices, (n, s, 2, 3), "matrices", np.eye(3)[:2])
    col = _step_array(colors, (n, s, c, c + 1), "colors", np.eye(c, c + 1))
    gr = _step_array(gray, (n, s, c), "gray", 0.0)
    # the kernel reads tables and weights of "lut" and "sharpness" steps only
    sharp = bool(np.any(k == STEP_KINDS["sharpness"]))
    if weights is None and sharp:
        raise ValueError("weights must be given: kinds has 'sharpness' steps")
    wt = (_step_array(weights, (n, s, 2), "weights", 0.0) if weights is not None
          else np.zeros(0)).astype(np.float32)
    if tables is None:
        if np.any(k == STEP_KINDS["lut"]):
            raise ValueError("tables must be given: kinds has 'lut' steps")
        tab = np.zeros(0, np.uint8)
    else:
        tab = np.asarray(tables)
        if tab.dtype != np.uint8:
            raise TypeError(f"tables must have dtype uint8, got {tab.dtype}")
        if tab.shape != (n, s, c, 256):
            raise ValueError(f"tables must have shape {(n, s, c, 256)}, got {tab.shape}")
        tab = np.ascontiguousarray(tab)
    if (isinstance(offset, bool) or not isinstance(offset, numbers.Real)
            or not -1 <= offset <= 1):
        raise ValueError(f"offset must be a number in [-1, 1], got {offset!r}")
    gw = _gray_weights(gray_weights, "gray_weights")
    interp = _choice(interpolation, INTERPOLATIONS, "interpolation")
    cv = _cval(cval, c)
    threads = resolve_threads(threads)
    dst = _batch_out(out, (n, h, w, c), np.uint8, images, squeeze)
    if n:
        _kernels.sequence(src, dst, k, inv, col, gr, gw.astype(np.float32), tab, wt,
                          float(offset), interp, cv, threads)
    return _restore_ndim(dst, out, squeeze)
