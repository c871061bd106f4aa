/*
 * Border handling: map an integer sample index onto a row or column of length n.
 *
 * The modes use scipy.ndimage's names; each row below maps indices -3..6 for n = 4
 * (pixels a b c d = 0 1 2 3):
 *
 *   constant  -1 -1 -1 | 0 1 2 3 | -1 -1 -1   (-1: "take cval";  OpenCV BORDER_CONSTANT)
 *   nearest    0  0  0 | 0 1 2 3 |  3  3  3   (aaa|abcd|ddd;     OpenCV BORDER_REPLICATE)
 *   reflect    2  1  0 | 0 1 2 3 |  3  2  1   (cba|abcd|dcb;     OpenCV BORDER_REFLECT)
 *   mirror     3  2  1 | 0 1 2 3 |  2  1  0   (dcb|abcd|cba;     OpenCV BORDER_REFLECT_101)
 *   wrap       1  2  3 | 0 1 2 3 |  0  1  2   (bcd|abcd|abc;     OpenCV BORDER_WRAP)
 *
 * Indices are 64-bit and any value is mapped (periodic modes reduce modulo the period),
 * so callers only need to keep the index representable (coordinates are clamped to
 * +-FA_COORD_LIMIT before the conversion to an integer).
 */
#ifndef FASTAUG_BORDER_H
#define FASTAUG_BORDER_H

#include <stdint.h>

#define FA_COORD_LIMIT 1073741824.0 /* 2**30: far outside any image, safe to convert */

typedef enum {
    FA_FILL_CONSTANT = 0,
    FA_FILL_NEAREST = 1,
    FA_FILL_REFLECT = 2,
    FA_FILL_MIRROR = 3,
    FA_FILL_WRAP = 4
} fa_fill_mode;

static inline int64_t fa_floor_mod(int64_t i, int64_t period)
{
    int64_t r = i % period;
    return r < 0 ? r + period : r;
}

/* Index into 0..n-1 for mode, or -1 (constant mode only) for "outside". n >= 1. */
static inline int64_t fa_border_index(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case FA_FILL_NEAREST:
        return i < 0 ? 0 : n - 1;
    case FA_FILL_REFLECT:
        i = fa_floor_mod(i, 2 * n);
        return i < n ? i : 2 * n - 1 - i;
    case FA_FILL_MIRROR:
        if (n == 1)
            return 0;
        i = fa_floor_mod(i, 2 * n - 2);
        return i < n ? i : 2 * n - 2 - i;
    case FA_FILL_WRAP:
        return fa_floor_mod(i, n);
    default:
        return -1;
    }
}

#endif
