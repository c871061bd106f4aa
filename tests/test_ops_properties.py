"""Property tests: random shapes, matrices, boxes and modes against the reference.

Images are uniform noise (the reference is exact, so no smoothness is needed), with
random memory layouts. Every example also checks that one and two native threads, and
the vector and scalar sampling kernels, give bit-identical results.
"""

from __future__ import annotations

import numpy as np
import reference as ref
from conftest import assert_bilinear_close, assert_nearest_equal, compose_affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastaug import _kernels, ops

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

sides = st.integers(1, 40)
channel_counts = st.sampled_from([1, 3, 4])
fill_modes = st.sampled_from(ref.FILL_MODES)
interpolations = st.sampled_from(ref.INTERPOLATIONS)
layouts = st.sampled_from(["contiguous", "step", "transposed", "reversed", "3d"])


@st.composite
def image_batches(draw, max_n=4):
    """A uint8 batch (N, H, W, C) or (N, H, W), possibly a non-contiguous view."""
    n = draw(st.integers(1, max_n))
    height, width = draw(sides), draw(sides)
    channels = draw(channel_counts)
    layout = draw(layouts)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if layout == "step":
        base = rng.integers(0, 256, (n, 2 * height, 3 * width, channels), dtype=np.uint8)
        return base[:, ::2, ::3]
    if layout == "transposed":
        base = rng.integers(0, 256, (n, width, height, channels), dtype=np.uint8)
        return base.transpose(0, 2, 1, 3)
    if layout == "reversed":
        base = rng.integers(0, 256, (n, height, width, channels), dtype=np.uint8)
        return base[::-1, ::-1, ::-1]
    if layout == "3d":
        return rng.integers(0, 256, (n, height, width), dtype=np.uint8)
    return rng.integers(0, 256, (n, height, width, channels), dtype=np.uint8)


def nhwc_shape(images):
    shape = images.shape
    return shape if len(shape) == 4 else (*shape, 1)


@st.composite
def affine_matrices(draw, height, width):
    """A forward 2x3 matrix: flips, scale 0.25..4, shear, rotation, translation.

    Some are axis-aligned (no rotation or shear) or integer-valued, to reach the
    kernels' fast paths.
    """
    kind = draw(st.sampled_from(["general", "general", "axis", "integer"]))
    flip = (draw(st.booleans()), draw(st.booleans()))
    shift = (draw(st.floats(-1.5, 1.5)) * width, draw(st.floats(-1.5, 1.5)) * height)
    centre = ((width - 1) / 2, (height - 1) / 2)
    if kind == "integer":
        return np.round(compose_affine(flip=flip, shift=shift, centre=centre))
    scale = tuple(np.exp(draw(st.floats(np.log(0.25), np.log(4.0)))) for _ in range(2))
    if kind == "axis":
        return compose_affine(scale=scale, flip=flip, shift=shift, centre=centre)
    angle = draw(st.floats(0, 2 * np.pi))
    shear = draw(st.floats(-0.8, 0.8))
    return compose_affine(angle, scale, shear, flip, shift, centre)


def cvals(channels):
    level = st.integers(0, 255)
    return st.one_of(level, st.tuples(*[level] * channels))


def assert_threads_agree(call):
    """Run `call(threads)` with 1 and 2 threads, with the vector sampling kernels limited
    to AVX2 and with them off; return the (identical) result."""
    one = call(1)
    np.testing.assert_array_equal(call(2), one)
    try:
        _kernels.set_simd(True, vbmi=False)
        np.testing.assert_array_equal(call(1), one)
        _kernels.set_simd(False)
        np.testing.assert_array_equal(call(1), one)
    finally:
        _kernels.set_simd(True)
    return one


@SETTINGS
@given(data=st.data(), images=image_batches(), fill_mode=fill_modes,
       interpolation=interpolations, inverse=st.booleans())
def test_warp_affine_matches_reference(data, images, fill_mode, interpolation, inverse):
    n, height, width, channels = nhwc_shape(images)
    matrices = np.stack([data.draw(affine_matrices(height, width)) for _ in range(n)])
    size = (data.draw(sides), data.draw(sides))
    kwargs = dict(inverse=inverse, interpolation=interpolation, fill_mode=fill_mode,
                  cval=data.draw(cvals(channels)))
    out = assert_threads_agree(
        lambda threads: ops.warp_affine(images, matrices, size, threads=threads, **kwargs))
    assert out.shape == (n, *size) + images.shape[3:]
    expected = ref.warp_affine(images, matrices, size, **kwargs)
    if interpolation == "bilinear":
        assert_bilinear_close(out, expected)
    else:
        minv = ref.destination_to_source(matrices, n, inverse)
        sx, sy = ref.affine_source_coords(minv, size)
        assert_nearest_equal(out, expected, ref.nearest_ties(sx, sy))


@st.composite
def crop_boxes(draw, height, width):
    """(top, left, h, w): anywhere from well outside to inside, sizes 0.25..2x."""
    h = draw(st.floats(0.25, 2.0 * height))
    w = draw(st.floats(0.25, 2.0 * width))
    top = draw(st.floats(-height, 1.5 * height))
    left = draw(st.floats(-width, 1.5 * width))
    if draw(st.booleans()):  # integer boxes
        top, left = float(np.round(top)), float(np.round(left))
        h, w = float(max(1, np.round(h))), float(max(1, np.round(w)))
    return top, left, h, w


@SETTINGS
@given(data=st.data(), images=image_batches(), fill_mode=fill_modes,
       interpolation=interpolations)
def test_resized_crop_matches_reference(data, images, fill_mode, interpolation):
    n, height, width, channels = nhwc_shape(images)
    boxes = np.array([data.draw(crop_boxes(height, width)) for _ in range(n)])
    size = (data.draw(sides), data.draw(sides))
    kwargs = dict(interpolation=interpolation, fill_mode=fill_mode,
                  cval=data.draw(cvals(channels)))
    out = assert_threads_agree(
        lambda threads: ops.resized_crop(images, boxes, size, threads=threads, **kwargs))
    expected = ref.resized_crop(images, boxes, size, **kwargs)
    if interpolation == "bilinear":
        assert_bilinear_close(out, expected)
    else:
        sx, sy = ref.crop_source_coords(boxes, size)
        assert_nearest_equal(out, expected, ref.nearest_ties(sx, sy))


@st.composite
def color_matrices(draw, channels):
    gains = draw(st.lists(st.floats(-2, 2), min_size=channels * channels,
                          max_size=channels * channels))
    offsets = draw(st.lists(st.floats(-255, 255), min_size=channels, max_size=channels))
    return np.hstack([np.reshape(gains, (channels, channels)),
                      np.reshape(offsets, (channels, 1))])


@SETTINGS
@given(data=st.data(), images=image_batches())
def test_color_matrix_matches_reference(data, images):
    n, _, _, channels = nhwc_shape(images)
    matrices = np.stack([data.draw(color_matrices(channels)) for _ in range(n)])
    out = assert_threads_agree(
        lambda threads: ops.color_matrix(images, matrices, threads=threads))
    assert out.shape == images.shape
    assert_bilinear_close(out, ref.color_matrix(images, matrices))


@SETTINGS
@given(data=st.data(), images=image_batches())
def test_flip_and_lut_are_exact(data, images):
    n, _, _, channels = nhwc_shape(images)
    horizontal = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    vertical = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    out = assert_threads_agree(
        lambda threads: ops.flip(images, horizontal, vertical, threads=threads))
    expected = images.copy()
    expected[horizontal] = expected[horizontal][:, :, ::-1]
    expected[vertical] = expected[vertical][:, ::-1]
    np.testing.assert_array_equal(out, expected)

    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    tables = rng.integers(0, 256, (n, channels, 256), dtype=np.uint8)
    out = assert_threads_agree(lambda threads: ops.lut(images, tables, threads=threads))
    expected = tables[np.arange(n)[:, None, None, None], np.arange(channels),
                      images.reshape(nhwc_shape(images))]
    np.testing.assert_array_equal(out, expected.reshape(images.shape))


@SETTINGS
@given(data=st.data(), images=image_batches(), fill_mode=fill_modes,
       interpolation=interpolations, layout=st.sampled_from(["NHWC", "NCHW"]))
def test_augment_fused_matches_reference(data, images, fill_mode, interpolation, layout):
    n, height, width, channels = nhwc_shape(images)
    matrices = np.stack([data.draw(affine_matrices(height, width)) for _ in range(n)])
    colors = np.stack([data.draw(color_matrices(channels)) for _ in range(n)])
    size = (data.draw(sides), data.draw(sides))
    mean = data.draw(st.lists(st.floats(-1, 1), min_size=channels, max_size=channels))
    std = data.draw(st.lists(st.floats(0.1, 2), min_size=channels, max_size=channels))
    kwargs = dict(interpolation=interpolation, fill_mode=fill_mode,
                  cval=data.draw(cvals(channels)), mean=mean, std=std, layout=layout,
                  dtype="float32")
    out = assert_threads_agree(
        lambda threads: ops.augment(images, matrices, colors, size, threads=threads,
                                    **kwargs))
    expected = ref.augment(images, matrices, colors, size, **kwargs)
    assert out.dtype == np.float32
    if layout == "NHWC" and images.ndim == 3:
        expected = expected[..., 0]
    assert out.shape == expected.shape
    # One grey level (1/255 in scaled units) divided by std, plus float32 rounding.
    grey = (1 / 255) / np.asarray(std)
    grey = grey[:, None, None] if layout == "NCHW" else grey
    diff = np.abs(out - expected).reshape((n, channels, *size) if layout == "NCHW"
                                          else (n, *size, channels))
    if interpolation == "nearest":
        sx, sy = ref.affine_source_coords(ref.destination_to_source(matrices, n), size)
        ties = ref.nearest_ties(sx, sy)
        diff = np.where(ties[:, None] if layout == "NCHW" else ties[..., None], 0, diff)
    assert np.all(diff <= grey * 1.0001 + 1e-5)
