"""fastaug.tta: views against numpy slicing, inversion, merging against numpy."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import photo_batch
from hypothesis import given, settings
from hypothesis import strategies as st

import fastaug
from fastaug import tta

# ---- references -------------------------------------------------------------------


def ref_five_crop(x: np.ndarray, ch: int, cw: int) -> list:
    """torchvision's five_crop on NHWC numpy: corners, then the rounded centre."""
    h, w = x.shape[1:3]
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return [x[:, :ch, :cw], x[:, :ch, w - cw:], x[:, h - ch:, :cw], x[:, h - ch:, w - cw:],
            x[:, top:top + ch, left:left + cw]]


def ref_d4(x: np.ndarray) -> list:
    r = lambda k: np.rot90(x, k, axes=(1, 2))  # noqa: E731
    return [x, r(1), r(2), r(3), x[:, :, ::-1], x[:, ::-1], x.transpose(0, 2, 1, 3),
            r(2).transpose(0, 2, 1, 3)]


def asymmetry_model(batch: np.ndarray) -> np.ndarray:
    """Logits (N, 3) that depend on orientation: [a, -a, b] with a the left-minus-right
    mean brightness /255 and b = mean brightness / 255 - 0.35 (orientation-free)."""
    g = batch.astype(np.float64).mean(axis=-1)
    half = g.shape[2] // 2
    a = (g[:, :, :half].mean(axis=(1, 2)) - g[:, :, -half:].mean(axis=(1, 2))) / 255.0
    b = g.mean(axis=(1, 2)) / 255.0 - 0.35
    return np.stack([a, -a, b], axis=1)


def dense_model(batch: np.ndarray) -> np.ndarray:
    """An equivariant dense model: per-pixel scores (N, H, W, 2) from the pixel alone."""
    g = batch.astype(np.float64).mean(axis=-1)
    return np.stack([g / 255.0, 1.0 - g / 255.0], axis=-1)


def run_model(model, v: np.ndarray) -> np.ndarray:
    out = model(v.reshape(-1, *v.shape[2:]))
    return out.reshape(v.shape[0], v.shape[1], *out.shape[1:])


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return photo_batch(4, 36, 50, seed=2)


# ---- views --------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_flip_views(channels):
    x = photo_batch(3, 20, 27, channels=channels, seed=1)
    v, info = tta.views(x, "flip", return_info=True)
    assert v.shape == (2, 3, 20, 27, channels) and v.dtype == np.uint8
    np.testing.assert_array_equal(v[0], x)
    np.testing.assert_array_equal(v[1], x[:, :, ::-1])
    assert info.names == ("identity", "hflip")
    v4 = tta.views(x, "flip4")
    for got, want in zip(v4, [x, x[:, :, ::-1], x[:, ::-1], x[:, ::-1, ::-1]]):
        np.testing.assert_array_equal(got, want)


def test_three_dimensional_input(batch):
    gray = np.ascontiguousarray(batch[..., 0])
    v = tta.views(gray, "flip")
    assert v.shape == (2,) + gray.shape
    np.testing.assert_array_equal(v[1], gray[:, :, ::-1])
    crops = tta.views(gray, "five_crop", size=10)
    np.testing.assert_array_equal(crops[4], gray[:, 13:23, 20:30])


def test_d4_views():
    x = photo_batch(3, 17, 17, seed=3)
    v, info = tta.views(x, "d4", return_info=True)
    assert len(info.names) == 8
    for got, want in zip(v, ref_d4(x)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape,size", [((36, 50), (20, 31)), ((7, 9), (4, 4)),
                                        ((8, 8), (8, 8)), ((9, 10), (2, 7))])
def test_five_and_ten_crop_equal_slicing(shape, size):
    x = photo_batch(3, *shape, seed=4)
    five = tta.views(x, "five_crop", size=size)
    ten, info = tta.views(x, "ten_crop", size=size, return_info=True)
    expected = ref_five_crop(x, *size)
    flipped = ref_five_crop(np.ascontiguousarray(x[:, :, ::-1]), *size)
    assert five.shape == (5, 3) + size + (3,) and ten.shape == (10, 3) + size + (3,)
    for k, want in enumerate(expected + flipped):
        if k < 5:
            np.testing.assert_array_equal(five[k], want)
        np.testing.assert_array_equal(ten[k], want)
    assert info.names[5] == "hflip_top_left" and info.view_size == size


def test_center_crop_rounds_like_torchvision():
    # (10 - 3) / 2 = 3.5 -> 4 and (9 - 4) / 2 = 2.5 -> 2 (Python's round, half to even).
    x = photo_batch(1, 10, 9, seed=5)
    centre = tta.views(x, "five_crop", size=(3, 4))[4]
    np.testing.assert_array_equal(centre, x[:, 4:7, 2:6])


def test_five_crop_matches_torchvision(batch):
    pytest.importorskip("torchvision")
    import torch
    from torchvision.transforms.v2 import functional as F

    t = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
    ours = tta.views(batch, "ten_crop", size=(20, 31))
    for k, crop in enumerate(F.ten_crop(t, [20, 31])):
        np.testing.assert_array_equal(ours[k], crop.numpy().transpose(0, 2, 3, 1))


def test_compose_views_are_seeded_and_batch_independent(batch):
    aug = fastaug.Compose([fastaug.RandomResizedCrop(24), fastaug.HorizontalFlip(),
                           fastaug.Brightness(0.3)], seed=7)
    v, info = tta.views(batch, aug, n=5, return_info=True)
    assert v.shape == (5, 4, 24, 24, 3) and info.view_size == (24, 24)
    # Deterministic: the same views again, also for one image alone.
    np.testing.assert_array_equal(tta.views(batch, aug, n=5), v)
    np.testing.assert_array_equal(tta.views(batch[2:3], aug, n=5), v[:, 2:3])
    # View k is group k: the same parameters for every image of the batch.
    same = np.repeat(batch[:1], 3, axis=0)
    w = tta.views(same, aug, n=5)
    for k in range(5):
        np.testing.assert_array_equal(w[k, 0], w[k, 2])
    assert not np.array_equal(w[0, 0], w[1, 0])
    # The running counter of the pipeline is untouched.
    assert np.array_equal(aug.sample(1, (36, 50))["indices"], [0])


def test_compose_views_float_output(batch):
    aug = fastaug.Compose([fastaug.CenterCrop(30), fastaug.HorizontalFlip(),
                           fastaug.Normalize(layout="NCHW")], seed=1)
    v = tta.views(batch, aug, n=3)
    assert v.shape == (3, 4, 3, 30, 30) and v.dtype == np.float32


# ---- merge --------------------------------------------------------------------------


def test_flip_tta_with_orientation_dependent_model(batch):
    v = tta.views(batch, "flip")
    logits = run_model(asymmetry_model, v)
    a = asymmetry_model(batch)
    a_flip = asymmetry_model(np.ascontiguousarray(batch[:, :, ::-1]))
    np.testing.assert_allclose(logits[0], a)
    np.testing.assert_allclose(a_flip[:, :2], -a[:, :2])  # the stand-in sees the flip
    mean = tta.merge(logits, "mean")
    np.testing.assert_allclose(mean[:, :2], 0.0, atol=1e-12)  # asymmetry cancels
    np.testing.assert_allclose(mean[:, 2], a[:, 2])
    np.testing.assert_allclose(tta.merge(logits, "max"), np.maximum(a, a_flip))
    # Vote: each view picks the side it sees brighter, or the brightness class; one
    # vote each is a tie, which goes to the smaller class.
    votes = np.stack([np.argmax(a, axis=1), np.argmax(a_flip, axis=1)])
    want = [np.bincount(votes[:, i], minlength=3).argmax() for i in range(len(batch))]
    got = tta.merge(logits, "vote")
    np.testing.assert_array_equal(got, want)
    assert set(got.tolist()) == {0, 2}  # the stand-in exercises both cases here


def test_merge_modes_against_numpy():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(7, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(tta.merge(p, "mean"), p.astype(np.float64).mean(0),
                               rtol=1e-6, atol=1e-6)  # float32 sums of 7 values
    assert tta.merge(p, "mean").dtype == np.float32
    np.testing.assert_array_equal(tta.merge(p, "max"), p.max(0))
    votes = p.argmax(-1)
    counts = np.stack([(votes == c).sum(0) for c in range(4)], axis=-1)
    np.testing.assert_array_equal(tta.merge(p, "vote"), counts.argmax(-1))


def test_vote_ties_go_to_the_smallest_class():
    # Views vote 2, 1, 2, 1 for image 0 (tie 1-2 -> 1) and 3, 0, 0, 3 (tie -> 0).
    classes = np.array([[2, 3], [1, 0], [2, 0], [1, 3]])
    p = np.eye(4)[classes]
    np.testing.assert_array_equal(tta.merge(p, "vote"), [1, 0])
    # A tie inside one view's scores takes its first maximum.
    q = np.array([[[0.5, 0.5, 0.1]], [[0.2, 0.6, 0.6]], [[0.6, 0.1, 0.6]]])
    np.testing.assert_array_equal(tta.merge(q, "vote"), [0])


def test_merge_with_valid_mask():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(4, 3, 5, 6, 2))
    valid = rng.random((4, 3, 5, 6)) < 0.5
    valid[:, 0, 0, 0] = False
    mean = tta.merge(p, "mean", valid=valid)
    mx = tta.merge(p, "max", valid=valid)
    vote = tta.merge(p, "vote", valid=valid)
    for i, y, x in np.ndindex(3, 5, 6):
        use = valid[:, i, y, x]
        if not use.any():
            assert np.isnan(mean[i, y, x]).all() and np.isnan(mx[i, y, x]).all()
            assert vote[i, y, x] == -1
            continue
        np.testing.assert_allclose(mean[i, y, x], p[use, i, y, x].mean(0))
        np.testing.assert_allclose(mx[i, y, x], p[use, i, y, x].max(0))
        counts = np.bincount(p[use, i, y, x].argmax(-1), minlength=2)
        assert vote[i, y, x] == counts.argmax()


# ---- invert -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flip", "flip4"])
def test_invert_flip_views_exact(batch, kind):
    v, info = tta.views(batch, kind, return_info=True)
    maps, valid = tta.invert(run_model(dense_model, v), info)
    truth = dense_model(batch)
    assert valid.all()
    for k in range(len(v)):
        np.testing.assert_array_equal(maps[k], truth)
    np.testing.assert_allclose(tta.merge(run_model(dense_model, v), "mean", info=info),
                               truth, rtol=1e-6)


def test_invert_d4_exact():
    x = photo_batch(2, 15, 15, seed=6)
    v, info = tta.views(x, "d4", return_info=True)
    maps, valid = tta.invert(run_model(dense_model, v), info, interpolation="nearest")
    assert valid.all() and maps.dtype == np.float64
    for k in range(8):
        np.testing.assert_array_equal(maps[k], dense_model(x))


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), c=st.sampled_from([1, 3, 4]),
       ch=st.integers(1, 12), cw=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_crop_views_and_inversion_property(h, w, c, ch, cw, seed):
    """Any image and crop size: ten-crop views equal slicing, and inverting an
    equivariant map gives the image's map exactly on each crop's region, zero outside."""
    ch, cw = min(ch, h), min(cw, w)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (2, h, w, c), dtype=np.uint8)
    v, info = tta.views(x, "ten_crop", size=(ch, cw), return_info=True)
    expected = ref_five_crop(x, ch, cw) + ref_five_crop(x[:, :, ::-1], ch, cw)
    for got, want in zip(v, expected):
        np.testing.assert_array_equal(got, want)
    maps, valid = tta.invert(v[..., 0], info, interpolation="nearest")
    assert (valid.sum(axis=(2, 3)) == ch * cw).all()
    np.testing.assert_array_equal(maps[valid], np.broadcast_to(x[..., 0], maps.shape)[valid])
    assert not maps[~valid].any()


def test_invert_lookup_path_equals_slicing():
    """Views whose images have different maps take the per-pixel lookup instead of
    slicing; on integer maps both are exact."""
    x = photo_batch(2, 15, 15, seed=8)
    v, info = tta.views(x, "d4", return_info=True)
    p = run_model(dense_model, v)
    mixed = info.matrices.copy()
    mixed[:, 1] = np.roll(info.matrices[:, 1], 1, axis=0)
    q = p.copy()
    q[:, 1] = np.roll(p[:, 1], 1, axis=0)
    other = tta.ViewInfo(info.names, mixed, info.image_size, info.view_size)
    for interpolation in ("bilinear", "nearest"):
        maps, valid = tta.invert(q, other, interpolation=interpolation)
        assert valid.all()
        for k in range(8):
            np.testing.assert_array_equal(maps[k], dense_model(x))
    crops, info = tta.views(x, "ten_crop", size=(9, 6), return_info=True)
    p = run_model(dense_model, crops)
    sliced = tta.invert(p, info)
    mixed = info.matrices.copy()
    mixed[:, 1] = np.roll(info.matrices[:, 1], 3, axis=0)
    q = p.copy()
    q[:, 1] = np.roll(p[:, 1], 3, axis=0)
    maps, valid = tta.invert(q, tta.ViewInfo(info.names, mixed, info.image_size,
                                             info.view_size))
    np.testing.assert_array_equal(valid[:, 0], sliced[1][:, 0])
    np.testing.assert_array_equal(np.roll(valid[:, 1], -3, axis=0), sliced[1][:, 1])
    np.testing.assert_array_equal(maps[:, 0], sliced[0][:, 0])
    np.testing.assert_array_equal(np.roll(maps[:, 1], -3, axis=0), sliced[0][:, 1])


def test_invert_position_dependent_model(batch):
    """A model that is not equivariant: inversion undoes the geometry only, so the flip
    view's map is the model's map of the flipped image, flipped back."""
    def model(b):
        g = b.astype(np.float64).mean(-1)
        return g * np.arange(1, g.shape[2] + 1)
    v, info = tta.views(batch, "flip", return_info=True)
    maps, _ = tta.invert(run_model(model, v), info)
    np.testing.assert_array_equal(maps[1], model(batch[:, :, ::-1])[:, :, ::-1])


def test_invert_crops_paste_with_coverage(batch):
    size = (20, 31)
    v, info = tta.views(batch, "ten_crop", size=size, return_info=True)
    maps, valid = tta.invert(run_model(dense_model, v), info)
    truth = dense_model(batch)
    h, w = batch.shape[1:3]
    starts = [(0, 0), (0, w - 31), (h - 20, 0), (h - 20, w - 31), (8, 10)]
    for k in range(10):
        top, left = starts[k % 5]
        if k >= 5:
            left = w - 31 - left  # the crop of the flipped image, in the original frame
        want = np.zeros((h, w), bool)
        want[top:top + 20, left:left + 31] = True
        assert (valid[k] == want).all(), k
        np.testing.assert_array_equal(maps[k][:, want], truth[:, want])
        assert not maps[k][:, ~want].any()
    merged = tta.merge(run_model(dense_model, v), "mean", info=info)
    covered = valid.any(axis=(0, 1))
    np.testing.assert_allclose(merged[:, covered], truth[:, covered], rtol=1e-6)
    # Every pixel is covered here (the crops span the image); with small crops not.
    small, info = tta.views(batch, "five_crop", size=8, return_info=True)
    merged = tta.merge(run_model(dense_model, small), "mean", info=info)
    assert np.isnan(merged[:, 18, 10]).all()
    np.testing.assert_allclose(merged[:, 0, 0], truth[:, 0, 0])
    votes = tta.merge(run_model(dense_model, small), "vote", info=info)
    assert (votes[:, 18, 10] == -1).all() and (votes[:, 0, 0] >= 0).all()


def test_invert_compose_views_exact_for_integer_maps(batch):
    aug = fastaug.Compose([fastaug.RandomCrop((28, 40)), fastaug.HorizontalFlip()], seed=3)
    v, info = tta.views(batch, aug, n=6, return_info=True)
    maps, valid = tta.invert(run_model(dense_model, v), info)
    truth = dense_model(batch)
    assert (valid.sum(axis=(2, 3)) == 28 * 40).all()
    for k in range(6):
        np.testing.assert_array_equal(maps[k][valid[k]], truth[valid[k]])


def test_invert_resampled_views_and_low_resolution_predictions():
    """Bilinear inversion reproduces a linear ramp exactly: a resized view and a
    stride-2 prediction of the ramp map back to the ramp of the image frame."""
    x = photo_batch(2, 32, 48, seed=7)
    aug = fastaug.Compose([fastaug.RandomResizedCrop((16, 24), scale=(0.3, 0.6)),
                           fastaug.HorizontalFlip()], seed=5)
    v, info = tta.views(x, aug, n=3, return_info=True)
    ramp = lambda px, py: 3.0 * px - 2.0 * py + 1.0  # noqa: E731
    preds = np.empty((3, 2, 8, 12))
    back = np.empty((3, 2, 32, 48))
    ys, xs = np.mgrid[0:32, 0:48]
    inner = np.empty((3, 2, 32, 48), bool)
    for k in range(3):
        for i in range(2):
            # The image's ramp as seen at the centres of the stride-2 prediction pixels.
            f = np.vstack([info.matrices[k, i], [0, 0, 1]])
            g = np.linalg.inv(f)
            cy, cx = np.mgrid[0:8, 0:12] * 2.0 + 0.5
            preds[k, i] = ramp(g[0, 0] * cx + g[0, 1] * cy + g[0, 2],
                               g[1, 0] * cx + g[1, 1] * cy + g[1, 2])
            back[k, i] = ramp(xs, ys)
            ux = f[0, 0] * xs + f[0, 1] * ys + f[0, 2]
            uy = f[1, 0] * xs + f[1, 1] * ys + f[1, 2]
            inner[k, i] = (ux >= 0.5) & (ux <= 24 - 1.5) & (uy >= 0.5) & (uy <= 16 - 1.5)
    maps, valid = tta.invert(preds, info)
    assert inner.any() and (valid >= inner).all()
    np.testing.assert_allclose(maps[inner], back[inner], atol=1e-9)


def test_invert_nearest_keeps_class_ids(batch):
    v, info = tta.views(batch, "five_crop", size=(12, 20), return_info=True)
    labels = (run_model(dense_model, v)[..., 0] > 0.5).astype(np.int32)
    maps, valid = tta.invert(labels, info, interpolation="nearest")
    assert maps.dtype == np.int32
    truth = (dense_model(batch)[..., 0] > 0.5).astype(np.int32)
    np.testing.assert_array_equal(maps[valid], np.broadcast_to(truth, maps.shape)[valid])


# ---- bad input ----------------------------------------------------------------------


def test_bad_views_input(batch):
    aug = fastaug.Compose([fastaug.HorizontalFlip()], seed=0)
    cases = [
        (dict(images=batch.astype(np.float32)), TypeError, "uint8"),
        (dict(images=list(batch)), TypeError, "numpy array"),
        (dict(images=batch[0, 0]), ValueError, "shape"),
        (dict(images=batch, kind="rotate"), ValueError, "kind"),
        (dict(images=batch, kind="five_crop"), ValueError, "needs size"),
        (dict(images=batch, kind="five_crop", size=(40, 10)), ValueError, "larger"),
        (dict(images=batch, kind="ten_crop", size=0), ValueError, "size"),
        (dict(images=batch, kind="flip", size=10), ValueError, "size applies"),
        (dict(images=batch, kind="flip", n=3), ValueError, "n applies"),
        (dict(images=batch, kind="d4"), ValueError, "square"),
        (dict(images=batch, kind=aug), ValueError, "needs n"),
        (dict(images=batch, kind=aug, n=0), ValueError, "needs n"),
        (dict(images=batch, kind=aug, n=2, size=3), ValueError, "size does not apply"),
        (dict(images=batch, kind=aug, n=2, threads=1), ValueError, "threads"),
        (dict(images=batch, kind=fastaug.Compose([fastaug.HorizontalFlip()], group_size=2),
              n=2), ValueError, "group_size"),
        (dict(images=batch, kind=fastaug.Compose([fastaug.MixUp()]), n=2), ValueError,
         "MixUp"),
    ]
    for kwargs, exc, match in cases:
        with pytest.raises(exc, match=match):
            tta.views(**kwargs)


def test_bad_merge_and_invert_input(batch):
    p = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="how"):
        tta.merge(p, "median")
    with pytest.raises(ValueError, match="shape"):
        tta.merge(np.zeros(3), "mean")
    with pytest.raises(ValueError, match="at least one view"):
        tta.merge(np.zeros((0, 3, 4)), "mean")
    with pytest.raises(TypeError, match="numeric"):
        tta.merge(np.array([["a"], ["b"]]), "mean")
    with pytest.raises(ValueError, match="last axis of classes"):
        tta.merge(np.zeros((2, 3)), "vote")
    with pytest.raises(TypeError, match="boolean"):
        tta.merge(p, "mean", valid=np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="valid must have shape"):
        tta.merge(p, "mean", valid=np.ones((2, 4), bool))
    _, info = tta.views(batch, "flip", return_info=True)
    dense = np.zeros((2, 4, 36, 50))
    with pytest.raises(ValueError, match="not both"):
        tta.merge(dense, "mean", valid=np.ones(dense.shape, bool), info=info)
    with pytest.raises(ValueError, match="3 views of 4 images"):
        tta.invert(np.zeros((3, 4, 36, 50)), info)
    with pytest.raises(ValueError, match="2 views of 3 images"):
        tta.invert(np.zeros((2, 3, 36, 50)), info)
    with pytest.raises(ValueError, match="shape"):
        tta.invert(np.zeros((2, 4, 36)), info)
    with pytest.raises(TypeError, match="ViewInfo"):
        tta.invert(dense, {"names": ()})
    with pytest.raises(ValueError, match="interpolation"):
        tta.invert(dense, info, interpolation="cubic")


def test_empty_batch():
    x = np.zeros((0, 20, 30, 3), np.uint8)
    aug = fastaug.Compose([fastaug.RandomResizedCrop(12), fastaug.HorizontalFlip()], seed=0)
    for kind, kwargs, shape in [("flip", {}, (2, 0, 20, 30, 3)),
                                ("ten_crop", {"size": 10}, (10, 0, 10, 10, 3)),
                                (aug, {"n": 3}, (3, 0, 12, 12, 3))]:
        v, info = tta.views(x, kind, return_info=True, **kwargs)
        assert v.shape == shape and info.matrices.shape == shape[:2] + (2, 3)
        maps, valid = tta.invert(np.zeros(shape[:4]), info)
        assert maps.shape == shape[:2] + (20, 30) and valid.shape == maps.shape
        assert tta.merge(maps, "mean", valid=valid).shape == (0, 20, 30)


def test_view_info_checks_what_it_holds():
    ok = dict(names=("a",), matrices=np.zeros((1, 2, 2, 3)), image_size=(4, 5),
              view_size=(4, 5))
    tta.ViewInfo(**ok)
    for bad, match in [(dict(matrices=np.zeros((1, 2, 2, 2))), "matrices"),
                       (dict(matrices=np.full((1, 2, 2, 3), np.nan)), "matrices"),
                       (dict(names=("a", "b")), "names"),
                       (dict(view_size=(0, 16)), "view_size")]:
        with pytest.raises(ValueError, match=match):
            tta.ViewInfo(**{**ok, **bad})
    with pytest.raises(TypeError, match="image_size"):
        tta.ViewInfo(**{**ok, "image_size": (4,)})
