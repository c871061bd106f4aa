"""Background loading: worker threads that gather, decode and augment whole batches.

:class:`Loader` yields augmented numpy batches from an in-memory array (or a
``np.memmap``), a list of image files or an :class:`ImageFolder`, produced by worker
threads ahead of the consumer. :func:`prefetch` runs any iterator one step ahead in a
background thread. Both give the same guarantees, modelled on ``torch.utils.data``:

- **Order**: batches carry sequence numbers and come out in order; batch k of epoch e
  is the same whatever the number of workers and however threads are scheduled.
- **Bounded memory**: at most ``prefetch`` batches per worker are in flight or waiting.
- **Errors**: an exception in a worker travels through the queue as a value and is
  raised in the consumer at the batch where it happened, with the worker's traceback.
- **Shutdown**: every blocking wait has a timeout and checks a stop event; stopping is
  idempotent and happens on exhaustion, ``break``, ``close()``, ``with``, garbage
  collection and interpreter exit.

Plain Python threads are enough because the expensive parts (native kernels, file
reads, ``cv2.imdecode``, numpy gathers) release the GIL.
"""
from __future__ import annotations

import atexit
import inspect
import numbers
import os
import queue
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ._threads import get_num_threads
from .transforms.base import resolve_seed

__all__ = ["ImageFolder", "Loader", "Prefetcher", "prefetch"]

#: Seconds between checks of the stop event in every blocking wait.
_POLL = 0.05
#: Seconds to wait for each thread on shutdown (threads are daemons: a thread stuck in
#: user code cannot block interpreter exit).
_JOIN_TIMEOUT = 5.0

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm", ".jp2")

# Every running pipeline, so that interpreter exit can stop them (weak: a pipeline that
# is collected has already stopped).
_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for pipe in list(_LIVE):
        pipe.stop()


# ---- errors ------------------------------------------------------------------------


class _KeyErrorMessage(str):
    """KeyError prints repr(message); keep the traceback text readable."""

    def __repr__(self) -> str:
        return self


class _Failure:
    """An exception caught in a worker thread, carried to the consumer as a value."""

    def __init__(self, exc: BaseException, where: str):
        self.exc = exc
        self.where = where
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def reraise(self):
        msg = f"Caught {type(self.exc).__name__} in {self.where}.\nOriginal {self.text}"
        if isinstance(self.exc, KeyError):
            msg = _KeyErrorMessage(msg)
        try:
            err = type(self.exc)(msg)
        except Exception:
            # Exception types whose constructor does not take one message.
            err = RuntimeError(msg)
        raise err from self.exc


_END = object()  # end of stream; never None, which a user iterator may yield


# ---- shared machinery ----------------------------------------------------------------


class _Pipeline:
    """Threads, a stop event and an ordered result stream; no reference to its owner.

    Workers call :meth:`take` for the next task number (back-pressure: blocks while
    ``capacity`` tasks are outstanding), then :meth:`put` the result or a
    :class:`_Failure`. The consumer calls :meth:`get` for results in sequence order.
    """

    def __init__(self, n_tasks: int | None, capacity: int):
        self.n_tasks = n_tasks  # None: until a worker reports the end
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self._slots = threading.Semaphore(capacity)
        self._next_task = 0
        self._lock = threading.Lock()
        self._results: queue.Queue = queue.Queue()  # bounded by the slots
        self._pending: dict[int, Any] = {}
        self._next_out = 0
        self._stopped = False
        self.failed = False
        _LIVE.add(self)

    def start(self, target: Callable, count: int, name: str) -> None:
        for k in range(count):
            t = threading.Thread(target=target, args=(self, k), name=f"{name}-{k}",
                                 daemon=True)
            self.threads.append(t)
            t.start()

    # worker side
    def take(self) -> int | None:
        """The next task number, or None when there is none left or we are stopping."""
        while not self._slots.acquire(timeout=_POLL):
            if self.stop_event.is_set():
                return None
        with self._lock:
            k = self._next_task
            if (self.stop_event.is_set() or self.failed
                    or (self.n_tasks is not None and k >= self.n_tasks)):
                self._slots.release()
                return None
            self._next_task += 1
        return k

    def put(self, seq: int, value: Any) -> None:
        if isinstance(value, _Failure):
            # The consumer stops at this task; every earlier one is already taken
            # (tasks are taken in order), so nothing after it is worth starting.
            self.failed = True
        self._results.put((seq, value))

    # consumer side
    def get(self, timeout: float | None = None) -> Any:
        """The result of the next task in order, or ``_END``.

        Raises TimeoutError after ``timeout`` seconds without it, and RuntimeError if
        every worker died without producing it (never blocks forever).
        """
        seq = self._next_out
        if self.stop_event.is_set() or self.n_tasks is not None and seq >= self.n_tasks:
            return _END
        deadline = None if timeout is None else time.monotonic() + timeout
        while seq not in self._pending:
            try:
                k, value = self._results.get(timeout=_POLL)
            except queue.Empty:
                if self.stop_event.is_set():
                    return _END  # closed from elsewhere: the iteration just ends
                if not any(t.is_alive() for t in self.threads) and self._results.empty():
                    raise RuntimeError("loader worker threads exited without producing "
                                       f"batch {seq}") from None
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"no batch from the workers in {timeout} s") from None
                continue
            self._pending[k] = value
        self._next_out += 1
        return self._pending.pop(seq)

    def release(self) -> None:
        """The consumer is done with one result: a worker may start another task."""
        self._slots.release()

    def stop(self) -> None:
        """Stop and join the threads; idempotent, callable from any thread."""
        self.stop_event.set()
        if self._stopped:
            return
        self._stopped = True
        me = threading.current_thread()
        for t in self.threads:
            if t is not me:
                t.join(_JOIN_TIMEOUT)
        self._pending.clear()
        _LIVE.discard(self)


# ---- prefetch ----------------------------------------------------------------------


def _produce(pipe: _Pipeline, _k: int, it: Iterator) -> None:
    try:
        seq = 0
        while True:
            if pipe.take() is None:
                return
            try:
                item = next(it)
            except StopIteration:
                pipe.put(seq, _END)
                return
            except BaseException as exc:  # noqa: BLE001 - delivered to the consumer
                pipe.put(seq, _Failure(exc, "prefetch thread"))
                return
            pipe.put(seq, item)
            seq += 1
    finally:
        # Only this thread may close a generator it is running.
        close = getattr(it, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - nothing useful to do at shutdown
                pass


class Prefetcher:
    """An iterator that runs another one ahead in a background thread.

    Made by :func:`prefetch`; also a context manager. :meth:`close` stops the thread
    (it is also called on exhaustion, on an error, and when the object is collected).
    """

    def __init__(self, iterable: Iterable, depth: int = 2):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        self._it = iter(iterable)
        self._pipe = _Pipeline(None, depth)
        it = self._it
        self._pipe.start(lambda pipe, k: _produce(pipe, k, it), 1, "fastaug-prefetch")
        self._done = False
        self._finalizer = weakref.finalize(self, self._pipe.stop)

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            item = self._pipe.get()
            self._pipe.release()
        except BaseException:
            self.close()
            raise
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            item.reraise()
        return item

    def close(self) -> None:
        """Stop the background thread; idempotent."""
        self._done = True
        self._finalizer()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def prefetch(iterable: Iterable, depth: int = 2) -> Prefetcher:
    """Iterate ``iterable`` in a background thread, up to ``depth`` items ahead.

    Works for any iterator (a generator, a :class:`Loader`, a ``tf.data`` or torch
    iterator) with :class:`Loader`'s guarantees: same order, an exception raised by the
    iterator is raised here at the same position with its traceback text, and the thread
    stops on exhaustion, ``break``, ``close()``, ``with`` and garbage collection. A
    thread blocked inside the source's own ``next`` is only stopped when that returns.

    Parameters
    ----------
    iterable : iterable
        Anything; items are passed through unchanged.
    depth : int
        Maximum number of items produced ahead of the consumer.

    Returns
    -------
    Prefetcher
        An iterator (and context manager) over the same items.
    """
    return Prefetcher(iterable, depth)


# ---- sources ----------------------------------------------------------------------


class ImageFolder:
    """Image files in one subfolder per class, like torchvision's ``ImageFolder``.

    ``root/cat/1.jpg`` gets the label of ``cat``; classes are the sorted subfolder names
    and files are sorted within each class, so the order is reproducible.

    Parameters
    ----------
    root : str or os.PathLike
        Folder of class subfolders (files are found recursively inside each).
    extensions : sequence of str
        File name endings to keep (case-insensitive).

    Attributes
    ----------
    classes : list of str
    class_to_idx : dict of str to int
    paths : list of str
    labels : ndarray, int64, shape (N,)
    """

    def __init__(self, root: str | os.PathLike,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise ValueError(f"root must be a folder, got {self.root!r}")
        exts = tuple(e.lower() for e in extensions)
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        if not self.classes:
            raise ValueError(f"no class subfolders in {self.root!r}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        paths, labels = [], []
        for c in self.classes:
            found = []
            for dirpath, _, files in os.walk(os.path.join(self.root, c), followlinks=True):
                found += [os.path.join(dirpath, f) for f in files if f.lower().endswith(exts)]
            found.sort()
            paths += found
            labels += [self.class_to_idx[c]] * len(found)
        if not paths:
            raise ValueError(f"no image files with extensions {exts} under {self.root!r}")
        self.paths: list[str] = paths
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, k: int) -> tuple[str, int]:
        return self.paths[k], int(self.labels[k])

    def __repr__(self) -> str:
        return (f"ImageFolder({self.root!r}: {len(self.paths)} images, "
                f"{len(self.classes)} classes)")


def _jpeg_size(data: np.ndarray) -> tuple[int, int] | None:
    """(height, width) from a JPEG's frame header, or None if not a JPEG."""
    b = data
    n = len(b)
    if n < 4 or b[0] != 0xFF or b[1] != 0xD8:
        return None
    i = 2
    while i + 9 < n:
        if b[i] != 0xFF:
            return None
        marker = int(b[i + 1])
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # no length field
            i += 2
            continue
        length = (int(b[i + 2]) << 8) | int(b[i + 3])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (int(b[i + 5]) << 8) | int(b[i + 6]), (int(b[i + 7]) << 8) | int(b[i + 8])
        i += 2 + length
    return None


def check_decoding(channels, decode_size) -> tuple[int, tuple[int, int] | None]:
    """``channels`` (1 or 3) and ``decode_size`` (positive ``(height, width)`` or None),
    checked."""
    if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or \
            channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if decode_size is not None:
        if not (isinstance(decode_size, (tuple, list)) and len(decode_size) == 2 and all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
                for s in decode_size)):
            raise ValueError("decode_size must be (height, width) of positive integers, got "
                             f"{decode_size!r}")
        decode_size = (int(decode_size[0]), int(decode_size[1]))
    return int(channels), decode_size


class _Decoder:
    """Reads and decodes one file in a worker thread (file IO and imdecode drop the GIL)."""

    def __init__(self, channels: int, decode_size: tuple[int, int] | None):
        import cv2  # optional dependency: only for file sources

        self.cv2 = cv2
        self.channels = channels
        self.decode_size = decode_size
        if channels == 1:
            self.flags = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
                          4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
        else:
            self.flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                          4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}

    def factor(self, data: np.ndarray) -> int:
        """Largest JPEG reduction that keeps the image at least ``decode_size``."""
        if self.decode_size is None:
            return 1
        size = _jpeg_size(data)
        if size is None:
            return 1  # other formats would be decoded in full and resized: no gain
        h, w = size
        th, tw = self.decode_size
        for f in (8, 4, 2):
            rh, rw = -(-h // f), -(-w // f)
            # Large enough in both orientations: imdecode may apply an EXIF rotation.
            if min(rh, rw) >= max(th, tw):
                return f
        return 1

    def __call__(self, path: str) -> np.ndarray:
        return self.decode(np.fromfile(path, dtype=np.uint8), f"image file {path!r}")

    def decode(self, data: np.ndarray, what: str) -> np.ndarray:
        """Encoded bytes (uint8 (K,)) as uint8 (H, W, channels); ``what`` names them in
        the error raised when they do not decode."""
        img = None
        if data.size:
            img = self.cv2.imdecode(data, self.flags[self.factor(data)])
        if img is None:
            raise ValueError(f"cannot decode {what} (corrupt or not an image)")
        if self.channels == 1:
            return img[:, :, None]
        return self.cv2.cvtColor(img, self.cv2.COLOR_BGR2RGB)


def _accepts(fn: Callable, name: str, var_kw: bool = True) -> bool:
    """Whether ``fn`` takes keyword ``name`` (or, with ``var_kw``, any keyword)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or var_kw and any(p.kind is p.VAR_KEYWORD
                                            for p in params.values())


# ---- Loader -----------------------------------------------------------------------


class _Job:
    """What the workers need for one epoch; deliberately holds no reference to the Loader
    so that dropping the Loader collects it (and stops the threads)."""

    def __init__(self, loader: Loader, batches: list, epoch: int, post: Callable | None):
        self.batches = batches
        self.epoch = epoch
        self.array = loader._array
        self.paths = loader._paths
        self.labels = loader._labels
        self.decode = loader._decoder
        self.augment = loader._augment
        self.aug_indices = loader._aug_indices
        self.aug_threads = loader._aug_threads
        self.collate = loader._collate
        self.post = post
        self.skip = loader.on_error == "skip"
        self.ring = loader._new_ring() if loader.reuse_buffers else None
        self.out_ring = (loader._new_ring() if loader.reuse_buffers and loader._aug_out
                         else None)

    def gather(self, seq: int, idx: np.ndarray):
        """(images, kept indices, skipped [(path, message)]) for one batch."""
        if self.array is not None:
            out = None
            if self.ring is not None:
                shape = (len(idx),) + self.array.shape[1:]
                out = self.ring.get(seq, shape, self.array.dtype)
            if not isinstance(self.array, np.memmap) or np.all(idx[:-1] <= idx[1:]):
                return np.take(self.array, idx, axis=0, out=out), idx, []
            # Reading a memmap in file order is much faster; then put rows in place.
            order = np.argsort(idx, kind="stable")
            src = np.asarray(self.array[idx[order]])
            res = out if out is not None else np.empty_like(src)
            res[order] = src
            return res, idx, []
        images, kept, skipped = [], [], []
        for i in idx:
            path = self.paths[i]
            try:
                images.append(self.decode(path))
            except Exception as exc:
                if not self.skip:
                    raise
                skipped.append((path, str(exc)))
                continue
            kept.append(i)
        kept = np.asarray(kept, dtype=np.int64)
        if images and all(im.shape == images[0].shape for im in images):
            out = None
            if self.ring is not None:
                out = self.ring.get(seq, (len(images),) + images[0].shape, np.uint8)
            return np.stack(images, out=out), kept, skipped
        if images and self.augment is None:
            raise ValueError("images of batch have different sizes "
                             f"{sorted({im.shape for im in images})}; give an augment that "
                             "resizes them to one size")
        return images, kept, skipped

    def run(self, seq: int):
        """The finished batch ``seq``: (images, labels or None, skipped)."""
        idx = self.batches[seq]
        images, idx, skipped = self.gather(seq, idx)
        if len(idx) == 0:
            return None, None, skipped
        labels = None if self.labels is None else self.labels[idx]
        if self.augment is not None:
            kwargs = {}
            if self.aug_indices:
                kwargs["indices"] = idx
            if self.aug_threads is not None:
                kwargs["threads"] = self.aug_threads
            if self.out_ring is not None:
                # Reuse this slot's previous output when the batch size matches.
                slot = seq % self.out_ring.size
                buf = self.out_ring.buffers[slot]
                if isinstance(buf, np.ndarray) and len(buf) == len(idx):
                    kwargs["out"] = buf
                images = self.augment(images, **kwargs)
                self.out_ring.buffers[slot] = images
            else:
                images = self.augment(images, **kwargs)
        if self.collate is not None:
            images, labels = self.collate(images, labels)
        if self.post is not None:
            images, labels = self.post(images, labels)
        return images, labels, skipped


class _Ring:
    """Output buffers reused in turn (see ``Loader(reuse_buffers=True)``)."""

    def __init__(self, size: int):
        self.size = size
        self.buffers: list = [None] * size

    def get(self, seq: int, shape: tuple, dtype) -> np.ndarray:
        k = seq % self.size
        buf = self.buffers[k]
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self.buffers[k] = np.empty(shape, dtype)
        return buf


def _work(pipe: _Pipeline, k: int, job: _Job) -> None:
    while True:
        seq = pipe.take()
        if seq is None:
            return
        try:
            value = job.run(seq)
        except BaseException as exc:  # noqa: BLE001 - delivered to the consumer
            value = _Failure(exc, f"loader worker thread {k} (batch {seq} of epoch "
                                  f"{job.epoch})")
        pipe.put(seq, value)


class Loader:
    """Yield augmented batches produced by worker threads ahead of the consumer.

    Parameters
    ----------
    source : ndarray, ImageFolder or sequence of str
        A uint8 array ``(N, H, W, C)`` or ``(N, H, W)`` (a ``np.memmap`` larger than
        memory works: only the batches in flight are read); an :class:`ImageFolder`
        (its labels are used unless ``labels`` is given); or a sequence of image file
        paths, decoded with OpenCV in the workers to uint8 RGB ``(H, W, 3)`` (or
        ``(H, W, 1)`` with ``channels=1``).
    labels : array_like, shape (N, ...), optional
        One label per sample, indexed along with the images.
    batch_size : int
        Samples per batch (the last one may be smaller unless ``drop_last``).
    augment : callable, optional
        ``augment(images, indices=idx)`` -> batch, e.g. a :class:`fastaug.Compose`.
        ``indices`` (int64 ``(B,)``, the global sample ids) is passed when accepted so
        that per-sample random parameters follow the sample, not the worker or batch
        (without it the output depends on scheduling). ``threads=1`` is passed when
        accepted; an object with a ``threads`` attribute that is None (Compose's
        default) is copied with ``threads=1``, so workers do not oversubscribe the
        CPUs; set ``threads`` on it yourself to override. ``set_epoch`` is forwarded.
        For file sources whose images differ in size, ``images`` is a list of
        ``(H, W, C)`` arrays and ``augment`` must bring them to one size.
    shuffle : bool
        Permute the samples each epoch (from ``seed`` and the epoch).
    drop_last : bool
        Drop the last incomplete batch (and, with ``shard``, the samples that do not
        divide evenly among the ranks instead of padding).
    seed : int, optional
        Non-negative; None draws one from the OS (``loader.seed`` tells which).
    workers : int, optional
        Worker threads; default :func:`fastaug.get_num_threads`. 0 runs everything in
        the consuming thread (same batches, no background work).
    prefetch : int
        Batches per worker that may be in flight or waiting (bounds memory).
    shard : (int, int), optional
        ``(rank, world_size)``, e.g. :func:`fastaug.torch.distributed_shard`: this
        process gets every ``world_size``-th sample of each epoch's permutation from
        ``rank`` on, the same number on every rank. Together the ranks cover the epoch
        once (padded by repeating its first samples, like ``DistributedSampler``;
        with ``drop_last`` the last ``N % world_size`` are dropped instead). All ranks
        must pass the same ``seed`` (required when shuffling) and an ``augment`` with
        the same seed: augmentation follows the sample id, so sample ``i`` is
        augmented alike whichever rank draws it.
    collate : callable, optional
        ``collate(images, labels) -> (images, labels)``, run in the worker after
        ``augment`` (labels is None without labels).
    on_error : {"raise", "skip"}
        A file that cannot be read or decoded raises (naming the file) at its batch, or
        is left out of its batch and recorded in :attr:`skipped`.
    reuse_buffers : bool
        Gather batches into a small ring of buffers instead of allocating each; without
        ``augment`` those are yielded, and an ``augment`` that takes ``out=`` (like the
        :mod:`fastaug.ops` functions) writes into a ring of output buffers (it must then
        return the same shape for the same batch size). Contract: only the two most
        recently yielded batches are valid; copy anything you keep longer.
    decode_size : (int, int), optional
        ``(height, width)`` the pipeline needs at least: JPEG files are decoded at 1/2,
        1/4 or 1/8 scale (``IMREAD_REDUCED_*``) when the result is still that large.
    channels : {1, 3}
        Channels of decoded files (grayscale or RGB).
    timeout : float, optional
        Seconds to wait for one batch before raising TimeoutError.

    Yields
    ------
    images : ndarray or whatever ``augment``/``collate`` return
        uint8 ``(B, H, W, C)`` without ``augment``.
    labels : ndarray, shape (B, ...)
        Only when there are labels: the pair ``(images, labels)`` is yielded.

    Notes
    -----
    ``augment`` and ``collate`` are called from several threads at once: they must be
    thread-safe (Compose is). Iterate one epoch at a time: calling :meth:`set_epoch`
    while an iteration is still running changes the epoch that ``augment`` sees for
    the batches not yet made. A batch from which every file was skipped is not
    yielded, so ``len(loader)`` is then an upper bound.

    Examples
    --------
    >>> aug = fastaug.Compose([fastaug.RandomResizedCrop(224), fastaug.HorizontalFlip(),
    ...                        fastaug.Normalize(layout="NCHW")], seed=0)
    >>> loader = fastaug.Loader(fastaug.ImageFolder("train"), batch_size=256,
    ...                         augment=aug, seed=0, decode_size=(224, 224))
    >>> for epoch in range(90):
    ...     loader.set_epoch(epoch)
    ...     for images, labels in loader:  # float32 (256, 3, 224, 224), int64 (256,)
    ...         step(images, labels)
    """

    def __init__(self, source, labels=None, *, batch_size: int,
                 augment: Callable | None = None, shuffle: bool = True,
                 drop_last: bool = False, seed: int | None = None,
                 workers: int | None = None, prefetch: int = 2,
                 shard: tuple[int, int] | None = None,
                 collate: Callable | None = None, on_error: str = "raise",
                 reuse_buffers: bool = False,
                 decode_size: tuple[int, int] | None = None, channels: int = 3,
                 timeout: float | None = None):
        self._array: np.ndarray | None = None
        self._paths: list | None = None
        self._decoder: _Decoder | None = None
        if isinstance(source, ImageFolder):
            self._paths = list(source.paths)
            if labels is None:
                labels = source.labels
        elif isinstance(source, np.ndarray):
            if source.dtype != np.uint8:
                raise TypeError(f"source must be a uint8 array, got dtype {source.dtype}")
            if source.ndim not in (3, 4) or (source.ndim == 4 and source.shape[3] not in
                                             (1, 3, 4)):
                raise ValueError("source must have shape (N, H, W, C) with C in {1, 3, 4} "
                                 f"or (N, H, W), got {source.shape}")
            self._array = source
        elif isinstance(source, (str, bytes)) or not isinstance(source, Sequence):
            raise TypeError("source must be a uint8 array, an ImageFolder or a sequence of "
                            f"file paths, got {type(source).__name__}")
        else:
            self._paths = [os.fspath(p) for p in source]
        if self._paths is not None:
            self._decoder = _Decoder(*check_decoding(channels, decode_size))
        self._n = len(self._array) if self._array is not None else len(self._paths)
        if self._n == 0:
            raise ValueError("source is empty")

        if labels is not None:
            labels = np.asarray(labels)
            if labels.ndim == 0 or len(labels) != self._n:
                raise ValueError(f"labels must have one entry per sample ({self._n}), got "
                                 f"shape {labels.shape}")
        self._labels = labels

        self.batch_size = _positive(batch_size, "batch_size")
        self.prefetch = _positive(prefetch, "prefetch")
        if workers is None:
            workers = get_num_threads()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be a non-negative integer, got {workers!r}")
        self.workers = workers
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.reuse_buffers = bool(reuse_buffers)
        self.timeout = timeout
        if shard is None:
            shard = (0, 1)
        try:
            rank, world = (int(s) for s in shard)
        except (TypeError, ValueError):
            raise ValueError(f"shard must be (rank, world_size), got {shard!r}") from None
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"shard must be (rank, world_size) with 0 <= rank < "
                             f"world_size, got {shard!r}")
        if drop_last and self._n < world:
            raise ValueError(f"{self._n} samples cannot be split among {world} ranks")
        self.shard = (rank, world)
        if seed is None:
            if world > 1 and self.shuffle:
                # Each rank would draw its own permutation: the shards would overlap.
                raise ValueError(f"seed is required with shard={shard!r} and shuffle=True: "
                                 "every rank must draw the same permutation")
        self.seed = resolve_seed(seed)

        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be callable, got {augment!r}")
        if collate is not None and not callable(collate):
            raise TypeError(f"collate must be callable, got {collate!r}")
        self.augment = augment
        self._augment = augment
        self._aug_indices = augment is not None and _accepts(augment, "indices")
        self._aug_threads = 1 if augment is not None and _accepts(augment, "threads") else None
        self._aug_out = augment is not None and _accepts(augment, "out", var_kw=False)
        if (augment is not None and self._aug_threads is None
                and getattr(augment, "threads", 0) is None):
            # Compose-like: one native thread per worker, on a copy so that the user's
            # object is untouched (it keeps its own default for direct calls).
            import copy

            self._augment = copy.copy(augment)
            self._augment.threads = 1
        self._collate = collate
        self._epoch = 0
        self.skipped: list[tuple[str, str]] = []
        self._pipes: weakref.WeakSet = weakref.WeakSet()
        # Stops the threads when the Loader is collected or at interpreter exit; holds
        # no reference to self.
        self._finalizer = weakref.finalize(self, _stop_pipes, self._pipes)

    # ---- order ------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch the next iteration produces (see :meth:`set_epoch`)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of the next iteration: its permutation and augmentation seeds.

        Parameters
        ----------
        epoch : int
            Non-negative.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self._epoch = int(epoch)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """The sample ids this rank visits in ``epoch``, in order.

        Returns
        -------
        ndarray, int64, shape (M,)
        """
        epoch = self._epoch if epoch is None else epoch
        n = self._n
        if self.shuffle:
            perm = np.random.default_rng([self.seed, epoch]).permutation(n)
        else:
            perm = np.arange(n, dtype=np.int64)
        rank, world = self.shard
        if world > 1:
            if self.drop_last:
                perm = perm[: n // world * world]
            else:
                total = -(-n // world) * world
                reps = -(-total // n)
                perm = np.tile(perm, reps)[:total]
            perm = perm[rank::world]
        return perm.astype(np.int64)

    def batches(self, epoch: int | None = None) -> list[np.ndarray]:
        """The sample ids of each batch of ``epoch`` (default the current one)."""
        idx = self.indices(epoch)
        stop = len(idx) - len(idx) % self.batch_size if self.drop_last else len(idx)
        return [idx[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def __len__(self) -> int:
        world = self.shard[1]
        m = self._n // world if self.drop_last else -(-self._n // world)  # per rank
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    # ---- iteration ------------------------------------------------------------

    def __iter__(self) -> Iterator:
        return self._iterate()

    def _new_ring(self) -> _Ring:
        # While the consumer holds batch k, workers write at most batches
        # k+1 .. k+capacity-1 (k's slot is held until the next request), so
        # capacity + 2 buffers keep the two most recent batches intact.
        return _Ring(max(1, self.workers) * self.prefetch + 2)

    def _iterate(self, post: Callable | None = None) -> Iterator:
        epoch = self._epoch
        if self.augment is not None and hasattr(self.augment, "set_epoch"):
            self.augment.set_epoch(epoch)
            if self._augment is not self.augment:
                self._augment.set_epoch(epoch)
        job = _Job(self, self.batches(epoch), epoch, post)
        with_labels = self._labels is not None
        if self.workers == 0:
            for seq in range(len(job.batches)):
                images, labels, skipped = job.run(seq)
                self.skipped += skipped
                if images is not None:
                    yield (images, labels) if with_labels else images
            return
        pipe = _Pipeline(len(job.batches), self.workers * self.prefetch)
        self._pipes.add(pipe)
        try:
            pipe.start(lambda p, k: _work(p, k, job), self.workers, "fastaug-loader")
            while True:
                value = pipe.get(self.timeout)
                if value is _END:
                    return
                if isinstance(value, _Failure):
                    value.reraise()
                images, labels, skipped = value
                self.skipped += skipped
                if images is not None:
                    yield (images, labels) if with_labels else images
                # Only now may a worker reuse this batch's slot (and ring buffer).
                pipe.release()
        finally:
            pipe.stop()

    def close(self) -> None:
        """Stop the worker threads of every iteration in progress; idempotent.

        Iterations in progress end (their next ``next`` raises StopIteration); the
        Loader stays usable: iterating again starts new threads.
        """
        _stop_pipes(self._pipes)

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()

    def __repr__(self) -> str:
        kind = "array" if self._array is not None else "files"
        return (f"Loader({self._n} samples ({kind}), batch_size={self.batch_size}, "
                f"workers={self.workers}, prefetch={self.prefetch}, shard={self.shard}, "
                f"seed={self.seed})")

    # ---- framework adapters ------------------------------------------------------

    def to_torch(self, device=None, pin_memory: bool = False, channels_last: bool = False,
                 non_blocking: bool = True):
        """This loader as torch tensors: see :class:`fastaug.torch.TorchLoader`."""
        from .torch import TorchLoader

        return TorchLoader(self, device=device, pin_memory=pin_memory,
                           channels_last=channels_last, non_blocking=non_blocking)


    def to_jax(self, device=None) -> Iterator:
        """Iterate as JAX arrays, each batch placed with ``jax.device_put(x, device)``.

        The transfer is asynchronous in JAX, so it overlaps with the previous step.

        Parameters
        ----------
        device : jax.Device or jax.sharding.Sharding, optional
            Default JAX's default device.

        Yields
        ------
        jax.Array or (jax.Array, jax.Array)
            The batches of this loader (NHWC or whatever ``augment`` returns).
        """
        import jax

        for item in self:
            yield jax.device_put(item, device)

    def to_tf_dataset(self, output_signature=None):
        """This loader as a ``tf.data.Dataset`` (for ``model.fit`` and ``tf.data`` code).

        Each complete pass advances :attr:`epoch`, so ``model.fit(ds, epochs=E)``
        reshuffles and reseeds every epoch.

        Parameters
        ----------
        output_signature : tf.TensorSpec or tuple of them, optional
            Default: taken from the first batch of the current epoch (computed once,
            in this thread), with the batch dimension left as None.

        Returns
        -------
        tf.data.Dataset
        """
        import tensorflow as tf

        if output_signature is None:
            job = _Job(self, self.batches(self._epoch)[:1], self._epoch, None)
            images, labels, _ = job.run(0)

            def spec(x):
                x = np.asarray(x)
                return tf.TensorSpec((None,) + x.shape[1:], tf.as_dtype(x.dtype))

            output_signature = spec(images) if labels is None else (spec(images),
                                                                    spec(labels))

        def generate():
            yield from self
            self.set_epoch(self._epoch + 1)

        return tf.data.Dataset.from_generator(generate, output_signature=output_signature)

    def to_keras(self):
        """This loader as a ``keras.utils.PyDataset`` for ``model.fit`` (Keras 3).

        Batches asked for in order come from the prefetching workers; any other index
        is built on the spot (the same batch: its content depends only on the epoch
        and its position). ``on_epoch_end`` advances :attr:`epoch`, so every epoch of
        ``model.fit`` reshuffles and reseeds.

        Returns
        -------
        keras.utils.PyDataset
            ``len()`` batches; item ``k`` is ``(images, labels)`` or ``images``.
        """
        from keras.utils import PyDataset

        loader = self

        class LoaderDataset(PyDataset):
            def __init__(self):
                super().__init__()  # one Keras worker: the loader has its own threads
                self._it, self._next = None, 0

            def __len__(self):
                return len(loader)

            def __getitem__(self, k):
                if self._it is None or k != self._next:
                    self._close()
                    if k != 0:  # out of order: build batch k alone
                        job = _Job(loader, [loader.batches()[k]], loader.epoch, None)
                        images, labels, _ = job.run(0)
                        return images if labels is None else (images, labels)
                    self._it = iter(loader)
                self._next = k + 1
                return next(self._it)

            def on_epoch_end(self):
                self._close()
                loader.set_epoch(loader.epoch + 1)

            def _close(self):
                if self._it is not None:
                    self._it.close()
                self._it, self._next = None, 0

        return LoaderDataset()


def _stop_pipes(pipes) -> None:
    for pipe in list(pipes):
        pipe.stop()


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)

