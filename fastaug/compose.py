"""Compose: per-image random transforms folded into as few native passes as possible.

How a pipeline runs
-------------------
``aug(images)`` is ``aug.apply(images, aug.sample(len(images), shapes))``:

1. **Sampling** (vectorised numpy, no loop over images): every transform draws its
   parameters for the whole batch from per-sample counter-based streams keyed by
   (seed, epoch, global sample index, position in the pipeline), so sample ``i`` gets the
   same parameters whatever the batch it is in, the thread count or the call order.
   Geometric transforms return destination-to-source 3x3 matrices, multiplied into one
   2x3 matrix per image; colour transforms return colour matrices, multiplied into one
   ``(C, C + 1)`` matrix per image; the output transform sets the conversion.
2. **Applying**: one ``ops.augment`` call per *stage* does warp + colour + conversion in
   one pass per output pixel. The common pipelines (crops, flips, resizes, an affine
   warp, any colour transforms, normalisation) are one stage.

When the chain is split into stages
------------------------------------
Folding is exact for the geometry of chained maps, but a warp's fill region lives at the
boundary of *its* input. A new stage (one more pass, through a uint8 intermediate) starts

- before a transform that samples outside its input (``Affine``, ``Rotate``, a padding
  ``RandomCrop``/``CenterCrop``) that follows a crop in the same stage (folded, it
  would show the pixels beyond the crop instead of the fill);
- before a padding crop that follows a warp (same reason);
- where two resampling transforms ask for different interpolations, or two filling
  transforms for different fills;
- after each pixel transform (noise, blur, erasing), which is its own native pass.

Documented differences from applying the transforms one by one
--------------------------------------------------------------
- One resampling instead of one per transform (sharper, and no compounding of
  bilinear blur); the fill mode applies at the boundary of the stage's input.
- Colour matrices are applied after the geometric sampling, so with ``fill_mode=
  "constant"`` the fill region is colour-transformed too when a colour transform
  precedes a warp in the list.
- Values are saturated to 0..255 and rounded once per stage, not after each transform.
- The first resampling crop/resize of a stage clamps its source coordinates to its box
  (``boxes=`` of ``ops.augment``), exactly like ``cv2.resize`` of the crop, unless a
  transform that samples outside its input is in the same stage.
- ``Contrast``'s mean grey level is estimated from a 32x32 grid of nearest samples of
  the image as it is at the contrast's place in the chain (through the geometric and
  colour matrices that precede it). The grid is one small extra ``ops.augment`` call
  (1024 pixels per image, about 1% of the ImageNet pipeline's time); the mean error is
  about 0.2 grey levels (at most 1 on photo crops), i.e. at most 0.4 after a contrast
  factor in [0.6, 1.4].

Inputs of varying sizes (a list of arrays) are accepted when the pipeline ends in a
fixed size: every image's matrices are resolved against its own size, then images of
the same size are stacked and run together (one ``ops.augment`` call per distinct size).
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from . import ops, targets
from ._pool import OutputPool
from .transforms.base import Random, SampleStream, Transform, from_config, sample_keys
from .transforms.color import contrast_matrix, gray_weights, identity

__all__ = ["Compose"]

#: Side of the grid of samples that estimates an image's mean for ``Contrast``.
MEAN_GRID = 32

Images = Union[np.ndarray, Sequence[np.ndarray]]


@dataclass
class _Stage:
    """One ops.augment call: the slots of its transforms and its sampling settings."""

    ops: list = field(default_factory=list)
    interpolation: str | None = None
    fill: tuple | None = None  # (fill_mode, cval)
    restricted: bool = False  # a crop precedes: the domain is a sub-box of the input
    warped: bool = False  # a free warp precedes
    pixel: int | None = None  # slot of the pixel transform that runs after it


@dataclass
class _Plan:
    stages: list
    output: int | None
    post: list  # pixel transforms that run on the converted output
    batch: list


def _cval_key(cval) -> tuple:
    return tuple(np.broadcast_to(np.asarray(cval, np.float64), (4,)).tolist()) if np.ndim(
        cval) == 0 else tuple(float(v) for v in cval)


def _plan(transforms: Sequence[Transform]) -> _Plan:
    """Split the chain into stages and check the order of the transform families."""
    stages = [_Stage()]
    output = None
    post: list = []
    batch: list = []
    names = [type(t).__name__ for t in transforms]
    for slot, t in enumerate(transforms):
        where = f"{names[slot]} (transform {slot})"
        if t.kind in ("geometric", "color"):
            if output is not None or batch:
                after = names[output] if output is not None else names[batch[0]]
                raise ValueError(f"{where} must come before {after}: output and batch-level "
                                 "transforms come last")
            st = stages[-1]
            if t.kind == "color":
                st.ops.append(slot)
                continue
            fill = (t.fill_mode, _cval_key(t.cval)) if t.samples_outside else None
            split = (
                (t.samples_outside and st.restricted)
                or (t.samples_outside and not t.is_warp and st.warped)
                or (t.resamples and st.interpolation not in (None, t.interpolation))
                or (fill is not None and st.fill not in (None, fill))
            )
            if split:
                st = _Stage()
                stages.append(st)
            st.ops.append(slot)
            st.restricted |= t.restricts
            st.warped |= t.is_warp
            if t.resamples:
                st.interpolation = t.interpolation
            if fill is not None:
                st.fill = fill
        elif t.kind == "pixel":
            if batch:
                raise ValueError(f"{where} must come before {names[batch[0]]}")
            if output is None:
                stages[-1].pixel = slot
                stages.append(_Stage())
            elif t.on_float:
                post.append(slot)
            else:
                raise ValueError(f"{where} works on uint8 images: put it before "
                                 f"{names[output]}")
        elif t.kind == "output":
            if output is not None:
                raise ValueError(f"{where}: only one output transform is allowed "
                                 f"(already {names[output]})")
            output = slot
        elif t.kind == "batch":
            batch.append(slot)
        else:
            raise TypeError(f"{where} has unknown kind {t.kind!r}")
    return _Plan(stages, output, post, batch)


def _map_boxes(inverse: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Boxes (top, left, h, w) through axis-aligned maps (N, 3, 3), as boxes."""
    top, left, h, w = box.T
    xs = np.stack([left - 0.5, left + w - 0.5])
    ys = np.stack([top - 0.5, top + h - 0.5])
    mx = inverse[:, 0, 0] * xs + inverse[:, 0, 2]
    my = inverse[:, 1, 1] * ys + inverse[:, 1, 2]
    x0, x1 = mx.min(axis=0), mx.max(axis=0)
    y0, y1 = my.min(axis=0), my.max(axis=0)
    return np.stack([y0 + 0.5, x0 + 0.5, y1 - y0, x1 - x0], axis=1)


def _as_batch(images: Images) -> tuple[np.ndarray | list, bool]:
    """Images as a 4-D uint8 array or a list of 3-D uint8 arrays; and whether to squeeze."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise TypeError(f"images must have dtype uint8, got {images.dtype}")
        if images.ndim == 3:
            return images[..., np.newaxis], True
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N, H, W, C) or (N, H, W), "
                             f"got {images.shape}")
        return images, False
    if not isinstance(images, (list, tuple)):
        raise TypeError(f"images must be a numpy array or a list of arrays, "
                        f"got {type(images).__name__}")
    out = []
    squeeze = True
    for k, img in enumerate(images):
        if not isinstance(img, np.ndarray):
            raise TypeError(f"images[{k}] must be a numpy array, got {type(img).__name__}")
        if img.dtype != np.uint8:
            raise TypeError(f"images[{k}] must have dtype uint8, got {img.dtype}")
        if img.ndim == 2:
            img = img[..., np.newaxis]
        else:
            squeeze = False
        if img.ndim != 3:
            raise ValueError(f"images[{k}] must have shape (H, W, C) or (H, W), got {img.shape}")
        out.append(img)
    channels = {img.shape[2] for img in out}
    if len(channels) > 1:
        raise ValueError(f"images must all have the same number of channels, got {channels}")
    return out, squeeze and bool(out)


def _shape_of(batch) -> tuple[np.ndarray, int]:
    """(N, 2) sizes and the channel count of a batch from :func:`_as_batch`."""
    if isinstance(batch, np.ndarray):
        n, h, w, c = batch.shape
        return np.tile(np.array([h, w], np.int64), (n, 1)), c
    if not batch:
        return np.zeros((0, 2), np.int64), 3
    return np.array([img.shape[:2] for img in batch], np.int64), batch[0].shape[2]


def _size_hint(batch) -> tuple | None:
    """The image size of an empty array batch (lists of images carry none)."""
    return tuple(batch.shape[1:3]) if isinstance(batch, np.ndarray) else None


def _image_sizes(n: int, image_shape) -> tuple[np.ndarray, int]:
    """(N, 2) sizes and the channel count from a shape or a list of shapes."""
    if image_shape is None:
        raise ValueError("image_shape is required: (H, W), (H, W, C) or one shape per image")
    arr = np.asarray(image_shape)
    if arr.dtype.kind not in "iu" or arr.ndim not in (1, 2) or arr.shape[-1] not in (2, 3):
        raise ValueError(f"image_shape must be (H, W), (H, W, C) or a list of such, "
                         f"got {image_shape!r}")
    if arr.ndim == 1:
        arr = np.tile(arr, (n, 1))
    elif len(arr) != n:
        raise ValueError(f"image_shape has {len(arr)} shapes for {n} images")
    c = int(arr[0, 2]) if arr.shape[1] == 3 and len(arr) else 1 if arr.shape[1] == 2 else 3
    if arr.shape[1] == 3 and len(arr) and np.any(arr[:, 2] != c):
        raise ValueError("image_shape: all images must have the same number of channels")
    if c not in (1, 3, 4):
        raise ValueError(f"images must have 1, 3 or 4 channels, got {c}")
    sizes = arr[:, :2].astype(np.int64)
    if np.any(sizes <= 0):
        raise ValueError(f"image sizes must be positive, got {image_shape!r}")
    return sizes, c


def _take(params: Any, idx: np.ndarray) -> Any:
    """Per-image parameters restricted to images ``idx`` (arrays sliced on axis 0)."""
    if isinstance(params, dict):
        return {k: _take(v, idx) for k, v in params.items()}
    if isinstance(params, list):
        return [_take(v, idx) for v in params]
    if isinstance(params, np.ndarray) and params.ndim:
        return params[idx]
    return params


class Compose(SampleStream):
    """A pipeline of random transforms applied per image in as few native passes as possible.

    Parameters
    ----------
    transforms : sequence of Transform
        Geometric and colour transforms in order (nested ``Compose`` objects are
        flattened), then optionally one output transform (``Normalize``, ``Rescale``,
        ``ToFloat``) and batch-level transforms (``MixUp``, ``CutMix``). Pixel transforms
        (``GaussianNoise``, ``GaussianBlur``, ``Sharpen``, ``Cutout``) may sit anywhere
        before the output transform; ``Cutout``/``RandomErasing`` also after it.
    seed : int, optional
        Non-negative. None draws one from the OS (``aug.seed`` then tells which).
    threads : int, optional
        Native threads per call; default :func:`fastaug.get_num_threads`.
    group_size : int, optional
        Give runs of ``group_size`` consecutive global sample indices the same random
        parameters: sample ``i`` draws from the stream of key ``i // group_size``
        (frames of a clip stored one after the other, stereo pairs at ``2j, 2j + 1``).
        With a :class:`fastaug.Loader`, whose batches pass the dataset indices, this
        holds whatever the shuffling or batching. For other groupings pass
        ``groups=`` per call instead (see :meth:`__call__`).

    Notes
    -----
    **Groups.** Grouped images draw identical parameters from every per-image
    transform: the same crop, flip, angle, colour factors, noise and erasing (see
    :class:`fastaug.transforms.base.SampleStream` for the keys). Images of different
    sizes in one group (a list) share the random *draws*, which each transform resolves
    against each image's own size: the same flip, angle and colour, translations and
    ``RandomCrop`` offsets as the same fractions of the free range,
    ``RandomResizedCrop``'s same area fraction, aspect ratio and relative position
    (when both sizes accept the same of its 10 tries). ``MixUp``/``CutMix`` draw one
    weight (and box) per batch anyway; with groups they pair whole groups: member
    ``r`` of a batch's ``j``-th group (in order of first appearance) is mixed with
    member ``r mod m`` of the ``(j - 1)``-th group (cyclically; ``m`` is that group's
    size in the batch), so the members of a group stay alike.

    Examples
    --------
    >>> aug = Compose([RandomResizedCrop(224), HorizontalFlip(),
    ...                ColorJitter(0.4, 0.4, 0.4, 0.1), Normalize(layout="NCHW")], seed=0)
    >>> out = aug(batch)  # uint8 (N, H, W, 3) -> float32 (N, 3, 224, 224)
    """

    def __init__(self, transforms: Sequence[Transform], seed: int | None = None,
                 threads: int | None = None, group_size: int | None = None):
        if isinstance(transforms, Transform):
            transforms = [transforms]
        flat: list = []
        try:
            items = list(transforms)
        except TypeError:
            raise TypeError(f"transforms must be a sequence of transforms, got "
                            f"{type(transforms).__name__}") from None
        for k, t in enumerate(items):
            if isinstance(t, Compose):
                flat.extend(t.transforms)
            elif isinstance(t, Transform):
                flat.append(t)
            else:
                raise TypeError(f"transforms[{k}] must be a fastaug transform, got {t!r}")
        self.transforms: tuple = tuple(flat)
        self._init_stream(seed, threads, group_size)
        self._plan = _plan(self.transforms)
        self._outputs = OutputPool()

    # ---- sampling -----------------------------------------------------------------

    def sample(self, n: int, image_shape: Sequence | np.ndarray | None = None,
               indices: Sequence[int] | np.ndarray | None = None,
               groups: Sequence[int] | np.ndarray | None = None) -> dict:
        """Draw the parameters of ``n`` samples as plain arrays.

        Parameters
        ----------
        n : int
            Number of images.
        image_shape : tuple or sequence of tuples
            ``(H, W)`` or ``(H, W, C)`` of every image, or one such shape per image.
        indices : array_like of int, shape (n,), optional
            Global sample indices; default the next ``n`` of the running counter of this
            epoch (which then advances, as a call does).
        groups : array_like of int, shape (n,), optional
            Group ids (non-negative): images with the same id get the same parameters.
            Not with ``group_size``.

        Returns
        -------
        dict
            ``stages``: one dict per native pass with ``inverse`` (N, 2, 3)
            destination-to-source matrices in the coordinates of the stage's input,
            ``sizes`` (N, 2) output sizes, ``boxes`` (N, 4) source clamp or None,
            ``interpolation``, ``fill_mode``, ``cval``, ``colors`` (list of (N, C+1, C+1)
            homogeneous colour matrices, or None) separated by ``contrasts`` (list of
            dicts with per-image ``factor`` and the ``inverse``/``sizes`` at which the
            mean is taken), ``pixel`` (pixel transform after the stage, or None);
            ``output`` (conversion arguments), ``post`` and ``batch`` (parameters of
            the later transforms), and ``pipeline`` (transform names), ``indices``,
            ``epoch``, ``seed``, ``channels``, ``input_sizes``, ``groups`` (int64 (N,)
            stream keys: the group ids, or the indices without groups).
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        n = int(n)
        sizes, channels = _image_sizes(n, image_shape)
        ids = self._check_groups(n, groups)
        idx = self._indices(n, indices)
        hint = tuple(np.asarray(image_shape)[:2]) if np.ndim(image_shape) == 1 else None
        return self._sample(idx, sizes, channels, self._epoch, hint, ids)

    def _sample(self, idx: np.ndarray, sizes: np.ndarray, channels: int, epoch: int,
                hint: tuple | None = None, groups: np.ndarray | None = None) -> dict:
        n = len(idx)
        if n == 0:
            # Sample one image to learn the output sizes, then keep none of it.
            if hint is None:
                raise ValueError("an empty list of images has no size: pass an empty "
                                 "(0, H, W, C) array")
            one = self._sample(np.zeros(1, np.int64), np.array([hint], np.int64), channels,
                               epoch)
            return _take(one, np.zeros(0, np.int64))
        groups = self._group_ids(idx, groups)
        keys = sample_keys(self.seed, epoch, groups)
        input_sizes = sizes
        stages = []
        for st in self._plan.stages:
            stage = self._sample_stage(st, keys, sizes, channels)
            stages.append(stage)
            sizes = stage["sizes"]
        output = {"dtype": "uint8", "layout": "NHWC"}
        if self._plan.output is not None:
            output = self.transforms[self._plan.output].output_args(channels)
        post = [{"slot": s, "params": self.transforms[s].sample(Random(keys, s), sizes, channels)}
                for s in self._plan.post]
        batch = []
        first = int(idx[0]) if n else 0
        grouped = None if np.array_equal(groups, idx) else groups
        for s in self._plan.batch:
            rng = np.random.default_rng([self.seed, epoch, first, n, s])
            batch.append({"slot": s, "params": self.transforms[s].sample(rng, n, sizes,
                                                                         grouped)})
        return {"pipeline": self._names(), "indices": idx, "groups": groups, "epoch": epoch,
                "seed": self.seed,
                "channels": channels,
                "input_sizes": input_sizes, "stages": stages, "output": output, "post": post,
                "batch": batch}

    def _sample_stage(self, st: _Stage, keys: np.ndarray, sizes: np.ndarray,
                      channels: int) -> dict:
        n = len(keys)
        inv = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        cur = sizes
        clamp = None
        resampled = warped = False
        colors = [identity(n, channels)]
        contrasts = []
        for slot in st.ops:
            t = self.transforms[slot]
            rng = Random(keys, slot)
            if t.kind == "geometric":
                g = t.sample(rng, cur)
                if t.resamples and not resampled:
                    resampled = True
                    if g.box is not None and not warped:
                        clamp = _map_boxes(inv, g.box)
                if t.samples_outside:
                    clamp = None  # it must see its fill, not the clamped edge
                warped |= t.is_warp
                inv = inv @ g.inverse
                cur = g.sizes
            else:
                for factor, matrix in t.sample(rng, n, channels):
                    if factor is None:
                        colors[-1] = matrix @ colors[-1]
                    else:
                        contrasts.append({"factor": factor, "inverse": inv[:, :2].copy(),
                                          "sizes": cur.copy()})
                        colors.append(matrix)
        if not contrasts and np.array_equal(colors[0], identity(n, channels)):
            colors = None
        fill_mode, cval = st.fill if st.fill is not None else ("constant", (0.0,))
        uniform = n > 0 and bool(np.all(cur == cur[0]))
        stage = {"inverse": np.ascontiguousarray(inv[:, :2]), "sizes": cur, "boxes": clamp,
                 "size": (int(cur[0, 0]), int(cur[0, 1])) if uniform else None,
                 "interpolation": st.interpolation or "nearest", "fill_mode": fill_mode,
                 "cval": cval[:channels] if len(set(cval)) > 1 else cval[0],
                 "colors": colors, "contrasts": contrasts, "pixel": None}
        if st.pixel is not None:
            t = self.transforms[st.pixel]
            stage["pixel"] = {"slot": st.pixel,
                              "params": t.sample(Random(keys, st.pixel), cur, channels)}
        return stage

    # ---- applying -----------------------------------------------------------------

    def __call__(self, images: Images, labels: Sequence | np.ndarray | None = None,
                 indices: Sequence[int] | np.ndarray | None = None, *,
                 groups: Sequence[int] | np.ndarray | None = None, masks: Any = None,
                 boxes: Any = None, keypoints: Any = None, box_format: str = "xyxy",
                 min_area: float = 0.0, min_visibility: float = 0.0,
                 remove_invisible: bool = True, flip_index: Sequence[int] | None = None,
                 mask_fill: int = 0):
        """Augment a batch with freshly sampled parameters.

        Parameters
        ----------
        images : ndarray, uint8, shape (N, H, W, C) or (N, H, W); or a list of (H, W, C)
            A batch, or images of varying sizes when the pipeline has a fixed output size.
        labels : array_like, shape (N, ...), optional
            Returned alongside (mixed by ``MixUp``/``CutMix``).
        indices : array_like of int, shape (N,), optional
            Global sample indices (for loaders); default the running counter.
        groups : array_like of int, shape (N,), optional
            Group ids (non-negative): images with the same id get identical random
            parameters, those of the stream keyed by (seed, epoch, id), whatever batch
            they are in. Not with ``group_size``. With a Loader, wrap the pipeline:
            ``augment=lambda images, indices: aug(images, indices=indices,
            groups=clip_of[indices])`` (give ``aug`` ``threads=1`` yourself then).
        masks, boxes, keypoints : optional
            Targets moved with the images (see :mod:`fastaug.targets`); with ``boxes``,
            ``labels`` are per-box labels dropped with their boxes.
        box_format, min_area, min_visibility, remove_invisible, flip_index, mask_fill
            Target options (:class:`fastaug.targets.TargetOptions`).

        Returns
        -------
        ndarray or (ndarray, ndarray) or dict
            uint8 ``(N, OH, OW, C)`` or the output transform's float32 batch; with
            ``labels``, the pair ``(images, labels)``; with any target, a dict with
            ``images`` and each target key passed.
        """
        batch, _ = _as_batch(images)
        sizes, channels = _shape_of(batch)
        if labels is not None and len(labels) != len(batch):
            raise ValueError(f"labels has {len(labels)} entries for {len(batch)} images")
        ids = self._check_groups(len(batch), groups)
        params = self._sample(self._indices(len(batch), indices), sizes, channels, self._epoch,
                              _size_hint(batch), ids)
        return self.apply(images, params, labels, masks=masks, boxes=boxes,
                          keypoints=keypoints, box_format=box_format, min_area=min_area,
                          min_visibility=min_visibility, remove_invisible=remove_invisible,
                          flip_index=flip_index, mask_fill=mask_fill)

    def apply(self, images: Images, params: dict, labels: Sequence | np.ndarray | None = None,
              *, masks: Any = None, boxes: Any = None, keypoints: Any = None,
              box_format: str = "xyxy", min_area: float = 0.0, min_visibility: float = 0.0,
              remove_invisible: bool = True, flip_index: Sequence[int] | None = None,
              mask_fill: int = 0):
        """Apply sampled parameters: deterministic, the same params give the same output.

        Parameters
        ----------
        images : ndarray, uint8, shape (N, H, W, C) or (N, H, W); or a list of (H, W, C)
            Images of the sizes the parameters were sampled for.
        params : dict
            From :meth:`sample`.
        labels : array_like, shape (N, ...), optional
        masks, boxes, keypoints : optional
            As :meth:`__call__`; so are the target options (``box_format``, ...).

        Returns
        -------
        ndarray or (ndarray, ndarray) or dict
            As :meth:`__call__`.
        """
        # ---- targets (fastaug.targets does the maths) ----
        if masks is not None or boxes is not None or keypoints is not None:
            # Images first: that call checks the params against the images.
            out = self.apply(images, params, None if boxes is not None else labels)
            moved = targets.apply_targets(
                params, lambda x, inv, sizes, clamp, kwargs: self._augment(
                    x, inv, None, sizes, clamp, kwargs),
                masks=masks, boxes=boxes, keypoints=keypoints, labels=labels,
                box_format=box_format, min_area=min_area, min_visibility=min_visibility,
                remove_invisible=remove_invisible, flip_index=flip_index, mask_fill=mask_fill)
            return {"images": out[0] if isinstance(out, tuple) else out, **moved}
        # ---- end targets ----
        x, squeeze = _as_batch(images)
        sizes, channels = _shape_of(x)
        n = len(x)
        if params.get("pipeline") != self._names():
            raise ValueError("params were sampled by a different pipeline "
                             f"({params.get('pipeline')}), not {self._names()}")
        if len(params["indices"]) != n:
            raise ValueError(f"params were sampled for {len(params['indices'])} images, "
                             f"got {n}")
        if params["channels"] != channels and n:
            raise ValueError(f"params were sampled for {params['channels']} channels, "
                             f"images have {channels}")
        if not np.array_equal(params["input_sizes"], sizes):
            raise ValueError("images do not have the sizes the params were sampled for")
        if labels is not None and len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries for {n} images")
        output = params["output"]
        stages = params["stages"]
        owned = False  # pixel transforms may work in place on arrays made here only
        for k, st in enumerate(stages):
            last = k == len(stages) - 1
            y = self._run_stage(x, st, output if last else None, channels, owned)
            owned = owned or y is not x
            x = y
            if st["pixel"] is not None:
                t = self.transforms[st["pixel"]["slot"]]
                x = self._pixel(t, x, st["pixel"]["params"], "NHWC", owned)
                owned = True
        layout = output["layout"]
        for item in params["post"]:
            x = self._pixel(self.transforms[item["slot"]], x, item["params"], layout, True)
        for item in params["batch"]:
            x, labels = self.transforms[item["slot"]].apply(x, labels, item["params"], layout,
                                                            self.threads)
        if squeeze and layout == "NHWC" and x.shape[-1] == 1:
            x = x[..., 0]
        return x if labels is None else (x, labels)

    def _pixel(self, t, x, params: dict, layout: str, inplace: bool = False):
        if isinstance(x, np.ndarray):
            return t.apply(x, params, layout, self.threads, inplace)
        # Images of different sizes: one call per image.
        return [t.apply(img[np.newaxis], _take(params, np.array([i])), layout,
                        self.threads)[0] for i, img in enumerate(x)]

    def _run_stage(self, x, st: dict, output: dict | None, channels: int, owned: bool):
        n = len(x)
        colors = self._colors(x, st, channels)
        inverse = st["inverse"]
        # Skip an identity pass (e.g. next to a pixel transform), unless it must convert
        # or copy the caller's array.
        final_copy = output is not None and (output["dtype"] != "uint8" or not owned
                                             or not isinstance(x, np.ndarray))
        if not final_copy and colors is None and np.array_equal(
                st["sizes"], _shape_of(x)[0]) and np.array_equal(
                inverse, np.broadcast_to(np.eye(2, 3), inverse.shape)):
            return x
        if output is None:
            output = {}
        elif n and np.any(st["sizes"] != st["sizes"][0]):
            raise ValueError("the images end with different sizes: a list of images of "
                             "varying sizes needs a pipeline with a fixed output size "
                             "(e.g. RandomResizedCrop, Resize, CenterCrop)")
        kwargs = {"interpolation": st["interpolation"], "fill_mode": st["fill_mode"],
                  "cval": st["cval"], **output}
        return self._augment(x, inverse, colors, st["sizes"], st["boxes"], kwargs, st["size"])

    def _augment(self, x, inverse, colors, sizes, boxes, kwargs, size=None):
        n = len(x)
        if isinstance(x, np.ndarray):
            if n:
                size = (int(sizes[0, 0]), int(sizes[0, 1]))
            return ops.augment(x, inverse, colors, size, boxes=boxes, inverse=True,
                               threads=self.threads, _pool=self._outputs, **kwargs)
        uniform = bool(np.all(sizes == sizes[0]))
        groups: dict = {}
        for i, img in enumerate(x):
            groups.setdefault((img.shape, tuple(sizes[i])), []).append(i)
        out = None
        results: list = [None] * n
        for (_, size), members in groups.items():
            idx = np.array(members)
            src = x[members[0]][np.newaxis] if len(members) == 1 else np.stack(
                [x[i] for i in members])
            r = ops.augment(src, inverse[idx], None if colors is None else colors[idx],
                            (int(size[0]), int(size[1])),
                            boxes=None if boxes is None else boxes[idx], inverse=True,
                            threads=self.threads, **kwargs)
            if uniform:
                if out is None:
                    out = np.empty((n,) + r.shape[1:], r.dtype)
                out[idx] = r
            else:
                for k, i in enumerate(members):
                    results[i] = r[k]
        return out if uniform else results

    def _colors(self, x, st: dict, channels: int) -> np.ndarray | None:
        """The stage's (N, C, C + 1) colour matrices, with contrast means taken from ``x``."""
        if st["colors"] is None:
            return None
        total = st["colors"][0]
        weights = gray_weights(channels)
        for k, c in enumerate(st["contrasts"]):
            mean = self._mean_colors(x, st, c["inverse"], c["sizes"])
            here = total @ np.concatenate([mean, np.ones((len(mean), 1))], axis=1)[..., None]
            gray = here[:, :channels, 0] @ weights
            total = st["colors"][k + 1] @ contrast_matrix(c["factor"], gray, channels) @ total
        return total[:, :channels]

    def _mean_colors(self, x, st: dict, inverse: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Mean colour of each image seen through ``inverse`` at ``sizes``, float64 (N, C)."""
        n = len(x)
        if n == 0:
            return np.zeros((0, _shape_of(x)[1]))
        box = np.zeros((n, 4))
        box[:, 2:] = sizes
        grid = ops.crop_matrices(box, (MEAN_GRID, MEAN_GRID))
        full = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        full[:, :2] = inverse
        m = np.einsum("nij,njk->nik", full[:, :2], np.concatenate(
            [grid, np.broadcast_to([[[0.0, 0.0, 1.0]]], (n, 1, 3))], axis=1))
        thumbs = self._augment(x, m, None, np.full((n, 2), MEAN_GRID), st["boxes"], {
            "interpolation": "nearest", "fill_mode": st["fill_mode"], "cval": st["cval"]})
        # A matrix product is several times faster than .mean(axis=1) on (N, G*G, C) uint8.
        weights = np.full(MEAN_GRID * MEAN_GRID, 1.0 / (MEAN_GRID * MEAN_GRID), np.float32)
        return (weights @ thumbs.reshape(n, MEAN_GRID * MEAN_GRID, -1)).astype(np.float64)

    # ---- config, repr, pickling ---------------------------------------------------

    def _names(self) -> tuple:
        return tuple(type(t).__name__ for t in self.transforms)

    def to_config(self) -> dict:
        """The pipeline as plain JSON-friendly data: ``{"transforms": [...], "seed", "threads"}``
        (and ``"group_size"`` when set).

        Returns
        -------
        dict
            ``Compose.from_config(aug.to_config())`` rebuilds an equal pipeline.
        """
        config = {"transforms": [t.to_config() for t in self.transforms], "seed": self.seed,
                  "threads": self.threads}
        if self.group_size is not None:
            config["group_size"] = self.group_size
        return config

    @classmethod
    def from_config(cls, config: dict | list) -> Compose:
        """Build a pipeline from :meth:`to_config`'s dict (or a bare list of transforms).

        Parameters
        ----------
        config : dict or list
            ``{"transforms": [{"name": ..., **args}, ...], "seed": ..., "threads": ...}``,
            optionally ``"group_size"``.

        Returns
        -------
        Compose
        """
        if isinstance(config, list):
            config = {"transforms": config}
        if not isinstance(config, dict) or "transforms" not in config:
            raise ValueError("a Compose config must be a dict with a 'transforms' list")
        unknown = set(config) - {"transforms", "seed", "threads", "group_size"}
        if unknown:
            raise ValueError(f"unknown Compose config keys {sorted(unknown)}")
        transforms = [from_config(t) for t in config["transforms"]]
        return cls(transforms, seed=config.get("seed"), threads=config.get("threads"),
                   group_size=config.get("group_size"))

    def __repr__(self) -> str:
        inner = "".join(f"    {t!r},\n" for t in self.transforms)
        threads = "" if self.threads is None else f", threads={self.threads}"
        group = "" if self.group_size is None else f", group_size={self.group_size}"
        return f"Compose([\n{inner}], seed={self.seed}{threads}{group})"

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, k):
        return self.transforms[k]

    def __eq__(self, other) -> bool:
        return isinstance(other, Compose) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(repr(self))

    @property
    def num_passes(self) -> int:
        """Native passes over the batch per call: one per augment stage that does work,
        one per pixel or batch-level transform."""
        plan = self._plan
        pixel = sum(st.pixel is not None for st in plan.stages)
        converts = plan.output is not None or pixel == 0  # the last stage must run
        stages = sum(1 for k, st in enumerate(plan.stages)
                     if st.ops or (k == len(plan.stages) - 1 and converts))
        return stages + pixel + len(plan.post) + len(plan.batch)
