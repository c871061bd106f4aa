/*
 * fastaug pixel filters: per-image noise, separable and 3x3 filters, rectangle erasing,
 * batch mixing (MixUp / CutMix), weighted sums of batches and per-channel histograms.
 * Called from fastaug/_filters.pyx.
 *
 * Nothing here validates: fastaug.ops checks every argument first. All sizes, strides
 * and offsets are 64-bit; sources are uint8 (N, H, W, C) with pixels C bytes apart and
 * any positive row / image stride; destinations are C-contiguous. Border handling uses
 * border.h's modes (the filters default to "mirror", OpenCV's BORDER_REFLECT_101).
 *
 * Random values come from a counter-based generator: SplitMix64 of an image's 64-bit key
 * plus the element's index, so they do not depend on threads or on the split of work.
 */
#ifndef FASTAUG_FILTERS_H
#define FASTAUG_FILTERS_H

#include <stdint.h>

/* Saturate (NaN to 0) and round half up, as every float32 path of these filters (and
   fa_sequence's sharpening) stores uint8; comparisons rather than fminf/fmaxf, which
   the compiler calls out of line and so cannot vectorise. */
static inline uint8_t fa_round_u8(float v)
{
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    return (uint8_t)(int32_t)(v + 0.5f);
}

typedef struct {
    const uint8_t *src;
    int64_t n, h, w, c;
    int64_t src_image_stride, src_row_stride;
    uint8_t *dst; /* C-contiguous (N, H, W, C) */
    int threads;
} fa_u8_io;

/* dst = saturate(round(src + std[i] * z)), z ~ N(0, 1) approximated by the Irwin-Hall sum
   of four 16-bit uniforms (exact mean and variance, tails cut at 3.46 sigma); one z per
   value, or per pixel when !per_channel. */
typedef struct {
    fa_u8_io io;
    const double *std;    /* (N,) */
    const uint64_t *keys; /* (N,) */
    int per_channel;
} fa_noise_args;

void fa_noise(const fa_noise_args *args);

/* Separable filter: rows then columns with a per-image odd-length 1-D kernel
   (2 * radius[i] + 1 taps at kernels + i * kernel_stride), border mode `fill`
   (not constant). Returns -1 when scratch memory could not be allocated. */
typedef struct {
    fa_u8_io io;
    const float *kernels;
    int64_t kernel_stride;
    const int64_t *radius; /* (N,) */
    int fill;
} fa_separable_args;

int fa_separable(const fa_separable_args *args);

/* 3x3 filter with a per-image kernel (9 floats, row-major), border mode `fill`. */
typedef struct {
    fa_u8_io io;
    const float *kernels; /* (N, 9) */
    int fill;
} fa_filter3x3_args;

int fa_filter3x3(const fa_filter3x3_args *args);

/* In place: fill boxes (top, left, height, width), already clipped to the image, with
   `value` per channel, or with random values (uint8: uniform 0..255; float32: N(0, 1)
   as above) when `random`. data is C-contiguous uint8 NHWC or float32 NHWC / NCHW. */
typedef struct {
    void *data;
    int is_float;
    int nchw;
    int64_t n, h, w, c;
    const int64_t *boxes; /* (N, K, 4) */
    int64_t k;
    const float *value;   /* (C,) */
    int random;
    const uint64_t *keys; /* (N,), used when random */
    int threads;
} fa_erase_args;

void fa_erase(const fa_erase_args *args);

/* dst[i] = src[i] everywhere, then: MixUp (boxes == NULL): dst[i] = lam[i] * src[i] +
   (1 - lam[i]) * src[partner[i]] (uint8: rounded); CutMix: dst[i] inside boxes[i]
   (clipped, (top, left, height, width)) is src[partner[i]]. src and dst are distinct,
   C-contiguous, same layout. */
typedef struct {
    const void *src;
    void *dst;
    int is_float;
    int nchw;
    int64_t n, h, w, c;
    const int64_t *partner; /* (N,) */
    const float *lam;       /* (N,) MixUp */
    const int64_t *boxes;   /* (N, 4) CutMix, or NULL */
    int threads;
} fa_mix_args;

void fa_mix(const fa_mix_args *args);

/* dst[i] = saturate(round(sum_k weights[i * k_count + k] * srcs[k][i] + offset)), the sum
   taken in float32 in the order k = 0, 1, ..., then the offset; every source and dst is
   a C-contiguous uint8 batch of n images of `size` values each (dst may not overlap a
   source). */
typedef struct {
    const uint8_t *const *srcs; /* k_count pointers */
    int64_t k_count;
    int64_t n, size;
    const float *weights;       /* (N, K) */
    float offset;
    uint8_t *dst;
    int threads;
} fa_blend_args;

void fa_blend(const fa_blend_args *args);

/* hist[(i * C + c) * 256 + v] = number of pixels of image i whose channel c is v, for the
   uint8 (N, H, W, C) batch of io (io.dst is unused). */
typedef struct {
    fa_u8_io io;
    int64_t *hist; /* (N, C, 256), C-contiguous */
} fa_histogram_args;

void fa_histogram(const fa_histogram_args *args);

/* sums[i] = sum over the pixels of image i of its grey level floor(w0 R + w1 G + w2 B),
   computed in float32 in that order (C = 3, 4; alpha unused), or of its value (C = 1). */
typedef struct {
    fa_u8_io io;
    float weights[3];
    int64_t *sums; /* (N,) */
} fa_gray_sums_args;

void fa_gray_sums(const fa_gray_sums_args *args);

#endif
