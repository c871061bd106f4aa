/*
 * Splitting a batch into tasks and running them on OpenMP threads (or serially when
 * the extension is built without OpenMP). Results never depend on the split: every
 * output pixel is computed by the same code whichever task holds it.
 */
#ifndef FASTAUG_PARALLEL_H
#define FASTAUG_PARALLEL_H

#include <stdint.h>

/* A task computes part k of the work; it returns 0, or -1 when it failed. */
typedef int (*fa_task)(void *ctx, int64_t k);

/* Runs task(ctx, k) for k in 0..total-1 on up to `threads` threads; returns -1 if any
   task failed, else 0. */
int fa_parallel(int threads, int64_t total, fa_task task, void *ctx);

/* Chooses how many row chunks each of n images is split into so that a batch smaller
   than the thread count still keeps every thread busy. */
void fa_split_rows(int64_t n, int64_t rows, int threads, int64_t *chunks_per_image,
                   int64_t *rows_per_chunk);

#endif
