"""Native pixel filters (ops.gaussian_noise, gaussian_blur, filter3x3, erase, mix, blend,
histogram) and the pixel / batch-level transforms built on them."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import photo_batch

import fastaug as fa
from fastaug import ops
from fastaug.transforms import Random, sample_keys
from fastaug.transforms.base import _mix

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def reference_normal(key, count):
    """The kernels' normal values in numpy: SplitMix64 draws -> Irwin-Hall of 4 parts."""
    with np.errstate(over="ignore"):
        bits = _mix(np.uint64(key) + (np.arange(count, dtype=np.uint64) + np.uint64(1)) * GOLDEN)
    parts = [((bits >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.float64)
             for s in (0, 16, 32, 48)]
    return (sum(parts) - 4 * 32767.5) * (np.sqrt(3.0) / 65536.0)


# ---- noise --------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_noise_equals_its_definition(channels):
    x = photo_batch(3, 17, 23, channels)
    out = ops.gaussian_noise(x, [0.0, 7.5, 30.0], [5, 6, 2**63 + 11])  # any 64-bit key
    assert np.array_equal(out[0], x[0])
    for i, (std, key) in enumerate([(7.5, 6), (30.0, 2**63 + 11)], start=1):
        z = reference_normal(key, x[i].size).reshape(x[i].shape)
        expected = np.clip(x[i] + std * z, 0, 255)
        diff = np.abs(out[i] - np.rint(expected))
        assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3  # float32 vs float64 at ties


def test_noise_statistics_and_options():
    x = np.full((4, 64, 64, 3), 128, np.uint8)
    out = ops.gaussian_noise(x, 10.0, np.arange(4)).astype(float) - 128
    assert abs(out.mean()) < 0.25 and abs(out.std() - 10) < 0.15  # 5 standard errors
    assert abs(np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]) < 0.02
    shared = ops.gaussian_noise(x, 10.0, 3, per_channel=False)
    assert np.array_equal(shared[..., 0], shared[..., 2]) and shared.std() > 5
    one = ops.gaussian_noise(x, 10.0, 9, threads=1)
    assert np.array_equal(one, ops.gaussian_noise(x, 10.0, 9, threads=2))
    grey = ops.gaussian_noise(x[..., 0], 5.0, 1)
    assert grey.shape == (4, 64, 64)
    strided = photo_batch(2, 40, 40, 3)[:, ::2, 1::2]
    assert np.array_equal(ops.gaussian_noise(strided, 5.0, 1),
                          ops.gaussian_noise(np.ascontiguousarray(strided), 5.0, 1))


# ---- blur and 3x3 -------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_gaussian_blur_matches_cv2(channels):
    x = photo_batch(4, 31, 45, channels)
    sigmas = [0.0, 0.6, 1.7, 4.0]
    out = ops.gaussian_blur(x, sigmas)
    assert np.array_equal(out[0], x[0])
    for i, s in enumerate(sigmas[1:], start=1):
        expected = cv2.GaussianBlur(x[i], (0, 0), s).reshape(x[i].shape)
        assert np.abs(out[i].astype(int) - expected).max() <= 1
    kernels, radius = ops.gaussian_kernels(np.array([1.7]))
    ref = cv2.getGaussianKernel(int(2 * radius[0] + 1), 1.7)[:, 0]
    assert np.allclose(kernels[0, :len(ref)], ref, atol=1e-6)


def test_blur_on_tiny_images_and_borders():
    x = photo_batch(2, 3, 2, 3)
    for mode, border in [("mirror", cv2.BORDER_REFLECT_101), ("reflect", cv2.BORDER_REFLECT),
                         ("nearest", cv2.BORDER_REPLICATE)]:
        out = ops.gaussian_blur(x, 3.0, fill_mode=mode)  # radius 9 > the image
        for i in range(2):
            expected = cv2.GaussianBlur(x[i], (0, 0), 3.0, borderType=border)
            assert np.abs(out[i].astype(int) - expected).max() <= 1, mode


def test_filter3x3_matches_cv2_filter2d():
    x = photo_batch(3, 20, 26, 3)
    rng = np.random.default_rng(0)
    kernels = rng.normal(0, 0.5, (3, 3, 3))
    kernels[:, 1, 1] += 1
    out = ops.filter3x3(x, kernels)
    for i in range(3):
        expected = cv2.filter2D(x[i].astype(np.float32), -1, kernels[i].astype(np.float32))
        assert np.abs(out[i] - np.clip(np.rint(expected), 0, 255)).max() <= 1


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_filter3x3_bit_exact_against_float32_reference(channels):
    """Every width (vector body and scalar tail), border mode and channel count: the
    float32 sum of the nine taps in row-major order, clipped, rounded half up."""
    rng = np.random.default_rng(channels)
    modes = {"nearest": "edge", "reflect": "symmetric", "mirror": "reflect", "wrap": "wrap"}
    for w in (1, 2, 3, 5, 8, 11):
        x = rng.integers(0, 256, (2, 4, w, channels), dtype=np.uint8)
        k = rng.normal(0, 1.5, (2, 3, 3)).astype(np.float32)
        for mode, pad in modes.items():
            got = ops.filter3x3(x, k.astype(np.float64), fill_mode=mode)
            for i in range(2):
                p = np.pad(x[i].astype(np.float32), ((1, 1), (1, 1), (0, 0)), mode=pad)
                acc = np.zeros(x.shape[1:], np.float32)
                for dy in range(3):
                    for dx in range(3):
                        acc = acc + k[i, dy, dx] * p[dy:dy + 4, dx:dx + w]
                want = (np.clip(acc, 0, 255) + np.float32(0.5)).astype(np.uint8)
                assert np.array_equal(got[i], want), (w, mode, i)


def test_filter_errors():
    x = photo_batch(2, 8, 8, 3)
    with pytest.raises(ValueError, match="fill_mode"):
        ops.gaussian_blur(x, 1.0, fill_mode="constant")
    with pytest.raises(ValueError, match="sigma"):
        ops.gaussian_blur(x, -1.0)
    with pytest.raises(ValueError, match="sigma"):
        ops.gaussian_blur(x, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="std"):
        ops.gaussian_noise(x, float("nan"), 1)
    with pytest.raises(TypeError, match="keys"):
        ops.gaussian_noise(x, 1.0, 1.5)
    with pytest.raises(ValueError, match="kernels"):
        ops.filter3x3(x, np.ones((2, 2)))
    with pytest.raises(TypeError, match="uint8"):
        ops.gaussian_blur(x.astype(np.float32), 1.0)


# ---- erase and mix ------------------------------------------------------------------


def test_erase_boxes_values_and_layouts():
    x = photo_batch(3, 10, 12, 3)
    boxes = [[1, 2, 3, 4], [-2, 8, 5, 10], [0, 0, 0, 5]]  # partly outside, empty
    out = ops.erase(x, boxes, (10, 20, 30))
    expected = x.copy()
    expected[0, 1:4, 2:6] = (10, 20, 30)
    expected[1, 0:3, 8:12] = (10, 20, 30)
    assert np.array_equal(out, expected)
    assert not np.array_equal(out, x)  # a copy by default
    f = np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32)
    fo = ops.erase(f, boxes, -1.5, layout="NCHW", inplace=True)
    assert fo is f and np.all(f[0, :, 1:4, 2:6] == -1.5) and f[0, :, 0].min() >= 0
    rnd = ops.erase(x, [[0, 0, 10, 12]] * 3, keys=[1, 2, 3])
    assert rnd.std() > 60  # uniform bytes
    z = ops.erase(np.zeros((2, 30, 30, 3), np.float32), [[0, 0, 30, 30]] * 2, keys=[4, 5])
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.05
    with pytest.raises(ValueError, match="0..255"):
        ops.erase(x, boxes, 300)
    with pytest.raises(ValueError, match="whole pixels"):
        ops.erase(x, [[0.5, 0, 1, 1]] * 3)
    with pytest.raises(ValueError, match="NHWC"):
        ops.erase(x, boxes, layout="NCHW")


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_mix(dtype):
    x = photo_batch(4, 10, 12, 3).astype(dtype)
    partner = np.array([1, 2, 3, 0])
    lam = np.array([0.0, 0.25, 0.5, 1.0])
    out = ops.mix(x, partner, lam=lam)
    expected = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
    assert np.abs(out - expected).max() <= (0.5 if dtype == np.uint8 else 1e-4)
    cut = ops.mix(x, partner, boxes=[[2, 3, 4, 5]] * 4)
    expected = x.copy()
    expected[:, 2:6, 3:8] = x[partner, 2:6, 3:8]
    assert np.array_equal(cut, expected)
    if dtype == np.float32:
        nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        cut = ops.mix(nchw, partner, boxes=[[2, 3, 4, 5]] * 4, layout="NCHW")
        assert np.array_equal(cut, expected.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="exactly one"):
        ops.mix(x, partner)
    with pytest.raises(ValueError, match="partner"):
        ops.mix(x, [0, 1, 2, 4], lam=0.5)


# ---- pixel transforms ---------------------------------------------------------------


def test_noise_and_blur_transforms():
    x = photo_batch(64, 16, 16, 3)
    aug = fa.Compose([fa.GaussianNoise((2, 8), p=0.5)], seed=0)
    params = aug.sample(64, x.shape[1:])
    std = params["stages"][0]["pixel"]["params"]["std"]
    assert 0.3 < np.mean(std > 0) < 0.7 and std[std > 0].min() >= 2 and std.max() <= 8
    out = aug.apply(x, params)
    assert np.array_equal(out[std == 0], x[std == 0])
    blur = fa.Compose([fa.GaussianBlur((1.0, 1.0))], seed=0)(x)
    for i in range(2):
        assert np.abs(blur[i].astype(int) - cv2.GaussianBlur(x[i], (0, 0), 1.0)).max() <= 1
    sharp = fa.Compose([fa.Sharpen((1, 1), (1, 1))], seed=0)(x[:2])
    k = -np.ones((3, 3), np.float32)
    k[1, 1] = 9
    for i in range(2):
        ref = np.clip(np.rint(cv2.filter2D(x[i].astype(np.float32), -1, k)), 0, 255)
        assert np.abs(sharp[i] - ref).max() <= 1


def test_cutout_and_random_erasing():
    x = photo_batch(200, 20, 30, 3)
    aug = fa.Compose([fa.Cutout((6, 8), num_holes=2, value=(1, 2, 3), p=0.5)], seed=0)
    params = aug.sample(200, x.shape[1:])
    out = aug.apply(x, params)
    boxes = params["stages"][0]["pixel"]["params"]["boxes"]
    applied = boxes[:, 0, 2] > 0
    assert 0.35 < applied.mean() < 0.65
    assert np.all(boxes[applied, :, 2:] == [6, 8])
    assert np.array_equal(out[~applied], x[~applied])
    assert np.all((out[applied] == (1, 2, 3)).all(-1).sum(axis=(1, 2)) >= 6 * 8 // 4)
    erase = fa.Compose([fa.RandomErasing(p=1.0, scale=(0.1, 0.2), ratio=(0.5, 2.0))], seed=1)
    params = erase.sample(200, x.shape[1:])
    boxes = params["stages"][0]["pixel"]["params"]["boxes"][:, 0]
    area = boxes[:, 2] * boxes[:, 3] / 600
    assert area.min() > 0.07 and area.max() < 0.24 and np.all(boxes[:, 2] < 20)
    out = erase.apply(x, params)
    for i in range(3):
        t, left, h, w = boxes[i].astype(int)
        assert np.all(out[i, t:t + h, left:left + w] == 0)
    # After Normalize: erasing in the float output (torchvision's usual place).
    norm = fa.Compose([fa.RandomCrop(16), fa.Normalize(layout="NCHW"),
                       fa.RandomErasing(p=1.0, value="random")], seed=0)
    out = norm(x[:4])
    assert out.dtype == np.float32 and out.shape == (4, 3, 16, 16)
    assert np.array_equal(x, photo_batch(200, 20, 30, 3))  # input untouched
    with pytest.raises(ValueError, match="before Normalize"):
        fa.Compose([fa.Normalize(), fa.GaussianBlur()])


def test_mixup_and_cutmix_transforms():
    x = photo_batch(6, 16, 20, 3)
    labels = np.array([0, 1, 2, 0, 1, 2])
    aug = fa.Compose([fa.RandomCrop(12), fa.ToFloat(), fa.MixUp(0.4, num_classes=3)], seed=2)
    params = aug.sample(6, x.shape[1:])
    out, y = aug.apply(x, params, labels)
    lam = params["batch"][0]["params"]["lam"]
    plain = aug.apply(x, {**params, "batch": []})
    assert np.allclose(out, lam * plain + (1 - lam) * np.roll(plain, 1, axis=0), atol=1e-6)
    onehot = np.eye(3)[labels]
    assert np.allclose(y, lam * onehot + (1 - lam) * np.roll(onehot, 1, axis=0))
    cut = fa.Compose([fa.CutMix(1.0, num_classes=3)], seed=0)
    params = cut.sample(6, x.shape[1:])
    out, y = cut.apply(x, params, labels)
    t, left, h, w = params["batch"][0]["params"]["box"]
    lam = params["batch"][0]["params"]["lam"]
    assert np.isclose(lam, 1 - h * w / (16 * 20))
    box = (slice(None), slice(t, t + h), slice(left, left + w))
    assert np.array_equal(out[box], np.roll(x, 1, 0)[box])
    assert np.allclose(y.sum(axis=1), 1)
    with pytest.raises(ValueError, match="num_classes"):
        fa.Compose([fa.MixUp()], seed=0)(x, labels=labels)
    with pytest.raises(ValueError, match="must come before MixUp"):
        fa.Compose([fa.MixUp(), fa.HorizontalFlip()])


def test_pixel_transforms_reproducible_across_splits_and_threads():
    x = photo_batch(8, 24, 24, 3)
    chain = [fa.Rotate(20), fa.GaussianNoise((3, 6)), fa.GaussianBlur(), fa.Sharpen(),
             fa.Cutout(0.3, value="random"), fa.RandomErasing(p=0.7)]
    whole = fa.Compose(chain, seed=1, threads=2)(x)
    aug = fa.Compose(chain, seed=1, threads=1)
    assert np.array_equal(whole, np.concatenate([aug(x[:3]), aug(x[3:])]))
    assert fa.Compose(chain).num_passes == 6


def test_pixel_transform_arguments():
    for make in [lambda: fa.GaussianNoise(-1), lambda: fa.GaussianBlur((2, 1)),
                 lambda: fa.Sharpen(alpha=1.5), lambda: fa.Cutout(0), lambda: fa.Cutout(1.5),
                 lambda: fa.Cutout(4, num_holes=0), lambda: fa.Cutout(4, value="noise"),
                 lambda: fa.RandomErasing(p=2), lambda: fa.RandomErasing(scale=(0.5, 0.1)),
                 lambda: fa.MixUp(alpha=0), lambda: fa.CutMix(num_classes=0)]:
        with pytest.raises((ValueError, TypeError)):
            make()
    for t in [fa.GaussianNoise((1, 2)), fa.GaussianBlur(), fa.Sharpen(), fa.Cutout(5, 2),
              fa.RandomErasing(value=(1, 2, 3)), fa.MixUp(0.2, 10), fa.CutMix()]:
        assert fa.transforms.from_config(t.to_config()) == t


def test_random_keys_match_the_generator():
    keys = sample_keys(1, 2, np.arange(5))
    r = Random(keys, 3)
    k = r.keys()
    r2 = Random(keys, 3)
    assert np.array_equal(k, r2._bits(1)[:, 0])


# ---- blend and histogram ------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_blend_is_the_rounded_weighted_sum(channels):
    rng = np.random.default_rng(channels)
    batches = [rng.integers(0, 256, (5, 13, 4100 // 13, channels), dtype=np.uint8)
               for _ in range(4)]
    batches[1] = batches[1][:, ::-1]  # any strides
    w = rng.normal(0.3, 0.4, (5, 4))
    got = ops.blend(batches, w)
    acc = sum(w[:, k, None, None, None] * batches[k].astype(np.float64) for k in range(4))
    want = np.clip(acc, 0, 255)
    assert got.dtype == np.uint8 and got.shape == batches[0].shape
    # float32 sums: the rounding may differ only within a hair of a half
    frac = np.abs(want - np.floor(want) - 0.5)
    ok = np.abs(got - np.floor(want + 0.5)) == 0
    assert np.all(ok | (frac < 1e-3))
    # bit for bit: float32 products summed in order, clipped, rounded half up
    w32 = w.astype(np.float32)
    acc32 = w32[:, 0, None, None, None] * batches[0].astype(np.float32)
    for k in range(1, 4):
        acc32 = acc32 + w32[:, k, None, None, None] * batches[k].astype(np.float32)
    exact = np.floor(np.clip(acc32 + np.float32(0.0), 0, 255) + np.float32(0.5))
    np.testing.assert_array_equal(got, exact.astype(np.uint8))
    # one weight row for the batch; threads do not matter; 3-D in, 3-D out
    same = ops.blend(batches, w[0], threads=3)
    assert np.array_equal(same, ops.blend(batches, np.tile(w[0], (5, 1)), threads=1))
    flat = [b[..., 0] for b in batches]
    assert ops.blend(flat, w).shape == flat[0].shape
    out = np.empty_like(got)
    assert ops.blend(batches, w, out=out) is out and np.array_equal(out, got)
    # an offset before the rounding: -0.5 + 2**-8 truncates (torchvision's .to(uint8))
    trunc = ops.blend(batches, w, offset=-0.5 + 2.0 ** -8)
    frac = want - np.floor(want)
    ok = trunc == np.floor(want)
    assert np.all(ok | (frac > 1 - 2.0 ** -8 - 1e-3) | (frac < 1e-3))


def test_blend_errors():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(TypeError, match="sequence"):
        ops.blend(x, [1.0])
    with pytest.raises(TypeError, match="sequence"):
        ops.blend([], [])
    with pytest.raises(TypeError, match=r"images\[1\]"):
        ops.blend([x, x.astype(np.float32)], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"images\[1\] has shape"):
        ops.blend([x, x[:, :3]], [0.5, 0.5])
    with pytest.raises(ValueError, match="weights"):
        ops.blend([x, x], np.ones((2, 3)))
    with pytest.raises(ValueError, match="weights"):
        ops.blend([x, x], [np.nan, 1.0])
    with pytest.raises(ValueError, match="weights"):
        ops.blend([x, x], [1e300, 1.0])
    with pytest.raises(ValueError, match="overlap"):
        ops.blend([x, x], [0.5, 0.5], out=x)
    for bad in (2.0, float("nan"), "0"):
        with pytest.raises(ValueError, match="offset"):
            ops.blend([x, x], [0.5, 0.5], offset=bad)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_histogram_counts_every_value(channels):
    rng = np.random.default_rng(channels)
    x = rng.integers(0, 256, (6, 17, 23, channels), dtype=np.uint8)
    x[2] = 7  # one value everywhere
    x[3, :, ::2] = 255
    views = [x, x[:, ::-1, 1:], x[:, :, ::2]]  # strided and odd widths
    for v in views:
        got = ops.histogram(v, threads=2)
        want = np.stack([[np.bincount(v[i, ..., c].ravel(), minlength=256)
                          for c in range(channels)] for i in range(len(v))])
        assert got.dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(ops.histogram(x[..., 0]), ops.histogram(x[..., :1]))
    assert ops.histogram(np.zeros((0, 3, 3, 3), np.uint8)).shape == (0, 3, 256)
    with pytest.raises(TypeError):
        ops.histogram(x.astype(np.int16))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_mean_gray_is_the_mean_of_floored_float32_grey(channels):
    rng = np.random.default_rng(10 + channels)
    x = rng.integers(0, 256, (5, 19, 41, channels), dtype=np.uint8)
    x[1] = 255
    weights = (0.2989, 0.587, 0.114)
    for v in (x, x[:, ::-1, 1:], x[:, :, ::3]):  # strided and odd widths
        f = v.astype(np.float32)
        if channels == 1:
            gray = f[..., 0]
        else:  # float32, summed in order, then floored (torchvision's uint8 grey)
            w = [np.float32(k) for k in weights]
            gray = np.floor(f[..., 0] * w[0] + f[..., 1] * w[1] + f[..., 2] * w[2])
        want = gray.reshape(len(v), -1).astype(np.float64).mean(axis=1)
        got = ops.mean_gray(v, weights, threads=2)
        assert got.dtype == np.float64 and np.array_equal(got, want)
    assert np.array_equal(ops.mean_gray(x[..., 0]), ops.mean_gray(x[..., :1]))
    assert ops.mean_gray(np.zeros((0, 3, 3, 3), np.uint8)).shape == (0,)
    with pytest.raises(ValueError, match="height and width"):
        ops.mean_gray(np.zeros((2, 0, 3, 3), np.uint8))
    with pytest.raises(TypeError, match="images"):
        ops.mean_gray(x.astype(np.float32))
    for bad in ((0.3, 0.6), (0.3, -0.1, 0.1), (np.nan, 0.5, 0.1), (2e6, 0, 0)):
        with pytest.raises(ValueError, match="weights"):
            ops.mean_gray(x, bad)
