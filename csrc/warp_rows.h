/*
 * The AVX2 general-path kernels that split gathered pixel pairs into channels, compiled
 * twice by augment.c: with pshufb (AVX2), and with one masked vpermi2b per channel and
 * row (AVX-512 VBMI), which computes the same integers. The VBMI build also samples
 * and finishes blocks of sixteen pixels in 512-bit vectors (run16, replicate16,
 * nearest16, finish16), the rest of a run by eight.
 *
 * Included with FA_ROWS_FN (the functions' attributes), FA_ROWS(name) (their names)
 * and FA_ROWS_VBMI (0 or 1) defined. The pshufb masks (ma, mb) are built only for the
 * AVX2 split.
 */

#if FA_ROWS_VBMI
/* vpermi2b indices of channel c's (left, right) bytes as the low bytes of word pairs,
   pixel j in dword j, from gathers A (pixels 0 1 4 5, bytes 0-31) and B (2 3 6 7,
   bytes 32-63); the odd bytes are zeroed by the mask. */
FA_ROWS_FN __m256i pair_index(int C, int c)
{
#define FA_PAIR(base) (char)((base) + c), 0, (char)((base) + C + c), 0
    return _mm256_setr_epi8(FA_PAIR(0), FA_PAIR(8), FA_PAIR(32), FA_PAIR(40), FA_PAIR(16),
                            FA_PAIR(24), FA_PAIR(48), FA_PAIR(56));
#undef FA_PAIR
}
#endif

#if FA_ROWS_VBMI
/* 512-bit forms of coords8, weight_pairs and mix_y8 for sixteen pixels, in pixel order:
   the same operations, so the same integers. */
FA_ROWS_FN __m512i coords16(__m512d r, __m512d s, __m512d k0, __m512d k1)
{
    const __m512d magic = _mm512_set1_pd(FA_MAGIC);
    const __m512d a = _mm512_add_pd(_mm512_add_pd(r, _mm512_mul_pd(s, k0)), magic);
    const __m512d b = _mm512_add_pd(_mm512_add_pd(r, _mm512_mul_pd(s, k1)), magic);
    const __m512i low = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                          28, 30);
    return _mm512_permutex2var_epi32(_mm512_castpd_si512(a), low, _mm512_castpd_si512(b));
}

FA_ROWS_FN __m512i weight_pairs16(__m512i frac)
{
    return _mm512_or_si512(_mm512_sub_epi32(_mm512_set1_epi32(FA_WONE), frac),
                           _mm512_slli_epi32(frac, 16));
}

FA_ROWS_FN __m512i mix_y16(__m512i top, __m512i bottom, __m512i wy, int grey)
{
    const __m512i pair = _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_srli_epi32(top, FA_HSHIFT),
                                                 _mm512_slli_epi32(bottom, 16 - FA_HSHIFT));
    const __m512i v = _mm512_madd_epi16(pair, wy);
    return _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_set1_epi32(grey ? FA_GREY_ROUND : FA_VROUND)),
                             grey ? FA_VSHIFT + FA_VBITS : FA_VSHIFT);
}

/* The positions x0 .. x0 + 7 and x0 + 8 .. x0 + 15 of a sixteen-pixel block. */
FA_ROWS_FN void positions16(int64_t x0, __m512d *k0, __m512d *k1)
{
    *k0 = _mm512_add_pd(_mm512_set1_pd((double)x0), _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7));
    *k1 = _mm512_add_pd(*k0, _mm512_set1_pd(8.0));
}

/* A 256-bit constant of finish_consts in both halves. */
#define FA_WIDE(v) _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(v)))

/* finish8 for sixteen pixels x .. x + 15 of row y, in 512-bit vectors: its operations
   in its order (so the same values), stored without writing past the pixels. */
FA_ROWS_FN void finish16(const image_ctx *ic, int C, const finish_consts *k, const __m512i *v,
                         int64_t y, int64_t x, int grey, int kind)
{
    /* interleave tables: output vector j, lane i holds float 16 j + i of the pixels */
    static const int32_t pick3[3][16] = {
        {0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5},
        {21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26},
        {0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0}};
    static const int32_t put3[3][16] = {
        {0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15},
        {0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15},
        {26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31}};
    const fa_augment_args *a = ic->a;
    const int color = kind & 1, u8 = kind >> 1 == FA_OUT_U8_NHWC;
    const __m512 unit = _mm512_set1_ps(1.0f / FA_VONE);
    __m512 o[4];
    __m512i q[4];
    if (color) {
        __m512 f[4];
        for (int j = 0; j < C; ++j)
            f[j] = grey ? _mm512_cvtepi32_ps(v[j]) : _mm512_mul_ps(_mm512_cvtepi32_ps(v[j]), unit);
        for (int c = 0; c < C; ++c) {
            __m512 acc = FA_WIDE(k->bias[c]);
            for (int j = 0; j < C; ++j)
                acc = _mm512_fmadd_ps(FA_WIDE(k->coef[c][j]), f[j], acc);
            /* uint8, C > 1: negative sums are saturated by the packs below */
            if (!u8 || C == 1)
                acc = _mm512_max_ps(acc, _mm512_setzero_ps());
            acc = _mm512_min_ps(acc, _mm512_set1_ps(255.0f));
            if (u8)
                q[c] = _mm512_cvttps_epi32(acc);
            else
                o[c] = _mm512_add_ps(_mm512_mul_ps(acc, FA_WIDE(k->scale[c])), FA_WIDE(k->offset[c]));
        }
    } else {
        for (int c = 0; c < C; ++c) {
            if (u8) {
                q[c] = grey ? v[c] : _mm512_srli_epi32(_mm512_add_epi32(v[c], _mm512_set1_epi32(FA_VONE / 2)),
                                                       FA_VBITS);
            } else {
                const __m512 f = grey ? _mm512_cvtepi32_ps(v[c])
                                      : _mm512_mul_ps(_mm512_cvtepi32_ps(v[c]), unit);
                o[c] = _mm512_add_ps(_mm512_mul_ps(f, FA_WIDE(k->scale[c])), FA_WIDE(k->offset[c]));
            }
        }
    }
    if (u8) {
        uint8_t *d = ic->dst8 + (y * a->ow + x) * C;
        if (C == 1) {
            _mm_storeu_si128((__m128i *)d, _mm512_cvtepi32_epi8(q[0]));
            return;
        }
        /* Saturating packs: 128-bit lane l holds channel c of pixels 4 l .. 4 l + 3 at
           bytes 16 l + 4 c .. 16 l + 4 c + 3; one vpermb interleaves the pixels. */
        const __m512i bytes = _mm512_packus_epi16(_mm512_packus_epi32(q[0], q[1]),
                                                  _mm512_packus_epi32(q[2], q[C - 1]));
        if (C == 4) {
            const __m512i pack = _mm512_set_epi8(
                63, 59, 55, 51, 62, 58, 54, 50, 61, 57, 53, 49, 60, 56, 52, 48, 47, 43, 39, 35,
                46, 42, 38, 34, 45, 41, 37, 33, 44, 40, 36, 32, 31, 27, 23, 19, 30, 26, 22, 18,
                29, 25, 21, 17, 28, 24, 20, 16, 15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8,
                4, 0);
            _mm512_storeu_si512(d, _mm512_permutexvar_epi8(pack, bytes));
        } else {
            const __m512i pack = _mm512_set_epi8(
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 59, 55, 51, 58, 54, 50, 57, 53,
                49, 56, 52, 48, 43, 39, 35, 42, 38, 34, 41, 37, 33, 40, 36, 32, 27, 23, 19, 26,
                22, 18, 25, 21, 17, 24, 20, 16, 11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0);
            const __m512i px = _mm512_permutexvar_epi8(pack, bytes);
            /* two plain stores of the 48 bytes */
            _mm256_storeu_si256((__m256i *)d, _mm512_castsi512_si256(px));
            _mm_storeu_si128((__m128i *)(d + 32), _mm512_extracti32x4_epi32(px, 2));
        }
        return;
    }
    if (kind >> 1 == FA_OUT_F32_NCHW) {
        for (int c = 0; c < C; ++c)
            _mm512_storeu_ps(ic->dstf + (c * a->oh + y) * a->ow + x, o[c]);
        return;
    }
    float *d = ic->dstf + (y * a->ow + x) * C;
    if (C == 1) {
        _mm512_storeu_ps(d, o[0]);
    } else if (C == 3) {
        for (int j = 0; j < 3; ++j) {
            const __m512 t = _mm512_permutex2var_ps(o[0], _mm512_loadu_si512(pick3[j]), o[1]);
            _mm512_storeu_ps(d + 16 * j,
                             _mm512_permutex2var_ps(t, _mm512_loadu_si512(put3[j]), o[2]));
        }
    } else {
        for (int j = 0; j < 4; ++j) {
            /* lanes 4 i + c: pixel 4 j + i, channel c (c = 0, 2 from o[0], o[2]) */
            const __m512i at = _mm512_add_epi32(
                _mm512_setr_epi32(0, 16, 0, 16, 1, 17, 1, 17, 2, 18, 2, 18, 3, 19, 3, 19),
                _mm512_set1_epi32(4 * j));
            const __m512 lo = _mm512_permutex2var_ps(o[0], at, o[1]);
            const __m512 hi = _mm512_permutex2var_ps(o[2], at, o[3]);
            _mm512_storeu_ps(d + 16 * j, _mm512_mask_blend_ps(0xCCCC, lo, hi));
        }
    }
}
#undef FA_WIDE

/* Sixteen pixels x .. x + 15 sampled from the 8-byte gathers of their top (ta: pixels
   0-7, tb: 8-15) and bottom (ba, bb) neighbour pairs (C = 3, 4), or from the 4-byte
   ones of a pixel and its right neighbour (in ta, ba; C = 1), then finished. */
FA_ROWS_FN void interpolate16(const image_ctx *ic, int C, const finish_consts *k, __m512i ta,
                              __m512i tb, __m512i ba, __m512i bb, __m512i wx, __m512i wy,
                              int64_t y, int64_t x, int kind)
{
    __m512i v[4];
    if (C == 1) {
        const __m512i c1 = _mm512_broadcast_i32x4(_mm256_castsi256_si128(pair_mask_c1()));
        v[0] = mix_y16(_mm512_madd_epi16(_mm512_shuffle_epi8(ta, c1), wx),
                       _mm512_madd_epi16(_mm512_shuffle_epi8(ba, c1), wx), wy, kind == 0);
    }
    for (int c = 0; C > 1 && c < C; ++c) {
        /* dword j: bytes c and C + c of pixel j's 8 bytes (byte 8 j of ta:tb) */
        const __m512i pixel = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88,
                                                96, 104, 112, 120);
        const __m512i at = _mm512_add_epi32(_mm512_or_si512(pixel, _mm512_slli_epi32(pixel, 16)),
                                            _mm512_set1_epi32(c | (C + c) << 16));
        const __mmask64 low = 0x5555555555555555ull;
        const __m512i t = _mm512_madd_epi16(_mm512_maskz_permutex2var_epi8(low, ta, at, tb), wx);
        const __m512i b = _mm512_madd_epi16(_mm512_maskz_permutex2var_epi8(low, ba, at, bb), wx);
        v[c] = mix_y16(t, b, wy, kind == 0);
    }
    finish16(ic, C, k, v, y, x, kind == 0, kind);
}

/* bilinear_run_body's sixteen-pixel blocks from x0 while they fit before x1; returns
   the first pixel not done. */
FA_ROWS_FN int64_t run16(const image_ctx *ic, int C, const row_line *l, const finish_consts *k,
                         int64_t x0, int64_t x1, int64_t y, int kind)
{
    const int64_t rs = ic->a->src_row_stride;
    const uint8_t *top = ic->src, *bottom = ic->src + rs;
    const __m512d rx = _mm512_set1_pd(l->rx), sx = _mm512_set1_pd(l->sx);
    const __m512d ry = _mm512_set1_pd(l->ry), sy = _mm512_set1_pd(l->sy);
    const __m512d step = _mm512_set1_pd(16.0);
    __m512d k0, k1;
    positions16(x0, &k0, &k1);
    const __m512i stride = _mm512_set1_epi32((int32_t)rs), frac = _mm512_set1_epi32(FA_WONE - 1);
    int64_t x = x0;
    for (; x + 16 <= x1; x += 16) {
        const __m512i cx = coords16(rx, sx, k0, k1), cy = coords16(ry, sy, k0, k1);
        k0 = _mm512_add_pd(k0, step);
        k1 = _mm512_add_pd(k1, step);
        const __m512i ix = _mm512_srai_epi32(cx, FA_WBITS), iy = _mm512_srai_epi32(cy, FA_WBITS);
        const __m512i wx = weight_pairs16(_mm512_and_si512(cx, frac));
        const __m512i wy = weight_pairs16(_mm512_and_si512(cy, frac));
        const __m512i col = C == 4 ? _mm512_slli_epi32(ix, 2)
                                   : (C == 3 ? _mm512_add_epi32(ix, _mm512_add_epi32(ix, ix)) : ix);
        const __m512i off = _mm512_add_epi32(_mm512_mullo_epi32(iy, stride), col);
        if (C == 1) {
            interpolate16(ic, C, k, _mm512_i32gather_epi32(off, top, 1), _mm512_setzero_si512(),
                          _mm512_i32gather_epi32(off, bottom, 1), _mm512_setzero_si512(), wx, wy,
                          y, x, kind);
            continue;
        }
        const __m256i ia = _mm512_castsi512_si256(off), ib = _mm512_extracti64x4_epi64(off, 1);
        interpolate16(ic, C, k, _mm512_i32gather_epi64(ia, top, 1),
                      _mm512_i32gather_epi64(ib, top, 1), _mm512_i32gather_epi64(ia, bottom, 1),
                      _mm512_i32gather_epi64(ib, bottom, 1), wx, wy, y, x, kind);
    }
    return x;
}

/* bilinear_replicate_body's sixteen-pixel blocks from x0 while they fit before x1, with
   its clip box (lo, hi: x then y, scaled); returns the first pixel not done. */
FA_ROWS_FN int64_t replicate16(const image_ctx *ic, int C, const row_line *l,
                               const finish_consts *k, const double *lo, const double *hi,
                               int64_t x0, int64_t x1, int64_t y, int kind)
{
    const fa_augment_args *a = ic->a;
    const int64_t rs = a->src_row_stride;
    const uint8_t *top = ic->src, *bottom = ic->src + rs;
    const __m512d rx = _mm512_set1_pd(l->rx), sx = _mm512_set1_pd(l->sx);
    const __m512d ry = _mm512_set1_pd(l->ry), sy = _mm512_set1_pd(l->sy);
    const __m512d xlo = _mm512_set1_pd(lo[0]), xhi = _mm512_set1_pd(hi[0]);
    const __m512d ylo = _mm512_set1_pd(lo[1]), yhi = _mm512_set1_pd(hi[1]);
    const __m512d zero = _mm512_setzero_pd(), unit = _mm512_set1_pd(1.0);
    const __m512d step = _mm512_set1_pd(16.0);
    __m512d k0, k1;
    positions16(x0, &k0, &k1);
    const __m512i zi = _mm512_setzero_si512();
    const __m512i sxmax = _mm512_set1_epi32((int32_t)(a->w - 1) * FA_WONE);
    const __m512i symax = _mm512_set1_epi32((int32_t)(a->h - 1) * FA_WONE);
    const __m512i ixmax = _mm512_set1_epi32((int32_t)a->w - 2);
    const __m512i iymax = _mm512_set1_epi32((int32_t)a->h - 2);
    const __m512i stride = _mm512_set1_epi32((int32_t)rs);
    int64_t x = x0;
    for (; x + 16 <= x1; x += 16) {
#define FA_CLAMP8(r, s, kk, lo, hi) \
    _mm512_min_pd(_mm512_max_pd(_mm512_add_pd(r, _mm512_mul_pd(s, kk)), lo), hi)
        const __m512i cx = _mm512_min_epi32(_mm512_max_epi32(coords16(zero, unit,
            FA_CLAMP8(rx, sx, k0, xlo, xhi), FA_CLAMP8(rx, sx, k1, xlo, xhi)), zi), sxmax);
        const __m512i cy = _mm512_min_epi32(_mm512_max_epi32(coords16(zero, unit,
            FA_CLAMP8(ry, sy, k0, ylo, yhi), FA_CLAMP8(ry, sy, k1, ylo, yhi)), zi), symax);
#undef FA_CLAMP8
        k0 = _mm512_add_pd(k0, step);
        k1 = _mm512_add_pd(k1, step);
        const __m512i ix = _mm512_min_epi32(_mm512_srai_epi32(cx, FA_WBITS), ixmax);
        const __m512i iy = _mm512_min_epi32(_mm512_srai_epi32(cy, FA_WBITS), iymax);
        const __m512i wx = weight_pairs16(_mm512_sub_epi32(cx, _mm512_slli_epi32(ix, FA_WBITS)));
        const __m512i wy = weight_pairs16(_mm512_sub_epi32(cy, _mm512_slli_epi32(iy, FA_WBITS)));
        const __m512i row = _mm512_mullo_epi32(iy, stride);
        if (C == 1) {
            /* 4 bytes from min(ix, w - 4), shifted down to pixel ix. */
            const __m512i start = _mm512_min_epi32(ix, _mm512_sub_epi32(ixmax, _mm512_set1_epi32(2)));
            const __m512i shift = _mm512_slli_epi32(_mm512_sub_epi32(ix, start), 3);
            const __m512i off = _mm512_add_epi32(row, start);
            interpolate16(ic, C, k, _mm512_srlv_epi32(_mm512_i32gather_epi32(off, top, 1), shift),
                          zi, _mm512_srlv_epi32(_mm512_i32gather_epi32(off, bottom, 1), shift), zi,
                          wx, wy, y, x, kind);
            continue;
        }
        __m512i col = C == 4 ? _mm512_slli_epi32(ix, 2) : _mm512_add_epi32(ix, _mm512_add_epi32(ix, ix));
        __m512i sa = zi, sb = zi;
        if (C == 3) {
            /* From 2 bytes before the pixel (never before the row), shifted back. */
            const __m512i back = _mm512_maskz_mov_epi32(_mm512_cmpgt_epi32_mask(ix, zi),
                                                        _mm512_set1_epi32(2));
            col = _mm512_sub_epi32(col, back);
            const __m512i bits = _mm512_slli_epi32(back, 3);
            sa = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(bits));
            sb = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(bits, 1));
        }
        const __m512i off = _mm512_add_epi32(row, col);
        const __m256i ia = _mm512_castsi512_si256(off), ib = _mm512_extracti64x4_epi64(off, 1);
        interpolate16(ic, C, k, _mm512_srlv_epi64(_mm512_i32gather_epi64(ia, top, 1), sa),
                      _mm512_srlv_epi64(_mm512_i32gather_epi64(ib, top, 1), sb),
                      _mm512_srlv_epi64(_mm512_i32gather_epi64(ia, bottom, 1), sa),
                      _mm512_srlv_epi64(_mm512_i32gather_epi64(ib, bottom, 1), sb), wx, wy, y, x,
                      kind);
    }
    return x;
}

/* Nearest output row y (fill "constant" or "nearest"; unscaled coordinates in l) by
   blocks of sixteen pixels, sampled as nearest_pixels8 does and finished by finish16;
   returns the first pixel not done (a multiple of 16). */
FA_ROWS_FN int64_t nearest16(const image_ctx *ic, int C, const row_line *l, int64_t y, int kind)
{
    const fa_augment_args *a = ic->a;
    const int64_t ow = a->ow;
    finish_consts k;
    finish_init(ic, C, kind, &k);
    const __m512d rx = _mm512_set1_pd(l->rx), sx = _mm512_set1_pd(l->sx);
    const __m512d ry = _mm512_set1_pd(l->ry), sy = _mm512_set1_pd(l->sy);
    const __m512d xlo = _mm512_set1_pd(l->xlo), xhi = _mm512_set1_pd(l->xhi);
    const __m512d ylo = _mm512_set1_pd(l->ylo), yhi = _mm512_set1_pd(l->yhi);
    const __m512d half = _mm512_set1_pd(0.5), step = _mm512_set1_pd(16.0);
    __m512d k0, k1;
    positions16(0, &k0, &k1);
    const __m512i zi = _mm512_setzero_si512(), byte = _mm512_set1_epi32(255);
    const __m512i xmax = _mm512_set1_epi32((int32_t)a->w - 1);
    const __m512i ymax = _mm512_set1_epi32((int32_t)a->h - 1);
    const __m512i stride = _mm512_set1_epi32((int32_t)a->src_row_stride);
    const uint8_t *cv = a->cval;
    const __m512i cval = _mm512_set1_epi32((int32_t)((uint32_t)cv[0] | (uint32_t)cv[1] << 8 |
                                                     (uint32_t)cv[2] << 16 | (uint32_t)cv[3] << 24));
    const int constant = a->fill == FA_FILL_CONSTANT;
    int64_t x = 0;
    for (; x + 16 <= ow; x += 16) {
        /* clampd (max first: NaN becomes lo), then floor(s + 0.5) like split_nearest */
#define FA_NEAREST8(r, s, kk, lo, hi)                                                     \
    _mm512_cvtpd_epi32(_mm512_roundscale_pd(                                              \
        _mm512_add_pd(_mm512_min_pd(_mm512_max_pd(_mm512_add_pd(r, _mm512_mul_pd(s, kk)), lo), hi), \
                      half),                                                              \
        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC))
        __m512i xi = _mm512_inserti64x4(_mm512_castsi256_si512(FA_NEAREST8(rx, sx, k0, xlo, xhi)),
                                        FA_NEAREST8(rx, sx, k1, xlo, xhi), 1);
        __m512i yi = _mm512_inserti64x4(_mm512_castsi256_si512(FA_NEAREST8(ry, sy, k0, ylo, yhi)),
                                        FA_NEAREST8(ry, sy, k1, ylo, yhi), 1);
#undef FA_NEAREST8
        k0 = _mm512_add_pd(k0, step);
        k1 = _mm512_add_pd(k1, step);
        __mmask16 inside = 0xFFFF;
        if (constant)
            inside = _mm512_cmpge_epi32_mask(xi, zi) & _mm512_cmple_epi32_mask(xi, xmax) &
                     _mm512_cmpge_epi32_mask(yi, zi) & _mm512_cmple_epi32_mask(yi, ymax);
        else {
            xi = _mm512_min_epi32(_mm512_max_epi32(xi, zi), xmax);
            yi = _mm512_min_epi32(_mm512_max_epi32(yi, zi), ymax);
        }
        const __m512i col = C == 4 ? _mm512_slli_epi32(xi, 2)
                                   : (C == 3 ? _mm512_add_epi32(xi, _mm512_add_epi32(xi, xi)) : xi);
        /* outside lanes: offset 0, no shift, cval from the masked gather */
        const __m512i off = _mm512_maskz_add_epi32(inside, _mm512_mullo_epi32(yi, stride), col);
        __m512i px;
        if (C == 4) {
            px = _mm512_mask_i32gather_epi32(cval, inside, off, ic->src, 1);
        } else {
            /* the 4 bytes that end with the pixel's (never before the image) */
            const __m512i start = _mm512_max_epi32(_mm512_sub_epi32(off, _mm512_set1_epi32(4 - C)), zi);
            const __m512i shift = _mm512_slli_epi32(_mm512_sub_epi32(off, start), 3);
            px = _mm512_srlv_epi32(_mm512_mask_i32gather_epi32(cval, inside, start, ic->src, 1), shift);
        }
        __m512i v[4];
        for (int c = 0; c < C; ++c)
            v[c] = _mm512_and_si512(_mm512_srli_epi32(px, 8 * c), byte);
        finish16(ic, C, &k, v, y, x, 1, kind);
    }
    return x;
}
#endif

/* The samples v[c] of eight pixels from the 8-byte gathers of their top (ta, tb) and
   bottom (ba, bb) neighbour pairs, in the lane order of pair_masks. */
FA_ROWS_FN void FA_ROWS(interpolate8)(int C, __m256i ta, __m256i tb, __m256i ba, __m256i bb,
                                      const __m256i *ma, const __m256i *mb, __m256i wx,
                                      __m256i wy, int grey, __m256i *v)
{
    for (int c = 0; c < C; ++c) {
#if FA_ROWS_VBMI
        (void)ma; /* not built for this split */
        (void)mb;
        const __m256i at = pair_index(C, c);
        const __mmask32 low = 0x55555555u; /* byte 0 and 2 of every dword */
        const __m256i t = _mm256_madd_epi16(_mm256_maskz_permutex2var_epi8(low, ta, at, tb), wx);
        const __m256i b = _mm256_madd_epi16(_mm256_maskz_permutex2var_epi8(low, ba, at, bb), wx);
#else
        const __m256i t = _mm256_madd_epi16(
            _mm256_or_si256(_mm256_shuffle_epi8(ta, ma[c]), _mm256_shuffle_epi8(tb, mb[c])), wx);
        const __m256i b = _mm256_madd_epi16(
            _mm256_or_si256(_mm256_shuffle_epi8(ba, ma[c]), _mm256_shuffle_epi8(bb, mb[c])), wx);
#endif
        v[c] = mix_y8(t, b, wy, grey);
    }
}

/* Pixels [x0, x1) of output row y (all interior, x1 - x0 a multiple of 8), sampled and
   finished: for each pixel one 8-byte gather from its top-left and one from its
   bottom-left neighbour bring both columns (C = 3, 4), or 4-byte gathers a pixel and
   its right neighbour (C = 1). */
FA_ROWS_FN void FA_ROWS(bilinear_run_body)(const image_ctx *ic, int C, const row_line *l,
                                           int64_t x0, int64_t x1, int64_t y, int kind)
{
    const int64_t rs = ic->a->src_row_stride;
    finish_consts k;
    finish_init(ic, C, kind, &k);
    const long long *top = (const long long *)ic->src;
    const long long *bottom = (const long long *)(ic->src + rs);
#if FA_ROWS_VBMI
    x0 = run16(ic, C, l, &k, x0, x1, y, kind);
#endif
    const __m256d rx = _mm256_set1_pd(l->rx), sx = _mm256_set1_pd(l->sx);
    const __m256d ry = _mm256_set1_pd(l->ry), sy = _mm256_set1_pd(l->sy);
    const __m256d eight = _mm256_set1_pd(8.0);
    __m256d k0 = _mm256_setr_pd((double)x0, (double)x0 + 1, (double)x0 + 2, (double)x0 + 3);
    __m256d k1 = _mm256_add_pd(k0, _mm256_set1_pd(4.0));
    const __m256i stride = _mm256_set1_epi32((int32_t)rs);
    __m256i ma[4], mb[4]; /* the pshufb split's masks (unused by the VBMI one) */
    if (C > 1 && !FA_ROWS_VBMI)
        pair_masks(C, ma, mb);
    const __m256i c1 = pair_mask_c1();
    for (int64_t x = x0; x < x1; x += 8) {
        const __m256i cx = coords8(rx, sx, k0, k1), cy = coords8(ry, sy, k0, k1);
        k0 = _mm256_add_pd(k0, eight);
        k1 = _mm256_add_pd(k1, eight);
        const __m256i ix = _mm256_srai_epi32(cx, FA_WBITS), iy = _mm256_srai_epi32(cy, FA_WBITS);
        const __m256i wx = unshuffle8(weight_pairs(cx)), wy = unshuffle8(weight_pairs(cy));
        __m256i v[4];
        if (C == 1) {
            const __m256i off = unshuffle8(_mm256_add_epi32(_mm256_mullo_epi32(iy, stride), ix));
            const __m256i t = _mm256_madd_epi16(
                _mm256_shuffle_epi8(_mm256_i32gather_epi32((const int *)top, off, 1), c1), wx);
            const __m256i b = _mm256_madd_epi16(
                _mm256_shuffle_epi8(_mm256_i32gather_epi32((const int *)bottom, off, 1), c1), wx);
            v[0] = mix_y8(t, b, wy, kind == 0);
            finish8(ic, 1, &k, v, y, x, kind == 0, kind);
            continue;
        }
        const __m256i col = C == 4 ? _mm256_slli_epi32(ix, 2)
                                   : _mm256_add_epi32(ix, _mm256_add_epi32(ix, ix));
        /* Offsets in the order 0 1 4 5 | 2 3 6 7: the two gathers' index sets. */
        const __m256i off = _mm256_add_epi32(_mm256_mullo_epi32(iy, stride), col);
        const __m128i ia = _mm256_castsi256_si128(off), ib = _mm256_extracti128_si256(off, 1);
        const __m256i ta = _mm256_i32gather_epi64(top, ia, 1);
        const __m256i tb = _mm256_i32gather_epi64(top, ib, 1);
        const __m256i ba = _mm256_i32gather_epi64(bottom, ia, 1);
        const __m256i bb = _mm256_i32gather_epi64(bottom, ib, 1);
        FA_ROWS(interpolate8)(C, ta, tb, ba, bb, ma, mb, wx, wy, kind == 0, v);
        finish8(ic, C, &k, v, y, x, kind == 0, kind);
    }
}

/* Fill "nearest": a sample's two neighbours along an axis, mapped onto the image, are
   the neighbours of the coordinate clamped to [0, n - 1], and one at n - 1 is the same
   as index n - 2 with weight 4096 on its right neighbour. So every pixel of the row
   takes 8-byte loads (C = 3, 4; for C = 3 from 2 bytes before the pixel where one
   exists) or 4-byte ones (C = 1) inside the image, with the scalar code's integers.
   Pixels [x0, x1) of output row y, x1 - x0 a multiple of 8, sampled and finished.
   Needs w >= 3 (C = 3), 2 (C = 4) or 4 (C = 1), and h >= 2. */
FA_ROWS_FN void FA_ROWS(bilinear_replicate_body)(const image_ctx *ic, int C, const row_line *l,
                                                   int64_t x0, int64_t x1, int64_t y, int kind)
{
    const fa_augment_args *a = ic->a;
    const int64_t rs = a->src_row_stride;
    finish_consts k;
    finish_init(ic, C, kind, &k);
    const double wmax = (double)(a->w - 1) * FA_WONE, hmax = (double)(a->h - 1) * FA_WONE;
    /* clampd to the clip box (max first: NaN becomes lo), then to a 32-bit-safe range
       just outside the image, which rounds to the same clamped integers. */
    const double lo[2] = {l->xlo > -1.0 ? l->xlo : -1.0, l->ylo > -1.0 ? l->ylo : -1.0};
    const double hi[2] = {l->xhi < wmax + 1.0 ? l->xhi : wmax + 1.0,
                          l->yhi < hmax + 1.0 ? l->yhi : hmax + 1.0};
#if FA_ROWS_VBMI
    x0 = replicate16(ic, C, l, &k, lo, hi, x0, x1, y, kind);
#endif
    const __m256d xlo = _mm256_set1_pd(lo[0]), xhi = _mm256_set1_pd(hi[0]);
    const __m256d ylo = _mm256_set1_pd(lo[1]), yhi = _mm256_set1_pd(hi[1]);
    const __m256d rx = _mm256_set1_pd(l->rx), sx = _mm256_set1_pd(l->sx);
    const __m256d ry = _mm256_set1_pd(l->ry), sy = _mm256_set1_pd(l->sy);
    const __m256d zero = _mm256_setzero_pd(), unit = _mm256_set1_pd(1.0);
    __m256d k0 = _mm256_setr_pd((double)x0, (double)x0 + 1, (double)x0 + 2, (double)x0 + 3);
    __m256d k1 = _mm256_add_pd(k0, _mm256_set1_pd(4.0));
    const __m256d eight = _mm256_set1_pd(8.0);
    const __m256i zi = _mm256_setzero_si256();
    const __m256i sxmax = _mm256_set1_epi32((int32_t)(a->w - 1) * FA_WONE);
    const __m256i symax = _mm256_set1_epi32((int32_t)(a->h - 1) * FA_WONE);
    const __m256i ixmax = _mm256_set1_epi32((int32_t)a->w - 2);
    const __m256i iymax = _mm256_set1_epi32((int32_t)a->h - 2);
    const __m256i stride = _mm256_set1_epi32((int32_t)rs);
    const long long *top = (const long long *)ic->src;
    const long long *bottom = (const long long *)(ic->src + rs);
    __m256i ma[4], mb[4]; /* the pshufb split's masks (unused by the VBMI one) */
    if (C > 1 && !FA_ROWS_VBMI)
        pair_masks(C, ma, mb);
    const __m256i c1 = pair_mask_c1();
    for (int64_t x = x0; x < x1; x += 8) {
#define FA_CLAMP4(r, s, kk, lo, hi) \
    _mm256_min_pd(_mm256_max_pd(_mm256_add_pd(r, _mm256_mul_pd(s, kk)), lo), hi)
        const __m256i cx = _mm256_min_epi32(_mm256_max_epi32(coords8(zero, unit,
            FA_CLAMP4(rx, sx, k0, xlo, xhi), FA_CLAMP4(rx, sx, k1, xlo, xhi)), zi), sxmax);
        const __m256i cy = _mm256_min_epi32(_mm256_max_epi32(coords8(zero, unit,
            FA_CLAMP4(ry, sy, k0, ylo, yhi), FA_CLAMP4(ry, sy, k1, ylo, yhi)), zi), symax);
#undef FA_CLAMP4
        k0 = _mm256_add_pd(k0, eight);
        k1 = _mm256_add_pd(k1, eight);
        /* Order 0 1 4 5 2 3 6 7 (coords8's) until the weights. */
        const __m256i ix = _mm256_min_epi32(_mm256_srai_epi32(cx, FA_WBITS), ixmax);
        const __m256i iy = _mm256_min_epi32(_mm256_srai_epi32(cy, FA_WBITS), iymax);
        const __m256i wxs = _mm256_sub_epi32(cx, _mm256_slli_epi32(ix, FA_WBITS));
        const __m256i wys = _mm256_sub_epi32(cy, _mm256_slli_epi32(iy, FA_WBITS));
        const __m256i wx = unshuffle8(_mm256_or_si256(
            _mm256_sub_epi32(_mm256_set1_epi32(FA_WONE), wxs), _mm256_slli_epi32(wxs, 16)));
        const __m256i wy = unshuffle8(_mm256_or_si256(
            _mm256_sub_epi32(_mm256_set1_epi32(FA_WONE), wys), _mm256_slli_epi32(wys, 16)));
        const __m256i row = _mm256_mullo_epi32(iy, stride);
        __m256i v[4];
        if (C == 1) {
            /* 4 bytes from min(ix, w - 4), shifted down to pixel ix. */
            const __m256i start = _mm256_min_epi32(ix, _mm256_sub_epi32(ixmax, _mm256_set1_epi32(2)));
            const __m256i shift = unshuffle8(_mm256_slli_epi32(_mm256_sub_epi32(ix, start), 3));
            const __m256i off = unshuffle8(_mm256_add_epi32(row, start));
            const __m256i t = _mm256_srlv_epi32(_mm256_i32gather_epi32((const int *)top, off, 1), shift);
            const __m256i b = _mm256_srlv_epi32(_mm256_i32gather_epi32((const int *)bottom, off, 1), shift);
            v[0] = mix_y8(_mm256_madd_epi16(_mm256_shuffle_epi8(t, c1), wx),
                             _mm256_madd_epi16(_mm256_shuffle_epi8(b, c1), wx), wy, kind == 0);
            finish8(ic, 1, &k, v, y, x, kind == 0, kind);
            continue;
        }
        __m256i col = C == 4 ? _mm256_slli_epi32(ix, 2) : _mm256_add_epi32(ix, _mm256_add_epi32(ix, ix));
        __m256i sa = zi, sb = zi;
        if (C == 3) {
            /* From 2 bytes before the pixel (never before the row), shifted back. */
            const __m256i back = _mm256_and_si256(_mm256_cmpgt_epi32(ix, zi), _mm256_set1_epi32(2));
            col = _mm256_sub_epi32(col, back);
            const __m256i bits = _mm256_slli_epi32(back, 3);
            sa = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(bits));
            sb = _mm256_cvtepu32_epi64(_mm256_extracti128_si256(bits, 1));
        }
        const __m256i off = _mm256_add_epi32(row, col);
        const __m128i ia = _mm256_castsi256_si128(off), ib = _mm256_extracti128_si256(off, 1);
        const __m256i ta = _mm256_srlv_epi64(_mm256_i32gather_epi64(top, ia, 1), sa);
        const __m256i tb = _mm256_srlv_epi64(_mm256_i32gather_epi64(top, ib, 1), sb);
        const __m256i ba = _mm256_srlv_epi64(_mm256_i32gather_epi64(bottom, ia, 1), sa);
        const __m256i bb = _mm256_srlv_epi64(_mm256_i32gather_epi64(bottom, ib, 1), sb);
        FA_ROWS(interpolate8)(C, ta, tb, ba, bb, ma, mb, wx, wy, kind == 0, v);
        finish8(ic, C, &k, v, y, x, kind == 0, kind);
    }
}

