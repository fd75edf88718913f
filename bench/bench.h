/* sqz-bench: the types every part of the benchmark shares (models,
 * configurations, results). Each .c file of bench/ has one job; this header
 * holds only data. */
#ifndef SQZ_BENCH_BENCH_H
#define SQZ_BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "sqz.h"

enum { BENCH_OK = 0, BENCH_RUNTIME_ERROR = 1, BENCH_USAGE_ERROR = 2 };

/* What one result row measures. */
typedef enum bench_kind {
  BENCH_FORWARD = 0, /* device input -> device logits, GPU time (CUDA events) */
  BENCH_E2E = 1,     /* pinned uint8 images -> top-k on the host, wall time */
  BENCH_LAYERS = 2,  /* sqz_engine_profile: time of each layer */
  BENCH_SWEEP = 3    /* as forward, for the design-space sweep's models */
} bench_kind;

enum { BENCH_NUM_KINDS = 4 };

const char *bench_kind_name(bench_kind kind);

/* Which sweep grid a model belongs to (bits). */
enum { BENCH_GRID_SR = 1, BENCH_GRID_PCT = 2 };

/* One model of the run, loaded once. */
typedef struct bench_model {
  char label[128]; /* the "model" of result rows */
  char spec[512];  /* as given on the command line */
  char file[1024]; /* where --save-models wrote it, or "" */
  sqz_model *model;
  int native_h, native_w;        /* input size the model came with */
  int grid;                      /* sweep models: BENCH_GRID_* bits; 0 otherwise */
  double squeeze_ratio, pct_3x3; /* sweep models only */
} bench_model;

/* One engine of the matrix: the modes listed in `kinds` run on it. */
typedef struct bench_config {
  int model; /* index into the run's models */
  sqz_backend backend;
  sqz_precision precision;
  int batch; /* also the engine's max_batch */
  int input; /* square input size */
  int graphs;
  unsigned kinds; /* bit (1 << bench_kind) per mode to run */
} bench_config;

/* Timing statistics of one measured configuration, in milliseconds. */
typedef struct bench_stats {
  int iterations;
  double median_ms, p90_ms, p99_ms, min_ms, max_ms, mean_ms;
} bench_stats;

typedef struct bench_layer_time {
  char name[48];
  sqz_layer_kind kind;
  double median_ms, min_ms;
} bench_layer_time;

typedef enum bench_status { BENCH_MEASURED = 0, BENCH_SKIPPED = 1, BENCH_FAILED = 2 } bench_status;

/* One row of the output (measured) or of the "skipped" list. */
typedef struct bench_result {
  int model;
  sqz_backend backend;
  sqz_precision precision;
  int batch, input, graphs;
  bench_kind kind;
  bench_status status;
  char message[512]; /* why it was skipped or failed */
  char description[512];
  const char *timer; /* "cuda_events" or "wall_clock" */
  bench_stats stats;
  double images_per_s;
  double create_ms; /* engine creation (planning, uploads, algorithm search) */
  sqz_memory_report memory;
  uint64_t peak_bytes;        /* weights + activations + workspace (engine report) */
  int64_t device_delta_bytes; /* cudaMemGetInfo before/after; INT64_MIN: not measured */
  uint64_t params, macs;      /* of the model at this input size */
  int topk;                   /* e2e */
  int output_checked;         /* the first image's output was read back... */
  int output_finite;          /* ...and every value was finite */
  int num_layers;             /* layers mode */
  bench_layer_time *layers;
} bench_result;

#endif
