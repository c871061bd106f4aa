/* Per-channel 256-entry lookup tables, one set per image or one for the batch.
 *
 * Work is cut into runs: byte spans of the output that start on a pixel (channel 0)
 * and hold whole pixels. A run is a row, or a whole row chunk when the source rows are
 * contiguous. An image whose channels share one table is mapped as if it had one
 * channel. Two implementations map a run, with identical results:
 *   - portable C: one table load per byte;
 *   - AVX-512 VBMI (chosen at run time where the CPU has it): each channel's table
 *     lives in four zmm registers; 64 bytes take two vpermi2b per channel (one per
 *     128-entry half), write-masked by the index's top bit and the byte's channel.
 *     Large outputs are written with non-temporal stores.
 */
#include <string.h>

#include "fastaug.h"
#include "parallel.h"

/* GCC 8 and clang 8 have every AVX-512 mask intrinsic used here. */
#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) \
                            || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#include <immintrin.h>
#define FA_LUT_VBMI 1
#define FA_VBMI_FN __attribute__((target("avx512f,avx512bw,avx512vbmi")))
#else
#define FA_LUT_VBMI 0
#endif

#define FA_LUT_INLINE static inline __attribute__((always_inline))

/* Which implementation fa_lut runs: 1 = the fastest this CPU has, 0 = portable C. */
static int lut_allow_simd = 1;

/* Beyond a few MiB the output leaves the caches anyway: stream it past them. */
#define LUT_STREAM_BYTES ((int64_t)8 << 20)

typedef void (*run_fn)(const uint8_t *s, uint8_t *d, int64_t len, const uint8_t *t, int c,
                       int stream);

typedef struct {
    const fa_lut_args *a;
    int64_t per_image, rows_per_chunk;
    run_fn run;
    int stream;
} lut_plan;

/* ---- portable C ----------------------------------------------------------------- */

/* Byte loads and stores: measured faster than 64-bit loads with byte extraction and
   64-bit stores (the shifts and ors cost more than the loads and stores they save). */
static void run_portable(const uint8_t *s, uint8_t *d, int64_t len, const uint8_t *t, int c,
                         int stream)
{
    (void)stream;
    if (c == 1) {
        int64_t x = 0;
        for (; x + 4 <= len; x += 4) {
            d[x] = t[s[x]];
            d[x + 1] = t[s[x + 1]];
            d[x + 2] = t[s[x + 2]];
            d[x + 3] = t[s[x + 3]];
        }
        for (; x < len; ++x)
            d[x] = t[s[x]];
    } else if (c == 3) {
        const uint8_t *t0 = t, *t1 = t + 256, *t2 = t + 512;
        for (int64_t x = 0; x < len; x += 3) {
            d[x] = t0[s[x]];
            d[x + 1] = t1[s[x + 1]];
            d[x + 2] = t2[s[x + 2]];
        }
    } else {
        const uint8_t *t0 = t, *t1 = t + 256, *t2 = t + 512, *t3 = t + 768;
        for (int64_t x = 0; x < len; x += 4) {
            d[x] = t0[s[x]];
            d[x + 1] = t1[s[x + 1]];
            d[x + 2] = t2[s[x + 2]];
            d[x + 3] = t3[s[x + 3]];
        }
    }
}

/* ---- AVX-512 VBMI ---------------------------------------------------------------- */

#if FA_LUT_VBMI
/* Bytes p of a 64-byte vector with p % C == k, for C = 3 and C = 4. */
static const uint64_t M3[3] = {0x9249249249249249ull, 0x2492492492492492ull,
                               0x4924924924924924ull};
static const uint64_t M4[4] = {0x1111111111111111ull, 0x2222222222222222ull,
                               0x4444444444444444ull, 0x8888888888888888ull};

/* Maps 64 bytes whose first byte is channel ph: bytes in M[k] are channel (k + ph) % C.
   A write-masked vpermi2b keeps the index byte where its mask is clear, so the index
   register accumulates the result, one channel and 128-entry half at a time, and no
   table register is overwritten. With ph a constant the rotation is free. */
FA_VBMI_FN FA_LUT_INLINE __m512i map_vec(__m512i v, const __m512i *T, int C, int ph,
                                         const __mmask64 *M)
{
    const __mmask64 high = _mm512_movepi8_mask(v);
    if (C == 1) {
        const __m512i r = _mm512_mask2_permutex2var_epi8(T[0], v, _knot_mask64(high), T[1]);
        return _mm512_mask2_permutex2var_epi8(T[2], r, high, T[3]);
    }
    __m512i r = v;
    for (int k = 0; k < C; ++k) {
        const __m512i *t = T + 4 * ((k + ph) % C);
        r = _mm512_mask2_permutex2var_epi8(t[0], r, _kandn_mask64(high, M[k]), t[1]);
        r = _mm512_mask2_permutex2var_epi8(t[2], r, _kand_mask64(high, M[k]), t[3]);
    }
    return r;
}

FA_VBMI_FN FA_LUT_INLINE void put_vec(uint8_t *d, __m512i r, int stream)
{
    if (stream)
        _mm512_stream_si512((void *)d, r);
    else
        _mm512_storeu_si512((void *)d, r);
}

/* The n < 64 bytes at s, mapped into d; the rest of the vector is not touched. */
FA_VBMI_FN FA_LUT_INLINE void map_part(const uint8_t *s, uint8_t *d, int64_t n,
                                       const __m512i *T, int C, int ph, const __mmask64 *M)
{
    const __mmask64 k = ((__mmask64)1 << n) - 1;
    const __m512i v = _mm512_maskz_loadu_epi8(k, s);
    _mm512_mask_storeu_epi8(d, k, map_vec(v, T, C, ph, M));
}

/* Whole vectors from x on, starting on channel ph (a constant after inlining): a
   vector's phase steps by 64 % C, so C = 3 repeats every 3 vectors. Returns the new x. */
FA_VBMI_FN FA_LUT_INLINE int64_t map_body(const uint8_t *s, uint8_t *d, int64_t x,
                                          int64_t len, const __m512i *T, const int C,
                                          const int ph, const __mmask64 *M, const int stream)
{
    if (C == 3) {
        for (; x + 192 <= len; x += 192) {
            const __m512i v0 = _mm512_loadu_si512((const void *)(s + x));
            const __m512i v1 = _mm512_loadu_si512((const void *)(s + x + 64));
            const __m512i v2 = _mm512_loadu_si512((const void *)(s + x + 128));
            put_vec(d + x, map_vec(v0, T, 3, ph, M), stream);
            put_vec(d + x + 64, map_vec(v1, T, 3, (ph + 1) % 3, M), stream);
            put_vec(d + x + 128, map_vec(v2, T, 3, (ph + 2) % 3, M), stream);
        }
    } else {
        for (; x + 128 <= len; x += 128) {
            const __m512i v0 = _mm512_loadu_si512((const void *)(s + x));
            const __m512i v1 = _mm512_loadu_si512((const void *)(s + x + 64));
            put_vec(d + x, map_vec(v0, T, C, ph, M), stream);
            put_vec(d + x + 64, map_vec(v1, T, C, ph, M), stream);
        }
    }
    return x;
}

FA_VBMI_FN FA_LUT_INLINE void run_vbmi_c(const uint8_t *s, uint8_t *d, int64_t len,
                                         const uint8_t *t, const int C, const int stream)
{
    __m512i T[16];
    for (int i = 0; i < 4 * C; ++i)
        T[i] = _mm512_loadu_si512((const void *)(t + 64 * i));
    __mmask64 M[4] = {0, 0, 0, 0}; /* unused for C = 1 */
    if (C > 1)
        for (int k = 0; k < C; ++k)
            M[k] = C == 3 ? M3[k] : M4[k];
    int64_t x = 0;
    int ph = 0; /* channel of byte x */
    if (stream) {
        /* Streaming stores need 64-byte aligned addresses: map up to the boundary. */
        const int64_t head = (int64_t)(-(uintptr_t)d & 63);
        x = head < len ? head : len;
        if (x > 0)
            map_part(s, d, x, T, C, 0, M);
        ph = (int)(x % C);
    }
    switch (ph) {
    case 0:
        x = map_body(s, d, x, len, T, C, 0, M, stream);
        break;
    case 1:
        x = map_body(s, d, x, len, T, C, 1, M, stream);
        break;
    case 2:
        x = map_body(s, d, x, len, T, C, 2, M, stream);
        break;
    default:
        x = map_body(s, d, x, len, T, C, 3, M, stream);
        break;
    }
    for (; x < len; x += 64) { /* at most two whole vectors and a part */
        if (x + 64 <= len)
            put_vec(d + x, map_vec(_mm512_loadu_si512((const void *)(s + x)), T, C, ph, M),
                    stream);
        else
            map_part(s + x, d + x, len - x, T, C, ph, M);
        ph = (ph + 64) % C;
    }
}

FA_VBMI_FN static void run_vbmi(const uint8_t *s, uint8_t *d, int64_t len, const uint8_t *t,
                                int c, int stream)
{
    if (c == 1) {
        if (stream)
            run_vbmi_c(s, d, len, t, 1, 1);
        else
            run_vbmi_c(s, d, len, t, 1, 0);
    } else if (c == 3) {
        if (stream)
            run_vbmi_c(s, d, len, t, 3, 1);
        else
            run_vbmi_c(s, d, len, t, 3, 0);
    } else {
        if (stream)
            run_vbmi_c(s, d, len, t, 4, 1);
        else
            run_vbmi_c(s, d, len, t, 4, 0);
    }
}

static int cpu_has_vbmi(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
           && __builtin_cpu_supports("avx512vbmi");
}
#endif

/* ---- driver ---------------------------------------------------------------------- */

/* One table for every channel (always so for a (256,) table): the run can then treat
   all bytes alike, which saves the SIMD path the other channels' lookups. */
static int same_tables(const uint8_t *t, int c)
{
    for (int k = 1; k < c; ++k)
        if (memcmp(t, t + 256 * k, 256) != 0)
            return 0;
    return 1;
}

static int lut_task(void *ctx, int64_t k)
{
    const lut_plan *p = ctx;
    const fa_lut_args *a = p->a;
    const int64_t n = k / p->per_image;
    const int64_t y0 = (k % p->per_image) * p->rows_per_chunk;
    const int64_t end = y0 + p->rows_per_chunk;
    const int64_t y1 = end < a->h ? end : a->h;
    const int64_t row = a->w * a->c;
    const uint8_t *t = a->tables + n * a->table_stride;
    const uint8_t *s = a->src + n * a->src_image_stride + y0 * a->src_row_stride;
    uint8_t *d = a->dst + (n * a->h + y0) * row;
    const int c = same_tables(t, (int)a->c) ? 1 : (int)a->c;
    if (a->src_row_stride == row) /* contiguous rows: one run for the chunk */
        p->run(s, d, (y1 - y0) * row, t, c, p->stream);
    else
        for (int64_t y = y0; y < y1; ++y, s += a->src_row_stride, d += row)
            p->run(s, d, row, t, c, p->stream);
#if FA_LUT_VBMI
    if (p->stream)
        _mm_sfence(); /* order the streamed stores before anyone reads the output */
#endif
    return 0;
}

/* See fastaug.h. */
int fa_lut_path(int request)
{
    if (request >= 0)
        lut_allow_simd = request;
#if FA_LUT_VBMI
    return lut_allow_simd && cpu_has_vbmi();
#else
    return 0;
#endif
}

void fa_lut(const fa_lut_args *a)
{
    if (a->n == 0 || a->h == 0 || a->w == 0)
        return;
    lut_plan plan = {a, 1, a->h, run_portable, 0};
#if FA_LUT_VBMI
    if (fa_lut_path(-1)) {
        plan.run = run_vbmi;
        plan.stream = a->n * a->h * a->w * a->c > LUT_STREAM_BYTES;
    }
#endif
    fa_split_rows(a->n, a->h, a->threads, &plan.per_image, &plan.rows_per_chunk);
    fa_parallel(a->threads, a->n * plan.per_image, lut_task, &plan);
}
