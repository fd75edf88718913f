/* The dynamic batcher's public calls: creation, submit, infer, close. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */

#include "batcher.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "error.h"

enum { kMaxInstances = 64, kMaxBatch = 65536, kMaxQueue = 1 << 20, kMaxDelayUs = 60 * 1000 * 1000 };
static const int64_t kMaxTimeoutUs = (int64_t)1000000000 * 1000000;

int64_t sqz_monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

sqz_batcher_options sqz_batcher_options_default(void) {
  sqz_batcher_options o;
  memset(&o, 0, sizeof o);
  o.engine = sqz_engine_options_default();
  o.instances = 1;
  o.max_batch = 8;
  o.max_delay_us = 500;
  o.max_queue = 256;
  o.output_kind = SQZ_OUTPUT_PROBS;
  return o;
}

static sqz_status check_options(const sqz_batcher_options *o) {
  if (o->instances < 1 || o->instances > kMaxInstances)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "instances %d is outside 1..%d", o->instances,
                    kMaxInstances);
  if (o->max_batch < 1 || o->max_batch > kMaxBatch)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "max_batch %d is outside 1..%d", o->max_batch,
                    kMaxBatch);
  if (o->max_delay_us < 0 || o->max_delay_us > kMaxDelayUs)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "max_delay_us %d is outside 0..%d", o->max_delay_us,
                    kMaxDelayUs);
  if (o->max_queue < 1 || o->max_queue > kMaxQueue)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "max_queue %d is outside 1..%d", o->max_queue,
                    kMaxQueue);
  if ((unsigned)o->output_kind > SQZ_OUTPUT_PROBS)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown output kind %d", (int)o->output_kind);
  if (o->engine.stream)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "engine.stream must be NULL: each instance makes and owns its stream");
  int ended = 0;
  for (int i = 0; i < SQZ_MAX_PREFERRED_BATCH_SIZES; i++) {
    const int p = o->preferred_batch_sizes[i];
    if (p == 0) {
      ended = 1;
    } else if (ended) {
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                      "preferred_batch_sizes[%d] is %d after a 0: the list is zero-terminated", i,
                      p);
    } else if (p < 1 || p > o->max_batch) {
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                      "preferred_batch_sizes[%d] is %d, outside 1..%d (max_batch)", i, p,
                      o->max_batch);
    }
  }
  return SQZ_OK;
}

static sqz_status init_instance(sqz_batcher *b, sqz_batcher_instance *in) {
  const int n = b->options.max_batch;
  in->batcher = b;
  SQZ_TRY(sqz_engine_create(b->model, &b->options.engine, &in->engine));
  in->f32_input = sqz_malloc((size_t)n * b->image_floats * sizeof(float), "batcher input");
  in->u8_input = sqz_malloc((size_t)n * b->image_bytes, "batcher input");
  in->output = sqz_malloc((size_t)n * b->num_classes * sizeof(float), "batcher output");
  in->batch = sqz_calloc((size_t)n, sizeof *in->batch, "batcher batch");
  if (!in->f32_input || !in->u8_input || !in->output || !in->batch) return SQZ_ERR_OUT_OF_MEMORY;
  return SQZ_OK;
}

static void free_instance(sqz_batcher_instance *in) {
  sqz_engine_free(in->engine);
  sqz_free(in->f32_input);
  sqz_free(in->u8_input);
  sqz_free(in->output);
  sqz_free(in->batch);
}

/* Stops and joins the workers, then frees everything. */
static void destroy(sqz_batcher *b, int sync_made) {
  if (sync_made) {
    pthread_mutex_lock(&b->lock);
    b->closing = 1;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
  }
  for (int i = 0; i < b->num_instances; i++)
    if (b->instances[i].started) pthread_join(b->instances[i].thread, NULL);
  for (int i = 0; i < b->num_instances; i++) free_instance(&b->instances[i]);
  if (sync_made) {
    pthread_cond_destroy(&b->idle);
    pthread_cond_destroy(&b->work);
    pthread_mutex_destroy(&b->lock);
  }
  sqz_free(b->instances);
  sqz_free(b->nodes);
  sqz_free(b->batch_sizes);
  sqz_free(b);
}

static int init_sync(sqz_batcher *b) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) return 0;
  /* Delays are measured on the monotonic clock, immune to clock changes. */
  int ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0;
  if (ok && pthread_mutex_init(&b->lock, NULL) != 0) ok = 0;
  if (ok && pthread_cond_init(&b->work, &attr) != 0) {
    pthread_mutex_destroy(&b->lock);
    ok = 0;
  }
  if (ok && pthread_cond_init(&b->idle, &attr) != 0) {
    pthread_cond_destroy(&b->work);
    pthread_mutex_destroy(&b->lock);
    ok = 0;
  }
  pthread_condattr_destroy(&attr);
  return ok;
}

static sqz_status make_nodes(sqz_batcher *b) {
  /* Queued requests, plus those the workers hold while they run. */
  const size_t count =
      (size_t)b->options.max_queue + (size_t)b->options.instances * b->options.max_batch;
  b->nodes = sqz_calloc(count, sizeof *b->nodes, "batcher requests");
  b->batch_sizes =
      sqz_calloc((size_t)b->options.max_batch + 1, sizeof *b->batch_sizes, "batcher stats");
  if (!b->nodes || !b->batch_sizes) return SQZ_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; i + 1 < count; i++) b->nodes[i].next = &b->nodes[i + 1];
  b->free_nodes = &b->nodes[0];
  return SQZ_OK;
}

sqz_status sqz_batcher_create(const sqz_model *model, const sqz_batcher_options *options,
                              sqz_batcher **out) {
  if (!model || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and out must not be NULL");
  sqz_batcher_options o = options ? *options : sqz_batcher_options_default();
  SQZ_TRY(check_options(&o));
  o.engine.max_batch = o.max_batch;
  sqz_batcher *b = sqz_calloc(1, sizeof *b, "batcher");
  if (!b) return SQZ_ERR_OUT_OF_MEMORY;
  b->model = model;
  b->options = o;
  sqz_model_input_shape(model, &b->in_c, &b->in_h, &b->in_w);
  b->num_classes = sqz_model_num_classes(model);
  b->image_floats = (size_t)b->in_c * b->in_h * b->in_w;
  b->image_bytes = (size_t)b->in_h * b->in_w * 3;
  sqz_model_preprocess(model, &b->preprocess);
  b->instances = sqz_calloc((size_t)o.instances, sizeof *b->instances, "batcher instances");
  sqz_status st = b->instances ? make_nodes(b) : SQZ_ERR_OUT_OF_MEMORY;
  for (int i = 0; st == SQZ_OK && i < o.instances; i++) {
    b->num_instances = i + 1;
    st = init_instance(b, &b->instances[i]);
    if (st != SQZ_OK) st = sqz_fail_context(st, "batcher instance %d", i);
  }
  if (st != SQZ_OK) {
    destroy(b, 0);
    return st;
  }
  if (!init_sync(b)) {
    destroy(b, 0);
    return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "batcher: could not make its mutex and conditions");
  }
  for (int i = 0; i < o.instances; i++) {
    sqz_batcher_instance *in = &b->instances[i];
    const int err = pthread_create(&in->thread, NULL, sqz_batcher_worker, in);
    if (err != 0) {
      destroy(b, 1);
      return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "batcher: could not start worker %d: %s", i,
                      strerror(err));
    }
    in->started = 1;
  }
  snprintf(b->description, sizeof b->description, "%d x %s; max_batch %d, max_delay %d us",
           o.instances, sqz_engine_describe(b->instances[0].engine), o.max_batch, o.max_delay_us);
  *out = b;
  return SQZ_OK;
}

static sqz_status check_request(const sqz_batcher *b, const sqz_request *r) {
  if (!r->data || !r->output)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "request data and output must not be NULL");
  if (r->timeout_us < 0)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "request timeout_us %lld is negative",
                    (long long)r->timeout_us);
  size_t want = 0;
  switch (r->kind) {
    case SQZ_REQUEST_F32_NCHW:
    case SQZ_REQUEST_F32_NHWC: want = b->image_floats * sizeof(float); break;
    case SQZ_REQUEST_U8_RGB: want = b->image_bytes; break;
    case SQZ_REQUEST_ENCODED:
      if (r->size == 0) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "encoded request is empty");
      return SQZ_OK;
    default: return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown request kind %d", (int)r->kind);
  }
  if (r->size != want)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "request of %zu bytes; the model's input (%dx%dx%d, %s) is %zu bytes", r->size,
                    b->in_c, b->in_h, b->in_w, r->kind == SQZ_REQUEST_U8_RGB ? "uint8" : "float",
                    want);
  return SQZ_OK;
}

/* Decodes an encoded request and applies the model's resize and crop. */
static sqz_status decode_request(const sqz_batcher *b, const sqz_request *r, uint8_t **out) {
  sqz_image *image = NULL;
  SQZ_TRY(sqz_image_decode(r->data, r->size, &image));
  uint8_t *pixels = sqz_malloc(b->image_bytes, "prepared image");
  sqz_status st = pixels ? sqz_image_prepare(b->model, image, pixels) : SQZ_ERR_OUT_OF_MEMORY;
  sqz_image_free(image);
  if (st != SQZ_OK) {
    sqz_free(pixels);
    return st;
  }
  *out = pixels;
  return SQZ_OK;
}

static sqz_status refuse(sqz_batcher *b, sqz_status status) {
  pthread_mutex_lock(&b->lock);
  b->counts.refused++;
  pthread_mutex_unlock(&b->lock);
  return status;
}

sqz_status sqz_batcher_submit(sqz_batcher *b, const sqz_request *r) {
  if (!b || !r) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "batcher and request must not be NULL");
  if (!r->done) return refuse(b, sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "request done is NULL"));
  sqz_status st = check_request(b, r);
  if (st != SQZ_OK) return refuse(b, st);
  const int64_t now = sqz_monotonic_ns();
  uint8_t *decoded = NULL;
  if (r->kind == SQZ_REQUEST_ENCODED) {
    st = decode_request(b, r, &decoded);
    if (st != SQZ_OK) return refuse(b, sqz_fail_context(st, "encoded request"));
  }
  pthread_mutex_lock(&b->lock);
  sqz_request_node *node = b->free_nodes;
  if (b->closing || b->queued >= b->options.max_queue || !node) {
    const int closing = b->closing, queued = b->queued;
    b->counts.refused++;
    pthread_mutex_unlock(&b->lock);
    sqz_free(decoded);
    if (closing) return sqz_fail(SQZ_ERR_CANCELLED, "the batcher is closed");
    return sqz_fail(SQZ_ERR_QUEUE_FULL, "the batcher's queue is full (%d requests waiting)",
                    queued);
  }
  b->free_nodes = node->next;
  node->request = *r;
  node->decoded = decoded;
  node->submit_ns = now;
  /* Capped at about 31 years, so that the deadline cannot overflow. */
  const int64_t timeout_us = r->timeout_us < kMaxTimeoutUs ? r->timeout_us : kMaxTimeoutUs;
  node->deadline_ns = timeout_us ? now + timeout_us * 1000 : 0;
  node->next = NULL;
  if (b->tail)
    b->tail->next = node;
  else
    b->head = node;
  b->tail = node;
  b->queued++;
  b->outstanding++;
  b->counts.accepted++;
  pthread_cond_signal(&b->work);
  pthread_mutex_unlock(&b->lock);
  return SQZ_OK;
}

/* What sqz_batcher_infer waits on. */
typedef struct waiter {
  pthread_mutex_t lock;
  pthread_cond_t done;
  int finished;
  sqz_status status;
  char message[1024];
} waiter;

static void wake_waiter(void *user_data, sqz_status status, const char *message) {
  waiter *w = user_data;
  pthread_mutex_lock(&w->lock);
  w->status = status;
  snprintf(w->message, sizeof w->message, "%s", message);
  w->finished = 1;
  pthread_cond_signal(&w->done);
  pthread_mutex_unlock(&w->lock);
}

sqz_status sqz_batcher_infer(sqz_batcher *b, const sqz_request *r) {
  if (!b || !r) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "batcher and request must not be NULL");
  if (sqz_batcher_on_worker(b))
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "sqz_batcher_infer called from a callback would wait on its own worker");
  waiter w;
  memset(&w, 0, sizeof w);
  if (pthread_mutex_init(&w.lock, NULL) != 0)
    return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "infer: could not make a mutex");
  if (pthread_cond_init(&w.done, NULL) != 0) {
    pthread_mutex_destroy(&w.lock);
    return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "infer: could not make a condition");
  }
  sqz_request copy = *r;
  copy.done = wake_waiter;
  copy.user_data = &w;
  sqz_status st = sqz_batcher_submit(b, &copy);
  if (st == SQZ_OK) {
    pthread_mutex_lock(&w.lock);
    while (!w.finished) pthread_cond_wait(&w.done, &w.lock);
    pthread_mutex_unlock(&w.lock);
    st = w.status;
    if (st != SQZ_OK) sqz_fail(st, "%s", w.message);
  }
  pthread_cond_destroy(&w.done);
  pthread_mutex_destroy(&w.lock);
  return st;
}

sqz_status sqz_batcher_close(sqz_batcher *b, int drain) {
  if (!b) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "batcher must not be NULL");
  if (sqz_batcher_on_worker(b))
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "sqz_batcher_close called from a callback would wait on its own worker");
  pthread_mutex_lock(&b->lock);
  b->closing = 1;
  sqz_request_node *cancelled = NULL;
  int count = 0;
  if (!drain) {
    cancelled = b->head;
    count = b->queued;
    b->head = b->tail = NULL;
    b->queued = 0;
  }
  pthread_cond_broadcast(&b->work);
  pthread_mutex_unlock(&b->lock);
  /* Complete the cancelled ones in chunks through a small array. */
  sqz_request_node *chunk[64];
  while (count > 0) {
    int n = 0;
    while (n < 64 && cancelled) {
      chunk[n++] = cancelled;
      cancelled = cancelled->next;
    }
    count -= n;
    sqz_batcher_complete(b, chunk, n, SQZ_ERR_CANCELLED,
                         "cancelled: the batcher was closed before the request ran",
                         &b->counts.cancelled, 0);
  }
  pthread_mutex_lock(&b->lock);
  while (b->outstanding > 0) pthread_cond_wait(&b->idle, &b->lock);
  pthread_mutex_unlock(&b->lock);
  return SQZ_OK;
}

void sqz_batcher_free(sqz_batcher *b) {
  if (!b || sqz_batcher_on_worker(b)) return;
  sqz_batcher_close(b, 1);
  destroy(b, 1);
}

sqz_batcher_options sqz_batcher_get_options(const sqz_batcher *b) {
  return b ? b->options : sqz_batcher_options_default();
}

const char *sqz_batcher_describe(const sqz_batcher *b) { return b ? b->description : ""; }

void sqz_debug_batcher_fail_runs(sqz_batcher *b, int n) {
  pthread_mutex_lock(&b->lock);
  b->injected_failures = n;
  pthread_mutex_unlock(&b->lock);
}
