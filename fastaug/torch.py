"""PyTorch adapter: a :class:`fastaug.Loader` that yields torch tensors.

Imported lazily (``loader.to_torch()`` or ``import fastaug.torch``), so fastaug does not
depend on torch. Conversion happens in the loader's worker threads: ``torch.from_numpy``
shares the batch's memory (no copy), and a layout change or pinning, when asked for, is
done there too, off the training thread. Only the device copy runs in the consumer.

Data-parallel training: each process loads its own part of every epoch, e.g. under
``torchrun --nproc_per_node=8 train.py``::

    dist.init_process_group("nccl")
    loader = fastaug.Loader(images, labels, batch_size=256, augment=aug, seed=0,
                            shard=fastaug.torch.distributed_shard())
    for epoch in range(epochs):
        loader.set_epoch(epoch)  # same permutation on every rank, a new one per epoch
        for x, y in loader.to_torch(device=f"cuda:{local_rank}"):
            ...
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from .loader import Loader

__all__ = ["TorchLoader", "distributed_shard", "to_tensor"]

_CHANNELS = (1, 3, 4)


def _layout(x: np.ndarray) -> str:
    """NHWC or NCHW for a 4-D batch: uint8 batches are NHWC (fastaug only writes NCHW as
    float); float batches are told apart by where a channel-sized axis is."""
    if x.dtype == np.uint8:
        return "NHWC"
    if x.shape[3] in _CHANNELS and x.shape[1] not in _CHANNELS:
        return "NHWC"
    return "NCHW"


def to_tensor(x, channels_last: bool = False, pin_memory: bool = False):
    """One array as a torch tensor, without a copy where possible.

    Parameters
    ----------
    x : ndarray or torch.Tensor or None
        A 4-D batch ``(N, H, W, C)`` or ``(N, C, H, W)`` (see below), or anything
        ``torch.from_numpy`` takes (labels); tensors and None pass through.
    channels_last : bool
        For 4-D batches: return NCHW-shaped tensors in ``torch.channels_last`` memory
        format. An NHWC array becomes that by a free ``permute``; an NCHW one is copied.
        Otherwise 4-D batches come back NCHW-contiguous (an NHWC array is copied).
    pin_memory : bool
        Copy into page-locked memory (for asynchronous host-to-device copies).

    Returns
    -------
    torch.Tensor
        4-D image batches are always NCHW-shaped (the layout torch models expect).
    """
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        t = x
    else:
        arr = np.asarray(x)
        if not arr.flags.writeable:
            arr = arr.copy()  # torch tensors are writeable; never alias read-only memory
        t = torch.from_numpy(arr)
        if arr.ndim == 4:
            if _layout(arr) == "NHWC":
                t = t.permute(0, 3, 1, 2)  # a view in channels_last memory format
            if channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            else:
                t = t.contiguous()
    if pin_memory and not t.is_pinned():
        t = t.pin_memory()
    return t


def distributed_shard(group=None) -> tuple[int, int]:
    """``(rank, world_size)`` of this process, for ``Loader(shard=...)``.

    Parameters
    ----------
    group : torch.distributed.ProcessGroup, optional
        The data-parallel group (e.g. when tensor parallelism splits the world);
        default the whole world.

    Returns
    -------
    (int, int)
        From the initialised ``torch.distributed`` process group; else from the
        ``RANK`` and ``WORLD_SIZE`` environment variables (set by ``torchrun``); else
        ``(0, 1)``.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        if rank < 0:
            raise ValueError("this process is not a member of the given process group")
        return rank, world
    if group is not None:
        raise ValueError("group was given but torch.distributed is not initialised")
    env = {name: os.environ.get(name) for name in ("RANK", "WORLD_SIZE")}
    if env["RANK"] is None and env["WORLD_SIZE"] is None:
        return 0, 1
    if None in env.values():
        missing = [k for k, v in env.items() if v is None]
        raise ValueError(f"RANK and WORLD_SIZE must be set together; {missing[0]} is not set")
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    except ValueError:
        raise ValueError(f"RANK and WORLD_SIZE must be integers, got RANK={env['RANK']!r} "
                         f"WORLD_SIZE={env['WORLD_SIZE']!r}") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} need 0 <= RANK < WORLD_SIZE")
    return rank, world


class TorchLoader:
    """Iterate a :class:`fastaug.Loader` as torch tensors.

    Parameters
    ----------
    loader : Loader or Loader's source
        A :class:`fastaug.Loader`, or the arguments of one:
        ``TorchLoader(images, labels, batch_size=256, augment=aug, device="cuda")``.
    *args, **loader_kwargs
        Passed to :class:`fastaug.Loader` when ``loader`` is not one.
    device : str or torch.device, optional
        Copy each batch there in the consuming thread (non-blocking from pinned memory).
    pin_memory : bool
        Pin batches in the worker threads; ignored with a warning when no accelerator
        is available (like ``torch.utils.data.DataLoader``).
    channels_last : bool
        See :func:`to_tensor`.
    non_blocking : bool
        Use ``non_blocking`` device copies when the batch is pinned.

    Yields
    ------
    images : torch.Tensor
        4-D batches NCHW-shaped: uint8 ``(B, C, H, W)`` without augment, or the
        augment's float32 output.
    labels : torch.Tensor
        Only when the loader has labels: the pair ``(images, labels)``.
    """

    def __init__(self, loader, *args, device=None, pin_memory: bool = False,
                 channels_last: bool = False, non_blocking: bool = True, **loader_kwargs):
        if not isinstance(loader, Loader):
            loader = Loader(loader, *args, **loader_kwargs)
        elif args or loader_kwargs:
            raise TypeError("Loader arguments given with a Loader")
        self.loader = loader
        self.device = None if device is None else torch.device(device)
        if pin_memory and not torch.cuda.is_available():
            warnings.warn("pin_memory=True but no CUDA device is available: not pinning",
                          stacklevel=2)
            pin_memory = False
        self.pin_memory = bool(pin_memory)
        self.channels_last = bool(channels_last)
        self.non_blocking = bool(non_blocking)

    def _convert(self, images, labels):
        # Runs in the loader's worker threads.
        return (to_tensor(images, self.channels_last, self.pin_memory),
                to_tensor(labels, False, self.pin_memory))

    def _move(self, t):
        if self.device is None or t is None:
            return t
        return t.to(self.device, non_blocking=self.non_blocking and t.is_pinned())

    def __iter__(self) -> Iterator:
        with_labels = self.loader._labels is not None
        for item in self.loader._iterate(post=self._convert):
            if with_labels:
                yield self._move(item[0]), self._move(item[1])
            else:
                yield self._move(item)

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to :meth:`fastaug.Loader.set_epoch`."""
        self.loader.set_epoch(epoch)

    def close(self) -> None:
        """Stop the loader's threads (see :meth:`fastaug.Loader.close`)."""
        self.loader.close()

    def __enter__(self) -> TorchLoader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
