"""Compose: folding into one pass equals applying transforms one by one, reproducibility,
sample/apply, inputs of varying sizes, configs and pickling, errors."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import reference as ref
from conftest import photo_batch

import fastaug as fa


def imagenet(seed=0, **kw):
    return fa.Compose([fa.RandomResizedCrop(32), fa.HorizontalFlip(),
                       fa.ColorJitter(0.4, 0.4, 0.4, 0.1), fa.Normalize(layout="NCHW")],
                      seed=seed, **kw)


def keras(seed=0, **kw):
    return fa.Compose([fa.Affine(rotate=40, translate=0.2, shear=0.2, scale=(0.8, 1.2),
                                 keep_ratio=False, fill_mode="nearest"),
                       fa.HorizontalFlip(), fa.Rescale(1 / 255)], seed=seed, **kw)


def one_by_one(transforms, x, seed=0, indices=None):
    """Apply transforms one Compose each, with the random draws they get in a chain.

    Transform k of a chain draws from stream slot k; padding the lone transform with k
    no-op flips puts it in the same slot, so it samples the same parameters.
    """
    for k, t in enumerate(transforms):
        aug = fa.Compose([fa.HorizontalFlip(p=0.0)] * k + [t], seed=seed)
        x = aug(x, indices=indices)
    return x


def assert_within(a, b, tol):
    diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    worst = np.unravel_index(diff.argmax(), diff.shape)
    assert diff.max() <= tol, f"max diff {diff.max()} at {worst}"


# ---- folding ------------------------------------------------------------------------


def test_common_pipelines_are_one_native_pass():
    assert imagenet().num_passes == 1
    assert keras().num_passes == 1
    assert fa.Compose([fa.Affine(rotate=10), fa.CenterCrop(20)]).num_passes == 1
    assert fa.Compose([fa.Affine(rotate=10), fa.CenterCrop(20, pad_if_needed=True)]
                      ).num_passes == 2
    assert fa.Compose([fa.RandomResizedCrop(32), fa.Rotate(10)]).num_passes == 2
    assert fa.Compose([fa.CenterCrop(20), fa.Rotate(10)]).num_passes == 2
    assert fa.Compose([fa.Rotate(10, fill_mode="nearest"), fa.Rotate(10)]).num_passes == 2
    assert fa.Compose([fa.Resize(20, "nearest"), fa.RandomResizedCrop(10)]).num_passes == 2


def test_integer_geometry_and_colour_fused_equal_one_by_one():
    x = photo_batch(12, 30, 36, 3)
    chain = [fa.RandomCrop(28, padding=4, pad_mode="reflect"), fa.HorizontalFlip(),
             fa.VerticalFlip(), fa.CenterCrop((24, 20)), fa.Brightness((0.7, 0.9)),
             fa.Saturation((0.7, 1.0)), fa.ChannelShift(8)]  # no clipping before the end
    fused = fa.Compose(chain, seed=5)(x)
    assert fa.Compose(chain).num_passes == 1
    assert_within(fused, one_by_one(chain, x, seed=5), 1)


def test_colour_chain_fused_equals_one_by_one():
    x = photo_batch(8, 24, 24, 3)
    chain = [fa.Brightness((0.8, 0.9)), fa.Saturation((0.6, 0.8)), fa.Contrast((0.7, 0.8))]
    fused = fa.Compose(chain, seed=1)(x)
    # One rounding instead of three (and the contrast mean from a grid): within 1.
    assert_within(fused, one_by_one(chain, x, seed=1), 1)
    # Five transforms, five roundings one by one: within 2; the fused chain is the exact
    # one (the contrast mean of the exact chain taken over the whole image).
    chain += [fa.Hue((0.03, 0.05)), fa.Grayscale(p=0.3)]
    aug = fa.Compose(chain, seed=1)
    params = aug.sample(8, x.shape[1:])
    fused = aug.apply(x, params)
    assert_within(fused, one_by_one(chain, x, seed=1), 2)
    st = params["stages"][0]
    pre, post = st["colors"]
    xh = np.concatenate([x, np.ones(x.shape[:3] + (1,))], axis=3).astype(np.float64)
    before = np.einsum("nij,nhwj->nhwi", pre, xh)
    mean = (before[..., :3] @ fa.transforms.color.GRAY_WEIGHTS).mean(axis=(1, 2))
    f = st["contrasts"][0]["factor"][:, None, None, None]
    before[..., :3] = f * before[..., :3] + (1 - f) * mean[:, None, None, None]
    exact = np.clip(np.einsum("nij,nhwj->nhwi", post, before)[..., :3], 0, 255)
    assert_within(fused, exact, 1)


def test_resized_crop_flip_normalize_fused_equal_one_by_one():
    x = photo_batch(8, 48, 64, 3)
    chain = [fa.RandomResizedCrop((24, 28)), fa.HorizontalFlip(), fa.VerticalFlip()]
    assert np.array_equal(fa.Compose(chain, seed=2)(x), one_by_one(chain, x, seed=2))
    norm = fa.Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2), layout="NCHW")
    fused = fa.Compose(chain + [norm], seed=2)(x)
    expected = fa.Compose([norm])(one_by_one(chain, x, seed=2))
    # Float output skips the rounding to uint8: within half a grey level.
    assert np.allclose(fused, expected, atol=0.5 / 255 / 0.2 + 1e-5)


def test_warp_then_colour_fused_equal_one_by_one():
    x = photo_batch(8, 32, 40, 3)
    # (Brightness <= 0.9 before the shift: no intermediate value leaves 0..255, where the
    # one-by-one chain would clip and the fused one not.)
    chain = [fa.Affine(rotate=30, translate=0.1, scale=(0.8, 1.2), cval=30),
             fa.Brightness((0.8, 0.9)), fa.ChannelShift(15)]
    assert_within(fa.Compose(chain, seed=3)(x), one_by_one(chain, x, seed=3), 1)


def test_two_stage_pipeline_equals_one_by_one_exactly():
    x = photo_batch(6, 40, 48, 3)
    chain = [fa.CenterCrop(30), fa.Brightness((0.8, 0.8)), fa.Rotate(30, cval=10),
             fa.Saturation((0.5, 0.5))]
    aug = fa.Compose(chain, seed=4)
    assert aug.num_passes == 2
    assert_within(aug(x), one_by_one(chain, x, seed=4), 1)


def test_first_resampling_crop_clamps_to_its_box():
    x = photo_batch(4, 40, 40, 3)
    aug = fa.Compose([fa.HorizontalFlip(p=1.0), fa.RandomResizedCrop(50, scale=(0.1, 0.3))],
                     seed=0)
    params = aug.sample(4, x.shape[1:])
    boxes = params["stages"][0]["boxes"]
    assert boxes is not None
    out = aug.apply(x, params)
    # The clamp box is the crop mapped back through the flip: cv2.resize of the crop of
    # the flipped image.
    expected = one_by_one(aug.transforms, x)
    assert_within(out, expected, 1)  # composed coordinates may round a tie differently
    assert np.mean(out != expected) < 1e-3


# ---- reproducibility ----------------------------------------------------------------


@pytest.mark.parametrize("make", [imagenet, keras])
def test_reproducible_across_threads_and_batch_splits(make):
    x = photo_batch(10, 40, 48, 3)
    whole = make(threads=1)(x)
    assert np.array_equal(whole, make(threads=2)(x))
    aug = make(threads=2)
    parts = np.concatenate([aug(x[:3]), aug(x[3:4]), aug(x[4:])])
    assert np.array_equal(whole, parts)
    # Explicit indices: any order, any grouping.
    perm = np.random.default_rng(0).permutation(10)
    shuffled = make()(x[perm], indices=perm)
    assert np.array_equal(shuffled, whole[perm])


def test_epochs_and_seeds():
    x = photo_batch(6, 40, 48, 3)
    aug = imagenet(seed=7)
    first = aug(x)
    second = aug(x)
    assert not np.array_equal(first, second)  # the running index moved on
    aug.set_epoch(0)
    assert np.array_equal(aug(x), first)
    aug.set_epoch(1)
    epoch1 = aug(x)
    assert not np.array_equal(epoch1, first)
    assert aug.epoch == 1
    assert np.array_equal(imagenet(seed=7)(x), first)
    assert not np.array_equal(imagenet(seed=8)(x), first)
    # Images of one batch differ from each other.
    same = np.repeat(x[:1], 4, axis=0)
    out = imagenet(seed=7)(same)
    assert len({o.tobytes() for o in out}) == 4


def test_sample_then_apply_equals_call_and_is_deterministic():
    x = photo_batch(5, 40, 48, 3)
    aug = imagenet(seed=3)
    params = aug.sample(5, x.shape[1:])
    a = aug.apply(x, params)
    assert np.array_equal(a, aug.apply(x, params))
    assert np.array_equal(a, imagenet(seed=3)(x))
    # Plain data: arrays, lists, dicts, strings and numbers only.
    def check(v):
        if isinstance(v, dict):
            return all(check(w) for w in v.values())
        if isinstance(v, (list, tuple)):
            return all(check(w) for w in v)
        return v is None or isinstance(v, (np.ndarray, str, int, float, np.generic))
    assert check(params)


def test_replaying_params_gives_the_same_geometry():
    x = photo_batch(4, 30, 40, 3)
    masks = (x > 100).astype(np.uint8) * 255
    aug = fa.Compose([fa.Affine(rotate=30, scale=(0.8, 1.2), interpolation="nearest"),
                      fa.HorizontalFlip(), fa.RandomCrop(24)], seed=0)
    params = aug.sample(4, x.shape[1:])
    out = aug.apply(masks, params)
    st = params["stages"][0]
    expected = ref.warp_affine(masks, st["inverse"], (24, 24), inverse=True,
                               interpolation="nearest")
    sx, sy = ref.affine_source_coords(st["inverse"], (24, 24))
    ties = ref.nearest_ties(sx, sy)
    mismatch = np.any(out != expected, axis=-1) & ~ties
    assert not mismatch.any()


# ---- inputs -------------------------------------------------------------------------


def test_list_of_varying_sizes():
    sizes = [(40, 50), (30, 30), (40, 50), (64, 20), (33, 47)]
    images = [photo_batch(1, h, w, 3, seed=k)[0] for k, (h, w) in enumerate(sizes)]
    aug = imagenet(seed=2)
    out = aug(images)
    assert out.shape == (5, 3, 32, 32)
    for k, img in enumerate(images):
        alone = imagenet(seed=2)(img[np.newaxis], indices=[k])
        assert np.array_equal(out[k], alone[0])
    with pytest.raises(ValueError, match="fixed output size"):
        fa.Compose([fa.HorizontalFlip()], seed=0)(images)
    # Two stages with a varying intermediate size.
    two = fa.Compose([fa.Rotate(10), fa.Brightness(0.2), fa.GaussianBlur(1.0),
                      fa.Resize(16)], seed=0) if hasattr(fa, "GaussianBlur") else None
    if two is not None:
        assert two(images).shape == (5, 16, 16, 3)


def test_grey_3d_input_and_empty_batches():
    x = photo_batch(4, 20, 24, 1)[..., 0]
    out = fa.Compose([fa.RandomCrop(16), fa.HorizontalFlip()], seed=0)(x)
    assert out.shape == (4, 16, 16)
    out = fa.Compose([fa.RandomCrop(16), fa.Normalize(0.5, 0.2, layout="NCHW")], seed=0)(x)
    assert out.shape == (4, 1, 16, 16)
    empty = imagenet()(np.zeros((0, 20, 20, 3), np.uint8))
    assert empty.shape == (0, 3, 32, 32)


def test_labels_are_returned_and_checked():
    x = photo_batch(4, 20, 24, 3)
    out, labels = keras()(x, labels=[0, 1, 2, 3])
    assert out.shape == (4, 20, 24, 3) and list(labels) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="labels has 3 entries for 4 images"):
        keras()(x, labels=[0, 1, 2])


def test_strided_input():
    x = photo_batch(4, 40, 48, 3)
    view = x[:, ::2, 1::2]
    assert np.array_equal(imagenet()(view), imagenet()(np.ascontiguousarray(view)))


# ---- configs, repr, pickling --------------------------------------------------------


ALL = [
    fa.HorizontalFlip(0.3), fa.VerticalFlip(), fa.Affine(rotate=(5, 10), translate={"x": 0.1},
                                                         shear={"y": (1, 2)}, cval=(1, 2, 3)),
    fa.Rotate(15, fill_mode="wrap"), fa.RandomCrop((20, 22), padding=(1, 2)),
    fa.CenterCrop(18), fa.RandomResizedCrop(16, scale=(0.5, 1)), fa.Resize((12, 14)),
    fa.Brightness(0.1), fa.Contrast((0.5, 1.5)), fa.Saturation(0.2), fa.Hue(0.1),
    fa.ColorJitter(0.1, 0.2, 0.3, 0.05), fa.ChannelShift(10, per_channel=False),
    fa.Grayscale(0.2), fa.ColorMatrix(np.eye(3, 4)), fa.Normalize(layout="NCHW"),
]


def test_config_round_trip_and_pickle():
    aug = fa.Compose(ALL, seed=11, threads=1)
    config = aug.to_config()
    text = json.dumps(config)
    again = fa.Compose.from_config(json.loads(text))
    assert again == aug and repr(again) == repr(aug)
    x = photo_batch(3, 30, 36, 3)
    out = aug(x)
    assert np.array_equal(fa.Compose.from_config(json.loads(text))(x), out)
    clone = pickle.loads(pickle.dumps(fa.Compose(ALL, seed=11, threads=1)))
    assert np.array_equal(clone(x), out)
    for t in ALL:
        assert fa.transforms.from_config(t.to_config()) == t
        assert pickle.loads(pickle.dumps(t)) == t


def test_repr_is_readable():
    text = repr(fa.Compose([fa.HorizontalFlip(), fa.Rotate(30)], seed=3))
    assert text == ("Compose([\n    HorizontalFlip(p=0.5),\n    Rotate(limit=30, "
                    "interpolation='bilinear', fill_mode='constant', cval=0, p=1.0),\n], seed=3)")


# ---- errors -------------------------------------------------------------------------


def test_construction_errors():
    with pytest.raises(TypeError, match="transforms\\[1\\]"):
        fa.Compose([fa.HorizontalFlip(), "flip"])
    with pytest.raises(ValueError, match="seed"):
        fa.Compose([], seed=-1)
    with pytest.raises((TypeError, ValueError), match="threads"):
        fa.Compose([], threads=0)
    with pytest.raises(ValueError, match="must come before Normalize"):
        fa.Compose([fa.Normalize(), fa.Brightness()])
    with pytest.raises(ValueError, match="only one output"):
        fa.Compose([fa.Normalize(), fa.Rescale(1.0)])
    with pytest.raises(ValueError, match="unknown transform"):
        fa.Compose.from_config({"transforms": [{"name": "Blur9000"}]})
    with pytest.raises(TypeError, match="bad arguments"):
        fa.Compose.from_config([{"name": "Rotate", "angle": 3}])
    with pytest.raises(ValueError, match="epoch"):
        fa.Compose([]).set_epoch(-1)


def test_call_errors():
    aug = keras()
    x = photo_batch(4, 20, 24, 3)
    with pytest.raises(TypeError, match="uint8"):
        aug(x.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        aug(x[0, 0])
    with pytest.raises(ValueError, match="indices has 2 entries"):
        aug(x, indices=[0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        aug(x, indices=[0, 1, 2, -3])
    params = aug.sample(4, (20, 24, 3))
    with pytest.raises(ValueError, match="sampled for 4 images"):
        aug.apply(x[:3], params)
    with pytest.raises(ValueError, match="sizes"):
        aug.apply(photo_batch(4, 21, 24, 3), params)
    with pytest.raises(ValueError, match="channels"):
        aug.apply(photo_batch(4, 20, 24, 4), params)
    with pytest.raises(ValueError, match="image_shape"):
        aug.sample(4, (20,))
    with pytest.raises(ValueError, match="different pipeline"):
        imagenet().apply(x, params)
    with pytest.raises(ValueError, match="same number of channels"):
        imagenet()([x[0], x[0, ..., :1]])


def test_outputs_reuse_only_memory_nobody_references():
    """Large outputs come back from a pool once dropped; never while the caller, a view
    or another array still refers to them; results are unchanged by the reuse."""
    images = photo_batch(8, 160, 200)
    aug = fa.Compose([fa.Affine(rotate=30, scale=(0.8, 1.2)), fa.HorizontalFlip(),
                      fa.Normalize(layout="NCHW")], seed=4)
    ids = np.arange(8)
    first = aug(images, indices=ids)
    address = first.ctypes.data
    expected = first.copy()
    view = first[1:3]
    del first
    held = aug(images, indices=ids)  # the view keeps the first output alive
    assert held.ctypes.data != address and view.ctypes.data == address + view[0].nbytes
    del view
    again = aug(images, indices=ids)
    assert again.ctypes.data == address  # the dropped output's memory
    np.testing.assert_array_equal(again, expected)
    assert held.ctypes.data != again.ctypes.data
    clone = pickle.loads(pickle.dumps(aug))
    np.testing.assert_array_equal(clone(images, indices=ids), aug(images, indices=ids))
