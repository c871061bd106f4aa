"""fastaug.ray.Augment: direct calls on numpy batches, then Ray Data on a local instance.

The reference is the pipeline itself called on the same images with the row ids as
sample indices (``aug.set_epoch(e); aug(images, indices=ids)``); decoded images are
checked against ``cv2.imdecode`` called here. The tests that need Ray share one local
instance (``ray.init(num_cpus=2)``, started once for the module) and skip without Ray.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import bounded, photo_batch

import fastaug as fa
import fastaug.ray as fray
from fastaug.ray import Augment, row_indices

N = 24
H, W = 40, 48
TIMEOUT = 180.0  # seconds for one Ray job (actor start-up included)
OMP_THREADS = 7  # what the Ray workers' environment says (see ray_local)


def pipeline(seed: int = 5) -> fa.Compose:
    return fa.Compose([fa.Affine(rotate=15, scale=(0.9, 1.1), fill_mode="reflect"),
                       fa.RandomResizedCrop(32, scale=(0.4, 1.0)), fa.HorizontalFlip(),
                       fa.ColorJitter(0.3, 0.3, 0.3, 0.05)], seed=seed)


def expected(images, ids, epoch: int = 0, seed: int = 5, **targets):
    aug = pipeline(seed)
    aug.set_epoch(epoch)
    return aug(images, indices=np.asarray(ids), **targets)


@pytest.fixture(scope="module")
def data():
    ids = np.random.default_rng(1).permutation(1000)[:N]  # not 0..N-1: ids, not positions
    return photo_batch(N, H, W, 3, seed=3), ids


def encode(images, ext: str) -> list[bytes]:
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else []
    return [cv2.imencode(ext, img[..., ::-1], params)[1].tobytes() for img in images]


def decode(blobs) -> np.ndarray:
    return np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR),
                                  cv2.COLOR_BGR2RGB) for b in blobs])


def objects(items) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def target_data(ids):
    """Masks, boxes (0 to 3 per image), keypoints and per-box labels for N images."""
    rng = np.random.default_rng(7)
    masks = (np.arange(H)[:, None] // 8 * 10 + np.arange(W)[None, :] // 8).astype(np.uint8)
    masks = np.broadcast_to(masks, (N, H, W)).copy()
    boxes, labels, points = [], [], []
    for k in range(N):
        m = k % 4
        x0 = rng.uniform(0, W / 2, m)
        y0 = rng.uniform(0, H / 2, m)
        boxes.append(np.stack([x0, y0, x0 + rng.uniform(4, W / 2, m),
                               y0 + rng.uniform(4, H / 2, m)], axis=1))
        labels.append(np.asarray(ids[k] * 10 + np.arange(m), np.int64))
        points.append(np.stack([rng.uniform(0, W - 1, 3), rng.uniform(0, H - 1, 3)], axis=1))
    return masks, boxes, labels, points


# ---- row ids -----------------------------------------------------------------------


def test_row_indices_integers_and_strings():
    assert row_indices(np.array([3, 0, 7], np.uint32)).tolist() == [3, 0, 7]
    assert row_indices(objects([3, 0, 7])).tolist() == [3, 0, 7]
    paths = ["train/a.jpg", "train/b.jpg"]
    want = [int.from_bytes(hashlib.blake2b(p.encode(), digest_size=8).digest(), "little") >> 1
            for p in paths]
    assert row_indices(objects(paths)).tolist() == want
    assert row_indices(np.array(paths)).tolist() == want
    assert row_indices(objects([p.encode() for p in paths])).tolist() == want
    assert row_indices(np.zeros(0, np.int64)).shape == (0,)
    assert row_indices(objects([])).shape == (0,)


@pytest.mark.parametrize("ids, error, match", [
    (np.array([1, -2]), ValueError, "0..2"),
    (np.array([1.0, 2.0]), TypeError, "float64"),
    (np.array([True, False]), TypeError, "bool"),
    (objects([1, "a"]), TypeError, "integers or strings"),
    (np.zeros((2, 2), np.int64), ValueError, "one scalar id per row"),
])
def test_row_indices_rejects(ids, error, match):
    with pytest.raises(error, match=match):
        row_indices(ids, "rid")


# ---- direct calls (no Ray needed) ----------------------------------------------------


def test_array_column_matches_compose(data):
    images, ids = data
    aug = pipeline()
    aug.set_epoch(3)
    stage = Augment(aug)
    out = stage({"id": ids, "image": images, "label": ids * 2})
    np.testing.assert_array_equal(out["image"], expected(images, ids, epoch=3))
    np.testing.assert_array_equal(out["label"], ids * 2)  # other columns pass through
    # Row by row, in another order: the same rows, whatever the batch.
    order = np.random.default_rng(0).permutation(N)
    for part in np.array_split(order, 5):
        got = stage({"id": ids[part], "image": images[part]})["image"]
        np.testing.assert_array_equal(got, out["image"][part])
    # The caller's pipeline is untouched.
    assert aug.threads is None and aug.epoch == 3


def test_seed_epoch_and_config_forms(data, tmp_path):
    images, ids = data
    batch = {"id": ids, "image": images}
    want = expected(images, ids, epoch=2, seed=11)
    config = pipeline(seed=99).to_config()
    (tmp_path / "aug.json").write_text(json.dumps(config))
    yaml = pytest.importorskip("yaml")
    (tmp_path / "aug.yaml").write_text(yaml.safe_dump(config))
    for form in (pipeline(99), config, str(tmp_path / "aug.json"), tmp_path / "aug.yaml"):
        got = Augment(form, seed=11, epoch=2)(batch)["image"]
        np.testing.assert_array_equal(got, want)
    # The config's own seed when none is given; epochs differ.
    np.testing.assert_array_equal(Augment(config, epoch=2)(batch)["image"],
                                  expected(images, ids, epoch=2, seed=99))
    assert not np.array_equal(Augment(config, epoch=1)(batch)["image"],
                              expected(images, ids, epoch=2, seed=99))


def test_pickles_and_never_imports_ray(data, tmp_path):
    images, ids = data
    blobs = objects(encode(images[:4], ".png"))
    stage = Augment(pipeline(), threads=2)
    first = stage({"id": ids[:4], "image": blobs})["image"]  # makes the decoder and pool
    again = pickle.loads(pickle.dumps(stage))
    np.testing.assert_array_equal(again({"id": ids[:4], "image": blobs})["image"], first)
    code = "import sys, fastaug, fastaug.ray; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_policy_pipeline(data):
    images, ids = data
    policy = fa.RandAugment(num_ops=2, magnitude=9, seed=4)
    got = Augment(policy, epoch=1)({"id": ids, "image": images})["image"]
    ref = fa.RandAugment(num_ops=2, magnitude=9, seed=4)
    ref.set_epoch(1)
    np.testing.assert_array_equal(got, ref(images, indices=ids))


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_encoded_bytes_and_paths(data, tmp_path, ext):
    images, ids = data
    blobs = encode(images, ext)
    want = expected(decode(blobs), ids)
    got = Augment(pipeline(), image_column="bytes")({"id": ids, "bytes": objects(blobs)})
    np.testing.assert_array_equal(got["bytes"], want)
    paths = []
    for i, b in zip(ids, blobs):
        paths.append(str(tmp_path / f"{i}{ext}"))
        with open(paths[-1], "wb") as f:
            f.write(b)
    for column in (objects(paths), np.array(paths), paths):
        out = Augment(pipeline(), image_column="path", output_column="image")(
            {"id": ids, "path": column})
        np.testing.assert_array_equal(out["image"], want)
        assert list(out["path"]) == paths  # kept: the output went to another column


def test_grey_and_reduced_decoding(data):
    images, ids = data
    big = np.repeat(np.repeat(images[:4], 4, axis=1), 4, axis=2)  # 160 x 192
    blobs = encode(big, ".jpg")
    grey = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_4)[..., None]
            for b in blobs]
    got = Augment(pipeline(), channels=1, decode_size=(32, 32))(
        {"id": ids[:4], "image": objects(blobs)})["image"]
    np.testing.assert_array_equal(got, expected(np.stack(grey), ids[:4]))


def test_images_of_different_sizes(data):
    images, ids = data
    rows = [images[k][: H - k % 3 * 5, : W - k % 2 * 7] for k in range(6)]
    # A fixed output size: one (B, 32, 32, 3) array, as for a list given to Compose.
    for column in (objects(rows), rows):
        got = Augment(pipeline())({"id": ids[:6], "image": column})["image"]
        np.testing.assert_array_equal(got, expected(rows, ids[:6]))
    # Sizes that stay different: per-row arrays, each as the pipeline makes it alone.
    flip = fa.Compose([fa.HorizontalFlip(), fa.Brightness(0.3)], seed=2)
    got = Augment(flip)({"id": ids[:6], "image": objects(rows)})["image"]
    assert got.dtype == object and len(got) == 6
    for k in range(6):
        np.testing.assert_array_equal(got[k], flip(rows[k][None], indices=ids[k:k + 1])[0])


def test_targets_follow_the_images(data):
    images, ids = data
    masks, boxes, labels, points = target_data(ids)
    kinds = {"masks": "mask", "boxes": "bbox", "labels": "cls", "keypoints": "kp"}
    stage = Augment(pipeline(), targets=kinds, min_visibility=0.2, remove_invisible=False)
    out = stage({"id": ids, "image": images, "mask": masks, "bbox": objects(boxes),
                 "cls": objects(labels), "kp": objects(points)})
    want = expected(images, ids, masks=masks, boxes=boxes, labels=labels, keypoints=points,
                    min_visibility=0.2, remove_invisible=False)
    np.testing.assert_array_equal(out["image"], want["images"])
    np.testing.assert_array_equal(out["mask"], want["masks"])
    for column, key in (("bbox", "boxes"), ("cls", "labels"), ("kp", "keypoints"),
                        ("kp_visible", "keypoints_visible")):
        assert out[column].dtype == object and len(out[column]) == N
        for got, ref in zip(out[column], want[key]):
            np.testing.assert_array_equal(got, ref)
    assert sum(map(len, out["bbox"])) < sum(map(len, boxes))  # some were dropped


def test_failing_rows_name_their_id(data, tmp_path):
    images, ids = data
    blobs = objects(encode(images[:5], ".png"))
    blobs[3] = b"not an image"
    with pytest.raises(ValueError, match=rf"row id {ids[3]} \(column 'image'\)"):
        Augment(pipeline())({"id": ids[:5], "image": blobs})
    there = tmp_path / "a.png"
    there.write_bytes(blobs[0])
    with pytest.raises(ValueError, match="row id 'b.png'.*cannot read image file"):
        Augment(pipeline())({"id": objects(["a.png", "b.png"]),
                             "image": objects([str(there), str(tmp_path / "b.png")])})
    _, boxes, _, _ = target_data(ids)
    boxes[6] = np.array([[1.0, 1.0, 4 * W, 5.0]])  # outside its image
    with pytest.raises(ValueError, match=rf"row id {ids[6]}: boxes.*outside the image"):
        Augment(pipeline(), targets={"boxes": "b"})({"id": ids, "image": images,
                                                      "b": objects(boxes)})


@pytest.mark.parametrize("kwargs, error, match", [
    ({"pipeline": {"transforms": [{"name": "HorizontalFlip"}]}}, ValueError, "seed is required"),
    ({"pipeline": 3}, TypeError, "pipeline must be"),
    ({"pipeline": fa.Compose([fa.HorizontalFlip(), fa.MixUp()], seed=0)}, ValueError,
     "batch-level"),
    ({"targets": {"mask": "m"}}, ValueError, "unknown kinds"),
    ({"targets": {"labels": "l"}}, ValueError, "need targets\\['boxes'\\]"),
    ({"targets": {"boxes": 3}}, TypeError, "column name"),
    ({"image_column": 1}, TypeError, "image_column"),
    ({"channels": 4}, ValueError, "channels"),
    ({"channels": 3.0}, ValueError, "channels"),
    ({"channels": True}, ValueError, "channels"),
    ({"decode_size": (0, 3)}, ValueError, "decode_size"),
    ({"decode_size": (1.5, 2.7)}, ValueError, "decode_size"),
    ({"output_column": "b", "targets": {"boxes": "b"}}, ValueError, "different columns"),
    ({"targets": {"boxes": "image"}}, ValueError, "different columns"),
    ({"targets": {"boxes": "b", "masks": "b"}}, ValueError, "different columns"),
    ({"pipeline": "os:path"}, TypeError, "pipeline 'os:path' must be"),
    ({"min_visibility": 2.0}, ValueError, "min_visibility"),
    ({"threads": 0}, ValueError, "threads"),
    ({"seed": -1}, ValueError, "seed"),
    ({"pipeline": fa.RandAugment(seed=0), "targets": {"boxes": "b"}}, ValueError,
     "need a Compose"),
])
def test_bad_arguments(kwargs, error, match):
    kwargs = {"pipeline": pipeline(), **kwargs}
    with pytest.raises(error, match=match):
        Augment(**kwargs)


def test_bad_batches(data):
    images, ids = data
    stage = Augment(pipeline())
    with pytest.raises(ValueError, match="column 'id' is not in the batch"):
        stage({"image": images})
    with pytest.raises(TypeError, match="column 'image' must hold uint8 images"):
        stage({"id": ids, "image": images.astype(np.float32)})
    with pytest.raises(ValueError, match="column 'id' has 3 rows, column 'image' 2"):
        stage({"id": ids[:3], "image": images[:2]})
    with pytest.raises(TypeError, match="batch_format='numpy'"):
        stage([images])
    empty = stage({"id": ids[:0], "image": images[:0]})
    assert len(empty["image"]) == 0


def test_threads_from_the_cpu_allocation(monkeypatch):
    monkeypatch.setattr(fray, "_ray_cpus", lambda: 2.0)
    assert Augment(pipeline()).threads == 2
    assert Augment(pipeline()).pipeline.threads == 2
    assert Augment(pipeline(), threads=1).threads == 1
    with pytest.raises(ValueError, match="num_cpus=3"):
        Augment(pipeline(), threads=3)
    monkeypatch.setattr(fray, "_ray_cpus", lambda: 0.5)
    assert Augment(pipeline()).threads == 1
    monkeypatch.setattr(fray, "_ray_cpus", lambda: None)
    assert Augment(pipeline()).threads == fa.get_num_threads()
    assert Augment(pipeline(), threads=3).threads == 3


# ---- on a local Ray instance ---------------------------------------------------------


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    # The workers inherit OMP_NUM_THREADS=7 (Ray sets it to the CPU allocation only
    # where it is unset): fastaug's process default then differs from the allocation.
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(OMP_THREADS)
    # Ray puts the driver's working directory on the workers' sys.path: start it
    # elsewhere, or a source checkout (without its built extension) would shadow the
    # installed fastaug there.
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray"))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=False)
    finally:
        os.chdir(here)
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    yield ray
    ray.shutdown()


def run(ray, ds, concurrency: int = 1, batch_size: int | None = None, num_cpus: float = 1,
        cls=Augment, **kwargs) -> dict:
    """map_batches(Augment) with ``concurrency`` actors; every row, sorted by id."""
    gc.collect()  # finished jobs release their actors (and CPUs) when collected
    if hasattr(ray.data, "ActorPoolStrategy"):  # ``concurrency=`` is deprecated in 2.51
        pool = {"compute": ray.data.ActorPoolStrategy(size=concurrency)}
    else:
        pool = {"concurrency": concurrency}
    out = ds.map_batches(cls, fn_constructor_kwargs=kwargs, batch_format="numpy",
                         batch_size=batch_size, num_cpus=num_cpus, **pool)
    rows = bounded(lambda: out.take_batch(ds.count(), batch_format="numpy"), TIMEOUT,
                   "the Ray job did not finish")
    order = np.argsort(rows["id"], kind="stable")
    return {k: v[order] for k, v in rows.items()}


def from_rows(ray, blocks: int, **columns):
    n = len(next(iter(columns.values())))
    items = [{k: v[i] for k, v in columns.items()} for i in range(n)]
    return ray.data.from_items(items, override_num_blocks=blocks)


def test_ray_matches_compose_for_any_split(ray_local, data):
    images, ids = data
    order = np.argsort(ids)
    want = expected(images, ids, epoch=1)[order]
    config = pipeline().to_config()
    # Actors, block sizes and batch sizes vary; the rows' results do not. (In-memory
    # blocks: with both CPUs held by actors, an upstream task such as a repartition
    # would wait for a CPU forever.)
    for concurrency, batch_size, blocks in ((1, None, 4), (2, 5, 4), (2, 3, 7)):
        source = from_rows(ray_local, blocks, id=ids, image=images, label=ids + 1)
        out = run(ray_local, source, concurrency, batch_size, pipeline=config, epoch=1)
        np.testing.assert_array_equal(out["id"], ids[order])
        np.testing.assert_array_equal(out["image"], want)
        np.testing.assert_array_equal(out["label"], ids[order] + 1)


def test_ray_encoded_jpeg_column(ray_local, data):
    images, ids = data
    blobs = encode(images, ".jpg")
    order = np.argsort(ids)
    ds = from_rows(ray_local, 3, id=ids, jpeg=blobs)
    out = run(ray_local, ds, 2, 4, pipeline=pipeline(), image_column="jpeg",
              output_column="image")
    np.testing.assert_array_equal(out["image"], expected(decode(blobs), ids)[order])
    assert [bytes(b) for b in out["jpeg"]] == [blobs[k] for k in order]


def test_ray_targets(ray_local, data):
    images, ids = data
    masks, boxes, labels, points = target_data(ids)
    order = np.argsort(ids)
    ds = from_rows(ray_local, 3, id=ids, image=images, mask=masks, bbox=boxes, cls=labels,
                   kp=points)
    out = run(ray_local, ds, 1, 5, pipeline=pipeline(),
              targets={"masks": "mask", "boxes": "bbox", "labels": "cls", "keypoints": "kp"})
    want = expected(images, ids, masks=masks, boxes=boxes, labels=labels, keypoints=points)
    np.testing.assert_array_equal(out["image"], want["images"][order])
    np.testing.assert_array_equal(out["mask"], want["masks"][order])
    for column, key in (("bbox", "boxes"), ("cls", "labels"), ("kp", "keypoints")):
        for k, got in zip(order, out[column]):
            ref = want[key][k]
            np.testing.assert_array_equal(np.asarray(got).reshape(ref.shape), ref)


def test_ray_failing_row_names_its_id(ray_local, data):
    images, ids = data
    blobs = encode(images[:8], ".png")
    blobs[5] = b"\x89PNG truncated"
    ds = from_rows(ray_local, 2, id=ids[:8], image=blobs)
    with pytest.raises(Exception, match=rf"row id {ids[5]} \(column 'image'\)"):
        run(ray_local, ds, 1, 4, pipeline=pipeline())


class ThreadProbe(Augment):
    """Augment that also reports the threads its actor chose."""

    def __call__(self, batch):
        out = super().__call__(batch)
        out["threads"] = np.full(len(out["id"]), self.threads)
        out["default"] = np.full(len(out["id"]), fa.get_num_threads())
        return out


def test_ray_threads_follow_num_cpus(ray_local, data):
    images, ids = data
    ds = from_rows(ray_local, 2, id=ids[:6], image=images[:6])
    # The workers cannot import this test module: send ThreadProbe by value.
    pickler = ray_local.cloudpickle
    pickler.register_pickle_by_value(sys.modules[__name__])
    try:
        out = run(ray_local, ds, 1, num_cpus=2, cls=ThreadProbe, pipeline=pipeline())
    finally:
        pickler.unregister_pickle_by_value(sys.modules[__name__])
    # The allocation, not the process default (which OMP_NUM_THREADS sets to 7 here).
    assert set(out["threads"]) == {2} and set(out["default"]) == {OMP_THREADS}
    np.testing.assert_array_equal(out["image"], expected(images[:6], ids[:6])[np.argsort(ids[:6])])
