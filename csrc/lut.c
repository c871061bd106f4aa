/* Per-channel 256-entry lookup tables, one set per image or one for the batch. */
#include "fastaug.h"
#include "parallel.h"

typedef struct {
    const fa_lut_args *a;
    int64_t per_image, rows_per_chunk;
} lut_plan;

static void lut_row_c1(const uint8_t *s, uint8_t *d, int64_t w, const uint8_t *t)
{
    int64_t x = 0;
    for (; x + 4 <= w; x += 4) {
        d[x] = t[s[x]];
        d[x + 1] = t[s[x + 1]];
        d[x + 2] = t[s[x + 2]];
        d[x + 3] = t[s[x + 3]];
    }
    for (; x < w; ++x)
        d[x] = t[s[x]];
}

static void lut_row_c3(const uint8_t *s, uint8_t *d, int64_t w, const uint8_t *t)
{
    const uint8_t *t0 = t, *t1 = t + 256, *t2 = t + 512;
    for (int64_t x = 0; x < 3 * w; x += 3) {
        d[x] = t0[s[x]];
        d[x + 1] = t1[s[x + 1]];
        d[x + 2] = t2[s[x + 2]];
    }
}

static void lut_row_c4(const uint8_t *s, uint8_t *d, int64_t w, const uint8_t *t)
{
    const uint8_t *t0 = t, *t1 = t + 256, *t2 = t + 512, *t3 = t + 768;
    for (int64_t x = 0; x < 4 * w; x += 4) {
        d[x] = t0[s[x]];
        d[x + 1] = t1[s[x + 1]];
        d[x + 2] = t2[s[x + 2]];
        d[x + 3] = t3[s[x + 3]];
    }
}

static int lut_task(void *ctx, int64_t k)
{
    const lut_plan *p = ctx;
    const fa_lut_args *a = p->a;
    const int64_t n = k / p->per_image;
    const int64_t y0 = (k % p->per_image) * p->rows_per_chunk;
    const int64_t end = y0 + p->rows_per_chunk;
    const int64_t y1 = end < a->h ? end : a->h;
    const uint8_t *t = a->tables + n * a->table_stride;
    for (int64_t y = y0; y < y1; ++y) {
        const uint8_t *s = a->src + n * a->src_image_stride + y * a->src_row_stride;
        uint8_t *d = a->dst + ((n * a->h) + y) * a->w * a->c;
        if (a->c == 1)
            lut_row_c1(s, d, a->w, t);
        else if (a->c == 3)
            lut_row_c3(s, d, a->w, t);
        else
            lut_row_c4(s, d, a->w, t);
    }
    return 0;
}

void fa_lut(const fa_lut_args *a)
{
    if (a->n == 0 || a->h == 0 || a->w == 0)
        return;
    lut_plan plan = {a, 1, a->h};
    fa_split_rows(a->n, a->h, a->threads, &plan.per_image, &plan.rows_per_chunk);
    fa_parallel(a->threads, a->n * plan.per_image, lut_task, &plan);
}
