"""Shared fixtures and helpers for the kernel tests.

Test data are small real photos from ``skimage.data`` (smooth enough for comparisons
with OpenCV, which quantises bilinear coordinates to 1/32 pixel) and random affine
matrices built from rotations, scales, shears, flips and translations.

Helpers that are not fixtures (data builders, comparison assertions) are imported by
the test modules with ``from conftest import ...``.
"""

from __future__ import annotations

import functools
import os
import sys
import threading

import cv2
import numpy as np
import pytest
import skimage.data

# Let the test modules import `reference` and `conftest` whatever pytest's import mode.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import reference as ref  # noqa: E402

#: OpenCV border flags for the fill modes.
CV2_BORDER = {
    "constant": cv2.BORDER_CONSTANT,
    "nearest": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT,
    "mirror": cv2.BORDER_REFLECT_101,
    "wrap": cv2.BORDER_WRAP,
}

#: OpenCV interpolation flags for warpAffine.
CV2_INTERP = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}

PHOTO_NAMES = ("chelsea", "astronaut", "coffee")


# ---- images -------------------------------------------------------------------------


@functools.cache
def photo(name):
    """A full-size RGB photo from skimage.data (read-only, cached)."""
    image = np.ascontiguousarray(getattr(skimage.data, name)())
    image.setflags(write=False)
    return image


def to_channels(rgb, channels):
    """Convert an RGB ``(H, W, 3)`` uint8 image to 1, 3 or 4 channels (C axis kept)."""
    if channels == 3:
        return rgb
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    if channels == 1:
        return gray[..., np.newaxis]
    # A smooth, non-constant alpha so that the fourth channel carries information.
    height, width = gray.shape
    alpha = np.add.outer(np.linspace(40, 120, height), np.linspace(0, 120, width))
    return np.dstack([rgb, alpha.astype(np.uint8)])


@functools.cache
def _photo_batch(n, height, width, channels, seed):
    rng = np.random.default_rng(seed)
    images = np.empty((n, height, width, channels), dtype=np.uint8)
    for k in range(n):
        source = photo(PHOTO_NAMES[k % len(PHOTO_NAMES)])
        # A random crop of about a third of the photo, shrunk with area averaging.
        crop_h = int(source.shape[0] * rng.uniform(0.25, 0.45))
        crop_w = int(source.shape[1] * rng.uniform(0.25, 0.45))
        top = rng.integers(0, source.shape[0] - crop_h + 1)
        left = rng.integers(0, source.shape[1] - crop_w + 1)
        crop = source[top:top + crop_h, left:left + crop_w]
        small = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
        images[k] = to_channels(small, channels)
    images.setflags(write=False)
    return images


def photo_batch(n, height, width, channels=3, seed=0):
    """A ``(n, height, width, channels)`` uint8 batch of small photo crops.

    Deterministic in its arguments; returns a fresh writable copy (the cache keeps a
    read-only master).
    """
    return _photo_batch(n, height, width, channels, seed).copy()


def random_batch(rng, n, height, width, channels=3):
    """A ``(n, height, width, channels)`` uint8 batch of uniform noise."""
    return rng.integers(0, 256, size=(n, height, width, channels), dtype=np.uint8)


# ---- matrices -----------------------------------------------------------------------


def translation(tx, ty):
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def linear(a):
    """3x3 homogeneous matrix of a 2x2 linear map."""
    m = np.eye(3)
    m[:2, :2] = a
    return m


def compose_affine(angle=0.0, scale=(1.0, 1.0), shear=0.0, flip=(False, False),
                   shift=(0.0, 0.0), centre=(0.0, 0.0)):
    """Forward 2x3 matrix: flip, scale, shear, rotate about `centre`, then shift."""
    cx, cy = centre
    c, s = np.cos(angle), np.sin(angle)
    flips = np.diag([-1.0 if flip[0] else 1.0, -1.0 if flip[1] else 1.0])
    a = np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(
        scale) @ flips
    m = translation(cx + shift[0], cy + shift[1]) @ linear(a) @ translation(-cx, -cy)
    return m[:2]


def random_affine(rng, height, width, kind="general"):
    """A random forward 2x3 matrix for an image of ``height x width``.

    Parameters
    ----------
    rng : numpy.random.Generator
    height, width : int
        Source size (sets the rotation centre and the translation range).
    kind : str
        "general": rotation of any angle, scale 0.25..4 per axis, shear, flips and a
        translation of up to half the image. "axis": scale, flips and translation only
        (axis-aligned). "integer": integer translation and flips (pure copies).
        "outside": general, translated so far that the image lands wholly outside.
        "near_singular": a valid matrix with condition number around 1e3.
    """
    centre = ((width - 1) / 2, (height - 1) / 2)
    log_scale = rng.uniform(np.log(0.25), np.log(4.0), size=2)
    flip = tuple(rng.random(2) < 0.3)
    if kind == "axis":
        shift = rng.uniform(-0.5, 0.5, 2) * (width, height)
        return compose_affine(scale=np.exp(log_scale), flip=flip, shift=shift,
                              centre=centre)
    if kind == "integer":
        shift = rng.integers(-width // 2, width // 2 + 1), rng.integers(
            -height // 2, height // 2 + 1)
        m = compose_affine(flip=flip, shift=shift, centre=centre)
        # Flips about the centre of an even-sized image give half-integer shifts.
        return np.round(m)
    if kind == "near_singular":
        a = rng.normal(size=(2, 2))
        u, _, vt = np.linalg.svd(a)
        s = np.diag([rng.uniform(0.5, 2.0), rng.uniform(5e-4, 2e-3)])
        m = translation(*rng.uniform(0, 1, 2) * (width, height)) @ linear(u @ s @ vt)
        return m[:2]
    angle = rng.uniform(0, 2 * np.pi)
    shear = rng.uniform(-0.6, 0.6)
    shift = rng.uniform(-0.5, 0.5, 2) * (width, height)
    m = compose_affine(angle, np.exp(log_scale), shear, flip, shift, centre)
    if kind == "outside":
        direction = rng.choice([-1.0, 1.0], size=2)
        m[:, 2] += direction * 6 * (width + height) * np.exp(log_scale.max())
    elif kind != "general":
        raise ValueError(kind)
    return m


def random_affines(rng, n, height, width, kind="general"):
    """``(n, 2, 3)`` random forward matrices (see `random_affine`)."""
    return np.stack([random_affine(rng, height, width, kind) for _ in range(n)])


def random_cval(rng, channels, per_channel=True):
    if per_channel:
        return tuple(int(v) for v in rng.integers(0, 256, channels))
    return int(rng.integers(0, 256))


def random_color_matrix(rng, channels, contraction=False):
    """A random ``(C, C+1)`` colour matrix near the identity.

    With `contraction`, every row's absolute coefficients sum to at most 1 (a
    saturation blend towards the mean scaled by a contrast <= 1) so that an input
    error of e grey levels moves the output by at most e.
    """
    if contraction:
        saturation = rng.uniform(0, 1)
        contrast = rng.uniform(0.5, 1)
        mix = saturation * np.eye(channels) + (1 - saturation) / channels
        offset = rng.uniform(-40, 60, (channels, 1))
        return np.hstack([contrast * mix, offset])
    gains = np.eye(channels) + rng.normal(0, 0.3, (channels, channels))
    offset = rng.uniform(-60, 60, (channels, 1))
    return np.hstack([gains, offset])


# ---- time limits --------------------------------------------------------------------


def bounded(fn, timeout: float = 10.0, what: str = "deadlock?"):
    """fn() in a daemon thread: fail the test (not hang the suite) after ``timeout`` s."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        pytest.fail(f"timed out after {timeout} s ({what})")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ---- comparisons --------------------------------------------------------------------


#: Bound, in grey levels, of the fixed-point bilinear kernel's error against exact
#: interpolation (csrc/augment.c); also the band around .5 where it may round either way.
BILINEAR_ERROR = 0.07


def assert_bilinear_close(actual, expected, max_diff=1, max_off_fraction=0.01):
    """Compare a uint8 kernel result with unrounded float64 reference values.

    The kernel interpolates in fixed point (1/4096 pixel, errors below 0.07 grey level,
    see ``csrc/augment.c``) and rounds; the reference is exact. Every value must be
    within `max_diff` grey levels of the rounded reference, and away from rounding ties
    (reference fraction within ``BILINEAR_ERROR`` of .5) at most `max_off_fraction` of the
    values may differ at all.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected).reshape(actual.shape)
    assert actual.dtype == np.uint8
    diff = np.abs(actual.astype(np.int64) - ref.to_uint8(expected).astype(np.int64))
    if diff.size == 0:
        return
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    assert diff.max() <= max_diff, (
        f"max diff {diff.max()} > {max_diff} at {worst}: kernel {actual[worst]}, "
        f"reference {expected[worst]:.4f}")
    clear = np.abs(expected - np.floor(expected) - 0.5) > BILINEAR_ERROR
    if clear.any():
        off = np.mean(diff[clear] != 0)
        assert off <= max_off_fraction, f"{off:.2%} of values off by one"


def assert_nearest_equal(actual, expected, ties):
    """Exact comparison except at output pixels flagged as rounding ties.

    `expected` is ``(N, h, w, C)`` float; `ties` an ``(N, h, w)`` mask; `actual` may be
    ``(N, h, w)`` for C = 1.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    actual4 = actual.reshape(expected.shape)
    mismatch = np.any(actual4 != expected, axis=-1) & ~ties
    if mismatch.any():
        where = tuple(np.argwhere(mismatch)[0])
        raise AssertionError(
            f"{mismatch.sum()} of {mismatch.size} pixels differ, e.g. at {where}: "
            f"kernel {actual4[where]}, reference {expected[where]}")


def opencv_border_value(cval, channels):
    """cval as the 4-tuple OpenCV wants for borderValue."""
    values = np.broadcast_to(np.asarray(cval, dtype=np.float64).reshape(-1), (channels,))
    return tuple(float(v) for v in values) + (0.0,) * (4 - channels)


# ---- fixtures -----------------------------------------------------------------------


@pytest.fixture
def rng(request):
    """A Generator seeded from the test's name (stable and distinct per test)."""
    seed = sum(map(ord, request.node.nodeid)) * 7919
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def photos():
    """Small RGB photo crops, one per skimage photo: {name: (H, W, 3) uint8}."""
    sizes = {"chelsea": (45, 67), "astronaut": (48, 48), "coffee": (40, 61)}
    return {name: cv2.resize(photo(name), (w, h), interpolation=cv2.INTER_AREA)
            for name, (h, w) in sizes.items()}


@pytest.fixture(scope="module", params=[1, 3, 4], ids=lambda c: f"C{c}")
def channels(request):
    return request.param
