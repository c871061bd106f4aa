"""fastaug.keras.ImageDataGenerator against Keras' own legacy ImageDataGenerator.

Keras 3 with the PyTorch CPU backend (``KERAS_BACKEND=torch``) provides the reference;
the comparison tests skip when it is not installed.
"""
from __future__ import annotations

import gc
import os
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import BILINEAR_ERROR

from fastaug.keras import ImageDataGenerator, _complete, keras_matrices

os.environ.setdefault("KERAS_BACKEND", "torch")
# Keras' legacy module imports scipy.ndimage.interpolation, which scipy deprecates
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _keras_idg():
    pytest.importorskip("keras")
    mod = pytest.importorskip("keras.src.legacy.preprocessing.image")
    return mod.ImageDataGenerator


def _photo(h: int = 48, w: int = 64, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth-ish test image with edges (uint8, (h, w, c))."""
    skimage_data = pytest.importorskip("skimage.data")
    import cv2

    img = skimage_data.astronaut()  # (512, 512, 3)
    rng = np.random.default_rng(seed)
    top, left = rng.integers(0, 200, 2)
    img = cv2.resize(img[top:top + 300, left:left + 300], (w, h), interpolation=cv2.INTER_AREA)
    if c == 1:
        img = img[..., :1]
    elif c == 4:
        img = np.concatenate([img, img[..., :1]], axis=2)
    return np.ascontiguousarray(img)


def _edge_mask(params: dict, h: int, w: int, margin: float = 1.5) -> np.ndarray:
    """True where the source point of a pixel lies within ``margin`` of the image border
    or outside it (the region where fill rules legitimately differ)."""
    p = {k: np.array([v]) for k, v in _complete(params).items()}
    m = keras_matrices(p, h, w)[0]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    inside = (sx >= margin) & (sx <= w - 1 - margin) & (sy >= margin) & (sy <= h - 1 - margin)
    return ~inside


PARAMS = [
    {"theta": 17.0, "tx": 3.3, "ty": -5.2, "shear": 8.0, "zx": 0.9, "zy": 1.15},
    {"theta": -40.0, "tx": -7.0, "ty": 2.5, "shear": -12.0, "zx": 1.2, "zy": 0.8,
     "flip_horizontal": True},
    {"theta": 0.0, "tx": 4.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0,
     "flip_vertical": True},
    {"theta": 90.0, "zx": 0.7, "zy": 0.7},
]


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant", "wrap"])
@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("shape", [(48, 64, 3), (40, 40, 1)])
def test_apply_transform_matches_keras(fill_mode, order, data_format, shape):
    KerasIDG = _keras_idg()
    h, w, c = shape
    img = _photo(h, w, c).astype(np.float32)
    if data_format == "channels_first":
        img = np.ascontiguousarray(np.moveaxis(img, 2, 0))
    kw = dict(fill_mode=fill_mode, cval=30.0, interpolation_order=order, data_format=data_format)
    ours, ref = ImageDataGenerator(**kw), KerasIDG(**kw)
    for params in PARAMS:
        a = ours.apply_transform(img, params)
        b = ref.apply_transform(img, params)
        assert a.shape == b.shape and a.dtype == np.float32
        diff = np.abs(a.astype(np.float64) - b)
        if data_format == "channels_first":
            diff = np.moveaxis(diff, 0, 2)
        edge = _edge_mask(params, h, w)
        interior = diff[~edge]
        if order == 1:
            assert interior.max() <= 1.0, (params, interior.max())
            assert np.quantile(interior, 0.99) < BILINEAR_ERROR
        else:
            # exact except at rounding ties of the source coordinate
            assert (interior > 0).mean() < 2e-3, (params, (interior > 0).mean())
        if fill_mode in ("nearest", "reflect"):
            # same fill rule: the whole image agrees (order 0: up to rounding ties)
            bad = (diff > (1.0 if order == 1 else 0)).mean()
            assert bad < 5e-3, (params, bad)


@pytest.mark.parametrize("order", [0, 1])
def test_constant_fill_region_matches_keras_away_from_the_edge(order):
    KerasIDG = _keras_idg()
    img = _photo(48, 64).astype(np.float32)
    kw = dict(fill_mode="constant", cval=200.0, interpolation_order=order)
    params = PARAMS[1]
    a = ImageDataGenerator(**kw).apply_transform(img, params)
    b = KerasIDG(**kw).apply_transform(img, params)
    far_outside = _edge_mask(params, 48, 64, margin=-1.0)  # over a pixel outside
    assert far_outside.any()
    assert np.array_equal(a[far_outside], b[far_outside])


def test_wrap_differs_from_scipy_only_in_the_wrapped_region():
    KerasIDG = _keras_idg()
    img = _photo(40, 40).astype(np.float32)
    params = {"tx": 7.0, "ty": -5.0}  # integer shift: no interpolation at all
    kw = dict(fill_mode="wrap", interpolation_order=1)
    a = ImageDataGenerator(**kw).apply_transform(img, params)
    b = KerasIDG(**kw).apply_transform(img, params)
    edge = _edge_mask(params, 40, 40, margin=0.0)
    assert np.array_equal(a[~edge], b[~edge])
    # ours is the clean period-n wrap, i.e. np.roll
    assert np.array_equal(a, np.roll(img, (5, -7), axis=(0, 1)))


@pytest.mark.parametrize("seed", [0, 1, 123])
@pytest.mark.parametrize("kw", [
    dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
         zoom_range=0.2, horizontal_flip=True),
    dict(width_shift_range=[-3, 0, 5], height_shift_range=4, vertical_flip=True,
         channel_shift_range=20.0, brightness_range=(0.5, 1.5)),
    dict(zoom_range=[0.5, 0.9], width_shift_range=7.0),
    dict(),
])
def test_get_random_transform_matches_keras(seed, kw):
    KerasIDG = _keras_idg()
    ours, ref = ImageDataGenerator(**kw), KerasIDG(**kw)
    a = ours.get_random_transform((30, 40, 3), seed=seed)
    b = ref.get_random_transform((30, 40, 3), seed=seed)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k] or (a[k] is None and b[k] is None), k


def test_batch_draws_match_repeated_get_random_transform():
    kw = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.1,
              shear_range=0.2, zoom_range=0.2, horizontal_flip=True, vertical_flip=True,
              channel_shift_range=10.0, brightness_range=(0.8, 1.2))
    gen = ImageDataGenerator(**kw)
    np.random.seed(5)  # noqa: NPY002 (Keras draws from the global generator)
    batch = gen._random_batch_params(7, (30, 40, 3))
    np.random.seed(5)  # noqa: NPY002
    singles = [gen.get_random_transform((30, 40, 3)) for _ in range(7)]
    for k in batch:
        np.testing.assert_array_equal(batch[k], [float(s[k]) for s in singles], err_msg=k)


def test_flow_matches_keras_batches():
    KerasIDG = _keras_idg()
    x = np.stack([_photo(32, 32, seed=i) for i in range(10)])
    y = np.arange(10)
    kw = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
              shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest",
              rescale=1 / 255)
    it_a = ImageDataGenerator(**kw).flow(x, y, batch_size=4, seed=3)
    it_b = KerasIDG(**kw).flow(x, y, batch_size=4, seed=3)
    assert len(it_a) == len(it_b) == 3
    for _ in range(4):  # crosses an epoch boundary
        (xa, ya), (xb, yb) = next(it_a), next(it_b)
        np.testing.assert_array_equal(ya, yb)
        assert xa.dtype == xb.dtype == np.float32 and xa.shape == xb.shape
        assert np.abs(xa - xb).max() <= 1.0 / 255 + 1e-6
        assert np.mean(np.abs(xa - xb) > 1e-4) < 1e-2
    xa, ya = it_a[2]
    xb, yb = it_b[2]
    np.testing.assert_array_equal(ya, yb)
    assert xa.shape == (2, 32, 32, 3)
    assert np.abs(xa - xb).max() <= 1.0 / 255 + 1e-6


@pytest.mark.parametrize("kw", [
    dict(channel_shift_range=60.0, rotation_range=10),
    dict(brightness_range=(0.3, 1.7), horizontal_flip=True),
    dict(samplewise_center=True, samplewise_std_normalization=True, rescale=1 / 255),
    dict(preprocessing_function=lambda im: im[..., ::-1] * 0.5 + 3, rescale=2.0),
])
def test_flow_extra_steps_match_keras(kw):
    KerasIDG = _keras_idg()
    x = np.stack([_photo(24, 24, seed=i) for i in range(6)])
    it_a = ImageDataGenerator(**kw).flow(x, batch_size=6, seed=11, shuffle=False)
    it_b = KerasIDG(**kw).flow(x, batch_size=6, seed=11, shuffle=False)
    xa, xb = next(it_a), next(it_b)
    assert xa.dtype == xb.dtype == np.float32
    diff = np.abs(xa - xb)
    # brightness truncates to 8 bits twice (as Keras does): a bilinear value a hair
    # either side of an integer may land one level apart
    scale = max(1.0, float(np.abs(xb).max())) / 255  # the rescaled size of a grey level
    tol = 1.0 if "brightness_range" in kw else BILINEAR_ERROR * scale
    assert diff.max() <= tol + 1e-6
    assert np.mean(diff > BILINEAR_ERROR * scale) < 1e-2


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_fit_and_standardize_match_keras(data_format):
    KerasIDG = _keras_idg()
    x = np.stack([_photo(16, 16, seed=i) for i in range(12)]).astype(np.float32)
    if data_format == "channels_first":
        x = np.ascontiguousarray(np.moveaxis(x, 3, 1))
    for kw in (dict(featurewise_center=True, featurewise_std_normalization=True, rescale=0.5),
               dict(zca_whitening=True, zca_epsilon=1e-3)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = ImageDataGenerator(data_format=data_format, **kw)
            ref = KerasIDG(data_format=data_format, **kw)
        ours.fit(x)
        ref.fit(x)
        np.testing.assert_allclose(ours.mean, ref.mean, rtol=1e-6)
        if ref.std is not None:
            np.testing.assert_allclose(ours.std, ref.std, rtol=1e-6)
        if ref.zca_whitening_matrix is not None:
            np.testing.assert_allclose(ours.zca_whitening_matrix, ref.zca_whitening_matrix,
                                       rtol=1e-4, atol=1e-6)
        a = ours.standardize(x[0].copy())
        b = ref.standardize(x[0].copy())
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        # the fused path of flow (kernel mean/std) against Keras' flow
        fa = next(ours.flow(x, batch_size=12, shuffle=False))
        fb = next(ref.flow(x, batch_size=12, shuffle=False))
        np.testing.assert_allclose(fa, fb, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64])
def test_apply_transform_keeps_the_input_dtype(dtype):
    KerasIDG = _keras_idg()
    img = _photo(30, 40).astype(dtype)
    a = ImageDataGenerator().apply_transform(img, PARAMS[0])
    b = KerasIDG().apply_transform(img, PARAMS[0])
    assert a.dtype == b.dtype == dtype
    diff = np.abs(a.astype(np.float64) - b)
    assert diff.max() <= (1 if dtype != np.float64 else BILINEAR_ERROR)
    assert np.mean(diff > BILINEAR_ERROR) < 1e-2


def test_float_input_takes_the_scipy_path():
    KerasIDG = _keras_idg()
    img = _photo(20, 20).astype(np.float32) / 7.0  # not integers: no uint8 kernel
    params = PARAMS[0]
    a = ImageDataGenerator(interpolation_order=3).apply_transform(img, params)
    b = KerasIDG(interpolation_order=3).apply_transform(img, params)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    a = ImageDataGenerator().apply_transform(img, params)
    b = KerasIDG().apply_transform(img, params)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_flow_of_non_integer_floats_and_odd_cval_match_keras():
    KerasIDG = _keras_idg()
    x = np.stack([_photo(20, 20, seed=i) for i in range(4)]).astype(np.float32) / 3.0
    kw = dict(rotation_range=30, zoom_range=0.3, fill_mode="constant", cval=-2.5,
              dtype="float64")
    xa = next(ImageDataGenerator(**kw).flow(x, batch_size=4, seed=2))
    xb = next(KerasIDG(**kw).flow(x, batch_size=4, seed=2))
    assert xa.dtype == xb.dtype == np.float64
    np.testing.assert_allclose(xa, xb, rtol=1e-5, atol=1e-4)
    # integer-valued data with a fractional cval: the scipy path too, still exact
    x = np.stack([_photo(20, 20, seed=i) for i in range(4)])
    kw["cval"] = 100.5
    xa = next(ImageDataGenerator(**kw).flow(x, batch_size=4, seed=2))
    xb = next(KerasIDG(**kw).flow(x, batch_size=4, seed=2))
    np.testing.assert_allclose(xa, xb, rtol=1e-5, atol=1e-4)


# ---- without Keras -------------------------------------------------------------------


def test_identity_transform_is_exact():
    img = _photo(20, 30)
    out = ImageDataGenerator().apply_transform(img, {})
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, img)
    out = ImageDataGenerator().apply_transform(img.astype(np.float32), {})
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, img)


def test_iterator_protocol():
    x = np.zeros((10, 8, 8, 3), np.uint8)
    it = ImageDataGenerator(horizontal_flip=True).flow(x, np.arange(10), batch_size=4,
                                                       shuffle=False)
    assert len(it) == 3 and it.n == 10 and it.batch_size == 4
    sizes = [len(next(it)[1]) for _ in range(4)]
    assert sizes == [4, 4, 2, 4]
    it.reset()
    assert it.batch_index == 0
    np.testing.assert_array_equal(it[1][1], [4, 5, 6, 7])
    it.on_epoch_end()
    with pytest.raises(ValueError):
        it[3]


def _batches(it, ops):
    """The batches an iterator hands out for a script of ``next``/index/reset calls."""
    out = []
    for op in ops:
        if op == "next":
            out.append(next(it))
        elif op == "reset":
            it.reset()
        elif op == "epoch":
            it.on_epoch_end()
        else:
            out.append(it[op])
    return out


@pytest.mark.parametrize("shuffle", [False, True])
def test_prefetch_gives_the_same_batches(shuffle):
    x = np.stack([_photo(12, 14, seed=i) for i in range(10)])
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=0.2, zoom_range=0.2,
                             horizontal_flip=True, rescale=1 / 255)
    script = (["next"] * 7 + ["reset", "next", "next", "epoch", "next"]
              + [0, 1, 2, 1, "epoch", 0, 1, 2, "next", "next", 0])
    runs = [_batches(gen.flow(x, np.arange(10), batch_size=4, shuffle=shuffle, seed=3,
                              prefetch=prefetch), script) for prefetch in (0, 1, 3)]
    for other in runs[1:]:
        for (a, ya), (b, yb) in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(ya, yb)


def _record_threads(it):
    """Wrap ``it._produce`` to record (thread name, first sample index) per batch."""
    calls = []
    produce = it._produce

    def recording(plan):
        calls.append((threading.current_thread().name, int(plan[0][0])))
        return produce(plan)

    it._produce = recording
    return calls


def _wait_for(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def test_prefetch_prepares_the_next_batches_in_a_background_thread():
    x = np.zeros((40, 8, 8, 3), np.uint8)
    it = ImageDataGenerator(rotation_range=10).flow(x, batch_size=4, shuffle=False,
                                                    prefetch=2)
    calls = _record_threads(it)
    next(it)
    assert _wait_for(lambda: len(calls) == 3)
    assert [first for _, first in calls] == [0, 4, 8]
    assert all(name.startswith("fastaug-keras") for name, _ in calls)
    # it[i], what model.fit calls, makes batch i at once and prepares batch i + 1
    it = ImageDataGenerator(rotation_range=10).flow(x, batch_size=4, shuffle=False)
    calls = _record_threads(it)
    it[0]
    assert _wait_for(lambda: len(calls) == 2)
    assert calls[0] == (threading.current_thread().name, 0)
    assert calls[1][0].startswith("fastaug-keras") and calls[1][1] == 4
    it[1]
    assert _wait_for(lambda: len(calls) == 3) and calls[2][1] == 8


@pytest.mark.parametrize("kw", [{"prefetch": 0}, {"save_to_dir": "SAVE"}, {"hook": True}])
def test_prefetch_off_runs_in_the_calling_thread(kw, tmp_path):
    x = np.zeros((12, 8, 8, 3), np.uint8)
    gen = ImageDataGenerator(preprocessing_function=lambda im: im) if kw.pop(
        "hook", False) else ImageDataGenerator()
    if kw.get("save_to_dir") == "SAVE":
        kw["save_to_dir"] = str(tmp_path)
    it = gen.flow(x, batch_size=4, shuffle=False, **kw)
    calls = _record_threads(it)
    next(it)
    it[2]
    time.sleep(0.05)
    me = threading.current_thread().name
    assert calls == [(me, 0), (me, 8)]


def test_prefetch_thread_ends_with_the_iterator():
    x = np.zeros((40, 8, 8, 3), np.uint8)
    it = ImageDataGenerator(rotation_range=10).flow(x, batch_size=4)
    next(it)
    del it

    def stopped():
        gc.collect()  # iterators are cyclic (their index generator), like Keras'
        return not any(t.name.startswith("fastaug-keras") for t in threading.enumerate())

    assert _wait_for(stopped)


def test_prefetch_surfaces_errors_at_their_batch(tmp_path):
    x = np.zeros((12, 8, 8, 3), np.uint8)
    it = ImageDataGenerator().flow(x, batch_size=4, shuffle=False, prefetch=2)
    produce = it._produce

    def failing(plan):
        if plan[0][0] == 4:
            raise RuntimeError("batch 1 failed")
        return produce(plan)

    it._produce = failing
    next(it)
    with pytest.raises(RuntimeError, match="batch 1 failed"):
        next(it)
    assert next(it).shape == (4, 8, 8, 3)


def test_save_to_dir(tmp_path):
    x = np.stack([_photo(16, 16, seed=i) for i in range(3)])
    it = ImageDataGenerator(rotation_range=10).flow(x, batch_size=3, save_to_dir=str(tmp_path),
                                                    save_prefix="aug", save_format="png")
    next(it)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 and all(f.startswith("aug_") and f.endswith(".png") for f in files)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="bogus")
    with pytest.raises(ValueError, match="zoom_range"):
        ImageDataGenerator(zoom_range=[1, 2, 3])
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    with pytest.raises(ValueError, match="rank 4"):
        ImageDataGenerator().flow(np.zeros((3, 8, 8), np.uint8))
    for prefetch in (-1, 1.5, True):
        with pytest.raises(ValueError, match="prefetch"):
            ImageDataGenerator().flow(np.zeros((3, 8, 8, 3), np.uint8), prefetch=prefetch)


# ---- flow_from_directory -------------------------------------------------------------


@pytest.fixture
def image_tree(tmp_path):
    cv2 = pytest.importorskip("cv2")
    sizes = [(30, 40), (50, 50), (64, 31), (17, 23)]
    for cls in ("cats", "dogs"):
        d = tmp_path / "data" / cls
        d.mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            img = _photo(h, w, seed=i + (10 if cls == "dogs" else 0))
            ext = ".png" if i % 2 == 0 else ".jpg"
            cv2.imwrite(str(d / f"img{i}{ext}"), img[..., ::-1])
        (d / "notes.txt").write_text("not an image")
    sub = tmp_path / "data" / "dogs" / "nested"
    sub.mkdir()
    cv2.imwrite(str(sub / "deep.png"), _photo(20, 20)[..., ::-1])
    return tmp_path / "data"


def test_flow_from_directory_lists_and_decodes(image_tree):
    gen = ImageDataGenerator(rescale=1 / 255)
    it = gen.flow_from_directory(str(image_tree), target_size=(32, 32), batch_size=3,
                                 shuffle=False)
    assert it.class_indices == {"cats": 0, "dogs": 1}
    assert it.samples == 9 and len(it.filenames) == 9
    assert all(f.endswith((".png", ".jpg")) for f in it.filenames)
    assert os.path.join("dogs", "nested", "deep.png") in it.filenames
    np.testing.assert_array_equal(it.classes, [0, 0, 0, 0, 1, 1, 1, 1, 1])
    xs, ys = zip(*[it[i] for i in range(len(it))])
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (9, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (9, 2)
    np.testing.assert_array_equal(y.argmax(1), it.classes)
    assert 0 <= x.min() and x.max() <= 1
    # the first PNG (lossless) decodes to the RGB image, resized like Keras (nearest)
    import cv2
    expect = cv2.resize(_photo(30, 40, seed=0), (32, 32), interpolation=cv2.INTER_NEAREST_EXACT)
    np.testing.assert_allclose(x[0] * 255, expect, atol=1e-3)


def test_flow_from_directory_matches_keras_on_png(image_tree):
    KerasIDG = _keras_idg()
    pytest.importorskip("PIL")
    kw = dict(rotation_range=20, horizontal_flip=True, rescale=1 / 255)
    a = ImageDataGenerator(**kw).flow_from_directory(
        str(image_tree), target_size=(50, 50), batch_size=9, shuffle=True, seed=4,
        class_mode="sparse")
    b = KerasIDG(**kw).flow_from_directory(
        str(image_tree), target_size=(50, 50), batch_size=9, shuffle=True, seed=4,
        class_mode="sparse")
    assert a.filenames == b.filenames
    (xa, ya), (xb, yb) = next(a), next(b)
    np.testing.assert_array_equal(ya, yb)
    # PNG is lossless and PIL's NEAREST resize picks the same pixels as OpenCV's
    # INTER_NEAREST_EXACT: those images agree like apply_transform does
    png = np.array([b.filenames[k].endswith(".png") for k in b.index_array[:9]])
    assert png.any() and not png.all()
    diff = np.abs(xa - xb)
    assert diff[png].max() <= 1 / 255 + 1e-6
    assert np.mean(diff[png] > 1e-4) < 1e-2
    assert np.mean(diff[~png] > 0.1) < 0.05  # JPEG decoders may differ slightly


def test_flow_from_directory_corrupt_file_names_it(image_tree):
    (image_tree / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    it = ImageDataGenerator().flow_from_directory(str(image_tree), target_size=(16, 16),
                                                  batch_size=32, shuffle=False)
    assert it.samples == 10
    with pytest.raises(ValueError, match="broken.jpg"):
        next(it)


def test_flow_from_directory_corrupt_file_skipped_on_request(image_tree):
    (image_tree / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    it = ImageDataGenerator().flow_from_directory(str(image_tree), target_size=(16, 16),
                                                  batch_size=32, shuffle=False,
                                                  on_error="warn")
    with pytest.warns(UserWarning, match="broken.png"):
        x, y = next(it)
    assert len(x) == len(y) == 9
    np.testing.assert_array_equal(y.argmax(1), [0, 0, 0, 0, 1, 1, 1, 1, 1])


def test_flow_from_directory_options(image_tree):
    gen = ImageDataGenerator(validation_split=0.5)
    it = gen.flow_from_directory(str(image_tree), target_size=(20, 24), color_mode="grayscale",
                                 class_mode=None, batch_size=4, subset="validation",
                                 keep_aspect_ratio=True, interpolation="bilinear")
    x = next(it)
    assert x.shape == (4, 20, 24, 1)
    assert it.samples == 2 + 2
    it2 = ImageDataGenerator(data_format="channels_first").flow_from_directory(
        str(image_tree), target_size=(20, 24), color_mode="rgba", classes=["dogs"],
        class_mode="binary", batch_size=5)
    x, y = next(it2)
    assert x.shape == (5, 4, 20, 24) and set(y) == {0.0}


def test_iterators_feed_keras_model_fit(image_tree):
    keras = pytest.importorskip("keras")
    _keras_idg()
    x = np.stack([_photo(8, 8, seed=i) for i in range(16)])
    y = (np.arange(16) % 2).astype(np.float32)
    it = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True).flow(x, y, batch_size=8)
    assert isinstance(it, keras.utils.PyDataset)
    assert isinstance(it, type(it).__mro__[1])  # still our NumpyArrayIterator
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    hist = model.fit(it, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    it2 = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        str(image_tree), target_size=(8, 8), batch_size=4, class_mode="binary")
    assert isinstance(it2, keras.utils.PyDataset)
    model.fit(it2, epochs=1, verbose=0)


@pytest.mark.parametrize("shuffle", [False, True])
def test_flow_batches_held_by_the_caller_stay_intact(shuffle):
    """flow recycles its batch buffers only once dropped: a batch kept across later
    next() calls keeps its values, and a recycled buffer gives the same batches."""
    x = np.stack([_photo(96, 128, seed=i) for i in range(40)])
    kw = dict(rotation_range=20, horizontal_flip=True, rescale=1 / 255)
    it = ImageDataGenerator(**kw).flow(x, batch_size=20, shuffle=shuffle, seed=3,
                                       prefetch=0)
    ref = ImageDataGenerator(**kw).flow(x, batch_size=20, shuffle=shuffle, seed=3,
                                        prefetch=0)
    held = next(it)
    kept = held.copy()
    np.testing.assert_array_equal(held, next(ref))
    for _ in range(5):
        batch = next(it)
        np.testing.assert_array_equal(batch, next(ref))  # recycled memory, same values
    np.testing.assert_array_equal(held, kept)
