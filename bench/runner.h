/* sqz-bench: running one configuration: buffers, the engine, warm-up and
 * the timed runs of each mode, into result rows. */
#ifndef SQZ_BENCH_RUNNER_H
#define SQZ_BENCH_RUNNER_H

#include "bench.h"
#include "options.h"
#include "results.h"

typedef struct bench_runner {
  const bench_options *opt;
  int gpu_checked, gpu_count, gpu_used;
  char gpu_why[256];
  void *stream;        /* the bench's CUDA stream, given to every GPU engine */
  void *start, *stop;  /* CUDA events */
  char notes[16][768]; /* skip reasons already printed */
  int num_notes;
  int done, total; /* progress */
  double started;  /* monotonic seconds */
} bench_runner;

void bench_runner_init(bench_runner *r, const bench_options *opt, int total);
void bench_runner_free(bench_runner *r);

/* Runs configuration c of model m, appending one row per mode in c->kinds
 * (measured, skipped or failed). Returns BENCH_OK, or BENCH_RUNTIME_ERROR
 * when a row failed or memory ran out. */
int bench_run_config(bench_runner *r, bench_model *m, const bench_config *c,
                     bench_result_list *list);

/* Monotonic seconds. */
double bench_now(void);

#endif
