# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython bridge to the pixel filters in csrc/filters.c.

Only ``fastaug.ops`` calls these functions, after validating every argument: arrays
arrive with the dtype, shape and memory layout each kernel expects (sources: uint8
(N, H, W, C) with pixel stride C and channel stride 1; destinations and parameter arrays
C-contiguous), so nothing here checks them again. The GIL is released around every call.
"""
cimport numpy as cnp
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc

cnp.import_array()


cdef extern from "filters.h" nogil:
    ctypedef struct fa_u8_io:
        const uint8_t *src
        int64_t n, h, w, c
        int64_t src_image_stride, src_row_stride
        uint8_t *dst
        int threads

    ctypedef struct fa_noise_args:
        fa_u8_io io
        const double *std
        const uint64_t *keys
        int per_channel

    ctypedef struct fa_separable_args:
        fa_u8_io io
        const float *kernels
        int64_t kernel_stride
        const int64_t *radius
        int fill

    ctypedef struct fa_filter3x3_args:
        fa_u8_io io
        const float *kernels
        int fill

    ctypedef struct fa_erase_args:
        void *data
        int is_float
        int nchw
        int64_t n, h, w, c
        const int64_t *boxes
        int64_t k
        const float *value
        int random
        const uint64_t *keys
        int threads

    ctypedef struct fa_mix_args:
        const void *src
        void *dst
        int is_float
        int nchw
        int64_t n, h, w, c
        const int64_t *partner
        const float *lam
        const int64_t *boxes
        int threads

    ctypedef struct fa_blend_args:
        const uint8_t *const *srcs
        int64_t k_count
        int64_t n, size
        const float *weights
        float offset
        uint8_t *dst
        int threads

    ctypedef struct fa_histogram_args:
        fa_u8_io io
        int64_t *hist

    void fa_noise(const fa_noise_args *args)
    int fa_separable(const fa_separable_args *args)
    int fa_filter3x3(const fa_filter3x3_args *args)
    void fa_erase(const fa_erase_args *args)
    void fa_mix(const fa_mix_args *args)
    void fa_blend(const fa_blend_args *args)
    void fa_histogram(const fa_histogram_args *args)

    ctypedef struct fa_gray_sums_args:
        fa_u8_io io
        float weights[3]
        int64_t *sums

    void fa_gray_sums(const fa_gray_sums_args *args)


cdef fa_u8_io _io(cnp.ndarray src, cnp.ndarray dst, int threads) noexcept:
    cdef fa_u8_io io
    io.src = <const uint8_t *>cnp.PyArray_DATA(src)
    io.n = cnp.PyArray_DIM(src, 0)
    io.h = cnp.PyArray_DIM(src, 1)
    io.w = cnp.PyArray_DIM(src, 2)
    io.c = cnp.PyArray_DIM(src, 3)
    io.src_image_stride = cnp.PyArray_STRIDE(src, 0)
    io.src_row_stride = cnp.PyArray_STRIDE(src, 1)
    io.dst = <uint8_t *>cnp.PyArray_DATA(dst)
    io.threads = threads
    return io


def noise(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray std, cnp.ndarray keys,
          bint per_channel, int threads):
    """Gaussian noise: ``std`` (N,) float64, ``keys`` (N,) uint64."""
    cdef fa_noise_args a
    a.io = _io(src, dst, threads)
    a.std = <const double *>cnp.PyArray_DATA(std)
    a.keys = <const uint64_t *>cnp.PyArray_DATA(keys)
    a.per_channel = per_channel
    with nogil:
        fa_noise(&a)


def separable(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray kernels, cnp.ndarray radius,
              int fill, int threads):
    """Separable filter: ``kernels`` (N, L) float32, ``radius`` (N,) int64."""
    cdef fa_separable_args a
    cdef int rc
    a.io = _io(src, dst, threads)
    a.kernels = <const float *>cnp.PyArray_DATA(kernels)
    a.kernel_stride = cnp.PyArray_DIM(kernels, 1)
    a.radius = <const int64_t *>cnp.PyArray_DATA(radius)
    a.fill = fill
    with nogil:
        rc = fa_separable(&a)
    if rc != 0:
        raise MemoryError("separable filter: out of memory for scratch rows")


def filter3x3(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray kernels, int fill, int threads):
    """3x3 filter: ``kernels`` (N, 9) float32."""
    cdef fa_filter3x3_args a
    cdef int rc
    a.io = _io(src, dst, threads)
    a.kernels = <const float *>cnp.PyArray_DATA(kernels)
    a.fill = fill
    with nogil:
        rc = fa_filter3x3(&a)
    if rc != 0:
        raise MemoryError("3x3 filter: out of memory for scratch rows")


cdef inline void _batch_dims(cnp.ndarray x, bint nchw, int64_t *n, int64_t *c, int64_t *h,
                             int64_t *w):
    # (N, C, H, W) or (N, H, W, C)
    n[0] = cnp.PyArray_DIM(x, 0)
    c[0] = cnp.PyArray_DIM(x, 1 if nchw else 3)
    h[0] = cnp.PyArray_DIM(x, 2 if nchw else 1)
    w[0] = cnp.PyArray_DIM(x, 3 if nchw else 2)


def erase(cnp.ndarray data, bint nchw, cnp.ndarray boxes, cnp.ndarray value, object keys,
          int threads):
    """In place: ``data`` C-contiguous uint8/float32, ``boxes`` (N, K, 4) int64,
    ``value`` (C,) float32, ``keys`` (N,) uint64 or None (fixed value)."""
    cdef fa_erase_args a
    a.data = cnp.PyArray_DATA(data)
    a.is_float = data.dtype.kind == "f"
    a.nchw = nchw
    _batch_dims(data, nchw, &a.n, &a.c, &a.h, &a.w)
    a.boxes = <const int64_t *>cnp.PyArray_DATA(boxes)
    a.k = cnp.PyArray_DIM(boxes, 1)
    a.value = <const float *>cnp.PyArray_DATA(value)
    a.random = keys is not None
    a.keys = NULL
    if keys is not None:
        a.keys = <const uint64_t *>cnp.PyArray_DATA(<cnp.ndarray>keys)
    a.threads = threads
    with nogil:
        fa_erase(&a)


def mix(cnp.ndarray src, cnp.ndarray dst, bint nchw, cnp.ndarray partner, object lam,
        object boxes, int threads):
    """MixUp (``lam`` (N,) float32) or CutMix (``boxes`` (N, 4) int64)."""
    cdef fa_mix_args a
    a.src = cnp.PyArray_DATA(src)
    a.dst = cnp.PyArray_DATA(dst)
    a.is_float = src.dtype.kind == "f"
    a.nchw = nchw
    _batch_dims(src, nchw, &a.n, &a.c, &a.h, &a.w)
    a.partner = <const int64_t *>cnp.PyArray_DATA(partner)
    a.lam = NULL
    a.boxes = NULL
    if lam is not None:
        a.lam = <const float *>cnp.PyArray_DATA(<cnp.ndarray>lam)
    if boxes is not None:
        a.boxes = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>boxes)
    a.threads = threads
    with nogil:
        fa_mix(&a)


def blend(list sources, cnp.ndarray dst, cnp.ndarray weights, float offset, int threads):
    """Weighted sum of C-contiguous uint8 batches: ``weights`` (N, K) float32."""
    cdef fa_blend_args a
    cdef int64_t k, count = len(sources)
    cdef const uint8_t **ptrs = <const uint8_t **>malloc(count * sizeof(uint8_t *))
    if ptrs == NULL:
        raise MemoryError("blend: out of memory for the source list")
    for k in range(count):
        ptrs[k] = <const uint8_t *>cnp.PyArray_DATA(<cnp.ndarray>sources[k])
    a.srcs = ptrs
    a.k_count = count
    a.n = cnp.PyArray_DIM(dst, 0)
    a.size = cnp.PyArray_SIZE(dst) // a.n if a.n else 0
    a.weights = <const float *>cnp.PyArray_DATA(weights)
    a.offset = offset
    a.dst = <uint8_t *>cnp.PyArray_DATA(dst)
    a.threads = threads
    with nogil:
        fa_blend(&a)
    free(ptrs)


def histogram(cnp.ndarray src, cnp.ndarray hist, int threads):
    """Per-image per-channel histograms into ``hist`` (N, C, 256) int64."""
    cdef fa_histogram_args a
    a.io = _io(src, src, threads)
    a.hist = <int64_t *>cnp.PyArray_DATA(hist)
    with nogil:
        fa_histogram(&a)


def gray_sums(cnp.ndarray src, cnp.ndarray sums, double w0, double w1, double w2, int threads):
    """Per-image sums of the floored float32 grey levels into ``sums`` (N,) int64."""
    cdef fa_gray_sums_args a
    a.io = _io(src, src, threads)
    a.weights[0] = <float>w0
    a.weights[1] = <float>w1
    a.weights[2] = <float>w2
    a.sums = <int64_t *>cnp.PyArray_DATA(sums)
    with nogil:
        fa_gray_sums(&a)
