/* Internal: the dynamic batcher's state, shared by its files: batcher.c
 * (creation, submit, close), batcher_worker.c (forming and running
 * batches) and batcher_stats.c (counters and percentiles). */
#ifndef SQZ_RUNTIME_BATCHER_H
#define SQZ_RUNTIME_BATCHER_H

#include <pthread.h>
#include <stdint.h>

#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_request_node {
  sqz_request request;           /* the caller's, copied at submit */
  uint8_t *decoded;              /* an encoded request's prepared pixels, owned */
  int64_t submit_ns;             /* monotonic */
  int64_t deadline_ns;           /* 0: none */
  struct sqz_request_node *next; /* in the queue or the free list */
} sqz_request_node;

typedef struct sqz_batcher_instance {
  sqz_batcher *batcher;
  sqz_engine *engine;
  pthread_t thread;
  int started;
  float *f32_input;         /* max_batch NCHW images */
  uint8_t *u8_input;        /* max_batch RGB images */
  float *output;            /* max_batch x num_classes */
  sqz_request_node **batch; /* the requests of the batch being run */
} sqz_batcher_instance;

enum { SQZ_BATCHER_SAMPLES = 4096 };

/* A ring of the last SQZ_BATCHER_SAMPLES values, for percentiles. */
typedef struct sqz_sample_ring {
  double values[SQZ_BATCHER_SAMPLES];
  uint64_t count; /* ever added */
} sqz_sample_ring;

struct sqz_batcher {
  const sqz_model *model;
  sqz_batcher_options options;
  int in_c, in_h, in_w, num_classes;
  size_t image_floats, image_bytes;
  sqz_preprocess preprocess;
  char description[1024];

  /* Everything below is guarded by lock. */
  pthread_mutex_t lock;
  pthread_cond_t work; /* workers: the queue changed, or closing */
  pthread_cond_t idle; /* closers: nothing outstanding */
  sqz_request_node *nodes, *free_nodes;
  sqz_request_node *head, *tail;
  int queued, running;
  uint64_t outstanding; /* accepted, not yet completed */
  int closing;
  int injected_failures; /* test hook: the next runs that fail */

  sqz_batcher_stats counts; /* the counters; times filled on request */
  uint64_t *batch_sizes;    /* max_batch + 1 */
  sqz_sample_ring queue_us, run_us;

  int num_instances;
  sqz_batcher_instance *instances;
};

int64_t sqz_monotonic_ns(void);

/* The worker thread of one instance; arg is its sqz_batcher_instance. */
void *sqz_batcher_worker(void *arg);

/* Completes `nodes` (count of them, not in the queue) with `status`: counts
 * them in `counter`, calls each callback without the lock, then frees their
 * decoded pixels and returns them to the free list. */
void sqz_batcher_complete(sqz_batcher *b, sqz_request_node **nodes, int count, sqz_status status,
                          const char *message, uint64_t *counter, int was_running);

/* Under the lock: records a sample. */
void sqz_sample_ring_add(sqz_sample_ring *ring, double value);

/* Whether the calling thread is one of b's workers (running a callback). */
int sqz_batcher_on_worker(const sqz_batcher *b);

/* Test hook: the next n batch runs fail as an engine error would. */
void sqz_debug_batcher_fail_runs(sqz_batcher *b, int n);

#ifdef __cplusplus
}
#endif

#endif
