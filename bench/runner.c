/* sqz-bench: one configuration from buffers to result rows.
 *
 * forward (and sweep): random float NCHW input already on the device (host
 * memory on the cpu backend), logits into a device buffer; each timed run is
 * CUDA events around sqz_engine_run_async on the bench's own stream, then a
 * synchronize, so every sample is one isolated forward pass in GPU time.
 * e2e: random uint8 RGB images in pinned host memory, probabilities back into
 * pinned host memory, top-k of every image on the host; wall time.
 * layers: sqz_engine_profile (GPU time between events per layer). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu.h"
#include "stats.h"

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bench_runner_init(bench_runner *r, const bench_options *opt, int total) {
  memset(r, 0, sizeof *r);
  r->opt = opt;
  r->total = total;
  r->started = bench_now();
}

void bench_runner_free(bench_runner *r) {
  bench_gpu_event_destroy(r->start);
  bench_gpu_event_destroy(r->stop);
  bench_gpu_stream_destroy(r->stream);
  r->start = r->stop = r->stream = NULL;
}

static int is_gpu_backend(sqz_backend b) { return b != SQZ_BACKEND_CPU; }

/* The first time a GPU configuration runs: is there a device; the stream
 * and events. Returns 0 when the GPU is usable, else the reason in why. */
static int ensure_gpu(bench_runner *r) {
  if (!r->gpu_checked) {
    r->gpu_checked = 1;
    r->gpu_count = bench_gpu_device_count(r->gpu_why, sizeof r->gpu_why);
    if (r->gpu_count > 0 && r->opt->device >= r->gpu_count) {
      snprintf(r->gpu_why, sizeof r->gpu_why, "device %d requested, %d present", r->opt->device,
               r->gpu_count);
      r->gpu_count = 0;
    }
    if (r->gpu_count > 0) {
      if (bench_gpu_set_device(r->opt->device) || bench_gpu_stream_create(&r->stream) ||
          bench_gpu_event_create(&r->start) || bench_gpu_event_create(&r->stop)) {
        snprintf(r->gpu_why, sizeof r->gpu_why, "setting up the CUDA device failed");
        r->gpu_count = -1;
      }
    }
  }
  return r->gpu_count > 0 ? 0 : -1;
}

/* One line on stderr per distinct reason; the configurations it covers are
 * all in the JSON and at the end of the Markdown. */
static void note_once(bench_runner *r, const char *what, const char *reason) {
  char line[768];
  snprintf(line, sizeof line, "%s: %s", what, reason);
  for (int i = 0; i < r->num_notes; i++)
    if (strcmp(r->notes[i], line) == 0) return;
  if (r->num_notes < (int)(sizeof r->notes / sizeof r->notes[0]))
    snprintf(r->notes[r->num_notes++], sizeof r->notes[0], "%s", line);
  fprintf(stderr, "sqz-bench: skipping %s\n", line);
}

/* --- buffers -------------------------------------------------------------- */

typedef struct buffers {
  int gpu;
  void *in_f32;    /* forward/layers input: device (GPU) or host (cpu) */
  float *out;      /* forward/layers output: device (GPU) or host (cpu) */
  uint8_t *in_u8;  /* e2e: pinned host (malloc on cpu) */
  float *out_host; /* e2e: pinned host */
  int *topk;
  size_t in_elems, out_elems;
} buffers;

static uint64_t next_random(uint64_t *s) {
  /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

/* Random values in [-2, 2): about the range of a normalised image. */
static void fill_random_f32(float *p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < n; i++) p[i] = (float)((next_random(&s) >> 40) * (4.0 / 16777216.0) - 2.0);
}

static void fill_random_u8(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 7;
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(next_random(&s) >> 56);
}

static void free_buffers(buffers *b) {
  if (b->gpu) {
    bench_gpu_free(b->in_f32);
    bench_gpu_free(b->out);
    bench_gpu_host_free(b->in_u8);
    bench_gpu_host_free(b->out_host);
  } else {
    free(b->in_f32);
    free(b->out);
    free(b->in_u8);
    free(b->out_host);
  }
  free(b->topk);
  memset(b, 0, sizeof *b);
}

/* Host memory: pinned for GPU engines (so copies are asynchronous), plain
 * for the cpu backend. */
static int host_alloc(int pinned, void **p, size_t bytes, const char *what) {
  if (pinned) return bench_gpu_host_alloc(p, bytes, what);
  *p = malloc(bytes);
  if (*p) return BENCH_OK;
  fprintf(stderr, "sqz-bench: out of memory (%s, %zu bytes)\n", what, bytes);
  return BENCH_RUNTIME_ERROR;
}

static int alloc_buffers(buffers *b, const bench_config *c, const bench_options *opt, int gpu,
                         int classes, int topk) {
  memset(b, 0, sizeof *b);
  b->gpu = gpu;
  b->in_elems = (size_t)c->batch * 3 * c->input * c->input;
  b->out_elems = (size_t)c->batch * classes;
  uint64_t seed = opt->seed ^ ((uint64_t)c->batch << 32) ^ (uint64_t)c->input;
  const unsigned device_kinds = (1u << BENCH_FORWARD) | (1u << BENCH_LAYERS) | (1u << BENCH_SWEEP);
  int rc = BENCH_OK;
  if (c->kinds & device_kinds) {
    float *host = NULL;
    rc = host_alloc(0, (void **)&host, b->in_elems * sizeof(float), "input");
    if (rc) return rc;
    fill_random_f32(host, b->in_elems, seed);
    if (gpu) {
      rc = bench_gpu_malloc(&b->in_f32, b->in_elems * sizeof(float), "input");
      if (!rc) rc = bench_gpu_upload(b->in_f32, host, b->in_elems * sizeof(float), "input");
      if (!rc) rc = bench_gpu_malloc((void **)&b->out, b->out_elems * sizeof(float), "output");
      free(host);
    } else {
      b->in_f32 = host;
      rc = host_alloc(0, (void **)&b->out, b->out_elems * sizeof(float), "output");
    }
    if (rc) return rc;
  }
  if (c->kinds & (1u << BENCH_E2E)) {
    rc = host_alloc(gpu, (void **)&b->in_u8, b->in_elems, "e2e images");
    if (!rc)
      rc = host_alloc(gpu, (void **)&b->out_host, b->out_elems * sizeof(float), "e2e output");
    if (!rc)
      rc = host_alloc(0, (void **)&b->topk, (size_t)c->batch * (size_t)topk * sizeof(int), "top-k");
    if (rc) return rc;
    fill_random_u8(b->in_u8, b->in_elems, seed + 1);
  }
  return BENCH_OK;
}

/* --- timing --------------------------------------------------------------- */

typedef struct timed_run {
  bench_runner *r;
  sqz_engine *engine;
  sqz_io io;
  int gpu_events; /* time with CUDA events (else wall clock) */
  int topk, classes;
  int *topk_out;
  char error[512];
} timed_run;

static int library_error(timed_run *t, const char *call, sqz_status st) {
  snprintf(t->error, sizeof t->error, "%s: %s: %s", call, sqz_status_string(st), sqz_last_error());
  return BENCH_RUNTIME_ERROR;
}

static int run_once(timed_run *t, double *ms) {
  sqz_status st;
  if (t->gpu_events) {
    if (bench_gpu_event_record(t->r->start, t->r->stream)) {
      snprintf(t->error, sizeof t->error, "cudaEventRecord failed (see above)");
      return BENCH_RUNTIME_ERROR;
    }
    if ((st = sqz_engine_run_async(t->engine, &t->io)) != SQZ_OK)
      return library_error(t, "sqz_engine_run_async", st);
    if (bench_gpu_event_record(t->r->stop, t->r->stream)) {
      snprintf(t->error, sizeof t->error, "cudaEventRecord failed (see above)");
      return BENCH_RUNTIME_ERROR;
    }
    if ((st = sqz_engine_synchronize(t->engine)) != SQZ_OK)
      return library_error(t, "sqz_engine_synchronize", st);
    if (bench_gpu_elapsed_ms(t->r->start, t->r->stop, ms)) {
      snprintf(t->error, sizeof t->error, "cudaEventElapsedTime failed (see above)");
      return BENCH_RUNTIME_ERROR;
    }
    return BENCH_OK;
  }
  double t0 = bench_now();
  if ((st = sqz_engine_run_async(t->engine, &t->io)) != SQZ_OK)
    return library_error(t, "sqz_engine_run_async", st);
  if ((st = sqz_engine_synchronize(t->engine)) != SQZ_OK)
    return library_error(t, "sqz_engine_synchronize", st);
  if (t->topk_out) {
    for (int b = 0; b < t->io.batch; b++) {
      st = sqz_top_k(t->io.output + (size_t)b * t->classes, t->classes, t->topk,
                     t->topk_out + (size_t)b * t->topk, NULL);
      if (st != SQZ_OK) return library_error(t, "sqz_top_k", st);
    }
  }
  *ms = (bench_now() - t0) * 1e3;
  return BENCH_OK;
}

/* Warm-up runs, then timed ones; the warm-up runs after the first give the
 * estimate for the automatic iteration count. */
static int measure(timed_run *t, bench_stats *out) {
  const bench_options *o = t->r->opt;
  double warm_sum = 0, ms = 0;
  int warm_n = 0;
  for (int i = 0; i < o->warmup; i++) {
    if (run_once(t, &ms)) return BENCH_RUNTIME_ERROR;
    if (i > 0) warm_sum += ms, warm_n++;
  }
  if (o->iters == 0 && warm_n == 0) { /* no estimate yet: one probe run */
    if (run_once(t, &ms)) return BENCH_RUNTIME_ERROR;
    warm_sum = ms;
    warm_n = 1;
  }
  int iters = bench_choose_iterations(o->iters, warm_n ? warm_sum / warm_n : 0, o->min_time_ms,
                                      o->min_iters, o->max_iters);
  double *samples = malloc((size_t)iters * sizeof *samples);
  if (!samples) {
    snprintf(t->error, sizeof t->error, "out of memory for %d samples", iters);
    return BENCH_RUNTIME_ERROR;
  }
  for (int i = 0; i < iters; i++) {
    if (run_once(t, &samples[i])) {
      free(samples);
      return BENCH_RUNTIME_ERROR;
    }
  }
  *out = bench_summarize(samples, iters);
  free(samples);
  return BENCH_OK;
}

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The layers mode: profile calls; per call the sum of the layers is one
 * sample, and each layer's median and minimum over the calls are kept. */
static int measure_layers(timed_run *t, const sqz_model *model, bench_result *row) {
  const bench_options *o = t->r->opt;
  const int nl = sqz_model_num_layers(model);
  float *layer_ms = calloc((size_t)nl, sizeof *layer_ms);
  if (!layer_ms) {
    snprintf(t->error, sizeof t->error, "out of memory");
    return BENCH_RUNTIME_ERROR;
  }
  sqz_status st;
  double warm_sum = 0;
  int warm_n = 0;
  const int warmup = o->warmup > 0 ? o->warmup : 1; /* the first call has one-time costs */
  for (int i = 0; i < warmup; i++) {
    if ((st = sqz_engine_profile(t->engine, &t->io, layer_ms)) != SQZ_OK) {
      free(layer_ms);
      return library_error(t, "sqz_engine_profile", st);
    }
    if (i > 0 || warmup == 1) {
      double sum = 0;
      for (int l = 0; l < nl; l++) sum += layer_ms[l];
      warm_sum += sum;
      warm_n++;
    }
  }
  int iters = bench_choose_iterations(o->iters, warm_sum / warm_n, o->min_time_ms, o->min_iters,
                                      o->max_iters);
  double *per_layer = malloc((size_t)iters * (size_t)nl * sizeof *per_layer);
  double *totals = malloc((size_t)iters * sizeof *totals);
  row->layers = calloc((size_t)nl, sizeof *row->layers);
  if (!per_layer || !totals || !row->layers) {
    free(layer_ms);
    free(per_layer);
    free(totals);
    snprintf(t->error, sizeof t->error, "out of memory for %d x %d samples", iters, nl);
    return BENCH_RUNTIME_ERROR;
  }
  int rc = BENCH_OK;
  for (int i = 0; i < iters && rc == BENCH_OK; i++) {
    if ((st = sqz_engine_profile(t->engine, &t->io, layer_ms)) != SQZ_OK) {
      rc = library_error(t, "sqz_engine_profile", st);
      break;
    }
    totals[i] = 0;
    for (int l = 0; l < nl; l++) {
      per_layer[(size_t)l * iters + i] = layer_ms[l];
      totals[i] += layer_ms[l];
    }
  }
  if (rc == BENCH_OK) {
    row->stats = bench_summarize(totals, iters);
    row->num_layers = nl;
    for (int l = 0; l < nl; l++) {
      double *col = per_layer + (size_t)l * iters;
      qsort(col, (size_t)iters, sizeof *col, compare_double);
      sqz_layer_info info;
      if (sqz_model_layer(model, l, &info) == SQZ_OK) {
        snprintf(row->layers[l].name, sizeof row->layers[l].name, "%s", info.name);
        row->layers[l].kind = info.kind;
      }
      row->layers[l].median_ms = bench_quantile(col, iters, 0.5);
      row->layers[l].min_ms = col[0];
    }
  }
  free(layer_ms);
  free(per_layer);
  free(totals);
  return rc;
}

/* Reads back the first image's output and checks it is finite. */
static void check_output(const float *out, int classes, int on_device, bench_result *row) {
  float *host = malloc((size_t)classes * sizeof *host);
  if (!host) return;
  int ok = on_device ? bench_gpu_download(host, out, (size_t)classes * sizeof *host, "logits") == 0
                     : (memcpy(host, out, (size_t)classes * sizeof *host), 1);
  if (ok) {
    row->output_checked = 1;
    row->output_finite = 1;
    for (int i = 0; i < classes; i++) row->output_finite &= isfinite(host[i]) != 0;
  }
  free(host);
}

/* --- one configuration ---------------------------------------------------- */

static bench_result *add_row(bench_result_list *list, const bench_config *c, bench_kind kind,
                             const bench_model *m) {
  bench_result *row = bench_results_add(list);
  if (!row) return NULL;
  row->model = c->model;
  row->backend = c->backend;
  row->precision = c->precision;
  row->batch = c->batch;
  row->input = c->input;
  row->graphs = kind == BENCH_LAYERS ? 0 : c->graphs;
  row->kind = kind;
  row->params = sqz_model_param_count(m->model);
  row->macs = sqz_model_macs(m->model);
  return row;
}

/* One row per mode, all with the same status and message. */
static int add_rows(bench_result_list *list, const bench_config *c, const bench_model *m,
                    bench_status status, const char *message) {
  for (int k = 0; k < BENCH_NUM_KINDS; k++) {
    if (!(c->kinds & (1u << k))) continue;
    bench_result *row = add_row(list, c, (bench_kind)k, m);
    if (!row) return BENCH_RUNTIME_ERROR;
    row->status = status;
    snprintf(row->message, sizeof row->message, "%s", message);
  }
  return status == BENCH_FAILED ? BENCH_RUNTIME_ERROR : BENCH_OK;
}

static void progress(bench_runner *r, const bench_model *m, const bench_config *c,
                     const bench_result *row) {
  if (r->opt->quiet) return;
  double elapsed = bench_now() - r->started;
  double left = r->done > 0 ? elapsed / r->done * (r->total - r->done) : 0;
  fprintf(stderr, "[%d/%d %.0fs, ~%.0fs left] %s %s %s batch %d input %d graphs %s %s: ", r->done,
          r->total, elapsed, left, m->label, sqz_backend_name(c->backend),
          sqz_precision_name(c->precision), c->batch, c->input, bench_onoff(row->graphs),
          bench_kind_name(row->kind));
  if (row->status == BENCH_MEASURED)
    fprintf(stderr, "median %.4g ms, p99 %.4g ms, %.6g images/s (%d runs)\n", row->stats.median_ms,
            row->stats.p99_ms, row->images_per_s, row->stats.iterations);
  else
    fprintf(stderr, "%s\n", row->status == BENCH_FAILED ? "FAILED" : "skipped");
}

int bench_run_config(bench_runner *r, bench_model *m, const bench_config *c,
                     bench_result_list *list) {
  const bench_options *o = r->opt;
  char what[160], reason[512];
  snprintf(what, sizeof what, "%s %s", sqz_backend_name(c->backend),
           sqz_precision_name(c->precision));
  r->done++;

  sqz_status st = sqz_model_set_input_size(m->model, c->input, c->input);
  if (st != SQZ_OK) {
    snprintf(reason, sizeof reason, "%s", sqz_last_error());
    note_once(r, m->label, reason);
    return add_rows(list, c, m, BENCH_SKIPPED, reason);
  }
  const int gpu = is_gpu_backend(c->backend);
  if (gpu && sqz_backend_is_built(c->backend) && ensure_gpu(r)) {
    snprintf(reason, sizeof reason, "no usable GPU: %s", r->gpu_why);
    note_once(r, what, reason);
    return add_rows(list, c, m, BENCH_SKIPPED, reason);
  }
  const int classes = sqz_model_num_classes(m->model);
  const int topk = o->topk < classes ? o->topk : classes;
  buffers buf;
  int rc = BENCH_OK;
  /* Buffers only for a backend that can exist; the engine says why not. */
  if (sqz_backend_is_built(c->backend) &&
      !(c->backend == SQZ_BACKEND_CPU && c->precision != SQZ_PRECISION_FP32))
    rc = alloc_buffers(&buf, c, o, gpu, classes, topk);
  else
    memset(&buf, 0, sizeof buf);
  if (rc) {
    free_buffers(&buf);
    return add_rows(list, c, m, BENCH_FAILED, "allocating the bench's buffers failed");
  }
  size_t free_before = 0, free_after = 0, total = 0;
  int have_mem = gpu;
  if (have_mem && bench_gpu_mem_info(&free_before, &total)) have_mem = 0;

  sqz_engine_options eo = sqz_engine_options_default();
  eo.backend = c->backend;
  eo.precision = c->precision;
  eo.device = o->device;
  eo.max_batch = c->batch;
  eo.stream = gpu ? r->stream : NULL;
  eo.cuda_graphs = c->graphs;
  eo.cpu_threads = o->threads;
  eo.allow_tf32 = o->tf32;
  sqz_engine *engine = NULL;
  double t0 = bench_now();
  st = sqz_engine_create(m->model, &eo, &engine);
  double create_ms = (bench_now() - t0) * 1e3;
  if (st != SQZ_OK) {
    snprintf(reason, sizeof reason, "%s", sqz_last_error());
    free_buffers(&buf);
    if (st == SQZ_ERR_UNSUPPORTED || st == SQZ_ERR_NO_DEVICE) {
      note_once(r, what, reason);
      return add_rows(list, c, m, BENCH_SKIPPED, reason);
    }
    char msg[600];
    snprintf(msg, sizeof msg, "sqz_engine_create: %s: %s", sqz_status_string(st), reason);
    fprintf(stderr, "sqz-bench: %s %s batch %d input %d: %s\n", m->label, what, c->batch, c->input,
            msg);
    return add_rows(list, c, m, BENCH_FAILED, msg);
  }
  if (gpu) r->gpu_used = 1;
  sqz_memory_report mem;
  memset(&mem, 0, sizeof mem);
  (void)sqz_engine_memory(engine, &mem);

  int first_row = list->count;
  for (int k = 0; k < BENCH_NUM_KINDS; k++) {
    if (!(c->kinds & (1u << k))) continue;
    const bench_kind kind = (bench_kind)k;
    bench_result *row = add_row(list, c, kind, m);
    if (!row) {
      rc = BENCH_RUNTIME_ERROR;
      break;
    }
    snprintf(row->description, sizeof row->description, "%s", sqz_engine_describe(engine));
    row->create_ms = create_ms;
    row->memory = mem;
    row->peak_bytes = (uint64_t)mem.weight_bytes + mem.activation_bytes + mem.workspace_bytes;
    timed_run t;
    memset(&t, 0, sizeof t);
    t.r = r;
    t.engine = engine;
    t.io.batch = c->batch;
    t.classes = classes;
    int krc;
    if (kind == BENCH_E2E) {
      t.io.input_format = SQZ_INPUT_U8_RGB;
      t.io.input = buf.in_u8;
      t.io.output_kind = SQZ_OUTPUT_PROBS;
      t.io.output = buf.out_host;
      t.topk = topk;
      t.topk_out = buf.topk;
      row->topk = topk;
      row->timer = "wall_clock";
      krc = measure(&t, &row->stats);
      if (!krc) check_output(buf.out_host, classes, 0, row);
    } else {
      t.io.input_format = SQZ_INPUT_F32_NCHW;
      t.io.input = buf.in_f32;
      t.io.output_kind = SQZ_OUTPUT_LOGITS;
      t.io.output = buf.out;
      t.gpu_events = gpu;
      row->timer = gpu ? "cuda_events" : "wall_clock";
      krc = kind == BENCH_LAYERS ? measure_layers(&t, m->model, row) : measure(&t, &row->stats);
      if (!krc) check_output(buf.out, classes, gpu, row);
    }
    if (krc) {
      row->status = BENCH_FAILED;
      snprintf(row->message, sizeof row->message, "%s", t.error);
      fprintf(stderr, "sqz-bench: %s %s batch %d input %d %s: %s\n", m->label, what, c->batch,
              c->input, bench_kind_name(kind), t.error);
      rc = BENCH_RUNTIME_ERROR;
    } else {
      row->images_per_s = c->batch * 1e3 / row->stats.median_ms;
      if (row->output_checked && !row->output_finite)
        fprintf(stderr,
                "sqz-bench: warning: %s %s batch %d %s: the output has non-finite "
                "values\n",
                m->label, what, c->batch, bench_kind_name(kind));
    }
    progress(r, m, c, row);
  }
  if (have_mem && bench_gpu_mem_info(&free_after, &total) == 0)
    for (int i = first_row; i < list->count; i++)
      list->items[i].device_delta_bytes = (int64_t)free_before - (int64_t)free_after;
  sqz_engine_free(engine);
  free_buffers(&buf);
  return rc;
}
