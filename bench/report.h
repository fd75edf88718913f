/* sqz-bench: everything the output is made from, and the two writers
 * (report_json.c, report_markdown.c). */
#ifndef SQZ_BENCH_REPORT_H
#define SQZ_BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"
#include "device_info.h"
#include "options.h"
#include "results.h"

typedef struct bench_report {
  const bench_options *opt;
  const bench_model *models;
  int num_models, sweep_start;
  const bench_result_list *results;
  const bench_ratio *ratios;
  int num_ratios;
  sqz_backend ratio_base; /* AUTO: no ratios */
  const bench_device_info *device;
  char created[32]; /* UTC, ISO 8601 */
  double wall_s;
} bench_report;

/* The JSON document (schema: docs/benchmarks.md). */
void bench_write_json(FILE *out, void *report);
/* The Markdown tables. */
void bench_write_markdown(FILE *out, void *report);

#endif
