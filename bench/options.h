/* sqz-bench: command-line options, their defaults and --help. */
#ifndef SQZ_BENCH_OPTIONS_H
#define SQZ_BENCH_OPTIONS_H

#include <stdio.h>

#include "bench.h"

enum { BENCH_MAX_LIST = 32, BENCH_MAX_MODELS = 64 };

typedef struct bench_options {
  char models[BENCH_MAX_MODELS][512]; /* specs; see model_spec.h */
  int num_models;
  sqz_backend backends[8];
  int num_backends;
  sqz_precision precisions[2];
  int num_precisions;
  int batches[BENCH_MAX_LIST];
  int num_batches;
  int inputs[BENCH_MAX_LIST]; /* 0: the model's own input size */
  int num_inputs;
  int graphs[2];
  int num_graphs;
  unsigned kinds; /* bit (1 << bench_kind) */
  /* design-space sweep */
  sqz_backend sweep_backends[8];
  int num_sweep_backends;
  int sweep_batches[BENCH_MAX_LIST];
  int num_sweep_batches;
  /* timing */
  int warmup;
  int iters; /* 0: automatic, from min_time_ms within [min_iters, max_iters] */
  int min_iters, max_iters;
  double min_time_ms;
  int topk;
  /* engines */
  int device;
  int threads; /* cpu backend */
  int tf32;
  uint64_t seed;
  /* output */
  const char *json_path;
  const char *markdown_path;
  const char *save_models_dir;
  sqz_backend ratio_base;
  int list_only;
  int quiet;
  const char *command_line; /* argv joined, for the JSON */
} bench_options;

/* Parses argv into *out. Returns BENCH_OK, BENCH_USAGE_ERROR (after saying
 * why on stderr), or -1 when --help or --version was printed (exit 0). */
int bench_parse_options(int argc, char **argv, bench_options *out);

void bench_print_help(FILE *out);

#endif
