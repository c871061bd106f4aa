"""Adapters: one way per library to run a :class:`~fastaug.bench.workloads.Workload`.

An adapter takes a workload, does everything that is not the work itself (converting
parameters, allocating the output and any scratch buffers) and returns a zero-argument
callable that runs the work once and returns the output. Only that callable is timed, so
every library is timed on the same work with its output buffer preallocated.

Adapters here: fastaug (``fastaug.ops``), a per-image OpenCV loop written to be as fast
as OpenCV allows (``dst=`` preallocated, the cheapest call for each step), and the memory
floor (``np.copyto`` of the same batch).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .workloads import Workload

try:
    import cv2
except ImportError:
    cv2 = None

Run = Callable[[], np.ndarray]

__all__ = [
    "FILL_TO_CV2",
    "INTERP_TO_CV2",
    "OPENCV_NORMALIZE_VARIANTS",
    "Run",
    "copyto_adapter",
    "fastaug_adapter",
    "opencv_adapter",
    "opencv_variants",
]


# ---- fastaug ------------------------------------------------------------------------


def fastaug_adapter(work: Workload, threads: int = 1, out: np.ndarray | None = None) -> Run:
    """Run ``work`` through the public ``fastaug.ops`` API (validation included).

    Parameters
    ----------
    work : Workload
    threads : int
        Native threads for every call.
    out : ndarray, optional
        Output buffer; default a fresh one of the workload's shape.

    Returns
    -------
    callable
        ``run() -> out``.
    """
    from .. import ops

    images, p = work.images, work.params
    out = work.empty_out() if out is None else out
    if work.name == "warp":
        return lambda: ops.warp_affine(images, p["matrices"], p["size"],
                                       interpolation=p["interpolation"],
                                       fill_mode=p["fill_mode"], out=out, threads=threads)
    if work.name == "rrc":
        return lambda: ops.resized_crop(images, p["boxes"], p["size"],
                                        interpolation=p["interpolation"], out=out,
                                        threads=threads)
    if work.name == "flip":
        return lambda: ops.flip(images, p["horizontal"], out=out, threads=threads)
    if work.name == "lut":
        return lambda: ops.lut(images, p["tables"], out=out, threads=threads)
    if work.name == "color":
        return lambda: ops.color_matrix(images, p["colors"], out=out, threads=threads)
    if work.name == "normalize":
        return lambda: ops.normalize(images, p["mean"], p["std"], scale=p["scale"],
                                     layout=p["layout"], out=out, threads=threads)
    if work.name == "augment":
        return lambda: ops.augment(images, p["matrices"], p["colors"], p["size"],
                                   interpolation=p["interpolation"], fill_mode=p["fill_mode"],
                                   mean=p["mean"], std=p["std"], scale=p["scale"],
                                   layout=p["layout"], dtype=p["dtype"], out=out,
                                   threads=threads)
    raise ValueError(f"fastaug has no adapter for workload {work.name!r}")


# ---- the memory floor ---------------------------------------------------------------


def copyto_adapter(work: Workload) -> Run:
    """``np.copyto`` of the input batch into a preallocated buffer: read once, write once."""
    images = work.images
    out = np.empty_like(images)
    out.fill(0)

    def run():
        np.copyto(out, images)
        return out

    return run


# ---- OpenCV: per-image loops --------------------------------------------------------


FILL_TO_CV2 = {"constant": "BORDER_CONSTANT", "nearest": "BORDER_REPLICATE",
               "reflect": "BORDER_REFLECT", "mirror": "BORDER_REFLECT_101",
               "wrap": "BORDER_WRAP"}
INTERP_TO_CV2 = {"nearest": "INTER_NEAREST", "bilinear": "INTER_LINEAR"}


def _need_cv2():
    if cv2 is None:
        raise RuntimeError("OpenCV (cv2) is not installed")


def _plane_view(a: np.ndarray) -> np.ndarray:
    # OpenCV returns (H, W) for one channel; give it a matching view of (H, W, 1).
    return a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a


def _warp_loop(images, matrices, size, interpolation, fill_mode, out) -> Run:
    flags = getattr(cv2, INTERP_TO_CV2[interpolation])
    border = getattr(cv2, FILL_TO_CV2[fill_mode])
    dsize = (size[1], size[0])
    ms = [np.ascontiguousarray(m, dtype=np.float64) for m in matrices]
    srcs = [_plane_view(im) for im in images]
    dsts = [_plane_view(o) for o in out]

    def run():
        for src, m, dst in zip(srcs, ms, dsts):
            cv2.warpAffine(src, m, dsize, dst=dst, flags=flags, borderMode=border)
        return out

    return run


# Normalise one uint8 HWC image into a float32 CHW slice, (x * scale - mean) / std.
# Several ways, because which is fastest depends on the OpenCV build and the CPU; the
# comparison script times them all and keeps the fastest (be fair to OpenCV).


def _norm_split_lut(c, gain, offset):
    """cv2.split into planes, then cv2.LUT with a float32 table per channel: 2 passes."""
    tables = [np.ascontiguousarray(np.arange(256) * gain[k] + offset[k], dtype=np.float32)
              for k in range(c)]
    planes = [np.empty(0, np.uint8)] * c

    def norm(img, dst):
        if c == 1:
            cv2.LUT(_plane_view(img), tables[0], dst=dst[0])
            return
        if planes[0].shape != img.shape[:2]:
            planes[:] = [np.empty(img.shape[:2], np.uint8) for _ in range(c)]
        cv2.split(img, planes)
        for k in range(c):
            cv2.LUT(planes[k], tables[k], dst=dst[k])

    return norm


def _norm_split_addweighted(c, gain, offset):
    """cv2.split, then cv2.addWeighted(plane, gain, plane, 0, offset, dtype=CV_32F)."""
    planes = [np.empty(0, np.uint8)] * c

    def norm(img, dst):
        if c == 1:
            p = _plane_view(img)
            cv2.addWeighted(p, gain[0], p, 0.0, offset[0], dst=dst[0], dtype=cv2.CV_32F)
            return
        if planes[0].shape != img.shape[:2]:
            planes[:] = [np.empty(img.shape[:2], np.uint8) for _ in range(c)]
        cv2.split(img, planes)
        for k in range(c):
            cv2.addWeighted(planes[k], gain[k], planes[k], 0.0, offset[k], dst=dst[k],
                            dtype=cv2.CV_32F)

    return norm


def _norm_blob(c, gain, offset):
    """cv2.dnn.blobFromImageWithParams: per-channel scale and mean, NCHW, one call."""
    params = cv2.dnn.Image2BlobParams()
    # blob = scalefactor * (x - mean), so mean = -offset / gain, scalefactor = gain.
    params.scalefactor = tuple(float(g) for g in gain) + (1.0,) * (4 - c)
    params.mean = tuple(float(-o / g) for o, g in zip(offset, gain)) + (0.0,) * (4 - c)
    params.ddepth = cv2.CV_32F
    # The layout constant moved between OpenCV 4 (cv2.dnn) and 5 (cv2); NCHW is default.
    nchw = getattr(cv2.dnn, "DNN_LAYOUT_NCHW", getattr(cv2, "DNN_LAYOUT_NCHW", None))
    if nchw is not None:
        params.datalayout = nchw

    def norm(img, dst):
        cv2.dnn.blobFromImageWithParams(img, dst[np.newaxis], params)

    return norm


def _norm_numpy(c, gain, offset):
    """numpy: multiply the CHW view by the gain into float32, then add the offset."""
    g = np.asarray(gain, np.float32)[:, None, None]
    o = np.asarray(offset, np.float32)[:, None, None]

    def norm(img, dst):
        np.multiply(img.transpose(2, 0, 1), g, out=dst)
        dst += o

    return norm


#: Ways to normalise to float32 NCHW with OpenCV (and numpy), by name.
OPENCV_NORMALIZE_VARIANTS = {
    "split+LUT": _norm_split_lut,
    "split+addWeighted": _norm_split_addweighted,
    "dnn.blobFromImageWithParams": _norm_blob,
    "numpy multiply+add": _norm_numpy,
}


def _gain_offset(p, c):
    mean = np.broadcast_to(np.asarray(p["mean"], np.float64), (c,))
    std = np.broadcast_to(np.asarray(p["std"], np.float64), (c,))
    return p["scale"] / std, -mean / std


def opencv_variants(work: Workload | str) -> list[str]:
    """Names of the OpenCV loops that do ``work`` (several where the fastest varies).

    Parameters
    ----------
    work : Workload or str
        The workload or its name.

    Returns
    -------
    list of str
        Values for ``opencv_adapter(work, variant)``; empty without OpenCV or when it
        has no adapter for the workload.
    """
    name = work if isinstance(work, str) else work.name
    if cv2 is None:
        return []
    if name in ("normalize", "augment"):
        names = list(OPENCV_NORMALIZE_VARIANTS)
        if not hasattr(getattr(cv2, "dnn", None), "blobFromImageWithParams"):  # < 4.9
            names.remove("dnn.blobFromImageWithParams")
        return names
    if name in ("warp", "rrc", "flip", "lut", "color"):
        return ["loop"]
    return []


def opencv_adapter(work: Workload, variant: str | None = None) -> Run:
    """A per-image OpenCV loop doing ``work``, single-threaded as cv2 is set.

    Parameters
    ----------
    work : Workload
    variant : str, optional
        For ``normalize`` and ``augment``: a key of :data:`OPENCV_NORMALIZE_VARIANTS`
        (default the first).

    Returns
    -------
    callable
        ``run() -> out``.
    """
    _need_cv2()
    images, p = work.images, work.params
    n, _, _, c = images.shape
    out = work.empty_out()

    if work.name == "warp":
        return _warp_loop(images, p["matrices"], p["size"], p["interpolation"],
                          p["fill_mode"], out)

    if work.name == "rrc":
        interp = getattr(cv2, INTERP_TO_CV2[p["interpolation"]])
        dsize = (p["size"][1], p["size"][0])
        crops = [_plane_view(im[t:t + h, left:left + w])
                 for im, (t, left, h, w) in zip(images, p["boxes"].astype(int))]
        dsts = [_plane_view(o) for o in out]

        def run():
            for crop, dst in zip(crops, dsts):
                cv2.resize(crop, dsize, dst=dst, interpolation=interp)
            return out

        return run

    if work.name == "flip":
        jobs = list(zip(images, out, p["horizontal"]))

        def run():
            for src, dst, h in jobs:
                if h:
                    cv2.flip(src, 1, dst=dst)
                else:
                    np.copyto(dst, src)
            return out

        return run

    if work.name == "lut":
        # A C-channel table as (1, 256, C): cv2.LUT maps each channel through its own.
        tables = [np.ascontiguousarray(t.T[np.newaxis]) if c > 1 else t.reshape(256)
                  for t in p["tables"]]
        jobs = list(zip([_plane_view(im) for im in images], tables,
                        [_plane_view(o) for o in out]))

        def run():
            for src, t, dst in jobs:
                cv2.LUT(src, t, dst=dst)
            return out

        return run

    if work.name == "color":
        ms = [np.ascontiguousarray(m, dtype=np.float64) for m in p["colors"]]
        jobs = list(zip([_plane_view(im) for im in images], ms, [_plane_view(o) for o in out]))

        def run():
            for src, m, dst in jobs:
                cv2.transform(src, m, dst=dst)  # rounds and saturates like fastaug
            return out

        return run

    if work.name in ("normalize", "augment") and (p["layout"], p["dtype"]) != ("NCHW", "float32"):
        raise ValueError("the OpenCV adapters write float32 NCHW only, got "
                         f"{p['dtype']} {p['layout']}")

    if work.name == "normalize":
        norm = OPENCV_NORMALIZE_VARIANTS[variant or "split+LUT"](c, *_gain_offset(p, c))

        def run():
            for src, dst in zip(images, out):
                norm(src, dst)
            return out

        return run

    if work.name == "augment":
        # warpAffine -> transform -> normalise, through two small scratch images that
        # stay in cache: the fastest chain of separate OpenCV calls.
        norm = OPENCV_NORMALIZE_VARIANTS[variant or "split+LUT"](c, *_gain_offset(p, c))
        h, w = p["size"]
        warped = np.zeros((h, w, c), np.uint8)
        colored = np.zeros((h, w, c), np.uint8)
        flags = getattr(cv2, INTERP_TO_CV2[p["interpolation"]])
        border = getattr(cv2, FILL_TO_CV2[p["fill_mode"]])
        ms = [np.ascontiguousarray(m, dtype=np.float64) for m in p["matrices"]]
        cs = [np.ascontiguousarray(m, dtype=np.float64) for m in p["colors"]]
        wv, cv = _plane_view(warped), _plane_view(colored)

        def run():
            for src, m, cm, dst in zip(images, ms, cs, out):
                cv2.warpAffine(_plane_view(src), m, (w, h), dst=wv, flags=flags,
                               borderMode=border)
                cv2.transform(wv, cm, dst=cv)
                norm(colored, dst)
            return out

        return run

    raise ValueError(f"OpenCV has no adapter for workload {work.name!r}")

