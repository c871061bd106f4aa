"""Output transforms: the conversion of the final pixels to the batch the model reads.

At most one per pipeline, after every geometric and colour transform; Compose folds it
into the same native pass (``ops.augment``'s ``dtype``, ``layout``, ``mean``, ``std`` and
``scale``). Without one, the output is uint8 NHWC.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .base import Transform, check_choice, check_number

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Normalize", "Rescale", "ToFloat"]

#: ImageNet channel means and standard deviations (RGB, on the 0..1 scale).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

LAYOUTS = ("NHWC", "NCHW")


def _values(value, name: str, nonzero: bool = False) -> float | tuple:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        values = (check_number(value, name),)
    else:
        try:
            values = tuple(check_number(v, f"{name}[{k}]") for k, v in enumerate(value))
        except TypeError:
            raise TypeError(f"{name} must be a number or a sequence of numbers, got {value!r}"
                            ) from None
        if len(values) not in (1, 3, 4):
            raise ValueError(f"{name} must have 1, 3 or 4 values, got {len(values)}")
    if nonzero and any(v == 0 for v in values):
        raise ValueError(f"{name} must not contain 0, got {value!r}")
    return values[0] if len(values) == 1 else values


class _Output(Transform):
    kind = "output"

    def output_args(self, channels: int) -> dict:
        """Keyword arguments of ``ops.augment`` for this conversion."""
        mean, std = self.mean, self.std
        for name, v in (("mean", mean), ("std", std)):
            if isinstance(v, tuple) and len(v) != channels:
                raise ValueError(f"{type(self).__name__} {name} has {len(v)} values but the "
                                 f"images have {channels} channels")
        return {"dtype": "float32", "layout": self.layout, "mean": mean, "std": std,
                "scale": self.scale}


class Normalize(_Output):
    """Convert to float32 ``(x * scale - mean) / std`` per channel.

    Parameters
    ----------
    mean, std : float or sequence of float
        Per channel (one per channel or one for all), on the scale after ``scale``;
        default ImageNet's. ``std`` must not contain 0.
    scale : float
        Applied first; default 1/255.
    layout : {"NHWC", "NCHW"}
        Output ``(N, H, W, C)`` or ``(N, C, H, W)``.
    dtype : {"float32"}
    """

    def __init__(self, mean: float | Sequence[float] = IMAGENET_MEAN,
                 std: float | Sequence[float] = IMAGENET_STD, scale: float = 1.0 / 255.0,
                 layout: str = "NHWC", dtype: str = "float32"):
        self.mean = _values(mean, "mean")
        self.std = _values(std, "std", nonzero=True)
        self.scale = check_number(scale, "scale")
        self.layout = check_choice(layout, LAYOUTS, "layout")
        if dtype not in ("float32", np.float32):
            raise ValueError(f"dtype must be 'float32', got {dtype!r}")
        self._store(mean=mean, std=std, scale=scale, layout=layout, dtype="float32")


class Rescale(_Output):
    """Convert to float32 ``x * factor`` (Keras's ``rescale``).

    Parameters
    ----------
    factor : float
        E.g. 1/255.
    layout : {"NHWC", "NCHW"}
    """

    def __init__(self, factor: float, layout: str = "NHWC"):
        self.scale = check_number(factor, "factor")
        self.mean, self.std = 0.0, 1.0
        self.layout = check_choice(layout, LAYOUTS, "layout")
        self._store(factor=factor, layout=layout)


class ToFloat(_Output):
    """Convert to float32 ``x / max_value`` (albumentations' ``ToFloat``).

    Parameters
    ----------
    max_value : float
        Default 255: values in 0..1.
    layout : {"NHWC", "NCHW"}
    """

    def __init__(self, max_value: float = 255.0, layout: str = "NHWC"):
        v = check_number(max_value, "max_value")
        if v == 0:
            raise ValueError("max_value must not be 0")
        self.scale = 1.0 / v
        self.mean, self.std = 0.0, 1.0
        self.layout = check_choice(layout, LAYOUTS, "layout")
        self._store(max_value=max_value, layout=layout)
