/*
 * Per-image sequences of steps (fa_sequence, see fastaug.h): each image runs its own
 * steps one after the other while it is in the caches, in two scratch images that take
 * turns as a step's source and destination (one allocation per task of consecutive
 * images); the last step writes the output.
 *
 * A run of consecutive lookup steps (tables, autocontrast, equalize) composes into one
 * table per channel and is one pass; autocontrast and equalize take the histogram of
 * the run's input carried through the tables before them. An augment step is one
 * fa_augment call, two when its colour matrix depends on the mean grey of its warped
 * input. A sharpness step is one pass of its own (sharpen). An image whose first step
 * rotates or shears starts from an in-order copy of its source: the warp's reads along
 * slanted lines miss the hardware prefetchers, the copy's do not (63 -> 21 ms for a
 * batch of 256 rotations at 224x224x3).
 */
#include <stdlib.h>
#include <string.h>

#include "fastaug.h"
#include "filters.h"
#include "parallel.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FA_SEQ_AVX2 1
#include <immintrin.h>
#else
#define FA_SEQ_AVX2 0
#endif

/* torchvision's smoothing kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, rounded: for
   the integer sum S of the 3x3 window with the centre counted 5 times (at most
   13 * 255), round(S / 13) = (S + 6) / 13 (S / 13 is never a half), and that is
   ((S + 6) * 5042) >> 16 for every S + 6 <= 3321. These are the values fa_filter3x3
   rounds to from float32 sums: those lie within 1e-3 of S / 13, and S / 13 lies at
   least 1 / 26 from a rounding boundary. */
#define FA_SMOOTH_MUL 5042

static inline uint8_t blend_round(float w0, float x, float w1, float s, float offset)
{
    /* fa_blend's float32 steps, in its order */
    float v = w0 * x;
    v = v + w1 * s;
    return fa_round_u8(v + offset);
}

/* Values [e0, e1) of interior row y: w0 x + w1 smooth(x) + offset, rounded. */
static void sharpen_span(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, int64_t c,
                         int64_t e0, int64_t e1, float w0, float w1, float offset, uint8_t *d)
{
    for (int64_t e = e0; e < e1; ++e) {
        const int32_t s = r0[e - c] + r0[e] + r0[e + c] + r1[e - c] + 5 * r1[e] + r1[e + c] +
                          r2[e - c] + r2[e] + r2[e + c];
        d[e] = blend_round(w0, (float)r1[e], w1, (float)((s + 6) / 13), offset);
    }
}

#if FA_SEQ_AVX2
#define FA_LOAD16(p) _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p)))

__attribute__((target("avx2"))) static inline __m256i blend8(__m256 w0, __m256 w1, __m256 off,
                                                             __m128i x, __m128i s)
{
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256 v = _mm256_mul_ps(w0, _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(x)));
    v = _mm256_add_ps(v, _mm256_mul_ps(w1, _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(s))));
    v = _mm256_add_ps(v, off);
    v = _mm256_min_ps(_mm256_max_ps(v, zero), top);
    return _mm256_cvttps_epi32(_mm256_add_ps(v, half));
}

/* sharpen_span sixteen values at a time; returns the end of what it did. */
__attribute__((target("avx2"))) static int64_t sharpen_avx2(const uint8_t *r0, const uint8_t *r1,
                                                            const uint8_t *r2, int64_t c,
                                                            int64_t e0, int64_t e1, float w0,
                                                            float w1, float offset, uint8_t *d)
{
    const __m256 vw0 = _mm256_set1_ps(w0), vw1 = _mm256_set1_ps(w1);
    const __m256 off = _mm256_set1_ps(offset);
    const __m256i six = _mm256_set1_epi16(6), mul = _mm256_set1_epi16(FA_SMOOTH_MUL);
    int64_t e = e0;
    for (; e + 16 <= e1; e += 16) {
        const __m256i x = FA_LOAD16(r1 + e);
        __m256i s = _mm256_add_epi16(FA_LOAD16(r0 + e - c), FA_LOAD16(r0 + e));
        s = _mm256_add_epi16(s, FA_LOAD16(r0 + e + c));
        s = _mm256_add_epi16(s, FA_LOAD16(r1 + e - c));
        s = _mm256_add_epi16(s, FA_LOAD16(r1 + e + c));
        s = _mm256_add_epi16(s, FA_LOAD16(r2 + e - c));
        s = _mm256_add_epi16(s, FA_LOAD16(r2 + e));
        s = _mm256_add_epi16(s, FA_LOAD16(r2 + e + c));
        s = _mm256_add_epi16(s, _mm256_mullo_epi16(x, _mm256_set1_epi16(5)));
        s = _mm256_mulhi_epu16(_mm256_add_epi16(s, six), mul);
        const __m256i lo = blend8(vw0, vw1, off, _mm256_castsi256_si128(x),
                                  _mm256_castsi256_si128(s));
        const __m256i hi = blend8(vw0, vw1, off, _mm256_extracti128_si256(x, 1),
                                  _mm256_extracti128_si256(s, 1));
        /* packs work per 128-bit lane: put the sixteen words back in order first */
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
        const __m256i b = _mm256_packus_epi16(w, w);
        _mm_storeu_si128((__m128i *)(d + e),
                         _mm256_castsi256_si128(_mm256_permute4x64_epi64(b, 0x08)));
    }
    return e;
}
#endif

/* torchvision's adjust_sharpness as fa_filter3x3 + fa_blend compute it: inside the
   one-pixel frame, w0 x + w1 round(smooth(x)) + offset, rounded and saturated; the frame
   keeps its values. */
static void sharpen(const uint8_t *s, int64_t ss, uint8_t *d, int64_t h, int64_t w, int64_t c,
                    float w0, float w1, float offset, int vector)
{
    const int64_t row = w * c;
    for (int64_t y = 0; y < h; ++y) {
        const uint8_t *r1 = s + y * ss;
        uint8_t *dy = d + y * row;
        if (y == 0 || y == h - 1 || w < 3) {
            memcpy(dy, r1, (size_t)row);
            continue;
        }
        memcpy(dy, r1, (size_t)c);
        memcpy(dy + row - c, r1 + row - c, (size_t)c);
        int64_t e = c;
#if FA_SEQ_AVX2
        if (vector)
            e = sharpen_avx2(r1 - ss, r1, r1 + ss, c, c, row - c, w0, w1, offset, dy);
#else
        (void)vector;
#endif
        sharpen_span(r1 - ss, r1, r1 + ss, c, e, row - c, w0, w1, offset, dy);
    }
}

/* ---- lookup tables ------------------------------------------------------------------ */

static void autocontrast_table(const int64_t *hist, uint8_t *t)
{
    /* torchvision's autocontrast in float32, as fastaug.transforms.policies */
    int64_t lo = 0, hi = 255;
    while (lo < 256 && hist[lo] == 0)
        ++lo;
    if (lo == 256)
        lo = 0; /* no pixel: argmax of nothing present is 0, so lo = 0, hi = 255 */
    else
        while (hist[hi] == 0)
            --hi;
    float flo = (float)lo, scale = (float)(hi - lo) * (float)(1.0 / 255.0);
    if (hi == lo) {
        flo = 0.0f;
        scale = 1.0f;
    }
    for (int v = 0; v < 256; ++v) {
        float q = ((float)v - flo) / scale;
        q = q > 0.0f ? q : 0.0f;
        q = q < 255.0f ? q : 255.0f;
        t[v] = (uint8_t)q; /* truncation, like .to(uint8) */
    }
}

static void equalize_table(const int64_t *hist, uint8_t *t)
{
    /* PIL's equalize: steps of (pixels - count of the largest value) / 255 */
    int64_t total = 0, top = 255;
    for (int v = 0; v < 256; ++v)
        total += hist[v];
    while (top > 0 && hist[top] == 0)
        --top;
    const int64_t step = (total - hist[top]) / 255;
    int64_t cum = 0;
    t[0] = 0;
    for (int v = 1; v < 256; ++v) {
        cum += hist[v - 1];
        const int64_t q = step > 0 ? (cum + step / 2) / step : v;
        t[v] = (uint8_t)(q < 255 ? q : 255);
    }
}

/* t = next after t, per channel. */
static void compose(uint8_t *t, const uint8_t *next, int64_t c)
{
    for (int64_t ch = 0; ch < c; ++ch)
        for (int v = 0; v < 256; ++v)
            t[ch * 256 + v] = next[ch * 256 + t[ch * 256 + v]];
}

static int is_lookup(int kind)
{
    return kind == FA_STEP_LUT || kind == FA_STEP_AUTOCONTRAST || kind == FA_STEP_EQUALIZE;
}

/* ---- the sequence of one image -------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    int64_t stride;
} image_view;

static void set_io(fa_u8_io *io, const fa_sequence_args *a, image_view v)
{
    io->src = v.p;
    io->n = 1;
    io->h = a->h;
    io->w = a->w;
    io->c = a->c;
    io->src_image_stride = a->h * v.stride;
    io->src_row_stride = v.stride;
    io->dst = NULL;
    io->threads = 1;
}

static double mean_gray(const fa_sequence_args *a, image_view v)
{
    fa_gray_sums_args g;
    int64_t sum = 0;
    set_io(&g.io, a, v);
    g.weights[0] = a->gray_weights[0];
    g.weights[1] = a->gray_weights[1];
    g.weights[2] = a->gray_weights[2];
    g.sums = &sum;
    fa_gray_sums(&g);
    return (double)sum / (double)(a->h * a->w);
}

static int run_augment(const fa_sequence_args *a, int64_t at, image_view src, uint8_t *dst)
{
    const int64_t c = a->c, stride = c * (c + 1);
    const double *m = a->inverse + at * 6, *col = a->color + at * stride;
    const double *gray = a->gray + at * c;
    float color[20];
    fa_augment_args g;
    memset(&g, 0, sizeof(g));
    g.src = src.p;
    g.n = 1;
    g.h = g.oh = a->h;
    g.w = g.ow = a->w;
    g.c = c;
    g.src_image_stride = a->h * src.stride;
    g.src_row_stride = src.stride;
    g.dst = dst;
    g.output = FA_OUT_U8_NHWC;
    g.inverse = m;
    g.interp = a->interp;
    g.fill = FA_FILL_CONSTANT;
    memcpy(g.cval, a->cval, 4);
    g.threads = 1;
    int grey = 0;
    for (int64_t ch = 0; ch < c; ++ch)
        grey |= gray[ch] != 0.0;
    double mean = 0.0;
    if (grey) {
        const int moved = !(m[0] == 1.0 && m[1] == 0.0 && m[2] == 0.0 && m[3] == 0.0 &&
                            m[4] == 1.0 && m[5] == 0.0);
        if (moved) { /* the mean of the warped input, here in dst for now */
            if (fa_augment(&g) != 0)
                return -1;
            mean = mean_gray(a, (image_view){dst, a->w * c});
        } else {
            mean = mean_gray(a, src);
        }
    }
    for (int64_t ch = 0; ch < c; ++ch) {
        for (int64_t j = 0; j < c; ++j)
            color[ch * (c + 1) + j] = (float)col[ch * (c + 1) + j];
        color[ch * (c + 1) + c] = (float)(col[ch * (c + 1) + c] + gray[ch] * mean);
    }
    g.color = color;
    return fa_augment(&g);
}

static void apply_tables(const fa_sequence_args *a, image_view src, uint8_t *dst,
                         const uint8_t *tables)
{
    fa_lut_args l;
    l.src = src.p;
    l.n = 1;
    l.h = a->h;
    l.w = a->w;
    l.c = a->c;
    l.src_image_stride = a->h * src.stride;
    l.src_row_stride = src.stride;
    l.dst = dst;
    l.tables = tables;
    l.table_stride = 0;
    l.threads = 1;
    fa_lut(&l);
}

/* The lookup steps [s, end) of image i (end: the first step after them that is not a
   lookup or none) as one table per channel, from src's histogram where needed. */
static void lookup_run(const fa_sequence_args *a, int64_t i, int64_t s, int64_t end,
                       image_view src, uint8_t *t)
{
    const int64_t c = a->c, S = a->steps;
    const int64_t colour = c == 1 ? 1 : 3; /* alpha keeps its values */
    int64_t hist[4 * 256], seen[256];
    uint8_t next[4 * 256];
    int have_hist = 0;
    for (int64_t ch = 0; ch < c; ++ch)
        for (int v = 0; v < 256; ++v)
            t[ch * 256 + v] = (uint8_t)v;
    for (; s < end; ++s) {
        const int kind = a->kind[i * S + s];
        if (kind == FA_STEP_LUT) {
            compose(t, a->tables + (i * S + s) * c * 256, c);
            continue;
        }
        if (kind == FA_STEP_NONE)
            continue;
        if (!have_hist) {
            fa_histogram_args hg;
            set_io(&hg.io, a, src);
            hg.hist = hist;
            fa_histogram(&hg);
            have_hist = 1;
        }
        for (int64_t ch = 0; ch < c; ++ch) {
            uint8_t *n = next + ch * 256;
            if (ch >= colour) {
                for (int v = 0; v < 256; ++v)
                    n[v] = (uint8_t)v;
                continue;
            }
            /* the histogram of the image as this step sees it */
            memset(seen, 0, sizeof(seen));
            for (int v = 0; v < 256; ++v)
                seen[t[ch * 256 + v]] += hist[ch * 256 + v];
            if (kind == FA_STEP_AUTOCONTRAST)
                autocontrast_table(seen, n);
            else
                equalize_table(seen, n);
        }
        compose(t, next, c);
    }
}

typedef struct {
    const fa_sequence_args *a;
    int vector;         /* AVX2 sharpening */
    int64_t per_task;   /* consecutive images a task runs */
} sequence_plan;

/* Image i's steps; *scratch (two images, allocated on first need and kept for the
   task's next images) holds the intermediate results. */
static int run_image(const sequence_plan *p, int64_t i, uint8_t **scratch_p)
{
    const fa_sequence_args *a = p->a;
    const int64_t c = a->c, row = a->w * c, size = a->h * row, S = a->steps;
    const int32_t *kind = a->kind + i * S;
    image_view cur = {a->src + i * a->src_image_stride, a->src_row_stride};
    uint8_t *out = a->dst + i * size;
    int64_t last = -1;
    for (int64_t s = 0; s < S; ++s)
        if (kind[s] != FA_STEP_NONE)
            last = s;
    if (last < 0) {
        for (int64_t y = 0; y < a->h; ++y)
            memcpy(out + y * row, cur.p + y * cur.stride, (size_t)row);
        return 0;
    }
    /* A warp reads its source along rotated or sheared lines, which the hardware
       prefetchers miss: a first warp reads a copy of the source made in order. */
    int64_t first = 0;
    while (kind[first] == FA_STEP_NONE)
        ++first;
    int stage = 0;
    if (kind[first] == FA_STEP_AUGMENT) {
        const double *m = a->inverse + (i * S + first) * 6;
        stage = m[1] != 0.0 || m[3] != 0.0;
    }
    if ((last > first || stage) && !*scratch_p) {
        *scratch_p = malloc((size_t)(2 * size));
        if (!*scratch_p)
            return -1;
    }
    uint8_t *scratch = *scratch_p;
    if (stage) {
        for (int64_t y = 0; y < a->h; ++y)
            memcpy(scratch + y * row, cur.p + y * cur.stride, (size_t)row);
        cur = (image_view){scratch, row};
    }
    uint8_t tables[4 * 256];
    int rc = 0;
    for (int64_t s = 0; s <= last && rc == 0;) {
        if (kind[s] == FA_STEP_NONE) {
            ++s;
            continue;
        }
        int64_t end = s + 1;
        if (is_lookup(kind[s]))
            while (end < S && (kind[end] == FA_STEP_NONE || is_lookup(kind[end])))
                ++end;
        /* the last pass writes the output; the others the scratch image not read */
        uint8_t *dst = end > last ? out : scratch == cur.p ? scratch + size : scratch;
        const int64_t at = i * S + s;
        switch (kind[s]) {
        case FA_STEP_AUGMENT:
            rc = run_augment(a, at, cur, dst);
            break;
        case FA_STEP_SHARPNESS:
            sharpen(cur.p, cur.stride, dst, a->h, a->w, c, a->weights[2 * at],
                    a->weights[2 * at + 1], a->offset, p->vector);
            break;
        default:
            lookup_run(a, i, s, end, cur, tables);
            apply_tables(a, cur, dst, tables);
            break;
        }
        cur = (image_view){dst, row};
        s = end;
    }
    return rc;
}

static int sequence_task(void *ctx, int64_t k)
{
    const sequence_plan *p = ctx;
    const int64_t end = (k + 1) * p->per_task < p->a->n ? (k + 1) * p->per_task : p->a->n;
    uint8_t *scratch = NULL;
    int rc = 0;
    for (int64_t i = k * p->per_task; i < end && rc == 0; ++i)
        rc = run_image(p, i, &scratch);
    free(scratch);
    return rc;
}

int fa_sequence(const fa_sequence_args *a)
{
    if (a->n == 0)
        return 0;
    /* One task on one thread (one scratch allocation), else eight a thread: dynamic
       scheduling balances images that drew more work. */
    int64_t tasks = 1;
    if (a->threads > 1)
        tasks = a->n < 8 * (int64_t)a->threads ? a->n : 8 * (int64_t)a->threads;
    sequence_plan p = {.a = a, .vector = 0, .per_task = (a->n + tasks - 1) / tasks};
#if FA_SEQ_AVX2
    p.vector = fa_get_simd() > 0 && __builtin_cpu_supports("avx2");
#endif
    return fa_parallel(a->threads, (a->n + p.per_task - 1) / p.per_task, sequence_task, &p);
}
