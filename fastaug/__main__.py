"""Command line: ``fastaug demo`` and ``fastaug preview`` (also ``python -m fastaug ...``).

``fastaug demo`` augments the bundled sample photo with the classic augmentation set
(mirroring, random cropping, colour shifting, rotation / shift / shear / zoom), writes a
labelled PNG grid of the original and the variants, and prints the throughput of the
whole pipeline on a batch. It needs nothing beyond numpy.

``fastaug preview IMAGE --pipeline SPEC`` draws the same grid for your own image and
pipeline: SPEC is a JSON file (YAML too when PyYAML is installed) holding
``Compose.to_config()``'s dict or a bare list of ``{"name": ..., **arguments}``, or
``module:attribute`` naming a ``Compose``, a list of transforms or such a config.
Decoding IMAGE needs OpenCV (``pip install opencv-python-headless``) unless it is a
``.npy``/``.npz`` array.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from ._png import draw_text, text_size, write_png

#: Label bar of each grid panel: glyph scale and height in pixels.
_TEXT_SCALE = 2
_LABEL_H = 7 * _TEXT_SCALE + 8
_GAP = 6
_MAX_PANEL = 320


def sample_image() -> np.ndarray:
    """The sample photo shipped with the package, uint8 (200, 300, 3) RGB.

    Returns
    -------
    ndarray, uint8, shape (200, 300, 3)
        scikit-image's "chelsea" (public domain), resized.
    """
    from importlib.resources import files

    with files("fastaug").joinpath("data/chelsea.npz").open("rb") as f:
        return np.load(f)["image"]


# ---- pipelines ----------------------------------------------------------------------


def classic_variants(height: int, width: int) -> list:
    """The classic augmentation set, one labelled pipeline per augmentation.

    Parameters
    ----------
    height, width : int
        Image size (random crops keep it).

    Returns
    -------
    list of (str, Compose)
    """
    from . import (
        Affine,
        ChannelShift,
        ColorJitter,
        Compose,
        HorizontalFlip,
        RandomResizedCrop,
        Rotate,
    )

    aspect = width / height
    ratio = (aspect * 0.9, aspect * 1.1)
    return [
        ("mirror", Compose([HorizontalFlip(p=1.0)], seed=1)),
        ("random crop", Compose([RandomResizedCrop((height, width), (0.3, 0.6), ratio)],
                                seed=2)),
        ("colour shift", Compose([ChannelShift(60)], seed=3)),
        ("colour jitter", Compose([ColorJitter(0.4, 0.4, 0.4, 0.1)], seed=1)),
        ("rotate", Compose([Rotate((25, 30), fill_mode="reflect")], seed=4)),
        ("shift", Compose([Affine(translate=(0.15, 0.2), fill_mode="nearest")], seed=5)),
        ("shear", Compose([Affine(shear={"x": (20, 25)}, fill_mode="reflect")], seed=6)),
        ("zoom", Compose([Affine(scale=(1.4, 1.5))], seed=7)),
    ]


def classic_pipeline(height: int, width: int, seed: int = 0, threads=None):
    """All of the classic set at once, with random parameters per image.

    Parameters
    ----------
    height, width : int
        Image (and output) size.
    seed : int
    threads : int, optional

    Returns
    -------
    Compose
    """
    from . import Affine, ChannelShift, Compose, HorizontalFlip, RandomResizedCrop

    aspect = width / height
    return Compose([
        Affine(rotate=20, translate=0.1, shear=10, scale=(0.9, 1.2), fill_mode="reflect"),
        HorizontalFlip(),
        RandomResizedCrop((height, width), scale=(0.5, 1.0), ratio=(aspect * 0.9, aspect * 1.1)),
        ChannelShift(30),
    ], seed=seed, threads=threads)


def read_pipeline(spec: str):
    """The raw pipeline a JSON/YAML file or ``module:attribute`` holds, without building it.

    Parameters
    ----------
    spec : str
        Path of a ``.json``, ``.yaml`` or ``.yml`` file, or ``module:attribute``.

    Returns
    -------
    object
        The file's parsed content (a config dict or list), or the attribute as it is.
    """
    if os.path.exists(spec):
        with open(spec, encoding="utf-8") as f:
            text = f.read()
        if spec.lower().endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError:
                raise ImportError("reading a YAML pipeline needs PyYAML (pip install pyyaml); "
                                  "or write the pipeline as JSON") from None
            return yaml.safe_load(text)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{spec} is not valid JSON: {exc}") from None
    if ":" in spec:
        module, _, attribute = spec.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot load pipeline {spec!r}: {exc}") from None
    raise ValueError(f"pipeline {spec!r} is neither a file nor module:attribute")


def build_pipeline(value, spec: str = "pipeline"):
    """A Compose from a Compose, a list of transforms or a config (dict or list).

    Parameters
    ----------
    value : Compose, list of Transform, dict or list
        What :func:`read_pipeline` returned, or the object itself.
    spec : str
        Where it came from, for error messages.

    Returns
    -------
    Compose
    """
    from . import Compose, Transform

    if isinstance(value, Compose):
        return value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(t, Transform) for t in value):
        return Compose(value)
    if isinstance(value, (dict, list)):
        return Compose.from_config(value)
    raise ValueError(f"pipeline {spec!r} is a {type(value).__name__}, not a Compose, "
                     "a list of transforms or a config")


def load_pipeline(spec: str, seed=None):
    """A Compose from a JSON/YAML file or ``module:attribute``.

    Parameters
    ----------
    spec : str
        Path of a ``.json``, ``.yaml`` or ``.yml`` file holding a Compose config (a dict
        with "transforms", or a bare list), or ``module:attribute`` naming a Compose, a
        list of transforms or a config.
    seed : int, optional
        Overrides the pipeline's seed.

    Returns
    -------
    Compose
    """
    from . import Compose

    aug = build_pipeline(read_pipeline(spec), spec)
    if seed is not None:
        aug = Compose(aug.transforms, seed=seed, threads=aug.threads)
    return aug


def load_image(path: str) -> np.ndarray:
    """An image file as uint8 RGB(A) or grey ``(H, W, C)``; ``.npy``/``.npz`` need no OpenCV.

    Parameters
    ----------
    path : str

    Returns
    -------
    ndarray, uint8, shape (H, W, C)
    """
    if path.lower().endswith((".npy", ".npz")):
        data = np.load(path)
        image = data[data.files[0]] if hasattr(data, "files") else data
    else:
        try:
            import cv2
        except ImportError:
            raise ImportError("decoding images needs OpenCV: pip install "
                              "opencv-python-headless (or save the image as .npy)") from None
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"cannot read image {path!r}")
        if image.ndim == 3 and image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: only 8-bit images are supported, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"{path}: expected an (H, W[, 1|3|4]) image, got {image.shape}")
    return image


# ---- the grid -----------------------------------------------------------------------


def _displayable(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) for the grid: grey repeated, alpha dropped, large images shrunk."""
    from . import ops

    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[..., :3]
    # Halve with 2x2 means while far too large, then resize bilinearly (little aliasing).
    while max(image.shape[:2]) >= 2 * _MAX_PANEL:
        h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
        image = image[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
        image = np.rint(image).astype(np.uint8)
    h, w = image.shape[:2]
    if max(h, w) > _MAX_PANEL:
        s = _MAX_PANEL / max(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        image = ops.resized_crop(image[np.newaxis], (0, 0, h, w), size)[0]
    return np.ascontiguousarray(image)


def make_grid(panels: Sequence, columns: int = 4) -> np.ndarray:
    """A white grid of labelled images.

    Parameters
    ----------
    panels : sequence of (str, ndarray)
        Labels and uint8 images (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).
    columns : int

    Returns
    -------
    ndarray, uint8, shape (GH, GW, 3)
    """
    images = [_displayable(img) for _, img in panels]
    ch = max(img.shape[0] for img in images)
    cw = max(max(img.shape[1] for img in images),
             max(text_size(label, _TEXT_SCALE)[1] for label, _ in panels) + 8)
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    cell_h, cell_w = ch + _LABEL_H, cw
    grid = np.full((_GAP + rows * (cell_h + _GAP), _GAP + columns * (cell_w + _GAP), 3), 255,
                   np.uint8)
    for k, ((label, _), img) in enumerate(zip(panels, images)):
        top = _GAP + (k // columns) * (cell_h + _GAP)
        left = _GAP + (k % columns) * (cell_w + _GAP)
        draw_text(grid, label, top + 4, left + 2, (0, 0, 0), _TEXT_SCALE)
        y = top + _LABEL_H + (ch - img.shape[0]) // 2
        x = left + (cw - img.shape[1]) // 2
        grid[y:y + img.shape[0], x:x + img.shape[1]] = img
    return grid


def _throughput(aug, batch: np.ndarray, repeats: int = 5) -> tuple[float, np.ndarray]:
    out = aug(batch)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = aug(batch)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


# ---- commands -----------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from . import Normalize, get_num_threads

    image = sample_image()
    h, w = image.shape[:2]
    panels = [("original", image)]
    for label, aug in classic_variants(h, w):
        panels.append((label, aug(image[np.newaxis])[0]))
    combined = classic_pipeline(h, w, seed=args.seed, threads=args.threads)
    for k, out in enumerate(combined(np.repeat(image[np.newaxis], 3, axis=0))):
        panels.append((f"all, #{k + 1}", out))
    write_png(args.output, make_grid(panels, columns=4))
    print(f"fastaug: wrote {args.output} ({len(panels)} panels)")

    batch = np.repeat(image[np.newaxis], args.batch, axis=0)
    threads = args.threads or get_num_threads()
    for name, aug in [("uint8", classic_pipeline(h, w, args.seed, args.threads)),
                      ("float32 NCHW", classic_pipeline(h, w, args.seed, args.threads))]:
        if name != "uint8":
            from . import Compose

            aug = Compose(list(aug.transforms) + [Normalize(layout="NCHW")], seed=args.seed,
                          threads=args.threads)
        elapsed, out = _throughput(aug, batch)
        print(f"fastaug: classic pipeline (rotate/shift/shear/zoom, mirror, random crop, "
              f"colour shift) -> {name}: {args.batch} images of {h}x{w}x3 in "
              f"{elapsed * 1e3:.1f} ms = {args.batch / elapsed:,.0f} images/s "
              f"({threads} threads, {aug.num_passes} pass)")
    return 0


def _preview(args: argparse.Namespace) -> int:
    image = load_image(args.image)
    aug = load_pipeline(args.pipeline, seed=args.seed)
    batch = np.repeat(image[np.newaxis], args.n, axis=0)
    params = aug.sample(args.n, image.shape)
    # Show uint8 pixels whatever the pipeline's output conversion.
    params["output"] = {"dtype": "uint8", "layout": "NHWC"}
    out = aug.apply(batch, params)
    panels = [("original", image)] + [(f"#{k + 1}", o) for k, o in enumerate(out)]
    write_png(args.output, make_grid(panels, columns=args.columns))
    print(f"fastaug: wrote {args.output} ({args.n} samples of {aug!r})")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastaug`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 on bad arguments or input.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # the benchmark suite parses its own options
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = argparse.ArgumentParser(prog="fastaug", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="augment the bundled sample photo, draw a grid, time it")
    demo.add_argument("-o", "--output", default="fastaug_demo.png",
                      help="PNG file to write (default: fastaug_demo.png)")
    demo.add_argument("--batch", type=_positive, default=64,
                      help="batch size for the timing (default: 64)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=_positive, default=None,
                      help="native threads (default: all allowed)")
    demo.set_defaults(func=_demo)
    preview = sub.add_parser("preview", help="draw a grid of your image through your pipeline")
    preview.add_argument("image", help="image file (needs OpenCV), or .npy/.npz")
    preview.add_argument("--pipeline", required=True,
                         help="JSON/YAML file with a Compose config, or module:attribute")
    preview.add_argument("-o", "--output", default="fastaug_preview.png")
    preview.add_argument("-n", type=_positive, default=7, help="augmented samples (default 7)")
    preview.add_argument("--columns", type=_positive, default=4)
    preview.add_argument("--seed", type=int, default=None, help="override the pipeline's seed")
    preview.set_defaults(func=_preview)
    sub.add_parser("bench", add_help=False,  # listed for --help; dispatched above
                   help="compare speed with other libraries (fastaug bench --help)")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        print(f"fastaug: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
