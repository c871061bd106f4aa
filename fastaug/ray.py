"""Ray Data: fastaug as a ``map_batches`` stage, reproducible however Ray splits the work.

::

    import ray
    import fastaug
    from fastaug.ray import Augment

    aug = fastaug.Compose([fastaug.RandomResizedCrop(224), fastaug.HorizontalFlip(),
                           fastaug.ColorJitter(0.4, 0.4, 0.4), fastaug.Normalize(layout="NCHW")])
    ds = ray.data.read_binary_files("s3://bucket/train/", include_paths=True)
    ds = ds.map_batches(Augment, fn_constructor_kwargs={
                            "pipeline": aug.to_config(), "seed": 0, "epoch": epoch,
                            "image_column": "bytes", "id_column": "path"},
                        batch_format="numpy", batch_size=256, num_cpus=2,
                        compute=ray.data.ActorPoolStrategy(size=8))  # concurrency=8 before Ray 2.51

Ray builds one :class:`Augment` per actor from ``fn_constructor_kwargs`` and calls it on
numpy batches (``dict`` of column name to array). The image column becomes the
augmented batch; every other column passes through.

Reproducibility
---------------
Each row's random parameters derive from ``(seed, epoch, row id)`` (the row id is the
value in ``id_column``, passed to the pipeline as its global sample index), never from
the row's position in a block, the number of actors or the order in which they run.
Integer ids are used as they are; string or bytes ids (file paths) are hashed with
BLAKE2b into 63-bit indices, the same in every process. ``Augment(...)(batch)`` equals
``pipeline.set_epoch(epoch); pipeline(images, indices=ids)``. For a new epoch, build the
stage again with ``"epoch": e`` (and shuffle with ``ds.random_shuffle(seed=e)``: ids
travel with their rows). Pipelines with batch-level transforms (``MixUp``, ``CutMix``)
are refused: they mix the rows of a batch, and Ray decides the batches.

Threads
-------
An actor runs the kernels (and decodes images) on as many threads as it has CPUs from
Ray (``num_cpus=`` of ``map_batches``, default 1), so the actors of a node never use
more cores than Ray handed out. ``threads=`` may ask for fewer, never more.

Errors
------
A row that fails (bytes that do not decode, a missing file, a target that does not fit
its image) raises a ``ValueError`` naming its row id and column; Ray raises it in the
driver wrapped in ``ray.exceptions.RayTaskError``.

On a multi-node cluster
-----------------------
The same code runs on a cluster: connect with ``ray.init(address="auto")`` (from a
node of the cluster) or ``ray.init("ray://head:10001")`` (Ray Client). Every node
needs fastaug (and OpenCV to decode) installed, in its image or via
``ray.init(runtime_env={"pip": ["fastaug", "opencv-python-headless"]})``; file paths
must be visible from every node (a shared file system or cloud storage read by
``ray.data.read_*``). Pass the pipeline as a ``Compose`` or its ``to_config()`` dict (a
JSON/YAML path is read on each actor, so it must exist on every node). Size the actors
with resources: ``num_cpus=`` per actor sets its kernel threads, and
``compute=ray.data.ActorPoolStrategy(min_size=2, max_size=64)`` lets the pool grow
with the cluster.

Feeding a training loop
-----------------------
``ds.iter_torch_batches(batch_size=256, device="cuda")`` yields ``dict`` s of torch
tensors, the image column float32 ``(B, 3, 224, 224)`` with ``Normalize(layout="NCHW")``;
with Ray Train, ``ray.train.get_dataset_shard("train").iter_torch_batches(...)`` gives
each worker its part::

    for epoch in range(epochs):
        stage = ds.random_shuffle(seed=epoch).map_batches(Augment, fn_constructor_kwargs={
            "pipeline": config, "seed": 0, "epoch": epoch}, batch_format="numpy",
            num_cpus=1, compute=ray.data.ActorPoolStrategy(size=4))
        for batch in stage.iter_torch_batches(batch_size=256, device="cuda",
                                              prefetch_batches=4):
            loss = model(batch["image"]), batch["label"] ...

Ray is imported by Ray, never by fastaug: this module works without it (a plain call
on a numpy batch), and reads its CPU allocation only inside a Ray worker.
"""
from __future__ import annotations

import copy
import hashlib
import numbers
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import numpy as np

from ._threads import _check_threads, get_num_threads
from .compose import Compose
from .loader import check_decoding
from .targets import TargetOptions
from .transforms.base import SampleStream, resolve_seed

__all__ = ["Augment", "row_indices"]

#: Target kinds and the Compose keyword each feeds (``labels``: per-box labels).
TARGET_KINDS = ("masks", "boxes", "keypoints", "labels")
_MAX_INDEX = (1 << 63) - 1


def row_indices(ids: Any, column: str = "id") -> np.ndarray:
    """The pipeline's global sample indices for a column of row ids.

    Parameters
    ----------
    ids : array_like, shape (N,)
        Non-negative integers (used as they are), or strings / bytes (hashed with
        BLAKE2b into 63 bits: the same in every process and on every machine).
    column : str
        The column's name, for error messages.

    Returns
    -------
    ndarray, int64, shape (N,)
    """
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"id column {column!r} must hold one scalar id per row, got "
                         f"shape {arr.shape}")
    if len(arr) == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind == "O":
        kinds = {_id_kind(v) for v in arr}
        if kinds == {"int"}:
            values = [int(v) for v in arr]
            if min(values) < 0 or max(values) > _MAX_INDEX:
                raise ValueError(f"id column {column!r} must hold integers in "
                                 f"0..2**63-1, got {min(values)}..{max(values)}")
            return np.array(values, np.int64)
        if kinds <= {"str", "bytes"}:
            return np.array([_hash_id(v) for v in arr], np.int64)
        raise TypeError(f"id column {column!r} must hold integers or strings, got "
                        f"{sorted(type(v).__name__ for v in arr[:3])}...")
    if arr.dtype.kind in "US":
        return np.array([_hash_id(v) for v in arr.tolist()], np.int64)
    if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        raise TypeError(f"id column {column!r} must hold integers or strings, got dtype "
                        f"{arr.dtype}")
    if arr.min() < 0 or int(arr.max()) > _MAX_INDEX:
        raise ValueError(f"id column {column!r} must hold integers in 0..2**63-1, got "
                         f"{arr.min()}..{arr.max()}")
    return arr.astype(np.int64)


def _id_kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "other"
    if isinstance(v, numbers.Integral):
        return "int"
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bytes, np.bytes_)):
        return "bytes"
    return "other"


def _scalar(v):
    """A numpy scalar as the Python value (for messages)."""
    return v.item() if isinstance(v, np.generic) else v


def _hash_id(v) -> int:
    data = v.encode("utf-8") if isinstance(v, str) else bytes(v)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def _ray_cpus() -> float | None:
    """CPUs Ray assigned to the current worker (actor or task), None outside one."""
    ray = sys.modules.get("ray")  # in a Ray worker, Ray is already imported
    if ray is None or not getattr(ray, "is_initialized", lambda: False)():
        return None
    ctx = ray.get_runtime_context()
    if ctx.get_actor_id() is None and ctx.get_task_id() is None:
        return None  # the driver
    return float(ctx.get_assigned_resources().get("CPU", 0.0))


def _load_pipeline(pipeline, seed) -> SampleStream:
    """A private copy of the pipeline, with ``seed`` applied; never seeded by the OS."""
    from .__main__ import build_pipeline, read_pipeline

    spec, value, what = "pipeline", pipeline, "pipeline"
    if isinstance(pipeline, (str, os.PathLike)):
        spec = os.fspath(pipeline)
        value = read_pipeline(spec)
        what = f"pipeline {spec!r}"
    if not isinstance(value, (SampleStream, Mapping, list, tuple)):
        raise TypeError(f"{what} must be a Compose, a policy, a config dict or a JSON/YAML "
                        f"path, got {type(value).__name__}")
    if isinstance(value, SampleStream):
        pipe = copy.copy(value)  # the caller's object keeps its threads and epoch
    else:
        if seed is None and not (isinstance(value, Mapping) and value.get("seed") is not None):
            raise ValueError(f"seed is required: {spec!r} has no seed, and a seed drawn by "
                             "each actor would differ between actors")
        pipe = build_pipeline(dict(value) if isinstance(value, Mapping) else value, spec)
    if seed is not None:
        pipe.seed = resolve_seed(seed)
    if isinstance(pipe, Compose):
        batch = [type(t).__name__ for t in pipe.transforms if t.kind == "batch"]
        if batch:
            raise ValueError(f"pipeline has batch-level transforms {batch}: they mix the rows "
                             "of a batch, and Ray decides the batches; apply them in the "
                             "training loop instead")
    return pipe


def _object_array(items: Sequence) -> np.ndarray:
    """A 1-D object array holding ``items`` (never broadcast into a 2-D array)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _stack_or_objects(items: Sequence) -> np.ndarray:
    """Equal shapes and dtypes stack into one (N, ...) array; others stay per row."""
    if items and all(isinstance(a, np.ndarray) for a in items) and len(
            {(a.shape, a.dtype) for a in items}) == 1:
        return np.stack(items)
    return _object_array(items)


class Augment:
    """A Ray Data ``map_batches`` stage that augments an image column with fastaug.

    Parameters
    ----------
    pipeline : Compose, RandAugment, TrivialAugmentWide, dict or str or os.PathLike
        The pipeline, its ``to_config()`` dict (or bare list of transform configs), or
        the path of a JSON/YAML file holding one (``module:attribute`` works too, see
        ``fastaug preview``). It is copied: the caller's object is not changed.
    seed : int, optional
        Overrides the pipeline's seed. Required when the config has none.
    epoch : int, optional
        Epoch of the random parameters; default the pipeline's own (0 for configs).
    image_column : str
        Column holding the images: a uint8 array ``(B, H, W, C)`` or ``(B, H, W)``, per
        row uint8 ``(H, W, C)`` arrays of different sizes, encoded image bytes (JPEG,
        PNG, ... decoded with OpenCV to RGB, or grey with ``channels=1``), or image file
        paths.
    id_column : str
        Column of stable row ids (see :func:`row_indices`); ``ray.data.range`` and
        ``from_items`` rows can carry ``"id"``, ``read_*(include_paths=True)`` gives
        ``"path"``.
    output_column : str, optional
        Where to write the augmented images; default ``image_column`` (replaced).
    targets : mapping, optional
        Target columns moved with the images, by kind: ``{"masks": column, "boxes":
        column, "keypoints": column, "labels": column}`` (any subset; ``labels`` are
        per-box labels and need ``boxes``). Masks are uint8/int32 ``(H, W[, K])`` per
        row, boxes ``(M, 4)`` in ``box_format``, keypoints ``(M, 2 or 4)``, labels
        ``(M, ...)``. Each is written back to its column (boxes, labels and keypoints
        as per-row object arrays, their counts change); with ``remove_invisible=False``
        the visibility goes to ``<keypoints column>_visible``.
    box_format, min_area, min_visibility, remove_invisible, flip_index, mask_fill
        Target options, as for :class:`fastaug.Compose`
        (:class:`fastaug.targets.TargetOptions`).
    channels : {1, 3}
        Channels of decoded images (grey or RGB).
    decode_size : (int, int), optional
        ``(height, width)`` the pipeline needs at least: JPEGs decode at 1/2, 1/4 or 1/8
        scale when still that large (see :class:`fastaug.Loader`).
    threads : int, optional
        Threads for the kernels and decoding; default the CPUs Ray gave this actor
        (``fastaug.get_num_threads()`` outside Ray). More than that is an error.

    Examples
    --------
    >>> ds = ray.data.from_items([{"id": i, "image": img} for i, img in enumerate(images)])
    >>> ds = ds.map_batches(Augment, fn_constructor_kwargs={"pipeline": aug, "seed": 0},
    ...                     batch_format="numpy", concurrency=2)
    """

    def __init__(self, pipeline: SampleStream | Mapping | Sequence | str | os.PathLike,
                 seed: int | None = None, *, epoch: int | None = None,
                 image_column: str = "image", id_column: str = "id",
                 output_column: str | None = None,
                 targets: Mapping[str, str] | None = None, box_format: str = "xyxy",
                 min_area: float = 0.0, min_visibility: float = 0.0,
                 remove_invisible: bool = True, flip_index: Sequence[int] | None = None,
                 mask_fill: int = 0, channels: int = 3,
                 decode_size: tuple[int, int] | None = None, threads: int | None = None):
        self.pipeline = _load_pipeline(pipeline, seed)
        if epoch is not None:
            self.pipeline.set_epoch(epoch)
        for name, value in (("image_column", image_column), ("id_column", id_column)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a column name (str), got {value!r}")
        if output_column is None:
            output_column = image_column
        elif not isinstance(output_column, str):
            raise TypeError(f"output_column must be a column name (str), got {output_column!r}")
        self.image_column = image_column
        self.id_column = id_column
        self.output_column = output_column
        self.targets = self._check_targets(targets)
        columns = [self.output_column, self.id_column, *self.targets.values()]
        if len(set(columns)) != len(columns) or self.image_column in self.targets.values():
            raise ValueError("output_column, id_column and the target columns must be "
                             f"different columns, got {columns}")
        self.target_options = {"box_format": box_format, "min_area": min_area,
                               "min_visibility": min_visibility,
                               "remove_invisible": remove_invisible, "flip_index": flip_index,
                               "mask_fill": mask_fill}
        TargetOptions(**self.target_options)  # validate now, not at the first batch
        if self.targets and not isinstance(self.pipeline, Compose):
            raise ValueError(f"targets need a Compose pipeline, not "
                             f"{type(self.pipeline).__name__}")
        self.channels, self.decode_size = check_decoding(channels, decode_size)
        self.threads = self._resolve_threads(threads)
        self.pipeline.threads = self.threads
        self._decoder = None
        self._pool: ThreadPoolExecutor | None = None

    @staticmethod
    def _check_targets(targets) -> dict:
        if targets is None:
            return {}
        if not isinstance(targets, Mapping):
            raise TypeError(f"targets must map target kinds {list(TARGET_KINDS)} to column "
                            f"names, got {targets!r}")
        unknown = set(targets) - set(TARGET_KINDS)
        if unknown:
            raise ValueError(f"targets: unknown kinds {sorted(unknown)}; known: "
                             f"{list(TARGET_KINDS)}")
        for kind, column in targets.items():
            if not isinstance(column, str):
                raise TypeError(f"targets[{kind!r}] must be a column name (str), got {column!r}")
        if "labels" in targets and "boxes" not in targets:
            raise ValueError("targets['labels'] are per-box labels: they need targets['boxes'] "
                             "(per-row labels need nothing: other columns pass through)")
        return dict(targets)

    @staticmethod
    def _resolve_threads(threads) -> int:
        cpus = _ray_cpus()
        if cpus is None:
            return get_num_threads() if threads is None else _check_threads(threads)
        allowed = max(1, int(cpus))  # a fractional CPU still runs one thread
        if threads is None:
            return allowed
        threads = _check_threads(threads)
        if threads > allowed:
            raise ValueError(f"threads={threads} is more than the {cpus:g} CPUs Ray gave this "
                             f"actor: ask for them with map_batches(..., num_cpus={threads})")
        return threads

    # ---- the batch ------------------------------------------------------------------

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Augment one numpy batch.

        Parameters
        ----------
        batch : dict of str to ndarray
            Ray's ``batch_format="numpy"`` batch: every column has ``B`` rows.

        Returns
        -------
        dict of str to ndarray
            The same columns with the image column (or ``output_column``) holding the
            augmented images, ``(B, ...)`` when they share one shape (else an object
            array of per-row arrays), and the target columns transformed.
        """
        if not isinstance(batch, Mapping):
            raise TypeError(f"batch must be a dict of columns (batch_format='numpy'), got "
                            f"{type(batch).__name__}")
        for column in (self.image_column, self.id_column, *self.targets.values()):
            if column not in batch:
                raise ValueError(f"column {column!r} is not in the batch (columns: "
                                 f"{sorted(batch)})")
        ids = np.asarray(batch[self.id_column])
        idx = row_indices(ids, self.id_column)
        out = dict(batch)
        if len(idx) == 0:
            return out
        if len(batch[self.image_column]) != len(idx):
            raise ValueError(f"column {self.id_column!r} has {len(idx)} rows, column "
                             f"{self.image_column!r} {len(batch[self.image_column])}")
        images = self._images(batch[self.image_column], ids)
        tgt = {kind: self._target(kind, batch[column], len(idx), isinstance(images, list))
               for kind, column in self.targets.items()}
        try:
            result = self._augment(images, idx, tgt)
        except (ValueError, TypeError) as exc:
            self._blame(images, idx, ids, tgt, exc)
        out[self.output_column] = result.pop("images")
        for kind, column in self.targets.items():
            out[column] = result[kind]
        if "keypoints_visible" in result:
            out[self.targets["keypoints"] + "_visible"] = result["keypoints_visible"]
        return out

    def _augment(self, images, idx: np.ndarray, tgt: dict) -> dict:
        """``{"images": ..., **targets}``; per-row lists split where output sizes differ."""
        groups, params = self._groups(images, idx)
        if groups is None:
            return self._call(images, idx, tgt, params)
        rows: list = [None] * len(idx)
        for members in groups:
            m = np.asarray(members)
            part = self._call([images[i] for i in members], idx[m],
                              {k: [v[i] for i in members] for k, v in tgt.items()})
            for j, i in enumerate(members):
                rows[i] = {k: v[j] for k, v in part.items()}
        merged = {k: [r[k] for r in rows] for k in rows[0]}
        return {k: _stack_or_objects(v) if k in ("images", "masks") else _object_array(v)
                for k, v in merged.items()}

    def _groups(self, images, idx: np.ndarray) -> tuple[list | None, dict | None]:
        """Rows to run apart (by output size for Compose, input size for policies), or
        None when one call does the whole batch; and a Compose's parameters for the
        rows, when it sampled them to tell."""
        if isinstance(images, np.ndarray):
            return None, None
        params = None
        if isinstance(self.pipeline, Compose):
            params = self.pipeline.sample(len(images), [im.shape for im in images], idx)
            sizes = [tuple(s) for s in params["stages"][-1]["sizes"].tolist()]
        else:
            sizes = [im.shape for im in images]
        if len(set(sizes)) == 1:
            return None, params
        groups: dict = {}
        for i, s in enumerate(sizes):
            groups.setdefault(s, []).append(i)
        return list(groups.values()), None

    def _call(self, images, idx: np.ndarray, tgt: dict, params: dict | None = None) -> dict:
        """One pipeline call on the rows; ``params`` (a Compose's, sampled for exactly
        these rows) saves sampling them again."""
        if not isinstance(self.pipeline, Compose):
            if isinstance(images, list):
                images = np.stack(images)
            return {"images": self.pipeline(images, indices=idx)}
        options = {**tgt, **self.target_options} if tgt else {}
        if params is None:
            res = self.pipeline(images, indices=idx, **options)
        else:
            res = self.pipeline.apply(images, params, **options)
        if not tgt:
            return {"images": res}
        for kind in ("boxes", "keypoints", "labels", "keypoints_visible"):
            if kind in res:
                res[kind] = _object_array(res[kind])
        if isinstance(res.get("masks"), list):
            res["masks"] = _stack_or_objects(res["masks"])
        return res

    def _blame(self, images, idx: np.ndarray, ids: np.ndarray, tgt: dict,
               exc: Exception) -> NoReturn:
        """Rerun the rows one by one and raise for the first that fails on its own
        (parameters depend on the row id only, so a row alone is the same work)."""
        for i in range(len(idx)):
            try:
                self._call(images[i:i + 1], idx[i:i + 1],
                           {k: v[i:i + 1] for k, v in tgt.items()})
            except (ValueError, TypeError) as row_exc:
                raise ValueError(f"row id {_scalar(ids[i])!r}: {row_exc}") from exc
        raise ValueError(f"rows with ids {_scalar(ids[0])!r} .. {_scalar(ids[-1])!r}: "
                         f"{exc}") from exc

    # ---- columns --------------------------------------------------------------------

    def _images(self, column, ids: np.ndarray):
        """The image column as a uint8 (B, H, W[, C]) array or a list of (H, W, C)."""
        col = column if isinstance(column, np.ndarray) else _object_array(list(column))
        name = self.image_column
        if col.dtype == np.uint8 and col.ndim >= 3:
            return col
        if col.dtype.kind in "US":
            items = col.tolist()
        elif col.dtype == object and col.ndim == 1:
            items = list(col)
        else:
            raise TypeError(f"column {name!r} must hold uint8 images, encoded image bytes or "
                            f"file paths, got dtype {col.dtype} shape {col.shape}")
        raw = [isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim in (2, 3)
               for v in items]
        if all(raw):
            return [v if v.ndim == 3 else v[:, :, None] for v in items]
        decoded = self._map(lambda i: self._decode(items[i], ids[i]), range(len(items)))
        return decoded

    def _decode(self, value, row_id) -> np.ndarray:
        where = f"row id {_scalar(row_id)!r} (column {self.image_column!r})"
        if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3):
            return value if value.ndim == 3 else value[:, :, None]
        if self._decoder is None:
            self._decoder = self._new_decoder()
        if isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            try:
                data = np.fromfile(path, dtype=np.uint8)
            except OSError as exc:
                raise ValueError(f"{where}: cannot read image file {path!r}: {exc}") from exc
            return self._decoder.decode(data, f"image file {path!r} of {where}")
        if isinstance(value, (bytes, bytearray, memoryview, np.bytes_)):
            data = np.frombuffer(value, dtype=np.uint8)
        elif isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 1:
            data = value
        else:
            got = type(value).__name__
            if isinstance(value, np.ndarray):
                got += f" of dtype {value.dtype} and shape {value.shape}"
            raise TypeError(f"{where}: expected a uint8 image, encoded image bytes or a file "
                            f"path, got {got}")
        return self._decoder.decode(data, f"the image bytes of {where}")

    def _new_decoder(self):
        from .loader import _Decoder

        decoder = _Decoder(self.channels, self.decode_size)
        if _ray_cpus() is not None:
            # OpenCV's own pool would use every core of the node; this actor
            # parallelises decoding over its CPUs itself.
            decoder.cv2.setNumThreads(1)
        return decoder

    def _map(self, fn, items) -> list:
        """``[fn(i) for i in items]`` on the actor's threads (decoding drops the GIL)."""
        items = list(items)
        if self.threads == 1 or len(items) < 2:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="fastaug-decode")
        return list(self._pool.map(fn, items))

    def _target(self, kind: str, column, n: int, as_list: bool):
        """A target column in the form Compose takes: masks as an array (or per-row list
        with images of different sizes), the others as per-row lists."""
        if kind == "masks" and isinstance(column, np.ndarray) and column.dtype != object:
            return list(column) if as_list else column
        rows = [np.asarray(r) for r in column]
        if len(rows) != n:
            raise ValueError(f"column {self.targets[kind]!r} has {len(rows)} rows for {n} images")
        if kind == "masks" and not as_list and len({r.shape for r in rows}) == 1:
            return np.stack(rows)
        return rows

    def __getstate__(self) -> dict:
        # The decoder (OpenCV module) and the thread pool are made again where used.
        return {**self.__dict__, "_decoder": None, "_pool": None}

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    def __repr__(self) -> str:
        return (f"Augment({type(self.pipeline).__name__}, seed={self.pipeline.seed}, "
                f"epoch={self.pipeline.epoch}, image_column={self.image_column!r}, "
                f"id_column={self.id_column!r}, threads={self.threads})")
