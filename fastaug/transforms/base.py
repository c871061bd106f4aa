"""Shared machinery of the transforms: per-sample random streams, argument checks, base classes.

Randomness
----------
Every random number a transform draws for sample ``i`` is a pure function of
``(seed, epoch, global sample index i, position of the transform in its Compose, draw
number)``. It is computed with a counter-based generator: the SplitMix64 finaliser (a
bijective 64-bit mixer) applied to a per-sample key plus a draw counter, vectorised over
the batch with numpy ``uint64`` arithmetic. There is no generator state to create per
sample and no Python loop over images, so results do not depend on the batch size,
the split of the data into batches, the thread count or the order of calls, and
sampling 256 samples costs microseconds per drawn value.

Each transform draws a fixed number of values per sample whatever the outcome of its
coin flips, so one transform's draws never shift another's.
"""
from __future__ import annotations

import numbers
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Union

import numpy as np

from .._threads import _check_threads

__all__ = ["Geometry", "Random", "Transform", "sample_keys"]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> _S30)
    z = z * _M1
    z = z ^ (z >> _S27)
    z = z * _M2
    return z ^ (z >> _S31)


def _u64(value: int) -> np.ndarray:
    return np.array([value & _MASK64], dtype=np.uint64)


def resolve_seed(seed) -> int:
    """``seed`` checked (a non-negative integer), or a fresh one from the OS for None."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


class SampleStream:
    """Seed, epoch and running sample index: what makes sample ``i`` of epoch ``e`` draw
    the same parameters wherever it falls (Compose and the policies share it).

    Groups
    ------
    The stream of a sample is keyed by ``(seed, epoch, key)``, where the key is the
    sample's global index, or its group's id when samples are grouped: samples with the
    same key draw the same parameters. ``group_size=k`` keys sample ``i`` by
    ``i // k`` (runs of ``k`` consecutive global indices form a group); an explicit
    ``groups=ids`` per call keys sample ``j`` of the batch by ``ids[j]``. A group id
    thus plays the role of a sample index: ``group_size=1``, or ``groups`` equal to the
    indices, is the ungrouped stream, and a group's parameters depend only on (seed,
    epoch, id), not on the batches its members arrive in.
    """

    def _init_stream(self, seed, threads, group_size: int | None = None) -> None:
        self.seed = resolve_seed(seed)
        self.threads = None if threads is None else _check_threads(threads)
        if group_size is not None and (isinstance(group_size, bool) or not isinstance(
                group_size, numbers.Integral) or group_size < 1):
            raise ValueError(f"group_size must be a positive integer or None, got "
                             f"{group_size!r}")
        self.group_size = None if group_size is None else int(group_size)
        self._epoch = 0
        self._next = 0
        self._lock = threading.Lock()

    @property
    def epoch(self) -> int:
        """The epoch the next samples belong to (see :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: the running sample index restarts at 0.

        Parameters
        ----------
        epoch : int
            Non-negative.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        with self._lock:
            self._epoch = int(epoch)
            self._next = 0

    def _indices(self, n: int, indices) -> np.ndarray:
        """Validated global sample indices, or the next ``n`` of the running counter."""
        if indices is None:
            with self._lock:
                start = self._next
                self._next += n
            return np.arange(start, start + n, dtype=np.int64)
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise ValueError(f"indices must be a 1-D array of integers, got {indices!r}")
        if len(idx) != n:
            raise ValueError(f"indices has {len(idx)} entries for {n} images")
        if len(idx) and idx.min() < 0:
            raise ValueError("indices must be non-negative")
        return idx.astype(np.int64)

    def _check_groups(self, n: int, groups) -> np.ndarray | None:
        """Validated explicit group ids of ``n`` images (int64 (n,)), or None."""
        if groups is None:
            return None
        if self.group_size is not None:
            raise ValueError(f"give either group_size (set to {self.group_size}) or "
                             "groups, not both")
        ids = np.asarray(groups)
        if ids.shape == (0,):
            ids = ids.astype(np.int64)  # an empty list is float64 to numpy
        if ids.dtype.kind not in "iu" or ids.ndim != 1:
            raise ValueError(f"groups must be a 1-D array of integer group ids, got "
                             f"dtype {ids.dtype}, shape {ids.shape}")
        if len(ids) != n:
            raise ValueError(f"groups has {len(ids)} entries for {n} images")
        if len(ids) and (ids.min() < 0 or ids.max() > np.iinfo(np.int64).max):
            raise ValueError("groups must be non-negative integers below 2**63")
        return ids.astype(np.int64)

    def _group_ids(self, idx: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """The stream key of every sample (see the class docstring), int64 (N,).

        ``groups`` comes from :meth:`_check_groups`."""
        if groups is not None:
            return groups
        return idx if self.group_size is None else idx // self.group_size

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_lock"]  # locks do not pickle
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def sample_keys(seed: int, epoch: int, indices: np.ndarray) -> np.ndarray:
    """Per-sample 64-bit keys derived from (seed, epoch, global sample index).

    Parameters
    ----------
    seed : int
        Non-negative; only its low 128 bits matter.
    epoch : int
        Non-negative.
    indices : ndarray, int, shape (N,)
        Global sample indices.

    Returns
    -------
    ndarray, uint64, shape (N,)
    """
    with np.errstate(over="ignore"):
        s = _mix(_u64(seed) + _u64(_GOLDEN)) ^ _mix(_u64(seed >> 64) + _u64(2 * _GOLDEN))
        e = _mix(_mix(s) ^ (_u64(epoch) + _u64(3 * _GOLDEN)))
        idx = np.asarray(indices).astype(np.int64).view(np.uint64)
        return _mix(e ^ _mix(idx + _u64(5 * _GOLDEN)))


class Random:
    """Vectorised per-sample random draws, one independent stream per sample.

    Every method returns an array whose first axis is the sample: draw ``k`` of sample
    ``i`` is ``SplitMix64(key[i] + k * golden)``, so it depends only on the key of the
    sample and on how many values were drawn before it by the same transform.

    Parameters
    ----------
    keys : ndarray, uint64, shape (N,)
        One key per sample (see :func:`sample_keys`).
    slot : int
        Position of the transform in its pipeline: transforms in different slots get
        independent streams.
    """

    def __init__(self, keys: np.ndarray, slot: int = 0):
        with np.errstate(over="ignore"):
            self._keys = _mix(keys ^ _mix(_u64(slot) + _u64(7 * _GOLDEN)))
        self._count = 0

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self._keys)

    def _bits(self, k: int) -> np.ndarray:
        """k raw 64-bit draws per sample, uint64 (N, k)."""
        counters = np.arange(self._count + 1, self._count + 1 + k, dtype=np.uint64)
        self._count += k
        with np.errstate(over="ignore"):
            return _mix(self._keys[:, None] + counters * np.uint64(_GOLDEN))

    def random(self, *shape: int) -> np.ndarray:
        """Uniform floats in [0, 1), float64, shape (N, *shape)."""
        bits = self._bits(int(np.prod(shape, dtype=np.int64)))
        return ((bits >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)).reshape(
            (self.n, *shape))

    def uniform(self, low, high, *shape: int) -> np.ndarray:
        """Uniform in [low, high); ``low``/``high`` scalars or arrays broadcast to (N, *shape)."""
        u = self.random(*shape)
        low = np.asarray(low, dtype=np.float64)
        high = np.asarray(high, dtype=np.float64)
        return low + (high - low) * u

    def integers(self, low, high) -> np.ndarray:
        """Integers in [low, high) (high exclusive, ``high > low``), int64, shape (N,)."""
        u = self.random()
        low = np.asarray(low, dtype=np.int64)
        span = np.asarray(high, dtype=np.int64) - low
        return low + np.minimum(np.floor(u * span).astype(np.int64), span - 1)

    def bernoulli(self, p: float) -> np.ndarray:
        """Booleans that are True with probability ``p``, shape (N,)."""
        return self.random() < p

    def normal(self, *shape: int) -> np.ndarray:
        """Standard normal values (Box-Muller), float64, shape (N, *shape)."""
        u1 = self.random(*shape)
        u2 = self.random(*shape)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def permutations(self, k: int) -> np.ndarray:
        """A random permutation of ``range(k)`` per sample, int64, shape (N, k)."""
        return np.argsort(self.random(k), axis=1, kind="stable")

    def keys(self) -> np.ndarray:
        """Fresh per-sample 64-bit keys for native counter-based generators, uint64 (N,)."""
        return self._bits(1)[:, 0]


# ---- argument checks ----------------------------------------------------------------

Number = Union[int, float]
RangeLike = Union[Number, Sequence[Number]]


def check_number(value, name: str, low: float = -np.inf, high: float = np.inf,
                 *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] (open ends on request)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if v < low or v > high or (low_open and v == low) or (high_open and v == high):
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lb}{low:g}, {high:g}{hb}, got {value!r}")
    return v


def check_p(p, name: str = "p") -> float:
    """A probability in [0, 1]."""
    return check_number(p, name, 0.0, 1.0)


def check_range(value, name: str, *, low: float = -np.inf, high: float = np.inf,
                symmetric: float | None = 0.0, positive_width: bool = False
                ) -> tuple[float, float]:
    """A ``(low, high)`` pair from a number or a pair.

    A number ``v`` means ``(symmetric - v, symmetric + v)`` (it must then be >= 0), or,
    when ``symmetric`` is None, the fixed value ``(v, v)``. Both ends must lie in
    ``[low, high]`` and the pair must be ordered.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = check_number(value, name)
        if symmetric is None:
            pair = (v, v)
        else:
            if v < 0:
                raise ValueError(f"{name} must be non-negative when given as one number "
                                 f"(the range is ±{name}), got {value!r}")
            pair = (symmetric - v, symmetric + v)
    else:
        try:
            a, b = value
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or a pair (low, high), got {value!r}"
                            ) from None
        pair = (check_number(a, f"{name}[0]"), check_number(b, f"{name}[1]"))
    if pair[0] > pair[1]:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    if pair[0] < low or pair[1] > high:
        raise ValueError(f"{name} must lie within [{low:g}, {high:g}], got {value!r}")
    return pair


def check_factor_range(value, name: str) -> tuple[float, float]:
    """torchvision's factor ranges: ``v`` means ``(max(0, 1 - v), 1 + v)``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = check_number(value, name, 0.0)
        return (max(0.0, 1.0 - v), 1.0 + v)
    return check_range(value, name, low=0.0)


def check_axes(value, name: str, **kwargs) -> tuple[tuple[float, float], tuple[float, float]]:
    """Per-axis ranges: a range for both axes, or a dict ``{"x": range, "y": range}``."""
    if isinstance(value, dict):
        unknown = set(value) - {"x", "y"}
        if unknown:
            raise ValueError(f"{name} as a dict takes keys 'x' and 'y', got {sorted(unknown)}")
        default = 0.0 if kwargs.get("symmetric", 0.0) is not None else 1.0
        return (check_range(value.get("x", default), f"{name}['x']", **kwargs),
                check_range(value.get("y", default), f"{name}['y']", **kwargs))
    r = check_range(value, name, **kwargs)
    return r, r


def check_choice(value, options: Sequence[str], name: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def check_size(size, name: str = "size") -> tuple[int, int]:
    """An output size: an int (square) or a pair ``(height, width)`` of positive ints."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = size
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair (height, width), got {size!r}"
                        ) from None
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an int or a pair of ints (height, width), "
                            f"got {size!r}")
        if not 0 < v <= 1 << 20:
            raise ValueError(f"{name} must be positive and at most {1 << 20}, got {size!r}")
    return int(h), int(w)


def check_cval(cval, name: str = "cval") -> float | tuple:
    """A fill value in 0..255: a number or one number per channel."""
    if isinstance(cval, numbers.Real) and not isinstance(cval, bool):
        return check_number(cval, name, 0.0, 255.0)
    try:
        values = tuple(check_number(v, f"{name}[{k}]", 0.0, 255.0) for k, v in enumerate(cval))
    except TypeError:
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {cval!r}"
                        ) from None
    if len(values) not in (1, 3, 4):
        raise ValueError(f"{name} must have 1, 3 or 4 values, got {len(values)}")
    return values


INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")


# ---- base classes -------------------------------------------------------------------

_REGISTRY: dict[str, type] = {}


def _plain(value: Any) -> Any:
    """JSON-friendly copy: tuples become lists, numpy values become Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _canonical(value: Any) -> Any:
    """Lists and arrays become tuples, numpy scalars Python numbers (recursively)."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class Transform:
    """Base of every transform.

    A transform keeps its constructor arguments (``self._args``) for ``repr``,
    ``to_config`` and pickling, and declares its family in ``kind``: "geometric",
    "color", "output", "pixel" or "batch". :class:`fastaug.Compose` folds geometric and
    colour transforms into one native pass and calls the others at their place.
    """

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    def _store(self, **args) -> None:
        # Canonical form (tuples, Python numbers) so that repr and equality survive a
        # round trip through JSON.
        self._args = {k: _canonical(v) for k, v in args.items()}

    def get_config(self) -> dict:
        """Constructor arguments as plain JSON-friendly values (no ``name`` key)."""
        return _plain(self._args)

    def to_config(self) -> dict:
        """``{"name": class name, **arguments}``, JSON-friendly; see :func:`from_config`."""
        return {"name": type(self).__name__, **self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(repr(self))


def from_config(config: dict) -> Transform:
    """Build a transform from ``{"name": ..., **arguments}`` (see ``Transform.to_config``).

    Parameters
    ----------
    config : dict
        A class name of :mod:`fastaug.transforms` under ``"name"``, other keys are the
        constructor's arguments.

    Returns
    -------
    Transform
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"a transform config must be a dict with a 'name' key, got {config!r}")
    args = dict(config)
    name = args.pop("name")
    cls = _REGISTRY.get(name)
    if cls is None or name == "Compose":
        raise ValueError(f"unknown transform {name!r}; known: {sorted(_REGISTRY)}")
    try:
        return cls(**args)
    except TypeError as exc:
        raise TypeError(f"bad arguments for {name}: {exc}") from None


@dataclass
class Geometry:
    """What a geometric transform sampled for a batch.

    Attributes
    ----------
    inverse : ndarray, float64, shape (N, 3, 3)
        Destination-to-source maps (output pixel -> input pixel, pixel centres at
        integers), homogeneous.
    sizes : ndarray, int64, shape (N, 2)
        Output ``(height, width)`` of every image.
    box : ndarray, float64, shape (N, 4), optional
        For resampling crops/resizes: the ``(top, left, height, width)`` region of the
        input they read; Compose clamps source coordinates to it (``cv2.resize`` on the
        crop).
    """

    inverse: np.ndarray
    sizes: np.ndarray
    box: np.ndarray | None = None


class GeometricTransform(Transform):
    """Base of transforms that move pixels: each returns per-image inverse matrices.

    Class attributes used by Compose to plan its passes: ``resamples`` (interpolation
    matters: the map is not an integer shift/flip), ``restricts`` (the output shows a
    sub-region of the input: crops), ``samples_outside`` (some output pixels may come
    from outside the input and take the fill mode).
    """

    kind = "geometric"
    resamples: ClassVar[bool] = False
    restricts: ClassVar[bool] = False
    interpolation: str | None = None
    fill_mode: str | None = None
    cval: float | tuple = 0.0

    @property
    def samples_outside(self) -> bool:
        return False

    @property
    def is_warp(self) -> bool:
        """Free affine warps (their outside region is not a box of the input)."""
        return False

    def sample(self, rng: Random, sizes: np.ndarray) -> Geometry:  # pragma: no cover
        raise NotImplementedError


class ColorTransform(Transform):
    """Base of colour transforms: each returns a list of colour steps.

    A step is ``(contrast, matrix)``: ``contrast`` is None or per-image factors ``f``
    (N,) of a contrast blend ``x -> f x + (1 - f) mean_gray(x)`` applied first, and
    ``matrix`` the per-image homogeneous colour matrices (N, C + 1, C + 1) applied
    after it.
    """

    kind = "color"

    def sample(self, rng: Random, n: int, channels: int) -> list:  # pragma: no cover
        raise NotImplementedError


class PixelTransform(Transform):
    """Base of per-pixel transforms that cannot fold into matrices (noise, blur, erasing).

    They run as their own native pass over the batch at their place in the chain.
    ``on_float`` says whether they may also follow the output transform (float32 NHWC or
    NCHW batches); otherwise they see uint8 NHWC batches.
    """

    kind = "pixel"
    on_float: ClassVar[bool] = False

    def sample(self, rng: Random, sizes: np.ndarray, channels: int) -> dict:
        """Per-image parameters as plain arrays."""
        raise NotImplementedError  # pragma: no cover

    def apply(self, images: np.ndarray, params: dict, layout: str = "NHWC",
              threads: int | None = None) -> np.ndarray:
        """The transform applied to a batch with sampled ``params`` (a new array)."""
        raise NotImplementedError  # pragma: no cover


class BatchTransform(Transform):
    """Base of transforms that mix images of a batch (MixUp, CutMix).

    Their parameters depend on the batch as a whole (which images are paired), so they
    are drawn from a generator seeded by (seed, epoch, first index, batch size, slot):
    reproducible for the same batches, but not independent of how data is batched.
    """

    kind = "batch"

    def sample(self, rng: np.random.Generator, n: int, sizes: np.ndarray,
               groups: np.ndarray | None = None) -> dict:
        """Parameters of a batch of ``n``; ``groups`` (int (N,)) are the images' group
        ids when grouped (then pairs should keep a group's members alike), else None."""
        raise NotImplementedError  # pragma: no cover

    def apply(self, images: np.ndarray, labels, params: dict, layout: str = "NHWC"):
        """``(mixed images, mixed labels or None)``."""
        raise NotImplementedError  # pragma: no cover
