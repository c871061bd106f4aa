#include "parallel.h"

#include "fastaug.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int fa_parallel(int threads, int64_t total, fa_task task, void *ctx)
{
    int failed = 0;
#ifdef _OPENMP
    if (threads > 1 && total > 1) {
        const int team = (int64_t)threads < total ? threads : (int)total;
#pragma omp parallel for schedule(dynamic, 1) num_threads(team) reduction(| : failed)
        for (int64_t k = 0; k < total; ++k)
            failed |= task(ctx, k) != 0;
        return failed ? -1 : 0;
    }
#else
    (void)threads;
#endif
    for (int64_t k = 0; k < total; ++k)
        failed |= task(ctx, k) != 0;
    return failed ? -1 : 0;
}

void fa_split_rows(int64_t n, int64_t rows, int threads, int64_t *chunks_per_image,
                   int64_t *rows_per_chunk)
{
    /* Aim for at least four tasks per thread so dynamic scheduling can balance. */
    int64_t per_image = 1;
    if (threads > 1 && n < 4 * (int64_t)threads) {
        per_image = (4 * (int64_t)threads + n - 1) / n;
        if (per_image > rows)
            per_image = rows > 0 ? rows : 1;
    }
    *rows_per_chunk = rows > 0 ? (rows + per_image - 1) / per_image : 1;
    *chunks_per_image = per_image;
}

int fa_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int fa_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
