"""ops.sequence (csrc/sequence.c): per-image step sequences against the same steps run
one op at a time, image by image, through the separate ops (lut, histogram, augment,
mean_gray, filter3x3, blend) and numpy tables; the native paths against each other."""
import numpy as np
import pytest
from conftest import photo_batch
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaug import _kernels, ops

KIND = ops.STEP_KINDS
SMOOTH = np.array([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def autocontrast_table(hist):
    """torchvision's autocontrast as a table, float32 like its uint8 path."""
    present = np.flatnonzero(hist)
    lo, hi = (np.float32(present[0]), np.float32(present[-1])) if len(present) else (0, 255)
    lo, hi = np.float32(lo), np.float32(hi)
    if hi == lo:
        lo, scale = np.float32(0), np.float32(1)
    else:
        scale = (hi - lo) * np.float32(1.0 / 255.0)
    return np.clip((np.arange(256, dtype=np.float32) - lo) / scale, 0, 255).astype(np.uint8)


def equalize_table(hist):
    """PIL's ImageOps.equalize as a table."""
    present = np.flatnonzero(hist)
    top = present[-1] if len(present) else 255
    step = (int(hist.sum()) - int(hist[top])) // 255
    if step <= 0:
        return np.arange(256, dtype=np.uint8)
    cum = np.concatenate([[0], np.cumsum(hist)[:-1]])
    return np.minimum((cum + step // 2) // step, 255).astype(np.uint8)


def one_step(img, kind, args, s, i, interpolation, cval):
    """Step s of image i (img: (1, H, W, C)) through the separate ops."""
    c = img.shape[3]
    if kind == KIND["lut"]:
        return ops.lut(img, args["tables"][i, s])
    if kind in (KIND["autocontrast"], KIND["equalize"]):
        hist = ops.histogram(img)[0]
        make = autocontrast_table if kind == KIND["autocontrast"] else equalize_table
        tables = np.stack([make(hist[ch]) if ch < (1 if c == 1 else 3)
                           else np.arange(256, dtype=np.uint8) for ch in range(c)])
        return ops.lut(img, tables)
    if kind == KIND["augment"]:
        m, col = args["matrices"][i, s], args["colors"][i, s].copy()
        gray = args["gray"][i, s]
        warp = dict(inverse=True, interpolation=interpolation, fill_mode="constant", cval=cval)
        if np.any(gray):
            warped = ops.augment(img, m, **warp)
            col[:, c] += gray * ops.mean_gray(warped, GRAY_WEIGHTS)[0]
        return ops.augment(img, m, col, **warp)
    if kind == KIND["sharpness"]:
        h, w = img.shape[1:3]
        if h < 3 or w < 3:
            return img.copy()
        smooth = ops.filter3x3(img, SMOOTH, fill_mode="nearest")
        out = ops.blend([img, smooth], args["weights"][i, s], offset=args["offset"])
        out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1] = (
            img[:, 0], img[:, -1], img[:, :, 0], img[:, :, -1])
        return out
    return img


def reference(x, args, interpolation, cval):
    out = np.empty_like(x)
    for i in range(len(x)):
        img = x[i:i + 1]
        for s, kind in enumerate(args["kinds"][i]):
            img = one_step(img, kind, args, s, i, interpolation, cval)
        out[i] = img[0]
    return out


def random_steps(rng, n, s, h, w, c, kinds=None):
    """Random steps of every kind, with parameters that move, recolour and sharpen."""
    kinds = rng.integers(0, len(KIND), (n, s)) if kinds is None else np.asarray(kinds)
    ang = rng.uniform(-np.pi, np.pi, (n, s))
    scale = rng.uniform(0.6, 1.5, (n, s))
    mats = np.zeros((n, s, 2, 3))
    mats[..., 0, 0] = mats[..., 1, 1] = np.cos(ang) * scale
    mats[..., 0, 1] = -np.sin(ang) * scale
    mats[..., 1, 0] = np.sin(ang) * scale
    mats[..., 0, 2] = rng.uniform(-w / 3, w / 3, (n, s)) + w / 2 * (1 - mats[..., 0, 0])
    mats[..., 1, 2] = rng.uniform(-h / 3, h / 3, (n, s)) + h / 2 * (1 - mats[..., 1, 1])
    still = rng.random((n, s)) < 0.3  # colour only
    mats[still] = np.eye(3)[:2]
    colors = np.tile(np.eye(c, c + 1), (n, s, 1, 1))
    colors[..., :c] *= rng.uniform(0.5, 1.6, (n, s, 1, 1))
    colors[..., c] = rng.uniform(-40, 40, (n, s, c))
    gray = np.where(rng.random((n, s, 1)) < 0.4, rng.uniform(-0.8, 0.9, (n, s, c)), 0.0)
    f = rng.uniform(-0.5, 2.0, (n, s))
    return {"kinds": kinds, "matrices": mats, "colors": colors, "gray": gray,
            "tables": rng.integers(0, 256, (n, s, c, 256), dtype=np.uint8),
            "weights": np.stack([f, 1 - f], axis=-1), "offset": float(rng.uniform(-0.5, 0.5))}


def run(x, args, interpolation="nearest", cval=0, **kw):
    return ops.sequence(x, **args, gray_weights=GRAY_WEIGHTS, interpolation=interpolation,
                        cval=cval, **kw)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 4), st.integers(1, 19), st.integers(1, 23),
       st.sampled_from([1, 3, 4]), st.sampled_from(["nearest", "bilinear"]),
       st.integers(0, 2**32 - 1))
def test_sequence_equals_the_steps_one_op_at_a_time(n, s, h, w, c, interpolation, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
    x[:, : h // 2] //= 4  # a narrow range: autocontrast and equalize move values
    args = random_steps(rng, n, s, h, w, c)
    cval = tuple(int(v) for v in rng.integers(0, 256, c))
    np.testing.assert_array_equal(run(x, args, interpolation, cval),
                                  reference(x, args, interpolation, cval))


@pytest.mark.parametrize("c", [1, 3, 4])
def test_every_kind_on_photos(c):
    """Each kind alone and in runs (lookups composed, grey means of warped images) on
    real images, strided input, threads 1 and 2, scalar and vector code."""
    rng = np.random.default_rng(c)
    x = photo_batch(6, 37, 45, c, seed=c)
    kinds = np.array([[1, 2, 3, 1], [4, 0, 5, 5], [3, 4, 2, 0], [5, 1, 4, 3],
                      [0, 0, 0, 0], [2, 2, 4, 5]])
    args = random_steps(rng, 6, 4, 37, 45, c, kinds)
    args["gray"][[1, 2, 5]] = 0.4  # contrast about the (warped) mean
    for interpolation in ("nearest", "bilinear"):
        want = reference(x, args, interpolation, 17)
        np.testing.assert_array_equal(run(x, args, interpolation, 17, threads=1), want)
        np.testing.assert_array_equal(run(x, args, interpolation, 17, threads=2), want)
    wide = np.zeros((6, 37, 90, c), np.uint8)
    wide[:, :, :45] = x
    view = wide[:, :, :45]  # rows 90 C bytes apart
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(run(view, args, "bilinear", 17),
                                  reference(x, args, "bilinear", 17))
    try:
        _kernels.set_simd(False)
        np.testing.assert_array_equal(run(x, args, "bilinear", 17),
                                      reference(x, args, "bilinear", 17))
    finally:
        _kernels.set_simd(True)


def test_tasks_of_several_images_agree():
    """Threads take runs of consecutive images sharing one scratch allocation: every
    split gives the reference's images."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, (37, 9, 11, 3), dtype=np.uint8)
    args = random_steps(rng, 37, 3, 9, 11, 3)
    want = reference(x, args, "bilinear", 5)
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(run(x, args, "bilinear", 5, threads=threads), want)


def test_sharpness_vector_and_scalar_agree():
    """The AVX2 sharpening (16 values a step) and the scalar loop, at every width class
    and extreme weights (saturation both ways)."""
    rng = np.random.default_rng(5)
    for w in (3, 4, 7, 8, 17, 18, 33, 64, 100):
        for c in (1, 3, 4):
            x = rng.integers(0, 256, (4, 9, w, c), dtype=np.uint8)
            f = np.array([-3.0, 0.0, 1.7, 9.0])
            args = {"kinds": np.full((4, 1), KIND["sharpness"]),
                    "weights": np.stack([f, 1 - f], axis=-1)[:, None], "offset": -0.4961}
            vec = run(x, args)
            try:
                _kernels.set_simd(False)
                scalar = run(x, args)
            finally:
                _kernels.set_simd(True)
            np.testing.assert_array_equal(vec, scalar)
            np.testing.assert_array_equal(vec, reference(x, args, "nearest", 0))


def test_smoothing_rounds_like_the_float_filter():
    """(S + 6) * 5042 >> 16, the kernel's round(S / 13), for every window sum S, equals
    the float32 rounding fa_filter3x3 computes."""
    s = np.arange(13 * 255 + 1)
    exact = np.floor(s / 13 + 0.5)
    assert np.array_equal((s + 6) * 5042 >> 16, exact)
    assert np.array_equal((s + 6) // 13, exact)
    # a worst case of the float path: every window value at the same level
    for v in range(256):
        img = np.full((1, 3, 3, 1), v, np.uint8)
        assert ops.filter3x3(img, SMOOTH, fill_mode="nearest")[0, 1, 1, 0] == v


def test_no_steps_copies_and_empty_batch():
    x = np.arange(2 * 5 * 6 * 3, dtype=np.uint8).reshape(2, 5, 6, 3)
    np.testing.assert_array_equal(ops.sequence(x, np.zeros((2, 3), int)), x)
    np.testing.assert_array_equal(ops.sequence(x, np.zeros((2, 0), int)), x)
    assert ops.sequence(x[:0], np.zeros((0, 2), int)).shape == (0, 5, 6, 3)
    out = np.empty((2, 5, 6), np.uint8)
    r = ops.sequence(x[..., 0], np.zeros((2, 1), int), out=out)
    assert r is out and np.array_equal(out, x[..., 0])


def test_sequence_errors():
    x = np.zeros((2, 5, 6, 3), np.uint8)
    k = np.full((2, 1), KIND["lut"])
    tables = np.zeros((2, 1, 3, 256), np.uint8)
    with pytest.raises(TypeError, match="images"):
        ops.sequence(x.astype(float), k, tables=tables)
    with pytest.raises(ValueError, match="kinds"):
        ops.sequence(x, np.zeros((3, 1), int))
    with pytest.raises(ValueError, match="kinds"):
        ops.sequence(x, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="kinds must lie"):
        ops.sequence(x, np.full((2, 1), 6))
    with pytest.raises(ValueError, match="tables must be given"):
        ops.sequence(x, k)
    with pytest.raises(TypeError, match="tables"):
        ops.sequence(x, k, tables=tables.astype(np.int16))
    with pytest.raises(ValueError, match="tables must have shape"):
        ops.sequence(x, k, tables=tables[:, :, :1])
    sharp = np.full((2, 1), KIND["sharpness"])
    with pytest.raises(ValueError, match="weights must be given"):
        ops.sequence(x, sharp)
    with pytest.raises(ValueError, match="weights must have shape"):
        ops.sequence(x, sharp, weights=np.ones((2, 1, 3)))
    with pytest.raises(ValueError, match="weights must be finite"):
        ops.sequence(x, sharp, weights=np.full((2, 1, 2), np.nan))
    aug = np.full((2, 1), KIND["augment"])
    with pytest.raises(ValueError, match="matrices must have shape"):
        ops.sequence(x, aug, matrices=np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="matrices must be finite"):
        ops.sequence(x, aug, matrices=np.full((2, 1, 2, 3), np.inf))
    with pytest.raises(ValueError, match="colors must have shape"):
        ops.sequence(x, aug, colors=np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="colors must fit in float32"):
        ops.sequence(x, aug, colors=np.full((2, 1, 3, 4), 1e300))
    with pytest.raises(ValueError, match="gray must have shape"):
        ops.sequence(x, aug, gray=np.zeros((2, 1, 4)))
    with pytest.raises(ValueError, match="offset"):
        ops.sequence(x, sharp, weights=np.ones((2, 1, 2)), offset=2.0)
    with pytest.raises(ValueError, match="gray_weights"):
        ops.sequence(x, aug, gray_weights=(1, 2))
    with pytest.raises(ValueError, match="interpolation"):
        ops.sequence(x, aug, interpolation="cubic")
    with pytest.raises(ValueError, match="cval"):
        ops.sequence(x, aug, cval=(1, 2))
    with pytest.raises(ValueError, match="out must have shape"):
        ops.sequence(x, aug, out=np.empty((2, 5, 6, 4), np.uint8))
    with pytest.raises(ValueError, match="out must not overlap"):
        ops.sequence(x, aug, out=x)
