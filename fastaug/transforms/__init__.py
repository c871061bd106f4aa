"""Random transforms for :class:`fastaug.Compose`, one module per family.

- :mod:`.geometric`: flips, affine warps, crops, resizes (folded into one matrix per image)
- :mod:`.color`: brightness, contrast, saturation, hue, jitter, channel shift, grayscale,
  user matrices (folded into one colour matrix per image)
- :mod:`.output`: conversion to float32 (folded into the same pass)
- :mod:`.pixel`: noise, blur, sharpening, erasing (their own native pass)
- :mod:`.batch`: MixUp and CutMix (mix images and labels of a batch)
"""
from .base import Random, Transform, from_config, sample_keys
from .batch import CutMix, MixUp
from .color import (
    Brightness,
    ChannelShift,
    ColorJitter,
    ColorMatrix,
    Contrast,
    Grayscale,
    Hue,
    Saturation,
)
from .geometric import (
    Affine,
    CenterCrop,
    HorizontalFlip,
    RandomCrop,
    RandomResizedCrop,
    Resize,
    Rotate,
    VerticalFlip,
)
from .output import Normalize, Rescale, ToFloat
from .pixel import Cutout, GaussianBlur, GaussianNoise, RandomErasing, Sharpen

__all__ = [
    "Affine",
    "Brightness",
    "CenterCrop",
    "ChannelShift",
    "ColorJitter",
    "ColorMatrix",
    "Contrast",
    "Cutout",
    "CutMix",
    "GaussianBlur",
    "GaussianNoise",
    "Grayscale",
    "HorizontalFlip",
    "Hue",
    "MixUp",
    "Normalize",
    "Random",
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
    "from_config",
    "sample_keys",
]
from .policies import AugMix, AutoAugment, RandAugment, TrivialAugmentWide  # noqa: E402

__all__ += ["AugMix", "AutoAugment", "RandAugment", "TrivialAugmentWide"]
