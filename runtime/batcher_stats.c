/* The batcher's statistics: counters, batch sizes, time percentiles. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */

#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "error.h"

void sqz_sample_ring_add(sqz_sample_ring *ring, double value) {
  ring->values[ring->count % SQZ_BATCHER_SAMPLES] = value;
  ring->count++;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of the ring's samples; 0 if none.
 * `scratch` holds SQZ_BATCHER_SAMPLES values. */
static void percentiles(const sqz_sample_ring *ring, double *scratch, double *p50, double *p99) {
  const size_t n = ring->count < SQZ_BATCHER_SAMPLES ? (size_t)ring->count : SQZ_BATCHER_SAMPLES;
  *p50 = *p99 = 0;
  if (n == 0) return;
  memcpy(scratch, ring->values, n * sizeof *scratch);
  qsort(scratch, n, sizeof *scratch, compare_doubles);
  /* Nearest rank: the smallest value with at least p% of samples at or below. */
  const size_t i50 = (n * 50 + 99) / 100, i99 = (n * 99 + 99) / 100;
  *p50 = scratch[i50 - 1];
  *p99 = scratch[i99 - 1];
}

sqz_status sqz_batcher_get_stats(const sqz_batcher *cb, sqz_batcher_stats *out) {
  if (!cb || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "batcher and out must not be NULL");
  /* The lock is the only state a const query changes. */
  sqz_batcher *b = (sqz_batcher *)cb;
  static _Thread_local double scratch[SQZ_BATCHER_SAMPLES];
  pthread_mutex_lock(&b->lock);
  sqz_batcher_stats s = b->counts;
  s.queued = b->queued;
  s.running = b->running;
  percentiles(&b->queue_us, scratch, &s.queue_us_p50, &s.queue_us_p99);
  percentiles(&b->run_us, scratch, &s.run_us_p50, &s.run_us_p99);
  pthread_mutex_unlock(&b->lock);
  *out = s;
  return SQZ_OK;
}

sqz_status sqz_batcher_batch_sizes(const sqz_batcher *cb, uint64_t *counts, int n) {
  if (!cb || !counts || n < 0)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "batcher and counts must not be NULL, n >= 0");
  sqz_batcher *b = (sqz_batcher *)cb;
  pthread_mutex_lock(&b->lock);
  for (int s = 0; s < n; s++) counts[s] = s <= b->options.max_batch ? b->batch_sizes[s] : 0;
  pthread_mutex_unlock(&b->lock);
  return SQZ_OK;
}
