"""Micro-benchmarks of every ``fastaug.ops`` function (pytest-benchmark).

Run them::

    pytest bench/ --benchmark-only                      # timed, batch of 64 images
    pytest bench/ --benchmark-disable -q                # smoke: each case once, batch 2

The grid is not the full cross product: each axis (image size, channels, threads,
interpolation, fill mode, output layout) is varied on its own around a base point
(224x224, C = 3, 1 thread, bilinear, fill "nearest"), and size x interpolation is
crossed for the two resampling ops, where the interpolation's cost grows with size.
Benchmarks are grouped by workload and everything but the thread count, so each group
shows 1 thread against all cores, and the per-image OpenCV loops and the ``np.copyto``
memory floor of the base point sit in the same groups as fastaug.

Every case runs on the shared workloads of ``workloads.py``: real photos, seeded random
parameters. ``FASTAUG_BENCH_BATCH`` sets the timed batch size (default 64).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adapters import (  # noqa: E402
    copyto_adapter,
    fastaug_adapter,
    opencv_adapter,
    opencv_variants,
)
from workloads import make_workload  # noqa: E402

import fastaug  # noqa: E402

try:
    import cv2
except ImportError:  # the fastaug benchmarks need no peer library
    cv2 = None

BATCH = int(os.environ.get("FASTAUG_BENCH_BATCH", "64"))
SMOKE_BATCH = 2
ALL_THREADS = fastaug.get_num_threads()

SIZES = (64, 224, 512)
CHANNELS = (1, 3, 4)
THREADS = tuple(sorted({1, ALL_THREADS}))
INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")

BASE = {"size": 224, "channels": 3, "threads": 1}


def grid(base: dict, axes: dict, cross: tuple = ()) -> list[dict]:
    """Cases varying one axis at a time around ``base`` (plus one crossed pair).

    Parameters
    ----------
    base : dict
        The base point; every case differs from it on one axis only...
    axes : dict of name -> values
        ...taking these values.
    cross : tuple of two axis names, optional
        ...except these two, whose full cross product is included.

    Returns
    -------
    list of dict
        Distinct cases, base point first.
    """
    cases = [dict(base)]
    for name, values in axes.items():
        cases += [{**base, name: v} for v in values]
    if cross:
        a, b = cross
        cases += [{**base, a: va, b: vb} for va in axes[a] for vb in axes[b]]
    unique = []
    for case in cases:
        if case not in unique:
            unique.append(case)
    return unique


def _id(case: dict) -> str:
    parts = []
    for k, v in case.items():
        if k == "threads":
            parts.append("threads=" + ("all" if v == ALL_THREADS and v > 1 else str(v)))
        elif k == "channels":
            parts.append(f"C{v}")
        elif k == "fill_mode":
            parts.append(f"fill={v}")
        elif k == "size":
            parts.append(f"{v}x{v}")
        else:
            parts.append(str(v))
    return "-".join(parts)


def _params(base: dict, axes: dict, cross: tuple = ()) -> list:
    return [pytest.param(c, id=_id(c)) for c in grid(base, axes, cross)]


# Each op: (workload name, base point, axes, crossed pair).
_COMMON = {"size": SIZES, "channels": CHANNELS, "threads": THREADS}
OP_CASES = {
    "warp_affine": ("warp", {**BASE, "interpolation": "bilinear", "fill_mode": "nearest"},
                    {**_COMMON, "interpolation": INTERPOLATIONS, "fill_mode": FILL_MODES},
                    ("size", "interpolation")),
    "resized_crop": ("rrc", {**BASE, "interpolation": "bilinear"},
                     {**_COMMON, "interpolation": INTERPOLATIONS}, ("size", "interpolation")),
    "flip": ("flip", BASE, _COMMON, ()),
    "lut": ("lut", BASE, _COMMON, ()),
    "color_matrix": ("color", BASE, _COMMON, ()),
    "normalize": ("normalize", {**BASE, "layout": "NCHW"},
                  {**_COMMON, "layout": ("NHWC", "NCHW")}, ()),
    "augment": ("augment", {**BASE, "interpolation": "bilinear", "output": "float32-NCHW"},
                {**_COMMON, "interpolation": INTERPOLATIONS,
                 "output": ("uint8-NHWC", "float32-NCHW")}, ()),
}

# Settings that are workload parameters (the rest choose the data or the threads).
_OUTPUTS = {
    "uint8-NHWC": {"dtype": "uint8", "layout": "NHWC", "mean": None, "std": None,
                   "scale": None},
    "float32-NCHW": {"dtype": "float32", "layout": "NCHW"},
}


@pytest.fixture
def batch(request) -> int:
    """The timed batch size, or a tiny one when benchmarks are disabled (smoke run)."""
    disabled = request.config.getoption("benchmark_disable", False)
    return SMOKE_BATCH if disabled else BATCH


def _workload(name: str, case: dict, batch: int):
    params = {k: case[k] for k in ("interpolation", "fill_mode", "layout") if k in case}
    params.update(_OUTPUTS.get(case.get("output"), {}))
    return make_workload(name, batch, case["size"], case["channels"], params=params)


def _group(op: str, case: dict) -> str:
    return f"{op} " + _id({k: v for k, v in case.items() if k != "threads"})


def _run(benchmark, fn, work, group: str, library: str) -> None:
    benchmark.group = group
    benchmark.extra_info.update({"library": library, "batch": work.batch,
                                 "input_shape": list(work.images.shape[1:]),
                                 "output_shape": list(work.out_shape[1:])})
    out = benchmark(fn)
    assert out.shape == work.out_shape


def _op_test(op: str):
    name, base, axes, cross = OP_CASES[op]

    @pytest.mark.parametrize("case", _params(base, axes, cross))
    def test(benchmark, batch, case):
        work = _workload(name, case, batch)
        fn = fastaug_adapter(work, threads=case["threads"])
        _run(benchmark, fn, work, _group(op, case), "fastaug")

    test.__name__ = f"test_{op}"
    test.__doc__ = f"fastaug.ops.{op} on the {name!r} workload."
    return test


test_warp_affine = _op_test("warp_affine")
test_resized_crop = _op_test("resized_crop")
test_flip = _op_test("flip")
test_lut = _op_test("lut")
test_color_matrix = _op_test("color_matrix")
test_normalize = _op_test("normalize")
test_augment = _op_test("augment")


def test_all_ops_covered():
    """Every public op has a benchmark (a new op must get one)."""
    assert set(OP_CASES) == set(fastaug.ops.__all__)


# ---- references at the base point, in the same groups ---------------------------------


def _reference_params() -> list:
    if cv2 is None:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="OpenCV not installed"),
                             id="no-cv2")]
    params = []
    for op, (name, _, _, _) in OP_CASES.items():
        for variant in opencv_variants(name):
            params.append(pytest.param(op, variant, id=f"{op}-{variant.replace(' ', '_')}"))
    return params


@pytest.fixture
def one_cv2_thread():
    """OpenCV pinned to one thread for the test, as fastaug's base point."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


@pytest.mark.parametrize("op, variant", _reference_params())
def test_opencv_reference(benchmark, batch, one_cv2_thread, op, variant):
    """The per-image OpenCV loop doing the same work as fastaug's base point."""
    name, base, _, _ = OP_CASES[op]
    work = _workload(name, base, batch)
    _run(benchmark, opencv_adapter(work, variant), work, _group(op, base),
         f"opencv ({variant})")


@pytest.mark.parametrize("size", SIZES)
def test_copyto_floor(benchmark, batch, size):
    """``np.copyto`` of a uint8 batch: the memory floor of the 1-pass uint8 ops."""
    work = make_workload("flip", batch, size, 3)
    benchmark.group = f"np.copyto floor {size}x{size}-C3"
    benchmark.extra_info.update({"library": "numpy", "batch": work.batch})
    out = benchmark(copyto_adapter(work))
    assert np.array_equal(out, work.images)
