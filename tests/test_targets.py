"""Masks, boxes and keypoints follow the images' random transform (fastaug.targets)."""
from __future__ import annotations

import numpy as np
import pytest

from fastaug import Compose
from fastaug.targets import stage_maps
from fastaug.transforms import (
    Affine,
    CenterCrop,
    HorizontalFlip,
    RandomResizedCrop,
    Resize,
    Rotate,
    VerticalFlip,
)

H, W = 64, 72


def _pipelines(interpolation: str = "bilinear", cval: float = 0) -> dict:
    i = interpolation
    return {
        "affine": [Affine(rotate=40, translate=0.1, scale=(1.0, 1.5), shear=10,
                          interpolation=i, cval=cval)],
        "rotate": [Rotate(90, interpolation=i, cval=cval)],
        "flips": [HorizontalFlip(), VerticalFlip()],
        "rrc": [RandomResizedCrop((56, 60), scale=(0.3, 0.6), interpolation=i),
                HorizontalFlip()],
        # Rotate after a crop starts a second stage (two passes).
        "two_stages": [RandomResizedCrop((60, 60), scale=(0.4, 0.7), interpolation=i),
                       Rotate(30, interpolation=i, cval=cval)],
    }


PIPELINES = list(_pipelines())


def _dots(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One-pixel dots (one per image, away from the border) and their keypoints."""
    rng = np.random.default_rng(seed)
    pts = np.stack([rng.integers(8, W - 8, n), rng.integers(8, H - 8, n)], axis=1)
    img = np.zeros((n, H, W, 1), np.uint8)
    img[np.arange(n), pts[:, 1], pts[:, 0]] = 255
    return img, pts.astype(np.float64)[:, None, :]


def test_two_stage_pipeline_has_two_passes():
    assert Compose(_pipelines()["two_stages"]).num_passes == 2


@pytest.mark.parametrize("name", PIPELINES)
def test_keypoint_lands_on_its_dot(name):
    n = 96
    img, kp = _dots(n)
    aug = Compose(_pipelines()[name], seed=1)
    out = aug(img, keypoints=kp, remove_invisible=False)
    y = out["images"][..., 0].astype(np.float64)
    pts = np.concatenate([k for k in out["keypoints"]])
    vis = np.concatenate(out["keypoints_visible"])
    oh, ow = y.shape[1:]
    inside = vis & (pts[:, 0] > 2) & (pts[:, 0] < ow - 3) & (pts[:, 1] > 2) & (pts[:, 1] < oh - 3)
    assert inside.sum() > n // 3
    checked = 0
    for i in np.flatnonzero(inside):
        # The dot's content is near the keypoint (bilinear spreads it over <= 1 pixel
        # around the exact point, the pipelines here only zoom in) ...
        peak = np.unravel_index(np.argmax(y[i]), y[i].shape)
        assert y[i].max() > 0, (name, i)
        assert abs(peak[1] - pts[i, 0]) <= 1.0 and abs(peak[0] - pts[i, 1]) <= 1.0, (
            name, i, peak, pts[i])
        # ... and its weighted centre is on it (a tent sampled on the grid: < 0.5 px).
        yy, xx = np.nonzero(y[i])
        wgt = y[i][yy, xx]
        cx, cy = (xx * wgt).sum() / wgt.sum(), (yy * wgt).sum() / wgt.sum()
        assert abs(cx - pts[i, 0]) < 0.5 and abs(cy - pts[i, 1]) < 0.5, (name, i, cx, cy, pts[i])
        checked += 1
    # Invisible keypoints are dropped by default, visible ones kept.
    kept = aug.apply(img, aug.sample(n, (H, W, 1), indices=np.arange(n)), keypoints=kp)
    assert sum(len(k) for k in kept["keypoints"]) <= n
    assert checked > 0


@pytest.mark.parametrize("name", ["affine", "flips", "rrc", "two_stages"])
def test_keypoint_nearest_dot_is_exact(name):
    n = 96
    img, kp = _dots(n, seed=3)
    aug = Compose(_pipelines("nearest")[name], seed=2)
    params = aug.sample(n, (H, W, 1))
    out = aug.apply(img, params, keypoints=kp, remove_invisible=False)
    # Nearest sampling: an output pixel shows the dot when its source point rounds to
    # the dot, i.e. lies within half a pixel of it (per axis) in each stage's input:
    # within sqrt(2)/2 * (zoom of that stage and the later ones) of the keypoint.
    zooms = [np.sqrt(np.abs(np.linalg.det(f[:, :, :2]))) for f, _ in stage_maps(params)]
    # (+ 0.05: the kernel's source coordinates are fixed-point.)
    tol = sum(np.prod(zooms[k:], axis=0) for k in range(len(zooms))) * np.sqrt(0.5) + 0.05
    y = out["images"][..., 0]
    hits = 0
    for i in np.flatnonzero(np.concatenate(out["keypoints_visible"])):
        p = out["keypoints"][i][0]
        yy, xx = np.nonzero(y[i])
        if len(xx) == 0:
            continue  # a shrinking nearest warp may skip the dot's pixel
        d = np.hypot(xx - p[0], yy - p[1])
        assert np.all(d <= tol[i]), (i, p, d, tol[i])
        hits += 1
    assert hits > n // 3


def _filled_boxes(n: int, seed: int = 0) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    img = np.zeros((n, H, W, 1), np.uint8)
    boxes = []
    for i in range(n):
        x0, y0 = rng.integers(4, W // 2), rng.integers(4, H // 2)
        x1, y1 = x0 + rng.integers(8, W // 2 - 4), y0 + rng.integers(8, H // 2 - 4)
        img[i, y0:y1, x0:x1] = 255
        boxes.append(np.array([[x0, y0, x1, y1]], np.float64))
    return img, boxes


@pytest.mark.parametrize("name", PIPELINES)
def test_box_matches_filled_region(name):
    n = 48
    img, boxes = _filled_boxes(n)
    out = Compose(_pipelines("nearest")[name], seed=5)(img, boxes=boxes,
                                                       labels=[[i] for i in range(n)])
    y = out["images"][..., 0]
    kept = 0
    for i in range(n):
        yy, xx = np.nonzero(y[i])
        b = out["boxes"][i]
        if len(xx) == 0:
            assert len(b) == 0  # nothing left of it in the image
            continue
        assert len(b) == 1 and list(out["labels"][i]) == [i]
        # Region of the covered pixels (edges on pixel borders) vs the transformed box:
        # nearest sampling moves an edge by at most one pixel.
        region = np.array([xx.min(), yy.min(), xx.max() + 1, yy.max() + 1], np.float64)
        oh, ow = y.shape[1:]
        assert np.all(b[0, :2] <= region[:2] + 1.0) and np.all(b[0, 2:] >= region[2:] - 1.0)
        if b[0, 0] > 1 and b[0, 1] > 1 and b[0, 2] < ow - 1 and b[0, 3] < oh - 1:
            # Not clipped: the box is the region around the whole moved rectangle.
            # (A clipped rotated box may be larger than the clipped content.)
            np.testing.assert_allclose(b[0], region, atol=1.0, err_msg=f"{name} image {i}")
        kept += 1
    assert kept > n // 2


def test_boxes_clip_drop_and_keep_labels_aligned():
    img = np.zeros((2, 40, 40, 3), np.uint8)
    boxes = [np.array([[0, 0, 15, 15], [12, 12, 20, 20], [0, 0, 5, 5]], np.float64),
             np.array([[25, 5, 40, 40]], np.float64)]
    labels = [np.array([7, 8, 9]), np.array([3])]
    aug = Compose([CenterCrop(20)], seed=0)  # keeps [10, 30) of both axes
    out = aug(img, boxes=boxes, labels=labels, min_visibility=0.15)
    # Box 0 keeps 5x5 of 15x15 (0.11 < 0.15), box 2 is outside: dropped with labels;
    # box 3 keeps 5x20 of 15x35 (0.19).
    np.testing.assert_allclose(out["boxes"][0], [[2, 2, 10, 10]])
    assert out["labels"][0].tolist() == [8] and out["labels"][0].dtype == labels[0].dtype
    np.testing.assert_allclose(out["boxes"][1], [[15, 0, 20, 20]])
    assert out["labels"][1].tolist() == [3]
    out = aug(img, boxes=boxes, labels=labels)
    np.testing.assert_allclose(out["boxes"][0], [[0, 0, 5, 5], [2, 2, 10, 10]])
    assert out["labels"][0].tolist() == [7, 8]
    out = aug(img, boxes=boxes, labels=labels, min_area=30)
    assert out["labels"][0].tolist() == [8] and out["labels"][1].tolist() == [3]


@pytest.mark.parametrize("fmt", ["xyxy", "pascal_voc", "xywh", "coco", "cxcywh", "yolo"])
def test_box_formats_under_flip(fmt):
    img = np.zeros((1, 40, 50, 1), np.uint8)
    xyxy = np.array([[5.0, 10.0, 20.0, 30.0]])
    conv = {"xyxy": xyxy, "pascal_voc": xyxy,
            "xywh": np.array([[5.0, 10.0, 15.0, 20.0]]),
            "coco": np.array([[5.0, 10.0, 15.0, 20.0]]),
            "cxcywh": np.array([[12.5 / 50, 20 / 40, 15 / 50, 20 / 40]]),
            "yolo": np.array([[12.5 / 50, 20 / 40, 15 / 50, 20 / 40]])}
    out = Compose([HorizontalFlip(p=1.0)], seed=0)(img, boxes=[conv[fmt]], box_format=fmt)
    flipped = {"xyxy": [[30, 10, 45, 30]], "xywh": [[30, 10, 15, 20]],
               "cxcywh": [[37.5 / 50, 0.5, 0.3, 0.5]]}
    key = {"pascal_voc": "xyxy", "coco": "xywh", "yolo": "cxcywh"}.get(fmt, fmt)
    np.testing.assert_allclose(out["boxes"][0], flipped[key], atol=1e-12)


def test_boxes_resize_normalised_and_padded_form():
    img = np.zeros((2, 40, 50, 3), np.uint8)
    aug = Compose([Resize((80, 25))], seed=0)
    yolo = [np.array([[0.5, 0.5, 0.2, 0.4]]), np.array([[0.25, 0.75, 0.5, 0.5]])]
    out = aug(img, boxes=yolo, box_format="yolo")
    for a, b in zip(out["boxes"], yolo):
        np.testing.assert_allclose(a, b, atol=1e-12)  # a resize keeps normalised boxes
    padded = np.zeros((2, 3, 4))
    padded[0, :2] = [[0, 0, 10, 10], [10, 10, 50, 40]]
    padded[1, :1] = [[5, 5, 15, 25]]
    counts = np.array([2, 1])
    lab = np.array([[1, 2, 0], [3, 0, 0]])
    out = aug(img, boxes=(padded, counts), labels=lab)
    b, c = out["boxes"]
    assert b.shape == (2, 3, 4) and c.tolist() == [2, 1]
    np.testing.assert_allclose(b[0, 1], [5, 20, 25, 80])
    np.testing.assert_allclose(b[1, 0], [2.5, 10, 7.5, 50])
    assert out["labels"].tolist() == [[1, 2, 0], [3, 0, 0]]


def test_masks_equal_nearest_warp_of_the_image():
    rng = np.random.default_rng(0)
    n = 16
    masks = rng.integers(0, 256, (n, H, W), dtype=np.uint8)
    images = np.repeat(masks[..., None], 3, axis=-1)
    for name in PIPELINES:
        out = Compose(_pipelines("bilinear")[name], seed=4)(images, masks=masks)
        ref = Compose(_pipelines("nearest")[name], seed=4)(masks)
        assert out["masks"].dtype == np.uint8 and out["masks"].shape == ref.shape
        np.testing.assert_array_equal(out["masks"], ref, err_msg=name)
        assert out["images"].shape[:3] == ref.shape


@pytest.mark.parametrize("k", [None, 1, 2, 3, 5])
def test_int32_class_ids_stay_exact(k):
    rng = np.random.default_rng(1)
    n = 8
    shape = (n, H, W) if k is None else (n, H, W, k)
    masks = rng.integers(-(2 ** 31), 2 ** 31 - 1, shape, dtype=np.int64).astype(np.int32)
    images = np.zeros((n, H, W, 3), np.uint8)
    for name in PIPELINES:
        pipe = _pipelines("nearest")[name]
        out = Compose(pipe, seed=7)(images, masks=masks, mask_fill=-123456)
        got = out["masks"]
        assert got.dtype == np.int32 and got.shape[0] == n and got.shape[1:3] == \
            out["images"].shape[1:3] and got.shape[3:] == masks.shape[3:]
        assert np.isin(got, np.append(masks.ravel(), -123456)).all()
        # Each byte of the ids is the nearest warp of that byte plane (fill: the
        # fill's bytes), so the ids are the nearest warp of the id map.
        planes = np.ascontiguousarray(masks.reshape(n, H, W, -1)).view(np.uint8)
        fill = np.array([-123456], np.int32).view(np.uint8)
        expect = []
        for j in range(planes.shape[-1]):
            ref_pipe = Compose(_pipelines("nearest", int(fill[j % 4]))[name], seed=7)
            expect.append(ref_pipe(np.ascontiguousarray(planes[..., j])))
        ref = np.ascontiguousarray(np.stack(expect, axis=-1)).view(np.int32)
        np.testing.assert_array_equal(got.reshape(ref.shape), ref, err_msg=name)


def test_keypoints_flip_index_angle_and_scale():
    img = np.zeros((1, 40, 50, 1), np.uint8)
    kp = [np.array([[10.0, 5.0, 0.0, 1.0], [30.0, 6.0, 90.0, 2.0]])]
    out = Compose([HorizontalFlip(p=1.0)], seed=0)(img, keypoints=kp, flip_index=[1, 0])
    np.testing.assert_allclose(out["keypoints"][0], [[19, 6, 90, 2], [39, 5, 180, 1]],
                               atol=1e-9)
    # Scale 2 about the centre (24.5, 19.5): (10, 5) -> (-4.5, -9.5) leaves the image.
    kp = [np.array([[10.0, 5.0, 0.0, 1.0], [30.0, 16.0, 90.0, 2.0]])]
    out = Compose([Affine(scale=2.0)], seed=0)(img, keypoints=kp, remove_invisible=False)
    np.testing.assert_allclose(out["keypoints"][0][:, :2], [[-4.5, -9.5], [35.5, 12.5]])
    np.testing.assert_allclose(out["keypoints"][0][:, 3], [2.0, 4.0])
    np.testing.assert_allclose(out["keypoints"][0][:, 2], [0.0, 90.0], atol=1e-9)
    assert out["keypoints_visible"][0].tolist() == [False, True]
    out = Compose([Affine(scale=2.0)], seed=0)(img, keypoints=kp)
    np.testing.assert_allclose(out["keypoints"][0], [[35.5, 12.5, 90.0, 4.0]])
    # Two flips rotate by 180 degrees: no mirror, no swap.
    out = Compose([HorizontalFlip(p=1.0), VerticalFlip(p=1.0)], seed=0)(
        img, keypoints=np.array([[[10.0, 5.0], [30.0, 6.0]]]), flip_index=[1, 0])
    np.testing.assert_allclose(out["keypoints"][0], [[39, 34], [19, 33]])


def test_apply_replays_and_plain_call_returns_array():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (4, H, W, 3), dtype=np.uint8)
    masks = rng.integers(0, 5, (4, H, W), dtype=np.uint8)
    aug = Compose(_pipelines()["affine"], seed=3)
    params = aug.sample(4, (H, W, 3))
    a = aug.apply(img, params, masks=masks, keypoints=np.zeros((4, 1, 2)) + 30)
    b = aug.apply(img, params, masks=masks, keypoints=np.zeros((4, 1, 2)) + 30)
    assert set(a) == {"images", "masks", "keypoints"}
    np.testing.assert_array_equal(a["images"], aug.apply(img, params))
    np.testing.assert_array_equal(a["masks"], b["masks"])
    assert isinstance(aug(img), np.ndarray)
    out = aug(img, labels=[0, 1, 2, 3], masks=masks)  # per-image labels without boxes
    assert out["labels"] == [0, 1, 2, 3]


def test_multi_stage_matches_chained_maps():
    aug = Compose(_pipelines()["two_stages"], seed=0)
    params = aug.sample(3, (H, W, 3))
    maps = stage_maps(params)
    assert len(maps) == 2
    kp = np.array([[[20.0, 30.0]]] * 3)
    out = aug.apply(np.zeros((3, H, W, 3), np.uint8), params, keypoints=kp,
                    remove_invisible=False)
    for i in range(3):
        full = np.eye(3)
        for st in params["stages"]:
            m = np.eye(3)
            m[:2] = st["inverse"][i]
            full = full @ m
        back = full @ np.array([*out["keypoints"][i][0], 1.0])
        np.testing.assert_allclose(back[:2], [20.0, 30.0], atol=1e-9)


def test_masks_for_images_of_varying_sizes():
    rng = np.random.default_rng(0)
    sizes = [(40, 50), (64, 30)]
    images = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in sizes]
    masks = [rng.integers(0, 9, s, dtype=np.int32) for s in sizes]
    aug = Compose([RandomResizedCrop(24, interpolation="nearest")], seed=0)
    out = aug(images, masks=masks)
    assert out["masks"].shape == (2, 24, 24) and out["masks"].dtype == np.int32
    ref = Compose([RandomResizedCrop(24, interpolation="nearest")], seed=0)(
        [m.astype(np.uint8) for m in masks])
    np.testing.assert_array_equal(out["masks"], ref)


# ---- bad input ----------------------------------------------------------------------


def _aug():
    return Compose([HorizontalFlip()], seed=0)


IMG = np.zeros((2, 20, 30, 3), np.uint8)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"boxes": [np.array([[5, 1, 2, 4.0]]), np.zeros((0, 4))]}, ValueError,
     r"boxes\[0\]\[0\]: x2 < x1"),
    ({"boxes": [np.zeros((0, 4)), np.array([[1, 5, 2, 4.0]])]}, ValueError,
     r"boxes\[1\]\[0\]: y2 < y1"),
    ({"boxes": [np.array([[0, 0, 31, 4.0]]), np.zeros((0, 4))]}, ValueError,
     r"boxes\[0\]\[0\].*outside the image"),
    ({"boxes": [np.array([[0.5, 0.5, 1.2, 0.1]]), np.zeros((0, 4))], "box_format": "yolo"},
     ValueError, r"boxes\[0\]\[0\]: normalised"),
    ({"boxes": [np.array([[0.1, 0.5, 0.5, 0.1]]), np.zeros((0, 4))], "box_format": "yolo"},
     ValueError, r"boxes\[0\]\[0\].*outside"),
    ({"boxes": [np.array([[1, 1, -2, 3.0]]), np.zeros((0, 4))], "box_format": "coco"},
     ValueError, r"boxes\[0\]\[0\]: w < 0"),
    ({"boxes": [np.zeros((1, 4))]}, ValueError, "boxes has 1 entries for 2 images"),
    ({"boxes": [np.zeros((1, 3)), np.zeros((0, 4))]}, ValueError, r"boxes\[0\] must have"),
    ({"boxes": [np.zeros((1, 4)), np.zeros((0, 4))], "labels": [[1, 2], []]}, ValueError,
     r"labels\[0\] has 2 entries for 1 boxes"),
    ({"boxes": [np.zeros((1, 4))] * 2, "labels": [[1]]}, ValueError, "labels has 1 entries"),
    ({"masks": np.zeros((2, 20, 31), np.uint8)}, ValueError, r"masks has size \(H, W\)"),
    ({"masks": np.zeros((3, 20, 30), np.uint8)}, ValueError, "masks has 3 masks for 2"),
    ({"masks": np.zeros((2, 20, 30), np.float32)}, TypeError, "masks must have dtype"),
    ({"masks": np.zeros((2, 20, 30), np.uint8), "mask_fill": 300}, ValueError, "mask_fill"),
    ({"keypoints": np.zeros((2, 3, 3))}, ValueError, "keypoints must have 2"),
    ({"keypoints": [np.array([[np.nan, 1.0]]), np.zeros((0, 2))]}, ValueError,
     r"keypoints\[0\] must be finite"),
    ({"keypoints": np.zeros((2, 3, 2)), "flip_index": [1, 0]}, ValueError,
     "has 3 points, flip_index has 2"),
    ({"keypoints": np.zeros((2, 3, 2)), "flip_index": [1, 1, 0]}, ValueError,
     "flip_index must be a permutation"),
    ({"boxes": [np.zeros((0, 4))] * 2, "box_format": "ltrb"}, ValueError, "box_format"),
    ({"boxes": [np.zeros((0, 4))] * 2, "min_visibility": 2}, ValueError, "min_visibility"),
    ({"boxes": [np.zeros((0, 4))] * 2, "min_area": -1}, ValueError, "min_area"),
    ({"keypoints": np.zeros((2, 1, 2)), "remove_invisible": 1}, TypeError, "remove_invisible"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _aug()(IMG, **kwargs)


def test_array_boxes_with_labels_pixel_and_output_transforms():
    from fastaug.transforms import Cutout, Normalize

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    masks = rng.integers(0, 4, (3, 40, 50, 2), dtype=np.uint8)
    boxes = np.tile(np.array([[[0, 0, 10, 10], [45, 35, 50, 40]]], np.float64), (3, 1, 1))
    labels = np.tile(np.array([[1, 2]]), (3, 1))
    aug = Compose([HorizontalFlip(p=1.0), Cutout(), Normalize(layout="NCHW")], seed=0)
    out = aug(img, boxes=boxes, labels=labels, masks=masks)
    assert out["images"].dtype == np.float32 and out["images"].shape == (3, 3, 40, 50)
    np.testing.assert_array_equal(out["masks"], masks[:, :, ::-1])  # no colour, no erasing
    for b, lab in zip(out["boxes"], out["labels"]):
        np.testing.assert_allclose(b, [[40, 0, 50, 10], [0, 35, 5, 40]])
        assert lab.tolist() == [1, 2]


def test_empty_batch_and_batch_transforms():
    from fastaug.transforms import MixUp

    aug = Compose([Rotate(10)], seed=0)
    out = aug(np.zeros((0, 20, 30, 3), np.uint8), masks=np.zeros((0, 20, 30), np.uint8),
              boxes=[], keypoints=[])
    assert out["masks"].shape == (0, 20, 30) and out["boxes"] == [] and out["keypoints"] == []
    with pytest.raises(ValueError, match="MixUp"):
        Compose([Rotate(10), MixUp()], seed=0)(np.zeros((2, 20, 30, 3), np.uint8),
                                               labels=np.eye(2),
                                               masks=np.zeros((2, 20, 30), np.uint8))


def test_two_rotating_stages_box_is_around_the_chained_corners():
    # Rotate, then a padding crop (a new stage), then rotate back: the box of the box
    # would grow; the chained corners give the box back.
    from fastaug.transforms import RandomCrop

    img = np.zeros((1, 60, 60, 1), np.uint8)
    aug = Compose([Affine(rotate=(30, 30)), RandomCrop(60, padding=2),
                   Affine(rotate=(-30, -30))], seed=0)
    assert aug.num_passes >= 2
    params = aug.sample(1, (60, 60, 1))
    box = np.array([[25.0, 25.0, 35.0, 35.0]])
    out = aug.apply(img, params, boxes=[box])
    maps = stage_maps(params)
    assert len(maps) >= 2
    # The whole chain is a pure shift (the crop's): the box is shifted, not grown.
    lin = np.eye(2)
    shift = np.zeros(2)
    for f, _ in maps:
        lin, shift = f[0, :, :2] @ lin, f[0, :, :2] @ shift + f[0, :, 2]
    np.testing.assert_allclose(lin, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(out["boxes"][0], box + np.tile(shift, 2), atol=1e-9)
