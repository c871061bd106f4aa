"""Correctness of fastaug.ops against the float64 reference and OpenCV.

Layout: reference self-checks first (they need no kernel and validate
``tests/reference.py`` against OpenCV), then one section per operation.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import reference as ref
from conftest import (
    CV2_BORDER,
    CV2_INTERP,
    assert_bilinear_close,
    assert_nearest_equal,
    opencv_border_value,
    photo_batch,
    random_affine,
    random_affines,
    random_batch,
    random_color_matrix,
    random_cval,
)

from fastaug import _kernels, ops

FILL_MODES = ref.FILL_MODES
INTERPOLATIONS = ref.INTERPOLATIONS


def check_warp(actual, images, matrices, size=None, **kwargs):
    """Compare a warp_affine result with the reference (exact for nearest)."""
    expected = ref.warp_affine(images, matrices, size, **kwargs)
    if kwargs.get("interpolation", "bilinear") == "bilinear":
        assert_bilinear_close(actual, expected)
    else:
        images4 = ref.as_nhwc(images)
        n, height, width, _ = images4.shape
        minv = ref.destination_to_source(matrices, n, kwargs.get("inverse", False))
        sx, sy = ref.affine_source_coords(minv, size or (height, width))
        assert_nearest_equal(actual, expected, ref.nearest_ties(sx, sy))


def check_crop(actual, images, boxes, size, **kwargs):
    """Compare a resized_crop result with the reference (exact for nearest)."""
    expected = ref.resized_crop(images, boxes, size, **kwargs)
    if kwargs.get("interpolation", "bilinear") == "bilinear":
        assert_bilinear_close(actual, expected)
    else:
        boxes = ref.batch_of(boxes, len(images), (4,))
        sx, sy = ref.crop_source_coords(boxes, size)
        assert_nearest_equal(actual, expected, ref.nearest_ties(sx, sy))


# ---- reference self-checks ------------------------------------------------------------

BORDER_TABLE = {
    # n = 4, indices -3..6; -1 means "cval".
    "constant": [-1, -1, -1, 0, 1, 2, 3, -1, -1, -1],
    "nearest": [0, 0, 0, 0, 1, 2, 3, 3, 3, 3],
    "reflect": [2, 1, 0, 0, 1, 2, 3, 3, 2, 1],
    "mirror": [3, 2, 1, 0, 1, 2, 3, 2, 1, 0],
    "wrap": [1, 2, 3, 0, 1, 2, 3, 0, 1, 2],
}


@pytest.mark.parametrize("mode", FILL_MODES)
def test_reference_border_table(mode):
    index, inside = ref.border_index(np.arange(-3, 7), 4, mode)
    assert np.where(inside, index, -1).tolist() == BORDER_TABLE[mode]


@pytest.mark.parametrize("mode", FILL_MODES)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_reference_border_matches_opencv(mode, n):
    i = np.arange(-5 * n - 3, 6 * n + 4)
    index, inside = ref.border_index(i, n, mode)
    expected = [cv2.borderInterpolate(int(k), n, CV2_BORDER[mode]) for k in i]
    assert np.where(inside, index, -1).tolist() == expected


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_reference_warp_matches_opencv(photos, rng, mode, interpolation):
    image = photos["chelsea"]
    height, width = image.shape[:2]
    for _ in range(3):
        m = random_affine(rng, height, width)
        cval = random_cval(rng, 3)
        expected = cv2.warpAffine(image, m, (width, height),
                                  flags=CV2_INTERP[interpolation],
                                  borderMode=CV2_BORDER[mode],
                                  borderValue=opencv_border_value(cval, 3))
        actual = ref.to_uint8(ref.warp_affine(image[None], m, interpolation=interpolation,
                                              fill_mode=mode, cval=cval)[0])
        diff = np.abs(actual.astype(int) - expected)
        if interpolation == "bilinear":
            assert diff.max() <= 2
        else:
            assert np.mean(diff.max(axis=-1) == 0) >= 0.99


def test_reference_resized_crop_matches_cv2_resize(photos):
    image = photos["astronaut"]
    for top, left, h, w, out_h, out_w in [(3, 5, 20, 17, 31, 9), (0, 0, 48, 48, 13, 29),
                                          (10, 2, 7, 30, 7, 30), (20, 20, 1, 9, 5, 5)]:
        crop = image[top:top + h, left:left + w]
        expected = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        actual = ref.resized_crop(image[None], (top, left, h, w), (out_h, out_w))[0]
        assert np.abs(ref.to_uint8(actual).astype(int) - expected).max() <= 1


# ---- warp_affine ----------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_warp_affine_matches_reference(rng, channels, mode, interpolation):
    images = photo_batch(3, 31, 17, channels)
    matrices = random_affines(rng, 3, 31, 17)
    cval = random_cval(rng, channels)
    kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=cval)
    out = ops.warp_affine(images, matrices, (23, 29), **kwargs)
    assert out.shape == (3, 23, 29, channels) and out.dtype == np.uint8
    assert out.flags.c_contiguous
    check_warp(out, images, matrices, (23, 29), **kwargs)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
@pytest.mark.parametrize("kind", ["axis", "integer", "outside", "near_singular"])
def test_warp_affine_matrix_kinds(rng, kind, mode, interpolation):
    images = photo_batch(3, 13, 7, 3)
    matrices = random_affines(rng, 3, 13, 7, kind)
    kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=(7, 77, 177))
    out = ops.warp_affine(images, matrices, **kwargs)
    check_warp(out, images, matrices, **kwargs)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_warp_affine_matches_opencv(photos, rng, mode, interpolation):
    for name, image in photos.items():
        height, width = image.shape[:2]
        m = random_affine(rng, height, width)
        cval = random_cval(rng, 3)
        out = ops.warp_affine(image[None], m, interpolation=interpolation, fill_mode=mode,
                              cval=cval)[0]
        expected = cv2.warpAffine(image, m, (width, height),
                                  flags=CV2_INTERP[interpolation],
                                  borderMode=CV2_BORDER[mode],
                                  borderValue=opencv_border_value(cval, 3))
        diff = np.abs(out.astype(int) - expected)
        if interpolation == "bilinear":
            assert diff.max() <= 4, name
            assert diff.mean() < 0.5, name
        else:
            assert np.mean(diff.max(axis=-1) == 0) >= 0.99, name


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_warp_affine_inverse_map_matches_opencv(photos, rng, interpolation):
    image = photos["coffee"]
    height, width = image.shape[:2]
    m = cv2.invertAffineTransform(random_affine(rng, height, width))
    out = ops.warp_affine(image[None], m, (20, 50), inverse=True,
                          interpolation=interpolation, fill_mode="reflect")[0]
    expected = cv2.warpAffine(image, m, (50, 20),
                              flags=CV2_INTERP[interpolation] | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)
    diff = np.abs(out.astype(int) - expected)
    if interpolation == "bilinear":
        assert diff.max() <= 4 and diff.mean() < 0.5
    else:
        assert np.mean(diff.max(axis=-1) == 0) >= 0.99


@pytest.mark.parametrize("n_channels", [1, 4])
def test_warp_affine_opencv_other_channels(rng, n_channels):
    images = photo_batch(2, 40, 52, n_channels)
    for image in images:
        m = random_affine(rng, 40, 52)
        out = ops.warp_affine(image[None], m, fill_mode="mirror")[0]
        expected = cv2.warpAffine(image, m, (52, 40), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
        diff = np.abs(out.astype(int) - expected.reshape(out.shape))
        assert diff.max() <= 4 and diff.mean() < 0.5


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_warp_affine_inverse_flag(rng, interpolation):
    images = photo_batch(4, 9, 14, 4)
    forward = random_affines(rng, 4, 9, 14)
    backward = np.linalg.inv(ref.to_3x3(forward))[:, :2]
    out = ops.warp_affine(images, backward, (11, 6), inverse=True,
                          interpolation=interpolation, fill_mode="wrap")
    check_warp(out, images, backward, (11, 6), inverse=True, interpolation=interpolation,
               fill_mode="wrap")
    if interpolation == "bilinear":
        from_forward = ops.warp_affine(images, forward, (11, 6), fill_mode="wrap")
        assert np.abs(out.astype(int) - from_forward).max() <= 1


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_warp_affine_singular_inverse_is_allowed(interpolation):
    images = photo_batch(2, 8, 10, 3)
    # Every destination pixel samples source pixel (x=3, y=5).
    m = np.array([[0.0, 0.0, 3.0], [0.0, 0.0, 5.0]])
    out = ops.warp_affine(images, m, (4, 6), inverse=True, interpolation=interpolation)
    expected = np.broadcast_to(images[:, 5:6, 3:4], (2, 4, 6, 3))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("n_channels", [1, 3, 4])
def test_warp_affine_identity_and_integer_shift_are_exact(interpolation, n_channels):
    images = photo_batch(2, 11, 9, n_channels)
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    out = ops.warp_affine(images, identity, interpolation=interpolation)
    np.testing.assert_array_equal(out, images)
    shift = np.array([[1.0, 0, 3], [0, 1.0, -2]])  # content moves right 3, up 2
    out = ops.warp_affine(images, shift, interpolation=interpolation, cval=9)
    expected = np.full_like(images, 9)
    expected[:, :-2, 3:] = images[:, 2:, :-3]
    np.testing.assert_array_equal(out, expected)


def test_warp_affine_flip_matrix_is_exact():
    images = photo_batch(2, 7, 13, 3)
    hflip = np.array([[-1.0, 0, 12], [0, 1.0, 0]])
    vflip = np.array([[1.0, 0, 0], [0, -1.0, 6]])
    for interpolation in INTERPOLATIONS:
        np.testing.assert_array_equal(
            ops.warp_affine(images, hflip, interpolation=interpolation), images[:, :, ::-1])
        np.testing.assert_array_equal(
            ops.warp_affine(images, vflip, interpolation=interpolation), images[:, ::-1])


def _sample_paths(images, matrices, colors, size, **kwargs):
    """uint8 and float outputs (NCHW, NHWC) of the same warp, with and without the colour
    matrices (each finishing kind of the kernels), for path comparisons."""
    return tuple(ops.augment(images, matrices, col, size, **out, **kwargs)
                 for col in (colors, None)
                 for out in ({}, {"dtype": "float32", "layout": "NCHW", "mean": 0.3, "std": 0.2},
                             {"dtype": "float32", "scale": 1 / 255}))


def _vector_and_scalar(outputs, *args, **kwargs):
    """``outputs(*args, **kwargs)`` (a tuple of arrays) equal with every vector kernel
    on, limited to AVX2 (no VBMI channel split), and off."""
    best = outputs(*args, **kwargs)
    try:
        for level in ({"vbmi": False}, {"enabled": False}):
            _kernels.set_simd(**{"enabled": True, **level})
            for b, o in zip(best, outputs(*args, **kwargs)):
                np.testing.assert_array_equal(b, o)
    finally:
        _kernels.set_simd(True)


@pytest.mark.parametrize("mode", FILL_MODES)
@pytest.mark.parametrize("kind", ["general", "outside", "near_singular", "zoom_out"])
def test_vector_and_scalar_sampling_agree_bit_for_bit(rng, channels, mode, kind):
    """The AVX2 runs (interior, border blocks, blocks handed back to the scalar code for
    more than one fold) compute the scalar code's integers exactly."""
    images = photo_batch(6, 29, 43, channels)
    if kind == "zoom_out":  # the image several times over: periodic modes fold often
        matrices = np.stack([np.array([[0.2, 0.05, 12.0], [-0.04, 0.3, 9.0]])] * 6)
    else:
        matrices = random_affines(rng, 6, 29, 43, kind)
    colors = np.stack([random_color_matrix(rng, channels) for _ in range(6)])
    cval = random_cval(rng, channels)
    for interpolation in INTERPOLATIONS:
        kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=cval)
        _vector_and_scalar(_sample_paths, images, matrices, colors, (31, 61), **kwargs)


@pytest.mark.parametrize("mode", FILL_MODES)
def test_axis_aligned_and_general_paths_agree_bit_for_bit(rng, channels, mode):
    """An axis-aligned matrix takes the separable path; the same map with a shear too
    small to move any coordinate takes the general one: the samples must be equal."""
    images = photo_batch(4, 23, 37, channels)
    axis = random_affines(rng, 4, 23, 37, "axis")
    inverse = ref.destination_to_source(axis, 4, False)
    tilted = inverse.copy()
    tilted[:, 0, 1] = 1e-300
    colors = np.stack([random_color_matrix(rng, channels) for _ in range(4)])
    # AVX2 too: with VBMI, nearest warps of inexact columns take the general path anyway
    try:
        for vbmi in (True, False):
            _kernels.set_simd(True, vbmi=vbmi)
            for interpolation in INTERPOLATIONS:
                kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=17, inverse=True)
                a = _sample_paths(images, inverse, colors, (27, 45), **kwargs)
                b = _sample_paths(images, tilted, colors, (27, 45), **kwargs)
                for x, y in zip(a, b):
                    np.testing.assert_array_equal(x, y)
    finally:
        _kernels.set_simd(True)


def _resize_outputs(images, boxes, size, colors, interpolation):
    inverse = ops.crop_matrices(boxes, size)
    return (ops.resized_crop(images, boxes, size, interpolation=interpolation),
            *_sample_paths(images, inverse, colors, size, inverse=True,
                           interpolation=interpolation, fill_mode="nearest"))


def _flipped_resize_outputs(images, boxes, size, colors, interpolation):
    """The crops resized and mirrored left-right: descending source columns."""
    inverse = ops.crop_matrices(boxes, size)
    mirror = np.array([[-1.0, 0.0, size[1] - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    flipped = inverse @ mirror
    return _sample_paths(images, flipped, colors, size, inverse=True,
                         interpolation=interpolation, fill_mode="nearest")


def _shift_outputs(images, matrices, colors, size):
    return (ops.color_matrix(images, colors),
            *_sample_paths(images, matrices, colors, size),
            ops.augment(images, matrices, size=size, dtype="float32", layout="NCHW",
                        mean=0.5, std=0.25))


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_resize_blocks_agree_with_scalar(rng, channels, interpolation):
    """Crops resized up (shuffled 16-byte windows), a little down (windows where they
    fit, gathers elsewhere) and by whole pixels (straight loads), near the right edge
    too, through every finishing kind; and mirrored (windows of descending pixels)."""
    images = photo_batch(6, 40, 57, channels)
    for width in (8, 23, 48, 67):
        for scale in (0.3, 0.9, 1.0, 1.1, 1.9):
            w = min(57.0, width * scale)
            h = min(40.0, 31 * scale)
            boxes = np.array([[rng.uniform(0, 40 - h), rng.uniform(0, 57 - w), h, w]
                              for _ in range(6)])
            boxes[0, 1] = 57 - w  # against the right edge
            if scale == 1.0:
                boxes[:, :2] = np.floor(boxes[:, :2])
            colors = np.stack([random_color_matrix(rng, channels) for _ in range(6)])
            _vector_and_scalar(_resize_outputs, images, boxes, (31, width), colors,
                               interpolation)
            _vector_and_scalar(_flipped_resize_outputs, images, boxes, (31, width), colors,
                               interpolation)


def test_whole_pixel_rows_agree_with_scalar(rng, channels):
    """Integer shifts inside the image (rows finished from the source bytes, the last
    block ending exactly at the row's end) and partly outside it."""
    images = photo_batch(4, 12, 30, channels)
    for width in range(7, 31):
        for dx in (0, 30 - width, 3, -2):
            m = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -1.0]])
            colors = np.stack([random_color_matrix(rng, channels) for _ in range(4)])
            _vector_and_scalar(_shift_outputs, images, np.stack([m] * 4), colors, (9, width))


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_kernels_write_nothing_past_the_output(rng, channels, dtype):
    """Vector stores near the end of a row (widths around multiples of 8) stay inside
    the output: the bytes after it in a larger buffer keep their sentinel."""
    for width in range(7, 19):
        images = photo_batch(2, 9, width, channels)
        matrices = random_affines(rng, 2, 9, width)
        size = (9, width)
        shape = (2, *size, channels)
        count = int(np.prod(shape))
        buffer = np.full(count + 64, 0xAB if dtype == "uint8" else np.nan, dtype=dtype)
        out = buffer[:count].reshape(shape)
        ops.augment(images, matrices, size=size, dtype=dtype, out=out)
        for colors in (None, np.stack([random_color_matrix(rng, channels)] * 2)):
            ops.augment(images, np.eye(2, 3), colors, dtype=dtype, out=out)
            tail = buffer[count:]
            assert (tail == 0xAB).all() if dtype == "uint8" else np.isnan(tail).all()


def test_warp_affine_large_batch_of_tiny_images(rng):
    images = random_batch(rng, 257, 5, 4, 3)
    matrices = random_affines(rng, 257, 5, 4)
    for interpolation in INTERPOLATIONS:
        out = ops.warp_affine(images, matrices, (6, 3), interpolation=interpolation,
                              fill_mode="mirror")
        check_warp(out, images, matrices, (6, 3), interpolation=interpolation,
                   fill_mode="mirror")


@pytest.mark.parametrize("size", [(1, 1), (1, 9), (7, 1), (64, 3)])
def test_warp_affine_output_sizes(rng, size):
    images = photo_batch(2, 7, 13, 3)
    matrices = random_affines(rng, 2, 7, 13)
    out = ops.warp_affine(images, matrices, size, fill_mode="reflect")
    assert out.shape == (2, *size, 3)
    check_warp(out, images, matrices, size, fill_mode="reflect")


@pytest.mark.parametrize("shape", [(2, 1, 1, 3), (2, 1, 6, 1), (2, 5, 1, 4), (2, 6, 1, 3),
                                   (2, 6, 2, 3), (2, 2, 3, 3)])
@pytest.mark.parametrize("mode", FILL_MODES)
def test_warp_affine_degenerate_inputs(rng, shape, mode):
    images = random_batch(rng, *shape)
    matrices = random_affines(rng, 2, shape[1], shape[2])
    for interpolation in INTERPOLATIONS:
        out = ops.warp_affine(images, matrices, (4, 5), interpolation=interpolation,
                              fill_mode=mode, cval=200)
        check_warp(out, images, matrices, (4, 5), interpolation=interpolation,
                   fill_mode=mode, cval=200)


VIEWS = {
    "step": lambda x: x[:, ::2, ::3],
    "transposed": lambda x: x.transpose(0, 2, 1, 3),
    "reversed": lambda x: x[::-1, ::-1],
    "channel_slice": lambda x: x[..., 1:],
    "batch_step": lambda x: x[::2],
}


@pytest.mark.parametrize("view", VIEWS)
def test_warp_affine_non_contiguous_input(rng, view):
    base = photo_batch(6, 26, 39, 4)
    images = VIEWS[view](base)
    assert not images.flags.c_contiguous
    n, height, width = images.shape[:3]
    matrices = random_affines(rng, n, height, width)
    for interpolation in INTERPOLATIONS:
        out = ops.warp_affine(images, matrices, interpolation=interpolation)
        copy = ops.warp_affine(np.ascontiguousarray(images), matrices,
                               interpolation=interpolation)
        np.testing.assert_array_equal(out, copy)
        check_warp(out, images, matrices, interpolation=interpolation)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_warp_affine_3d_input(rng, interpolation):
    images = photo_batch(3, 12, 10, 1)
    matrices = random_affines(rng, 3, 12, 10)
    out3 = ops.warp_affine(images[..., 0], matrices, (8, 9), interpolation=interpolation)
    out4 = ops.warp_affine(images, matrices, (8, 9), interpolation=interpolation)
    assert out3.shape == (3, 8, 9)
    np.testing.assert_array_equal(out3, out4[..., 0])


def test_warp_affine_shared_matrix_and_dtypes(rng):
    images = photo_batch(3, 10, 12, 3)
    m = random_affine(rng, 10, 12)
    shared = ops.warp_affine(images, m)
    check_warp(shared, images, m)
    m32 = m.astype(np.float32)
    np.testing.assert_array_equal(ops.warp_affine(images, m32),
                                  ops.warp_affine(images, m32.astype(np.float64)))
    np.testing.assert_array_equal(ops.warp_affine(images, m.tolist()), shared)


MATRIX_LAYOUTS = {
    "broadcast": lambda m: np.broadcast_to(m[0], m.shape),
    "fortran": np.asfortranarray,
    "strided": lambda m: np.repeat(m, 2, axis=0)[::2],
    "transposed_storage": lambda m: np.ascontiguousarray(m.transpose(2, 1, 0)).transpose(
        2, 1, 0),
}


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("layout", MATRIX_LAYOUTS)
def test_warp_affine_matrix_memory_layouts(rng, layout, inverse):
    """Matrices are read by value whatever their strides."""
    images = photo_batch(3, 10, 12, 3)
    matrices = random_affines(rng, 3, 10, 12)
    if layout == "broadcast":
        matrices[:] = matrices[0]
    view = MATRIX_LAYOUTS[layout](matrices)
    np.testing.assert_array_equal(view, matrices)
    np.testing.assert_array_equal(ops.warp_affine(images, view, inverse=inverse),
                                  ops.warp_affine(images, matrices, inverse=inverse))


def test_warp_affine_cval_scalar_and_sequence(rng):
    images = photo_batch(2, 6, 8, 3)
    m = random_affine(rng, 6, 8, "outside")
    np.testing.assert_array_equal(ops.warp_affine(images, m, cval=17), 17)
    out = ops.warp_affine(images, m, cval=(1, 2, 255))
    np.testing.assert_array_equal(out, np.broadcast_to([1, 2, 255], out.shape))
    np.testing.assert_array_equal(ops.warp_affine(images, m, cval=np.array([1, 2, 255])),
                                  out)


def test_warp_affine_out_argument(rng):
    images = photo_batch(3, 9, 11, 3)
    matrices = random_affines(rng, 3, 9, 11)
    out = np.full((3, 5, 7, 3), 123, dtype=np.uint8)
    result = ops.warp_affine(images, matrices, (5, 7), out=out)
    assert result is out
    np.testing.assert_array_equal(out, ops.warp_affine(images, matrices, (5, 7)))


def test_warp_affine_read_only_input(rng):
    images = photo_batch(2, 9, 11, 3)
    matrices = random_affines(rng, 2, 9, 11)
    expected = ops.warp_affine(images, matrices)
    images.setflags(write=False)
    matrices.setflags(write=False)
    np.testing.assert_array_equal(ops.warp_affine(images, matrices), expected)


# ---- resized_crop ---------------------------------------------------------------------


def random_boxes(rng, n, height, width, inside=False):
    """(n, 4) float boxes (top, left, h, w); unless `inside`, partly off the image."""
    if inside:
        h = rng.integers(1, height + 1, n)
        w = rng.integers(1, width + 1, n)
        top = rng.integers(0, height - h + 1)
        left = rng.integers(0, width - w + 1)
        return np.stack([top, left, h, w], axis=1).astype(np.float64)
    h = rng.uniform(1, 1.6 * height, n)
    w = rng.uniform(1, 1.6 * width, n)
    top = rng.uniform(-0.4 * height, height - 0.5, n)
    left = rng.uniform(-0.4 * width, width - 0.5, n)
    return np.stack([top, left, h, w], axis=1)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_resized_crop_matches_reference(rng, channels, mode, interpolation):
    images = photo_batch(4, 17, 23, channels)
    boxes = random_boxes(rng, 4, 17, 23)
    cval = random_cval(rng, channels)
    kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=cval)
    out = ops.resized_crop(images, boxes, (13, 19), **kwargs)
    assert out.shape == (4, 13, 19, channels) and out.flags.c_contiguous
    check_crop(out, images, boxes, (13, 19), **kwargs)


@pytest.mark.parametrize("size", [(31, 17), (7, 13), (1, 1), (48, 5)])
def test_resized_crop_matches_cv2_resize(rng, size):
    images = photo_batch(5, 20, 24, 3)
    boxes = random_boxes(rng, 5, 20, 24, inside=True)
    linear = ops.resized_crop(images, boxes, size)
    nearest = ops.resized_crop(images, boxes, size, interpolation="nearest")
    out_h, out_w = size
    for k, (top, left, h, w) in enumerate(boxes.astype(int)):
        crop = images[k, top:top + h, left:left + w]
        expected = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        assert np.abs(linear[k].astype(int) - expected).max() <= 1
        expected = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_NEAREST_EXACT)
        sx, sy = ref.crop_source_coords(boxes[k:k + 1], size)
        assert_nearest_equal(nearest[k:k + 1], expected[None].astype(float),
                             ref.nearest_ties(sx, sy))


def test_resized_crop_whole_image_same_size_is_identity():
    images = photo_batch(2, 9, 14, 4)
    for interpolation in INTERPOLATIONS:
        out = ops.resized_crop(images, (0, 0, 9, 14), (9, 14), interpolation=interpolation)
        np.testing.assert_array_equal(out, images)


def test_resized_crop_shared_box_and_3d_input(rng):
    images = photo_batch(3, 15, 12, 1)
    box = np.array([2.5, -1.25, 9.0, 11.5])
    shared = ops.resized_crop(images[..., 0], box, (6, 8), fill_mode="nearest")
    assert shared.shape == (3, 6, 8)
    per_image = ops.resized_crop(images, np.tile(box, (3, 1)), (6, 8), fill_mode="nearest")
    np.testing.assert_array_equal(shared, per_image[..., 0])
    check_crop(shared, images, box, (6, 8), fill_mode="nearest")


@pytest.mark.parametrize("view", VIEWS)
def test_resized_crop_non_contiguous_input(rng, view):
    images = VIEWS[view](photo_batch(6, 26, 39, 4))
    n, height, width = images.shape[:3]
    boxes = random_boxes(rng, n, height, width)
    out = ops.resized_crop(images, boxes, (10, 12), fill_mode="mirror")
    np.testing.assert_array_equal(
        out, ops.resized_crop(np.ascontiguousarray(images), boxes, (10, 12),
                              fill_mode="mirror"))
    check_crop(out, images, boxes, (10, 12), fill_mode="mirror")


# ---- flip -----------------------------------------------------------------------------


@pytest.mark.parametrize("vertical", [False, True, None])
@pytest.mark.parametrize("horizontal", [False, True])
def test_flip_scalars(channels, horizontal, vertical):
    images = photo_batch(3, 7, 10, channels)
    expected = images
    if horizontal:
        expected = expected[:, :, ::-1]
    if vertical:
        expected = expected[:, ::-1]
    out = ops.flip(images, horizontal, vertical)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    code = {(True, True): -1, (True, False): 1, (False, True): 0}.get(
        (horizontal, bool(vertical)))
    if code is not None:
        for k in range(3):
            np.testing.assert_array_equal(
                out[k].reshape(7, 10, channels),
                cv2.flip(images[k], code).reshape(7, 10, channels))


def test_flip_per_image(rng):
    images = photo_batch(6, 5, 8, 3)
    horizontal = np.array([True, False, True, False, True, False])
    vertical = np.array([True, True, False, False, False, True])
    out = ops.flip(images, horizontal, vertical)
    for k in range(6):
        expected = images[k]
        if horizontal[k]:
            expected = expected[:, ::-1]
        if vertical[k]:
            expected = expected[::-1]
        np.testing.assert_array_equal(out[k], expected)
    # Plain lists work too, and vertical alone as a per-image array.
    np.testing.assert_array_equal(ops.flip(images, horizontal.tolist(), vertical.tolist()),
                                  out)
    only_vertical = ops.flip(images, False, vertical)
    np.testing.assert_array_equal(only_vertical[vertical], images[vertical][:, ::-1])
    np.testing.assert_array_equal(only_vertical[~vertical], images[~vertical])


@pytest.mark.parametrize("view", VIEWS)
def test_flip_non_contiguous_and_3d(view):
    images = VIEWS[view](photo_batch(6, 26, 39, 4))
    np.testing.assert_array_equal(ops.flip(images, True, True), images[:, ::-1, ::-1])
    gray = images[..., 0]
    out = ops.flip(gray, True)
    assert out.shape == gray.shape
    np.testing.assert_array_equal(out, gray[:, :, ::-1])


# ---- color_matrix ---------------------------------------------------------------------


def test_color_matrix_matches_reference(rng, channels):
    images = photo_batch(4, 13, 11, channels)
    matrices = np.stack([random_color_matrix(rng, channels) for _ in range(4)])
    out = ops.color_matrix(images, matrices)
    assert out.shape == images.shape and out.dtype == np.uint8
    expected = ref.color_matrix(images, matrices)
    assert_bilinear_close(out, expected)
    assert np.mean(out == ref.to_uint8(expected)) >= 0.99
    shared = ops.color_matrix(images, matrices[0])
    assert_bilinear_close(shared, ref.color_matrix(images, matrices[0]))


def test_color_matrix_matches_cv2_transform(photos, rng):
    for image in photos.values():
        m = random_color_matrix(rng, 3)
        out = ops.color_matrix(image[None], m)[0]
        expected = cv2.transform(image, m)
        assert np.abs(out.astype(int) - expected).max() <= 1


def test_color_matrix_identity_saturation_and_3d(channels):
    images = photo_batch(2, 6, 9, channels)
    identity = np.hstack([np.eye(channels), np.zeros((channels, 1))])
    np.testing.assert_array_equal(ops.color_matrix(images, identity), images)
    bright = np.hstack([3 * np.eye(channels), np.full((channels, 1), 10.0)])
    expected = np.minimum(images.astype(int) * 3 + 10, 255)
    np.testing.assert_array_equal(ops.color_matrix(images, bright), expected)
    negative = np.hstack([-np.eye(channels), np.full((channels, 1), -1.0)])
    np.testing.assert_array_equal(ops.color_matrix(images, negative), 0)
    if channels == 1:
        out = ops.color_matrix(images[..., 0], bright)
        np.testing.assert_array_equal(out, expected[..., 0])


def _color_outputs(images, colors):
    return (ops.color_matrix(images, colors),
            ops.augment(images, colors=colors, dtype="float32", layout="NCHW"),
            ops.augment(images, colors=colors, dtype="float32", scale=1 / 255))


def test_color_matrix_ties_and_overflow_agree_on_every_path(channels):
    """Halves round up on every path (the 0.5 starts the fused sum). Sums beyond
    float32's range saturate alike on every path and never give NaN: a fused
    multiply-add of finite entries forms no infinite product to cancel an infinite sum
    (the unfused order gave inf - inf = NaN on the scalar path, 0 on the vector one)."""
    images = photo_batch(2, 5, 37, channels)
    half = np.hstack([0.5 * np.eye(channels), np.zeros((channels, 1))])
    np.testing.assert_array_equal(ops.color_matrix(images, half), (images.astype(int) + 1) // 2)
    _vector_and_scalar(_color_outputs, images, half)
    huge = np.zeros((channels, channels + 1))
    huge[:, 0] = 3e38
    huge[:, -2] -= 3e38
    huge[:, -1] = 7.0
    _vector_and_scalar(_color_outputs, images, huge)
    u8, *floats = _color_outputs(images, huge)
    for f in floats:
        assert np.isfinite(f).all()
    if channels > 1:  # 3e38 v0 overflows to inf for v0 >= 2, which no finite term undoes
        np.testing.assert_array_equal(u8[images[..., 0] >= 2], 255)


@pytest.mark.parametrize("view", VIEWS)
def test_color_matrix_non_contiguous(rng, view):
    images = VIEWS[view](photo_batch(6, 26, 39, 4))
    channels = images.shape[-1]
    m = random_color_matrix(rng, channels)
    out = ops.color_matrix(images, m)
    np.testing.assert_array_equal(out, ops.color_matrix(np.ascontiguousarray(images), m))
    assert_bilinear_close(out, ref.color_matrix(images, m))


# ---- lut ------------------------------------------------------------------------------
# lut has two native implementations (portable C and, where the CPU has it, AVX-512
# VBMI); the `lut_path` fixture runs a test on each that this machine can run.


def _lut_paths():
    best = _kernels.lut_path("best")
    return sorted({"portable", best})


@pytest.fixture(params=_lut_paths())
def lut_path(request):
    request_name = "portable" if request.param == "portable" else "best"
    assert _kernels.lut_path(request_name) == request.param
    yield request.param
    _kernels.lut_path("best")


def lut_reference(images, tables):
    """``tables`` (N, C, 256) applied to ``images`` (N, H, W, C) by numpy indexing."""
    n, channels = images.shape[0], images.shape[3]
    return tables[np.arange(n)[:, None, None, None], np.arange(channels), images]


def test_lut_path_switch():
    assert _kernels.lut_path() in ("portable", "avx512vbmi")
    try:
        assert _kernels.lut_path("portable") == "portable"
        assert _kernels.lut_path() == "portable"
    finally:
        best = _kernels.lut_path("best")
    assert best == _kernels.lut_path()
    with pytest.raises(ValueError, match="request"):
        _kernels.lut_path("fast")


def test_lut_shapes(rng, channels, lut_path):
    images = photo_batch(3, 9, 7, channels)
    one = rng.integers(0, 256, 256, dtype=np.uint8)
    per_channel = rng.integers(0, 256, (channels, 256), dtype=np.uint8)
    per_image = rng.integers(0, 256, (3, channels, 256), dtype=np.uint8)
    np.testing.assert_array_equal(ops.lut(images, one), one[images])
    expected = per_channel[np.arange(channels), images]
    np.testing.assert_array_equal(ops.lut(images, per_channel), expected)
    batch = np.arange(3)[:, None, None, None]
    expected = per_image[batch, np.arange(channels), images]
    np.testing.assert_array_equal(ops.lut(images, per_image), expected)


# Row lengths w * C around the SIMD path's 64-byte vectors and 192-byte (C = 3) blocks;
# with contiguous rows the whole image is one run of h * w * C bytes.
LUT_WIDTHS = [1, 2, 5, 16, 21, 22, 43, 47, 63, 64, 65, 85, 129]


@pytest.mark.parametrize("width", LUT_WIDTHS)
def test_lut_run_lengths(rng, channels, lut_path, width):
    tables = rng.integers(0, 256, (3, channels, 256), dtype=np.uint8)
    for height in (1, 3):
        images = random_batch(rng, 3, height, width, channels)
        np.testing.assert_array_equal(ops.lut(images, tables), lut_reference(images, tables))
        # Rows one pixel apart in a wider buffer: every row is a run of its own.
        rows = random_batch(rng, 3, height, width + 1, channels)[:, :, :width]
        np.testing.assert_array_equal(ops.lut(rows, tables), lut_reference(rows, tables))


def test_lut_channels_sharing_a_table(rng, channels, lut_path):
    # Images whose channels share a table are mapped as one channel: the test must see
    # that one differing entry, in the last channel's last entry, keeps them apart.
    images = random_batch(rng, 4, 11, 13, channels)
    images[:, 0, 0, -1] = 255
    shared = rng.integers(0, 256, 256, dtype=np.uint8)
    tables = np.stack([np.tile(shared, (channels, 1))] * 4)
    tables[1, -1, 255] ^= 1
    tables[2] = rng.integers(0, 256, (channels, 256), dtype=np.uint8)
    np.testing.assert_array_equal(ops.lut(images, tables), lut_reference(images, tables))


@pytest.mark.parametrize("rows", ["contiguous", "strided"])
def test_lut_large_batch_streams(rng, lut_path, rows):
    # Above 8 MiB of output the SIMD path streams its stores past the caches; 257 images
    # of 36300 bytes start at every alignment, and so does the misaligned `out`.
    base = random_batch(rng, 257, 110, 111, 3)
    images = base[:, :, :110] if rows == "strided" else np.ascontiguousarray(base[:, :, :110])
    assert images.nbytes > 8 << 20
    tables = rng.integers(0, 256, (257, 3, 256), dtype=np.uint8)
    expected = lut_reference(images, tables)
    out = np.empty(images.nbytes + 1, np.uint8)[1:].reshape(images.shape)
    ops.lut(images, tables, out=out, threads=1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(ops.lut(images, tables, threads=2), expected)
    one = tables[0, 0]
    np.testing.assert_array_equal(ops.lut(images, one, threads=2), one[images])


def test_lut_table_memory_layouts(rng):
    images = photo_batch(3, 5, 6, 3)
    tables = rng.integers(0, 256, (3, 3, 256), dtype=np.uint8)
    for view in (np.asfortranarray(tables), tables.repeat(2, axis=2)[:, :, ::2],
                 np.broadcast_to(tables[0], (3, 3, 256)), tables[0].T.copy().T):
        np.testing.assert_array_equal(
            ops.lut(images, view), ops.lut(images, np.ascontiguousarray(view)))


def test_lut_matches_cv2(rng):
    images = photo_batch(2, 10, 12, 3)
    one = rng.integers(0, 256, 256, dtype=np.uint8)
    per_channel = rng.integers(0, 256, (3, 256), dtype=np.uint8)
    for k in range(2):
        np.testing.assert_array_equal(ops.lut(images, one)[k], cv2.LUT(images[k], one))
        np.testing.assert_array_equal(ops.lut(images, per_channel)[k],
                                      cv2.LUT(images[k], per_channel.T[None].copy()))


@pytest.mark.parametrize("view", VIEWS)
def test_lut_non_contiguous_and_3d(rng, view, lut_path):
    images = VIEWS[view](photo_batch(6, 26, 39, 4))
    table = rng.integers(0, 256, 256, dtype=np.uint8)
    np.testing.assert_array_equal(ops.lut(images, table), table[images])
    gray = images[..., 0]
    out = ops.lut(gray, table)
    assert out.shape == gray.shape
    np.testing.assert_array_equal(out, table[gray])


# ---- normalize ------------------------------------------------------------------------


NORMALIZE_CASES = {
    "defaults": {},
    "scalar": dict(mean=0.5, std=0.25),
    "per_channel": dict(mean="per_channel", std="per_channel"),
    "scale_one": dict(mean=120.0, std=58.0, scale=1.0),
    "std_only": dict(std=0.2),
}


def normalize_kwargs(case, channels):
    kwargs = dict(NORMALIZE_CASES[case])
    if kwargs.get("mean") == "per_channel":
        kwargs["mean"] = [0.485, 0.456, 0.406, 0.5][:channels]
        kwargs["std"] = [0.229, 0.224, 0.225, 0.3][:channels]
    return kwargs


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("case", NORMALIZE_CASES)
def test_normalize(channels, case, layout):
    images = photo_batch(3, 8, 11, channels)
    kwargs = normalize_kwargs(case, channels)
    out = ops.normalize(images, layout=layout, **kwargs)
    expected = ref.normalize(images, layout=layout, **kwargs)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_normalize_3d_input_and_views():
    images = photo_batch(4, 9, 6, 1)[..., 0]
    out = ops.normalize(images, 0.5, 0.25)
    assert out.shape == (4, 9, 6)
    np.testing.assert_allclose(out, (images / 255 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    nchw = ops.normalize(images, 0.5, 0.25, layout="NCHW")
    assert nchw.shape == (4, 1, 9, 6)
    np.testing.assert_array_equal(nchw[:, 0], out)
    view = photo_batch(4, 20, 30, 3).transpose(0, 2, 1, 3)[:, ::3]
    np.testing.assert_allclose(ops.normalize(view, layout="NCHW"),
                               ref.normalize(view, layout="NCHW"), rtol=1e-5, atol=1e-5)


# ---- augment --------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_augment_geometry_only_equals_warp_affine(rng, mode, interpolation):
    images = photo_batch(3, 14, 19, 3)
    for kind in ("general", "axis", "integer"):
        matrices = random_affines(rng, 3, 14, 19, kind)
        kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=(3, 4, 5))
        for inverse in (False, True):
            np.testing.assert_array_equal(
                ops.augment(images, matrices, size=(10, 21), inverse=inverse, **kwargs),
                ops.warp_affine(images, matrices, (10, 21), inverse=inverse, **kwargs))


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_augment_crop_matrix_and_boxes_equal_resized_crop(rng, mode, interpolation):
    # In augment, boxes only clamp the source point; the crop mapping is a matrix.
    images = photo_batch(3, 14, 19, 4)
    boxes = random_boxes(rng, 3, 14, 19)
    matrices = ref.crop_matrices(boxes, (9, 16))
    kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=99)
    np.testing.assert_array_equal(
        ops.augment(images, matrices, size=(9, 16), boxes=boxes, inverse=True, **kwargs),
        ops.resized_crop(images, boxes, (9, 16), **kwargs))


def test_reference_crop_matrix_and_boxes_equal_resized_crop(rng):
    images = photo_batch(3, 14, 19, 3)
    boxes = random_boxes(rng, 3, 14, 19)
    matrices = ref.crop_matrices(boxes, (9, 16))
    np.testing.assert_allclose(
        ref.augment(images, matrices, size=(9, 16), boxes=boxes, inverse=True),
        ref.resized_crop(images, boxes, (9, 16)), atol=1e-9)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_augment_boxes_clamp_general_matrices(rng, interpolation):
    images = photo_batch(3, 14, 19, 3)
    boxes = random_boxes(rng, 3, 14, 19)
    matrices = random_affines(rng, 3, 14, 19)
    kwargs = dict(interpolation=interpolation, fill_mode="wrap")
    out = ops.augment(images, matrices, size=(12, 10), boxes=boxes, **kwargs)
    expected = ref.augment(images, matrices, size=(12, 10), boxes=boxes, **kwargs)
    if interpolation == "bilinear":
        assert_bilinear_close(out, expected)
    else:
        # Clamped coordinates sit on box edges, which may be .5: compare away from ties.
        sx, sy = ref.affine_source_coords(ref.destination_to_source(matrices, 3), (12, 10))
        b = boxes[:, :, None, None]
        sx = ref.clamp_to_boxes(sx, b[:, 1], b[:, 3])
        sy = ref.clamp_to_boxes(sy, b[:, 0], b[:, 2])
        assert_nearest_equal(out, expected, ref.nearest_ties(sx, sy))


def test_augment_flip_matrix_equals_flip():
    images = photo_batch(2, 7, 12, 3)
    hflip = np.array([[-1.0, 0, 11], [0, 1.0, 0]])
    both = np.array([[-1.0, 0, 11], [0, -1.0, 6]])
    for interpolation in INTERPOLATIONS:
        np.testing.assert_array_equal(
            ops.augment(images, hflip, interpolation=interpolation), ops.flip(images, True))
        np.testing.assert_array_equal(
            ops.augment(images, both, interpolation=interpolation),
            ops.flip(images, True, True))


def test_augment_colors_only_equals_color_matrix(rng, channels):
    images = photo_batch(3, 8, 9, channels)
    colors = np.stack([random_color_matrix(rng, channels) for _ in range(3)])
    np.testing.assert_array_equal(ops.augment(images, colors=colors),
                                  ops.color_matrix(images, colors))


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_augment_identity_colors_per_image(rng, channels, interpolation):
    """Images whose colour matrix is [I | 0] (signed zeros too) finish like no colour;
    the others of the same batch keep theirs."""
    images = photo_batch(4, 21, 37, channels)
    matrices = random_affines(rng, 4, 21, 37, "general")
    colors = np.stack([random_color_matrix(rng, channels) for _ in range(4)])
    colors[1] = np.eye(channels, channels + 1)
    colors[3] = np.eye(channels, channels + 1)
    colors[3][colors[3] == 0] = -0.0
    for out in ({}, {"dtype": "float32", "layout": "NCHW", "mean": 0.3, "std": 0.2}):
        kwargs = dict(interpolation=interpolation, fill_mode="reflect", **out)
        got = ops.augment(images, matrices, colors, **kwargs)
        plain = ops.augment(images, matrices, **kwargs)
        for i in range(4):
            want = plain[i] if i in (1, 3) else ops.augment(
                images[i:i + 1], matrices[i:i + 1], colors[i:i + 1], **kwargs)[0]
            np.testing.assert_array_equal(got[i], want)
        assert not np.array_equal(got[0], plain[0])


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("case", NORMALIZE_CASES)
def test_augment_normalize_only_equals_normalize(channels, case, layout):
    images = photo_batch(2, 8, 9, channels)
    kwargs = normalize_kwargs(case, channels)
    np.testing.assert_array_equal(
        ops.augment(images, layout=layout, dtype="float32", **kwargs),
        ops.normalize(images, layout=layout, **kwargs))


def test_augment_no_ingredient_is_a_copy(channels):
    images = photo_batch(2, 5, 6, channels)
    out = ops.augment(images)
    assert out is not images
    np.testing.assert_array_equal(out, images)


def augment_tolerance(std, scale=1 / 255):
    """Absolute tolerance of one grey level in normalised float units."""
    return scale / np.min(np.asarray(std, dtype=np.float64)) * 1.0001 + 1e-5


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("mode", FILL_MODES)
def test_augment_fused_chain_matches_reference(rng, channels, mode, interpolation):
    images = photo_batch(3, 16, 13, channels)
    matrices = random_affines(rng, 3, 16, 13)
    colors = np.stack([random_color_matrix(rng, channels) for _ in range(3)])
    mean = rng.uniform(0.3, 0.6, channels)
    std = rng.uniform(0.2, 0.3, channels)
    kwargs = dict(interpolation=interpolation, fill_mode=mode, cval=random_cval(rng, channels))
    out = ops.augment(images, matrices, colors, (12, 15), mean=mean, std=std,
                      layout="NCHW", dtype="float32", **kwargs)
    assert out.shape == (3, channels, 12, 15) and out.dtype == np.float32
    expected = ref.augment(images, matrices, colors, (12, 15), mean=mean, std=std,
                           layout="NCHW", dtype="float32", **kwargs)
    diff = np.abs(out - expected)
    if interpolation == "nearest":
        # Exact sampling, float32 colour matrix: far below one grey level except ties.
        sx, sy = ref.affine_source_coords(ref.destination_to_source(matrices, 3), (12, 15))
        diff = np.where(ref.nearest_ties(sx, sy)[:, None], 0, diff)
        assert diff.max() <= 1e-3
    assert diff.max() <= augment_tolerance(std)

    as_uint8 = ops.augment(images, matrices, colors, (12, 15), **kwargs)
    expected = ref.augment(images, matrices, colors, (12, 15), **kwargs)
    if interpolation == "bilinear":
        assert_bilinear_close(as_uint8, expected)


def test_augment_fused_equals_op_by_op(rng, channels):
    images = photo_batch(4, 15, 18, channels)
    matrices = random_affines(rng, 4, 15, 18)
    colors = np.stack([random_color_matrix(rng, channels, contraction=True)
                       for _ in range(4)])
    mean = [0.4] * channels
    std = [0.25] * channels
    fused = ops.augment(images, matrices, colors, mean=mean, std=std, layout="NCHW",
                        dtype="float32", fill_mode="reflect")
    staged = ops.warp_affine(images, matrices, fill_mode="reflect")
    staged = ops.color_matrix(staged, colors)
    staged = ops.normalize(staged, mean, std, layout="NCHW")
    assert np.abs(fused - staged).max() <= augment_tolerance(std)


def test_augment_3d_input_layouts(rng):
    images = photo_batch(2, 9, 10, 1)[..., 0]
    m = random_affine(rng, 9, 10)
    nchw = ops.augment(images, m, dtype="float32", layout="NCHW")
    assert nchw.shape == (2, 1, 9, 10)
    nhwc = ops.augment(images, m, dtype="float32")
    assert nhwc.shape == (2, 9, 10)
    np.testing.assert_array_equal(nchw[:, 0], nhwc)
    u8 = ops.augment(images, m)
    assert u8.shape == (2, 9, 10) and u8.dtype == np.uint8
    np.testing.assert_array_equal(u8, ops.warp_affine(images, m))


def test_augment_scale_default_and_explicit(rng):
    images = photo_batch(2, 6, 7, 3)
    default = ops.augment(images, dtype="float32")
    np.testing.assert_allclose(default, images / 255, rtol=1e-6, atol=1e-7)
    explicit = ops.augment(images, dtype="float32", scale=1.0, mean=100.0, std=50.0)
    np.testing.assert_allclose(explicit, (images - 100.0) / 50.0, rtol=1e-5, atol=1e-5)


# ---- empty batches --------------------------------------------------------------------


def test_empty_batch():
    images = np.zeros((0, 6, 7, 3), dtype=np.uint8)
    m = np.zeros((0, 2, 3))
    assert ops.warp_affine(images, m, (4, 5)).shape == (0, 4, 5, 3)
    assert ops.warp_affine(images, np.eye(2, 3)).shape == (0, 6, 7, 3)
    assert ops.resized_crop(images, np.zeros((0, 4)), (2, 3)).shape == (0, 2, 3, 3)
    assert ops.flip(images, True).shape == (0, 6, 7, 3)
    assert ops.color_matrix(images, np.zeros((3, 4))).shape == (0, 6, 7, 3)
    assert ops.lut(images, np.arange(256, dtype=np.uint8)).shape == (0, 6, 7, 3)
    assert ops.normalize(images, layout="NCHW").shape == (0, 3, 6, 7)
    out = ops.augment(images, m, size=(4, 5), dtype="float32", layout="NCHW")
    assert out.shape == (0, 3, 4, 5) and out.dtype == np.float32
    assert ops.warp_affine(images[..., 0], np.eye(2, 3)).shape == (0, 6, 7)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("width", [13, 16])
def test_augment_layouts_agree_bit_for_bit(rng, channels, width):
    """NCHW output (finished four pixels per vector) equals NHWC (pixel by pixel)."""
    images = photo_batch(3, 11, width, channels)
    matrices = random_affines(rng, 3, 11, width)
    colors = rng.uniform(-0.5, 1.5, (3, channels, channels + 1))
    colors[..., -1] = rng.uniform(-40, 40, (3, channels))
    kwargs = dict(mean=0.4, std=0.25, dtype="float32")
    nhwc = ops.augment(images, matrices, colors, **kwargs)
    nchw = ops.augment(images, matrices, colors, layout="NCHW", **kwargs)
    np.testing.assert_array_equal(nchw, nhwc.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("dtype, layout", [("uint8", "NHWC"), ("float32", "NHWC"),
                                           ("float32", "NCHW")])
def test_augment_colour_paths_agree_bit_for_bit(rng, channels, dtype, layout):
    """Column 12 is finished pixel by pixel in a 13-wide output and four pixels at a time
    in a 16-wide one: the values must be identical."""
    images = photo_batch(3, 11, 17, channels)
    matrices = random_affines(rng, 3, 11, 17)
    colors = rng.uniform(-0.5, 1.5, (3, channels, channels + 1))
    colors[..., -1] = rng.uniform(-40, 40, (3, channels))
    kwargs = dict(dtype=dtype, layout=layout)
    if dtype == "float32":
        kwargs.update(mean=0.4, std=0.25)
    narrow = ops.augment(images, matrices, colors, (11, 13), **kwargs)
    wide = ops.augment(images, matrices, colors, (11, 16), **kwargs)
    if layout == "NCHW":
        np.testing.assert_array_equal(narrow, wide[..., :13])
    else:
        np.testing.assert_array_equal(narrow, wide[:, :, :13])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_flip_of_a_batch_larger_than_the_caches(rng, channels):
    """Outputs over 8 MiB are written with streaming stores; same bytes."""
    images = rng.integers(0, 256, (40, 200, 397, channels), dtype=np.uint8)
    flags = rng.random(40) < 0.5
    expected = np.where(flags[:, None, None, None], images[:, :, ::-1], images)
    np.testing.assert_array_equal(ops.flip(images, flags), expected)
    shift = np.array([[1.0, 0.0, -3.0], [0.0, 1.0, 0.0]])  # an integer shift: row copies
    out = ops.warp_affine(images, shift, interpolation="nearest")
    np.testing.assert_array_equal(out[:, :, :-3], images[:, :, 3:])


STREAMED = 9 << 20  # output bytes: above the 8 MiB beyond which copies are streamed


def _streamed_batch(rng, width, channels, n=3, view=None, streamed=True):
    """A random batch of n images `width` wide whose output is over 8 MiB (or, not
    `streamed`, 40 rows high: written with plain stores)."""
    height = -(-STREAMED // (n * width * channels)) if streamed else 40
    if view == "step":  # rows and images strided, pixels adjacent
        return rng.integers(0, 256, (n, 2 * height, width, channels), dtype=np.uint8)[:, ::2]
    if view == "cropped":  # rows not contiguous with one another
        base = rng.integers(0, 256, (n, height, width + 3, channels), dtype=np.uint8)
        return base[:, :, 1:-2]
    if view == "reversed":  # negative row stride
        return rng.integers(0, 256, (n, height, width, channels), dtype=np.uint8)[:, ::-1]
    return rng.integers(0, 256, (n, height, width, channels), dtype=np.uint8)


def _flip_into_offset_buffer(images, horizontal, vertical, offset, threads=1):
    """ops.flip into a view `offset` bytes into a larger buffer; checks the sentinels
    before and after it and returns the output."""
    count = images.size
    buffer = np.full(count + 128, 0xAB, dtype=np.uint8)
    out = buffer[offset:offset + count].reshape(images.shape)
    result = ops.flip(images, horizontal, vertical, out=out, threads=threads)
    assert result is out
    assert (buffer[:offset] == 0xAB).all() and (buffer[offset + count:] == 0xAB).all()
    return out


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "cached"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("width", [3, 16, 21, 22, 43, 64, 65])
def test_flips_touch_only_the_output(rng, channels, width, streamed):
    """Streamed copies (outputs over 8 MiB) and plain ones: odd widths, widths below, at
    and above the vector blocks (64 / C pixels), output buffers at every alignment, each
    way of flipping (left-right rows by vector lines, top-bottom ones from the last line
    up, both ways): the bytes equal numpy's flips (VBMI, AVX2 and scalar code alike) and
    nothing around the output is written."""
    images = _streamed_batch(rng, width, channels, streamed=streamed)
    horizontal = np.array([True, False, True])
    vertical = np.array([False, True, True])
    expected = np.where(horizontal[:, None, None, None], images[:, :, ::-1], images)
    expected = np.where(vertical[:, None, None, None], expected[:, ::-1], expected)
    for offset in (0, 1, 63):
        out = _flip_into_offset_buffer(images, horizontal, vertical, offset)
        np.testing.assert_array_equal(out, expected)
    for simd in ({"enabled": True, "vbmi": False}, {"enabled": False}):
        _kernels.set_simd(**simd)
        try:
            np.testing.assert_array_equal(
                _flip_into_offset_buffer(images, horizontal, vertical, 1), expected)
        finally:
            _kernels.set_simd(True)


@pytest.mark.parametrize("view", ["step", "cropped", "reversed"])
def test_streamed_flips_of_non_contiguous_inputs(rng, channels, view):
    images = _streamed_batch(rng, 37, channels, view=view)
    horizontal = np.array([True, False, True])
    expected = np.where(horizontal[:, None, None, None], images[:, :, ::-1], images)
    np.testing.assert_array_equal(_flip_into_offset_buffer(images, horizontal, True, 1),
                                  expected[:, ::-1])
    np.testing.assert_array_equal(_flip_into_offset_buffer(images, False, False, 5), images)


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "cached"])
def test_flip_of_one_image_split_between_threads(rng, channels, streamed):
    """Two threads write one image's row chunks, each its own byte range, the lines at
    the chunks' ends shared: each way of flipping."""
    images = _streamed_batch(rng, 101, channels, n=1, streamed=streamed)
    for horizontal, vertical in ((True, True), (True, False), (False, True)):
        out = _flip_into_offset_buffer(images, horizontal, vertical, 3, threads=2)
        expected = images[:, :, ::-1] if horizontal else images
        np.testing.assert_array_equal(out, expected[:, ::-1] if vertical else expected)


@pytest.mark.parametrize("fill_mode", ["constant", "reflect"])
def test_streamed_row_copies_between_interpolated_rows(rng, channels, fill_mode):
    """A left-right flip with a vertical zoom: every other output row is an exact copy of
    a source row, between bilinear rows; a shift leaves rows beyond the border. Streamed
    (the whole batch) and cached (one image at a time) outputs are identical."""
    images = _streamed_batch(rng, 57, channels)
    n, height, width, _ = images.shape
    matrices = np.array([[-1.0, 0.0, width - 1.0], [0.0, 0.5, -5.0]])
    kwargs = dict(inverse=True, interpolation="bilinear", fill_mode=fill_mode, cval=9)
    out = ops.augment(images, matrices, **kwargs)
    for k in range(n):
        np.testing.assert_array_equal(out[k:k + 1], ops.augment(images[k:k + 1], matrices,
                                                                **kwargs))
    rows = np.arange(10, height, 2)  # y / 2 - 5, exact and inside
    np.testing.assert_array_equal(out[:, rows], images[:, rows // 2 - 5, ::-1])
