/*
 * fastaug native kernels: the C interface called from fastaug/_kernels.pyx.
 *
 * Nothing here validates: fastaug.ops checks every argument before these run. All
 * sizes, strides and offsets are 64-bit.
 */
#ifndef FASTAUG_H
#define FASTAUG_H

#include <stdint.h>

#include "border.h"

typedef enum { FA_INTERP_NEAREST = 0, FA_INTERP_BILINEAR = 1 } fa_interp;

typedef enum {
    FA_OUT_U8_NHWC = 0,  /* uint8, rounded to nearest and saturated */
    FA_OUT_F32_NHWC = 1, /* float32, v * scale[c] + offset[c] */
    FA_OUT_F32_NCHW = 2
} fa_output;

typedef struct {
    /* Source batch (N, H, W, C) uint8: pixels are C bytes apart, channels adjacent;
       rows and images may have any (positive) byte stride. */
    const uint8_t *src;
    int64_t n, h, w, c;
    int64_t src_image_stride, src_row_stride;

    /* Destination, C-contiguous: (N, OH, OW, C) or (N, C, OH, OW). */
    void *dst;
    int64_t oh, ow;
    int output; /* fa_output */

    /* Destination-to-source matrices, 6 doubles each; stride 0 shares one matrix. */
    const double *inverse;
    int64_t inverse_stride;

    /* Optional clamp of source coordinates: xmin, xmax, ymin, ymax per image. */
    const double *clip;
    int64_t clip_stride;

    /* Optional colour matrices, C * (C + 1) floats each, row-major. */
    const float *color;
    int64_t color_stride;

    int interp; /* fa_interp */
    int fill;   /* fa_fill_mode */
    uint8_t cval[4];
    float scale[4], offset[4]; /* float outputs only */
    int threads;
} fa_augment_args;

/* Returns 0, or -1 when scratch memory could not be allocated. */
int fa_augment(const fa_augment_args *args);

typedef struct {
    const uint8_t *src;
    int64_t n, h, w, c;
    int64_t src_image_stride, src_row_stride;
    uint8_t *dst; /* C-contiguous (N, H, W, C) */
    const uint8_t *tables; /* (C, 256) per image */
    int64_t table_stride;  /* 0: one set of tables for the whole batch */
    int threads;
} fa_lut_args;

void fa_lut(const fa_lut_args *args);

/* Per-image sequences of steps (csrc/sequence.c): image i runs its steps s = 0..S-1 in
   order, each on the result of the one before, the last writing dst[i]. */
typedef enum {
    FA_STEP_NONE = 0,         /* no work */
    FA_STEP_LUT = 1,          /* tables (C, 256) */
    FA_STEP_AUTOCONTRAST = 2, /* torchvision's, on the colour channels (alpha kept) */
    FA_STEP_EQUALIZE = 3,     /* PIL's, likewise */
    FA_STEP_AUGMENT = 4,      /* fa_augment: inverse, color, fill constant cval */
    FA_STEP_SHARPNESS = 5     /* 3x3 smoothing blend: weights, offset */
} fa_step;

typedef struct {
    const uint8_t *src; /* (N, H, W, C) as fa_augment_args */
    int64_t n, h, w, c;
    int64_t src_image_stride, src_row_stride;
    uint8_t *dst; /* C-contiguous (N, H, W, C) */
    int64_t steps; /* S */
    const int32_t *kind;   /* (N, S) fa_step */
    const double *inverse; /* (N, S, 2, 3) destination-to-source */
    const double *color;   /* (N, S, C, C + 1) */
    /* (N, S, C): an augment step adds gray[c] * m to the offset of colour row c, m the
       mean grey (weights as fa_gray_sums) of its input warped by inverse; all zero: no
       such term */
    const double *gray;
    float gray_weights[3];
    const uint8_t *tables; /* (N, S, C, 256) */
    const float *weights;  /* (N, S, 2): inside the one-pixel frame, round(w0 x + w1
                              round(smooth x) + offset), smooth = [[1 1 1] [1 5 1] [1 1 1]] / 13 */
    float offset;
    int interp; /* fa_interp */
    uint8_t cval[4];
    int threads;
} fa_sequence_args;

/* Returns 0, or -1 when scratch memory could not be allocated. */
int fa_sequence(const fa_sequence_args *args);

/* The vector sampling kernels allowed: 0 none (scalar code), 1 AVX2, 2 AVX2 and the
   AVX-512 VBMI channel split too (the default: whatever the CPU has). Results are
   identical at every level (tests compare them). fa_sequence's sharpening is AVX2 at
   levels 1 and 2. */
void fa_set_simd(int level);
int fa_get_simd(void);

/* The lookup-table implementation: request 0 selects portable C, 1 the fastest the CPU
   has, -1 leaves the choice alone. Returns 1 when that is AVX-512 VBMI, else 0. */
int fa_lut_path(int request);

/* Number of threads OpenMP would use, or 1 when built without OpenMP. */
int fa_max_threads(void);
int fa_has_openmp(void);

#endif
