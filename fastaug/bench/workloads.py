"""Shared benchmark data: one spec per workload, used by every adapter.

Every library adapter (fastaug, a per-image OpenCV loop, the ``np.copyto`` memory floor,
and later the peers of issue 7) is timed on the *same* :class:`Workload`: the same
decoded images and the same random parameters, drawn once from a seeded generator. The
parameters are plain numpy data, so each adapter converts them to its own calling
convention outside the timed region.

Images are real photos (scikit-image's bundled samples), cropped at random and resized
to the asked size, so that kernels see natural image statistics rather than constants or
noise. Without scikit-image the photo bundled with fastaug is used, and without that a
smooth synthetic image; without OpenCV the resizing falls back to numpy.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

try:
    import cv2
except ImportError:  # the micro-benchmarks must run without OpenCV
    cv2 = None

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "WORKLOADS",
    "Workload",
    "affine_matrices",
    "color_matrices",
    "flip_flags",
    "lut_tables",
    "make_workload",
    "mean_std",
    "photo_source",
    "photos",
    "rrc_boxes",
    "sample_images",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# scikit-image sample photos and the bundled files behind them: only files that are
# present are loaded, so no call ever tries to download one.
_SKIMAGE_PHOTOS = {
    "chelsea": "chelsea.png",
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
    "immunohistochemistry": "ihc.png",
}


# ---- source photos --------------------------------------------------------------------


def _skimage_photos() -> list[np.ndarray]:
    try:
        import skimage.data
    except ImportError:
        return []
    found = []
    for name, filename in _SKIMAGE_PHOTOS.items():
        if not os.path.exists(os.path.join(skimage.data.data_dir, filename)):
            continue
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a broken optional reader must not stop the benchmark
            continue
        if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] >= 3:
            found.append(image[..., :3])
    return found


def _bundled_photo() -> list[np.ndarray]:
    try:
        from ..__main__ import sample_image

        return [sample_image()]
    except Exception:  # fastaug not importable (e.g. the .so is being rebuilt)
        return []


def _synthetic_photo(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A smooth RGB image: low-frequency waves and gradients, no noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        v = np.zeros((height, width), np.float32)
        for _ in range(4):
            fx, fy = rng.uniform(0.5, 4.0, 2) * 2 * np.pi / np.array([width, height])
            v += np.sin(fx * x + fy * y + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.3, 1.0)
        v += rng.uniform(-1, 1) * x / width + rng.uniform(-1, 1) * y / height
        v = (v - v.min()) / max(float(np.ptp(v)), 1e-6)
        channels.append(v)
    return np.clip(np.stack(channels, axis=-1) * 255 + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
    """The source photos, read-only RGB uint8, best available source first.

    Returns
    -------
    tuple of ndarray
        scikit-image's sample photos; else fastaug's bundled photo; else one smooth
        synthetic image.
    """
    found = _skimage_photos() or _bundled_photo() or [_synthetic_photo()]
    for image in found:
        image.setflags(write=False)
    return tuple(found)


def photo_source() -> str:
    """Where :func:`photos` came from, for the benchmark report."""
    if _skimage_photos():
        return "scikit-image sample photos (" + ", ".join(_SKIMAGE_PHOTOS) + ")"
    if _bundled_photo():
        return "fastaug bundled photo (chelsea)"
    return "synthetic smooth image"


# ---- resizing (cv2 when present, numpy otherwise) -------------------------------------


def _resize_numpy(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres (cv2.INTER_LINEAR's mapping)."""
    h, w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = ys.astype(np.intp), xs.astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = image.astype(np.float32)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bottom = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    return np.clip(top * (1 - wy) + bottom * wy + 0.5, 0, 255).astype(np.uint8)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if cv2 is None:
        return _resize_numpy(image, height, width)
    # INTER_AREA when shrinking: no aliasing, so small images still look like photos.
    shrink = height < image.shape[0] and width < image.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interp)


def _to_channels(rgb: np.ndarray, channels: int, alpha: np.ndarray) -> np.ndarray:
    if channels == 3:
        return rgb
    if channels == 1:
        # ITU-R 601 luma, as cv2.COLOR_RGB2GRAY.
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(luma + 0.5, 0, 255).astype(np.uint8)[..., np.newaxis]
    if channels == 4:
        return np.concatenate([rgb, alpha[..., np.newaxis]], axis=-1)
    raise ValueError(f"channels must be 1, 3 or 4, got {channels}")


@functools.lru_cache(maxsize=32)
def _sample_images_cached(n: int, height: int, width: int, channels: int,
                          seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0x1A6E5])
    sources = photos()
    out = np.empty((n, height, width, channels), np.uint8)
    # A soft radial alpha mask: varied, not constant, for the 4-channel case.
    yy, xx = np.mgrid[0:height, 0:width]
    r = np.hypot((yy - height / 2) / height, (xx - width / 2) / width)
    alpha = np.clip(255 * (1.2 - 1.6 * r), 0, 255).astype(np.uint8)
    for i in range(n):
        src = sources[i % len(sources)]
        sh, sw = src.shape[:2]
        # A random crop of 50-100% of the photo's area with the target's aspect ratio,
        # so every image in the batch differs and nothing is distorted.
        aspect = width / height
        area = rng.uniform(0.5, 1.0) * sh * sw
        ch = int(min(sh, round(np.sqrt(area / aspect))))
        cw = int(min(sw, round(ch * aspect)))
        ch = max(1, min(ch, int(round(cw / aspect))))
        top = int(rng.integers(0, sh - ch + 1))
        left = int(rng.integers(0, sw - cw + 1))
        crop = src[top:top + ch, left:left + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = _to_channels(_resize(crop, height, width), channels, alpha)
    out.setflags(write=False)
    return out


def sample_images(n: int, size, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A batch of real-looking images, each a different random crop of a photo.

    Parameters
    ----------
    n : int
        Batch size.
    size : int or (int, int)
        Image ``(height, width)``; an int means a square.
    channels : {1, 3, 4}
        1 is the luma of the photo, 4 adds a smooth alpha channel.
    seed : int
        Seed of the crops; the same arguments give the same batch.

    Returns
    -------
    ndarray, uint8, shape (n, height, width, channels)
        C-contiguous and read-only (cached and shared by every adapter).
    """
    height, width = (size, size) if np.isscalar(size) else size
    return _sample_images_cached(int(n), int(height), int(width), int(channels), int(seed))


# ---- random parameters ----------------------------------------------------------------


def affine_matrices(rng: np.random.Generator, n: int, height: int, width: int, *,
                    rotation: float = 30.0, shear: float = 10.0,
                    zoom: tuple[float, float] = (0.8, 1.2),
                    shift: float = 0.1) -> np.ndarray:
    """Random forward affine matrices (rotation, shear, zoom, shift about the centre).

    Parameters
    ----------
    rng : numpy.random.Generator
    n, height, width : int
        Batch size and image size.
    rotation, shear : float
        Maximum absolute angle, degrees.
    zoom : (float, float)
        Range of the scale factor, drawn independently for x and y.
    shift : float
        Maximum translation as a fraction of the image size.

    Returns
    -------
    ndarray, float64, shape (n, 2, 3)
        Source-to-destination maps, as ``cv2.warpAffine`` takes them.
    """
    theta = np.deg2rad(rng.uniform(-rotation, rotation, n))
    phi = np.deg2rad(rng.uniform(-shear, shear, n))
    zx, zy = rng.uniform(*zoom, (2, n))
    tx = rng.uniform(-shift, shift, n) * width
    ty = rng.uniform(-shift, shift, n) * height
    cos, sin = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
    shr = np.zeros((n, 2, 2))
    shr[:, 0, 0], shr[:, 0, 1], shr[:, 1, 1] = 1.0, -np.sin(phi), np.cos(phi)
    lin = rot @ shr @ (np.eye(2) * np.stack([zx, zy], -1)[:, None, :])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    m = np.empty((n, 2, 3))
    m[:, :, :2] = lin
    m[:, :, 2] = centre - lin @ centre + np.stack([tx, ty], -1)
    return m


def rrc_boxes(rng: np.random.Generator, n: int, height: int, width: int, *,
              scale: tuple[float, float] = (0.08, 1.0),
              ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> np.ndarray:
    """Random-resized-crop boxes, torchvision's ``RandomResizedCrop.get_params``.

    Ten tries at a box of random area and log-uniform aspect ratio that fits, then a
    centre crop clamped to ``ratio``.

    Returns
    -------
    ndarray, int64, shape (n, 4)
        ``(top, left, height, width)``, inside the image.
    """
    area = height * width
    log_ratio = np.log(ratio)
    boxes = np.empty((n, 4), np.int64)
    for i in range(n):
        for _ in range(10):
            target = area * rng.uniform(*scale)
            aspect = np.exp(rng.uniform(*log_ratio))
            w = int(round(np.sqrt(target * aspect)))
            h = int(round(np.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                boxes[i] = (rng.integers(0, height - h + 1), rng.integers(0, width - w + 1),
                            h, w)
                break
        else:
            in_ratio = width / height
            if in_ratio < min(ratio):
                w, h = width, int(round(width / min(ratio)))
            elif in_ratio > max(ratio):
                h, w = height, int(round(height * max(ratio)))
            else:
                w, h = width, height
            boxes[i] = ((height - h) // 2, (width - w) // 2, h, w)
    return boxes


def flip_flags(rng: np.random.Generator, n: int, p: float = 0.5) -> np.ndarray:
    """``(n,)`` bools, each true with probability ``p``."""
    return rng.random(n) < p


def color_matrices(rng: np.random.Generator, n: int, channels: int = 3, *,
                   brightness: float = 0.4, contrast: float = 0.4,
                   saturation: float = 0.4, hue: float = 0.1) -> np.ndarray:
    """Random colour-jitter matrices, a full ``(C, C + 1)`` affine map per image.

    Brightness and contrast scale about black and mid-grey, saturation blends with the
    luma, hue rotates about the grey axis (``hue`` in turns): the matrix equivalent of
    torchvision's ``ColorJitter(0.4, 0.4, 0.4, 0.1)`` with a fixed contrast centre, so
    every entry is non-zero and no kernel can take a diagonal shortcut.

    Returns
    -------
    ndarray, float64, shape (n, channels, channels + 1)
        For 1 channel only brightness and contrast; for 4 the alpha channel is kept.
    """
    b = rng.uniform(1 - brightness, 1 + brightness, n)
    c = rng.uniform(1 - contrast, 1 + contrast, n)
    s = rng.uniform(1 - saturation, 1 + saturation, n)
    angle = rng.uniform(-hue, hue, n) * 2 * np.pi
    luma = np.array([0.299, 0.587, 0.114])
    out = np.zeros((n, channels, channels + 1))
    for i in range(n):
        # Homogeneous 4x4 maps on RGB, composed right to left.
        bright = np.diag([b[i]] * 3 + [1.0])
        contr = np.diag([c[i]] * 3 + [1.0])
        contr[:3, 3] = 127.5 * (1 - c[i])
        sat = np.eye(4)
        sat[:3, :3] = s[i] * np.eye(3) + (1 - s[i]) * np.outer(np.ones(3), luma)
        # Rodrigues rotation about the unit grey axis.
        k = np.ones(3) / np.sqrt(3)
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rot = np.eye(4)
        rot[:3, :3] = (np.cos(angle[i]) * np.eye(3) + np.sin(angle[i]) * kx
                       + (1 - np.cos(angle[i])) * np.outer(k, k))
        m = rot @ sat @ contr @ bright
        if channels == 3:
            out[i] = m[:3]
        elif channels == 4:
            out[i, :3, :3], out[i, :3, 4] = m[:3, :3], m[:3, 3]
            out[i, 3, 3] = 1.0
        else:
            out[i, 0, 0], out[i, 0, 1] = c[i] * b[i], 127.5 * (1 - c[i])
    return out


def lut_tables(rng: np.random.Generator, n: int, channels: int = 3) -> np.ndarray:
    """Random gamma curves, one per image and channel, ``(n, channels, 256)`` uint8."""
    gamma = np.exp(rng.uniform(np.log(0.5), np.log(2.0), (n, channels, 1)))
    x = np.arange(256) / 255.0
    return np.clip(255 * x ** gamma + 0.5, 0, 255).astype(np.uint8)


def mean_std(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """ImageNet mean and std for ``channels`` (their average for 1, alpha 0/1 for 4)."""
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    if channels == 1:
        return mean.mean(keepdims=True), std.mean(keepdims=True)
    if channels == 4:
        return np.append(mean, 0.0), np.append(std, 1.0)
    return mean, std


# ---- workloads ------------------------------------------------------------------------


# Parameters with one entry per image (sliced by Workload.subset).
_PER_IMAGE = ("matrices", "boxes", "horizontal", "tables", "colors")


@dataclass(frozen=True)
class Workload:
    """One unit of work, identical for every adapter.

    Attributes
    ----------
    name : str
        Key in :data:`WORKLOADS`.
    title : str
        One line saying what is computed.
    images : ndarray, uint8, (N, H, W, C)
        The input batch (read-only, shared).
    out_shape : tuple of int
        Shape of the result (NHWC, or NCHW for float output).
    out_dtype : numpy.dtype
    params : dict
        Plain numpy parameters (matrices, boxes, flags, tables, colours, mean, std and
        the mode names); each adapter converts them outside its timed region.
    """

    name: str
    title: str
    images: np.ndarray
    out_shape: tuple
    out_dtype: np.dtype
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        """Number of images."""
        return self.images.shape[0]

    def subset(self, index: slice) -> Workload:
        """The same work on ``images[index]`` (per-image parameters sliced alike)."""
        n = self.batch
        params = {k: v[index] if k in _PER_IMAGE and np.ndim(v) and len(v) == n else v
                  for k, v in self.params.items()}
        images = self.images[index]
        out_shape = (len(images),) + tuple(self.out_shape[1:])
        return Workload(self.name, self.title, images, out_shape, self.out_dtype, params)

    def empty_out(self) -> np.ndarray:
        """A fresh output buffer, pages touched so no timed run pays first-touch faults."""
        out = np.empty(self.out_shape, self.out_dtype)
        out.fill(0)
        return out


def _rng(seed: int, name: str) -> np.random.Generator:
    # Each workload has its own stream, so adding one never changes another's draws.
    return np.random.default_rng([seed, sum(map(ord, name))])


def _warp(n, size, channels, seed):
    images = sample_images(n, size, channels, seed)
    h, w = images.shape[1:3]
    return Workload(
        "warp", f"warp_affine bilinear, fill nearest, random matrices, {h}x{w}x{channels}",
        images, images.shape, np.dtype(np.uint8),
        {"matrices": affine_matrices(_rng(seed, "warp"), n, h, w),
         "interpolation": "bilinear", "fill_mode": "nearest", "size": (h, w)})


def _rrc(n, size, channels, seed):
    # torchvision's ImageNet recipe: 256-pixel inputs cropped and resized to 224.
    in_size = int(round(size * 256 / 224))
    images = sample_images(n, in_size, channels, seed)
    return Workload(
        "rrc", f"resized_crop {in_size}->{size} bilinear, random-resized-crop boxes",
        images, (n, size, size, channels), np.dtype(np.uint8),
        {"boxes": rrc_boxes(_rng(seed, "rrc"), n, in_size, in_size),
         "interpolation": "bilinear", "size": (size, size)})


def _flip(n, size, channels, seed):
    images = sample_images(n, size, channels, seed)
    return Workload(
        "flip", "flip: horizontal with p=0.5 per image", images, images.shape,
        np.dtype(np.uint8), {"horizontal": flip_flags(_rng(seed, "flip"), n)})


def _lut(n, size, channels, seed):
    images = sample_images(n, size, channels, seed)
    return Workload(
        "lut", "lut: a gamma table per image and channel", images, images.shape,
        np.dtype(np.uint8), {"tables": lut_tables(_rng(seed, "lut"), n, channels)})


def _color(n, size, channels, seed):
    images = sample_images(n, size, channels, seed)
    return Workload(
        "color", f"color_matrix: full {channels}x{channels + 1} jitter matrix per image",
        images, images.shape, np.dtype(np.uint8),
        {"colors": color_matrices(_rng(seed, "color"), n, channels)})


def _normalize(n, size, channels, seed):
    images = sample_images(n, size, channels, seed)
    mean, std = mean_std(channels)
    return Workload(
        "normalize", "normalize: ImageNet mean/std to float32 NCHW", images,
        (n, channels) + images.shape[1:3], np.dtype(np.float32),
        {"mean": mean, "std": std, "scale": 1 / 255, "layout": "NCHW", "dtype": "float32"})


def _augment(n, size, channels, seed):
    images = sample_images(n, size, channels, seed)
    h, w = images.shape[1:3]
    rng = _rng(seed, "augment")
    mean, std = mean_std(channels)
    return Workload(
        "augment", "augment: random matrix + colour matrix -> float32 NCHW normalised",
        images, (n, channels, h, w), np.dtype(np.float32),
        {"matrices": affine_matrices(rng, n, h, w), "colors": color_matrices(rng, n, channels),
         "interpolation": "bilinear", "fill_mode": "nearest", "size": (h, w),
         "mean": mean, "std": std, "scale": 1 / 255, "layout": "NCHW", "dtype": "float32"})


#: Workload builders by name: ``builder(batch, size, channels, seed) -> Workload``.
WORKLOADS: dict[str, Callable[[int, int, int, int], Workload]] = {
    "warp": _warp,
    "rrc": _rrc,
    "flip": _flip,
    "lut": _lut,
    "color": _color,
    "normalize": _normalize,
    "augment": _augment,
}


def make_workload(name: str, batch: int = 256, size: int = 224, channels: int = 3,
                  seed: int = 0, params: dict | None = None) -> Workload:
    """Build the named workload.

    Parameters
    ----------
    name : str
        One of :data:`WORKLOADS`.
    batch, size, channels, seed : int
        Batch size, output side (inputs are ``size`` too, except ``rrc``: 256/224 of
        it), channels (1, 3 or 4), seed of images and parameters.
    params : dict, optional
        Entries that replace the drawn ones (e.g. ``{"fill_mode": "reflect"}``); for
        ``normalize`` and ``augment``, ``layout`` and ``dtype`` also set the output.

    Returns
    -------
    Workload
    """
    try:
        builder = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; choose from {sorted(WORKLOADS)}") from None
    work = builder(batch, size, channels, seed)
    if params:
        p = {**work.params, **params}
        out_shape, out_dtype = work.out_shape, work.out_dtype
        if "layout" in p:  # the converting workloads: the output follows the overrides
            n, h, w = out_shape[0], *p.get("size", work.images.shape[1:3])
            out_dtype = np.dtype(p.get("dtype", "float32"))
            out_shape = (n, channels, h, w) if p["layout"] == "NCHW" else (n, h, w, channels)
        work = Workload(work.name, work.title, work.images, out_shape, out_dtype, p)
    return work
