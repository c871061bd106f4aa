"""Keras-compatible ``ImageDataGenerator`` built on the fused native kernel.

``from fastaug import ImageDataGenerator`` replaces
``keras.preprocessing.image.ImageDataGenerator`` (the legacy one, in Keras 3 at
``keras.src.legacy.preprocessing.image``): same constructor, same methods, same random
draws for the same seed, and the same results within interpolation rounding. The
difference is speed: :meth:`ImageDataGenerator.flow` and
:meth:`ImageDataGenerator.flow_from_directory` build one destination-to-source matrix
per image with vectorised numpy and transform the whole batch with ONE call of
:func:`fastaug.ops.augment`, instead of one ``scipy.ndimage.affine_transform`` call per
image and channel.
"""
# Keras draws from the legacy global np.random; reproducing its draws needs the same calls.
# ruff: noqa: NPY002
from __future__ import annotations

import collections
import math
import numbers
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Union

import numpy as np

from . import ops
from ._pool import OutputPool

__all__ = ["DirectoryIterator", "ImageDataGenerator", "NumpyArrayIterator"]

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")
_INTERPOLATIONS = {0: "nearest", 1: "bilinear"}
_WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

Range = Union[float, int, Sequence[float]]


# ---- matrices --------------------------------------------------------------------


def keras_matrices(params: dict[str, np.ndarray], h: int, w: int) -> np.ndarray:
    """Destination-to-source matrices of Keras' affine transform plus its flips.

    Keras composes ``rotation @ shift @ shear @ zoom`` (each skipped when neutral)
    about ``o = (h / 2 - 0.5, w / 2 - 0.5)`` and hands scipy the matrix with rows and
    columns swapped (``M' = P M P``). scipy maps an output ``(row, col)`` to an input
    ``M' @ (row, col)``, so in fastaug's ``(x, y)`` convention the map is ``M`` itself:
    its first coordinate is the column. Hence Keras' quirks: ``tx`` (drawn from
    ``height_shift_range`` and scaled by the height) moves columns, and the column
    centre is ``h / 2 - 0.5`` (exact only for square images). The flips that Keras
    applies after the warp are composed on the destination side.

    Parameters
    ----------
    params : dict of str to ndarray, each shape (N,)
        ``theta``, ``shear`` (degrees), ``tx``, ``ty`` (pixels), ``zx``, ``zy``,
        ``flip_horizontal``, ``flip_vertical``.
    h, w : int
        Image height and width.

    Returns
    -------
    ndarray, float64, shape (N, 2, 3)
    """
    theta = np.deg2rad(np.asarray(params["theta"], np.float64))
    n = theta.shape[0]
    tx = np.asarray(params["tx"], np.float64)
    ty = np.asarray(params["ty"], np.float64)
    shear = np.deg2rad(np.asarray(params["shear"], np.float64))
    zx = np.asarray(params["zx"], np.float64)
    zy = np.asarray(params["zy"], np.float64)
    m = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()

    def stack(a, b, c, d, e, f):
        out = np.zeros((n, 3, 3))
        out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = a, b, c
        out[:, 1, 0], out[:, 1, 1], out[:, 1, 2] = d, e, f
        out[:, 2, 2] = 1.0
        return out

    # Same factors, same order as Keras (identity factors change nothing: x*1 + y*0).
    m = m @ stack(np.cos(theta), -np.sin(theta), 0, np.sin(theta), np.cos(theta), 0)
    m = m @ stack(1, 0, tx, 0, 1, ty)
    m = m @ stack(1, -np.sin(shear), 0, 0, np.cos(shear), 0)
    m = m @ stack(zx, 0, 0, 0, zy, 0)
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    m = offset @ m @ reset
    fh = np.asarray(params["flip_horizontal"], bool)
    fv = np.asarray(params["flip_vertical"], bool)
    flip = stack(np.where(fh, -1.0, 1.0), 0, np.where(fh, w - 1.0, 0.0),
                 0, np.where(fv, -1.0, 1.0), np.where(fv, h - 1.0, 0.0))
    return np.ascontiguousarray((m @ flip)[:, :2, :])


def _as_uint8(x: np.ndarray) -> np.ndarray | None:
    """``x`` as uint8 if that loses nothing (integral values in 0..255), else None."""
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "iu":
        if x.size and (x.min() < 0 or x.max() > 255):
            return None
        return x.astype(np.uint8)
    if x.dtype.kind != "f":
        return None
    u = x.astype(np.uint8, casting="unsafe")
    return u if np.array_equal(u, x) else None


# ---- the generator ---------------------------------------------------------------


class ImageDataGenerator:
    """Keras' legacy ``ImageDataGenerator``, with every batch augmented in one native call.

    Parameters
    ----------
    featurewise_center, samplewise_center, featurewise_std_normalization,
    samplewise_std_normalization, zca_whitening : bool
    zca_epsilon : float
    rotation_range : float
        Degrees; ``theta ~ U(-r, r)``.
    width_shift_range, height_shift_range : float, int or sequence
        A float < 1 is a fraction of the size, otherwise pixels; an int or a sequence
        draws a value with ``np.random.choice`` and a random sign, as Keras does.
    brightness_range : (float, float), optional
    shear_range : float
        Degrees.
    zoom_range : float or (float, float)
        ``[1 - z, 1 + z]`` for a float; x and y zooms are drawn independently.
    channel_shift_range : float
    fill_mode : {"constant", "nearest", "reflect", "wrap"}
    cval : float
    horizontal_flip, vertical_flip : bool
    rescale : float, optional
    preprocessing_function : callable, optional
        Called on each image (float array, shape of one image) first in
        :meth:`standardize`, as Keras does.
    data_format : {"channels_last", "channels_first"}, optional
        Default ``"channels_last"`` (Keras' own default image data format).
    validation_split : float
    interpolation_order : int
        0 (nearest) and 1 (bilinear) run natively; other orders fall back to
        ``scipy.ndimage`` image by image, exactly like Keras.
    dtype : str, optional
        Output dtype, default ``"float32"``.

    Notes
    -----
    Keras behaviours reproduced on purpose:

    - random draws come from numpy's global ``np.random`` in Keras' order (theta,
      tx, ty, shear, the two zooms, the two flip coin tosses (always drawn),
      channel shift, brightness); ``get_random_transform(shape, seed)`` gives Keras'
      dict for the same seed, and ``flow(seed=s)`` reseeds with ``s + batches_seen``
      like Keras' iterator, so it yields Keras' batches;
    - ``tx`` is drawn from ``height_shift_range`` and scaled by the height, ``ty`` from
      ``width_shift_range`` and scaled by the width, yet ``tx`` moves columns and ``ty``
      rows (Keras' ``P M P`` axis swap; a positive shift moves the content left or
      up, since the matrix maps output to input), and the centre of rotation is
      ``(h / 2 - 0.5, w / 2 - 0.5)`` in (column, row) order: only square images
      rotate about their true centre;
    - the matrix is ``rotation @ shift @ shear @ zoom`` with the shear
      ``[[1, -sin s, 0], [0, cos s, 0]]`` and independent zooms;
    - order of operations: warp, channel shift (one value added to every channel, then
      clipped to the warped image's own min and max), flips, brightness (through an
      8-bit PIL image: values truncated, multiplied, truncated again), then
      :meth:`standardize` (preprocessing_function, rescale, samplewise centre and
      std (+1e-6), featurewise centre and std (+1e-6), ZCA).

    Differences from Keras (scipy's ``affine_transform``):

    - ``fill_mode="constant"`` blends the image with ``cval`` over the last pixel
      (OpenCV's rule); scipy switches to ``cval`` abruptly at the edge, so values differ
      within one pixel of where the fill region starts;
    - ``fill_mode="wrap"``: scipy's legacy ``'wrap'`` repeats with period ``n - 1``
      (first and last pixel overlap), not ``n``. fastaug wraps with the clean period
      ``n`` (scipy's ``'grid-wrap'``), so the wrapped part of the image is offset by one
      pixel per period from Keras'; pixels sampled inside the image agree;
    - order 1 values agree to float32 rounding (about 1e-5 grey levels); order 0
      picks the same pixel except at exact rounding ties of the source coordinate;
    - brightness works on ``channels_first`` images too (Keras hands them to PIL as
      if they were channels-last and fails);
    - ``flow`` keeps uint8 data as uint8 (Keras keeps a float32 copy) and converts
      integer-valued float data to uint8 once, without loss;
    - ``apply_transform`` keeps the input dtype like Keras; integer images are rounded;
    - ``flow_from_directory`` decodes with OpenCV rather than PIL (JPEG decoders may
      differ by a grey level; PNG is identical), takes ``workers`` decoding threads and
      ``on_error="warn"`` to leave undecodable files out of their batch.

    Inputs whose values are not integers in 0..255, more than 4 channels, or
    ``interpolation_order`` > 1, take the per-image scipy path (Keras' own algorithm).
    """

    def __init__(
        self,
        featurewise_center: bool = False,
        samplewise_center: bool = False,
        featurewise_std_normalization: bool = False,
        samplewise_std_normalization: bool = False,
        zca_whitening: bool = False,
        zca_epsilon: float = 1e-6,
        rotation_range: float = 0,
        width_shift_range: Range = 0.0,
        height_shift_range: Range = 0.0,
        brightness_range: Sequence[float] | None = None,
        shear_range: float = 0.0,
        zoom_range: Range = 0.0,
        channel_shift_range: float = 0.0,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        rescale: float | None = None,
        preprocessing_function: Callable[[np.ndarray], np.ndarray] | None = None,
        data_format: str | None = None,
        validation_split: float = 0.0,
        interpolation_order: int = 1,
        dtype: str | None = None,
    ) -> None:
        if data_format is None:
            data_format = "channels_last"
        if dtype is None:
            dtype = "float32"
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.zoom_range = zoom_range
        self.channel_shift_range = channel_shift_range
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"fill_mode must be one of {list(_FILL_MODES)}, got {fill_mode!r}")
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.dtype = dtype
        if isinstance(interpolation_order, bool) or not isinstance(
                interpolation_order, numbers.Integral) or not 0 <= interpolation_order <= 5:
            raise ValueError(f"interpolation_order must be an integer 0..5, got "
                             f"{interpolation_order!r}")
        self.interpolation_order = int(interpolation_order)
        if data_format not in {"channels_last", "channels_first"}:
            raise ValueError(
                '`data_format` should be `"channels_last"` (channel after row and column) or '
                f'`"channels_first"` (channel before row and column). Received: {data_format}'
            )
        self.data_format = data_format
        if data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        if validation_split and not 0 < validation_split < 1:
            raise ValueError("`validation_split` must be strictly between 0 and 1. "
                             f" Received: {validation_split}")
        self._validation_split = validation_split
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.zca_whitening_matrix: np.ndarray | None = None
        if isinstance(zoom_range, (float, int)):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif len(zoom_range) == 2 and all(isinstance(v, (float, int)) for v in zoom_range):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError("`zoom_range` should be a float or a tuple or list of two "
                             f"floats. Received: {zoom_range}")
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which "
                              "overrides setting of `featurewise_center`.", stacklevel=2)
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("This ImageDataGenerator specifies `zca_whitening` which "
                              "overrides setting of`featurewise_std_normalization`.",
                              stacklevel=2)
        if featurewise_std_normalization and not featurewise_center:
            self.featurewise_center = True
            warnings.warn("This ImageDataGenerator specifies `featurewise_std_normalization`, "
                          "which overrides setting of `featurewise_center`.", stacklevel=2)
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn("This ImageDataGenerator specifies `samplewise_std_normalization`, "
                          "which overrides setting of `samplewise_center`.", stacklevel=2)
        if brightness_range is not None and (
                not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2):
            raise ValueError("`brightness_range should be tuple or list of two floats. "
                             f"Received: {brightness_range}")
        self.brightness_range = brightness_range

    # ---- iterators -----------------------------------------------------------------

    def flow(
        self,
        x: Any,
        y: Any = None,
        batch_size: int = 32,
        shuffle: bool = True,
        sample_weight: Any = None,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        ignore_class_split: bool = False,
        subset: str | None = None,
        prefetch: int = 2,
    ) -> NumpyArrayIterator:
        """Iterator over augmented batches of ``x`` (and ``y``, ``sample_weight``).

        Parameters
        ----------
        x : array_like, shape (N, H, W, C) or (N, C, H, W), or a tuple (images, misc)
            uint8 images are used as they are; other dtypes whose values are integers in
            0..255 are converted to uint8 once (no loss); anything else takes the
            per-image scipy path.
        y, sample_weight : array_like, shape (N, ...), optional
        batch_size : int
        shuffle : bool
        seed : int, optional
            Reseeds ``np.random`` with ``seed + batches_seen`` before each batch, as Keras.
        save_to_dir, save_prefix, save_format : optional
            Write every augmented image (rescaled to 0..255) for debugging.
        ignore_class_split : bool
        subset : {"training", "validation"}, optional
        prefetch : int
            Batches prepared ahead in a background thread (see :class:`Iterator`);
            0 makes every batch in the calling thread.

        Returns
        -------
        NumpyArrayIterator
            Yields ``x_batch`` (float32 by default), ``(x_batch, y_batch)`` or
            ``(x_batch, y_batch, sample_weight_batch)``.
        """
        return NumpyArrayIterator(
            x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
            seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
            save_prefix=save_prefix, save_format=save_format,
            ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype,
            prefetch=prefetch)

    def flow_from_directory(
        self,
        directory: str,
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: Sequence[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        follow_links: bool = False,
        subset: str | None = None,
        interpolation: str = "nearest",
        keep_aspect_ratio: bool = False,
        workers: int | None = None,
        on_error: str = "raise",
        prefetch: int = 2,
    ) -> DirectoryIterator:
        """Iterator over augmented batches of image files, one sub-directory per class.

        Files are decoded with OpenCV (``cv2.imdecode``, which releases the GIL) in a
        pool of ``workers`` threads, resized to ``target_size`` and augmented with one
        native call per batch. Only files with Keras' extensions (png, jpg, jpeg, bmp,
        ppm, tif, tiff) are listed; a file that cannot be decoded raises ``ValueError``
        naming it.

        Parameters
        ----------
        directory : str
        target_size : (int, int)
            ``(height, width)``.
        color_mode : {"rgb", "rgba", "grayscale"}
        classes : list of str, optional
            Sub-directory names; default all sub-directories, sorted.
        class_mode : {"categorical", "binary", "sparse", "input", None}
        batch_size, shuffle, seed, save_to_dir, save_prefix, save_format, follow_links,
        subset : as Keras
        interpolation : {"nearest", "bilinear", "bicubic", "lanczos", "box", "area"}
            Resampling for the resize to ``target_size``.
        keep_aspect_ratio : bool
            Centre-crop to the target aspect ratio before resizing, as Keras.
        workers : int, optional
            Decoding threads; default ``min(8, os.cpu_count())``.
        on_error : {"raise", "warn"}
            A file that cannot be decoded raises ``ValueError`` naming it, or with
            ``"warn"`` is left out of its batch (and the labels) with a warning.
        prefetch : int
            Batches decoded and augmented ahead in a background thread (see
            :class:`Iterator`); 0 makes every batch in the calling thread.

        Returns
        -------
        DirectoryIterator
        """
        return DirectoryIterator(
            directory, self, target_size=target_size, color_mode=color_mode,
            classes=classes, class_mode=class_mode, data_format=self.data_format,
            batch_size=batch_size, shuffle=shuffle, seed=seed, save_to_dir=save_to_dir,
            save_prefix=save_prefix, save_format=save_format, follow_links=follow_links,
            subset=subset, interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio,
            dtype=self.dtype, workers=workers, on_error=on_error, prefetch=prefetch)

    # ---- standardisation -----------------------------------------------------------

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Keras' normalisation, in place where Keras works in place.

        Parameters
        ----------
        x : ndarray, float
            One image or a batch (the statistics are per call: for a batch, samplewise
            centring uses the whole batch, exactly like Keras).

        Returns
        -------
        ndarray
            ``preprocessing_function``, ``rescale``, samplewise, featurewise and ZCA,
            in that order.
        """
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        return self._standardize_after_rescale(x, samplewise_axes=None)

    def _standardize_after_rescale(self, x: np.ndarray, samplewise_axes) -> np.ndarray:
        """The steps of :meth:`standardize` after ``rescale``; ``samplewise_axes``
        makes the samplewise statistics per image of a batch."""
        if self.samplewise_center:
            x -= np.mean(x, axis=samplewise_axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=samplewise_axes, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                warnings.warn("This ImageDataGenerator specifies `featurewise_center`, but "
                              "it hasn't been fit on any training data. Fit it first by "
                              "calling `.fit(numpy_data)`.", stacklevel=2)
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-6
            else:
                warnings.warn("This ImageDataGenerator specifies "
                              "`featurewise_std_normalization`, but it hasn't been fit on "
                              "any training data. Fit it first by calling `.fit(numpy_data)`.",
                              stacklevel=2)
        if self.zca_whitening:
            if self.zca_whitening_matrix is not None:
                flat_x = x.reshape(-1, math.prod(x.shape[-3:]))
                white_x = flat_x @ self.zca_whitening_matrix
                x = np.reshape(white_x, x.shape)
            else:
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, but it "
                              "hasn't been fit on any training data. Fit it first by "
                              "calling `.fit(numpy_data)`.", stacklevel=2)
        return x

    # ---- random parameters ---------------------------------------------------------

    def get_random_transform(self, img_shape: Sequence[int],
                             seed: int | None = None) -> dict[str, Any]:
        """Random parameters for one image: Keras' dict, from Keras' draws.

        Parameters
        ----------
        img_shape : tuple of int
            Shape of one image, in ``data_format``.
        seed : int, optional
            Calls ``np.random.seed(seed)`` first (the global generator, as Keras).

        Returns
        -------
        dict
            ``theta``, ``tx``, ``ty``, ``shear``, ``zx``, ``zy``, ``flip_horizontal``,
            ``flip_vertical``, ``channel_shift_intensity``, ``brightness``.
        """
        img_row_axis = self.row_axis - 1
        img_col_axis = self.col_axis - 1
        if seed is not None:
            np.random.seed(seed)
        # Every line below draws exactly what Keras draws, in Keras' order.
        theta = np.random.uniform(-self.rotation_range, self.rotation_range) \
            if self.rotation_range else 0
        tx = self._shift(self.height_shift_range, img_shape[img_row_axis])
        ty = self._shift(self.width_shift_range, img_shape[img_col_axis])
        shear = np.random.uniform(-self.shear_range, self.shear_range) \
            if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (np.random.random() < 0.5) * self.horizontal_flip
        flip_vertical = (np.random.random() < 0.5) * self.vertical_flip
        channel_shift_intensity = None
        if self.channel_shift_range != 0:
            channel_shift_intensity = np.random.uniform(-self.channel_shift_range,
                                                        self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = np.random.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift_intensity, "brightness": brightness}

    @staticmethod
    def _shift(shift_range, size: int):
        if not shift_range:
            return 0
        try:  # 1-D array-like or int (Keras' own test, kept for identical draws)
            t = np.random.choice(shift_range)
            t *= np.random.choice([-1, 1])
        except ValueError:  # floating point
            t = np.random.uniform(-shift_range, shift_range)
        if np.max(shift_range) < 1:
            t *= size
        return t

    def _random_batch_params(self, n: int, img_shape: Sequence[int]) -> dict[str, np.ndarray]:
        """Parameters of ``n`` consecutive :meth:`get_random_transform` calls, as arrays.

        When every range is a float, one Keras call consumes a fixed number of doubles
        from ``np.random`` (``uniform(a, b) = a + (b - a) * random_sample()``), so the
        whole batch is one ``random_sample`` call giving the very same values; lists
        and ints draw a variable amount and go through the per-image loop.
        """
        def is_float_range(r):
            return not r or isinstance(r, float)

        names = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal",
                 "flip_vertical", "channel_shift_intensity", "brightness")
        if not (is_float_range(self.height_shift_range) and is_float_range(
                self.width_shift_range)):
            dicts = [self.get_random_transform(img_shape) for _ in range(n)]
            return {k: np.array([np.nan if d[k] is None else d[k] for d in dicts], np.float64)
                    for k in names}
        img_row_axis, img_col_axis = self.row_axis - 1, self.col_axis - 1
        cols = []  # (name, low, high) for each double drawn per image, in Keras' order
        if self.rotation_range:
            cols.append(("theta", -self.rotation_range, self.rotation_range))
        if self.height_shift_range:
            cols.append(("tx", -self.height_shift_range, self.height_shift_range))
        if self.width_shift_range:
            cols.append(("ty", -self.width_shift_range, self.width_shift_range))
        if self.shear_range:
            cols.append(("shear", -self.shear_range, self.shear_range))
        if not (self.zoom_range[0] == 1 and self.zoom_range[1] == 1):
            cols.append(("zx", self.zoom_range[0], self.zoom_range[1]))
            cols.append(("zy", self.zoom_range[0], self.zoom_range[1]))
        cols.append(("flip_horizontal", None, None))
        cols.append(("flip_vertical", None, None))
        if self.channel_shift_range != 0:
            cols.append(("channel_shift_intensity", -self.channel_shift_range,
                         self.channel_shift_range))
        if self.brightness_range is not None:
            cols.append(("brightness", self.brightness_range[0], self.brightness_range[1]))
        u = np.random.random_sample(n * len(cols)).reshape(n, len(cols))
        out = {"theta": np.zeros(n), "tx": np.zeros(n), "ty": np.zeros(n),
               "shear": np.zeros(n), "zx": np.ones(n), "zy": np.ones(n),
               "channel_shift_intensity": np.full(n, np.nan), "brightness": np.full(n, np.nan)}
        for j, (name, lo, hi) in enumerate(cols):
            if name == "flip_horizontal":
                out[name] = (u[:, j] < 0.5) & bool(self.horizontal_flip)
            elif name == "flip_vertical":
                out[name] = (u[:, j] < 0.5) & bool(self.vertical_flip)
            else:
                out[name] = lo + (hi - lo) * u[:, j]
        if self.height_shift_range and np.max(self.height_shift_range) < 1:
            out["tx"] = out["tx"] * img_shape[img_row_axis]
        if self.width_shift_range and np.max(self.width_shift_range) < 1:
            out["ty"] = out["ty"] * img_shape[img_col_axis]
        return out

    # ---- transforms ----------------------------------------------------------------

    def apply_transform(self, x: np.ndarray, transform_parameters: dict[str, Any]) -> np.ndarray:
        """Transform one image by the parameters of :meth:`get_random_transform`.

        Parameters
        ----------
        x : ndarray, shape (H, W, C) or (C, H, W) per ``data_format``
        transform_parameters : dict
            Missing keys are neutral, as in Keras.

        Returns
        -------
        ndarray, same shape and dtype as ``x`` (as Keras: integer images are rounded)
        """
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"x must be one image of rank 3, got shape {x.shape}")
        p = {k: np.array([v]) for k, v in _complete(transform_parameters).items()}
        out = self._transform_batch(x[np.newaxis], p, standardize=False)[0]
        # Keras (scipy) returns the input's dtype; integer outputs are rounded.
        if x.dtype.kind in "iu":
            info = np.iinfo(x.dtype)
            return np.clip(np.rint(out), info.min, info.max).astype(x.dtype)
        return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """``apply_transform(x, get_random_transform(x.shape, seed))``."""
        params = self.get_random_transform(x.shape, seed)
        return self.apply_transform(x, params)

    def _transform_batch(self, xb: np.ndarray, params: dict[str, np.ndarray],
                         standardize: bool, xb_u8: np.ndarray | None = None,
                         buffers: OutputPool | None = None) -> np.ndarray:
        """Augment (and optionally standardize) a batch in ``data_format``.

        Parameters
        ----------
        xb : ndarray, shape (N, H, W, C) or (N, C, H, W)
        params : dict of str to ndarray, each shape (N,)
            NaN marks an absent channel shift or brightness.
        standardize : bool
        xb_u8 : ndarray, uint8, optional
            ``xb`` already known to be lossless uint8 (skips the check).
        buffers : OutputPool, optional
            Where the native output's memory may come from (an iterator's batches).

        Returns
        -------
        ndarray, ``dtype``, same shape as ``xb``
        """
        cf = self.data_format == "channels_first"
        nhwc = np.moveaxis(xb if xb_u8 is None else xb_u8, 1, 3) if cf else (
            xb if xb_u8 is None else xb_u8)
        c = nhwc.shape[3]
        u8 = nhwc if xb_u8 is not None else _as_uint8(nhwc)
        out_dtype = np.dtype(self.dtype)
        # The kernel fills with a uint8 cval: other values take the exact scipy path.
        cval_ok = self.fill_mode != "constant" or (
            0 <= self.cval <= 255 and float(self.cval).is_integer())
        native = (u8 is not None and c in (1, 3, 4) and self.interpolation_order <= 1
                  and out_dtype.kind == "f" and cval_ok)
        if not native:
            return self._transform_batch_scipy(xb, params, standardize)
        out = self._transform_batch_native(u8, params, standardize, cf, buffers)
        # float64 users get float32 precision, cast once
        return out.astype(out_dtype, copy=False)

    def _transform_batch_native(self, u8: np.ndarray, params: dict[str, np.ndarray],
                                standardize: bool, cf: bool,
                                buffers: OutputPool | None = None) -> np.ndarray:
        """The native path: one ``ops.augment`` call, then what cannot be fused."""
        n, h, w, c = u8.shape
        shift = np.asarray(params["channel_shift_intensity"], np.float64)
        bright = np.asarray(params["brightness"], np.float64)
        has_shift = bool(np.any(~np.isnan(shift)))
        has_bright = bool(np.any(~np.isnan(bright)))
        m = keras_matrices(params, h, w)
        # Fuse rescale and featurewise centre/std into the kernel's (v*scale - mean)/std
        # only when nothing that Keras runs before them is left for numpy.
        fuse = (standardize and not (has_shift or has_bright or self.preprocessing_function
                                     or self.samplewise_center))
        scale, mean, std = 1.0, None, None
        if fuse:
            scale = float(self.rescale) if self.rescale else 1.0
            if self.featurewise_center and self.mean is not None:
                mean = np.asarray(self.mean, np.float64).reshape(-1)
            if self.featurewise_std_normalization and self.std is not None:
                std = np.asarray(self.std, np.float64).reshape(-1) + 1e-6
            fuse_fc = mean is not None or not self.featurewise_center
            fuse_fs = std is not None or not self.featurewise_std_normalization
            if not (fuse_fc and fuse_fs) or (mean is not None and mean.size not in (1, c)) \
                    or (std is not None and std.size not in (1, c)):
                fuse, scale, mean, std = False, 1.0, None, None
        out = ops.augment(u8, m, inverse=True, interpolation=_INTERPOLATIONS[
            self.interpolation_order], fill_mode=self.fill_mode,
            cval=float(self.cval) if self.fill_mode == "constant" else 0,
            mean=mean, std=std, scale=scale, dtype="float32",
            layout="NCHW" if cf else "NHWC", threads=1 if n == 1 else None, _pool=buffers)
        if has_shift:
            out = _channel_shift(out, shift)
        if has_bright:
            out = _brightness(out, bright)
        if not standardize:
            return out
        if fuse:  # rescale and featurewise statistics are done; only ZCA may remain
            return self._zca_only(out) if self.zca_whitening else out
        return self._standardize_batch(out)

    def _zca_only(self, x: np.ndarray) -> np.ndarray:
        if self.zca_whitening_matrix is None:
            warnings.warn("This ImageDataGenerator specifies `zca_whitening`, but it hasn't "
                          "been fit on any training data. Fit it first by calling "
                          "`.fit(numpy_data)`.", stacklevel=3)
            return x
        flat = x.reshape(-1, math.prod(x.shape[-3:]))
        return np.reshape(flat @ self.zca_whitening_matrix, x.shape)

    def _standardize_batch(self, xb: np.ndarray) -> np.ndarray:
        """:meth:`standardize` of every image of a batch, as Keras calls it per image."""
        if self.preprocessing_function:
            xb = np.stack([np.asarray(self.preprocessing_function(x)) for x in xb])
            xb = xb.astype(self.dtype, copy=False)
        if self.rescale:
            xb *= self.rescale
        return self._standardize_after_rescale(xb, samplewise_axes=(1, 2, 3))

    def _transform_batch_scipy(self, xb: np.ndarray, params: dict[str, np.ndarray],
                               standardize: bool) -> np.ndarray:
        """Keras' own algorithm (scipy.ndimage, image by image): the fallback."""
        import scipy.ndimage

        cf = self.data_format == "channels_first"
        xb = np.asarray(xb, dtype=self.dtype)
        n, h, w = xb.shape[0], xb.shape[2 if cf else 1], xb.shape[3 if cf else 2]
        no_flip = dict(params, flip_horizontal=np.zeros(n, bool),
                       flip_vertical=np.zeros(n, bool))
        m = keras_matrices(no_flip, h, w)
        out = np.empty_like(xb)
        for i in range(n):
            img = xb[i] if cf else np.moveaxis(xb[i], 2, 0)
            a = m[i]
            neutral = np.allclose(a, [[1, 0, 0], [0, 1, 0]], rtol=0, atol=0)
            # (x, y) matrix -> scipy's (row, col) matrix and offset
            mrc = np.array([[a[1, 1], a[1, 0]], [a[0, 1], a[0, 0]]])
            off = np.array([a[1, 2], a[0, 2]])
            chans = img if neutral else np.stack([
                scipy.ndimage.affine_transform(ch, mrc, off, order=self.interpolation_order,
                                               mode=self.fill_mode, cval=self.cval)
                for ch in img])
            s = params["channel_shift_intensity"][i]
            if not np.isnan(s):
                chans = np.clip(chans + s, np.min(chans), np.max(chans))
            if params["flip_horizontal"][i]:
                chans = chans[:, :, ::-1]
            if params["flip_vertical"][i]:
                chans = chans[:, ::-1, :]
            out[i] = chans if cf else np.moveaxis(chans, 0, 2)
            b = params["brightness"][i]
            if not np.isnan(b):
                out[i] = _brightness(out[i:i + 1], np.array([b]))[0]
        return self._standardize_batch(out) if standardize else out

    # ---- fitting -------------------------------------------------------------------

    def fit(self, x: np.ndarray, augment: bool = False, rounds: int = 1,
            seed: int | None = None) -> None:
        """Featurewise mean, std and ZCA matrix of ``x``, as Keras computes them.

        Parameters
        ----------
        x : array_like, rank 4, in ``data_format``
        augment : bool
            Fit on ``rounds`` randomly augmented copies.
        rounds : int
        seed : int, optional
        """
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError("Input to `.fit()` should have rank 4. Got array with shape: "
                             + str(x.shape))
        if x.shape[self.channel_axis] not in {1, 3, 4}:
            warnings.warn(f"Expected input to be images with 1, 3 or 4 channels on axis "
                          f"{self.channel_axis}, got shape {x.shape}.", stacklevel=2)
        if seed is not None:
            np.random.seed(seed)
        x = np.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            parts = []
            for _ in range(rounds):
                p = self._random_batch_params(len(x), x.shape[1:])
                parts.append(self._transform_batch(x, p, standardize=False))
            x = np.concatenate(parts).astype(self.dtype, copy=False)
        if self.featurewise_center:
            self.mean = np.mean(x, axis=(0, self.row_axis, self.col_axis))
            shape = [1, 1, 1]
            shape[self.channel_axis - 1] = x.shape[self.channel_axis]
            self.mean = np.reshape(self.mean, shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=(0, self.row_axis, self.col_axis))
            shape = [1, 1, 1]
            shape[self.channel_axis - 1] = x.shape[self.channel_axis]
            self.std = np.reshape(self.std, shape)
            x /= self.std + 1e-6
        if self.zca_whitening:
            n = len(x)
            flat_x = np.reshape(x, (n, -1))
            u, s, _ = np.linalg.svd(flat_x.T, full_matrices=False)
            s_inv = np.sqrt(n) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = (u * s_inv).dot(u.T)


def _complete(p: dict[str, Any]) -> dict[str, Any]:
    """Keras' defaults for missing keys; None becomes NaN (no shift / brightness)."""
    def num(v, default):
        return default if v is None else v
    return {
        "theta": p.get("theta", 0), "tx": p.get("tx", 0), "ty": p.get("ty", 0),
        "shear": p.get("shear", 0), "zx": p.get("zx", 1), "zy": p.get("zy", 1),
        "flip_horizontal": bool(p.get("flip_horizontal", False)),
        "flip_vertical": bool(p.get("flip_vertical", False)),
        "channel_shift_intensity": num(p.get("channel_shift_intensity"), np.nan),
        "brightness": num(p.get("brightness"), np.nan),
    }


def _channel_shift(xb: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Keras' channel shift per image: add, then clip to that image's min and max."""
    lo = xb.min(axis=(1, 2, 3), keepdims=True)
    hi = xb.max(axis=(1, 2, 3), keepdims=True)
    s = np.where(np.isnan(intensity), 0.0, intensity).astype(xb.dtype).reshape(-1, 1, 1, 1)
    # Keras adds a float64 scalar to a float32 image: the sum stays float32
    return np.clip(xb + s, lo, hi)


def _brightness(xb: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Keras' ``apply_brightness_shift(x, b, scale=False)`` per image, vectorised.

    Keras goes through an 8-bit PIL image: values are truncated to uint8 (after
    stretching to 0..255 only when the image leaves 0..255), PIL's blend with black
    computes ``(uint8)(v * b)`` in float32 with saturation, and the stretch is undone.
    """
    out = xb.copy()
    sel = ~np.isnan(factor)
    for i in np.flatnonzero(sel):  # per image: the stretch depends on its own range
        x = xb[i]
        x_min, x_max = x.min(), x.max()
        local = x_min < 0 or x_max > 255
        v = x.astype(np.float32)
        if local:
            v = v - v.min()
            vmax = v.max()
            if vmax != 0:
                v /= vmax
            v *= 255
        v = v.astype(np.uint8).astype(np.float32)  # PIL image of mode RGB / L (truncation)
        v = np.clip(np.floor(v * np.float32(factor[i])), 0, 255)
        if local:
            v = v / 255 * (x_max - x_min) + x_min
        out[i] = v
    return out


# ---- iterators -------------------------------------------------------------------


_PYDATASET_SUBCLASSES: dict[type, type] = {}


def _keras_pydataset() -> type | None:
    """``keras.utils.PyDataset`` if the user has imported Keras (never imports it)."""
    if sys.modules.get("keras") is None:
        return None
    try:
        from keras.utils import PyDataset
    except Exception:  # a broken or partial Keras install: plain iterators
        return None
    return PyDataset


def _same_state(a: tuple | None, b: tuple | None) -> bool:
    """Whether two ``np.random.get_state()`` tuples are the same state."""
    if a is None or b is None:
        return False
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip(a, b))


class Iterator:
    """Keras' ``Iterator``: batches by number, an endless ``next()``, reseeding per batch.

    When Keras 3 is imported, instances are also ``keras.utils.PyDataset`` (through a
    subclass made on the fly), so ``model.fit(gen.flow(x, y))`` works as with Keras'
    own iterators; fastaug itself never imports Keras.

    Each batch is made in two steps: its random draws, in the calling thread and in
    Keras' order (they use the global ``np.random``), then its work (decoding, the
    native call, standardisation), which touches no global state. With ``prefetch``
    batches, the work of the next batches runs in a background thread while the caller
    uses the current one: ``next()`` keeps ``prefetch`` batches in flight, and
    ``it[i]`` (what ``model.fit`` calls, in order) prepares ``it[i + 1]``. The batches
    are the same as without prefetching; what differs is that the global generator
    has been advanced (and, with a seed, reseeded) for the batches prepared ahead.
    ``reset()``, ``on_epoch_end()`` and an out-of-order ``it[j]`` drop them and roll
    back the batch counters, so seeded iterators stay identical to Keras'. Prefetching
    is off with ``save_to_dir`` or a ``preprocessing_function``, which may draw from
    ``np.random`` themselves.

    Attributes
    ----------
    n : int
        Number of samples.
    batch_size : int
    seed : int or None
    shuffle : bool
    prefetch : int
        Batches prepared ahead in a background thread; 0 turns prefetching off.
    batch_index, total_batches_seen : int
    index_array : ndarray or None
    """

    white_list_formats = _WHITE_LIST_FORMATS
    _pydataset: type | None = None

    def __new__(cls, *args, **kwargs):
        base = _keras_pydataset()
        if base is None or issubclass(cls, base):
            return super().__new__(cls)
        sub = _PYDATASET_SUBCLASSES.get(cls)
        if sub is None:
            sub = type(cls.__name__, (cls, base), {"__module__": cls.__module__,
                                                   "__qualname__": cls.__qualname__,
                                                   "_pydataset": base})
            _PYDATASET_SUBCLASSES[cls] = sub
        return super().__new__(sub)

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None,
                 prefetch: int = 2) -> None:
        if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral) \
                or prefetch < 0:
            raise ValueError(f"prefetch must be a non-negative integer, got {prefetch!r}")
        if self._pydataset is not None:
            self._pydataset.__init__(self)  # workers=1: batches are already native
        self.n = n
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.prefetch = int(prefetch)
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array: np.ndarray | None = None
        self.index_generator = self._flow_index()
        # Batches drawn but not yet handed out: (item, counters before the draw, future),
        # item None for next(), the batch number for it[i].
        self._ahead: collections.deque = collections.deque()
        self._executor: ThreadPoolExecutor | None = None
        self._state_after: tuple | None = None  # np.random after the last draw ahead
        # Batch buffers (gathered sources, outputs) are recycled once dropped.
        self._buffers = OutputPool(size=2 * (self.prefetch + 2))

    def _set_index_array(self) -> None:
        self.index_array = np.arange(self.n)
        if self.shuffle:
            self.index_array = np.random.permutation(self.n)

    def __getitem__(self, idx: int):
        if idx >= len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has "
                             f"length {len(self)}")
        with self.lock:
            if self._ahead and self._ahead[0][0] == idx:
                future = self._ahead.popleft()[2]
            else:
                self._drop_ahead()
                future = self._run(self._draw(self._item_indices(idx)), ahead=False)
            if self._prefetching() and idx + 1 < len(self) and not self._ahead:
                counters = self._counters()
                plan = self._draw(self._item_indices(idx + 1))
                self._state_after = np.random.get_state()
                self._ahead.append((idx + 1, counters, self._run(plan, ahead=True)))
        return future.result()

    def _item_indices(self, idx: int) -> np.ndarray:
        if self.seed is not None:
            np.random.seed(self.seed + self.total_batches_seen)
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        return self.index_array[self.batch_size * idx: self.batch_size * (idx + 1)]

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def on_epoch_end(self) -> None:
        with self.lock:
            self._drop_ahead()
            self._set_index_array()

    def reset(self) -> None:
        with self.lock:
            self._drop_ahead()
            self.batch_index = 0

    def _flow_index(self):
        self.batch_index = 0
        while 1:
            if self.seed is not None:
                np.random.seed(self.seed + self.total_batches_seen)
            if self.batch_index == 0:
                self._set_index_array()
            current_index = 0 if self.n == 0 else (self.batch_index * self.batch_size) % self.n
            if self.n > current_index + self.batch_size:
                self.batch_index += 1
            else:
                self.batch_index = 0
            self.total_batches_seen += 1
            yield self.index_array[current_index: current_index + self.batch_size]

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            if self._ahead and self._ahead[0][0] is not None:
                self._drop_ahead()  # it[i] prepared for it[i + 1]
            if not self._prefetching():
                future = self._run(self._draw(next(self.index_generator)), ahead=False)
            else:
                while len(self._ahead) <= self.prefetch:
                    counters = self._counters()
                    plan = self._draw(next(self.index_generator))
                    self._state_after = np.random.get_state()
                    self._ahead.append((None, counters, self._run(plan, ahead=True)))
                future = self._ahead.popleft()[2]
        return future.result()

    def next(self):
        """The next batch (Keras 2 spelling)."""
        return self.__next__()

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray):
        """The batch of samples ``index_array``, drawing its parameters now (Keras' API)."""
        return self._produce(self._draw(index_array))

    def _draw(self, index_array: np.ndarray) -> tuple:
        """The random draws of a batch, from ``np.random`` in Keras' order."""
        raise NotImplementedError

    def _produce(self, plan: tuple):
        """The batch of a plan made by :meth:`_draw`; no global state is touched."""
        raise NotImplementedError

    # ---- prefetching ---------------------------------------------------------------

    def _prefetching(self) -> bool:
        return (self.prefetch > 0 and not getattr(self, "save_to_dir", None)
                and self.image_data_generator.preprocessing_function is None)

    def _counters(self) -> tuple:
        return self.batch_index, self.total_batches_seen, self.index_array, np.random.get_state()

    def _run(self, plan: tuple, ahead: bool) -> Future:
        """A future of the plan's batch: computed in the background when ``ahead``."""
        if not ahead:
            future: Future = Future()
            try:
                future.set_result(self._produce(plan))
            except BaseException as e:
                future.set_exception(e)
            return future
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="fastaug-keras")
            weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)
        return self._executor.submit(self._produce, plan)

    def _drop_ahead(self) -> None:
        """Forget the batches prepared ahead; the counters go back to before them."""
        if not self._ahead:
            return
        self.batch_index, self.total_batches_seen, self.index_array, state = self._ahead[0][1]
        # Rewind np.random too (Keras shuffles the next epoch from it), unless someone
        # else has drawn from it since: their draws must not be replayed.
        if _same_state(np.random.get_state(), self._state_after):
            np.random.set_state(state)
        for _, _, future in self._ahead:
            future.cancel()
        self._ahead.clear()

    def _save(self, batch_x: np.ndarray, index_array: np.ndarray, hash_max: int) -> None:
        import cv2

        for i, j in enumerate(index_array):
            x = batch_x[i]
            if self.data_format == "channels_first":
                x = np.moveaxis(x, 0, 2)
            x = x - np.min(x)  # Keras' array_to_img(scale=True)
            if np.max(x) != 0:
                x = x / np.max(x)
            x = (x * 255).astype(np.uint8)
            if x.shape[2] == 3:
                x = x[..., ::-1]
            elif x.shape[2] == 4:
                x = x[..., [2, 1, 0, 3]]
            fname = f"{self.save_prefix}_{j}_{np.random.randint(hash_max)}.{self.save_format}"
            cv2.imwrite(os.path.join(self.save_to_dir, fname), x)


class NumpyArrayIterator(Iterator):
    """Keras' ``NumpyArrayIterator``; each batch is one native ``augment`` call."""

    def __init__(self, x, y, image_data_generator: ImageDataGenerator, batch_size: int = 32,
                 shuffle: bool = False, sample_weight=None, seed: int | None = None,
                 data_format: str | None = None, save_to_dir: str | None = None,
                 save_prefix: str = "", save_format: str = "png",
                 subset: str | None = None, ignore_class_split: bool = False,
                 dtype: str | None = None, prefetch: int = 2) -> None:
        self.dtype = dtype or "float32"
        data_format = data_format or "channels_last"
        if isinstance(x, (tuple, list)):
            x_misc = [np.asarray(x[1])] if not isinstance(x[1], list) else [
                np.asarray(xx) for xx in x[1]]
            x = x[0]
            for xx in x_misc:
                if len(x) != len(xx):
                    raise ValueError("All of the arrays in `x` should have the same length. "
                                     f"Found a pair with: len(x[0]) = {len(x)}, "
                                     f"len(x[?]) = {len(xx)}")
        else:
            x_misc = []
        if y is not None and len(x) != len(y):
            raise ValueError("`x` (images tensor) and `y` (labels) should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"y.shape = {np.asarray(y).shape}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError("`x` (images tensor) and `sample_weight` should have the same "
                             f"length. Found: x.shape = {np.asarray(x).shape}, "
                             f"sample_weight.shape = {np.asarray(sample_weight).shape}")
        if subset is not None:
            if subset not in {"training", "validation"}:
                raise ValueError(f"Invalid subset name: {subset}; expected \"training\" or "
                                 "\"validation\".")
            split_idx = int(len(x) * image_data_generator._validation_split)
            if (y is not None and not ignore_class_split and not np.array_equal(
                    np.unique(y[:split_idx]), np.unique(y[split_idx:]))):
                raise ValueError("Training and validation subsets have different number of "
                                 "classes after the split. If your numpy arrays are sorted "
                                 "by the label, you might want to shuffle them.")
            sl = slice(None, split_idx) if subset == "validation" else slice(split_idx, None)
            x = x[sl]
            x_misc = [np.asarray(xx[sl]) for xx in x_misc]
            if y is not None:
                y = y[sl]
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError("Input data in `NumpyArrayIterator` should have rank 4. You "
                             f"passed an array with shape {x.shape}")
        channels_axis = 3 if data_format == "channels_last" else 1
        if x.shape[channels_axis] not in {1, 3, 4}:
            warnings.warn(f"NumpyArrayIterator is set to use the data format convention "
                          f"\"{data_format}\" (channels on axis {channels_axis}), i.e. "
                          "expected either 1, 3, or 4 channels. However, it was passed an "
                          f"array with shape {x.shape}.", stacklevel=3)
        # Keep images as uint8 (Keras keeps a float32 copy): the native kernel reads
        # uint8, and values that are integers in 0..255 convert without loss.
        self._x_u8 = _as_uint8(x)
        self.x = self._x_u8 if self._x_u8 is not None else np.asarray(x, dtype=self.dtype)
        self.x_misc = x_misc
        self.y = np.asarray(y) if y is not None else None
        self.sample_weight = np.asarray(sample_weight) if sample_weight is not None else None
        self.image_data_generator = image_data_generator
        self.data_format = data_format
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        super().__init__(x.shape[0], batch_size, shuffle, seed, prefetch)

    def _draw(self, index_array: np.ndarray) -> tuple:
        gen = self.image_data_generator
        return index_array, gen._random_batch_params(len(index_array), self.x.shape[1:])

    def _gather(self, index_array: np.ndarray) -> np.ndarray:
        """``self.x[index_array]``: a view for a run of consecutive indices, else a copy
        into a recycled buffer."""
        idx = np.asarray(index_array)
        if idx.size and np.all(np.diff(idx) == 1):
            return self.x[idx[0]:idx[-1] + 1]
        buf = self._buffers.empty((idx.size, *self.x.shape[1:]), self.x.dtype)
        np.take(self.x, idx, axis=0, out=buf)
        return buf

    def _produce(self, plan: tuple):
        index_array, params = plan
        gen = self.image_data_generator
        xb = self._gather(index_array)
        batch_x = gen._transform_batch(xb, params, standardize=True,
                                       xb_u8=xb if self._x_u8 is not None else None,
                                       buffers=self._buffers)
        batch_x = batch_x.astype(self.dtype, copy=False)
        if self.save_to_dir:
            self._save(batch_x, index_array, 10**4)
        batch_x_miscs = [xx[index_array] for xx in self.x_misc]
        output = (batch_x if not batch_x_miscs else [batch_x] + batch_x_miscs,)
        if self.y is None:
            return output[0]
        output += (self.y[index_array],)
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


_CV2_INTERPOLATIONS = {"nearest": "INTER_NEAREST_EXACT", "bilinear": "INTER_LINEAR",
                       "bicubic": "INTER_CUBIC", "lanczos": "INTER_LANCZOS4",
                       "box": "INTER_AREA", "area": "INTER_AREA", "hamming": "INTER_AREA"}


def load_image(path: str, color_mode: str = "rgb", target_size: tuple[int, int] | None = None,
               interpolation: str = "nearest", keep_aspect_ratio: bool = False) -> np.ndarray:
    """Decode one image file with OpenCV, like Keras' ``load_img`` + ``img_to_array``.

    Parameters
    ----------
    path : str
    color_mode : {"rgb", "rgba", "grayscale"}
    target_size : (int, int), optional
        ``(height, width)``.
    interpolation : str
    keep_aspect_ratio : bool

    Returns
    -------
    ndarray, uint8, shape (H, W, C), C = 3, 4 or 1

    Raises
    ------
    ValueError
        The file cannot be decoded (the message names it).
    """
    import cv2

    with open(path, "rb") as f:
        data = np.frombuffer(f.read(), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise ValueError(f"cannot decode image file {path!r} (corrupt or unsupported format)")
    if img.dtype != np.uint8:  # 16-bit PNG/TIFF: keep the high byte, as an 8-bit image
        img = (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else \
            np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    ch = img.shape[2]
    if color_mode == "grayscale":
        if ch >= 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)[:, :, None]
    elif color_mode == "rgba":
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if ch == 4 else
                           cv2.COLOR_BGR2RGBA if ch == 3 else cv2.COLOR_GRAY2RGBA)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if ch == 4 else
                           cv2.COLOR_BGR2RGB if ch == 3 else cv2.COLOR_GRAY2RGB)
    if target_size is not None:
        th, tw = target_size
        h, w = img.shape[:2]
        if (h, w) != (th, tw):
            if keep_aspect_ratio:  # Keras' centre crop to the target aspect ratio
                crop_h = min(h, (w * th) // tw)
                crop_w = min(w, (h * tw) // th)
                top, left = (h - crop_h) // 2, (w - crop_w) // 2
                img = img[top:top + crop_h, left:left + crop_w]
            if interpolation not in _CV2_INTERPOLATIONS:
                raise ValueError(f"Invalid interpolation method {interpolation!r}; supported: "
                                 f"{sorted(_CV2_INTERPOLATIONS)}")
            flag = getattr(cv2, _CV2_INTERPOLATIONS[interpolation])
            img = cv2.resize(img, (tw, th), interpolation=flag)
            if img.ndim == 2:
                img = img[:, :, None]
    return np.ascontiguousarray(img)


def _list_files(directory: str, follow_links: bool, split) -> list[str]:
    files = []
    for root, _, names in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda t: t[0]):
        for fname in sorted(names):
            if fname.lower().endswith(_WHITE_LIST_FORMATS):
                files.append(os.path.join(root, fname))
    if split:
        start, stop = int(split[0] * len(files)), int(split[1] * len(files))
        files = files[start:stop]
    return files


class DirectoryIterator(Iterator):
    """Keras' ``DirectoryIterator``: decoding in threads, one native call per batch."""

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory: str, image_data_generator: ImageDataGenerator,
                 target_size: tuple[int, int] = (256, 256), color_mode: str = "rgb",
                 classes: Sequence[str] | None = None,
                 class_mode: str | None = "categorical", batch_size: int = 32,
                 shuffle: bool = True, seed: int | None = None,
                 data_format: str | None = None, save_to_dir: str | None = None,
                 save_prefix: str = "", save_format: str = "png", follow_links: bool = False,
                 subset: str | None = None, interpolation: str = "nearest",
                 keep_aspect_ratio: bool = False, dtype: str | None = None,
                 workers: int | None = None, on_error: str = "raise",
                 prefetch: int = 2) -> None:
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
        self.on_error = on_error
        data_format = data_format or "channels_last"
        self.dtype = dtype or "float32"
        self.image_data_generator = image_data_generator
        self.target_size = tuple(target_size)
        self.keep_aspect_ratio = keep_aspect_ratio
        if color_mode not in {"rgb", "rgba", "grayscale"}:
            raise ValueError(f"Invalid color mode: {color_mode}; expected \"rgb\", \"rgba\", "
                             "or \"grayscale\".")
        self.color_mode = color_mode
        self.data_format = data_format
        nc = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (nc,) if data_format == "channels_last"
                            else (nc,) + self.target_size)
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        if interpolation not in _CV2_INTERPOLATIONS:
            raise ValueError(f"Invalid interpolation method {interpolation!r}; supported: "
                             f"{sorted(_CV2_INTERPOLATIONS)}")
        self.interpolation = interpolation
        split = None
        if subset is not None:
            vs = image_data_generator._validation_split
            if subset == "validation":
                split = (0, vs)
            elif subset == "training":
                split = (vs, 1)
            else:
                raise ValueError(f"Invalid subset name: {subset};expected \"training\" or "
                                 "\"validation\"")
        self.split = split
        self.subset = subset
        self.directory = directory
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: "
                             f"{self.allowed_class_modes}")
        self.class_mode = class_mode
        if not classes:
            classes = [d for d in sorted(os.listdir(directory))
                       if os.path.isdir(os.path.join(directory, d))]
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        self.filenames: list[str] = []
        labels: list[int] = []
        for cls in classes:
            for path in _list_files(os.path.join(directory, cls), follow_links, split):
                self.filenames.append(os.path.join(cls, os.path.relpath(
                    path, os.path.join(directory, cls))))
                labels.append(self.class_indices[cls])
        self.samples = len(self.filenames)
        self.classes = np.asarray(labels, dtype="int32")
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        self.decode_workers = workers or min(8, os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        super().__init__(self.samples, batch_size, shuffle, seed, prefetch)

    @property
    def filepaths(self) -> list[str]:
        return self._filepaths

    @property
    def labels(self) -> np.ndarray:
        return self.classes

    @property
    def sample_weight(self):
        return None

    def _load(self, j: int) -> np.ndarray | None:
        try:
            return load_image(self._filepaths[j], self.color_mode, self.target_size,
                              self.interpolation, self.keep_aspect_ratio)
        except ValueError:
            if self.on_error == "raise":
                raise
            warnings.warn(f"skipping {self._filepaths[j]!r}: it cannot be decoded",
                          stacklevel=2)
            return None

    def _draw(self, index_array: np.ndarray) -> tuple:
        gen = self.image_data_generator
        return index_array, gen._random_batch_params(len(index_array), self.image_shape)

    def _produce(self, plan: tuple):
        index_array, params = plan
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.decode_workers)
        # cv2.imdecode and cv2.resize release the GIL: the threads decode in parallel
        images = list(self._pool.map(self._load, index_array))
        keep = [i for i, im in enumerate(images) if im is not None]
        if len(keep) < len(images):  # parameters were drawn for every file: keep theirs
            index_array = np.asarray(index_array)[keep]
            images = [images[i] for i in keep]
            params = {k: np.asarray(v)[keep] for k, v in params.items()}
        u8 = np.stack(images) if images else np.zeros((0,) + self.target_size + (
            self.image_shape[-1 if self.data_format == "channels_last" else 0],), np.uint8)
        if self.data_format == "channels_first":
            u8 = np.moveaxis(u8, 3, 1)
        gen = self.image_data_generator
        batch_x = gen._transform_batch(u8, params, standardize=True, xb_u8=u8,
                                       buffers=self._buffers)
        batch_x = batch_x.astype(self.dtype, copy=False)
        if self.save_to_dir:
            self._save(batch_x, index_array, 10**7)
        if self.class_mode == "input":
            batch_y = batch_x.copy()
        elif self.class_mode in {"binary", "sparse"}:
            batch_y = self.classes[index_array].astype(self.dtype)
        elif self.class_mode == "categorical":
            batch_y = np.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            batch_y[np.arange(len(batch_x)), self.classes[index_array]] = 1.0
        else:
            return batch_x
        return batch_x, batch_y

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False)
