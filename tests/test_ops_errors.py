"""Bad input: every op raises a clear TypeError/ValueError naming the argument.

Convention: a wrong dtype or a wrong kind of object is a TypeError, a wrong shape or
value a ValueError. Inputs the Python layer accepts, however extreme, must never crash
the native code.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo_batch

import fastaug
from fastaug import ops

N, H, W, C = 2, 6, 7, 3
IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
COLOR_IDENTITY = np.hstack([np.eye(C), np.zeros((C, 1))])
BOX = (1.0, 1.0, 3.0, 4.0)
TABLE = np.arange(256, dtype=np.uint8)


@pytest.fixture
def images():
    return photo_batch(N, H, W, C)


def brighten(images):
    """A valid colour matrix for `images` (+1 grey level on every channel)."""
    channels = np.shape(images)[-1] if np.ndim(images) == 4 else 1
    return np.hstack([np.eye(channels), np.ones((channels, 1))])


# Every op, called with valid arguments except for what a test passes in `kwargs`.
OPS = {
    "warp_affine": lambda x, **kw: ops.warp_affine(x, kw.pop("matrices", IDENTITY), **kw),
    "resized_crop": lambda x, **kw: ops.resized_crop(
        x, kw.pop("boxes", BOX), kw.pop("size", (4, 5)), **kw),
    "flip": lambda x, **kw: ops.flip(x, kw.pop("horizontal", True), **kw),
    "color_matrix": lambda x, **kw: ops.color_matrix(
        x, kw.pop("matrices", brighten(x)), **kw),
    "lut": lambda x, **kw: ops.lut(x, kw.pop("tables", TABLE), **kw),
    "normalize": lambda x, **kw: ops.normalize(x, **kw),
    "augment": lambda x, **kw: ops.augment(x, kw.pop("matrices", IDENTITY), **kw),
}
GEOMETRIC = ["warp_affine", "resized_crop", "augment"]
OUTPUT_SHAPES = {
    "warp_affine": ((N, H, W, C), np.uint8),
    "resized_crop": ((N, 4, 5, C), np.uint8),
    "flip": ((N, H, W, C), np.uint8),
    "color_matrix": ((N, H, W, C), np.uint8),
    "lut": ((N, H, W, C), np.uint8),
    "normalize": ((N, H, W, C), np.float32),
    "augment": ((N, H, W, C), np.uint8),
}


# ---- images ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_images_dtype(images, op):
    with pytest.raises(TypeError, match="images"):
        OPS[op](images.astype(np.float64))
    with pytest.raises(TypeError, match="images"):
        OPS[op](images.astype(np.int16))
    with pytest.raises(TypeError, match="images"):
        OPS[op](images.tolist())


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape", [(H, W), (N, H, W, C, 1), (N,), (N, H, W, 2), (N, H, W, 5)])
def test_images_shape(op, shape):
    with pytest.raises(ValueError, match="images"):
        OPS[op](np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("op", OPS)
def test_images_empty_sides(op):
    with pytest.raises(ValueError, match="images"):
        OPS[op](np.zeros((N, 0, W, C), dtype=np.uint8))
    with pytest.raises(ValueError, match="images"):
        OPS[op](np.zeros((N, H, 0, C), dtype=np.uint8))


@pytest.mark.parametrize("op", OPS)
def test_read_only_images_are_accepted(images, op):
    expected = OPS[op](images)
    images.setflags(write=False)
    np.testing.assert_array_equal(OPS[op](images), expected)


# ---- matrices -------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["warp_affine", "augment"])
@pytest.mark.parametrize("shape", [(2, 2), (N, 3, 3), (3,), (N, 2, 3, 1), (N + 1, 2, 3),
                                   (N - 1, 2, 3), (0, 2, 3)])
def test_matrices_shape(images, op, shape):
    with pytest.raises(ValueError, match="matrices"):
        OPS[op](images, matrices=np.ones(shape))


@pytest.mark.parametrize("op", ["warp_affine", "augment"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("inverse", [False, True])
def test_matrices_not_finite(images, op, bad, inverse):
    m = np.tile(IDENTITY, (N, 1, 1))
    m[1, 0, 2] = bad
    with pytest.raises(ValueError, match="matrices"):
        OPS[op](images, matrices=m, inverse=inverse)


@pytest.mark.parametrize("op", ["warp_affine", "augment"])
@pytest.mark.parametrize("linear", [[[0, 0], [0, 0]], [[1, 2], [2, 4]], [[0, 1], [0, 3]]])
def test_singular_forward_matrix(images, op, linear):
    m = np.tile(IDENTITY, (N, 1, 1))
    m[1, :, :2] = linear
    with pytest.raises(ValueError, match="matrices"):
        OPS[op](images, matrices=m)
    # The same matrix is a valid destination-to-source map.
    OPS[op](images, matrices=m, inverse=True)


def test_matrices_wrong_type(images):
    with pytest.raises(TypeError, match="matrices"):
        ops.warp_affine(images, [["a", "b", "c"], ["d", "e", "f"]])
    with pytest.raises((TypeError, ValueError), match="matrices"):
        ops.warp_affine(images, None)
    with pytest.raises((TypeError, ValueError), match="matrices"):
        ops.color_matrix(images, None)


@pytest.mark.parametrize("shape", [(C, C), (C + 1, C + 2), (N, C, C), (N + 1, C, C + 1),
                                   (1, 2, 3), (C * (C + 1),)])
def test_color_matrices_shape(images, shape):
    with pytest.raises(ValueError, match="matrices"):
        ops.color_matrix(images, np.ones(shape))
    with pytest.raises(ValueError, match="colors"):
        ops.augment(images, colors=np.ones(shape))


def test_color_matrices_not_finite(images):
    m = COLOR_IDENTITY.copy()
    m[1, 2] = np.nan
    with pytest.raises(ValueError, match="matrices"):
        ops.color_matrix(images, m)
    with pytest.raises(ValueError, match="colors"):
        ops.augment(images, colors=m)
    m[1, 2] = 1e39  # finite, but infinite in float32, where the kernels compute
    with pytest.raises(ValueError, match="matrices must fit in float32"):
        ops.color_matrix(images, m)
    with pytest.raises(ValueError, match="colors must fit in float32"):
        ops.augment(images, colors=m)


# ---- names of modes -------------------------------------------------------------------


@pytest.mark.parametrize("op", GEOMETRIC)
@pytest.mark.parametrize("name", ["cubic", "linear", "NEAREST", "", None, 1])
def test_unknown_interpolation(images, op, name):
    with pytest.raises(ValueError, match="interpolation"):
        OPS[op](images, interpolation=name)


@pytest.mark.parametrize("op", GEOMETRIC)
@pytest.mark.parametrize("name", ["edge", "reflect101", "Wrap", "", None, 0])
def test_unknown_fill_mode(images, op, name):
    with pytest.raises(ValueError, match="fill_mode"):
        OPS[op](images, fill_mode=name)


@pytest.mark.parametrize("op", ["normalize", "augment"])
@pytest.mark.parametrize("name", ["CHW", "nchw", "HWC", None])
def test_unknown_layout(images, op, name):
    with pytest.raises(ValueError, match="layout"):
        OPS[op](images, layout=name, dtype="float32")


@pytest.mark.parametrize("dtype", ["float64", "int8", "float16", "bogus"])
def test_unknown_dtype(images, dtype):
    with pytest.raises((TypeError, ValueError), match="dtype"):
        ops.augment(images, dtype=dtype)
    with pytest.raises((TypeError, ValueError), match="dtype"):
        ops.normalize(images, dtype=dtype)


# ---- size -----------------------------------------------------------------------------


@pytest.mark.parametrize("op", GEOMETRIC)
@pytest.mark.parametrize("size", [(0, 5), (5, 0), (-1, 5), (5, -3), (5,), (1, 2, 3), 5, "abc"])
def test_bad_size(images, op, size):
    with pytest.raises(ValueError, match="size"):
        OPS[op](images, size=size)


@pytest.mark.parametrize("op", GEOMETRIC)
@pytest.mark.parametrize("size", [(2.5, 3), (3, 4.0), "ab", (None, 3)])
def test_non_integer_size(images, op, size):
    with pytest.raises((TypeError, ValueError), match="size"):
        OPS[op](images, size=size)


@pytest.mark.parametrize("op", GEOMETRIC)
@pytest.mark.parametrize("size", [(10**6, 10**6), (2**31, 2**31), (2**40, 3), (10**20, 1)])
def test_output_too_large(images, op, size):
    with pytest.raises((ValueError, MemoryError)):
        OPS[op](images, size=size)


def test_float_output_too_large(images):
    with pytest.raises((ValueError, MemoryError)):
        ops.augment(images, size=(10**6, 10**6), dtype="float32", layout="NCHW")


# ---- out= -----------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_out_wrong_shape(images, op):
    shape, dtype = OUTPUT_SHAPES[op]
    for bad in [(N + 1, *shape[1:]), shape[:3], (N, shape[1], shape[2] + 1, C),
                (*shape[:3], C + 1)]:
        with pytest.raises(ValueError, match="out"):
            OPS[op](images, out=np.zeros(bad, dtype))


@pytest.mark.parametrize("op", OPS)
def test_out_wrong_dtype(images, op):
    shape, dtype = OUTPUT_SHAPES[op]
    wrong = np.float64 if dtype == np.float32 else np.int32
    with pytest.raises(TypeError, match="out"):
        OPS[op](images, out=np.zeros(shape, wrong))
    with pytest.raises(TypeError, match="out"):
        OPS[op](images, out=np.zeros(shape, dtype).tolist())


@pytest.mark.parametrize("op", OPS)
def test_out_read_only(images, op):
    shape, dtype = OUTPUT_SHAPES[op]
    out = np.zeros(shape, dtype)
    out.setflags(write=False)
    with pytest.raises(ValueError, match="out"):
        OPS[op](images, out=out)


@pytest.mark.parametrize("op", OPS)
def test_out_not_contiguous(images, op):
    shape, dtype = OUTPUT_SHAPES[op]
    out = np.zeros((shape[0], shape[1], 2 * shape[2], shape[3]), dtype)[:, :, ::2]
    with pytest.raises(ValueError, match="out"):
        OPS[op](images, out=out)


@pytest.mark.parametrize("op", [op for op, (_, dtype) in OUTPUT_SHAPES.items()
                                if dtype == np.uint8])
def test_out_overlapping_images(images, op):
    with pytest.raises(ValueError, match="out"):
        OPS[op](images, out=images)
    # A view of the input is as bad as the input itself.
    big = np.zeros((N + 1, H, W, C), np.uint8)
    with pytest.raises(ValueError, match="out"):
        OPS[op](big[1:], out=big[:N])


@pytest.mark.parametrize("op", OPS)
def test_out_3d_for_3d_input(op):
    images = photo_batch(N, H, W, 1)[..., 0]
    shape, dtype = OUTPUT_SHAPES[op]
    out = np.zeros(shape[:3], dtype)
    result = OPS[op](images, out=out)
    assert result is out
    np.testing.assert_array_equal(out, OPS[op](images))


# ---- cval, boxes, tables, mean/std ----------------------------------------------------


@pytest.mark.parametrize("op", GEOMETRIC)
@pytest.mark.parametrize("cval", [(1, 2), (1, 2, 3, 4), -1, 256, (0, 0, 300), np.nan,
                                  (0, -0.5, 0), 1e9])
def test_bad_cval(images, op, cval):
    with pytest.raises(ValueError, match="cval"):
        OPS[op](images, cval=cval)


@pytest.mark.parametrize("box", [(0, 0, 0, 3), (0, 0, 3, 0), (0, 0, -2, 3), (0, 0, 3, -1),
                                 (np.nan, 0, 3, 3), (0, np.inf, 3, 3), (0, 0, np.inf, 3),
                                 (0, 0, 3, np.nan)])
def test_bad_boxes_values(images, box):
    with pytest.raises(ValueError, match="boxes"):
        ops.resized_crop(images, box, (4, 4))
    boxes = np.tile(BOX, (N, 1))
    boxes[-1] = box
    with pytest.raises(ValueError, match="boxes"):
        ops.resized_crop(images, boxes, (4, 4))
    with pytest.raises(ValueError, match="boxes"):
        ops.augment(images, boxes=boxes)


@pytest.mark.parametrize("shape", [(3,), (5,), (N, 3), (N + 1, 4), (N, 4, 1)])
def test_bad_boxes_shape(images, shape):
    with pytest.raises(ValueError, match="boxes"):
        ops.resized_crop(images, np.ones(shape), (4, 4))


def test_resized_crop_needs_size(images):
    with pytest.raises((TypeError, ValueError), match="size"):
        ops.resized_crop(images, BOX, None)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int8, bool])
def test_tables_dtype(images, dtype):
    with pytest.raises(TypeError, match="tables"):
        ops.lut(images, np.arange(256).astype(dtype))


@pytest.mark.parametrize("shape", [(255,), (257,), (C + 1, 256), (1, 256), (N + 1, C, 256),
                                   (N, 1, 256), (256, C), ()])
def test_tables_shape(images, shape):
    with pytest.raises(ValueError, match="tables"):
        ops.lut(images, np.zeros(shape, np.uint8))


@pytest.mark.parametrize("op", ["normalize", "augment"])
@pytest.mark.parametrize("std", [0, (1, 0, 1), (0.0, 0.0, 0.0)])
def test_std_zero(images, op, std):
    with pytest.raises(ValueError, match="std"):
        OPS[op](images, std=std, dtype="float32")


@pytest.mark.parametrize("op", ["normalize", "augment"])
@pytest.mark.parametrize("name", ["mean", "std"])
@pytest.mark.parametrize("value", [(1, 2), (1, 2, 3, 4), np.nan, np.inf])
def test_bad_mean_std(images, op, name, value):
    with pytest.raises(ValueError, match=name):
        OPS[op](images, dtype="float32", **{name: value})


@pytest.mark.parametrize("name, value", [("mean", 0.5), ("std", 0.5), ("scale", 1.0)])
def test_normalisation_with_uint8_output(images, name, value):
    with pytest.raises(ValueError, match=name):
        ops.augment(images, dtype="uint8", **{name: value})


def test_nchw_with_uint8_output(images):
    with pytest.raises(ValueError, match="layout|dtype"):
        ops.augment(images, layout="NCHW", dtype="uint8")


@pytest.mark.parametrize("op", ["normalize", "augment"])
@pytest.mark.parametrize("scale", [np.nan, np.inf, "x"])
def test_bad_scale(images, op, scale):
    with pytest.raises((TypeError, ValueError), match="scale"):
        OPS[op](images, scale=scale, dtype="float32")


# ---- flip flags and threads -----------------------------------------------------------


@pytest.mark.parametrize("name", ["horizontal", "vertical"])
def test_flip_flags(images, name):
    flags = {"horizontal": False, "vertical": False}
    flags[name] = [True] * (N + 1)
    with pytest.raises(ValueError, match=name):
        ops.flip(images, flags["horizontal"], flags["vertical"])
    flags[name] = np.ones((N, 2), bool)
    with pytest.raises(ValueError, match=name):
        ops.flip(images, flags["horizontal"], flags["vertical"])
    flags[name] = 0.5
    with pytest.raises(TypeError, match=name):
        ops.flip(images, flags["horizontal"], flags["vertical"])


@pytest.mark.parametrize("op", OPS)
def test_bad_threads(images, op):
    for threads in (0, -1):
        with pytest.raises(ValueError, match="threads"):
            OPS[op](images, threads=threads)
    for threads in (1.5, "2"):
        with pytest.raises(TypeError, match="threads"):
            OPS[op](images, threads=threads)


@pytest.mark.parametrize("op", ["warp_affine", "lut"])
def test_absurd_thread_count(images, op):
    # Either capped to something sensible or refused; never an OverflowError.
    try:
        out = OPS[op](images, threads=2**40)
    except ValueError as error:
        assert "threads" in str(error)
    else:
        np.testing.assert_array_equal(out, OPS[op](images, threads=1))


def test_bad_set_num_threads():
    before = fastaug.get_num_threads()
    with pytest.raises(ValueError, match="threads"):
        fastaug.set_num_threads(0)
    with pytest.raises(TypeError, match="threads"):
        fastaug.set_num_threads(2.0)
    assert fastaug.get_num_threads() == before


# ---- extreme but accepted input never crashes -----------------------------------------


EXTREME_INVERSE = [
    [[1e308, 1e308, 1e308], [-1e308, 1e308, -1e308]],
    [[-1e308, 0, 1e308], [0, 1e308, -1e308]],
    [[1e-300, 0, 1e15], [0, -1e-300, -1e15]],
    [[0, 0, 2.0**62], [0, 0, -(2.0**63)]],
    [[3e9, 0, 0], [0, 0, 0.5]],
]


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "mirror", "wrap"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_extreme_matrices_do_not_crash(images, mode, interpolation):
    for m in EXTREME_INVERSE:
        out = ops.warp_affine(images, m, (5, 9), inverse=True, interpolation=interpolation,
                              fill_mode=mode, cval=(1, 2, 3))
        assert out.shape == (N, 5, 9, C)
    far = [[1e-9, 0, 0], [0, 1e-9, 0]]  # valid forward map, inverse ~1e9
    out = ops.warp_affine(images, far, interpolation=interpolation, fill_mode=mode)
    assert out.shape == (N, H, W, C)


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "mirror", "wrap"])
def test_extreme_boxes_do_not_crash(images, mode):
    for box in [(-1e300, -1e300, 1e300, 1e300), (1e15, -1e15, 1e-300, 1e-300),
                (0.0, 0.0, 1e308, 1e308), (2.0**62, 2.0**62, 1.0, 1.0),
                (-1e8, 1e8, 1.5e8, 1e-9), (0.5, 0.5, 1e-12, 1e-12)]:
        for interpolation in ("nearest", "bilinear"):
            # Refusing boxes far outside any image is fine; crashing is not.
            try:
                out = ops.resized_crop(images, box, (3, 4), interpolation=interpolation,
                                       fill_mode=mode)
            except ValueError as error:
                assert "boxes" in str(error)
            else:
                assert out.shape == (N, 3, 4, C)
