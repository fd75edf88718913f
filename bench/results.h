/* sqz-bench: the list of result rows and the speed-ups computed from it. */
#ifndef SQZ_BENCH_RESULTS_H
#define SQZ_BENCH_RESULTS_H

#include "bench.h"

typedef struct bench_result_list {
  bench_result *items;
  int count, capacity;
} bench_result_list;

/* A new zeroed row at the end, or NULL when out of memory (printed). */
bench_result *bench_results_add(bench_result_list *list);
void bench_results_free(bench_result_list *list);
int bench_results_count(const bench_result_list *list, bench_status status);

/* The speed-up of a base row over another row of the same model, kind,
 * precision, batch, input and graphs setting: other's median / base's
 * median (> 1: the base backend is faster). */
typedef struct bench_ratio {
  int base, other; /* indices into the list */
  double speedup;
} bench_ratio;

/* The backend the speed-ups are of: `wanted` if any measured row has it,
 * else the first that has rows of fused, unfused, cudnn, cpu; AUTO if none. */
sqz_backend bench_ratio_base(const bench_result_list *list, sqz_backend wanted);

/* Every ratio of `base` rows over the other measured rows; *out is malloc'd
 * (NULL when there are none). Returns the count, or -1 when out of memory. */
int bench_compute_ratios(const bench_result_list *list, sqz_backend base, bench_ratio **out);

/* "on"/"off" */
const char *bench_onoff(int value);

#endif
