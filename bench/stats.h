/* sqz-bench: summary statistics of timing samples. */
#ifndef SQZ_BENCH_STATS_H
#define SQZ_BENCH_STATS_H

#include "bench.h"

/* The q-quantile (0..1) of n sorted values, interpolating linearly between
 * the two nearest ranks (numpy's default "linear" method). */
double bench_quantile(const double *sorted, int n, double q);

/* Sorts samples (n >= 1, milliseconds) in place and summarises them. */
bench_stats bench_summarize(double *samples, int n);

/* The number of timed runs: `fixed` if non-zero, else enough runs of
 * `estimate_ms` each to fill min_time_ms, clamped to [min_iters, max_iters]. */
int bench_choose_iterations(int fixed, double estimate_ms, double min_time_ms, int min_iters,
                            int max_iters);

#endif
