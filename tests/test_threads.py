"""Threading: results never depend on the thread count or on concurrent callers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import (
    photo_batch,
    random_affines,
    random_batch,
    random_color_matrix,
)

import fastaug
from fastaug import ops

THREAD_COUNTS = [2, 3, 8]


def every_op(images, rng):
    """{name: f(threads)} calling every op (and the main kernel paths) on `images`."""
    n, height, width, channels = images.shape
    general = random_affines(rng, n, height, width)
    axis = random_affines(rng, n, height, width, "axis")
    integer = random_affines(rng, n, height, width, "integer")
    boxes = np.column_stack([rng.uniform(-3, 5, n), rng.uniform(-3, 5, n),
                             rng.uniform(0.3, 1.2, n) * height, rng.uniform(0.3, 1.2, n) * width])
    colors = np.stack([random_color_matrix(rng, channels) for _ in range(n)])
    tables = rng.integers(0, 256, (n, channels, 256), dtype=np.uint8)
    flags = rng.random(n) < 0.5
    size = (height + 6, width - 3)
    calls = {
        "flip": lambda t: ops.flip(images, flags, ~flags, threads=t),
        "color_matrix": lambda t: ops.color_matrix(images, colors, threads=t),
        "lut": lambda t: ops.lut(images, tables, threads=t),
        "normalize": lambda t: ops.normalize(images, 0.5, 0.2, layout="NCHW", threads=t),
        "augment": lambda t: ops.augment(images, general, colors, size, mean=0.4, std=0.3,
                                         layout="NCHW", dtype="float32", threads=t),
    }
    for interp in ("nearest", "bilinear"):
        for kind, m in (("general", general), ("axis", axis), ("integer", integer)):
            calls[f"warp_affine-{kind}-{interp}"] = (
                lambda t, m=m, interp=interp: ops.warp_affine(
                    images, m, size, interpolation=interp, fill_mode="reflect", threads=t))
        calls[f"resized_crop-{interp}"] = (
            lambda t, interp=interp: ops.resized_crop(
                images, boxes, size, interpolation=interp, fill_mode="wrap", threads=t))
    return calls


@pytest.mark.parametrize("n", [5, 1])
def test_thread_count_does_not_change_results(rng, n):
    # N = 1 can only be split by rows; 37 rows do not divide evenly between threads.
    images = photo_batch(n, 37, 29, 3)
    for name, call in every_op(images, rng).items():
        single = call(1)
        for threads in THREAD_COUNTS:
            np.testing.assert_array_equal(call(threads), single, err_msg=name)


def test_more_threads_than_rows(rng):
    images = random_batch(rng, 1, 2, 50, 4)
    for name, call in every_op(images, rng).items():
        np.testing.assert_array_equal(call(16), call(1), err_msg=name)


def test_set_num_threads():
    before = fastaug.get_num_threads()
    assert isinstance(before, int) and before >= 1
    images = photo_batch(2, 20, 20, 3)
    m = random_affines(np.random.default_rng(0), 2, 20, 20)
    expected = ops.warp_affine(images, m, threads=1)
    try:
        for n in (1, 2, 3):
            fastaug.set_num_threads(n)
            assert fastaug.get_num_threads() == n
            np.testing.assert_array_equal(ops.warp_affine(images, m), expected)
        fastaug.set_num_threads(None)
        assert fastaug.get_num_threads() == before
    finally:
        fastaug.set_num_threads(None)


@pytest.mark.parametrize("native_threads", [1, 2])
def test_concurrent_python_threads(rng, native_threads):
    """Several Python threads warping different batches at once match sequential calls."""
    jobs = []
    for k in range(8):
        images = photo_batch(3, 33, 41, (1, 3, 4)[k % 3], seed=k)
        jobs.append((images, random_affines(rng, 3, 33, 41), ("bilinear", "nearest")[k % 2]))

    def run(job):
        images, matrices, interp = job
        return ops.warp_affine(images, matrices, (40, 35), interpolation=interp,
                               fill_mode="mirror", threads=native_threads)

    expected = [run(job) for job in jobs]
    # The first wave of four jobs starts together to maximise overlap.
    start = threading.Barrier(4)

    def run_repeatedly(indexed_job):
        index, job = indexed_job
        if index < 4:
            start.wait(timeout=30)
        return [run(job) for _ in range(5)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_repeatedly, enumerate(jobs)))
    for repeats, want in zip(results, expected):
        for got in repeats:
            np.testing.assert_array_equal(got, want)


def test_concurrent_calls_share_input_and_matrix(rng):
    """Many threads reading the same (read-only) arrays at once."""
    images = photo_batch(4, 30, 30, 3)
    images.setflags(write=False)
    matrices = random_affines(rng, 4, 30, 30)
    expected = ops.augment(images, matrices, dtype="float32", layout="NCHW", threads=1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(
            lambda t: ops.augment(images, matrices, dtype="float32", layout="NCHW",
                                  threads=t), [1, 2, 1, 2, 3, 1, 2, 4]))
    for got in results:
        np.testing.assert_array_equal(got, expected)
