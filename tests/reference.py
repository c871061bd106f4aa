"""Plain float64 numpy reference implementations of fastaug's kernels.

Everything here is written for clarity, independently of the native code: vectorised
numpy over whole batches, no loops over pixels, no early rounding. Functions return
unrounded float64 values in ``(N, H, W, C)`` layout; tests round with :func:`to_uint8`
or compare floats with a tolerance.

Conventions (``/work/shared/DESIGN.md``): pixel centres at integer coordinates, x is the
column and y the row; an affine matrix maps source to destination unless ``inverse``.

Border modes map an integer index ``i`` onto a row or column of length ``n``. For
``n = 4`` (pixels ``a b c d`` = indices ``0 1 2 3``), indices ``-3 .. 6`` map to::

    constant  -  -  - | 0 1 2 3 | -  -  -    (outside: cval;  OpenCV BORDER_CONSTANT)
    nearest   0  0  0 | 0 1 2 3 | 3  3  3    (aaa|abcd|ddd;   OpenCV BORDER_REPLICATE)
    reflect   2  1  0 | 0 1 2 3 | 3  2  1    (cba|abcd|dcb;   OpenCV BORDER_REFLECT)
    mirror    3  2  1 | 0 1 2 3 | 2  1  0    (dcb|abcd|cba;   OpenCV BORDER_REFLECT_101)
    wrap      1  2  3 | 0 1 2 3 | 0  1  2    (bcd|abcd|abc;   OpenCV BORDER_WRAP)
"""

from __future__ import annotations

import numpy as np

FILL_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")
INTERPOLATIONS = ("nearest", "bilinear")

#: Tolerance, in source pixels, under which a nearest-neighbour coordinate counts as a
#: tie (fraction .5): the kernel may round either way there.
TIE_TOLERANCE = 1e-6


# ---- border handling --------------------------------------------------------------


def border_index(i, n, mode):
    """Map integer sample indices onto ``0 .. n-1`` with a fill mode.

    Parameters
    ----------
    i : array_like of int
        Indices, any integers (periodic modes reduce them modulo their period).
    n : int
        Length of the row or column, ``n >= 1``.
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
        Fill mode; see the module docstring for the table.

    Returns
    -------
    index : ndarray of int64
        Indices in ``0 .. n-1``; for "constant", outside indices are clipped (and
        meaningless: use `inside`).
    inside : ndarray of bool
        False where the sample takes ``cval`` (only ever False for "constant").
    """
    i = np.asarray(i, dtype=np.int64)
    inside = (i >= 0) & (i < n)
    if mode == "constant":
        return np.clip(i, 0, n - 1), inside
    if mode == "nearest":
        index = np.clip(i, 0, n - 1)
    elif mode == "reflect":
        r = np.mod(i, 2 * n)
        index = np.where(r < n, r, 2 * n - 1 - r)
    elif mode == "mirror":
        if n == 1:
            index = np.zeros_like(i)
        else:
            r = np.mod(i, 2 * n - 2)
            index = np.where(r < n, r, 2 * n - 2 - r)
    elif mode == "wrap":
        index = np.mod(i, n)
    else:
        raise ValueError(f"unknown fill mode {mode!r}")
    return index, np.ones(i.shape, dtype=bool)


# ---- input normalisation ------------------------------------------------------------


def as_nhwc(images):
    """Return ``images`` as a float64 ``(N, H, W, C)`` array (3-D input means C = 1)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images.astype(np.float64)


def channel_values(value, channels, default):
    """Broadcast a scalar or per-channel sequence (or None) to a float64 ``(C,)`` array."""
    if value is None:
        value = default
    value = np.asarray(value, dtype=np.float64).reshape(-1)
    if value.size == 1:
        value = np.repeat(value, channels)
    if value.size != channels:
        raise ValueError(f"expected 1 or {channels} values, got {value.size}")
    return value


def batch_of(array, n, shape):
    """Broadcast a per-batch parameter of trailing ``shape`` to ``(n, *shape)`` float64."""
    array = np.asarray(array, dtype=np.float64)
    if array.shape == tuple(shape):
        array = np.broadcast_to(array, (n, *shape))
    if array.shape != (n, *shape):
        raise ValueError(f"expected shape {shape} or {(n, *shape)}, got {array.shape}")
    return array


# ---- coordinates --------------------------------------------------------------------


def to_3x3(matrices):
    """Append the row ``[0, 0, 1]`` to ``(..., 2, 3)`` affine matrices."""
    matrices = np.asarray(matrices, dtype=np.float64)
    bottom = np.broadcast_to([0.0, 0.0, 1.0], (*matrices.shape[:-2], 1, 3))
    return np.concatenate([matrices, bottom], axis=-2)


def destination_to_source(matrices, n, inverse=False):
    """Destination-to-source ``(N, 2, 3)`` matrices.

    Parameters
    ----------
    matrices : array_like, shape (N, 2, 3) or (2, 3)
        Affine matrices.
    n : int
        Batch size.
    inverse : bool
        If True the matrices already map destination to source; otherwise they map
        source to destination and are inverted (in float64).
    """
    matrices = batch_of(matrices, n, (2, 3))
    if inverse:
        return matrices.copy()
    return np.linalg.inv(to_3x3(matrices))[:, :2, :]


def affine_source_coords(inverse_matrices, size):
    """Source coordinates of every output pixel.

    Parameters
    ----------
    inverse_matrices : ndarray, shape (N, 2, 3)
        Destination-to-source matrices.
    size : (int, int)
        Output ``(height, width)``.

    Returns
    -------
    sx, sy : ndarray, shape (N, height, width)
        Source column and row coordinates, ``Minv @ (x, y, 1)``.
    """
    height, width = size
    y, x = np.meshgrid(np.arange(height, dtype=np.float64),
                       np.arange(width, dtype=np.float64), indexing="ij")
    m = inverse_matrices[:, :, :, np.newaxis, np.newaxis]
    sx = m[:, 0, 0] * x + m[:, 0, 1] * y + m[:, 0, 2]
    sy = m[:, 1, 0] * x + m[:, 1, 1] * y + m[:, 1, 2]
    return sx, sy


def crop_source_coords(boxes, size):
    """Source coordinates of a resized crop, clamped to the box.

    Output pixel ``x`` samples ``left + (x + 0.5) * width / out_w - 0.5`` (cv2.resize's
    half-pixel mapping), clamped to ``[left, left + width - 1]`` (see
    `clamp_to_boxes`); rows likewise.

    Parameters
    ----------
    boxes : ndarray, shape (N, 4)
        ``(top, left, height, width)`` per image, in pixels.
    size : (int, int)
        Output ``(height, width)``.

    Returns
    -------
    sx, sy : ndarray, shape (N, height, width)
    """
    out_h, out_w = size
    top, left, height, width = (boxes[:, k, np.newaxis] for k in range(4))
    xs = left + (np.arange(out_w) + 0.5) * (width / out_w) - 0.5
    ys = top + (np.arange(out_h) + 0.5) * (height / out_h) - 0.5
    xs = clamp_to_boxes(xs, left, width)
    ys = clamp_to_boxes(ys, top, height)
    n = len(boxes)
    sx = np.broadcast_to(xs[:, np.newaxis, :], (n, out_h, out_w))
    sy = np.broadcast_to(ys[:, :, np.newaxis], (n, out_h, out_w))
    return sx, sy


def clamp_to_boxes(coords, start, length):
    """Clamp coordinates to ``[start, start + length - 1]`` (broadcasting).

    A box shorter than one pixel clamps to ``start`` (the upper bound never falls below
    the lower one).
    """
    return np.minimum(np.maximum(coords, start), np.maximum(start, start + length - 1))


def nearest_ties(sx, sy, tolerance=TIE_TOLERANCE):
    """Mask of output pixels whose nearest-neighbour source is ambiguous.

    True where the fractional part of either coordinate is within `tolerance` of 0.5,
    i.e. where ``floor(s + 0.5)`` may legitimately differ by one between float paths.
    """
    def tie(s):
        return np.abs(s - np.floor(s) - 0.5) < tolerance

    return tie(sx) | tie(sy)


# ---- sampling -----------------------------------------------------------------------


def gather(images, xi, yi, fill_mode, cval):
    """Fetch pixels ``images[n, yi, xi]`` through the border map.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C), float64
    xi, yi : ndarray of int, shape (N, h, w)
        Column and row indices, any integers.
    fill_mode : str
    cval : ndarray, shape (C,)

    Returns
    -------
    ndarray, shape (N, h, w, C)
    """
    n, height, width, _ = images.shape
    x, x_inside = border_index(xi, width, fill_mode)
    y, y_inside = border_index(yi, height, fill_mode)
    batch = np.arange(n).reshape(n, 1, 1)
    values = images[batch, y, x]
    inside = (x_inside & y_inside)[..., np.newaxis]
    return np.where(inside, values, cval)


def sample(images, sx, sy, interpolation="bilinear", fill_mode="constant", cval=0):
    """Sample images at source coordinates.

    Parameters
    ----------
    images : array_like, shape (N, H, W, C) or (N, H, W)
        Source batch.
    sx, sy : ndarray, shape (N, h, w)
        Source column and row coordinates per output pixel.
    interpolation : {"nearest", "bilinear"}
        "nearest" takes index ``floor(s + 0.5)``; "bilinear" blends the four neighbours
        of ``floor(s)`` with weights ``s - floor(s)``, each neighbour mapped through the
        fill mode separately (so with "constant" the edge blends with `cval`).
    fill_mode : str
        One of :data:`FILL_MODES`.
    cval : scalar or sequence
        Fill value(s) for "constant".

    Returns
    -------
    ndarray, shape (N, h, w, C), float64
        Unrounded samples.
    """
    images = as_nhwc(images)
    cval = channel_values(cval, images.shape[-1], 0)
    if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sy))):
        raise ValueError("non-finite source coordinates")
    if interpolation == "nearest":
        xi = np.floor(sx + 0.5).astype(np.int64)
        yi = np.floor(sy + 0.5).astype(np.int64)
        return gather(images, xi, yi, fill_mode, cval)
    if interpolation != "bilinear":
        raise ValueError(f"unknown interpolation {interpolation!r}")
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    fx = (sx - x0)[..., np.newaxis]
    fy = (sy - y0)[..., np.newaxis]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)

    def p(dy, dx):
        return gather(images, x0 + dx, y0 + dy, fill_mode, cval)

    top = (1 - fx) * p(0, 0) + fx * p(0, 1)
    bottom = (1 - fx) * p(1, 0) + fx * p(1, 1)
    return (1 - fy) * top + fy * bottom


# ---- operations ---------------------------------------------------------------------


def warp_affine(images, matrices, size=None, *, inverse=False, interpolation="bilinear",
                fill_mode="constant", cval=0):
    """Affine warp of a batch, like ``cv2.warpAffine`` per image.

    Parameters
    ----------
    images : array_like, shape (N, H, W, C) or (N, H, W), uint8
    matrices : array_like, shape (N, 2, 3) or (2, 3)
        Source-to-destination matrices (destination-to-source if `inverse`).
    size : (int, int), optional
        Output ``(height, width)``; default the input size.
    inverse, interpolation, fill_mode, cval
        As in ``fastaug.ops.warp_affine``.

    Returns
    -------
    ndarray, shape (N, height, width, C), float64
        Unrounded samples.
    """
    images = as_nhwc(images)
    n, height, width, _ = images.shape
    size = (height, width) if size is None else tuple(size)
    minv = destination_to_source(matrices, n, inverse)
    sx, sy = affine_source_coords(minv, size)
    return sample(images, sx, sy, interpolation, fill_mode, cval)


def resized_crop(images, boxes, size, *, interpolation="bilinear", fill_mode="constant",
                 cval=0):
    """Crop a box out of every image and resize it to `size`.

    Parameters
    ----------
    images : array_like, shape (N, H, W, C) or (N, H, W), uint8
    boxes : array_like, shape (N, 4) or (4,)
        ``(top, left, height, width)`` per image, floats allowed.
    size : (int, int)
        Output ``(height, width)``.
    interpolation, fill_mode, cval
        As in ``fastaug.ops.resized_crop``.

    Returns
    -------
    ndarray, shape (N, height, width, C), float64
    """
    images = as_nhwc(images)
    boxes = batch_of(boxes, len(images), (4,))
    sx, sy = crop_source_coords(boxes, size)
    return sample(images, sx, sy, interpolation, fill_mode, cval)


def color_matrix(values, matrices):
    """Apply per-image colour matrices, clamping the result to ``[0, 255]``.

    Parameters
    ----------
    values : array_like, shape (N, H, W, C) or (N, H, W)
        Pixel values (uint8 or already-sampled floats).
    matrices : array_like, shape (N, C, C + 1) or (C, C + 1)
        ``out[c] = sum_k M[c, k] * in[k] + M[c, C]``.

    Returns
    -------
    ndarray, shape (N, H, W, C), float64
        Clamped, unrounded values.
    """
    values = as_nhwc(values)
    n, _, _, channels = values.shape
    matrices = batch_of(matrices, n, (channels, channels + 1))
    linear = np.einsum("nck,nhwk->nhwc", matrices[:, :, :channels], values)
    return np.clip(linear + matrices[:, np.newaxis, np.newaxis, :, channels], 0, 255)


def normalize(values, mean=None, std=None, *, scale=1 / 255, layout="NHWC"):
    """``(v * scale - mean) / std`` per channel, in NHWC or NCHW layout.

    Parameters
    ----------
    values : array_like, shape (N, H, W, C) or (N, H, W)
    mean, std : scalar or sequence of C, optional
        Default 0 and 1.
    scale : float
    layout : {"NHWC", "NCHW"}

    Returns
    -------
    ndarray, float64
        ``(N, H, W, C)`` or ``(N, C, H, W)``.
    """
    values = as_nhwc(values)
    channels = values.shape[-1]
    mean = channel_values(mean, channels, 0.0)
    std = channel_values(std, channels, 1.0)
    out = (values * scale - mean) / std
    if layout == "NCHW":
        return out.transpose(0, 3, 1, 2)
    if layout != "NHWC":
        raise ValueError(f"unknown layout {layout!r}")
    return out


def augment(images, matrices=None, colors=None, size=None, *, boxes=None, inverse=False,
            interpolation="bilinear", fill_mode="constant", cval=0, mean=None, std=None,
            scale=None, layout="NHWC", dtype="uint8"):
    """The fused chain: geometric sample, colour matrix, output conversion.

    Geometry: source point ``Minv @ (x, y, 1)`` (`matrices` None is the identity), then
    clamped to `boxes` when given (``resized_crop`` is the crop matrix plus its box).
    Samples stay unrounded, the colour matrix result is clamped to ``[0, 255]``, then
    dtype "uint8" is left for the caller to round and "float32" is normalised with
    `scale` (default 1/255), `mean` and `std`.

    Returns
    -------
    ndarray, float64
        ``(N, H, W, C)`` for NHWC (uint8 values unrounded), ``(N, C, H, W)`` for NCHW.
    """
    images = as_nhwc(images)
    n, height, width, _ = images.shape
    size = (height, width) if size is None else tuple(size)
    if matrices is None:
        matrices = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    sx, sy = affine_source_coords(destination_to_source(matrices, n, inverse), size)
    if boxes is not None:
        boxes = batch_of(boxes, n, (4,))[:, :, np.newaxis, np.newaxis]
        sy = clamp_to_boxes(sy, boxes[:, 0], boxes[:, 2])
        sx = clamp_to_boxes(sx, boxes[:, 1], boxes[:, 3])
    values = sample(images, sx, sy, interpolation, fill_mode, cval)
    if colors is not None:
        values = color_matrix(values, colors)
    if dtype == "uint8":
        if layout == "NCHW":
            return values.transpose(0, 3, 1, 2)
        return values
    return normalize(values, mean, std, scale=1 / 255 if scale is None else scale,
                     layout=layout)


def crop_matrices(boxes, size):
    """Destination-to-source matrices of the resized-crop mapping (without the clamp).

    Parameters
    ----------
    boxes : ndarray, shape (N, 4)
    size : (int, int)

    Returns
    -------
    ndarray, shape (N, 2, 3)
    """
    top, left, height, width = np.asarray(boxes, dtype=np.float64).T
    out_h, out_w = size
    m = np.zeros((len(top), 2, 3))
    m[:, 0, 0] = width / out_w
    m[:, 0, 2] = left + 0.5 * width / out_w - 0.5
    m[:, 1, 1] = height / out_h
    m[:, 1, 2] = top + 0.5 * height / out_h - 0.5
    return m


def to_uint8(values):
    """Round half up and saturate to uint8 (the kernels' output conversion)."""
    return np.clip(np.floor(np.asarray(values) + 0.5), 0, 255).astype(np.uint8)
