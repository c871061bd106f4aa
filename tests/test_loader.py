"""Loader, prefetch, ImageFolder and the torch adapter: order, errors, shutdown, sources.

Every test that iterates runs under a hard timeout (``bounded``), so a deadlock fails
the test instead of hanging the suite; shutdown tests check that no fastaug thread is
left running.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import bounded

import fastaug
from fastaug import ops
from fastaug.loader import ImageFolder, Loader, prefetch

TIMEOUT = 10.0


def fastaug_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fastaug-")]


def no_threads_left(timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while fastaug_threads():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(autouse=True)
def _check_threads():
    yield
    gc.collect()
    assert no_threads_left(), f"threads left running: {fastaug_threads()}"


def make_data(n=53, h=12, w=10, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, w, c), dtype=np.uint8), np.arange(n) * 10


class SampleAug:
    """Per-sample random flip + rotation from the global sample id (like Compose)."""

    def __init__(self, seed=0, delay=0.0):
        self.seed = seed
        self.delay = delay
        self.epoch = 0
        self.calls: list = []

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __call__(self, images, indices, threads=None):
        self.calls.append((np.array(indices), threads, threading.current_thread().name))
        if self.delay:
            time.sleep(self.delay)
        n, h, w, _ = images.shape
        rngs = [np.random.default_rng([self.seed, self.epoch, int(i)]) for i in indices]
        angles = np.array([r.uniform(-30, 30) for r in rngs])
        m = np.array([cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), a, 1.0)
                      for a in angles])
        out = ops.warp_affine(images, m, threads=threads)
        return ops.flip(out, np.asarray(indices) % 2 == 1, threads=threads)


def collect(loader):
    return bounded(lambda: [tuple(np.array(v) for v in b) if isinstance(b, tuple)
                            else np.array(b) for b in loader])


# ---- order -----------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
def test_same_batches_whatever_the_workers(shuffle):
    x, y = make_data()
    runs = []
    for workers in (0, 1, 3):
        loader = Loader(x, y, batch_size=8, augment=SampleAug(), seed=5, workers=workers,
                        shuffle=shuffle)
        runs.append(collect(loader))
    for other in runs[1:]:
        assert len(other) == len(runs[0]) == 7
        for (a, la), (b, lb) in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(la, lb)


def test_batches_cover_the_epoch_with_labels_aligned():
    x, y = make_data()
    loader = Loader(x, y, batch_size=8, seed=1, workers=2)
    assert len(loader) == 7
    batches = collect(loader)
    assert [len(b[1]) for b in batches] == [8] * 6 + [5]
    ids = np.concatenate([b[1] for b in batches]) // 10
    assert sorted(ids) == list(range(53))
    assert not np.array_equal(ids, np.arange(53))  # shuffled
    for images, labels in batches:
        np.testing.assert_array_equal(images, x[labels // 10])
    np.testing.assert_array_equal(ids, np.concatenate(loader.batches()))


def test_drop_last_and_no_labels():
    x, _ = make_data()
    loader = Loader(x, batch_size=8, drop_last=True, shuffle=False, workers=2)
    assert len(loader) == 6
    batches = collect(loader)
    assert len(batches) == 6 and all(isinstance(b, np.ndarray) for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), x[:48])


def test_set_epoch_reshuffles_and_forwards_to_augment():
    x, y = make_data()
    aug = SampleAug()
    loader = Loader(x, y, batch_size=53, augment=aug, seed=3, workers=2)
    first = collect(loader)[0][1]
    again = collect(loader)[0][1]
    np.testing.assert_array_equal(first, again)  # same epoch, same order
    loader.set_epoch(1)
    second = collect(loader)[0][1]
    assert not np.array_equal(first, second)
    assert aug.epoch == 1 and loader.epoch == 1
    other_seed = Loader(x, y, batch_size=53, seed=4, workers=0)
    assert not np.array_equal(first, collect(other_seed)[0][1])


def test_augment_gets_global_indices_and_one_thread():
    x, y = make_data()
    aug = SampleAug()
    loader = Loader(x, y, batch_size=8, augment=aug, seed=2, workers=2)
    batches = collect(loader)
    by_first = {int(idx[0]): (idx, threads, name) for idx, threads, name in aug.calls}
    for _, labels in batches:
        idx, threads, name = by_first[int(labels[0] // 10)]
        np.testing.assert_array_equal(idx, labels // 10)
        assert threads == 1 and name.startswith("fastaug-loader")


def test_plain_callable_and_compose_like_threads_attribute():
    x, _ = make_data()
    seen = []
    loader = Loader(x, batch_size=10, augment=lambda b: b[:, ::-1], workers=2, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(collect(loader)), x[:, ::-1])

    class Like:
        threads = None

        def __call__(self, images, indices=None):
            seen.append(self.threads)
            return images

    like = Like()
    collect(Loader(x, batch_size=10, augment=like, workers=2))
    assert seen and set(seen) == {1}
    assert like.threads is None  # the user's object is untouched


@pytest.mark.skipif(not hasattr(fastaug, "Compose"), reason="no fastaug.Compose yet")
def test_compose_batches_match_direct_calls():
    x, y = make_data(n=40, h=24, w=20)
    aug = fastaug.Compose([fastaug.HorizontalFlip(), fastaug.Rotate(20)], seed=7)
    runs = [collect(Loader(x, y, batch_size=8, augment=aug, seed=1, workers=w))
            for w in (0, 2)]
    for (a, la), (b, _) in zip(*runs):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, aug(x[la // 10], indices=la // 10))


# ---- shard ---------------------------------------------------------------------


@pytest.mark.parametrize("drop_last", [False, True])
def test_shards_are_disjoint_and_equal(drop_last):
    x, y = make_data()
    world = 4
    parts = []
    for rank in range(world):
        loader = Loader(x, y, batch_size=5, seed=9, workers=1, shard=(rank, world),
                        drop_last=drop_last)
        batches = collect(loader)
        assert len(batches) == len(loader)
        parts.append(np.concatenate([b[1] for b in batches]) // 10)
    sizes = {len(p) for p in parts}
    assert len(sizes) == 1
    everything = np.concatenate(parts)
    if drop_last:
        assert len(everything) == 4 * 10  # 13 samples per rank, whole batches of 5
        assert len(set(everything)) == len(everything)  # disjoint
    else:
        assert len(everything) == 56 and set(everything) == set(range(53))  # padded


# ---- collate, buffers ----------------------------------------------------------------


def test_collate_runs_in_the_worker():
    x, y = make_data()
    names = []

    def collate(images, labels):
        names.append(threading.current_thread().name)
        return images.astype(np.float32), labels + 1

    batches = collect(Loader(x, y, batch_size=8, collate=collate, workers=2))
    assert batches[0][0].dtype == np.float32
    assert all(n.startswith("fastaug-loader") for n in names)
    assert sorted(np.concatenate([b[1] for b in batches]) - 1) == list(range(0, 530, 10))


def test_reuse_buffers_keeps_the_two_latest_batches():
    x, y = make_data(n=200, h=4, w=4)
    expect = collect(Loader(x, y, batch_size=4, seed=0, workers=3, prefetch=1))

    def run():
        held, bad = [], 0
        loader = Loader(x, y, batch_size=4, seed=0, workers=3, prefetch=1,
                        reuse_buffers=True)
        for k, (images, _) in enumerate(loader):
            held.append(images)
            if k >= 1:
                bad += not np.array_equal(held[k - 1], expect[k - 1][0])
            bad += not np.array_equal(images, expect[k][0])
        return held, bad

    held, bad = bounded(run)
    assert bad == 0
    assert len({id(h.base if h.base is not None else h) for h in held}) < len(held)


def test_reuse_buffers_for_an_augment_that_takes_out():
    x, y = make_data(n=203, h=4, w=4)
    outs = []

    def augment(images, indices, out=None, threads=None):
        outs.append(out)
        return ops.normalize(images, mean=0.5, std=0.25, out=out, threads=threads)

    expect = collect(Loader(x, y, batch_size=4, augment=augment, seed=0, workers=2))
    assert all(o is None for o in outs)

    def run():
        bad, held = 0, []
        for k, (images, _) in enumerate(Loader(x, y, batch_size=4, augment=augment,
                                                seed=0, workers=2, reuse_buffers=True)):
            held.append(images)
            bad += not np.array_equal(images, expect[k][0])
            bad += k >= 1 and not np.array_equal(held[k - 1], expect[k - 1][0])
        return bad, held

    bad, held = bounded(run)
    assert bad == 0 and held[-1].shape == (3, 4, 4, 3)
    assert sum(o is not None for o in outs) > len(held) // 2  # buffers were reused


# ---- errors --------------------------------------------------------------------


def failing_augment(images, indices):
    if 3 in set(indices.tolist()):
        raise ZeroDivisionError("boom in augment")
    return images


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_worker_error_raised_at_its_batch_with_traceback(workers):
    x, y = make_data()
    loader = Loader(x, y, batch_size=4, augment=failing_augment, shuffle=False,
                    workers=workers)
    got = []

    def run():
        for _, labels in loader:
            got.append(labels)

    with pytest.raises(ZeroDivisionError, match="boom in augment") as info:
        bounded(run)
    assert len(got) == 0  # sample 3 is in the first batch
    if workers:
        assert "failing_augment" in str(info.value) and "batch 0" in str(info.value)


def test_error_in_a_later_batch_and_keyerror_message():
    x, y = make_data()

    def collate(images, labels):
        if labels[0] == 200:
            raise KeyError("missing")
        return images, labels

    got = []

    def run():
        for _, labels in Loader(x, y, batch_size=4, collate=collate, shuffle=False,
                                workers=3):
            got.append(labels[0])

    with pytest.raises(KeyError) as info:
        bounded(run)
    assert got == [0, 40, 80, 120, 160]
    assert "Traceback" in str(info.value) and "missing" in str(info.value)


def test_timeout_raises_instead_of_waiting_forever():
    x, _ = make_data()
    loader = Loader(x, batch_size=8, augment=SampleAug(delay=0.3), workers=1, timeout=0.05)
    with pytest.raises(TimeoutError):
        bounded(lambda: next(iter(loader)))


# ---- shutdown ------------------------------------------------------------------


def slow_loader(**kw):
    x, y = make_data(n=400, h=4, w=4)
    return Loader(x, y, batch_size=2, augment=SampleAug(delay=0.005), workers=3, **kw)


def test_bounded_outstanding_work():
    aug = SampleAug()
    x, _ = make_data(n=400, h=4, w=4)
    loader = Loader(x, batch_size=2, augment=aug, workers=2, prefetch=2)
    it = iter(loader)
    bounded(lambda: next(it))
    time.sleep(0.3)
    assert len(aug.calls) <= 2 * 2 + 1
    it.close()


def test_break_stops_threads():
    def run():
        for k, _ in enumerate(slow_loader()):
            if k == 2:
                break

    bounded(run)
    assert no_threads_left()


def test_exhaustion_stops_threads():
    x, _ = make_data()
    collect(Loader(x, batch_size=8, workers=3))
    assert no_threads_left()


def test_close_and_context_manager_stop_threads():
    loader = slow_loader()
    it = iter(loader)
    bounded(lambda: next(it))
    assert fastaug_threads()
    loader.close()
    assert no_threads_left()
    loader.close()  # idempotent
    assert bounded(lambda: list(it)) == []  # the closed iteration just ends
    assert len(collect(loader)) == len(loader)  # and the loader is reusable

    def run():
        with slow_loader() as ld:
            for _ in ld:
                break
            it2 = iter(ld)
            next(it2)
        return it2

    bounded(run)
    assert no_threads_left()


def test_garbage_collection_stops_threads():
    def run():
        loader = slow_loader()
        it = iter(loader)
        next(it)
        return None  # loader and iterator go out of scope here

    bounded(run)
    gc.collect()
    assert no_threads_left()

    loader = slow_loader()
    it = iter(loader)
    bounded(lambda it=it: next(it))
    del loader  # the iterator keeps it alive: still running
    assert fastaug_threads()
    del it
    gc.collect()
    assert no_threads_left()


def test_interpreter_exit_stops_threads(tmp_path):
    code = textwrap.dedent("""
        import atexit, threading, time

        # Registered first, so it runs after fastaug's own exit handler.
        @atexit.register
        def check():
            left = [t.name for t in threading.enumerate() if t.name.startswith("fastaug")]
            print("left:", left, flush=True)

        import numpy as np
        from fastaug.loader import Loader, prefetch

        def slow(images, indices):
            time.sleep(0.05)
            return images

        x = np.zeros((1000, 4, 4, 3), np.uint8)
        loader = Loader(x, batch_size=1, augment=slow, workers=4)
        it = iter(loader)
        next(it)

        def gen():
            while True:
                time.sleep(0.01)
                yield 1

        p = prefetch(gen())
        next(p)
        print("started", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fastaug.__file__)))
    t0 = time.monotonic()
    # Run outside the checkout so that the installed package is the one imported.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "started" in proc.stdout and proc.stderr == ""
    assert "left: []" in proc.stdout
    assert time.monotonic() - t0 < TIMEOUT / 2


# ---- sources ---------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for cls in ("cat", "dog"):
        os.makedirs(tmp_path / cls / "sub")
        for k in range(5):
            img = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (64, 48))
            path = str(tmp_path / cls / ("sub" if k == 4 else "") / f"{k}.png")
            cv2.imwrite(path, img)
            images[path] = img[:, :, ::-1]  # files are BGR; the loader gives RGB
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path, images


def test_image_folder_lists_classes_and_files(folder):
    root, images = folder
    ds = ImageFolder(root)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 10 and set(ds.paths) == set(images)
    assert list(ds.labels) == [0] * 5 + [1] * 5
    assert ds[5] == (ds.paths[5], 1)
    with pytest.raises(ValueError, match="folder"):
        ImageFolder(root / "missing")


@pytest.mark.parametrize("workers", [0, 2])
def test_files_are_decoded_in_workers(folder, workers):
    root, images = folder
    ds = ImageFolder(root)
    batches = collect(Loader(ds, batch_size=4, seed=0, workers=workers))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = set()
    for batch, _ in batches:
        assert batch.shape[1:] == (48, 64, 3) and batch.dtype == np.uint8
        for img in batch:
            match = [p for p, ref in images.items() if np.array_equal(ref, img)]
            assert len(match) == 1
            seen.add(match[0])
    assert seen == set(images)
    gray = collect(Loader(list(images), batch_size=10, channels=1, workers=workers))[0]
    assert gray.shape == (10, 48, 64, 1)


def test_jpeg_decoded_reduced_when_the_pipeline_allows(tmp_path):
    img = cv2.resize(np.arange(64, dtype=np.uint8).reshape(8, 8), (400, 300))
    paths = [str(tmp_path / f"{k}.jpg") for k in range(3)]
    for p in paths:
        cv2.imwrite(p, cv2.merge([img, img, img]))
    # The reduced image must cover decode_size in both orientations (EXIF rotation).
    sizes = {None: (300, 400), (100, 100): (150, 200), (30, 50): (75, 100),
             (30, 37): (38, 50), (301, 10): (300, 400), (10, 150): (150, 200),
             (10, 151): (300, 400)}
    for decode_size, expect in sizes.items():
        batch = collect(Loader(paths, batch_size=3, decode_size=decode_size, workers=1))[0]
        assert batch.shape[1:3] == expect, decode_size


def test_corrupt_file_raises_naming_it_or_is_skipped(folder):
    root, _ = folder
    bad = root / "dog" / "2.png"
    bad.write_bytes(b"\x89PNG garbage")
    (root / "dog" / "3.png").write_bytes(b"")
    ds = ImageFolder(root)
    with pytest.raises(ValueError, match="2.png"):
        collect(Loader(ds, batch_size=4, shuffle=False, workers=2))
    loader = Loader(ds, batch_size=4, shuffle=False, workers=2, on_error="skip")
    batches = collect(loader)
    assert sum(len(b[1]) for b in batches) == 8
    assert sorted(os.path.basename(p) for p, _ in loader.skipped) == ["2.png", "3.png"]
    assert list(batches[1][1]) == [0, 1, 1]  # the dog batch lost two images, labels too


def test_varying_sizes_need_an_augment_that_resizes(folder):
    root, images = folder
    odd = str(root / "cat" / "big.png")
    cv2.imwrite(odd, np.zeros((20, 30, 3), np.uint8))
    paths = [odd, *images]
    with pytest.raises(ValueError, match="different sizes"):
        collect(Loader(paths, batch_size=11, workers=1))

    def resize(batch, indices):
        assert isinstance(batch, list)
        return np.stack([cv2.resize(im, (16, 16)) for im in batch])

    out = collect(Loader(paths, batch_size=11, augment=resize, workers=1))[0]
    assert out.shape == (11, 16, 16, 3)
    if hasattr(fastaug, "Compose"):
        aug = fastaug.Compose([fastaug.RandomResizedCrop(16), fastaug.HorizontalFlip()],
                              seed=0)
        runs = [collect(Loader(paths, batch_size=4, augment=aug, seed=0, workers=w))
                for w in (0, 2)]
        for a, b in zip(*runs):
            assert a.shape[1:] == (16, 16, 3)
            np.testing.assert_array_equal(a, b)


def test_memmap_source(tmp_path):
    x, y = make_data(n=30)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8,
                                   shape=x.shape)
    mm[:] = x
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    for reuse in (False, True):
        batches = collect(Loader(ro, y, batch_size=7, seed=0, workers=2,
                                 reuse_buffers=reuse))
        for images, labels in batches:
            np.testing.assert_array_equal(images, x[labels // 10])


def test_bad_arguments():
    x, y = make_data()
    with pytest.raises(TypeError, match="uint8"):
        Loader(x.astype(np.float32), batch_size=2)
    with pytest.raises(ValueError, match="labels"):
        Loader(x, y[:-1], batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        Loader(x, batch_size=0)
    with pytest.raises(ValueError, match="shard"):
        Loader(x, batch_size=2, shard=(4, 4))
    with pytest.raises(ValueError, match="on_error"):
        Loader(x, batch_size=2, on_error="ignore")
    with pytest.raises(ValueError, match="workers"):
        Loader(x, batch_size=2, workers=-1)
    with pytest.raises(TypeError, match="source"):
        Loader("folder", batch_size=2)
    with pytest.raises(ValueError, match="depth"):
        prefetch([], depth=0)


# ---- prefetch ------------------------------------------------------------------


def test_prefetch_order_none_items_and_exhaustion():
    items = [None, 1, None, (2, 3)]
    assert bounded(lambda: list(prefetch(iter(items)))) == items
    assert bounded(lambda: list(prefetch(range(100), depth=5))) == list(range(100))
    assert no_threads_left()


def test_prefetch_error_at_its_position():
    def gen():
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []

    def run():
        for v in prefetch(gen()):
            got.append(v)

    with pytest.raises(OSError, match="disk gone") as info:
        bounded(run)
    assert got == [1, 2] and "gen" in str(info.value)


def test_prefetch_break_close_and_gc_stop_the_thread():
    closed = []

    def gen():
        try:
            yield from range(10**6)
        finally:
            closed.append(True)

    def run():
        for k in prefetch(gen()):
            if k == 3:
                break

    bounded(run)
    assert no_threads_left() and closed == [True]
    with prefetch(gen()) as p:
        assert next(p) == 0
    assert no_threads_left()
    p = prefetch(gen())
    next(p)
    del p
    gc.collect()
    assert no_threads_left() and closed == [True] * 3


def test_prefetch_of_a_loader():
    x, y = make_data()
    loader = Loader(x, y, batch_size=8, seed=0, workers=2)
    direct = collect(loader)
    via = bounded(lambda: list(prefetch(loader)))
    for (a, la), (b, lb) in zip(direct, via):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)


# ---- torch ------------------------------------------------------------------------


def test_torch_tensors_without_copies():
    torch = pytest.importorskip("torch")
    from fastaug.torch import TorchLoader, to_tensor

    x, y = make_data()
    nchw = np.zeros((2, 3, 5, 6), np.float32)
    assert to_tensor(nchw).data_ptr() == nchw.ctypes.data  # shared memory
    nhwc = x[:2]
    t = to_tensor(nhwc, channels_last=True)
    assert t.shape == (2, 3, 12, 10) and t.data_ptr() == nhwc.ctypes.data
    assert t.is_contiguous(memory_format=torch.channels_last)
    assert to_tensor(nhwc).is_contiguous()

    loader = Loader(x, y, batch_size=8, seed=0, workers=2).to_torch(channels_last=True)
    assert isinstance(loader, TorchLoader) and len(loader) == 7
    batches = bounded(lambda: list(loader))
    images, labels = batches[0]
    assert images.shape == (8, 3, 12, 10) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64
    np.testing.assert_array_equal(images.permute(0, 2, 3, 1).numpy(),
                                  x[labels.numpy() // 10])
    direct = TorchLoader(x, batch_size=53, shuffle=False, workers=1)
    assert bounded(lambda: list(direct))[0].shape == (53, 3, 12, 10)
    with pytest.raises(TypeError, match="Loader arguments"):
        TorchLoader(direct.loader, batch_size=3)
    if not torch.cuda.is_available():
        with pytest.warns(UserWarning, match="pin_memory"):
            assert not TorchLoader(direct.loader, pin_memory=True).pin_memory


def test_torch_trains_a_tiny_cnn():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 64
    y = rng.integers(0, 2, n)
    x = np.where(y[:, None, None, None] == 1, 200, 50).astype(np.uint8)
    x = np.broadcast_to(x, (n, 16, 16, 3)).copy()
    x = (x + rng.integers(0, 40, x.shape)).astype(np.uint8)

    def augment(images, indices, threads=None):
        out = ops.flip(images, indices % 2 == 0, threads=threads)
        return ops.normalize(out, mean=0.5, std=0.25, layout="NCHW", threads=threads)

    loader = Loader(x, y, batch_size=16, augment=augment, seed=0, workers=2)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)

    def train():
        losses = []
        for epoch in range(4):
            loader.set_epoch(epoch)
            for images, labels in loader.to_torch(device="cpu"):
                assert images.shape == (16, 3, 16, 16) and images.dtype == torch.float32
                loss = torch.nn.functional.cross_entropy(model(images), labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses

    losses = bounded(train, timeout=30)
    assert len(losses) == 16 and np.isfinite(losses).all()
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


# ---- TensorFlow / JAX (skipped when absent) ------------------------------------------


def test_jax_arrays():
    jax = pytest.importorskip("jax")
    x, y = make_data()
    loader = Loader(x, y, batch_size=8, seed=0, workers=2)
    batches = bounded(lambda: list(loader.to_jax()))
    images, labels = batches[0]
    assert isinstance(images, jax.Array) and images.shape == (8, 12, 10, 3)
    np.testing.assert_array_equal(np.asarray(images), x[np.asarray(labels) // 10])


def test_tf_dataset():
    tf = pytest.importorskip("tensorflow")
    x, y = make_data()
    loader = Loader(x, y, batch_size=8, seed=0, workers=2)
    ds = loader.to_tf_dataset()
    assert ds.element_spec[0].shape.as_list() == [None, 12, 10, 3]
    first = bounded(lambda: [(i.numpy(), lab.numpy()) for i, lab in ds])
    assert loader.epoch == 1 and len(first) == 7
    for images, labels in first:
        np.testing.assert_array_equal(images, x[labels // 10])
    assert tf.is_tensor(next(iter(ds))[0])


def test_jax_and_tf_wiring_with_stand_in_modules(monkeypatch):
    """The adapters' own logic, whether or not the frameworks are installed."""
    import types

    placed = []
    fake_jax = types.SimpleNamespace(
        device_put=lambda item, device: placed.append(device) or item)
    specs = []

    class Dataset:
        @staticmethod
        def from_generator(gen, output_signature):
            specs.append(output_signature)
            return gen

    fake_tf = types.SimpleNamespace(
        TensorSpec=lambda shape, dtype: (shape, dtype), as_dtype=lambda d: str(d),
        data=types.SimpleNamespace(Dataset=Dataset))
    monkeypatch.setitem(sys.modules, "jax", fake_jax)
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    x, y = make_data()
    loader = Loader(x, y, batch_size=8, seed=0, workers=2)
    direct = collect(loader)
    via_jax = bounded(lambda: list(loader.to_jax(device="dev")))
    assert placed == ["dev"] * 7
    gen = loader.to_tf_dataset()
    assert specs == [(((None, 12, 10, 3), "uint8"), ((None,), "int64"))]
    via_tf = bounded(lambda: list(gen()))
    assert loader.epoch == 1
    for (a, la), (b, lb), (c, lc) in zip(direct, via_jax, via_tf):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(la, lc)


def test_to_keras_is_a_pydataset_for_model_fit():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    y = (np.arange(64) % 2).astype(np.float32)

    def to_float(images, indices=None):
        return ops.normalize(images, threads=1)

    loader = Loader(x, y, batch_size=16, augment=to_float, workers=2, seed=0)
    ds = loader.to_keras()
    assert isinstance(ds, keras.utils.PyDataset) and len(ds) == 4
    in_order = list(loader)
    out_of_order = ds[2]  # built alone, the same batch
    np.testing.assert_array_equal(out_of_order[0], in_order[2][0])
    np.testing.assert_array_equal(out_of_order[1], in_order[2][1])
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert loader.epoch >= 2  # on_epoch_end reshuffles (Keras may call it once more)
    loader.close()
