/*
 * The fused augmentation kernel: for every output pixel, one geometric sample
 * (nearest or bilinear, any fill mode), an optional colour matrix, and the conversion
 * to the output dtype and layout, in a single pass over the output.
 *
 * Each output row goes through two stages:
 *   1. sampling: the row's samples as fixed-point integers in C planes (plane c holds
 *      channel c of every pixel), by the general path (any matrix), or for axis-aligned
 *      matrices (resizes, crops, flips) from column tables and cached horizontally
 *      interpolated source rows;
 *   2. finishing: colour matrix, saturation and conversion to the output.
 * A row that is a pure copy of source pixels (integer shifts and flips) with no colour
 * and uint8 output skips both and is copied directly: runs of consecutive whole rows as
 * one block; outputs too large for the caches with non-temporal stores of whole aligned
 * 64-byte lines only (row_writer), flipped rows reversed first in scratch, or on VBMI
 * CPUs each aligned output line reversed straight from its source rows.
 *
 * Samples are integers in units of 2^-16 grey level (FA_VONE = one level), so float32
 * holds them exactly. Bilinear sampling is fixed point, the same integer formula on
 * every path (general or axis-aligned, vector or scalar):
 *
 *   S   = round_half_even(clamp(source coordinate) * 4096)    (1/4096 pixel)
 *   i   = S >> 12,  w = S & 4095                               (index, weight)
 *   h   = (a * (4096 - w) + b * w) >> 5                        (along x, 2^-7 level)
 *   v   = (h_top * (4096 - w_y) + h_bottom * w_y + 4) >> 3     (along y, 2^-16 level)
 *
 * Nearest sampling gives v = pixel << 16. The error against exact bilinear
 * interpolation is below 0.07 grey level.
 *
 * Where the CPU has AVX2, eight pixels go per vector: a general row is an interior run
 * (8-byte gathers bring each pixel's two columns, split into channels by pshufb, or
 * where the CPU has AVX-512 VBMI sixteen pixels at a time in 512-bit vectors, split by
 * vpermi2b, and finished straight from registers; nearest rows with fill "constant" or
 * "nearest" likewise by sixteen on VBMI CPUs)
 * between blocks that map fill modes in vector code (fill "nearest" by clamping the
 * coordinate, which gives the same integers); while an image is warped, the next one's
 * source is prefetched. The axis-aligned path takes its horizontal pass by block
 * (straight loads of whole pixels, shuffles of two 16-byte windows with masks planned
 * once per image, or gathers) and finishes from the vertical step; rows of whole
 * source pixels are finished from the source bytes. The vector row kernels are
 * compiled once per channel count and finishing kind (FA_BY_KIND). Whatever a vector
 * kernel cannot take (and every pixel on other CPUs) goes to the scalar code, which
 * computes the same integers; fa_set_simd(0) forces it and fa_set_simd(1) keeps to
 * AVX2, for the tests.
 *
 * Finishing (an identity colour matrix counts as none: the same values): without
 * colour, uint8 is (v + 2^15) >> 16 and float is
 * v * 2^-16 * scale + offset; with colour, fma(m2, v2, fma(m1, v1, fma(m0, v0, start)))
 * on floats, saturated to 0..255, then truncated (uint8: start is bias + 0.5, so this
 * rounds to nearest) or scaled (float: start is the bias). The vector finishing runs
 * these operations in the same order with fused multiply-adds (the vector kernels need
 * FMA as well as AVX2) and the scalar loops call fmaf, which rounds the same way with
 * or without the instruction; the build uses -ffp-contract=off, so no path fuses a
 * multiply-add that another lacks and every path gives the same values. Rows are
 * finished left to right:
 * 16-byte uint8 stores may write a few bytes of the next pixels, written after.
 */
#include <math.h>
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

/* Loops that gain from wider vectors get AVX2/SSSE3 clones chosen at load time, and the
   gather kernels are compiled for AVX2 with FMA and called only where the CPU has both.
   The x86-64-v3 clone (AVX2 + FMA, GCC 12 on) vectorises the colour loops' fmaf. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#if __GNUC__ >= 12
#define FA_HOT __attribute__((target_clones("arch=x86-64-v3", "ssse3", "default")))
#else
#define FA_HOT __attribute__((target_clones("avx2", "ssse3", "default")))
#endif
#define FA_AVX2 1
#include <immintrin.h>
#define FA_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define FA_HOT
#define FA_AVX2 0
#endif

/* ---- fixed point ------------------------------------------------------------------- */

#define FA_WBITS 12
#define FA_WONE (1 << FA_WBITS)      /* bilinear weights: 1/4096 pixel */
#define FA_HSHIFT 5                  /* horizontal sums: 2^-12 -> 2^-7 grey level */
#define FA_VSHIFT 3                  /* vertical sums: 2^-19 -> 2^-16 grey level */
#define FA_VBITS 16
#define FA_VONE (1 << FA_VBITS)      /* one grey level in sample units */
/* Rounding of the vertical sums s: (s + FA_VROUND) >> 3 is the sample;
   ((s + 4) >> 3 + 2^15) >> 16, its uint8 rounding, is (s + FA_GREY_ROUND) >> 19. */
#define FA_VROUND (1 << (FA_VSHIFT - 1))
#define FA_GREY_ROUND (FA_VROUND + (FA_VONE / 2 << FA_VSHIFT))

/* 1.5 * 2^52: adding it leaves round_half_even(s) in the low mantissa bits. */
#define FA_MAGIC 6755399441055744.0
#define FA_MAGIC_BITS 0x4338000000000000LL

/* Vector kernels can be switched off, or limited to AVX2 (tests compare the paths). */
static int simd_level = 2;

void fa_set_simd(int level)
{
    simd_level = level;
}

int fa_get_simd(void)
{
    return simd_level;
}

typedef struct {
    const fa_augment_args *a;
    const uint8_t *src; /* this image */
    const double *m;    /* destination-to-source matrix */
    const float *color; /* NULL: no colour matrix */
    double xmin, xmax, ymin, ymax; /* coordinate clamp, within +-FA_COORD_LIMIT */
    uint8_t *dst8; /* this image's output (uint8 NHWC) */
    float *dstf;   /* this image's output (float) */
    int32_t *rows; /* scratch: 3 blocks of C planes of `plane` samples */
    int64_t plane; /* plane stride (>= OW, a multiple of 8) */
    int64_t block; /* C * plane */
    int avx2;      /* the AVX2 gather kernels may run on this image */
    int vector;    /* the CPU has AVX2 and vector kernels are on */
    int vbmi;      /* ... and AVX-512 VBMI (with VL), which the general path uses too */
    int stream;    /* the output is too large for the caches: non-temporal stores */
    const uint8_t *next; /* the next image's source, prefetched over the rows, or NULL */
    int64_t extent;      /* bytes of a source image */
} image_ctx;

/* ---- scalars --------------------------------------------------------------------- */

/* Clamp that also sends NaN (from inf - inf in extreme matrices) to lo. */
FA_INLINE double clampd(double s, double lo, double hi)
{
    return s >= lo ? (s <= hi ? s : hi) : lo;
}

/* Round half to even, |s| < 2^51 (coordinates are clamped first). */
FA_INLINE int64_t round_even(double s)
{
    const double t = s + FA_MAGIC;
    int64_t bits;
    memcpy(&bits, &t, sizeof bits);
    return bits - FA_MAGIC_BITS;
}

/* floor() of a coordinate already clamped to +-FA_COORD_LIMIT, as an integer. */
FA_INLINE int64_t floor_index(double s)
{
    int64_t i = (int64_t)s;
    return i - (s < (double)i);
}

FA_INLINE int64_t split_nearest(double s)
{
    return floor_index(s + 0.5);
}

/* The two interpolation steps of the header's formula. */
FA_INLINE int32_t mix_x(int32_t a, int32_t b, int32_t w)
{
    return (a * (FA_WONE - w) + b * w) >> FA_HSHIFT;
}

FA_INLINE int32_t mix_y(int32_t t, int32_t b, int32_t w)
{
    /* t (4096 - w) + b w, with one multiplication (t, b >= 0). */
    return ((t << FA_WBITS) + (b - t) * w + FA_VROUND) >> FA_VSHIFT;
}

/* Pixel (yi, xi) channel c, or cval where an index is -1 (constant fill). */
FA_INLINE int32_t fetch(const image_ctx *ic, int C, int64_t yi, int64_t xi, int c)
{
    if (yi < 0 || xi < 0)
        return ic->a->cval[c];
    return ic->src[yi * ic->a->src_row_stride + xi * C + c];
}

/* ---- stage 2: colour, saturation, conversion ------------------------------------- */

FA_INLINE float sample_value(int32_t v)
{
    return (float)v * (1.0f / FA_VONE);
}

FA_INLINE void finish_plain(const image_ctx *ic, int C, const int32_t *p, int64_t y,
                             int64_t x0, int64_t x1)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow, ps = ic->plane;
    if (a->output == FA_OUT_U8_NHWC) {
        uint8_t *d = ic->dst8 + y * ow * C;
        for (int64_t x = x0; x < x1; ++x)
            for (int c = 0; c < C; ++c)
                d[x * C + c] = (uint8_t)((p[c * ps + x] + FA_VONE / 2) >> FA_VBITS);
    } else if (a->output == FA_OUT_F32_NCHW) {
        for (int c = 0; c < C; ++c) {
            float *d = ic->dstf + (c * a->oh + y) * ow;
            const float scale = a->scale[c], offset = a->offset[c];
            const int32_t *q = p + c * ps;
            for (int64_t x = x0; x < x1; ++x)
                d[x] = sample_value(q[x]) * scale + offset;
        }
    } else {
        float *d = ic->dstf + y * ow * C;
        for (int64_t x = x0; x < x1; ++x)
            for (int c = 0; c < C; ++c)
                d[x * C + c] = sample_value(p[c * ps + x]) * a->scale[c] + a->offset[c];
    }
}

/* The start of a colour sum: the bias m[C], plus 0.5 for uint8 outputs, whose rounding
   to nearest is then the truncation of the saturated sum. */
FA_INLINE float color_start(const float *m, int C, int u8)
{
    return u8 ? m[C] + 0.5f : m[C];
}

/* Channel c of pixel x after the colour matrix m (C x (C + 1)) from `start`: one fused
   multiply-add per input channel in channel order (every vector path does the same,
   so the results agree bit for bit), saturated to [0, 255]. */
FA_INLINE float color_value(const float *m, int C, const int32_t *p, int64_t ps, int64_t x,
                            float start)
{
    float acc = start;
    for (int j = 0; j < C; ++j)
        acc = fmaf(m[j], sample_value(p[j * ps + x]), acc);
    acc = acc < 0.0f ? 0.0f : acc;
    return acc > 255.0f ? 255.0f : acc;
}

FA_INLINE void finish_color(const image_ctx *ic, int C, const int32_t *p, int64_t y,
                             int64_t x0, int64_t x1)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow, ps = ic->plane;
    float m[4 * 5], start[4];
    memcpy(m, ic->color, sizeof(float) * (size_t)(C * (C + 1)));
    for (int c = 0; c < C; ++c)
        start[c] = color_start(m + c * (C + 1), C, a->output == FA_OUT_U8_NHWC);
    if (a->output == FA_OUT_U8_NHWC) {
        uint8_t *d = ic->dst8 + y * ow * C;
        for (int64_t x = x0; x < x1; ++x)
            for (int c = 0; c < C; ++c)
                d[x * C + c] =
                    (uint8_t)(int32_t)color_value(m + c * (C + 1), C, p, ps, x, start[c]);
    } else if (a->output == FA_OUT_F32_NCHW) {
        for (int c = 0; c < C; ++c) {
            float *d = ic->dstf + (c * a->oh + y) * ow;
            const float scale = a->scale[c], offset = a->offset[c];
            for (int64_t x = x0; x < x1; ++x)
                d[x] = color_value(m + c * (C + 1), C, p, ps, x, start[c]) * scale + offset;
        }
    } else {
        float *d = ic->dstf + y * ow * C;
        for (int64_t x = x0; x < x1; ++x)
            for (int c = 0; c < C; ++c)
                d[x * C + c] = color_value(m + c * (C + 1), C, p, ps, x, start[c]) *
                                   a->scale[c] + a->offset[c];
    }
}

#define FA_FINISH(Cn)                                                                   \
    FA_HOT static void finish_c##Cn(const image_ctx *ic, const int32_t *p, int64_t y,   \
                                    int64_t x0, int64_t x1)                             \
    {                                                                                   \
        if (ic->color)                                                                  \
            finish_color(ic, Cn, p, y, x0, x1);                                         \
        else                                                                            \
            finish_plain(ic, Cn, p, y, x0, x1);                                         \
    }
FA_FINISH(1)
FA_FINISH(3)
FA_FINISH(4)

#if FA_AVX2
/* Eight pixels of C uint8 channels (one per dword of q[c]) interleaved into d; `room`:
   the 4 bytes after them belong to this row too (and are written after). C > 1: q[c]
   may be negative, saturated to 0 by the packs. */
FA_TARGET_AVX2 static inline void store_u8_pixels(uint8_t *d, const __m256i *q, int C,
                                                  int room)
{
    if (C == 4) { /* lane l: channel c of pixels 4 l .. 4 l + 3 at bytes 4 c .. 4 c + 3 */
        const __m256i px = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]),
                                               _mm256_packus_epi32(q[2], q[3]));
        const __m256i order = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7,
                                               11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14,
                                               3, 7, 11, 15);
        _mm256_storeu_si256((__m256i *)d, _mm256_shuffle_epi8(px, order));
        return;
    }
    /* 4 pixels per lane become their 4 C bytes */
    __m256i px;
    if (C == 3) {
        px = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[2]));
        px = _mm256_shuffle_epi8(px, _mm256_setr_epi8(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -128,
                                                      -128, -128, -128, 0, 4, 8, 1, 5, 9, 2, 6,
                                                      10, 3, 7, 11, -128, -128, -128, -128));
    } else {
        px = _mm256_shuffle_epi8(q[0], _mm256_setr_epi8(0, 4, 8, 12, -128, -128, -128, -128,
                                                        -128, -128, -128, -128, -128, -128,
                                                        -128, -128, 0, 4, 8, 12, -128, -128,
                                                        -128, -128, -128, -128, -128, -128,
                                                        -128, -128, -128, -128));
    }
    const __m128i lo = _mm256_castsi256_si128(px), hi = _mm256_extracti128_si256(px, 1);
    if (C == 1) {
        const int32_t a = _mm_cvtsi128_si32(lo), b = _mm_cvtsi128_si32(hi);
        memcpy(d, &a, 4);
        memcpy(d + 4, &b, 4);
    } else if (room) { /* 16-byte stores, the 4 bytes after each one overwritten later */
        _mm_storeu_si128((__m128i *)d, lo);
        _mm_storeu_si128((__m128i *)(d + 12), hi);
    } else {
        const int32_t a = _mm_extract_epi32(lo, 2), b = _mm_extract_epi32(hi, 2);
        _mm_storel_epi64((__m128i *)d, lo);
        memcpy(d + 8, &a, 4);
        _mm_storel_epi64((__m128i *)(d + 12), hi);
        memcpy(d + 20, &b, 4);
    }
}

/* Eight pixels of C float channels (o[c]) interleaved into d. */
FA_TARGET_AVX2 static inline void store_f32_pixels(float *d, const __m256 *o, int C)
{
    if (C == 1) {
        _mm256_storeu_ps(d, o[0]);
    } else if (C == 3) {
        /* Output vector k (floats 8k .. 8k + 7) takes each channel's lanes by index, then
           blends them by position (immediate masks: the positions of channels 1 and 2,
           0x92 = 1, 4, 7; 0x24 = 2, 5; 0x49 = 0, 3, 6). */
        static const int32_t idx[3][3][8] = {
            {{0, 0, 0, 1, 0, 0, 2, 0}, {0, 0, 0, 0, 1, 0, 0, 2}, {0, 0, 0, 0, 0, 1, 0, 0}},
            {{0, 3, 0, 0, 4, 0, 0, 5}, {0, 0, 3, 0, 0, 4, 0, 0}, {2, 0, 0, 3, 0, 0, 4, 0}},
            {{0, 0, 6, 0, 0, 7, 0, 0}, {5, 0, 0, 6, 0, 0, 7, 0}, {0, 5, 0, 0, 6, 0, 0, 7}}};
#define FA_PICK(k, c) _mm256_permutevar8x32_ps(o[c], _mm256_loadu_si256((const __m256i *)idx[k][c]))
        _mm256_storeu_ps(d, _mm256_blend_ps(_mm256_blend_ps(FA_PICK(0, 0), FA_PICK(0, 1), 0x92),
                                            FA_PICK(0, 2), 0x24));
        _mm256_storeu_ps(d + 8, _mm256_blend_ps(_mm256_blend_ps(FA_PICK(1, 0), FA_PICK(1, 1), 0x24),
                                                FA_PICK(1, 2), 0x49));
        _mm256_storeu_ps(d + 16, _mm256_blend_ps(_mm256_blend_ps(FA_PICK(2, 0), FA_PICK(2, 1), 0x49),
                                                 FA_PICK(2, 2), 0x92));
#undef FA_PICK
    } else {
        const __m256 t0 = _mm256_unpacklo_ps(o[0], o[1]), t1 = _mm256_unpackhi_ps(o[0], o[1]);
        const __m256 t2 = _mm256_unpacklo_ps(o[2], o[3]), t3 = _mm256_unpackhi_ps(o[2], o[3]);
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
        _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u1, 0x20));
        _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
        _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
        _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
    }
}

/* The vector constants of finishing. */
typedef struct {
    __m256 coef[4][4], bias[4], scale[4], offset[4];
} finish_consts;

/* The finishing kinds: 2 * output + (colour matrix or not), one compiled loop each. */
FA_INLINE int finish_kind(const image_ctx *ic)
{
    return 2 * (int)ic->a->output + (ic->color != NULL);
}

/* body(ic, C, ..., kind) with C (1, 3 or 4) and the kind of ic as constants. */
#define FA_BY_KIND_C(ic, body, Cn, ...)                                                 \
    do {                                                                                \
        switch (finish_kind(ic)) {                                                      \
        case 0: body(ic, Cn, __VA_ARGS__, 0); break;                                    \
        case 1: body(ic, Cn, __VA_ARGS__, 1); break;                                    \
        case 2: body(ic, Cn, __VA_ARGS__, 2); break;                                    \
        case 3: body(ic, Cn, __VA_ARGS__, 3); break;                                    \
        case 4: body(ic, Cn, __VA_ARGS__, 4); break;                                    \
        default: body(ic, Cn, __VA_ARGS__, 5); break;                                   \
        }                                                                               \
    } while (0)

#define FA_BY_KIND(ic, C, body, ...)                                                    \
    do {                                                                                \
        if ((C) == 1)                                                                   \
            FA_BY_KIND_C(ic, body, 1, __VA_ARGS__);                                     \
        else if ((C) == 3)                                                              \
            FA_BY_KIND_C(ic, body, 3, __VA_ARGS__);                                     \
        else                                                                            \
            FA_BY_KIND_C(ic, body, 4, __VA_ARGS__);                                     \
    } while (0)

#define FA_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* The constants of finishing kind `kind`: the colour ones only for kinds with colour
   (ic->color is set for those), which alone read them. */
FA_AVX2_INLINE void finish_init(const image_ctx *ic, int C, int kind, finish_consts *k)
{
    const fa_augment_args *a = ic->a;
    for (int c = 0; c < C; ++c) {
        k->scale[c] = _mm256_set1_ps(a->scale[c]);
        k->offset[c] = _mm256_set1_ps(a->offset[c]);
        if (kind & 1) {
            for (int j = 0; j < C; ++j)
                k->coef[c][j] = _mm256_set1_ps(ic->color[c * (C + 1) + j]);
            k->bias[c] = _mm256_set1_ps(color_start(ic->color + c * (C + 1), C,
                                                    kind >> 1 == FA_OUT_U8_NHWC));
        }
    }
}

/* finish_plain / finish_color of pixels x .. x + 7 of row y from their samples v[c],
   with the scalar code's operations in its order; `grey`: v holds whole grey levels
   (the samples of pixels copied unchanged, v >> 16), where (float)(v << 16) * 2^-16
   is (float)v, so dropping the scaling gives the same values. */
FA_AVX2_INLINE void finish8(const image_ctx *ic, int C, const finish_consts *k, const __m256i *v,
                            int64_t y, int64_t x, int grey, int kind)
{
    const fa_augment_args *a = ic->a;
    const int color = kind & 1, u8 = kind >> 1 == FA_OUT_U8_NHWC;
    const int nchw = kind >> 1 == FA_OUT_F32_NCHW;
    const int64_t ow = a->ow;
    const __m256 unit = _mm256_set1_ps(1.0f / FA_VONE);
    __m256 o[4];
    __m256i q[4];
    if (color) {
        __m256 f[4];
        for (int j = 0; j < C; ++j)
            f[j] = grey ? _mm256_cvtepi32_ps(v[j]) : _mm256_mul_ps(_mm256_cvtepi32_ps(v[j]), unit);
        for (int c = 0; c < C; ++c) {
            __m256 acc = k->bias[c];
            for (int j = 0; j < C; ++j)
                acc = _mm256_fmadd_ps(k->coef[c][j], f[j], acc);
            /* uint8, C > 1: negative sums are saturated by store_u8_pixels' packs */
            if (!u8 || C == 1)
                acc = _mm256_max_ps(acc, _mm256_setzero_ps());
            acc = _mm256_min_ps(acc, _mm256_set1_ps(255.0f));
            if (u8)
                q[c] = _mm256_cvttps_epi32(acc);
            else
                o[c] = _mm256_add_ps(_mm256_mul_ps(acc, k->scale[c]), k->offset[c]);
        }
    } else {
        for (int c = 0; c < C; ++c) {
            const __m256 f = grey ? _mm256_cvtepi32_ps(v[c])
                                  : _mm256_mul_ps(_mm256_cvtepi32_ps(v[c]), unit);
            if (u8)
                q[c] = grey ? v[c]
                            : _mm256_srli_epi32(_mm256_add_epi32(v[c], _mm256_set1_epi32(FA_VONE / 2)),
                                                FA_VBITS);
            else
                o[c] = _mm256_add_ps(_mm256_mul_ps(f, k->scale[c]), k->offset[c]);
        }
    }
    if (u8)
        store_u8_pixels(ic->dst8 + (y * ow + x) * C, q, C, (x + 8) * C + 4 <= ow * C);
    else if (nchw)
        for (int c = 0; c < C; ++c)
            _mm256_storeu_ps(ic->dstf + (c * a->oh + y) * ow + x, o[c]);
    else
        store_f32_pixels(ic->dstf + (y * ow + x) * C, o, C);
}

FA_AVX2_INLINE void finish_planes(const image_ctx *ic, int C, const int32_t *p, int64_t y,
                                  int64_t x0, int64_t x1, int kind)
{
    finish_consts k;
    finish_init(ic, C, kind, &k);
    for (int64_t x = x0; x < x1; x += 8) {
        __m256i v[4];
        for (int c = 0; c < C; ++c)
            v[c] = _mm256_loadu_si256((const __m256i *)(p + c * ic->plane + x));
        finish8(ic, C, &k, v, y, x, 0, kind);
    }
}

/* Pixels [x0, x1) of row y (x1 - x0 a multiple of 8) from the planes p. */
FA_TARGET_AVX2 static void finish_avx2(const image_ctx *ic, int C, const int32_t *p, int64_t y,
                                       int64_t x0, int64_t x1)
{
    FA_BY_KIND(ic, C, finish_planes, p, y, x0, x1);
}

/* mix_y as one pmaddwd: t, b < 2^15 (horizontal sums) and the weights fit in words. */
FA_AVX2_INLINE void blend_planes(const image_ctx *ic, int C, const int32_t *t, const int32_t *b,
                                 int32_t w, int64_t y, int64_t x1, int kind)
{
    finish_consts k;
    finish_init(ic, C, kind, &k);
    const __m256i wv = _mm256_set1_epi32((FA_WONE - w) | w << 16);
    /* uint8 without colour: straight to grey levels */
    const __m256i round = _mm256_set1_epi32(kind == 0 ? FA_GREY_ROUND : FA_VROUND);
    const int shift = kind == 0 ? FA_VSHIFT + FA_VBITS : FA_VSHIFT;
    for (int64_t x = 0; x < x1; x += 8) {
        __m256i v[4];
        for (int c = 0; c < C; ++c) {
            const __m256i tv = _mm256_loadu_si256((const __m256i *)(t + c * ic->plane + x));
            const __m256i bv = _mm256_loadu_si256((const __m256i *)(b + c * ic->plane + x));
            const __m256i sum = _mm256_madd_epi16(_mm256_or_si256(tv, _mm256_slli_epi32(bv, 16)), wv);
            v[c] = _mm256_srli_epi32(_mm256_add_epi32(sum, round), shift);
        }
        finish8(ic, C, &k, v, y, x, kind == 0, kind);
    }
}

/* The same from the vertical step of cached rows t and b (weight w), [0, OW rounded
   down to 8); returns the pixels done. */
FA_TARGET_AVX2 static int64_t blend_finish_avx2(const image_ctx *ic, int C, const int32_t *t,
                                                const int32_t *b, int32_t w, int64_t y)
{
    const int64_t done = ic->a->ow / 8 * 8;
    FA_BY_KIND(ic, C, blend_planes, t, b, w, y, done);
    return done;
}
#endif

/* Scalar finishing of pixels [x0, x1) of row y. */
FA_INLINE void finish_scalar(const image_ctx *ic, int C, const int32_t *p, int64_t y,
                             int64_t x0, int64_t x1)
{
    if (x0 >= x1)
        return;
    if (C == 1)
        finish_c1(ic, p, y, x0, x1);
    else if (C == 3)
        finish_c3(ic, p, y, x0, x1);
    else
        finish_c4(ic, p, y, x0, x1);
}

/* Pixels [x0, x1) of row y from the planes p. */
FA_INLINE void finish_range(const image_ctx *ic, int C, const int32_t *p, int64_t y, int64_t x0,
                            int64_t x1)
{
    int64_t x = x0;
#if FA_AVX2
    if (ic->vector) {
        x = x0 + (x1 - x0) / 8 * 8;
        if (x > x0)
            finish_avx2(ic, C, p, y, x0, x);
    }
#endif
    finish_scalar(ic, C, p, y, x, x1);
}

FA_INLINE void finish_row(const image_ctx *ic, int C, const int32_t *p, int64_t y)
{
    finish_range(ic, C, p, y, 0, ic->a->ow);
}

/* ---- stage 1, general path: any matrix ------------------------------------------- */

/* One output row's source line, coordinates pre-scaled by FA_WONE for bilinear. */
typedef struct {
    double rx, ry, sx, sy;         /* source (x, y) of output pixel k: r + s * k */
    double xlo, xhi, ylo, yhi;     /* the clamp, scaled alike */
    int64_t ixmax, iymax;          /* vector loads stay inside for i <= these */
} row_line;

FA_INLINE void bilinear_scalar(const image_ctx *ic, int C, const row_line *l, int64_t x,
                               int32_t *p)
{
    const fa_augment_args *a = ic->a;
    const int fill = a->fill;
    const int64_t sx = round_even(clampd(l->rx + l->sx * (double)x, l->xlo, l->xhi));
    const int64_t sy = round_even(clampd(l->ry + l->sy * (double)x, l->ylo, l->yhi));
    const int64_t ix = sx >> FA_WBITS, iy = sy >> FA_WBITS;
    const int32_t wx = (int32_t)(sx & (FA_WONE - 1)), wy = (int32_t)(sy & (FA_WONE - 1));
    const int64_t x0 = fa_border_index(ix, a->w, fill), x1 = fa_border_index(ix + 1, a->w, fill);
    const int64_t y0 = fa_border_index(iy, a->h, fill), y1 = fa_border_index(iy + 1, a->h, fill);
    for (int c = 0; c < C; ++c) {
        const int32_t top = mix_x(fetch(ic, C, y0, x0, c), fetch(ic, C, y0, x1, c), wx);
        const int32_t bottom = mix_x(fetch(ic, C, y1, x0, c), fetch(ic, C, y1, x1, c), wx);
        p[c * ic->plane + x] = mix_y(top, bottom, wy);
    }
}

/* Pixel x takes the vector path: no clamping, and its vector loads stay inside. */
FA_INLINE int interior(const row_line *l, int64_t x)
{
    const double sx = l->rx + l->sx * (double)x, sy = l->ry + l->sy * (double)x;
    if (!(sx >= l->xlo && sx <= l->xhi && sy >= l->ylo && sy <= l->yhi))
        return 0;
    const int64_t ix = round_even(sx) >> FA_WBITS, iy = round_even(sy) >> FA_WBITS;
    return ix >= 0 && ix <= l->ixmax && iy >= 0 && iy <= l->iymax;
}

/* Where along the row coordinate r + s * k lies in [lo, hi]: k in [*k0, *k1]. */
static void range_within(double r, double s, double lo, double hi, double *k0, double *k1)
{
    if (s == 0.0) {
        if (!(r >= lo && r <= hi)) {
            *k0 = 1.0;
            *k1 = 0.0;
        }
        return;
    }
    double a = (lo - r) / s, b = (hi - r) / s;
    if (s < 0.0) {
        const double t = a;
        a = b;
        b = t;
    }
    *k0 = a > *k0 ? a : *k0;
    *k1 = b < *k1 ? b : *k1;
}

/* The pixels [*xa, *xb) of the row that all take the vector path. The interior is
   one run (every condition is a threshold on a monotonic function of k): the run is
   estimated in floating point, then its ends are checked exactly. */
static void interior_run(const row_line *l, int64_t ow, int64_t *xa, int64_t *xb)
{
    double k0 = 0.0, k1 = (double)(ow - 1);
    const double xlo = l->xlo > -0.4 ? l->xlo : -0.4;
    const double xhi = l->xhi < (double)(l->ixmax + 1) * FA_WONE - 0.6
                           ? l->xhi : (double)(l->ixmax + 1) * FA_WONE - 0.6;
    const double ylo = l->ylo > -0.4 ? l->ylo : -0.4;
    const double yhi = l->yhi < (double)(l->iymax + 1) * FA_WONE - 0.6
                           ? l->yhi : (double)(l->iymax + 1) * FA_WONE - 0.6;
    range_within(l->rx, l->sx, xlo, xhi, &k0, &k1);
    range_within(l->ry, l->sy, ylo, yhi, &k0, &k1);
    *xa = *xb = 0;
    if (!(k0 <= k1))
        return;
    int64_t a = (int64_t)clampd(k0 + 0.999999, 0.0, (double)ow);
    int64_t b = (int64_t)clampd(k1, -1.0, (double)(ow - 1)) + 1;
    for (int step = 0; a < b && !interior(l, a); ++step, ++a)
        if (step == 3)
            return;
    for (int step = 0; a < b && !interior(l, b - 1); ++step, --b)
        if (step == 3)
            return;
    if (a >= b)
        return;
    while (a > 0 && interior(l, a - 1))
        --a;
    while (b < ow && interior(l, b))
        ++b;
    *xa = a;
    *xb = b;
}

#if FA_AVX2
/* Rounded fixed-point coordinates of pixels x .. x + 7 in the order 0 1 4 5 2 3 6 7
   (the low dwords of r + s * k + magic, which hold round_half_even). */
FA_TARGET_AVX2 static inline __m256i coords8(__m256d r, __m256d s, __m256d k0, __m256d k1)
{
    const __m256d magic = _mm256_set1_pd(FA_MAGIC);
    const __m256d a = _mm256_add_pd(_mm256_add_pd(r, _mm256_mul_pd(s, k0)), magic);
    const __m256d b = _mm256_add_pd(_mm256_add_pd(r, _mm256_mul_pd(s, k1)), magic);
    return _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castpd_ps(a), _mm256_castpd_ps(b),
                                                 _MM_SHUFFLE(2, 0, 2, 0)));
}

/* Lanes in the order 0 1 4 5 2 3 6 7 back in pixel order (or the other way). */
FA_TARGET_AVX2 static inline __m256i unshuffle8(__m256i v)
{
    return _mm256_permute4x64_epi64(v, _MM_SHUFFLE(3, 1, 2, 0));
}

/* (4096 - w) | w << 16 for pmaddwd, from fixed-point coordinates. */
FA_TARGET_AVX2 static inline __m256i weight_pairs(__m256i s)
{
    const __m256i w = _mm256_and_si256(s, _mm256_set1_epi32(FA_WONE - 1));
    return _mm256_or_si256(_mm256_sub_epi32(_mm256_set1_epi32(FA_WONE), w),
                           _mm256_slli_epi32(w, 16));
}

/* The vertical step for eight pixels of one channel. */
FA_TARGET_AVX2 static inline __m256i mix_y8(__m256i top, __m256i bottom, __m256i wy, int grey)
{
    /* (top >> 5) in the low words, (bottom >> 5) in the high words (bottom < 2^20). */
    const __m256i pair = _mm256_blend_epi16(_mm256_srli_epi32(top, FA_HSHIFT),
                                            _mm256_slli_epi32(bottom, 16 - FA_HSHIFT), 0xAA);
    const __m256i v = _mm256_madd_epi16(pair, wy);
    /* grey: the uint8 rounding too */
    return _mm256_srli_epi32(_mm256_add_epi32(v, _mm256_set1_epi32(grey ? FA_GREY_ROUND : FA_VROUND)),
                             grey ? FA_VSHIFT + FA_VBITS : FA_VSHIFT);
}


/* pshufb masks per channel c: the (left, right) bytes of the two 8-byte pixel pairs of
   a 128-bit lane as word pairs, into dwords 0, 1 (ma, for gather A) or 2, 3 (mb). */
FA_TARGET_AVX2 static inline void pair_masks(int C, __m256i *ma, __m256i *mb)
{
    /* Constant expressions (C is one after inlining): no masks built in memory, whose
       byte stores would stall the vector loads after them. */
    for (int c = 0; c < C; ++c) {
        ma[c] = _mm256_broadcastsi128_si256(_mm_setr_epi8(
            (char)c, -128, (char)(C + c), -128, (char)(8 + c), -128, (char)(8 + C + c), -128,
            -128, -128, -128, -128, -128, -128, -128, -128));
        mb[c] = _mm256_broadcastsi128_si256(_mm_setr_epi8(
            -128, -128, -128, -128, -128, -128, -128, -128, (char)c, -128, (char)(C + c), -128,
            (char)(8 + c), -128, (char)(8 + C + c), -128));
    }
}

/* pshufb mask for C = 1: bytes 0 and 1 of every dword as a word pair. */
FA_TARGET_AVX2 static inline __m256i pair_mask_c1(void)
{
    return _mm256_setr_epi8(0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12, -128,
                            13, -128, 0, -128, 1, -128, 4, -128, 5, -128, 8, -128, 9, -128, 12,
                            -128, 13, -128);
}




/* Map eight indices onto 0..n-1 like fa_border_index; constant fill clears the lanes
   of *inside instead. Returns 0 when a periodic mode would need more than one fold
   (the scalar code takes those pixels). */
FA_TARGET_AVX2 static inline int border8(__m256i *index, int64_t n, int fill, __m256i *inside)
{
    const __m256i i = *index, zero = _mm256_setzero_si256();
    const __m256i nv = _mm256_set1_epi32((int32_t)n), last = _mm256_set1_epi32((int32_t)n - 1);
    const __m256i below = _mm256_cmpgt_epi32(zero, i), above = _mm256_cmpgt_epi32(i, last);
    if (fill == FA_FILL_CONSTANT) {
        *inside = _mm256_andnot_si256(_mm256_or_si256(below, above), *inside);
        return 1;
    }
    if (fill == FA_FILL_NEAREST) {
        *index = _mm256_min_epi32(_mm256_max_epi32(i, zero), last);
        return 1;
    }
    if (fill == FA_FILL_MIRROR && n == 1) {
        *index = zero;
        return 1;
    }
    /* One fold reaches [-n, 2n) (reflect, wrap) or [-(n - 1), 2n - 2] (mirror). */
    const int mirror = fill == FA_FILL_MIRROR;
    const __m256i lowest = _mm256_set1_epi32(mirror ? 1 - (int32_t)n : -(int32_t)n);
    const __m256i highest = _mm256_set1_epi32(mirror ? 2 * (int32_t)n - 2 : 2 * (int32_t)n - 1);
    const __m256i bad = _mm256_or_si256(_mm256_cmpgt_epi32(lowest, i),
                                        _mm256_cmpgt_epi32(i, highest));
    if (!_mm256_testz_si256(bad, bad))
        return 0;
    __m256i low, high;
    if (fill == FA_FILL_WRAP) {
        low = _mm256_add_epi32(i, nv);
        high = _mm256_sub_epi32(i, nv);
    } else if (fill == FA_FILL_REFLECT) {
        low = _mm256_sub_epi32(_mm256_set1_epi32(-1), i);
        high = _mm256_sub_epi32(_mm256_set1_epi32(2 * (int32_t)n - 1), i);
    } else {
        low = _mm256_sub_epi32(zero, i);
        high = _mm256_sub_epi32(_mm256_set1_epi32(2 * (int32_t)n - 2), i);
    }
    *index = _mm256_blendv_epi8(_mm256_blendv_epi8(i, low, below), high, above);
    return 1;
}

/* The four bytes of pixel data at byte offsets off (C = 4), or the pixel in the low
   bytes of a 4-byte load that ends at or after it (C = 1, 3: never past the image). */
FA_TARGET_AVX2 static inline __m256i gather_pixels(const uint8_t *src, __m256i off, int C)
{
    if (C == 4)
        return _mm256_i32gather_epi32((const int *)src, off, 1);
    const __m256i start = _mm256_max_epi32(_mm256_sub_epi32(off, _mm256_set1_epi32(4 - C)),
                                           _mm256_setzero_si256());
    const __m256i shift = _mm256_slli_epi32(_mm256_sub_epi32(off, start), 3);
    return _mm256_srlv_epi32(_mm256_i32gather_epi32((const int *)src, start, 1), shift);
}

/* Bilinear samples of pixels [x, x + 8) anywhere (fill modes, clamping): four 4-byte
   gathers per pixel after the border map. Returns 0, writing nothing, where a
   coordinate needs the scalar code (beyond one fold of a periodic mode, or huge). */
FA_TARGET_AVX2 static int bilinear_block_avx2(const image_ctx *ic, int C, const row_line *l,
                                              int64_t x, int32_t *p)
{
    const fa_augment_args *a = ic->a;
    const int64_t rs = a->src_row_stride, ps = ic->plane;
    __m256d k0 = _mm256_setr_pd((double)x, (double)x + 1, (double)x + 2, (double)x + 3);
    __m256d k1 = _mm256_add_pd(k0, _mm256_set1_pd(4.0));
    /* clampd: max first so that NaN becomes lo. */
    const __m256d xlo = _mm256_set1_pd(l->xlo), xhi = _mm256_set1_pd(l->xhi);
    const __m256d ylo = _mm256_set1_pd(l->ylo), yhi = _mm256_set1_pd(l->yhi);
    const __m256d rx = _mm256_set1_pd(l->rx), sx = _mm256_set1_pd(l->sx);
    const __m256d ry = _mm256_set1_pd(l->ry), sy = _mm256_set1_pd(l->sy);
    const __m256d zx0 = _mm256_min_pd(_mm256_max_pd(_mm256_add_pd(rx, _mm256_mul_pd(sx, k0)), xlo), xhi);
    const __m256d zx1 = _mm256_min_pd(_mm256_max_pd(_mm256_add_pd(rx, _mm256_mul_pd(sx, k1)), xlo), xhi);
    const __m256d zy0 = _mm256_min_pd(_mm256_max_pd(_mm256_add_pd(ry, _mm256_mul_pd(sy, k0)), ylo), yhi);
    const __m256d zy1 = _mm256_min_pd(_mm256_max_pd(_mm256_add_pd(ry, _mm256_mul_pd(sy, k1)), ylo), yhi);
    /* Indices must fit 32 bits (far outside the image they need the scalar code). */
    const __m256d limit = _mm256_set1_pd(1073741824.0), nlimit = _mm256_set1_pd(-1073741824.0);
    __m256d ok = _mm256_and_pd(_mm256_cmp_pd(zx0, limit, _CMP_LT_OQ), _mm256_cmp_pd(zx0, nlimit, _CMP_GT_OQ));
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(zx1, limit, _CMP_LT_OQ), _mm256_cmp_pd(zx1, nlimit, _CMP_GT_OQ)));
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(zy0, limit, _CMP_LT_OQ), _mm256_cmp_pd(zy0, nlimit, _CMP_GT_OQ)));
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(zy1, limit, _CMP_LT_OQ), _mm256_cmp_pd(zy1, nlimit, _CMP_GT_OQ)));
    if (_mm256_movemask_pd(ok) != 15)
        return 0;
    const __m256d zero = _mm256_setzero_pd();
    const __m256i cx = unshuffle8(coords8(zero, _mm256_set1_pd(1.0), zx0, zx1));
    const __m256i cy = unshuffle8(coords8(zero, _mm256_set1_pd(1.0), zy0, zy1));
    const __m256i one = _mm256_set1_epi32(1), all = _mm256_set1_epi32(-1);
    __m256i x0 = _mm256_srai_epi32(cx, FA_WBITS), y0 = _mm256_srai_epi32(cy, FA_WBITS);
    __m256i x1 = _mm256_add_epi32(x0, one), y1 = _mm256_add_epi32(y0, one);
    __m256i in_x0 = all, in_x1 = all, in_y0 = all, in_y1 = all;
    if (!border8(&x0, a->w, a->fill, &in_x0) || !border8(&x1, a->w, a->fill, &in_x1) ||
        !border8(&y0, a->h, a->fill, &in_y0) || !border8(&y1, a->h, a->fill, &in_y1))
        return 0;
    const __m256i stride = _mm256_set1_epi32((int32_t)rs), cn = _mm256_set1_epi32(C);
    const __m256i r0 = _mm256_mullo_epi32(y0, stride), r1 = _mm256_mullo_epi32(y1, stride);
    const __m256i c0 = _mm256_mullo_epi32(x0, cn), c1 = _mm256_mullo_epi32(x1, cn);
    __m256i off[4] = {_mm256_add_epi32(r0, c0), _mm256_add_epi32(r0, c1),
                      _mm256_add_epi32(r1, c0), _mm256_add_epi32(r1, c1)};
    const __m256i inside[4] = {_mm256_and_si256(in_y0, in_x0), _mm256_and_si256(in_y0, in_x1),
                               _mm256_and_si256(in_y1, in_x0), _mm256_and_si256(in_y1, in_x1)};
    const uint8_t *cv = a->cval;
    const __m256i cval = _mm256_set1_epi32((int32_t)((uint32_t)cv[0] | (uint32_t)cv[1] << 8 |
                                                     (uint32_t)cv[2] << 16 | (uint32_t)cv[3] << 24));
    __m256i px[4];
    for (int j = 0; j < 4; ++j) {
        /* Outside lanes (constant fill) load pixel 0 and take cval. */
        px[j] = gather_pixels(ic->src, _mm256_and_si256(off[j], inside[j]), C);
        if (a->fill == FA_FILL_CONSTANT)
            px[j] = _mm256_blendv_epi8(cval, px[j], inside[j]);
    }
    const __m256i wx = weight_pairs(cx), wy = weight_pairs(cy);
    /* pshufb indices count bytes within a 128-bit lane: dword k starts at byte 4k. */
    const __m256i dword = _mm256_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12);
    for (int c = 0; c < C; ++c) {
        const __m256i left = _mm256_add_epi32(
            _mm256_set1_epi32((int32_t)(0x80808000u | (uint32_t)c)), dword);
        const __m256i right = _mm256_add_epi32(
            _mm256_set1_epi32((int32_t)(0x80008080u | (uint32_t)c << 16)),
            _mm256_slli_epi32(dword, 16));
        const __m256i t = _mm256_madd_epi16(
            _mm256_or_si256(_mm256_shuffle_epi8(px[0], left), _mm256_shuffle_epi8(px[1], right)), wx);
        const __m256i b = _mm256_madd_epi16(
            _mm256_or_si256(_mm256_shuffle_epi8(px[2], left), _mm256_shuffle_epi8(px[3], right)), wx);
        _mm256_storeu_si256((__m256i *)(p + c * ps + x), mix_y8(t, b, wy, 0));
    }
    return 1;
}

/* Nearest samples of pixels [x, x + 8): one 4-byte gather per pixel after the border
   map; unscaled coordinates in l. Returns 0, writing nothing, like bilinear_block_avx2. */
FA_TARGET_AVX2 static int nearest_block_avx2(const image_ctx *ic, int C, const row_line *l,
                                             int64_t x, int32_t *p)
{
    const fa_augment_args *a = ic->a;
    const __m256d k0 = _mm256_setr_pd((double)x, (double)x + 1, (double)x + 2, (double)x + 3);
    const __m256d k1 = _mm256_add_pd(k0, _mm256_set1_pd(4.0)), half = _mm256_set1_pd(0.5);
    /* Clamped to +-FA_COORD_LIMIT = 2^30, every index fits 32 bits. */
    __m256d coord[4];
    const double r[2] = {l->rx, l->ry}, s[2] = {l->sx, l->sy};
    const double lo[2] = {l->xlo, l->ylo}, hi[2] = {l->xhi, l->yhi};
    for (int j = 0; j < 4; ++j) {
        const int axis = j / 2;
        const __m256d z = _mm256_add_pd(_mm256_set1_pd(r[axis]),
                                        _mm256_mul_pd(_mm256_set1_pd(s[axis]), j % 2 ? k1 : k0));
        /* clampd (max first: NaN becomes lo), then floor(s + 0.5) like split_nearest. */
        const __m256d c = _mm256_min_pd(_mm256_max_pd(z, _mm256_set1_pd(lo[axis])),
                                        _mm256_set1_pd(hi[axis]));
        coord[j] = _mm256_floor_pd(_mm256_add_pd(c, half));
    }
    __m256i xi = _mm256_setr_m128i(_mm256_cvtpd_epi32(coord[0]), _mm256_cvtpd_epi32(coord[1]));
    __m256i yi = _mm256_setr_m128i(_mm256_cvtpd_epi32(coord[2]), _mm256_cvtpd_epi32(coord[3]));
    __m256i in_x = _mm256_set1_epi32(-1), in_y = in_x;
    if (!border8(&xi, a->w, a->fill, &in_x) || !border8(&yi, a->h, a->fill, &in_y))
        return 0;
    const __m256i inside = _mm256_and_si256(in_x, in_y);
    const __m256i off = _mm256_add_epi32(
        _mm256_mullo_epi32(yi, _mm256_set1_epi32((int32_t)a->src_row_stride)),
        _mm256_mullo_epi32(xi, _mm256_set1_epi32(C)));
    __m256i px = gather_pixels(ic->src, _mm256_and_si256(off, inside), C);
    if (a->fill == FA_FILL_CONSTANT) {
        const uint8_t *cv = a->cval;
        const __m256i cval = _mm256_set1_epi32((int32_t)((uint32_t)cv[0] | (uint32_t)cv[1] << 8 |
                                                         (uint32_t)cv[2] << 16 |
                                                         (uint32_t)cv[3] << 24));
        px = _mm256_blendv_epi8(cval, px, inside);
    }
    for (int c = 0; c < C; ++c) {
        const __m256i v = _mm256_and_si256(_mm256_srli_epi32(px, 8 * c), _mm256_set1_epi32(255));
        _mm256_storeu_si256((__m256i *)(p + c * ic->plane + x), _mm256_slli_epi32(v, FA_VBITS));
    }
    return 1;
}

#define FA_ROWS_FN FA_AVX2_INLINE
#define FA_ROWS(name) name##_avx2
#define FA_ROWS_VBMI 0
#include "warp_rows.h"
#undef FA_ROWS_FN
#undef FA_ROWS
#undef FA_ROWS_VBMI

#define FA_VBMI_INLINE \
    static inline __attribute__((always_inline, target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vbmi")))
#define FA_TARGET_VBMI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vbmi")))
#define FA_ROWS_FN FA_VBMI_INLINE
#define FA_ROWS(name) name##_vbmi
#define FA_ROWS_VBMI 1
#include "warp_rows.h"
#undef FA_ROWS_FN
#undef FA_ROWS
#undef FA_ROWS_VBMI

/* name(ic, C, l, x0, x1, y): name##_body_vbmi where the CPU has VBMI, else
   name##_body_avx2, each compiled per channel count and finishing kind. */
#define FA_ROW_KERNEL(name)                                                             \
    FA_TARGET_AVX2 static void name##_avx2(const image_ctx *ic, int C, const row_line *l, \
                                           int64_t x0, int64_t x1, int64_t y)           \
    {                                                                                   \
        FA_BY_KIND(ic, C, name##_body_avx2, l, x0, x1, y);                              \
    }                                                                                   \
    FA_TARGET_VBMI static void name##_vbmi(const image_ctx *ic, int C, const row_line *l, \
                                           int64_t x0, int64_t x1, int64_t y)           \
    {                                                                                   \
        FA_BY_KIND(ic, C, name##_body_vbmi, l, x0, x1, y);                              \
    }                                                                                   \
    static void name(const image_ctx *ic, int C, const row_line *l, int64_t x0, int64_t x1, \
                     int64_t y)                                                         \
    {                                                                                   \
        if (ic->vbmi)                                                                   \
            name##_vbmi(ic, C, l, x0, x1, y);                                           \
        else                                                                            \
            name##_avx2(ic, C, l, x0, x1, y);                                           \
    }
FA_ROW_KERNEL(bilinear_run)       /* pixels of the interior run */
FA_ROW_KERNEL(bilinear_replicate) /* fill "nearest" outside it */

FA_VBMI_INLINE void nearest16_body(const image_ctx *ic, int C, const row_line *l, int64_t y,
                                   int64_t *done, int kind)
{
    *done = nearest16(ic, C, l, y, kind);
}

/* nearest16 for a row, compiled per channel count and finishing kind. */
FA_TARGET_VBMI static int64_t nearest_row_vbmi(const image_ctx *ic, int C, const row_line *l,
                                               int64_t y)
{
    int64_t done = 0;
    FA_BY_KIND(ic, C, nearest16_body, l, y, &done);
    return done;
}
#endif

#if FA_AVX2
/* Pixels [x0, x1) of row y outside its interior run (x1 - x0 a multiple of 8): with
   fill "nearest" sampled and finished directly, else sampled into the planes p by
   blocks, each one the vector code cannot take by the scalar code. */
FA_INLINE void border_span(const image_ctx *ic, int C, const row_line *l, int replicate,
                           int64_t x0, int64_t x1, int64_t y, int32_t *p)
{
    if (replicate) {
        if (x1 > x0)
            bilinear_replicate(ic, C, l, x0, x1, y);
        return;
    }
    for (int64_t x = x0; x < x1; x += 8)
        if (!bilinear_block_avx2(ic, C, l, x, p))
            for (int64_t k = x; k < x + 8; ++k)
                bilinear_scalar(ic, C, l, k, p);
}
#endif

/* Samples and finishes output row y (p: scratch planes). Rows are finished left to
   right: a uint8 store may spill into the next pixels, written after. */
FA_INLINE void bilinear_row(const image_ctx *ic, int C, int64_t y, int32_t *p)
{
    const fa_augment_args *a = ic->a;
    const double *m = ic->m;
    const int64_t ow = a->ow;
    row_line l;
    l.rx = (m[1] * (double)y + m[2]) * FA_WONE;
    l.ry = (m[4] * (double)y + m[5]) * FA_WONE;
    l.sx = m[0] * FA_WONE;
    l.sy = m[3] * FA_WONE;
    l.xlo = ic->xmin * FA_WONE;
    l.xhi = ic->xmax * FA_WONE;
    l.ylo = ic->ymin * FA_WONE;
    l.yhi = ic->ymax * FA_WONE;
    int64_t x = 0, done = 0; /* pixels [0, x) are sampled, [0, done) finished */
#if FA_AVX2
    if (ic->avx2) {
        const int64_t min_w = C == 3 ? 3 : (C == 4 ? 2 : 4);
        const int replicate = a->fill == FA_FILL_NEAREST && a->w >= min_w && a->h >= 2;
        /* 8-byte loads from a pixel (C = 3, 4) or 4-byte ones (C = 1). */
        l.ixmax = C == 4 ? a->w - 2 : (C == 3 ? a->w - 3 : a->w - 4);
        l.iymax = a->h - 2;
        int64_t xa = 0, xb = 0;
        if (l.ixmax >= 0 && l.iymax >= 0)
            interior_run(&l, ow, &xa, &xb);
        /* Blocks of 8: up to the run's first whole block, the run, the rest. */
        const int64_t end = ow / 8 * 8;
        int64_t start = 0;
        while (start < end && (start < xa || start + 8 > xb))
            start += 8;
        const int64_t run = start < end ? (xb - start) / 8 * 8 : 0;
        border_span(ic, C, &l, replicate, 0, start, y, p);
        if (!replicate)
            finish_range(ic, C, p, y, 0, start);
        if (run > 0)
            bilinear_run(ic, C, &l, start, start + run, y);
        border_span(ic, C, &l, replicate, start + run, end, y, p);
        x = end;
        done = replicate ? end : start + run;
    }
#endif
    for (; x < ow; ++x)
        bilinear_scalar(ic, C, &l, x, p);
    finish_range(ic, C, p, y, done, ow);
}

FA_INLINE void nearest_scalar(const image_ctx *ic, int C, const row_line *l, int64_t x,
                              int32_t *p)
{
    const fa_augment_args *a = ic->a;
    const double sx = clampd(l->rx + l->sx * (double)x, l->xlo, l->xhi);
    const double sy = clampd(l->ry + l->sy * (double)x, l->ylo, l->yhi);
    const int64_t xi = fa_border_index(split_nearest(sx), a->w, a->fill);
    const int64_t yi = fa_border_index(split_nearest(sy), a->h, a->fill);
    for (int c = 0; c < C; ++c)
        p[c * ic->plane + x] = fetch(ic, C, yi, xi, c) << FA_VBITS;
}

/* Nearest rows go by sixteen (nearest_row_vbmi) on this image. */
FA_INLINE int nearest16_applies(const image_ctx *ic)
{
#if FA_AVX2
    return ic->avx2 && ic->vbmi &&
           (ic->a->fill == FA_FILL_CONSTANT || ic->a->fill == FA_FILL_NEAREST);
#else
    (void)ic;
    return 0;
#endif
}

/* Samples nearest output row y into the planes p from the pixel it returns on; those
   before it are finished already (sixteen-pixel blocks on VBMI CPUs, fill "constant" or
   "nearest"). */
FA_INLINE int64_t nearest_row(const image_ctx *ic, int C, int64_t y, int32_t *p)
{
    const double *m = ic->m;
    const int64_t ow = ic->a->ow;
    const row_line l = {m[1] * (double)y + m[2], m[4] * (double)y + m[5], m[0], m[3],
                        ic->xmin, ic->xmax, ic->ymin, ic->ymax, 0, 0};
    int64_t x = 0, start = 0;
#if FA_AVX2
    if (nearest16_applies(ic))
        x = start = nearest_row_vbmi(ic, C, &l, y);
    if (ic->avx2)
        for (; x + 8 <= ow; x += 8)
            if (!nearest_block_avx2(ic, C, &l, x, p))
                for (int64_t k = x; k < x + 8; ++k)
                    nearest_scalar(ic, C, &l, k, p);
#endif
    for (; x < ow; ++x)
        nearest_scalar(ic, C, &l, x, p);
    return start;
}

/* A warp reads its source along rotated lines, which the hardware prefetchers do not
   follow: while one image is warped, the next one's source goes to L2 a slice a row. */
FA_INLINE void prefetch_slice(const image_ctx *ic, int64_t k, int64_t rows)
{
#if FA_SSE2
    if (!ic->next)
        return;
    const int64_t per_row = (ic->extent + rows - 1) / rows;
    const int64_t end = (k + 1) * per_row < ic->extent ? (k + 1) * per_row : ic->extent;
    for (int64_t b = k * per_row / 64 * 64; b < end; b += 64)
        _mm_prefetch((const char *)ic->next + b, _MM_HINT_T1);
#else
    (void)ic;
    (void)k;
    (void)rows;
#endif
}

FA_INLINE int rows_general(const image_ctx *ic, int C, int interp, int64_t y0, int64_t y1)
{
    int32_t *p = ic->rows;
    for (int64_t y = y0; y < y1; ++y) {
        prefetch_slice(ic, y - y0, y1 - y0);
        if (interp == FA_INTERP_BILINEAR) {
            bilinear_row(ic, C, y, p);
        } else {
            finish_range(ic, C, p, y, nearest_row(ic, C, y, p), ic->a->ow);
        }
    }
    return 0;
}

/* ---- stage 1, axis-aligned path: source column depends on x only, row on y only -- */

typedef struct {
    int64_t *i0, *i1; /* mapped source indices (-1: cval) */
    int32_t *w;       /* bilinear weights (1/4096); all 0 for nearest */
    int32_t *offset;  /* vector path: byte offset of i0 in the row */
    int32_t *pairs;   /* vector path: (4096 - w) | w << 16 */
    uint8_t *block;   /* vector path for pixels 8k .. 8k + 7: 1 gathers, 2 loads whole
                         pixels in order, 3 shuffles two 16-byte windows (masks),
                         0 leaves them to the scalar code */
    uint8_t *masks;   /* block type 3: per block and channel, a 32-byte pshufb mask */
    int32_t *window;  /* block type 3: byte offset of each half's window (2 a block) */
    int exact;        /* every weight is 0: a pure gather */
    int has_fill;     /* some index is -1 */
    int run;          /* i0 is first + x (1), first - x (-1), or neither (0) */
    int shift;        /* has_fill, and the other indices are first + x (a shift) */
} axis_table;

/* Indices and weights of count samples along one axis; base, step, lo, hi are the
   unscaled coordinates of the general path. */
static void fill_axis(axis_table *t, int64_t count, double base, double step, double lo,
                      double hi, int64_t n, int interp, int fill)
{
    t->exact = 1;
    t->has_fill = 0;
    for (int64_t k = 0; k < count; ++k) {
        if (interp == FA_INTERP_NEAREST) {
            const double s = clampd(base + step * (double)k, lo, hi);
            t->i0[k] = t->i1[k] = fa_border_index(split_nearest(s), n, fill);
            t->w[k] = 0;
        } else {
            /* The general path's expression, scaled alike. */
            const double s = clampd(base * FA_WONE + step * FA_WONE * (double)k, lo * FA_WONE,
                                    hi * FA_WONE);
            const int64_t f = round_even(s), i = f >> FA_WBITS;
            t->w[k] = (int32_t)(f & (FA_WONE - 1));
            t->i0[k] = fa_border_index(i, n, fill);
            /* A zero weight ignores its neighbour: skip it. */
            t->i1[k] = t->w[k] == 0 ? t->i0[k] : fa_border_index(i + 1, n, fill);
            t->exact &= t->w[k] == 0;
        }
        t->has_fill |= t->i0[k] < 0 || t->i1[k] < 0;
    }
    /* the indices other than fill, against the first of them */
    int up = 1, down = 1;
    for (int64_t k = 0, first = -1; k < count; ++k) {
        if (t->i0[k] < 0)
            continue;
        if (first < 0)
            first = k;
        up &= t->i0[k] == t->i0[first] + (k - first);
        down &= t->i0[k] == t->i0[first] - (k - first);
    }
    t->run = t->has_fill ? 0 : (up ? 1 : (down ? -1 : 0));
    t->shift = t->has_fill && up;
}

#if FA_AVX2
/* Eight whole pixels in order from s (8 C bytes), channel c of each in the dwords of
   v[c]. */
FA_TARGET_AVX2 static inline void load_pixels8(const uint8_t *s, int C, __m256i *v)
{
    if (C == 1) {
        v[0] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)s));
        return;
    }
    /* Pixels 0-3 in the low lane, 4-7 in the high one (C = 3: from byte 4 of bytes
       8 .. 23, so that nothing after the pixels is read). */
    const __m256i px = C == 4 ? _mm256_loadu_si256((const __m256i *)s)
                              : _mm256_inserti128_si256(
                                    _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)s)),
                                    _mm_loadu_si128((const __m128i *)(s + 8)), 1);
    const __m256i first = C == 4 ? _mm256_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12)
                                 : _mm256_setr_epi32(0, 3, 6, 9, 4, 7, 10, 13);
    for (int c = 0; c < C; ++c) {
        /* dword k of a lane takes byte first[k] + c, zero-extended */
        const __m256i at = _mm256_add_epi32(first, _mm256_set1_epi32(c));
        v[c] = _mm256_shuffle_epi8(px, _mm256_or_si256(at, _mm256_set1_epi32((int32_t)0x80808000u)));
    }
}

/* The same into planes h (stride ps), shifted left by `shift` bits: mix_x with
   weight 0. */
FA_TARGET_AVX2 static inline void horizontal_straight(const uint8_t *s, int C, int shift,
                                                      int32_t *h, int64_t ps)
{
    const __m128i sh = _mm_cvtsi32_si128(shift);
    __m256i v[4];
    load_pixels8(s, C, v);
    for (int c = 0; c < C; ++c)
        _mm256_storeu_si256((__m256i *)(h + c * ps), _mm256_sll_epi32(v[c], sh));
}

/* Output row y as whole source pixels s[0], s[C], ... finished straight from them,
   without planes: the blocks of 8 whose loads stay within the `bytes` readable at s.
   Returns the pixels done. */
FA_AVX2_INLINE void finish_pixels_body(const image_ctx *ic, int C, const uint8_t *s, int64_t y,
                                       int64_t x1, int kind)
{
    finish_consts k;
    finish_init(ic, C, kind, &k);
    for (int64_t x = 0; x < x1; x += 8) {
        __m256i v[4];
        load_pixels8(s + x * C, C, v);
        finish8(ic, C, &k, v, y, x, 1, kind);
    }
}

/* finish_pixels_body on VBMI CPUs for uint8 outputs: blocks of 16 pixels by one masked
   load of their 16 C bytes, split into channels by vpermb and finished by finish16;
   the last block of 8 as there. (Float outputs stay 256-bit: memory-bound, their
   512-bit stores into numpy's 16-byte-aligned buffers measured 5-30% slower.) */
FA_VBMI_INLINE void finish_pixels16_body(const image_ctx *ic, int C, const uint8_t *s, int64_t y,
                                         int64_t x1, int kind)
{
    finish_consts k;
    finish_init(ic, C, kind, &k);
    const __mmask64 bytes = C == 4 ? ~0ull : (1ull << (16 * C)) - 1;
    int64_t x = 0;
    for (; x + 16 <= x1; x += 16) {
        const __m512i px = _mm512_maskz_loadu_epi8(bytes, s + x * C);
        __m512i v[4];
        for (int c = 0; c < C; ++c) {
            /* byte 0 of dword j: byte C j + c, zero-extended */
            const __m512i at = _mm512_add_epi32(
                _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                     13, 14, 15), _mm512_set1_epi32(C)),
                _mm512_set1_epi32(c));
            v[c] = _mm512_maskz_permutexvar_epi8(0x1111111111111111ull, at, px);
        }
        finish16(ic, C, &k, v, y, x, 1, kind);
    }
    for (; x < x1; x += 8) {
        __m256i v[4];
        load_pixels8(s + x * C, C, v);
        finish8(ic, C, &k, v, y, x, 1, kind);
    }
}

FA_TARGET_VBMI static void finish_pixels_vbmi(const image_ctx *ic, int C, const uint8_t *s,
                                              int64_t y, int64_t x1)
{
    FA_BY_KIND(ic, C, finish_pixels16_body, s, y, x1);
}

FA_TARGET_AVX2 static int64_t finish_pixels_avx2(const image_ctx *ic, int C, const uint8_t *s,
                                                 int64_t bytes, int64_t y)
{
    const int64_t ow = ic->a->ow;
    int64_t x1 = 0;
    while (x1 + 8 <= ow && (x1 + 8) * C <= bytes)
        x1 += 8;
    if (ic->vbmi && ic->a->output == FA_OUT_U8_NHWC)
        finish_pixels_vbmi(ic, C, s, y, x1);
    else
        FA_BY_KIND(ic, C, finish_pixels_body, s, y, x1);
    return x1;
}

/* The vector blocks of horizontal(): pixels 8k .. 8k + 7 of source row `row`, their
   samples shifted left by `up` bits (9: straight to sample units). */
FA_TARGET_AVX2 static void horizontal_avx2(const image_ctx *ic, int C, const axis_table *tx,
                                           const uint8_t *row, int up, int32_t *h)
{
    const int64_t ow = ic->a->ow, ps = ic->plane;
    __m256i ma[4], mb[4];
    if (C > 1)
        pair_masks(C, ma, mb);
    const __m256i c1 = pair_mask_c1();
    const __m128i shift_up = _mm_cvtsi32_si128(up);
    for (int64_t x = 0; x + 8 <= ow; x += 8) {
        if (!tx->block[x / 8])
            continue;
        if (tx->block[x / 8] == 2) {
            horizontal_straight(row + tx->offset[x], C, up + FA_WBITS - FA_HSHIFT, h + x, ps);
            continue;
        }
        const __m256i wx = _mm256_loadu_si256((const __m256i *)(tx->pairs + x));
        if (tx->block[x / 8] == 3) {
            /* Pixels 0-3 from one 16-byte window of the row, 4-7 from another. */
            const int32_t *at = tx->window + 2 * (x / 8);
            const __m256i win = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(row + at[0]))),
                _mm_loadu_si128((const __m128i *)(row + at[1])), 1);
            const __m256i *mask = (const __m256i *)(tx->masks + 32 * C * (x / 8));
            for (int c = 0; c < C; ++c) {
                const __m256i t = _mm256_madd_epi16(
                    _mm256_shuffle_epi8(win, _mm256_loadu_si256(mask + c)), wx);
                _mm256_storeu_si256((__m256i *)(h + c * ps + x),
                                    _mm256_sll_epi32(_mm256_srli_epi32(t, FA_HSHIFT), shift_up));
            }
            continue;
        }
        const __m256i off = _mm256_loadu_si256((const __m256i *)(tx->offset + x));
        if (C == 1) {
            const __m256i t = _mm256_madd_epi16(
                _mm256_shuffle_epi8(_mm256_i32gather_epi32((const int *)row, off, 1), c1), wx);
            _mm256_storeu_si256((__m256i *)(h + x),
                                _mm256_sll_epi32(_mm256_srli_epi32(t, FA_HSHIFT), shift_up));
            continue;
        }
        const __m256i p = _mm256_permute4x64_epi64(off, _MM_SHUFFLE(3, 1, 2, 0));
        const __m256i ta = _mm256_i32gather_epi64((const long long *)row, _mm256_castsi256_si128(p), 1);
        const __m256i tb = _mm256_i32gather_epi64((const long long *)row, _mm256_extracti128_si256(p, 1), 1);
        for (int c = 0; c < C; ++c) {
            const __m256i t = _mm256_madd_epi16(
                _mm256_or_si256(_mm256_shuffle_epi8(ta, ma[c]), _mm256_shuffle_epi8(tb, mb[c])), wx);
            _mm256_storeu_si256((__m256i *)(h + c * ps + x),
                                _mm256_sll_epi32(_mm256_srli_epi32(t, FA_HSHIFT), shift_up));
        }
    }
}

/* Block type 3 for pixels b .. b + 7: each half's bytes (both neighbours, or one for a
   zero weight) within 16 bytes from its first pixel's, the loads inside the row; the
   pshufb masks that make word pairs (left, right) of channel c in dword k. */
static int plan_window(axis_table *t, int64_t b, int64_t w, int C)
{
    int64_t lo[2]; /* each half's window starts at its leftmost pixel (any order) */
    for (int h = 0; h < 2; ++h) {
        const int64_t half = b + 4 * h;
        lo[h] = t->i0[half];
        for (int64_t k = half + 1; k < half + 4; ++k)
            lo[h] = t->i0[k] < lo[h] ? t->i0[k] : lo[h];
        if (lo[h] * C + 16 > w * C)
            return 0;
        for (int64_t k = half; k < half + 4; ++k)
            if ((t->i0[k] - lo[h]) * C + (t->w[k] ? 2 * C : C) > 16)
                return 0;
    }
    uint8_t *m = t->masks + 32 * C * (b / 8);
    memset(m, 0x80, (size_t)(32 * C)); /* 0x80: a zero byte */
    for (int c = 0; c < C; ++c)
        for (int64_t k = b; k < b + 8; ++k) {
            const int64_t at = 32 * c + 4 * (k - b);
            m[at] = (uint8_t)((t->i0[k] - lo[k < b + 4 ? 0 : 1]) * C + c);
            if (t->w[k])
                m[at + 2] = (uint8_t)(m[at] + C);
        }
    t->window[2 * (b / 8)] = (int32_t)(lo[0] * C);
    t->window[2 * (b / 8) + 1] = (int32_t)(lo[1] * C);
    return 1;
}

/* Which blocks of 8 pixels the vector horizontal pass may take: both neighbours
   inside and adjacent (or a zero weight), the 4- or 8-byte load inside the row. */
static void plan_vector_axis(axis_table *t, int64_t count, int64_t w, int C)
{
    const int64_t last = C == 4 ? w - 2 : (C == 3 ? w - 3 : w - 4);
    for (int64_t k = 0; k < count; ++k) {
        t->offset[k] = t->i0[k] >= 0 ? (int32_t)(t->i0[k] * C) : 0;
        t->pairs[k] = (FA_WONE - t->w[k]) | t->w[k] << 16;
    }
    /* Bytes read by the straight load of eight consecutive whole pixels. */
    const int64_t span = 8 * C;
    for (int64_t b = 0; b < count / 8; ++b) {
        int ok = 1, straight = 1;
        for (int64_t k = 8 * b; k < 8 * b + 8; ++k) {
            ok &= t->i0[k] >= 0 && t->i0[k] <= last && (t->w[k] == 0 || t->i1[k] == t->i0[k] + 1);
            straight &= t->w[k] == 0 && t->i0[k] == t->i0[8 * b] + (k - 8 * b);
        }
        straight &= t->i0[8 * b] >= 0 && t->i0[8 * b] * C + span <= w * C;
        t->block[b] = (uint8_t)(straight ? 2 : (ok && plan_window(t, 8 * b, w, C) ? 3 : ok));
    }
}
#endif

/* Source row yi interpolated along x into C planes (2^-7 grey level), shifted left by
   `up` bits (9 gives sample units, for rows used unblended). */
FA_INLINE void horizontal(const image_ctx *ic, int C, const axis_table *tx, int64_t yi,
                          int up, int32_t *h)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow, ps = ic->plane;
    const uint8_t *row = ic->src + yi * a->src_row_stride;
    int64_t blocks = 0; /* whole blocks of 8 (the vector ones are done), then the tail */
#if FA_AVX2
    if (tx->block && yi >= 0) {
        horizontal_avx2(ic, C, tx, row, up, h);
        blocks = ow / 8;
    }
#endif
    for (int64_t b = 0; b <= blocks; ++b) {
        if (b < blocks && tx->block[b])
            continue;
        const int64_t x0 = 8 * b, x1 = b < blocks ? x0 + 8 : ow;
        if (yi < 0 || tx->has_fill) {
            for (int c = 0; c < C; ++c)
                for (int64_t x = x0; x < x1; ++x)
                    h[c * ps + x] = mix_x(fetch(ic, C, yi, tx->i0[x], c),
                                          fetch(ic, C, yi, tx->i1[x], c), tx->w[x]) << up;
            continue;
        }
        for (int c = 0; c < C; ++c)
            for (int64_t x = x0; x < x1; ++x)
                h[c * ps + x] = mix_x(row[tx->i0[x] * C + c], row[tx->i1[x] * C + c], tx->w[x])
                                << up;
    }
}

#define FA_HORIZONTAL(Cn)                                                               \
    FA_HOT static void horizontal_c##Cn(const image_ctx *ic, const axis_table *tx,       \
                                        int64_t yi, int up, int32_t *h)                 \
    {                                                                                   \
        horizontal(ic, Cn, tx, yi, up, h);                                              \
    }
FA_HORIZONTAL(1)
FA_HORIZONTAL(3)
FA_HORIZONTAL(4)

/* The vertical step over n samples of cached rows t and b. */
FA_HOT static void vertical(const int32_t *t, const int32_t *b, int32_t w, int64_t n,
                            int32_t *v)
{
    for (int64_t j = 0; j < n; ++j)
        v[j] = mix_y(t[j], b[j], w);
}

/* The vertical step of cached rows t and b (weight w) and the finishing of output row
   y; v: scratch planes. */
FA_INLINE void blend_finish(const image_ctx *ic, int C, const int32_t *t, const int32_t *b,
                            int32_t w, int32_t *v, int64_t y)
{
    const int64_t ow = ic->a->ow, ps = ic->plane;
    int64_t x = 0;
#if FA_AVX2
    if (ic->vector)
        x = blend_finish_avx2(ic, C, t, b, w, y);
#endif
    if (x == ow)
        return;
    for (int c = 0; c < C; ++c)
        vertical(t + c * ps + x, b + c * ps + x, w, ow - x, v + c * ps + x);
    finish_scalar(ic, C, v, y, x, ow);
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
        typedef uint32_t u4 __attribute__((vector_size(16)));
        const u4 rev = {3, 2, 1, 0};
        for (; k + 4 <= ow; k += 4) { /* pixels k .. k + 3 come from s[-(k + 3) .. -k] */
            u4 block;
            memcpy(&block, s - 4 * (k + 3), 16);
            block = __builtin_shuffle(block, rev);
            memcpy(d + 4 * k, &block, 16);
        }
        for (; k < ow; ++k)
            memcpy(d + 4 * k, s - 4 * k, 4);
    } else {
        typedef uint8_t v16 __attribute__((vector_size(16)));
        const v16 rev = {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
        for (; k + 16 <= ow; k += 16) {
            v16 block;
            memcpy(&block, s - (k + 15), 16);
            block = __builtin_shuffle(block, rev);
            memcpy(d + k, &block, 16);
        }
        for (; k < ow; ++k)
            d[k] = s[-k];
    }
}

/* The same reversal read forwards from s, the leftmost source pixel: d[ow - 1 - p] =
   pixel p. Source rows then arrive in address order, as the hardware prefetchers
   expect (reverse_pixels' backward reads within ascending rows left a streamed flip
   waiting on memory: 4.5x a copy). C = 3: five pixels per 16-byte block, loaded from
   the byte before them and stored from the byte before their output, which a later
   block (or the scalar pixels, done last) overwrites. */
FA_HOT static void reverse_pixels_up(uint8_t *d, const uint8_t *s, int64_t ow, int C)
{
    typedef uint8_t v16 __attribute__((vector_size(16)));
    int64_t p = 0;
    if (C == 3) {
        const v16 rev = {0, 13, 14, 15, 10, 11, 12, 7, 8, 9, 4, 5, 6, 1, 2, 3};
        for (p = 1; p + 6 <= ow; p += 5) {
            v16 block;
            memcpy(&block, s + 3 * p - 1, 16);
            block = __builtin_shuffle(block, rev);
            memcpy(d + 3 * (ow - 5 - p) - 1, &block, 16);
        }
        for (int64_t q = p; q < ow; ++q)
            memcpy(d + 3 * (ow - 1 - q), s + 3 * q, 3);
        memcpy(d + 3 * (ow - 1), s, 3);
    } else if (C == 4) {
        typedef uint32_t u4 __attribute__((vector_size(16)));
        const u4 rev = {3, 2, 1, 0};
        for (; p + 4 <= ow; p += 4) {
            u4 block;
            memcpy(&block, s + 4 * p, 16);
            block = __builtin_shuffle(block, rev);
            memcpy(d + 4 * (ow - 4 - p), &block, 16);
        }
        for (; p < ow; ++p)
            memcpy(d + 4 * (ow - 1 - p), s + 4 * p, 4);
    } else {
        const v16 rev = {15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
        for (; p + 16 <= ow; p += 16) {
            v16 block;
            memcpy(&block, s + p, 16);
            block = __builtin_shuffle(block, rev);
            memcpy(d + ow - 16 - p, &block, 16);
        }
        for (; p < ow; ++p)
            d[ow - 1 - p] = s[p];
    }
}

/* ---- direct copies: rows of source pixels (integer shifts, flips), no sampling ---- */

/* n bytes (a multiple of 64) from s to 64-byte aligned d, with non-temporal stores. */
typedef void (*lines_fn)(uint8_t *d, const uint8_t *s, int64_t n);

#if FA_SSE2
static void stream_lines_sse2(uint8_t *d, const uint8_t *s, int64_t n)
{
    for (; n > 0; n -= 64, d += 64, s += 64)
        for (int k = 0; k < 64; k += 16)
            _mm_stream_si128((__m128i *)(d + k), _mm_loadu_si128((const __m128i *)(s + k)));
}
#endif

#if FA_AVX2
FA_TARGET_AVX2 static void stream_lines_avx2(uint8_t *d, const uint8_t *s, int64_t n)
{
    for (; n > 0; n -= 64, d += 64, s += 64) {
        _mm256_stream_si256((__m256i *)d, _mm256_loadu_si256((const __m256i *)s));
        _mm256_stream_si256((__m256i *)(d + 32), _mm256_loadu_si256((const __m256i *)(s + 32)));
    }
}

/* The reversal of reverse_pixels, reading the source forwards (source rows then arrive
   in address order, as the hardware prefetcher expects): d[k] = the pixel at
   s + C (ow - 1 - k). A vector takes P = 64 / C whole pixels: vpermb by `index`
   (byte C m + c <- byte C (P - 1 - m) + c), its store masked to the P C bytes that
   hold pixels. The last vector takes the r < P pixels left, its index lowered by
   C (P - r) and its load masked to them (masked loads are slower: only there), so
   nothing outside the two runs is touched. */
FA_TARGET_VBMI static void reverse_forward_vbmi(uint8_t *d, const uint8_t *s, int64_t ow,
                                                int C, const uint8_t *index)
{
    const int64_t P = 64 / C;
    const __mmask64 whole = P * C == 64 ? ~(__mmask64)0 : ((__mmask64)1 << (P * C)) - 1;
    const __m512i full = _mm512_loadu_si512((const void *)index);
    int64_t j = 0;
    for (; C * j + 64 <= C * ow; j += P)
        _mm512_mask_storeu_epi8(d + C * (ow - P - j), whole,
                                _mm512_permutexvar_epi8(full, _mm512_loadu_si512(s + C * j)));
    for (; j < ow; j += P) {
        const int64_t r = ow - j < P ? ow - j : P;
        const __mmask64 k = r * C == 64 ? ~(__mmask64)0 : ((__mmask64)1 << (r * C)) - 1;
        const __m512i index_r = _mm512_sub_epi8(full, _mm512_set1_epi8((char)(C * (P - r))));
        const __m512i v = _mm512_maskz_loadu_epi8(k, s + C * j);
        _mm512_mask_storeu_epi8(d + C * (ow - r - j), k, _mm512_permutexvar_epi8(index_r, v));
    }
}
#endif

#if FA_AVX2
/* Bits [from, to) of a 64-bit mask (either end may lie outside 0 .. 64). */
FA_INLINE __mmask64 bits_between(int64_t from, int64_t to)
{
    from = from < 0 ? 0 : from;
    to = to > 64 ? 64 : to;
    if (from >= to)
        return 0;
    const uint64_t upto = to == 64 ? ~0ull : (1ull << to) - 1;
    return (__mmask64)(upto & ~((1ull << from) - 1));
}

/* Window of source row `src` (its R bytes) for the output line at row offset b (any
   sign) of a left-right reversal: bytes lo .. lo + 127, lo = R - C - b - 63; plain
   loads where the window lies in [first, end) (the source image's bytes), else loaded
   masked to the row. */
FA_VBMI_INLINE __m512i reversed_part(const uint8_t *src, int64_t R, int64_t b, int C,
                                     const __m512i *index, int phase, const uint8_t *first,
                                     const uint8_t *end)
{
    const int64_t lo = R - C - b - 63;
    __m512i a, c;
    if ((lo >= 0 && lo + 128 <= R) || (src + lo >= first && src + lo + 128 <= end)) {
        a = _mm512_loadu_si512(src + lo);
        c = _mm512_loadu_si512(src + lo + 64);
    } else {
        /* byte k of the window is in the row when -lo <= k < R - lo */
        a = _mm512_maskz_loadu_epi8(bits_between(-lo, R - lo), src + lo);
        c = _mm512_maskz_loadu_epi8(bits_between(-lo - 64, R - lo - 64), src + lo + 64);
    }
    return _mm512_permutex2var_epi8(a, index[phase], c);
}

/* The aligned 64-byte output line `line` of the run [out, last): streamed (`stream`) or
   stored when whole inside the run, else stored masked to it. */
FA_VBMI_INLINE void put_line(uint8_t *line, const uint8_t *out, const uint8_t *last, __m512i v,
                             int stream)
{
    if (line < out || line + 64 > last)
        _mm512_mask_storeu_epi8(line, bits_between(out - line, last - line), v);
    else if (stream)
        _mm512_stream_si512((void *)line, v);
    else
        _mm512_storeu_si512((void *)line, v);
}

/* Output rows 0 .. n - 1 from `out` on (a contiguous run of R = ow C bytes each, R >=
   64), each the left-right reversal of the R bytes at base + source[y] * stride (its
   leftmost pixel read; the bytes [first, end) may be read too), written as the aligned 64-byte lines of
   the run: each line from a 128-byte window of every row it overlaps, reversed by one
   vpermt2b (line byte t at row offset b takes window byte 63 - t + 2 ((b + t) mod C)),
   streamed when whole inside the run, else stored masked to it. No scratch row and no
   line written in parts. */
FA_TARGET_VBMI static void reverse_lines_vbmi(uint8_t *out, const uint8_t *base, int64_t stride,
                                              const int64_t *source, int64_t n, int64_t R,
                                              int C, const uint8_t *first, const uint8_t *end,
                                              int stream)
{
    __m512i index[4];
    for (int p = 0; p < C; ++p) {
        uint8_t b[64];
        for (int t = 0; t < 64; ++t)
            b[t] = (uint8_t)(63 - t + 2 * ((p + t) % C));
        index[p] = _mm512_loadu_si512(b);
    }
    uint8_t *const last = out + n * R;
    int64_t y = 0;
    uint8_t *line = (uint8_t *)((uintptr_t)out & ~(uintptr_t)63);
    /* b mod C, the same for every row the line overlaps (R is a multiple of C): kept
       by addition, not a division per line */
    const int step = 64 % C;
    int phase = (int)((line - out) % C + C) % C;
    for (; line < last; line += 64, phase = phase + step >= C ? phase + step - C : phase + step) {
        const int64_t o = line - out;
        while ((y + 1) * R <= o) {
            ++y;
            if (y + 2 < n)
                for (int64_t k = 0; k < R; k += 64)
                    _mm_prefetch((const char *)base + source[y + 2] * stride + k, _MM_HINT_T0);
        }
        __m512i v = reversed_part(base + source[y] * stride, R, o - y * R, C, index, phase,
                                  first, end);
        const int64_t split = (y + 1) * R - o; /* bytes of the line in row y */
        if (split < 64 && y + 1 < n)
            v = _mm512_mask_blend_epi8(bits_between(0, split),
                                       reversed_part(base + source[y + 1] * stride, R,
                                                     o - (y + 1) * R, C, index, phase, first,
                                                     end),
                                       v);
        put_line(line, out, last, v, stream);
    }
}

/* Output rows 0 .. n - 1 from `out` on (a contiguous run of R bytes each, R >= 64),
   each the R bytes at base + source[y] * stride, written as the aligned 64-byte lines
   of the run, from the last line to the first: a vertical flip reads its source rows
   in ascending order then, as the hardware prefetchers expect (in the other order,
   rows descending while their bytes ascend, a streamed flip took 2.5x a copy). A line
   across two rows takes each part by a masked load; lines whole inside the run are
   streamed (`stream`) or stored, the run's partial end lines stored masked to it. */
FA_TARGET_VBMI static void copy_lines_down(uint8_t *out, const uint8_t *base, int64_t stride,
                                           const int64_t *source, int64_t n, int64_t R,
                                           int stream)
{
    uint8_t *const last = out + n * R;
    uint8_t *const first = (uint8_t *)((uintptr_t)out & ~(uintptr_t)63);
    int64_t y = n - 1;
    for (uint8_t *line = (uint8_t *)((uintptr_t)(last - 1) & ~(uintptr_t)63); line >= first;
         line -= 64) {
        const int64_t o = line - out; /* may be negative for the first line */
        while (y > 0 && y * R > o) {
            --y;
            if (y >= 2)
                for (int64_t k = 0; k < R; k += 64)
                    _mm_prefetch((const char *)base + source[y - 2] * stride + k, _MM_HINT_T0);
        }
        /* row y holds line bytes [y R - o, (y + 1) R - o); row y + 1 the rest */
        const int64_t b = o - y * R;
        const uint8_t *s = base + source[y] * stride + b;
        __m512i v = _mm512_maskz_loadu_epi8(bits_between(-b, R - b), s);
        if (y + 1 < n && R - b < 64)
            v = _mm512_mask_loadu_epi8(v, bits_between(R - b, 64),
                                       base + source[y + 1] * stride + b - R);
        put_line(line, out, last, v, stream);
    }
}
#endif

/* Consecutive output bytes, written in order. Plain stores; or, for outputs too large
   for the caches, non-temporal stores of whole aligned 64-byte lines, a line's bytes
   gathered in `line` until it is whole, so that no line is written in parts (a partly
   written streamed line costs a read of memory). The range's first and last partial
   lines get plain stores: nothing outside the range is written. */
typedef struct {
    uint8_t line[64];
    uint8_t *d;       /* next output byte; with bytes held in line, their line's start */
    int64_t held;     /* bytes held in line */
    lines_fn stream;  /* NULL: plain stores */
    uint8_t *scratch; /* a row built before it is streamed */
    int vbmi;         /* reverse with reverse_forward_vbmi, by `index` */
    int backward;     /* else reverse_pixels (rows taken in descending order), not _up */
    uint8_t index[64];
} row_writer;

static void writer_init(row_writer *w, const image_ctx *ic, int C, uint8_t *d)
{
    w->d = d;
    w->held = 0;
    w->stream = NULL;
    w->scratch = (uint8_t *)(ic->rows + 2 * ic->block); /* rows_axis_aligned's v: no cache */
    w->vbmi = 0;
    w->backward = 0;
#if FA_AVX2
    /* streamed or not: reverse_pixels reads rows backwards, which the hardware
       prefetchers follow poorly (a flipped batch in the caches took 4x a copy) */
    if (ic->vector && ic->vbmi) {
        w->vbmi = 1;
        const int P = 64 / C;
        for (int b = 0; b < 64; ++b)
            w->index[b] = (uint8_t)(b < P * C ? C * (P - 1 - b / C) + b % C : 0);
    }
#endif
    if (!ic->stream)
        return;
#if FA_SSE2
    w->stream = stream_lines_sse2;
#endif
#if FA_AVX2
    /* 64-byte streaming stores measured no faster than these. */
    if (ic->vector)
        w->stream = stream_lines_avx2;
#endif
}

static void writer_put(row_writer *w, const uint8_t *s, int64_t n)
{
    if (!w->stream) {
        memcpy(w->d, s, (size_t)n);
        w->d += n;
        return;
    }
    if (w->held == 0) {
        /* Up to the first line boundary (only at the start of the range). */
        const int64_t to_line = (int64_t)(-(uintptr_t)w->d & 63);
        const int64_t head = to_line < n ? to_line : n;
        memcpy(w->d, s, (size_t)head);
        w->d += head;
        s += head;
        n -= head;
    } else {
        const int64_t more = 64 - w->held < n ? 64 - w->held : n;
        memcpy(w->line + w->held, s, (size_t)more);
        w->held += more;
        s += more;
        n -= more;
        if (w->held < 64)
            return;
        w->stream(w->d, w->line, 64);
        w->d += 64;
        w->held = 0;
    }
    const int64_t body = n & ~(int64_t)63;
    if (body > 0) {
        w->stream(w->d, s, body);
        w->d += body;
    }
    memcpy(w->line, s + body, (size_t)(n - body));
    w->held = n - body;
}

/* The bytes still held, with plain stores. */
static void writer_end(row_writer *w)
{
    memcpy(w->d, w->line, (size_t)w->held);
    w->d += w->held;
    w->held = 0;
}

/* n pixels of the fill value. */
static void fill_pixels(uint8_t *d, int64_t n, int C, const uint8_t *cval)
{
    if (n <= 0)
        return;
    if (C == 1) {
        memset(d, cval[0], (size_t)n);
        return;
    }
    /* one pixel, then the pattern doubled */
    memcpy(d, cval, (size_t)C);
    for (int64_t done = 1; done < n;) {
        const int64_t k = done < n - done ? done : n - done;
        memcpy(d + done * C, d, (size_t)(k * C));
        done += k;
    }
}

/* Output row from source row yi (-1: constant) through the column table (no colour,
   uint8 output). */
static void write_row(row_writer *w, const image_ctx *ic, int C, const axis_table *tx,
                      int64_t yi)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow;
    const uint8_t *row = yi < 0 ? NULL : ic->src + yi * a->src_row_stride;
    if (row && !tx->has_fill && tx->run == 1) {
        writer_put(w, row + tx->i0[0] * C, ow * C);
        return;
    }
    /* Built in place, or in scratch to be streamed. */
    uint8_t *d = w->stream ? w->scratch : w->d;
    if (!row) {
        fill_pixels(d, ow, C, a->cval);
    } else if (tx->has_fill) {
        /* spans of fill, and of consecutive source pixels (shifts: one each side) */
        for (int64_t x = 0, e; x < ow; x = e) {
            e = x + 1;
            if (tx->i0[x] < 0) {
                while (e < ow && tx->i0[e] < 0)
                    ++e;
                fill_pixels(d + x * C, e - x, C, a->cval);
            } else {
                while (e < ow && tx->i0[e] == tx->i0[e - 1] + 1)
                    ++e;
                memcpy(d + x * C, row + tx->i0[x] * C, (size_t)((e - x) * C));
            }
        }
    } else if (tx->run == -1) {
        if (w->backward)
            reverse_pixels(d, row + tx->i0[0] * C, ow, C);
#if FA_AVX2
        else if (w->vbmi)
            reverse_forward_vbmi(d, row + tx->i0[ow - 1] * C, ow, C, w->index);
#endif
        else
            reverse_pixels_up(d, row + tx->i0[ow - 1] * C, ow, C);
    } else {
        for (int64_t x = 0; x < ow; ++x)
            memcpy(d + x * C, row + tx->i0[x] * C, (size_t)C);
    }
    if (w->stream)
        writer_put(w, d, ow * C);
    else
        w->d += ow * C;
}

/* One output row, alone (rows of the interpolating loop that happen to be copies). */
static void copy_row(const image_ctx *ic, int C, const axis_table *tx, int64_t yi, int64_t y)
{
    row_writer w;
    writer_init(&w, ic, C, ic->dst8 + y * ic->a->ow * C);
    write_row(&w, ic, C, tx, yi);
    writer_end(&w);
}

/* The source bytes write_row will read for source row yi, into the cache. */
static void prefetch_row(const image_ctx *ic, int C, const axis_table *tx, int64_t yi)
{
    if (yi < 0 || tx->has_fill || tx->run == 0)
        return;
    const int64_t ow = ic->a->ow, n = ow * C;
    const uint8_t *s =
        ic->src + yi * ic->a->src_row_stride + tx->i0[tx->run == 1 ? 0 : ow - 1] * C;
    for (int64_t k = 0; k < n; k += 64)
        __builtin_prefetch(s + k);
    __builtin_prefetch(s + n - 1);
}

/* copy_lines_down without AVX-512: rows 0 .. n - 1 of R bytes from `out` on, each
   the R bytes at base + source[y] * stride, from the last row to the first (source
   rows then ascend, as the prefetchers expect), each row by the writer w (streamed
   or not) on its own. */
static void copy_rows_down(row_writer *w, uint8_t *out, const uint8_t *base, int64_t stride,
                           const int64_t *source, int64_t n, int64_t R)
{
    for (int64_t y = n - 1; y >= 0; --y) {
        w->d = out + y * R;
        writer_put(w, base + source[y] * stride, R);
        writer_end(w);
    }
}

/* Output rows from y0 on that are copies of source rows (or constant rows, beyond a
   "constant" border), up to y1 or the first that is not: returns that row (y0 when the
   table cannot be allocated: the caller's loop then does the rows). Consecutive whole
   source rows, contiguous in memory, go as one block. Flips are written so that the
   source is read in one direction: top-bottom ones from the last row up, left-right
   ones forwards within ascending rows, backwards within descending ones. Streamed
   rows of the row writer prefetch the source row two rows ahead. */
static int64_t copy_rows(const image_ctx *ic, int C, int interp, const axis_table *tx,
                         int64_t y0, int64_t y1)
{
    const fa_augment_args *a = ic->a;
    const double *m = ic->m;
    int64_t *source = malloc((size_t)(y1 - y0) * sizeof(int64_t));
    if (!source)
        return y0;
    int64_t end = y0;
    for (; end < y1; ++end) {
        int64_t ya, yb;
        int32_t wy;
        axis_table ty = {&ya, &yb, &wy, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0};
        fill_axis(&ty, 1, m[4] * (double)end + m[5], m[3], ic->ymin, ic->ymax, a->h, interp,
                  a->fill);
        if (!ty.exact)
            break;
        source[end - y0] = ya;
    }
    const int64_t row = a->ow * C;
    const int whole = tx->run == 1 && !tx->has_fill && tx->i0[0] == 0 && a->ow == a->w &&
                      a->src_row_stride == row;
    row_writer w;
    writer_init(&w, ic, C, ic->dst8 + y0 * row);
    /* Rows taken in descending order are reversed best by reverse_pixels, whose
       backward reads then make the whole source descend (in the caches a both-ways
       flip took 1.4x as long by the vector lines, 2x reading rows forward). */
    const int descending = end > y0 + 1 && source[1] < source[0];
    w.backward = descending;
    /* Top-bottom flips of whole rows: from the last line (or row) up. */
    int down = descending && tx->run == 1 && !tx->has_fill;
    for (int64_t y = y0; down && y < end; ++y)
        down = source[y - y0] >= 0 && (y == y0 || source[y - y0] < source[y - 1 - y0]);
    /* Left-right flips: straight to aligned lines. */
    int flipped = w.vbmi && (w.stream || !descending) && tx->run == -1 && !tx->has_fill &&
                  row >= 64 && end > y0;
    for (int64_t y = y0; flipped && y < end; ++y)
        flipped = source[y - y0] >= 0;
    uint8_t *const out = ic->dst8 + y0 * row;
    const int64_t n = end - y0;
#if FA_AVX2
    if (down && w.vbmi && row >= 64) {
        copy_lines_down(out, ic->src + tx->i0[0] * C, a->src_row_stride, source, n, row,
                        w.stream != NULL);
    } else if (flipped) {
        /* the image's bytes, when rows go down in memory (else none: masked loads) */
        const uint8_t *last = ic->src + (ic->extent > 0 ? ic->extent : 0);
        reverse_lines_vbmi(out, ic->src + tx->i0[a->ow - 1] * C, a->src_row_stride, source, n,
                           row, C, ic->src, last, w.stream != NULL);
    } else
#endif
    if (down) {
        copy_rows_down(&w, out, ic->src + tx->i0[0] * C, a->src_row_stride, source, n, row);
    } else {
        for (int64_t y = y0; y < end;) {
            const int64_t yi = source[y - y0];
            int64_t k = 1;
            while (whole && yi >= 0 && y + k < end && source[y + k - y0] == yi + k)
                ++k;
            if (k > 1) {
                writer_put(&w, ic->src + yi * row, k * row);
            } else {
                if (w.stream && y + 2 < end)
                    prefetch_row(ic, C, tx, source[y + 2 - y0]);
                write_row(&w, ic, C, tx, yi);
            }
            y += k;
        }
        writer_end(&w);
    }
    free(source);
    return end;
}

FA_INLINE void horizontal_for(const image_ctx *ic, int C, const axis_table *tx, int64_t yi,
                              int up, int32_t *h)
{
    if (C == 1)
        horizontal_c1(ic, tx, yi, up, h);
    else if (C == 3)
        horizontal_c3(ic, tx, yi, up, h);
    else
        horizontal_c4(ic, tx, yi, up, h);
}

FA_INLINE int rows_axis_aligned(const image_ctx *ic, int C, int interp, int64_t y0,
                                int64_t y1)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow, n = ic->block;
    const double *m = ic->m;
    axis_table tx;
    /* i0, i1, w, offset, pairs, window (two a block), block (a byte a pixel), masks
       (32 C bytes a block). */
    char *mem = malloc((size_t)ow * (2 * sizeof(int64_t) + 4 * sizeof(int32_t) + 1 + 4 * 4));
    if (!mem)
        return -1;
    tx.i0 = (int64_t *)mem;
    tx.i1 = tx.i0 + ow;
    tx.w = (int32_t *)(tx.i1 + ow);
    tx.offset = tx.w + ow;
    tx.pairs = tx.offset + ow;
    tx.window = tx.pairs + ow;
    tx.block = tx.masks = NULL;
    /* The general path's expression with the y term (exactly zero) kept. */
    fill_axis(&tx, ow, m[1] * 0.0 + m[2], m[0], ic->xmin, ic->xmax, a->w, interp, a->fill);
    const int direct = !ic->color && a->output == FA_OUT_U8_NHWC && tx.exact;
    if (interp == FA_INTERP_NEAREST && tx.run == 0 && !(direct && tx.shift) &&
        nearest16_applies(ic)) {
        /* Columns that are not a run of whole pixels: the general path's sixteen-pixel
           blocks beat this path's table gathers (1.3-2x measured), same integers.
           Shifts that are copies stay here (copy_rows: fill and one copy a row). */
        free(mem);
        return rows_general(ic, C, interp, y0, y1);
    }
    if (direct) {
        y0 = copy_rows(ic, C, interp, &tx, y0, y1);
        if (y0 == y1) {
            free(mem);
            return 0;
        }
    }
#if FA_AVX2
    if (ic->avx2) {
        tx.block = (uint8_t *)(tx.window + ow);
        tx.masks = tx.block + ow;
        plan_vector_axis(&tx, ow, a->w, C);
    }
#endif
    /* Slot 0 holds source row ya interpolated along x, slot 1 row yb. */
    int32_t *cache[2] = {ic->rows, ic->rows + n};
    int64_t cached[2] = {INT64_MIN, INT64_MIN};
    int32_t *v = ic->rows + 2 * n;
    for (int64_t y = y0; y < y1; ++y) {
        int64_t ya, yb;
        int32_t wy;
        axis_table ty = {&ya, &yb, &wy, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0};
        fill_axis(&ty, 1, m[4] * (double)y + m[5], m[3], ic->ymin, ic->ymax, a->h, interp,
                  a->fill);
        if (ty.exact && direct) {
            copy_row(ic, C, &tx, ya, y);
            continue;
        }
        if (ty.exact && cached[0] != ya && cached[1] != ya) {
#if FA_AVX2
            if (ic->vector && tx.exact && tx.run == 1 && ya >= 0) {
                /* Consecutive whole pixels: finished from the source bytes. */
                const uint8_t *s = ic->src + ya * a->src_row_stride + tx.i0[0] * C;
                const int64_t x0 = finish_pixels_avx2(ic, C, s, (a->w - tx.i0[0]) * C, y);
                for (int c = 0; c < C; ++c)
                    for (int64_t x = x0; x < ow; ++x)
                        v[c * ic->plane + x] = (int32_t)s[x * C + c] << FA_VBITS;
                finish_scalar(ic, C, v, y, x0, ow);
                continue;
            }
#endif
            /* A row used alone: straight into sample units, no cache. */
            horizontal_for(ic, C, &tx, ya, FA_WBITS - FA_VSHIFT, v);
            finish_row(ic, C, v, y);
            continue;
        }
        /* Moving down a row, the old yb is usually the new ya. */
        if (cached[0] != ya && cached[1] == ya) {
            int32_t *tmp = cache[0];
            cache[0] = cache[1];
            cache[1] = tmp;
            cached[1] = cached[0];
            cached[0] = ya;
        }
        if (cached[0] != ya) {
            horizontal_for(ic, C, &tx, ya, 0, cache[0]);
            cached[0] = ya;
        }
        if (!ty.exact && cached[1] != yb) {
            horizontal_for(ic, C, &tx, yb, 0, cache[1]);
            cached[1] = yb;
        }
        /* A row exactly on source row ya blends it with itself, weight 0. */
        blend_finish(ic, C, cache[0], ty.exact ? cache[0] : cache[1], ty.exact ? 0 : wy, v, y);
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
    int64_t ahead; /* tasks are taken in order by this many threads: a thread's next image */
    int stream, avx2, vector, vbmi;
} augment_plan;

/* [I | 0]: finishing without it gives the same values (acc = 0 + 1 v + 0 ... is v
   exactly, already within 0..255), in a cheaper loop. */
static int color_is_identity(const float *m, int64_t C)
{
    for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j <= C; ++j)
            if (m[c * (C + 1) + j] != (c == j ? 1.0f : 0.0f))
                return 0;
    return 1;
}

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
    if (ic.color && color_is_identity(ic.color, a->c))
        ic.color = NULL;
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
    ic.plane = (a->ow + 7) / 8 * 8;
    ic.block = a->c * ic.plane;
    /* Three blocks: two cached source rows and the row (also row_writer's scratch, OW C
       bytes, well within). */
    ic.rows = calloc((size_t)(3 * ic.block), sizeof(int32_t));
    if (!ic.rows)
        return -1;
    ic.avx2 = p->avx2;
    ic.vector = p->vector;
    ic.vbmi = p->vbmi;
    ic.stream = p->stream;
    ic.extent = a->src_row_stride * (a->h - 1) + a->w * a->c;
    ic.next = n + p->ahead < a->n && y0 == 0 && y1 == a->oh
                  ? ic.src + p->ahead * a->src_image_stride : NULL;
    const int rc = p->rows(&ic, y0, y1);
#if FA_SSE2
    if (ic.stream)
        _mm_sfence(); /* order the streamed stores before the task ends */
#endif
    free(ic.rows);
    return rc;
}

int fa_augment(const fa_augment_args *a)
{
    if (a->n == 0 || a->oh == 0 || a->ow == 0)
        return 0;
    /* Beyond a few MiB the output leaves the caches anyway: stream it. */
    const int stream = a->n * a->oh * a->ow * a->c > ((int64_t)8 << 20);
    augment_plan plan = {.a = a, .rows = choose_rows(a->c, a->interp), .per_image = 1,
                         .rows_per_chunk = a->oh, .ahead = 1, .stream = stream};
#if FA_AVX2
    /* Gathers take 32-bit offsets within an image, and read 4 bytes. */
    const int64_t extent = a->src_row_stride * (a->h - 1) + a->w * a->c;
    plan.vector = simd_level > 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    plan.vbmi = plan.vector && simd_level > 1 && __builtin_cpu_supports("avx512vbmi") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    plan.avx2 = plan.vector && extent >= 4 &&
                a->src_row_stride * a->h + a->w * a->c < ((int64_t)1 << 31);
#endif
    fa_split_rows(a->n, a->oh, a->threads, &plan.per_image, &plan.rows_per_chunk);
    plan.ahead = a->threads > 1 && fa_has_openmp() ? a->threads : 1;
    return fa_parallel(a->threads, a->n * plan.per_image, augment_task, &plan);
}
