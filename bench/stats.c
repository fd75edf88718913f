/* sqz-bench: quantiles and the choice of iteration counts. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_quantile(const double *sorted, int n, double q) {
  if (n <= 0) return NAN;
  if (q <= 0) return sorted[0];
  if (q >= 1) return sorted[n - 1];
  double pos = q * (n - 1);
  int lo = (int)floor(pos);
  int hi = lo + 1 < n ? lo + 1 : lo;
  double frac = pos - lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

bench_stats bench_summarize(double *samples, int n) {
  bench_stats s = {0};
  if (n <= 0) {
    s.median_ms = s.p90_ms = s.p99_ms = s.min_ms = s.max_ms = s.mean_ms = NAN;
    return s;
  }
  qsort(samples, (size_t)n, sizeof *samples, compare_double);
  double sum = 0;
  for (int i = 0; i < n; i++) sum += samples[i];
  s.iterations = n;
  s.median_ms = bench_quantile(samples, n, 0.5);
  s.p90_ms = bench_quantile(samples, n, 0.9);
  s.p99_ms = bench_quantile(samples, n, 0.99);
  s.min_ms = samples[0];
  s.max_ms = samples[n - 1];
  s.mean_ms = sum / n;
  return s;
}

int bench_choose_iterations(int fixed, double estimate_ms, double min_time_ms, int min_iters,
                            int max_iters) {
  if (fixed > 0) return fixed;
  double want = estimate_ms > 0 ? ceil(min_time_ms / estimate_ms) : (double)max_iters;
  if (want < min_iters) want = min_iters;
  if (want > max_iters) want = max_iters;
  return (int)want;
}
