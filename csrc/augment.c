/*
 * The fused augmentation kernel: for every output pixel, one geometric sample
 * (nearest or bilinear, any fill mode), an optional colour matrix, and the conversion
 * to the output dtype and layout, in a single pass.
 *
 * Every path computes a pixel with the same floating-point operations in the same order,
 * so the fast paths (axis-aligned tables, pure gathers, row copies) give bit-identical
 * results to the general one. The build uses -ffp-contract=off so that no path gets
 * fused multiply-adds that another lacks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fastaug.h"
#include "parallel.h"

#define FA_INLINE static inline __attribute__((always_inline))

typedef struct {
    const fa_augment_args *a;
    const uint8_t *src; /* this image */
    const double *m;    /* destination-to-source matrix */
    const float *color; /* NULL: no colour matrix */
    int clip;
    double xmin, xmax, ymin, ymax;
    uint8_t *dst8;  /* this image's output, NHWC uint8 */
    float *dstf;    /* this image's output, float */
} image_ctx;

/* ---- output ---------------------------------------------------------------------- */

/* Colour matrix, saturation and conversion of one pixel's C values; x is the column. */
FA_INLINE void put_pixel(const image_ctx *ic, int C, float *v, int64_t y, int64_t x)
{
    const fa_augment_args *a = ic->a;
    float o[4];
    if (ic->color) {
        for (int c = 0; c < C; ++c) {
            const float *row = ic->color + c * (C + 1);
            float acc = row[C];
            for (int k = 0; k < C; ++k)
                acc += row[k] * v[k];
            o[c] = fminf(fmaxf(acc, 0.0f), 255.0f);
        }
    } else {
        for (int c = 0; c < C; ++c)
            o[c] = v[c];
    }
    if (a->output == FA_OUT_U8_NHWC) {
        uint8_t *d = ic->dst8 + (y * a->ow + x) * C;
        for (int c = 0; c < C; ++c)
            d[c] = (uint8_t)(fminf(o[c], 255.0f) + 0.5f);
    } else if (a->output == FA_OUT_F32_NHWC) {
        float *d = ic->dstf + (y * a->ow + x) * C;
        for (int c = 0; c < C; ++c)
            d[c] = o[c] * a->scale[c] + a->offset[c];
    } else {
        const int64_t plane = a->oh * a->ow;
        float *d = ic->dstf + y * a->ow + x;
        for (int c = 0; c < C; ++c)
            d[c * plane] = o[c] * a->scale[c] + a->offset[c];
    }
}

/* ---- sampling -------------------------------------------------------------------- */

FA_INLINE float lerp2(float p00, float p01, float p10, float p11, float fx, float fy)
{
    float top = p00 + fx * (p01 - p00);
    float bottom = p10 + fx * (p11 - p10);
    return top + fy * (bottom - top);
}

FA_INLINE double clamp_coord(double s)
{
    return fmin(fmax(s, -FA_COORD_LIMIT), FA_COORD_LIMIT);
}

FA_INLINE void split_linear(double s, int64_t *i, float *f)
{
    double fl = floor(clamp_coord(s));
    *i = (int64_t)fl;
    *f = (float)(clamp_coord(s) - fl);
}

FA_INLINE int64_t split_nearest(double s)
{
    return (int64_t)floor(clamp_coord(s) + 0.5);
}

/* Pixel (yi, xi) channel c, or cval where either index is -1 (constant fill). */
FA_INLINE float fetch(const image_ctx *ic, int C, int64_t yi, int64_t xi, int c)
{
    if (yi < 0 || xi < 0)
        return (float)ic->a->cval[c];
    return (float)ic->src[yi * ic->a->src_row_stride + xi * C + c];
}

FA_INLINE void source_point(const image_ctx *ic, double rx, double ry, int64_t x,
                            double *sx, double *sy)
{
    *sx = rx + ic->m[0] * (double)x;
    *sy = ry + ic->m[3] * (double)x;
    if (ic->clip) {
        *sx = fmin(fmax(*sx, ic->xmin), ic->xmax);
        *sy = fmin(fmax(*sy, ic->ymin), ic->ymax);
    }
}

/* ---- general path: any matrix ---------------------------------------------------- */

FA_INLINE void rows_general(const image_ctx *ic, int C, int interp, int64_t y0, int64_t y1)
{
    const fa_augment_args *a = ic->a;
    const int64_t w = a->w, h = a->h, rs = a->src_row_stride;
    const int fill = a->fill;
    const double *m = ic->m;
    float v[4];
    for (int64_t y = y0; y < y1; ++y) {
        const double rx = m[1] * (double)y + m[2];
        const double ry = m[4] * (double)y + m[5];
        for (int64_t x = 0; x < a->ow; ++x) {
            double sx, sy;
            source_point(ic, rx, ry, x, &sx, &sy);
            if (interp == FA_INTERP_NEAREST) {
                int64_t xi = fa_border_index(split_nearest(sx), w, fill);
                int64_t yi = fa_border_index(split_nearest(sy), h, fill);
                for (int c = 0; c < C; ++c)
                    v[c] = fetch(ic, C, yi, xi, c);
            } else {
                int64_t ix, iy;
                float fx, fy;
                split_linear(sx, &ix, &fx);
                split_linear(sy, &iy, &fy);
                if (ix >= 0 && ix < w - 1 && iy >= 0 && iy < h - 1) {
                    const uint8_t *p = ic->src + iy * rs + ix * C;
                    for (int c = 0; c < C; ++c)
                        v[c] = lerp2(p[c], p[C + c], p[rs + c], p[rs + C + c], fx, fy);
                } else {
                    int64_t x0 = fa_border_index(ix, w, fill);
                    int64_t x1 = fa_border_index(ix + 1, w, fill);
                    int64_t ya = fa_border_index(iy, h, fill);
                    int64_t yb = fa_border_index(iy + 1, h, fill);
                    for (int c = 0; c < C; ++c)
                        v[c] = lerp2(fetch(ic, C, ya, x0, c), fetch(ic, C, ya, x1, c),
                                     fetch(ic, C, yb, x0, c), fetch(ic, C, yb, x1, c), fx,
                                     fy);
                }
            }
            put_pixel(ic, C, v, y, x);
        }
    }
}

/* ---- axis-aligned path: source column depends on x only, source row on y only ---- */

typedef struct {
    int64_t *i0, *i1; /* mapped source indices (-1: cval) */
    float *f;         /* bilinear fractions; all 0 for nearest */
} axis_table;

/* Fills the table for one axis; returns 1 when every fraction is zero. */
static int fill_axis(axis_table *t, int64_t count, double base, double step, double lo,
                     double hi, int clip, int64_t n, int interp, int fill)
{
    int all_zero = 1;
    for (int64_t k = 0; k < count; ++k) {
        double s = base + step * (double)k;
        if (clip)
            s = fmin(fmax(s, lo), hi);
        if (interp == FA_INTERP_NEAREST) {
            t->i0[k] = t->i1[k] = fa_border_index(split_nearest(s), n, fill);
            t->f[k] = 0.0f;
        } else {
            int64_t i;
            split_linear(s, &i, &t->f[k]);
            t->i0[k] = fa_border_index(i, n, fill);
            t->i1[k] = fa_border_index(i + 1, n, fill);
            all_zero &= t->f[k] == 0.0f;
        }
    }
    return all_zero;
}

/* Copy of whole pixels by column table (fractions zero): nearest, flips, integer crops. */
FA_INLINE void row_gather(const image_ctx *ic, int C, const axis_table *tx, int64_t yi,
                          int64_t y)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow;
    if (!ic->color && a->output == FA_OUT_U8_NHWC) {
        uint8_t *d = ic->dst8 + y * ow * C;
        const uint8_t *row = ic->src + yi * a->src_row_stride;
        if (yi >= 0 && tx->i0[0] >= 0 && tx->i0[ow - 1] >= 0) {
            const int64_t first = tx->i0[0];
            if (tx->i0[ow - 1] == first + ow - 1) {
                int contiguous = 1;
                for (int64_t x = 1; x < ow && contiguous; ++x)
                    contiguous = tx->i0[x] == first + x;
                if (contiguous) {
                    memcpy(d, row + first * C, (size_t)(ow * C));
                    return;
                }
            }
        }
        for (int64_t x = 0; x < ow; ++x) {
            const int64_t xi = tx->i0[x];
            if (yi < 0 || xi < 0) {
                for (int c = 0; c < C; ++c)
                    d[x * C + c] = a->cval[c];
            } else {
                for (int c = 0; c < C; ++c)
                    d[x * C + c] = row[xi * C + c];
            }
        }
        return;
    }
    float v[4];
    for (int64_t x = 0; x < ow; ++x) {
        for (int c = 0; c < C; ++c)
            v[c] = fetch(ic, C, yi, tx->i0[x], c);
        put_pixel(ic, C, v, y, x);
    }
}

FA_INLINE void row_separable(const image_ctx *ic, int C, const axis_table *tx, int64_t ya,
                             int64_t yb, float fy, int64_t y)
{
    float v[4];
    for (int64_t x = 0; x < ic->a->ow; ++x) {
        const int64_t x0 = tx->i0[x], x1 = tx->i1[x];
        const float fx = tx->f[x];
        for (int c = 0; c < C; ++c)
            v[c] = lerp2(fetch(ic, C, ya, x0, c), fetch(ic, C, ya, x1, c),
                         fetch(ic, C, yb, x0, c), fetch(ic, C, yb, x1, c), fx, fy);
        put_pixel(ic, C, v, y, x);
    }
}

FA_INLINE int rows_axis_aligned(const image_ctx *ic, int C, int interp, int64_t y0,
                                int64_t y1)
{
    const fa_augment_args *a = ic->a;
    const double *m = ic->m;
    axis_table tx;
    /* One allocation for the column table: two index arrays, then the fractions. */
    char *mem = malloc((size_t)a->ow * (2 * sizeof(int64_t) + sizeof(float)));
    if (!mem)
        return -1;
    tx.i0 = (int64_t *)mem;
    tx.i1 = tx.i0 + a->ow;
    tx.f = (float *)(tx.i1 + a->ow);
    /* The same expression as source_point() with the y term (exactly zero) kept. */
    const int x_exact = fill_axis(&tx, a->ow, m[1] * 0.0 + m[2], m[0], ic->xmin, ic->xmax,
                                  ic->clip, a->w, interp, a->fill);
    for (int64_t y = y0; y < y1; ++y) {
        int64_t ya, yb;
        float fy;
        axis_table ty = {&ya, &yb, &fy};
        const int y_exact = fill_axis(&ty, 1, m[4] * (double)y + m[5], m[3], ic->ymin,
                                      ic->ymax, ic->clip, a->h, interp, a->fill);
        if (x_exact && y_exact)
            row_gather(ic, C, &tx, ya, y);
        else
            row_separable(ic, C, &tx, ya, yb, fy, y);
    }
    free(mem);
    return 0;
}

/* ---- dispatch -------------------------------------------------------------------- */

FA_INLINE int rows_for(const image_ctx *ic, int C, int interp, int64_t y0, int64_t y1)
{
    if (ic->m[1] == 0.0 && ic->m[3] == 0.0)
        return rows_axis_aligned(ic, C, interp, y0, y1);
    rows_general(ic, C, interp, y0, y1);
    return 0;
}

static int rows_c1_nearest(const image_ctx *ic, int64_t y0, int64_t y1)
{
    return rows_for(ic, 1, FA_INTERP_NEAREST, y0, y1);
}
static int rows_c3_nearest(const image_ctx *ic, int64_t y0, int64_t y1)
{
    return rows_for(ic, 3, FA_INTERP_NEAREST, y0, y1);
}
static int rows_c4_nearest(const image_ctx *ic, int64_t y0, int64_t y1)
{
    return rows_for(ic, 4, FA_INTERP_NEAREST, y0, y1);
}
static int rows_c1_bilinear(const image_ctx *ic, int64_t y0, int64_t y1)
{
    return rows_for(ic, 1, FA_INTERP_BILINEAR, y0, y1);
}
static int rows_c3_bilinear(const image_ctx *ic, int64_t y0, int64_t y1)
{
    return rows_for(ic, 3, FA_INTERP_BILINEAR, y0, y1);
}
static int rows_c4_bilinear(const image_ctx *ic, int64_t y0, int64_t y1)
{
    return rows_for(ic, 4, FA_INTERP_BILINEAR, y0, y1);
}

typedef int (*rows_fn)(const image_ctx *, int64_t, int64_t);

static rows_fn choose_rows(int64_t c, int interp)
{
    const int bilinear = interp == FA_INTERP_BILINEAR;
    switch (c) {
    case 1:
        return bilinear ? rows_c1_bilinear : rows_c1_nearest;
    case 3:
        return bilinear ? rows_c3_bilinear : rows_c3_nearest;
    default:
        return bilinear ? rows_c4_bilinear : rows_c4_nearest;
    }
}

static int run_chunk(const fa_augment_args *a, rows_fn rows, int64_t n, int64_t y0,
                     int64_t y1)
{
    image_ctx ic;
    ic.a = a;
    ic.src = a->src + n * a->src_image_stride;
    ic.m = a->inverse + n * a->inverse_stride;
    ic.color = a->color ? a->color + n * a->color_stride : NULL;
    ic.clip = a->clip != NULL;
    if (ic.clip) {
        const double *b = a->clip + n * a->clip_stride;
        ic.xmin = b[0];
        ic.xmax = b[1];
        ic.ymin = b[2];
        ic.ymax = b[3];
    } else {
        ic.xmin = ic.ymin = -FA_COORD_LIMIT;
        ic.xmax = ic.ymax = FA_COORD_LIMIT;
    }
    const int64_t image_size = a->oh * a->ow * a->c;
    ic.dst8 = (uint8_t *)a->dst + n * image_size;
    ic.dstf = (float *)a->dst + n * image_size;
    return rows(&ic, y0, y1);
}

typedef struct {
    const fa_augment_args *a;
    rows_fn rows;
    int64_t per_image, rows_per_chunk;
} augment_plan;

static int augment_task(void *ctx, int64_t k)
{
    const augment_plan *p = ctx;
    const int64_t n = k / p->per_image;
    const int64_t y0 = (k % p->per_image) * p->rows_per_chunk;
    const int64_t end = y0 + p->rows_per_chunk;
    const int64_t y1 = end < p->a->oh ? end : p->a->oh;
    return y0 < y1 ? run_chunk(p->a, p->rows, n, y0, y1) : 0;
}

int fa_augment(const fa_augment_args *a)
{
    if (a->n == 0 || a->oh == 0 || a->ow == 0)
        return 0;
    augment_plan plan = {a, choose_rows(a->c, a->interp), 1, a->oh};
    fa_split_rows(a->n, a->oh, a->threads, &plan.per_image, &plan.rows_per_chunk);
    return fa_parallel(a->threads, a->n * plan.per_image, augment_task, &plan);
}
