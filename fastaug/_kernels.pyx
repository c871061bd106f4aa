# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython bridge to the C kernels in csrc/.

Only ``fastaug.ops`` calls these functions, after validating every argument: arrays
arrive with the dtype, shape and memory layout each kernel expects, so nothing here
checks them again. The GIL is released around every kernel call.
"""
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t

cnp.import_array()


cdef extern from "fastaug.h" nogil:
    ctypedef struct fa_augment_args:
        const uint8_t *src
        int64_t n, h, w, c
        int64_t src_image_stride, src_row_stride
        void *dst
        int64_t oh, ow
        int output
        const double *inverse
        int64_t inverse_stride
        const double *clip
        int64_t clip_stride
        const float *color
        int64_t color_stride
        int interp
        int fill
        uint8_t cval[4]
        float scale[4]
        float offset[4]
        int threads

    ctypedef struct fa_lut_args:
        const uint8_t *src
        int64_t n, h, w, c
        int64_t src_image_stride, src_row_stride
        uint8_t *dst
        const uint8_t *tables
        int64_t table_stride
        int threads

    ctypedef struct fa_sequence_args:
        const uint8_t *src
        int64_t n, h, w, c
        int64_t src_image_stride, src_row_stride
        uint8_t *dst
        int64_t steps
        const int32_t *kind
        const double *inverse
        const double *color
        const double *gray
        float gray_weights[3]
        const uint8_t *tables
        const float *weights
        float offset
        int interp
        uint8_t cval[4]
        int threads

    int fa_augment(const fa_augment_args *args)
    void fa_lut(const fa_lut_args *args)
    int fa_sequence(const fa_sequence_args *args)
    int fa_max_threads()
    int fa_has_openmp()
    int64_t fa_border_index(int64_t i, int64_t n, int mode)
    void fa_set_simd(int level)
    int fa_lut_path(int request)


cdef inline int64_t _batch_stride(cnp.ndarray a):
    # One array may serve the whole batch: its leading axis has length 1.
    return 0 if cnp.PyArray_DIM(a, 0) == 1 else cnp.PyArray_STRIDE(a, 0) // a.itemsize


def augment(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray inverse, object clip,
            object color, int interp, int fill, cnp.ndarray cval, cnp.ndarray scale,
            cnp.ndarray offset, int output, int threads):
    """Run the fused kernel: ``src`` (N, H, W, C) uint8 with pixel stride C and channel
    stride 1; ``dst`` C-contiguous; ``inverse`` (N or 1, 2, 3) float64 C-contiguous;
    ``clip`` None or (N, 4) float64; ``color`` None or (N or 1, C, C + 1) float32;
    ``cval`` (4,) uint8; ``scale``/``offset`` (4,) float32."""
    cdef fa_augment_args a
    cdef int k, rc
    cdef cnp.ndarray clip_a, color_a
    a.src = <const uint8_t *>cnp.PyArray_DATA(src)
    a.n = cnp.PyArray_DIM(src, 0)
    a.h = cnp.PyArray_DIM(src, 1)
    a.w = cnp.PyArray_DIM(src, 2)
    a.c = cnp.PyArray_DIM(src, 3)
    a.src_image_stride = cnp.PyArray_STRIDE(src, 0)
    a.src_row_stride = cnp.PyArray_STRIDE(src, 1)
    a.dst = cnp.PyArray_DATA(dst)
    if output == 2:  # NCHW
        a.oh = cnp.PyArray_DIM(dst, 2)
        a.ow = cnp.PyArray_DIM(dst, 3)
    else:
        a.oh = cnp.PyArray_DIM(dst, 1)
        a.ow = cnp.PyArray_DIM(dst, 2)
    a.output = output
    a.inverse = <const double *>cnp.PyArray_DATA(inverse)
    a.inverse_stride = _batch_stride(inverse)
    a.clip = NULL
    a.clip_stride = 0
    if clip is not None:
        clip_a = clip
        a.clip = <const double *>cnp.PyArray_DATA(clip_a)
        a.clip_stride = _batch_stride(clip_a)
    a.color = NULL
    a.color_stride = 0
    if color is not None:
        color_a = color
        a.color = <const float *>cnp.PyArray_DATA(color_a)
        a.color_stride = _batch_stride(color_a)
    a.interp = interp
    a.fill = fill
    for k in range(4):
        a.cval[k] = (<const uint8_t *>cnp.PyArray_DATA(cval))[k]
        a.scale[k] = (<const float *>cnp.PyArray_DATA(scale))[k]
        a.offset[k] = (<const float *>cnp.PyArray_DATA(offset))[k]
    a.threads = threads
    with nogil:
        rc = fa_augment(&a)
    if rc != 0:
        raise MemoryError("fastaug: out of memory for kernel scratch buffers")


def lut(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray tables, int threads):
    """Apply ``tables`` (N or 1, C, 256) uint8 C-contiguous to ``src`` (N, H, W, C)
    uint8 (pixel stride C, channel stride 1), writing C-contiguous ``dst``."""
    cdef fa_lut_args a
    a.src = <const uint8_t *>cnp.PyArray_DATA(src)
    a.n = cnp.PyArray_DIM(src, 0)
    a.h = cnp.PyArray_DIM(src, 1)
    a.w = cnp.PyArray_DIM(src, 2)
    a.c = cnp.PyArray_DIM(src, 3)
    a.src_image_stride = cnp.PyArray_STRIDE(src, 0)
    a.src_row_stride = cnp.PyArray_STRIDE(src, 1)
    a.dst = <uint8_t *>cnp.PyArray_DATA(dst)
    a.tables = <const uint8_t *>cnp.PyArray_DATA(tables)
    a.table_stride = _batch_stride(tables)
    a.threads = threads
    with nogil:
        fa_lut(&a)


def sequence(cnp.ndarray src, cnp.ndarray dst, cnp.ndarray kind, cnp.ndarray inverse,
             cnp.ndarray color, cnp.ndarray gray, cnp.ndarray gray_weights,
             cnp.ndarray tables, cnp.ndarray weights, float offset, int interp,
             cnp.ndarray cval, int threads):
    """Run per-image step sequences: ``src`` (N, H, W, C) uint8 with pixel stride C and
    channel stride 1; ``dst`` C-contiguous; ``kind`` (N, S) int32; ``inverse``
    (N, S, 2, 3), ``color`` (N, S, C, C + 1), ``gray`` (N, S, C) float64;
    ``gray_weights`` (3,) float32; ``tables`` (N, S, C, 256) uint8 and ``weights``
    (N, S, 2) float32, each empty when no step reads it ("lut", "sharpness");
    ``cval`` (4,) uint8; all C-contiguous."""
    cdef fa_sequence_args a
    cdef int k, rc
    a.src = <const uint8_t *>cnp.PyArray_DATA(src)
    a.n = cnp.PyArray_DIM(src, 0)
    a.h = cnp.PyArray_DIM(src, 1)
    a.w = cnp.PyArray_DIM(src, 2)
    a.c = cnp.PyArray_DIM(src, 3)
    a.src_image_stride = cnp.PyArray_STRIDE(src, 0)
    a.src_row_stride = cnp.PyArray_STRIDE(src, 1)
    a.dst = <uint8_t *>cnp.PyArray_DATA(dst)
    a.steps = cnp.PyArray_DIM(kind, 1)
    a.kind = <const int32_t *>cnp.PyArray_DATA(kind)
    a.inverse = <const double *>cnp.PyArray_DATA(inverse)
    a.color = <const double *>cnp.PyArray_DATA(color)
    a.gray = <const double *>cnp.PyArray_DATA(gray)
    for k in range(3):
        a.gray_weights[k] = (<const float *>cnp.PyArray_DATA(gray_weights))[k]
    a.tables = <const uint8_t *>cnp.PyArray_DATA(tables)
    a.weights = <const float *>cnp.PyArray_DATA(weights)
    a.offset = offset
    a.interp = interp
    for k in range(4):
        a.cval[k] = (<const uint8_t *>cnp.PyArray_DATA(cval))[k]
    a.threads = threads
    with nogil:
        rc = fa_sequence(&a)
    if rc != 0:
        raise MemoryError("fastaug: out of memory for kernel scratch buffers")


_LUT_PATHS = ("portable", "avx512vbmi")


def lut_path(str request=None):
    """The implementation ``lut`` runs: "avx512vbmi" where the CPU has it, else
    "portable". ``request`` "portable" forces portable C for the whole process (the
    tests and bench/bench_lut.py use it to cover both), "best" restores the default;
    the return value is the path now in use."""
    if request is None:
        return _LUT_PATHS[fa_lut_path(-1)]
    if request not in ("portable", "best"):
        raise ValueError(f'request must be None, "portable" or "best", got {request!r}')
    return _LUT_PATHS[fa_lut_path(0 if request == "portable" else 1)]


def max_threads():
    """Threads OpenMP would start by default (1 without OpenMP)."""
    return fa_max_threads()


def has_openmp():
    """Whether the extension was compiled with OpenMP."""
    return bool(fa_has_openmp())


def border_index(int64_t i, int64_t n, int mode):
    """Test hook: the native border map of index ``i`` on a length-``n`` axis."""
    return fa_border_index(i, n, mode)


def set_simd(bint enabled, bint vbmi=True):
    """Test hook: turn the vector sampling kernels on or off, or with ``vbmi=False``
    limit them to AVX2 (the same results on every path)."""
    fa_set_simd(0 if not enabled else (2 if vbmi else 1))
