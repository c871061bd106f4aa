"""Groups: images that share a group id get identical random parameters.

Covers Compose (``group_size=``, ``groups=``, ``sample``/``apply``, targets, lists of
varying sizes, MixUp/CutMix pairing), the policies and the Loader.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import photo_batch

import fastaug
from fastaug.transforms.batch import group_partners


def pipeline(**kwargs):
    return fastaug.Compose([
        fastaug.RandomResizedCrop(40),
        fastaug.HorizontalFlip(),
        fastaug.Rotate(30, p=1.0),
        fastaug.ColorJitter(0.4, 0.4, 0.4, 0.1),
        fastaug.GaussianNoise(std=(2.0, 8.0)),
        fastaug.Cutout(num_holes=1, size=8, p=0.5),
    ], seed=11, **kwargs)


def repeated(n_groups: int, size: int) -> np.ndarray:
    """``n_groups * size`` images: group ``g`` is ``size`` copies of photo ``g``."""
    base = photo_batch(n_groups, 56, 64, seed=3)
    return np.repeat(base, size, axis=0)


def assert_grouped(out: np.ndarray, ids: np.ndarray) -> None:
    """Equal outputs within every group, different outputs across groups."""
    for g in np.unique(ids):
        members = out[ids == g]
        for m in members[1:]:
            np.testing.assert_array_equal(m, members[0])
    firsts = [out[np.flatnonzero(ids == g)[0]] for g in np.unique(ids)]
    for a in range(len(firsts)):
        for b in range(a + 1, len(firsts)):
            assert not np.array_equal(firsts[a], firsts[b])


def test_group_size_identical_within_different_across():
    x = repeated(4, 3)
    out = pipeline(group_size=3)(x)
    assert_grouped(out, np.arange(12) // 3)
    # Identical inputs in different groups still differ: the parameters do.
    same = np.repeat(x[:1], 6, axis=0)
    out = pipeline(group_size=2)(same)
    assert_grouped(out, np.arange(6) // 2)


def test_explicit_groups_interleaved():
    base = photo_batch(3, 56, 64, seed=4)
    ids = np.array([2, 0, 1, 0, 2, 1, 1])
    x = base[ids]
    out = pipeline()(x, groups=ids)
    assert_grouped(out, ids)


def test_keys_are_documented_ones():
    """group_size=k keys sample i by i // k; groups=ids keys by the id: the same draws
    as ungrouped samples with those indices."""
    x = photo_batch(10, 56, 64, seed=5)
    idx = np.arange(20, 30)
    grouped = pipeline(group_size=4)(x, indices=idx)
    plain = pipeline()(x, indices=idx // 4)
    np.testing.assert_array_equal(grouped, plain)
    ids = np.array([7, 3, 3, 9, 0, 7, 1, 1, 2, 5])
    np.testing.assert_array_equal(pipeline()(x, groups=ids), pipeline()(x, indices=ids))
    # group_size=1 is the ungrouped pipeline.
    np.testing.assert_array_equal(pipeline(group_size=1)(x), pipeline()(x))


def test_epoch_changes_group_parameters():
    x = repeated(1, 2)
    aug = pipeline(group_size=2)
    first = aug(x)
    aug.set_epoch(1)
    second = aug(x)
    assert_grouped(first, np.zeros(2, int))
    assert_grouped(second, np.zeros(2, int))
    assert not np.array_equal(first[0], second[0])


def test_independent_of_batch_split():
    x = repeated(4, 3)
    whole = pipeline(group_size=3)(x)
    aug = pipeline(group_size=3)
    parts = np.concatenate([aug(x[:5]), aug(x[5:7]), aug(x[7:])])
    np.testing.assert_array_equal(parts, whole)
    ids = np.array([4, 4, 1, 1, 1, 8, 8, 0, 0, 3, 3, 3])
    whole = pipeline()(x, groups=ids)
    order = np.random.default_rng(0).permutation(12)
    aug = pipeline()
    shuffled = np.empty_like(whole)
    for part in np.array_split(order, 3):
        shuffled[part] = aug(x[part], groups=ids[part])
    np.testing.assert_array_equal(shuffled, whole)


def test_sample_apply_and_params():
    aug = pipeline()
    ids = np.array([0, 1, 0, 1])
    params = aug.sample(4, (56, 64, 3), groups=ids)
    np.testing.assert_array_equal(params["groups"], ids)
    np.testing.assert_array_equal(params["indices"], np.arange(4))
    inv = params["stages"][0]["inverse"]
    np.testing.assert_array_equal(inv[0], inv[2])
    assert not np.allclose(inv[0], inv[1])
    x = repeated(1, 4)
    out = aug.apply(x, params)
    assert_grouped(out, ids)
    # The running counter advanced by 4, as without groups.
    assert np.array_equal(aug.sample(1, (56, 64))["indices"], [4])
    assert np.array_equal(pipeline().sample(3, (56, 64))["groups"], np.arange(3))


def test_targets_follow_the_group():
    x = repeated(2, 2)
    mask = np.zeros((4, 56, 64), np.uint8)
    mask[:, 10:30, 5:25] = 1
    mask[:, 40:50, 40:60] = 2
    boxes = [np.array([[5.0, 10.0, 25.0, 30.0], [40.0, 40.0, 60.0, 50.0]])] * 4
    aug = fastaug.Compose([fastaug.RandomResizedCrop(40, scale=(0.5, 1.0)),
                           fastaug.HorizontalFlip(), fastaug.Rotate(20, p=1.0)], seed=2,
                          group_size=2)
    res = aug(x, masks=mask, boxes=boxes, remove_invisible=False)
    assert_grouped(res["images"], np.arange(4) // 2)
    assert_grouped(res["masks"], np.arange(4) // 2)
    np.testing.assert_array_equal(res["boxes"][0], res["boxes"][1])
    np.testing.assert_array_equal(res["boxes"][2], res["boxes"][3])
    assert not np.allclose(res["boxes"][0], res["boxes"][2])


def test_varying_sizes_share_relative_parameters():
    """A list of images of different sizes: one group shares the draws, resolved
    against each image's size (the same flip and angle, the same relative crop)."""
    small = photo_batch(1, 60, 80, seed=6)[0]
    big = np.ascontiguousarray(np.repeat(np.repeat(small, 2, axis=0), 2, axis=1))
    aug = fastaug.Compose([fastaug.RandomResizedCrop(32, scale=(0.2, 1.0)),
                           fastaug.HorizontalFlip()], seed=9)
    flips = []
    for g in range(16):
        params = aug.sample(2, [(60, 80, 3), (120, 160, 3)], groups=[g, g])
        st = params["stages"][0]
        box_small, box_big = st["boxes"]
        # Boxes are rounded per size: within 1 pixel of the small image's.
        np.testing.assert_allclose(box_big / 2, box_small, atol=1.0)
        lin = st["inverse"][:, :, :2]
        np.testing.assert_allclose(lin[1], 2 * lin[0], rtol=0.06)
        flips.append(np.sign(lin[0, 0, 0]))
        out = aug.apply([small, big], params)
        assert np.abs(out[0].astype(int) - out[1]).mean() < 6
    assert set(flips) == {-1.0, 1.0}


def test_mix_pairs_whole_groups():
    base = photo_batch(3, 40, 48, seed=7)
    ids = np.array([5, 5, 2, 2, 9, 9])
    x = base[[0, 0, 1, 1, 2, 2]]
    labels = np.array([0, 0, 1, 1, 2, 2])
    for mix in (fastaug.MixUp(num_classes=3), fastaug.CutMix(num_classes=3)):
        aug = fastaug.Compose([fastaug.HorizontalFlip(), mix], seed=1)
        out, y = aug(x, labels, groups=ids)
        assert_grouped(out, ids)
        np.testing.assert_array_equal(y[0], y[1])
        # Group 5 (first) is mixed with group 9 (last): labels 0 and 2.
        assert y[0, 0] > 0 and y[0, 2] > 0 and y[0, 1] == 0


def test_group_partners_against_loop():
    rng = np.random.default_rng(0)
    for _ in range(50):
        ids = rng.integers(0, 5, rng.integers(1, 12))
        order = list(dict.fromkeys(ids.tolist()))
        members = {g: [i for i in range(len(ids)) if ids[i] == g] for g in order}
        expected = []
        for i, g in enumerate(ids):
            r = members[g].index(i)
            prev = members[order[(order.index(g) - 1) % len(order)]]
            expected.append(prev[r % len(prev)])
        np.testing.assert_array_equal(group_partners(ids), expected)
    np.testing.assert_array_equal(group_partners(np.array([3, 1, 4, 0])), [3, 0, 1, 2])
    assert group_partners(np.zeros(0, np.int64)).shape == (0,)


@pytest.mark.parametrize("policy", [fastaug.RandAugment(2, 9, seed=3),
                                    fastaug.TrivialAugmentWide(seed=3)])
def test_policies_take_groups(policy):
    x = repeated(3, 2)
    ids = np.array([0, 0, 1, 1, 2, 2])
    ops_, mags = policy.sample(6, (56, 64), groups=ids)
    np.testing.assert_array_equal(ops_[::2], ops_[1::2])
    np.testing.assert_array_equal(mags[::2], mags[1::2])
    ref_ops, ref_mags = policy.sample(6, (56, 64), indices=ids)
    np.testing.assert_array_equal(ops_, ref_ops)
    np.testing.assert_array_equal(mags, ref_mags)
    out = policy(x, groups=ids)
    np.testing.assert_array_equal(out[::2], out[1::2])
    with pytest.raises(ValueError, match="groups"):
        policy(x, groups=ids[:3])


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_group_size_follows_dataset_indices(workers):
    """The Loader passes dataset indices, so group_size groups samples 2j, 2j + 1
    whatever the shuffling and batch size."""
    base = photo_batch(6, 48, 56, seed=8)
    x = np.repeat(base, 2, axis=0)
    results = []
    for batch_size in (5, 4):
        aug = fastaug.Compose([fastaug.RandomResizedCrop(32), fastaug.HorizontalFlip(),
                               fastaug.Brightness(0.5)], seed=4, group_size=2)
        loader = fastaug.Loader(x, np.arange(12), batch_size=batch_size, augment=aug,
                                seed=1, workers=workers, shuffle=True)
        out = np.empty((12, 32, 32, 3), np.uint8)
        seen = []
        for images, labels in loader:
            out[labels] = images
            seen.extend(labels.tolist())
        assert seen != sorted(seen)  # shuffled: group members arrive apart
        assert_grouped(out, np.arange(12) // 2)
        results.append(out)
    np.testing.assert_array_equal(results[0], results[1])


def test_config_repr_pickle():
    aug = pipeline(group_size=3)
    config = aug.to_config()
    assert config["group_size"] == 3
    again = fastaug.Compose.from_config(config)
    assert again == aug and again.group_size == 3
    assert "group_size" not in pipeline().to_config()
    assert "group_size=3" in repr(aug)
    x = repeated(2, 3)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(aug))(x), aug(x))


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_group_size(bad):
    with pytest.raises(ValueError, match="group_size"):
        pipeline(group_size=bad)


@pytest.mark.parametrize("groups,match", [
    (np.array([0, 1, 2]), "3 entries for 4"),
    (np.array([0.0, 1.0, 0.0, 1.0]), "integer"),
    (np.array([True, False, True, False]), "integer"),
    (np.zeros((2, 2), int), "1-D"),
    (np.array([0, -1, 0, 1]), "non-negative"),
    (np.array([0, 1, 0, 2**63], np.uint64), "below 2\\*\\*63"),
    ("abcd", "integer"),
])
def test_bad_groups(groups, match):
    aug = pipeline()
    x = repeated(2, 2)
    with pytest.raises(ValueError, match=match):
        aug(x, groups=groups)
    with pytest.raises(ValueError, match=match):
        aug.sample(4, (56, 64), groups=groups)
    # Nothing was consumed from the running counter.
    assert np.array_equal(aug.sample(1, (56, 64))["indices"], [0])


def test_both_group_size_and_groups():
    aug = pipeline(group_size=2)
    with pytest.raises(ValueError, match="either group_size .* or groups"):
        aug(repeated(2, 2), groups=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="either group_size"):
        aug.sample(4, (56, 64), groups=[0, 0, 1, 1])


def test_loader_with_explicit_groups_recipe():
    """The documented recipe: explicit group ids per dataset index through a lambda."""
    base = photo_batch(3, 48, 56, seed=9)
    clip_of = np.array([2, 0, 1, 0, 2, 1, 2, 0])
    x = base[clip_of]
    aug = fastaug.Compose([fastaug.RandomResizedCrop(32), fastaug.HorizontalFlip()],
                          seed=4, threads=1)
    loader = fastaug.Loader(x, np.arange(8), batch_size=3, seed=2, workers=2,
                            augment=lambda images, indices: aug(
                                images, indices=indices, groups=clip_of[indices]))
    out = np.empty((8, 32, 32, 3), np.uint8)
    for images, labels in loader:
        out[labels] = images
    assert_grouped(out, clip_of)


def test_empty_batch_with_groups():
    x = np.zeros((0, 56, 64, 3), np.uint8)
    assert pipeline()(x, groups=[]).shape == (0, 40, 40, 3)
    assert pipeline(group_size=2)(x).shape == (0, 40, 40, 3)
