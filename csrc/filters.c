/*
 * Pixel filters and batch mixing (see filters.h). One task per image; every value is
 * computed by the same code whichever thread runs it, so results do not depend on the
 * thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "border.h"
#include "filters.h"
#include "parallel.h"

#define FA_INLINE static inline __attribute__((always_inline))

/* Loops that gain from wider vectors get an AVX2 clone chosen at load time (the grey
   sums), and the blend an AVX2 kernel, where the compiler makes them (GCC on x86-64). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FA_CLONES __attribute__((target_clones("avx2", "default")))
#define FA_AVX2 1
#include <immintrin.h>
#else
#define FA_CLONES
#define FA_AVX2 0
#endif

/* ---- counter-based random values ------------------------------------------------- */

#define FA_GOLDEN 0x9E3779B97F4A7C15ULL

/* SplitMix64's output of draw `counter` (0-based) of the stream keyed by `key`: the same
   numbers as fastaug.transforms.base.Random. */
FA_INLINE uint64_t fa_draw(uint64_t key, uint64_t counter)
{
    uint64_t z = key + (counter + 1) * FA_GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Approximately standard normal: the sum of four uniform 16-bit values, centred and
   scaled to unit variance (Irwin-Hall, n = 4). */
FA_INLINE float fa_normal(uint64_t bits)
{
    float s = (float)(bits & 0xFFFF) + (float)((bits >> 16) & 0xFFFF) +
              (float)((bits >> 32) & 0xFFFF) + (float)(bits >> 48);
    /* Each term is uniform on {0..65535}: mean 32767.5, variance (65536^2 - 1) / 12. */
    return (s - 4.0f * 32767.5f) * (1.7320508f / 65536.0f);
}

/* ---- noise ----------------------------------------------------------------------- */

static int noise_task(void *ctx, int64_t i)
{
    const fa_noise_args *a = ctx;
    const fa_u8_io *io = &a->io;
    const int64_t w = io->w, c = io->c;
    const float std = (float)a->std[i];
    const uint64_t key = a->keys[i];
    for (int64_t y = 0; y < io->h; ++y) {
        const uint8_t *s = io->src + i * io->src_image_stride + y * io->src_row_stride;
        uint8_t *d = io->dst + (i * io->h + y) * w * c;
        if (a->per_channel) {
            const uint64_t base = (uint64_t)(y * w * c);
            for (int64_t e = 0; e < w * c; ++e)
                d[e] = fa_round_u8((float)s[e] + std * fa_normal(fa_draw(key, base + e)));
        } else {
            const uint64_t base = (uint64_t)(y * w);
            for (int64_t x = 0; x < w; ++x) {
                const float z = std * fa_normal(fa_draw(key, base + x));
                for (int64_t ch = 0; ch < c; ++ch)
                    d[x * c + ch] = fa_round_u8((float)s[x * c + ch] + z);
            }
        }
    }
    return 0;
}

void fa_noise(const fa_noise_args *args)
{
    fa_parallel(args->io.threads, args->io.n, noise_task, (void *)args);
}

/* ---- separable filter ------------------------------------------------------------ */

static int separable_task(void *ctx, int64_t i)
{
    const fa_separable_args *a = ctx;
    const fa_u8_io *io = &a->io;
    const int64_t h = io->h, w = io->w, c = io->c, row = w * c;
    const int64_t r = a->radius[i], taps = 2 * r + 1;
    const float *k = a->kernels + i * a->kernel_stride;
    float *tmp = malloc((size_t)(h * row) * sizeof(float));
    float *padded = malloc((size_t)((w + 2 * r) * c) * sizeof(float));
    float *acc = malloc((size_t)row * sizeof(float));
    int64_t *idx = malloc((size_t)(w + 2 * r > h + 2 * r ? w + 2 * r : h + 2 * r) *
                          sizeof(int64_t));
    if (!tmp || !padded || !acc || !idx) {
        free(tmp);
        free(padded);
        free(acc);
        free(idx);
        return -1;
    }
    /* Rows: pad each source row through the border map, then convolve along x. */
    for (int64_t j = 0; j < w + 2 * r; ++j)
        idx[j] = fa_border_index(j - r, w, a->fill);
    for (int64_t y = 0; y < h; ++y) {
        const uint8_t *s = io->src + i * io->src_image_stride + y * io->src_row_stride;
        for (int64_t j = 0; j < w + 2 * r; ++j)
            for (int64_t ch = 0; ch < c; ++ch)
                padded[j * c + ch] = (float)s[idx[j] * c + ch];
        float *t = tmp + y * row;
        for (int64_t e = 0; e < row; ++e)
            t[e] = 0.0f;
        for (int64_t q = 0; q < taps; ++q) {
            const float kq = k[q];
            const float *p = padded + q * c;
            for (int64_t e = 0; e < row; ++e)
                t[e] += kq * p[e];
        }
    }
    /* Columns: accumulate whole rows of the intermediate. */
    for (int64_t j = 0; j < h + 2 * r; ++j)
        idx[j] = fa_border_index(j - r, h, a->fill);
    for (int64_t y = 0; y < h; ++y) {
        for (int64_t e = 0; e < row; ++e)
            acc[e] = 0.0f;
        for (int64_t q = 0; q < taps; ++q) {
            const float kq = k[q];
            const float *t = tmp + idx[y + q] * row;
            for (int64_t e = 0; e < row; ++e)
                acc[e] += kq * t[e];
        }
        uint8_t *d = io->dst + (i * h + y) * row;
        for (int64_t e = 0; e < row; ++e)
            d[e] = fa_round_u8(acc[e]);
    }
    free(tmp);
    free(padded);
    free(acc);
    free(idx);
    return 0;
}

int fa_separable(const fa_separable_args *args)
{
    return fa_parallel(args->io.threads, args->io.n, separable_task, (void *)args);
}

/* ---- 3x3 filter ------------------------------------------------------------------ */

/* Source row sy of image i, padded through the column border map, as floats. */
static void convert_row(const fa_u8_io *io, int64_t i, int64_t sy, const int64_t *xidx,
                        float *p)
{
    const int64_t w = io->w, c = io->c;
    const uint8_t *s = io->src + i * io->src_image_stride + sy * io->src_row_stride;
    for (int64_t ch = 0; ch < c; ++ch)
        p[ch] = (float)s[xidx[0] * c + ch];
    for (int64_t e = 0; e < w * c; ++e)
        p[c + e] = (float)s[e];
    for (int64_t ch = 0; ch < c; ++ch)
        p[(w + 1) * c + ch] = (float)s[xidx[w + 1] * c + ch];
}

static int filter3x3_task(void *ctx, int64_t i)
{
    const fa_filter3x3_args *a = ctx;
    const fa_u8_io *io = &a->io;
    const int64_t h = io->h, w = io->w, c = io->c, row = w * c, padded = (w + 2) * c;
    const float *k = a->kernels + i * 9;
    /* Three converted source rows, each tagged with its row index: every source row
       is converted once per image, not three times. */
    float *rows = malloc((size_t)(3 * padded) * sizeof(float));
    int64_t *xidx = malloc((size_t)(w + 2) * sizeof(int64_t));
    if (!rows || !xidx) {
        free(rows);
        free(xidx);
        return -1;
    }
    for (int64_t j = 0; j < w + 2; ++j)
        xidx[j] = fa_border_index(j - 1, w, a->fill);
    int64_t tag[3] = {-1, -1, -1};
    for (int64_t y = 0; y < h; ++y) {
        int64_t need[3];
        const float *p[3];
        for (int dy = 0; dy < 3; ++dy)
            need[dy] = fa_border_index(y + dy - 1, h, a->fill);
        for (int dy = 0; dy < 3; ++dy) {
            int slot = -1;
            for (int q = 0; q < 3 && slot < 0; ++q)
                if (tag[q] == need[dy])
                    slot = q;
            /* else a slot this output row does not need */
            for (int q = 0; q < 3 && slot < 0; ++q)
                if (tag[q] != need[0] && tag[q] != need[1] && tag[q] != need[2]) {
                    slot = q;
                    convert_row(io, i, need[dy], xidx, rows + q * padded);
                    tag[q] = need[dy];
                }
            p[dy] = rows + slot * padded;
        }
        uint8_t *restrict d = io->dst + (i * h + y) * row;
        const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5];
        const float k6 = k[6], k7 = k[7], k8 = k[8];
        const float *restrict r0 = p[0], *restrict r1 = p[1], *restrict r2 = p[2];
        /* Summed in the order dy, dx (row-major), starting from 0: the same float32
           values as accumulating the nine shifted rows one by one, four lanes at a
           time where SSE2 is there (the compiler does not vectorise fminf/fmaxf), then
           rounded exactly like fa_round_u8. */
        int64_t e = 0;
#if defined(__SSE2__)
        {
            const __m128 zero = _mm_setzero_ps(), top = _mm_set1_ps(255.0f);
            const __m128 half = _mm_set1_ps(0.5f);
            const __m128 v0 = _mm_set1_ps(k0), v1 = _mm_set1_ps(k1), v2 = _mm_set1_ps(k2);
            const __m128 v3 = _mm_set1_ps(k3), v4 = _mm_set1_ps(k4), v5 = _mm_set1_ps(k5);
            const __m128 v6 = _mm_set1_ps(k6), v7 = _mm_set1_ps(k7), v8 = _mm_set1_ps(k8);
            for (; e + 4 <= row; e += 4) {
                __m128 acc = zero;
                acc = _mm_add_ps(acc, _mm_mul_ps(v0, _mm_loadu_ps(r0 + e)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v1, _mm_loadu_ps(r0 + e + c)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v2, _mm_loadu_ps(r0 + e + 2 * c)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v3, _mm_loadu_ps(r1 + e)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v4, _mm_loadu_ps(r1 + e + c)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v5, _mm_loadu_ps(r1 + e + 2 * c)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v6, _mm_loadu_ps(r2 + e)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v7, _mm_loadu_ps(r2 + e + c)));
                acc = _mm_add_ps(acc, _mm_mul_ps(v8, _mm_loadu_ps(r2 + e + 2 * c)));
                acc = _mm_min_ps(_mm_max_ps(acc, zero), top);
                __m128i q = _mm_cvttps_epi32(_mm_add_ps(acc, half));
                q = _mm_packs_epi32(q, q);
                const uint32_t u = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(q, q));
                memcpy(d + e, &u, 4);
            }
        }
#endif
        for (; e < row; ++e) {
            float acc = 0.0f;
            acc += k0 * r0[e];
            acc += k1 * r0[e + c];
            acc += k2 * r0[e + 2 * c];
            acc += k3 * r1[e];
            acc += k4 * r1[e + c];
            acc += k5 * r1[e + 2 * c];
            acc += k6 * r2[e];
            acc += k7 * r2[e + c];
            acc += k8 * r2[e + 2 * c];
            d[e] = fa_round_u8(acc);
        }
    }
    free(rows);
    free(xidx);
    return 0;
}

int fa_filter3x3(const fa_filter3x3_args *args)
{
    return fa_parallel(args->io.threads, args->io.n, filter3x3_task, (void *)args);
}

/* ---- erasing --------------------------------------------------------------------- */

static int erase_task(void *ctx, int64_t i)
{
    const fa_erase_args *a = ctx;
    const int64_t h = a->h, w = a->w, c = a->c;
    const uint64_t key = a->random ? a->keys[i] : 0;
    for (int64_t b = 0; b < a->k; ++b) {
        const int64_t *box = a->boxes + (i * a->k + b) * 4;
        const int64_t top = box[0], left = box[1], bh = box[2], bw = box[3];
        for (int64_t y = top; y < top + bh; ++y)
            for (int64_t x = left; x < left + bw; ++x)
                for (int64_t ch = 0; ch < c; ++ch) {
                    /* Random values are indexed by the NHWC position: same for any layout. */
                    const uint64_t counter = (uint64_t)((y * w + x) * c + ch);
                    if (!a->is_float) {
                        uint8_t *d = (uint8_t *)a->data + ((i * h + y) * w + x) * c + ch;
                        *d = a->random ? (uint8_t)(fa_draw(key, counter) >> 56)
                                       : (uint8_t)a->value[ch];
                    } else {
                        const int64_t off = a->nchw ? ((i * c + ch) * h + y) * w + x
                                                    : ((i * h + y) * w + x) * c + ch;
                        float *d = (float *)a->data + off;
                        *d = a->random ? fa_normal(fa_draw(key, counter)) : a->value[ch];
                    }
                }
    }
    return 0;
}

void fa_erase(const fa_erase_args *args)
{
    fa_parallel(args->threads, args->n, erase_task, (void *)args);
}

/* ---- mixing ---------------------------------------------------------------------- */

static int mix_task(void *ctx, int64_t i)
{
    const fa_mix_args *a = ctx;
    const int64_t h = a->h, w = a->w, c = a->c, size = h * w * c;
    const int64_t esize = a->is_float ? 4 : 1;
    const int64_t j = a->partner[i];
    const char *si = (const char *)a->src + i * size * esize;
    const char *sj = (const char *)a->src + j * size * esize;
    char *d = (char *)a->dst + i * size * esize;
    if (a->boxes == NULL) {
        const float lam = a->lam[i], rest = 1.0f - lam;
        if (a->is_float) {
            const float *x = (const float *)si, *y = (const float *)sj;
            float *o = (float *)d;
            for (int64_t e = 0; e < size; ++e)
                o[e] = lam * x[e] + rest * y[e];
        } else {
            const uint8_t *x = (const uint8_t *)si, *y = (const uint8_t *)sj;
            uint8_t *o = (uint8_t *)d;
            for (int64_t e = 0; e < size; ++e)
                o[e] = fa_round_u8(lam * (float)x[e] + rest * (float)y[e]);
        }
        return 0;
    }
    memcpy(d, si, (size_t)(size * esize));
    const int64_t *box = a->boxes + i * 4;
    const int64_t top = box[0], left = box[1], bh = box[2], bw = box[3];
    if (bh <= 0 || bw <= 0)
        return 0;
    if (a->nchw) {
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t y = top; y < top + bh; ++y) {
                const int64_t off = ((ch * h + y) * w + left) * esize;
                memcpy(d + off, sj + off, (size_t)(bw * esize));
            }
    } else {
        for (int64_t y = top; y < top + bh; ++y) {
            const int64_t off = ((y * w + left) * c) * esize;
            memcpy(d + off, sj + off, (size_t)(bw * c * esize));
        }
    }
    return 0;
}

void fa_mix(const fa_mix_args *args)
{
    fa_parallel(args->threads, args->n, mix_task, (void *)args);
}

/* ---- weighted sums --------------------------------------------------------------- */

/* Values summed per block: the float accumulator stays in L1 while every source
   streams through it once. */
#define FA_BLEND_BLOCK 2048

/* d[e] = fa_round_u8(acc[e] + offset), sixteen at a time where SSE2 is there (the
   compiler leaves this loop scalar): the same operations, so the same bytes. */
FA_INLINE void round_store(const float *acc, float offset, uint8_t *d, int64_t len)
{
    int64_t e = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps(), top = _mm_set1_ps(255.0f), half = _mm_set1_ps(0.5f);
    const __m128 off = _mm_set1_ps(offset);
    for (; e + 16 <= len; e += 16) {
        __m128i q[4];
        for (int j = 0; j < 4; ++j) {
            const __m128 v = _mm_add_ps(_mm_loadu_ps(acc + e + 4 * j), off);
            q[j] = _mm_cvttps_epi32(_mm_add_ps(_mm_min_ps(_mm_max_ps(v, zero), top), half));
        }
        const __m128i lo = _mm_packs_epi32(q[0], q[1]), hi = _mm_packs_epi32(q[2], q[3]);
        _mm_storeu_si128((__m128i *)(d + e), _mm_packus_epi16(lo, hi));
    }
#endif
    for (; e < len; ++e)
        d[e] = fa_round_u8(acc[e] + offset);
}

#if FA_AVX2
/* blend_task's sums for the elements [0, n / 32 * 32) of image i, 32 at a time in
   registers (the same operations in the same order); returns the elements done. */
__attribute__((target("avx2"))) static int64_t blend_avx2(const fa_blend_args *a, int64_t i,
                                                          const float *w, uint8_t *d)
{
    const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f);
    const __m256 half = _mm256_set1_ps(0.5f), off = _mm256_set1_ps(a->offset);
    int64_t e = 0;
    for (; e + 32 <= a->size; e += 32) {
        __m256 acc[4];
        for (int64_t k = 0; k < a->k_count; ++k) {
            const __m256 wk = _mm256_set1_ps(w[k]);
            const __m256i px = _mm256_loadu_si256((const __m256i *)(a->srcs[k] + i * a->size + e));
            for (int j = 0; j < 4; ++j) {
                const __m128i h = j < 2 ? _mm256_castsi256_si128(px) : _mm256_extracti128_si256(px, 1);
                const __m128i q = j & 1 ? _mm_srli_si128(h, 8) : h;
                const __m256 v = _mm256_mul_ps(wk, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)));
                acc[j] = k == 0 ? v : _mm256_add_ps(acc[j], v);
            }
        }
        __m256i q[4];
        for (int j = 0; j < 4; ++j)
            q[j] = _mm256_cvttps_epi32(_mm256_add_ps(
                _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(acc[j], off), zero), top), half));
        /* packs work per 128-bit lane: the permute puts the 32 bytes back in order */
        const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]),
                                              _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)(d + e),
                            _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
    return e;
}
#endif

static int blend_task(void *ctx, int64_t i)
{
    const fa_blend_args *a = ctx;
    const float *w = a->weights + i * a->k_count;
    float acc[FA_BLEND_BLOCK];
    uint8_t *d = a->dst + i * a->size;
    int64_t done = 0;
#if FA_AVX2
    if (__builtin_cpu_supports("avx2"))
        done = blend_avx2(a, i, w, d);
#endif
    for (int64_t start = done; start < a->size; start += FA_BLEND_BLOCK) {
        const int64_t len = a->size - start < FA_BLEND_BLOCK ? a->size - start : FA_BLEND_BLOCK;
        const uint8_t *s = a->srcs[0] + i * a->size + start;
        const float w0 = w[0];
        for (int64_t e = 0; e < len; ++e)
            acc[e] = w0 * (float)s[e];
        for (int64_t k = 1; k < a->k_count; ++k) {
            const float wk = w[k];
            s = a->srcs[k] + i * a->size + start;
            for (int64_t e = 0; e < len; ++e)
                acc[e] += wk * (float)s[e];
        }
        round_store(acc, a->offset, d + start, len);
    }
    return 0;
}

void fa_blend(const fa_blend_args *args)
{
    fa_parallel(args->threads, args->n, blend_task, (void *)args);
}

/* ---- histograms ------------------------------------------------------------------ */

/* Two interleaved uint32 tables per channel (even and odd pixels) halve the chains of
   dependent increments when neighbours share a value; they are added into the int64
   output before any bin could reach 2**32. */
#define FA_HIST_FLUSH ((int64_t)1 << 30)

static void hist_flush(uint32_t *tab, int64_t *out, int64_t c)
{
    for (int64_t e = 0; e < c * 256; ++e) {
        out[e] += (int64_t)tab[e] + (int64_t)tab[4 * 256 + e];
        tab[e] = 0;
        tab[4 * 256 + e] = 0;
    }
}

static int histogram_task(void *ctx, int64_t i)
{
    const fa_histogram_args *a = ctx;
    const fa_u8_io *io = &a->io;
    const int64_t w = io->w, c = io->c;
    uint32_t tab[2 * 4 * 256]; /* [copy][channel][value], C <= 4 */
    int64_t *out = a->hist + i * c * 256;
    int64_t pending = 0;
    memset(tab, 0, sizeof(tab));
    memset(out, 0, (size_t)(c * 256) * sizeof(int64_t));
    uint32_t *even = tab, *odd = tab + 4 * 256;
    for (int64_t y = 0; y < io->h; ++y) {
        if (pending + w > FA_HIST_FLUSH) {
            hist_flush(tab, out, c);
            pending = 0;
        }
        const uint8_t *s = io->src + i * io->src_image_stride + y * io->src_row_stride;
        int64_t x = 0;
        if (c == 3) {
            for (; x + 1 < w; x += 2, s += 6) {
                even[s[0]]++;
                even[256 + s[1]]++;
                even[512 + s[2]]++;
                odd[s[3]]++;
                odd[256 + s[4]]++;
                odd[512 + s[5]]++;
            }
        } else if (c == 1) {
            for (; x + 1 < w; x += 2, s += 2) {
                even[s[0]]++;
                odd[s[1]]++;
            }
        }
        for (; x < w; ++x, s += c)
            for (int64_t ch = 0; ch < c; ++ch)
                even[ch * 256 + s[ch]]++;
        pending += w;
    }
    hist_flush(tab, out, c);
    return 0;
}

void fa_histogram(const fa_histogram_args *args)
{
    fa_parallel(args->io.threads, args->io.n, histogram_task, (void *)args);
}

/* ---- grey sums ------------------------------------------------------------------- */

/* One row's grey levels summed (each fits int32: weights <= 1e6). */
FA_CLONES static int64_t gray_row(const uint8_t *restrict s, int64_t w, int64_t c, float w0,
                                  float w1, float w2)
{
    int64_t sum = 0;
    if (c == 1) {
        for (int64_t x = 0; x < w; ++x)
            sum += s[x];
    } else if (c == 3) {
        for (int64_t x = 0; x < w; ++x)
            sum += (int32_t)((float)s[3 * x] * w0 + (float)s[3 * x + 1] * w1 +
                             (float)s[3 * x + 2] * w2);
    } else {
        for (int64_t x = 0; x < w; ++x)
            sum += (int32_t)((float)s[4 * x] * w0 + (float)s[4 * x + 1] * w1 +
                             (float)s[4 * x + 2] * w2);
    }
    return sum;
}

static int gray_sums_task(void *ctx, int64_t i)
{
    const fa_gray_sums_args *a = ctx;
    const fa_u8_io *io = &a->io;
    int64_t total = 0;
    for (int64_t y = 0; y < io->h; ++y)
        total += gray_row(io->src + i * io->src_image_stride + y * io->src_row_stride, io->w,
                          io->c, a->weights[0], a->weights[1], a->weights[2]);
    a->sums[i] = total;
    return 0;
}

void fa_gray_sums(const fa_gray_sums_args *args)
{
    fa_parallel(args->io.threads, args->io.n, gray_sums_task, (void *)args);
}
