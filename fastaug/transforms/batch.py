"""Batch-level transforms: MixUp and CutMix (torchvision v2's semantics).

Each mixes every image with its neighbour in the batch (``partner = roll(1)``, as
torchvision does; with groups, see :func:`group_partners`) with one
``lambda ~ Beta(alpha, alpha)`` per batch, in one native pass (``ops.mix``), and mixes
the labels with the same weights when labels are given: integer class labels ``(N,)``
become one-hot ``(N, num_classes)``, ``(N, K)`` label arrays are mixed as they are; the
result is float32.

They must come after every per-image transform. Their parameters depend on the batch as
a whole, so they are reproducible for the same batches but not across batch splits.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from .base import BatchTransform, check_number, check_p

__all__ = ["CutMix", "MixUp"]


def group_partners(groups: np.ndarray) -> np.ndarray:
    """Partners that pair whole groups: ``roll(1)`` over the groups of a batch.

    Groups are numbered by first appearance; member ``r`` (in batch order) of group
    ``j`` gets member ``r mod m`` of group ``j - 1`` (cyclically), ``m`` that group's
    size. Distinct ids give ``roll(arange(n), 1)``.

    Parameters
    ----------
    groups : ndarray, int, shape (N,)

    Returns
    -------
    ndarray, int64, shape (N,)
    """
    n = len(groups)
    if n == 0:
        return np.zeros(0, np.int64)
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    rank_of = np.empty(len(first), np.int64)
    rank_of[np.argsort(first, kind="stable")] = np.arange(len(first))
    g = rank_of[inverse.reshape(-1)]  # group number in order of first appearance
    members = np.argsort(g, kind="stable")  # images grouped, batch order within
    counts = np.bincount(g, minlength=len(first))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, np.int64)
    rank[members] = np.arange(n) - starts[g[members]]
    prev = (g - 1) % len(first)
    return members[starts[prev] + rank % counts[prev]]


def _one_hot(labels, n: int, num_classes: int | None) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise TypeError(f"1-D labels must be integer classes, got dtype {y.dtype}")
        if num_classes is None:
            raise ValueError("integer labels need num_classes to be one-hot encoded")
        if n and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"labels must lie in 0..{num_classes - 1}")
        out = np.zeros((n, num_classes), np.float32)
        out[np.arange(n), y] = 1.0
        return out
    if y.ndim != 2 or len(y) != n:
        raise ValueError(f"labels must have shape ({n},) or ({n}, K), got {y.shape}")
    return y.astype(np.float32)


class _Mix(BatchTransform):
    def __init__(self, alpha: float = 1.0, num_classes: int | None = None, p: float = 1.0):
        self.alpha = check_number(alpha, "alpha", 0.0, low_open=True)
        if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(
                num_classes, numbers.Integral) or num_classes < 1):
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.p = check_p(p)
        self._store(alpha=alpha, num_classes=num_classes, p=p)

    def _common(self, rng: np.random.Generator, n: int, groups: np.ndarray | None) -> dict:
        apply = bool(rng.random() < self.p)
        lam = float(rng.beta(self.alpha, self.alpha))
        partner = np.roll(np.arange(n), 1) if groups is None else group_partners(groups)
        return {"apply": apply, "lam": lam, "partner": partner}

    def _labels(self, labels, params: dict, lam: float):
        if labels is None:
            return None
        y = _one_hot(labels, len(params["partner"]), self.num_classes)
        if not params["apply"]:
            return y
        return lam * y + (1.0 - lam) * y[params["partner"]]


class MixUp(_Mix):
    """MixUp: ``lam * x + (1 - lam) * x[partner]`` for images and labels.

    Parameters
    ----------
    alpha : float
        Beta(alpha, alpha) parameter of the weight, > 0.
    num_classes : int, optional
        Needed to one-hot encode integer labels.
    p : float
        Probability of mixing a batch.
    """

    def sample(self, rng: np.random.Generator, n: int, sizes: np.ndarray,
               groups: np.ndarray | None = None) -> dict:
        return self._common(rng, n, groups)

    def apply(self, images: np.ndarray, labels, params: dict, layout: str = "NHWC",
              threads: int | None = None):
        if params["apply"]:
            images = ops.mix(images, params["partner"], lam=params["lam"], layout=layout,
                             threads=threads)
        return images, self._labels(labels, params, params["lam"])


class CutMix(_Mix):
    """CutMix: paste a box of the partner image; labels mixed by the box's area.

    The box has sides ``sqrt(1 - lam)`` times the image's, centred on a uniformly random
    pixel and clipped; the label weight is ``1 - box area / image area``.

    Parameters
    ----------
    alpha : float
        Beta(alpha, alpha) parameter, > 0.
    num_classes : int, optional
        Needed to one-hot encode integer labels.
    p : float
        Probability of mixing a batch.
    """

    def sample(self, rng: np.random.Generator, n: int, sizes: np.ndarray,
               groups: np.ndarray | None = None) -> dict:
        params = self._common(rng, n, groups)
        h, w = (int(sizes[0, 0]), int(sizes[0, 1])) if n else (1, 1)
        r = np.sqrt(1.0 - params["lam"])
        ch, cw = int(h * r), int(w * r)
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        top, bottom = np.clip([cy - ch // 2, cy + ch // 2], 0, h)
        left, right = np.clip([cx - cw // 2, cx + cw // 2], 0, w)
        # A tuple, not an array: it is the batch's, not per image.
        params["box"] = (int(top), int(left), int(bottom - top), int(right - left))
        params["lam"] = 1.0 - float((bottom - top) * (right - left)) / (h * w)
        return params

    def apply(self, images: np.ndarray, labels, params: dict, layout: str = "NHWC",
              threads: int | None = None):
        if params["apply"]:
            boxes = np.broadcast_to(np.array(params["box"]), (len(params["partner"]), 4))
            images = ops.mix(images, params["partner"], boxes=boxes, layout=layout,
                             threads=threads)
        return images, self._labels(labels, params, params["lam"])
