"""fastaug: C-accelerated batch image augmentation.

Batches are uint8 numpy arrays ``(N, H, W, C)``; see :mod:`fastaug.ops` for the native
operations and the conventions every part of the package follows, and
:class:`fastaug.Compose` for random pipelines.
"""
from . import ops, tta
from ._threads import get_num_threads, set_num_threads
from .compose import Compose
from .keras import ImageDataGenerator
from .loader import ImageFolder, Loader, Prefetcher, prefetch
from .transforms import (
    Affine,
    Brightness,
    CenterCrop,
    ChannelShift,
    ColorJitter,
    ColorMatrix,
    Contrast,
    CutMix,
    Cutout,
    GaussianBlur,
    GaussianNoise,
    Grayscale,
    HorizontalFlip,
    Hue,
    MixUp,
    Normalize,
    RandomCrop,
    RandomErasing,
    RandomResizedCrop,
    Rescale,
    Resize,
    Rotate,
    Saturation,
    Sharpen,
    ToFloat,
    Transform,
    VerticalFlip,
)

__version__ = "0.1.0"

__all__ = [
    "Affine",
    "Brightness",
    "CenterCrop",
    "ChannelShift",
    "ColorJitter",
    "ColorMatrix",
    "Compose",
    "Contrast",
    "CutMix",
    "Cutout",
    "GaussianBlur",
    "GaussianNoise",
    "Grayscale",
    "HorizontalFlip",
    "Hue",
    "ImageDataGenerator",
    "ImageFolder",
    "Loader",
    "Prefetcher",
    "MixUp",
    "Normalize",
    "RandomCrop",
    "RandomErasing",
    "RandomResizedCrop",
    "Rescale",
    "Resize",
    "Rotate",
    "Saturation",
    "Sharpen",
    "ToFloat",
    "Transform",
    "VerticalFlip",
    "get_num_threads",
    "prefetch",
    "ops",
    "tta",
    "set_num_threads",
    "__version__",
]
from .transforms import AugMix, AutoAugment, RandAugment, TrivialAugmentWide  # noqa: E402

__all__ += ["AugMix", "AutoAugment", "RandAugment", "TrivialAugmentWide"]
