/* The batcher's workers: each forms batches from the queue and runs them on
 * its own engine. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "batcher.h"
#include "alloc.h"
#include "engine.h"
#include "error.h"

/* The batcher whose worker this thread is, so that a callback calling
 * close, free or infer on it is refused instead of deadlocking. */
static _Thread_local const sqz_batcher *current_batcher;

int sqz_batcher_on_worker(const sqz_batcher *b) { return current_batcher == b; }

void sqz_batcher_complete(sqz_batcher *b, sqz_request_node **nodes, int count, sqz_status status,
                          const char *message, uint64_t *counter, int was_running) {
  /* Counted first, so that statistics read after a completion include it. */
  pthread_mutex_lock(&b->lock);
  *counter += (uint64_t)count;
  pthread_mutex_unlock(&b->lock);
  for (int i = 0; i < count; i++)
    nodes[i]->request.done(nodes[i]->request.user_data, status, message);
  pthread_mutex_lock(&b->lock);
  for (int i = 0; i < count; i++) {
    sqz_free(nodes[i]->decoded);
    nodes[i]->decoded = NULL;
    nodes[i]->next = b->free_nodes;
    b->free_nodes = nodes[i];
  }
  if (was_running) b->running -= count;
  b->outstanding -= (uint64_t)count;
  if (b->outstanding == 0) pthread_cond_broadcast(&b->idle);
  pthread_mutex_unlock(&b->lock);
}

/* Under the lock: unlinks up to `max` queued requests whose deadline has
 * passed into `out`; returns how many. */
static int take_expired(sqz_batcher *b, int64_t now, sqz_request_node **out, int max) {
  int n = 0;
  sqz_request_node *prev = NULL, *node = b->head;
  while (node && n < max) {
    sqz_request_node *next = node->next;
    if (node->deadline_ns && node->deadline_ns <= now) {
      if (prev)
        prev->next = next;
      else
        b->head = next;
      if (b->tail == node) b->tail = prev;
      b->queued--;
      out[n++] = node;
    } else {
      prev = node;
    }
    node = next;
  }
  return n;
}

/* Under the lock: how many requests to take now, or 0 to wait. */
static int batch_size_now(const sqz_batcher *b, int64_t now) {
  const sqz_batcher_options *o = &b->options;
  if (b->queued >= o->max_batch) return o->max_batch;
  /* Closing: no more requests will come to fill the batch. */
  if (b->closing || now - b->head->submit_ns >= (int64_t)o->max_delay_us * 1000) return b->queued;
  int best = 0;
  for (int i = 0; i < SQZ_MAX_PREFERRED_BATCH_SIZES && o->preferred_batch_sizes[i]; i++) {
    const int p = o->preferred_batch_sizes[i];
    if (p <= b->queued && p > best) best = p;
  }
  return best;
}

/* Under the lock: when the worker must look again without being woken: the
 * oldest request's delay, or the earliest deadline. */
static int64_t next_wake_ns(const sqz_batcher *b) {
  int64_t wake = b->head->submit_ns + (int64_t)b->options.max_delay_us * 1000;
  for (const sqz_request_node *n = b->head; n; n = n->next)
    if (n->deadline_ns && n->deadline_ns < wake) wake = n->deadline_ns;
  return wake;
}

static void wait_until(sqz_batcher *b, int64_t wake_ns) {
  struct timespec t = {(time_t)(wake_ns / 1000000000), (long)(wake_ns % 1000000000)};
  pthread_cond_timedwait(&b->work, &b->lock, &t);
}

/* The batch's inputs into the instance's staging, as one input format: the
 * images as they are when every request is 8-bit, else all as NCHW floats
 * (8-bit ones through the same preprocessing the engines apply). */
static sqz_input_format stage_inputs(const sqz_batcher *b, sqz_batcher_instance *in, int count) {
  int all_u8 = 1;
  for (int i = 0; i < count; i++) {
    const sqz_request_kind k = in->batch[i]->request.kind;
    if (k != SQZ_REQUEST_U8_RGB && k != SQZ_REQUEST_ENCODED) all_u8 = 0;
  }
  for (int i = 0; i < count; i++) {
    const sqz_request_node *node = in->batch[i];
    const uint8_t *pixels = node->decoded ? node->decoded : node->request.data;
    if (all_u8) {
      memcpy(in->u8_input + (size_t)i * b->image_bytes, pixels, b->image_bytes);
      continue;
    }
    float *dst = in->f32_input + (size_t)i * b->image_floats;
    switch (node->request.kind) {
      case SQZ_REQUEST_F32_NCHW:
        memcpy(dst, node->request.data, b->image_floats * sizeof(float));
        break;
      case SQZ_REQUEST_F32_NHWC:
        sqz_nhwc_to_nchw(node->request.data, b->in_c, b->in_h, b->in_w, dst);
        break;
      default: sqz_u8_to_nchw(pixels, b->in_h, b->in_w, &b->preprocess, dst); break;
    }
  }
  return all_u8 ? SQZ_INPUT_U8_RGB : SQZ_INPUT_F32_NCHW;
}

static sqz_status run_engine(sqz_batcher *b, sqz_batcher_instance *in, int count,
                             sqz_input_format format) {
  pthread_mutex_lock(&b->lock);
  const int inject = b->injected_failures > 0;
  if (inject) b->injected_failures--;
  pthread_mutex_unlock(&b->lock);
  if (inject) return sqz_fail(SQZ_ERR_DEVICE, "injected engine failure (test hook)");
  const sqz_io io = {
      count, format,
      format == SQZ_INPUT_U8_RGB ? (const void *)in->u8_input : (const void *)in->f32_input,
      b->options.output_kind, in->output};
  SQZ_TRY(sqz_engine_run_async(in->engine, &io));
  return sqz_engine_synchronize(in->engine);
}

static void run_batch(sqz_batcher *b, sqz_batcher_instance *in, int count) {
  const int64_t start = sqz_monotonic_ns();
  const sqz_input_format format = stage_inputs(b, in, count);
  const sqz_status st = run_engine(b, in, count, format);
  char message[1024] = "";
  if (st == SQZ_OK) {
    const size_t n = (size_t)b->num_classes;
    for (int i = 0; i < count; i++)
      memcpy(in->batch[i]->request.output, in->output + i * n, n * sizeof(float));
  } else {
    snprintf(message, sizeof message, "batch of %d: %s", count, sqz_last_error());
  }
  const int64_t end = sqz_monotonic_ns();
  pthread_mutex_lock(&b->lock);
  for (int i = 0; i < count; i++)
    sqz_sample_ring_add(&b->queue_us, (double)(start - in->batch[i]->submit_ns) / 1e3);
  sqz_sample_ring_add(&b->run_us, (double)(end - start) / 1e3);
  b->batch_sizes[count]++;
  b->counts.batches++;
  pthread_mutex_unlock(&b->lock);
  sqz_batcher_complete(b, in->batch, count, st, message,
                       st == SQZ_OK ? &b->counts.succeeded : &b->counts.failed, 1);
}

void *sqz_batcher_worker(void *arg) {
  sqz_batcher_instance *in = arg;
  sqz_batcher *b = in->batcher;
  current_batcher = b;
  pthread_mutex_lock(&b->lock);
  for (;;) {
    const int64_t now = sqz_monotonic_ns();
    sqz_request_node **expired = in->batch;
    const int num_expired = take_expired(b, now, expired, b->options.max_batch);
    if (num_expired > 0) {
      pthread_mutex_unlock(&b->lock);
      sqz_batcher_complete(b, expired, num_expired, SQZ_ERR_TIMEOUT,
                           "timed out: the request was not started within its timeout_us",
                           &b->counts.timed_out, 0);
      pthread_mutex_lock(&b->lock);
      continue;
    }
    if (b->queued == 0) {
      if (b->closing) break;
      pthread_cond_wait(&b->work, &b->lock);
      continue;
    }
    const int count = batch_size_now(b, now);
    if (count == 0) {
      wait_until(b, next_wake_ns(b));
      continue;
    }
    for (int i = 0; i < count; i++) {
      in->batch[i] = b->head;
      b->head = b->head->next;
    }
    if (!b->head) b->tail = NULL;
    b->queued -= count;
    b->running += count;
    /* Another idle worker may take what is left. */
    if (b->queued > 0) pthread_cond_signal(&b->work);
    pthread_mutex_unlock(&b->lock);
    run_batch(b, in, count);
    pthread_mutex_lock(&b->lock);
  }
  pthread_mutex_unlock(&b->lock);
  current_batcher = NULL;
  return NULL;
}
