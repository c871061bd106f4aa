/*
 * The fused augmentation kernel: for every output pixel, one geometric sample
 * (nearest or bilinear, any fill mode), an optional colour matrix, and the conversion
 * to the output dtype and layout, in a single pass over the output.
 *
 * Each output row goes through two stages:
 *   1. sampling: the row's pixels as floats, interleaved (x * C + c), by the general
 *      per-pixel path, or for axis-aligned matrices (resizes, crops, flips) from column
 *      tables and cached horizontally interpolated source rows;
 *   2. finishing: colour matrix, saturation and conversion to the output.
 * A row that is a pure copy of source pixels (integer shifts and flips, nearest) with
 * no colour and uint8 output skips both and is copied directly.
 *
 * Sampling handles a pixel of 3 or 4 channels as one 4-lane SSE vector (x86-64's
 * baseline), one channel per lane (for C = 3 the fourth lane carries a neighbour's value
 * that is never stored), after a first pass over the row has computed every pixel's
 * source coordinates two at a time. Finishing with a colour matrix works on four pixels
 * of one channel per vector. Lane-wise vector arithmetic rounds exactly like scalar float32
 * arithmetic, and every path evaluates a pixel with the same operations in the same
 * order (lerp = a + t * (b - a); colour = ((bias + m0 v0) + m1 v1) + m2 v2), so the
 * fast paths are bit-identical to the general one. The build uses -ffp-contract=off
 * so that no path gets fused multiply-adds that another lacks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastaug.h"
#include "parallel.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define FA_SSE2 1
#else
#define FA_SSE2 0
#endif

#define FA_INLINE static inline __attribute__((always_inline))

/* Byte-shuffling loops get an SSSE3/AVX2 clone chosen at load time (same results). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FA_HOT __attribute__((target_clones("avx2", "ssse3", "default")))
#else
#define FA_HOT
#endif

typedef struct {
    const fa_augment_args *a;
    const uint8_t *src; /* this image */
    const double *m;    /* destination-to-source matrix */
    const float *color; /* NULL: no colour matrix */
    double xmin, xmax, ymin, ymax; /* coordinate clamp, within +-FA_COORD_LIMIT */
    uint8_t *dst8; /* this image's output (uint8 NHWC) */
    float *dstf;   /* this image's output (float) */
    float *work;   /* scratch: 3 rows of OW * C + 4 floats */
    int64_t work_row;
    int stream; /* the output is too large for the caches: non-temporal stores */
} image_ctx;

/* ---- scalars --------------------------------------------------------------------- */

/* Clamp that also sends NaN (from inf - inf in extreme matrices) to lo. */
FA_INLINE double clampd(double s, double lo, double hi)
{
    return s >= lo ? (s <= hi ? s : hi) : lo;
}

/* floor() of a coordinate already clamped to +-FA_COORD_LIMIT, as an integer. */
FA_INLINE int64_t floor_index(double s)
{
    int64_t i = (int64_t)s;
    return i - (s < (double)i);
}

/* Both take coordinates already clamped (image_ctx's xmin..ymax). */
FA_INLINE void split_linear(double s, int64_t *i, float *f)
{
    *i = floor_index(s);
    *f = (float)(s - (double)*i);
}

FA_INLINE int64_t split_nearest(double s)
{
    return floor_index(s + 0.5);
}

FA_INLINE float lerp(float a, float b, float t)
{
    return a + t * (b - a);
}

/* ---- pixels: C values as a vector (C = 3, 4) or a scalar (C = 1) ------------------ */

#if FA_SSE2
typedef __m128 pix;

/* Four bytes from p as floats (C = 3 reads one byte of the next pixel: callers
   guarantee it exists). */
FA_INLINE pix pix_load(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
    const __m128i zero = _mm_setzero_si128();
    __m128i b = _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)u), zero);
    return _mm_cvtepi32_ps(_mm_unpacklo_epi16(b, zero));
}
FA_INLINE pix pix_lerp(pix a, pix b, pix t)
{
    return _mm_add_ps(a, _mm_mul_ps(t, _mm_sub_ps(b, a)));
}
FA_INLINE pix pix_splat(float v)
{
    return _mm_set1_ps(v);
}
FA_INLINE pix pix_loadf(const float *p)
{
    return _mm_loadu_ps(p);
}
FA_INLINE void pix_storef(float *p, pix v)
{
    _mm_storeu_ps(p, v);
}
#endif

/* ---- stage 2: colour, saturation, conversion ------------------------------------- */

typedef struct {
#if FA_SSE2
    pix col[4], bias; /* colour matrix columns and offsets, lanes = output channels */
    pix scale, offset;
    /* The same numbers splatted, for four pixels of one channel at a time. */
    pix coef[4][4], bias1[4], scale1[4], offset1[4];
#endif
    int color;
} finish_consts;

static void finish_init(const image_ctx *ic, int C, finish_consts *k)
{
    k->color = ic->color != NULL;
#if FA_SSE2
    const fa_augment_args *a = ic->a;
    if (C > 1) {
        float col[4][4] = {{0}}, bias[4] = {0};
        if (ic->color)
            for (int c = 0; c < C; ++c) {
                for (int j = 0; j < C; ++j)
                    col[j][c] = ic->color[c * (C + 1) + j];
                bias[c] = ic->color[c * (C + 1) + C];
            }
        for (int j = 0; j < 4; ++j)
            k->col[j] = _mm_loadu_ps(col[j]);
        k->bias = _mm_loadu_ps(bias);
        k->scale = _mm_loadu_ps(a->scale);
        k->offset = _mm_loadu_ps(a->offset);
        for (int c = 0; c < 4; ++c) {
            for (int j = 0; j < 4; ++j)
                k->coef[c][j] = _mm_set1_ps(col[j][c]);
            k->bias1[c] = _mm_set1_ps(bias[c]);
            k->scale1[c] = _mm_set1_ps(a->scale[c]);
            k->offset1[c] = _mm_set1_ps(a->offset[c]);
        }
    }
#else
    (void)C;
#endif
}

/* v >= 0; through int32 so that loops of it vectorise (cvttps2dq, then packs). */
FA_INLINE uint8_t to_u8(float v)
{
    return (uint8_t)(int32_t)((v > 255.0f ? 255.0f : v) + 0.5f);
}

/* Scalar finishing of one pixel (C = 1, and builds without SSE2). */
FA_INLINE void finish_scalar(const image_ctx *ic, int C, const float *v, int64_t y, int64_t x)
{
    const fa_augment_args *a = ic->a;
    float o[4];
    for (int c = 0; c < C; ++c) {
        if (ic->color) {
            const float *m = ic->color + c * (C + 1);
            float acc = m[C];
            for (int j = 0; j < C; ++j)
                acc += m[j] * v[j];
            acc = acc < 0.0f ? 0.0f : acc;
            o[c] = acc > 255.0f ? 255.0f : acc;
        } else {
            o[c] = v[c];
        }
    }
    if (a->output == FA_OUT_U8_NHWC) {
        for (int c = 0; c < C; ++c)
            ic->dst8[(y * a->ow + x) * C + c] = to_u8(o[c]);
    } else if (a->output == FA_OUT_F32_NHWC) {
        for (int c = 0; c < C; ++c)
            ic->dstf[(y * a->ow + x) * C + c] = o[c] * a->scale[c] + a->offset[c];
    } else {
        for (int c = 0; c < C; ++c)
            ic->dstf[(c * a->oh + y) * a->ow + x] = o[c] * a->scale[c] + a->offset[c];
    }
}

#if FA_SSE2
FA_INLINE pix color_pix(const finish_consts *k, int C, pix v)
{
    pix acc = _mm_add_ps(k->bias, _mm_mul_ps(k->col[0], _mm_shuffle_ps(v, v, 0x00)));
    acc = _mm_add_ps(acc, _mm_mul_ps(k->col[1], _mm_shuffle_ps(v, v, 0x55)));
    acc = _mm_add_ps(acc, _mm_mul_ps(k->col[2], _mm_shuffle_ps(v, v, 0xAA)));
    if (C == 4)
        acc = _mm_add_ps(acc, _mm_mul_ps(k->col[3], _mm_shuffle_ps(v, v, 0xFF)));
    return acc;
}

/* Saturation after a colour matrix. */
FA_INLINE pix saturate_pix(pix acc)
{
    return _mm_min_ps(_mm_max_ps(acc, _mm_setzero_ps()), pix_splat(255.0f));
}

/* Conversion and store of output pixel (y, x). */
FA_INLINE void store_pix(const image_ctx *ic, int C, const finish_consts *k, pix o, int64_t y,
                         int64_t x)
{
    const fa_augment_args *a = ic->a;
    if (a->output == FA_OUT_U8_NHWC) {
        __m128i i = _mm_cvttps_epi32(_mm_add_ps(_mm_min_ps(o, pix_splat(255.0f)), pix_splat(0.5f)));
        i = _mm_packs_epi32(i, i);
        const uint32_t u = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(i, i));
        memcpy(ic->dst8 + (y * a->ow + x) * C, &u, (size_t)C);
        return;
    }
    float t[4];
    _mm_storeu_ps(t, _mm_add_ps(_mm_mul_ps(o, k->scale), k->offset));
    if (a->output == FA_OUT_F32_NHWC) {
        memcpy(ic->dstf + (y * a->ow + x) * C, t, (size_t)C * sizeof(float));
    } else {
        float *d = ic->dstf + y * a->ow + x;
        const int64_t plane = a->oh * a->ow;
        for (int c = 0; c < C; ++c)
            d[c * plane] = t[c];
    }
}
#endif

/* Rows without a colour matrix are finished channel-blind, as flat loops over the
   row's OW * C values that the compiler vectorises; each value gets the same
   operations as in store_pix / finish_scalar. */
FA_INLINE int finish_flat(const image_ctx *ic, int C, const float *v, int64_t y)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow, count = ow * C;
    if (a->output == FA_OUT_U8_NHWC) {
        uint8_t *d = ic->dst8 + y * count;
        int64_t j = 0;
#if FA_SSE2
        const pix top = pix_splat(255.0f), half = pix_splat(0.5f);
        for (; j + 16 <= count; j += 16) {
            __m128i q[4];
            for (int r = 0; r < 4; ++r)
                q[r] = _mm_cvttps_epi32(_mm_add_ps(_mm_min_ps(pix_loadf(v + j + 4 * r), top), half));
            const __m128i lo = _mm_packs_epi32(q[0], q[1]), hi = _mm_packs_epi32(q[2], q[3]);
            _mm_storeu_si128((__m128i *)(d + j), _mm_packus_epi16(lo, hi));
        }
#endif
        for (; j < count; ++j)
            d[j] = to_u8(v[j]);
        return 1;
    }
    if (a->output == FA_OUT_F32_NCHW) {
        const int64_t plane = a->oh * ow;
        for (int c = 0; c < C; ++c) {
            float *d = ic->dstf + c * plane + y * ow;
            const float scale = a->scale[c], offset = a->offset[c];
            for (int64_t x = 0; x < ow; ++x)
                d[x] = v[x * C + c] * scale + offset;
        }
        return 1;
    }
    /* NHWC float: scale and offset repeat every C values; for C = 3 four pixels (12
       values) cover three vectors whose lanes cycle through the channels. */
    float *d = ic->dstf + y * count;
    int64_t j = 0;
#if FA_SSE2
    if (C > 1) {
        const int period = C == 3 ? 12 : 4;
        float sp[12], op[12];
        for (int i = 0; i < period; ++i) {
            sp[i] = a->scale[i % C];
            op[i] = a->offset[i % C];
        }
        for (; j + period <= count; j += period)
            for (int i = 0; i < period; i += 4)
                pix_storef(d + j + i, _mm_add_ps(_mm_mul_ps(pix_loadf(v + j + i), pix_loadf(sp + i)),
                                                 pix_loadf(op + i)));
    }
#endif
    for (; j < count; ++j)
        d[j] = v[j] * a->scale[j % C] + a->offset[j % C];
    return 1;
}

#if FA_SSE2
/* Colour for four pixels at a time, one channel per vector (planes), then back to
   pixels for interleaved outputs. Per lane these are the operations of color_pix,
   saturate_pix and store_pix, so the values are the same; returns the pixels done. */
FA_INLINE int64_t finish_color_planar(const image_ctx *ic, int C, const finish_consts *k,
                                      const float *v, int64_t y)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow, plane = a->oh * ow;
    int64_t x = 0;
    for (; x + 4 <= ow; x += 4) {
        const float *p = v + x * C;
        pix in[4], o[4];
        for (int j = 0; j < C; ++j)
            in[j] = _mm_setr_ps(p[j], p[C + j], p[2 * C + j], p[3 * C + j]);
        for (int c = 0; c < C; ++c) {
            pix acc = _mm_add_ps(k->bias1[c], _mm_mul_ps(k->coef[c][0], in[0]));
            for (int j = 1; j < C; ++j)
                acc = _mm_add_ps(acc, _mm_mul_ps(k->coef[c][j], in[j]));
            o[c] = saturate_pix(acc);
        }
        if (a->output == FA_OUT_F32_NCHW) {
            float *d = ic->dstf + y * ow + x;
            for (int c = 0; c < C; ++c)
                _mm_storeu_ps(d + c * plane, _mm_add_ps(_mm_mul_ps(o[c], k->scale1[c]), k->offset1[c]));
            continue;
        }
        if (C == 3)
            o[3] = _mm_setzero_ps();
        _MM_TRANSPOSE4_PS(o[0], o[1], o[2], o[3]); /* o[i] is now pixel x + i */
        if (a->output == FA_OUT_U8_NHWC) {
            __m128i q[4];
            for (int i = 0; i < 4; ++i)
                q[i] = _mm_cvttps_epi32(
                    _mm_add_ps(_mm_min_ps(o[i], pix_splat(255.0f)), pix_splat(0.5f)));
            const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(q[0], q[1]),
                                                   _mm_packs_epi32(q[2], q[3]));
            uint8_t *d = ic->dst8 + (y * ow + x) * C;
            if (C == 4) {
                _mm_storeu_si128((__m128i *)d, bytes);
            } else {
                uint8_t t[16];
                _mm_storeu_si128((__m128i *)t, bytes);
                for (int i = 0; i < 4; ++i)
                    memcpy(d + 3 * i, t + 4 * i, 3);
            }
        } else {
            float *d = ic->dstf + (y * ow + x) * C;
            for (int i = 0; i < 4; ++i) {
                float t[4];
                _mm_storeu_ps(t, _mm_add_ps(_mm_mul_ps(o[i], k->scale), k->offset));
                memcpy(d + i * C, t, (size_t)C * sizeof(float));
            }
        }
    }
    return x;
}
#endif

/* v: the row's pixels as OW * C interleaved floats (+4 floats of padding). */
FA_INLINE void finish_row(const image_ctx *ic, int C, const finish_consts *k,
                          const float *v, int64_t y)
{
    const int64_t ow = ic->a->ow;
    if (!ic->color && finish_flat(ic, C, v, y))
        return;
#if FA_SSE2
    if (C > 1) {
        int64_t x = 0;
        if (k->color)
            x = finish_color_planar(ic, C, k, v, y);
        for (; x < ow; ++x) {
            pix o = pix_loadf(v + x * C);
            if (k->color)
                o = saturate_pix(color_pix(k, C, o));
            store_pix(ic, C, k, o, y, x);
        }
        return;
    }
#endif
    (void)k;
    for (int64_t x = 0; x < ow; ++x)
        finish_scalar(ic, C, v + x * C, y, x);
}

/* ---- stage 1, general path: any matrix ------------------------------------------- */

/* Pixel (yi, xi) channel c as float, or cval where an index is -1 (constant fill). */
FA_INLINE float fetch(const image_ctx *ic, int C, int64_t yi, int64_t xi, int c)
{
    if (yi < 0 || xi < 0)
        return (float)ic->a->cval[c];
    return (float)ic->src[yi * ic->a->src_row_stride + xi * C + c];
}

/* Bilinear sample from mapped indices (any of them may be -1), into v[0..C). */
FA_INLINE void bilinear_border(const image_ctx *ic, int C, int64_t x0, int64_t x1,
                               int64_t y0, int64_t y1, float fx, float fy, float *v)
{
    for (int c = 0; c < C; ++c)
        v[c] = lerp(lerp(fetch(ic, C, y0, x0, c), fetch(ic, C, y0, x1, c), fx),
                    lerp(fetch(ic, C, y1, x0, c), fetch(ic, C, y1, x1, c), fx), fy);
}

/* Output pixel x of the row whose source line starts at (rx, ry), into vx[0..C). */
FA_INLINE void sample_pixel(const image_ctx *ic, int C, int interp, double rx, double ry,
                            int64_t x, float *vx)
{
    const fa_augment_args *a = ic->a;
    const int64_t w = a->w, h = a->h, rs = a->src_row_stride;
    const int fill = a->fill;
    const double *m = ic->m;
    const double sx = clampd(rx + m[0] * (double)x, ic->xmin, ic->xmax);
    const double sy = clampd(ry + m[3] * (double)x, ic->ymin, ic->ymax);
    if (interp == FA_INTERP_NEAREST) {
        const int64_t xi = fa_border_index(split_nearest(sx), w, fill);
        const int64_t yi = fa_border_index(split_nearest(sy), h, fill);
        for (int c = 0; c < C; ++c)
            vx[c] = fetch(ic, C, yi, xi, c);
        return;
    }
    int64_t ix, iy;
    float fx, fy;
    split_linear(sx, &ix, &fx);
    split_linear(sy, &iy, &fy);
#if FA_SSE2
    /* Vector loads read 4 bytes from a pixel: for C = 3 the column after it must exist. */
    const int64_t xlast = C == 3 ? w - 2 : w - 1;
    if (C > 1 && ix >= 0 && ix < xlast && iy >= 0 && iy < h - 1) {
        const uint8_t *p = ic->src + iy * rs + ix * C;
        const pix tx = pix_splat(fx);
        const pix top = pix_lerp(pix_load(p), pix_load(p + C), tx);
        const pix bottom = pix_lerp(pix_load(p + rs), pix_load(p + rs + C), tx);
        pix_storef(vx, pix_lerp(top, bottom, pix_splat(fy)));
        return;
    }
#endif
    bilinear_border(ic, C, fa_border_index(ix, w, fill), fa_border_index(ix + 1, w, fill),
                    fa_border_index(iy, h, fill), fa_border_index(iy + 1, h, fill), fx, fy, vx);
}

#if FA_SSE2
/* The clamped, floored and split source coordinates of a row, two pixels per SSE2
   operation: the same values as clampd + split_linear (floor = truncation, less one
   where that rounded up). */
FA_INLINE void split_row(double r, double step, double lo, double hi, int64_t count,
                         int32_t *index, float *frac)
{
    const __m128d rv = _mm_set1_pd(r), sv = _mm_set1_pd(step);
    const __m128d lov = _mm_set1_pd(lo), hiv = _mm_set1_pd(hi), one = _mm_set1_pd(1.0);
    __m128d xd = _mm_setr_pd(0.0, 1.0);
    int64_t x = 0;
    for (; x + 2 <= count; x += 2, xd = _mm_add_pd(xd, _mm_set1_pd(2.0))) {
        __m128d s = _mm_add_pd(rv, _mm_mul_pd(sv, xd));
        s = _mm_max_pd(_mm_min_pd(hiv, s), lov); /* NaN -> lo, like clampd */
        const __m128d t = _mm_cvtepi32_pd(_mm_cvttpd_epi32(s));
        const __m128d fl = _mm_sub_pd(t, _mm_and_pd(_mm_cmplt_pd(s, t), one));
        _mm_storel_epi64((__m128i *)(index + x), _mm_cvttpd_epi32(fl));
        _mm_storel_pi((__m64 *)(frac + x), _mm_cvtpd_ps(_mm_sub_pd(s, fl)));
    }
    for (; x < count; ++x) {
        int64_t i;
        split_linear(clampd(r + step * (double)x, lo, hi), &i, frac + x);
        index[x] = (int32_t)i;
    }
}

/* Bilinear row for C = 3, 4 in two passes: all coordinates first (vectorised), then
   the samples, so the two dependency chains do not interleave per pixel. */
FA_INLINE void bilinear_row(const image_ctx *ic, int C, double rx, double ry, float *v)
{
    const fa_augment_args *a = ic->a;
    const int64_t w = a->w, h = a->h, rs = a->src_row_stride, ow = a->ow;
    const int fill = a->fill;
    /* Scratch after the row itself: ix, iy (int32), fx, fy (float). */
    int32_t *ixs = (int32_t *)(ic->work + ic->work_row);
    int32_t *iys = ixs + ow;
    float *fxs = (float *)(iys + ow), *fys = fxs + ow;
    split_row(rx, ic->m[0], ic->xmin, ic->xmax, ow, ixs, fxs);
    split_row(ry, ic->m[3], ic->ymin, ic->ymax, ow, iys, fys);
    /* Vector loads read 4 bytes from a pixel: for C = 3 the column after it must exist. */
    const int64_t xlast = C == 3 ? w - 2 : w - 1;
    const uint32_t xspan = (uint32_t)(xlast > 0 ? xlast : 0), yspan = (uint32_t)(h - 1);
    for (int64_t x = 0; x < ow; ++x) {
        const int64_t ix = ixs[x], iy = iys[x];
        float *vx = v + x * C;
        if ((uint32_t)ix < xspan && (uint32_t)iy < yspan) {
            const uint8_t *p = ic->src + iy * rs + ix * C;
            const pix tx = pix_splat(fxs[x]);
            const pix top = pix_lerp(pix_load(p), pix_load(p + C), tx);
            const pix bottom = pix_lerp(pix_load(p + rs), pix_load(p + rs + C), tx);
            pix_storef(vx, pix_lerp(top, bottom, pix_splat(fys[x])));
        } else {
            bilinear_border(ic, C, fa_border_index(ix, w, fill), fa_border_index(ix + 1, w, fill),
                            fa_border_index(iy, h, fill), fa_border_index(iy + 1, h, fill),
                            fxs[x], fys[x], vx);
        }
    }
}
#endif

FA_INLINE void sample_row_general(const image_ctx *ic, int C, int interp, int64_t y,
                                  float *v)
{
    const double *m = ic->m;
    const double rx = m[1] * (double)y + m[2];
    const double ry = m[4] * (double)y + m[5];
#if FA_SSE2
    if (C > 1 && interp == FA_INTERP_BILINEAR) {
        bilinear_row(ic, C, rx, ry, v);
        return;
    }
#endif
    for (int64_t x = 0; x < ic->a->ow; ++x)
        sample_pixel(ic, C, interp, rx, ry, x, v + x * C);
}

FA_INLINE int rows_general(const image_ctx *ic, int C, int interp, int64_t y0, int64_t y1)
{
    finish_consts k;
    finish_init(ic, C, &k);
    for (int64_t y = y0; y < y1; ++y) {
        sample_row_general(ic, C, interp, y, ic->work);
        finish_row(ic, C, &k, ic->work, y);
    }
    return 0;
}

/* ---- stage 1, axis-aligned path: source column depends on x only, row on y only -- */

typedef struct {
    int64_t *i0, *i1; /* mapped source indices (-1: cval) */
    float *f;         /* bilinear fractions; all 0 for nearest */
    int exact;        /* every fraction is 0: a pure gather */
    int has_fill;     /* some index is -1 */
    int run;          /* i0 is first + x (1), first - x (-1), or neither (0) */
} axis_table;

static void fill_axis(axis_table *t, int64_t count, double base, double step, double lo,
                      double hi, int64_t n, int interp, int fill)
{
    t->exact = 1;
    t->has_fill = 0;
    for (int64_t k = 0; k < count; ++k) {
        const double s = clampd(base + step * (double)k, lo, hi);
        if (interp == FA_INTERP_NEAREST) {
            t->i0[k] = t->i1[k] = fa_border_index(split_nearest(s), n, fill);
            t->f[k] = 0.0f;
        } else {
            int64_t i;
            split_linear(s, &i, &t->f[k]);
            t->i0[k] = fa_border_index(i, n, fill);
            /* A zero weight ignores its neighbour (a + 0 * (b - a) == a): skip it. */
            t->i1[k] = t->f[k] == 0.0f ? t->i0[k] : fa_border_index(i + 1, n, fill);
            t->exact &= t->f[k] == 0.0f;
        }
        t->has_fill |= t->i0[k] < 0 || t->i1[k] < 0;
    }
    int up = 1, down = 1;
    for (int64_t k = 1; k < count; ++k) {
        up &= t->i0[k] == t->i0[0] + k;
        down &= t->i0[k] == t->i0[0] - k;
    }
    t->run = t->has_fill ? 0 : (up ? 1 : (down ? -1 : 0));
}

/* Source row yi interpolated along x: h[x * C + c]. */
FA_INLINE void horizontal(const image_ctx *ic, int C, const axis_table *tx, int64_t yi,
                          float *hrow)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow;
    const uint8_t *row = ic->src + yi * a->src_row_stride;
    if (yi >= 0 && tx->exact && tx->run == 1) { /* whole pixels, in order: convert */
        const uint8_t *s = row + tx->i0[0] * C;
        for (int64_t j = 0; j < ow * C; ++j)
            hrow[j] = (float)s[j];
        return;
    }
#if FA_SSE2
    if (C > 1 && yi >= 0 && !tx->has_fill) {
        /* Vector loads read a byte past a 3-channel pixel: not at the row's last pixel. */
        const int64_t wlast = a->w - 1;
        for (int64_t x = 0; x < ow; ++x) {
            const int64_t i0 = tx->i0[x], i1 = tx->i1[x];
            if (C == 4 || (i0 < wlast && i1 < wlast)) {
                pix_storef(hrow + x * C, pix_lerp(pix_load(row + i0 * C), pix_load(row + i1 * C),
                                                  pix_splat(tx->f[x])));
            } else {
                for (int c = 0; c < C; ++c)
                    hrow[x * C + c] = lerp(row[i0 * C + c], row[i1 * C + c], tx->f[x]);
            }
        }
        return;
    }
#endif
    for (int64_t x = 0; x < ow; ++x)
        for (int c = 0; c < C; ++c)
            hrow[x * C + c] = lerp(fetch(ic, C, yi, tx->i0[x], c), fetch(ic, C, yi, tx->i1[x], c),
                                   tx->f[x]);
}

/* d[k] = s[-k] for ow pixels of C bytes: a left-right flip. */
FA_HOT static void reverse_pixels(uint8_t *d, const uint8_t *s, int64_t ow, int C)
{
    int64_t k = 0;
    if (C == 3) {
        /* Five pixels per 16-byte block, loaded from one byte before them so that
           nothing after pixel 0 of the source run is read. */
        typedef uint8_t v16 __attribute__((vector_size(16)));
        const v16 rev = {13, 14, 15, 10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3, 0};
        for (; k + 6 <= ow; k += 5) {
            v16 block;
            memcpy(&block, s - 3 * (k + 4) - 1, 16);
            block = __builtin_shuffle(block, rev);
            memcpy(d + 3 * k, &block, 16);
        }
        for (; k < ow; ++k) {
            d[3 * k] = s[-3 * k];
            d[3 * k + 1] = s[1 - 3 * k];
            d[3 * k + 2] = s[2 - 3 * k];
        }
    } else if (C == 4) {
        for (; k < ow; ++k)
            memcpy(d + 4 * k, s - 4 * k, 4);
    } else {
        for (; k < ow; ++k)
            d[k] = s[-k];
    }
}

#if FA_SSE2
/* memcpy with non-temporal stores: no read-for-ownership of the destination. */
static void stream_copy(uint8_t *d, const uint8_t *s, int64_t n)
{
    while (n > 0 && ((uintptr_t)d & 15)) {
        *d++ = *s++;
        --n;
    }
    for (; n >= 16; n -= 16, d += 16, s += 16)
        _mm_stream_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
    while (n-- > 0)
        *d++ = *s++;
}
#endif

/* Direct copy of source row yi through the column table (no colour, uint8 output). */
FA_INLINE void copy_row(const image_ctx *ic, int C, const axis_table *tx, int64_t yi,
                        int64_t y)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow;
    uint8_t *d = ic->dst8 + y * ow * C;
    const uint8_t *row = ic->src + yi * a->src_row_stride;
    if (yi < 0 || tx->has_fill) {
        for (int64_t x = 0; x < ow; ++x)
            for (int c = 0; c < C; ++c)
                d[x * C + c] = (yi < 0 || tx->i0[x] < 0) ? a->cval[c] : row[tx->i0[x] * C + c];
        return;
    }
    const uint8_t *first = row + tx->i0[0] * C;
#if FA_SSE2
    if (ic->stream && tx->run != 0) {
        /* Large outputs bypass the cache: build the row in scratch, stream it out. */
        uint8_t *tmp = (uint8_t *)ic->work;
        if (tx->run == 1) {
            memcpy(tmp, first, (size_t)(ow * C));
        } else { /* read the source forwards (prefetch-friendly), reverse in L1 */
            uint8_t *fwd = tmp + ow * C;
            memcpy(fwd, first - (ow - 1) * C, (size_t)(ow * C));
            reverse_pixels(tmp, fwd + (ow - 1) * C, ow, C);
        }
        stream_copy(d, tmp, ow * C);
        return;
    }
#endif
    if (tx->run == 1)
        memcpy(d, first, (size_t)(ow * C));
    else if (tx->run == -1)
        reverse_pixels(d, first, ow, C);
    else
        for (int64_t x = 0; x < ow; ++x)
            memcpy(d + x * C, row + tx->i0[x] * C, (size_t)C);
}


FA_INLINE int rows_axis_aligned(const image_ctx *ic, int C, int interp, int64_t y0,
                                int64_t y1)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow;
    const double *m = ic->m;
    axis_table tx;
    char *mem = malloc((size_t)ow * (2 * sizeof(int64_t) + sizeof(float)));
    if (!mem)
        return -1;
    tx.i0 = (int64_t *)mem;
    tx.i1 = tx.i0 + ow;
    tx.f = (float *)(tx.i1 + ow);
    /* The general path's expression with the y term (exactly zero) kept. */
    fill_axis(&tx, ow, m[1] * 0.0 + m[2], m[0], ic->xmin, ic->xmax, a->w, interp, a->fill);
    const int direct = !ic->color && a->output == FA_OUT_U8_NHWC && tx.exact;
    finish_consts k;
    finish_init(ic, C, &k);
    /* Slot 0 holds source row ya interpolated along x, slot 1 row yb. */
    float *cache[2] = {ic->work, ic->work + ic->work_row};
    int64_t cached[2] = {INT64_MIN, INT64_MIN};
    float *v = ic->work + 2 * ic->work_row;
    for (int64_t y = y0; y < y1; ++y) {
        int64_t ya, yb;
        float fy;
        axis_table ty = {&ya, &yb, &fy, 0, 0, 0};
        fill_axis(&ty, 1, m[4] * (double)y + m[5], m[3], ic->ymin, ic->ymax, a->h, interp,
                  a->fill);
        if (ty.exact && direct) {
            copy_row(ic, C, &tx, ya, y);
            continue;
        }
        /* Moving down a row, the old yb is usually the new ya. */
        if (cached[0] != ya && cached[1] == ya) {
            float *tmp = cache[0];
            cache[0] = cache[1];
            cache[1] = tmp;
            cached[1] = cached[0];
            cached[0] = ya;
        }
        if (cached[0] != ya) {
            horizontal(ic, C, &tx, ya, cache[0]);
            cached[0] = ya;
        }
        if (ty.exact) {
            finish_row(ic, C, &k, cache[0], y);
            continue;
        }
        if (cached[1] != yb) {
            horizontal(ic, C, &tx, yb, cache[1]);
            cached[1] = yb;
        }
        const float *t = cache[0], *b = cache[1];
        for (int64_t j = 0; j < C * ow; ++j)
            v[j] = lerp(t[j], b[j], fy);
        finish_row(ic, C, &k, v, y);
    }
    free(mem);
    return 0;
}

/* ---- dispatch -------------------------------------------------------------------- */

FA_INLINE int rows_for(const image_ctx *ic, int C, int interp, int64_t y0, int64_t y1)
{
    if (ic->m[1] == 0.0 && ic->m[3] == 0.0)
        return rows_axis_aligned(ic, C, interp, y0, y1);
    return rows_general(ic, C, interp, y0, y1);
}

#define FA_ROWS(name, C, interp)                                                        \
    static int name(const image_ctx *ic, int64_t y0, int64_t y1)                        \
    {                                                                                   \
        return rows_for(ic, C, interp, y0, y1);                                         \
    }
FA_ROWS(rows_c1_nearest, 1, FA_INTERP_NEAREST)
FA_ROWS(rows_c3_nearest, 3, FA_INTERP_NEAREST)
FA_ROWS(rows_c4_nearest, 4, FA_INTERP_NEAREST)
FA_ROWS(rows_c1_bilinear, 1, FA_INTERP_BILINEAR)
FA_ROWS(rows_c3_bilinear, 3, FA_INTERP_BILINEAR)
FA_ROWS(rows_c4_bilinear, 4, FA_INTERP_BILINEAR)

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

typedef struct {
    const fa_augment_args *a;
    rows_fn rows;
    int64_t per_image, rows_per_chunk;
    int stream;
} augment_plan;

static int augment_task(void *ctx, int64_t k)
{
    const augment_plan *p = ctx;
    const fa_augment_args *a = p->a;
    const int64_t n = k / p->per_image;
    const int64_t y0 = (k % p->per_image) * p->rows_per_chunk;
    const int64_t end = y0 + p->rows_per_chunk;
    const int64_t y1 = end < a->oh ? end : a->oh;
    if (y0 >= y1)
        return 0;
    image_ctx ic;
    ic.a = a;
    ic.src = a->src + n * a->src_image_stride;
    ic.m = a->inverse + n * a->inverse_stride;
    ic.color = a->color ? a->color + n * a->color_stride : NULL;
    if (a->clip) {
        const double *b = a->clip + n * a->clip_stride;
        /* ops keeps boxes well inside +-FA_COORD_LIMIT. */
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
    /* Padding: 4-lane loads and stores at the last pixel of a 3-channel row. */
    ic.work_row = a->ow * a->c + 4;
    ic.work = calloc((size_t)(3 * ic.work_row), sizeof(float));
    if (!ic.work)
        return -1;
    ic.stream = p->stream;
    const int rc = p->rows(&ic, y0, y1);
#if FA_SSE2
    if (ic.stream)
        _mm_sfence(); /* order the streamed stores before the task ends */
#endif
    free(ic.work);
    return rc;
}

int fa_augment(const fa_augment_args *a)
{
    if (a->n == 0 || a->oh == 0 || a->ow == 0)
        return 0;
    /* Beyond a few MiB the output leaves the caches anyway: stream it. */
    const int stream = a->n * a->oh * a->ow * a->c > ((int64_t)8 << 20);
    augment_plan plan = {a, choose_rows(a->c, a->interp), 1, a->oh, stream};
    fa_split_rows(a->n, a->oh, a->threads, &plan.per_image, &plan.rows_per_chunk);
    return fa_parallel(a->threads, a->n * plan.per_image, augment_task, &plan);
}
