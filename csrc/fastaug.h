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

/* The vector sampling kernels allowed: 0 none (scalar code), 1 AVX2, 2 AVX2 and the
   AVX-512 VBMI channel split too (the default: whatever the CPU has). Results are
   identical at every level (tests compare them). */
void fa_set_simd(int level);

/* The lookup-table implementation: request 0 selects portable C, 1 the fastest the CPU
   has, -1 leaves the choice alone. Returns 1 when that is AVX-512 VBMI, else 0. */
int fa_lut_path(int request);

/* Number of threads OpenMP would use, or 1 when built without OpenMP. */
int fa_max_threads(void);
int fa_has_openmp(void);

#endif
