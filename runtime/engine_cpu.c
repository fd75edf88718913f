/* The cpu backend: the reference operators of kernels/ref over buffers
 * planned at creation (two ping-pong activations, the squeeze output and the
 * convolution scratch), one image at a time. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <time.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../kernels/ref/ref_ops.h"
#include "alloc.h"
#include "engine.h"
#include "error.h"

typedef struct cpu_engine {
  float *act[2];
  float *squeeze;
  float *scratch;
} cpu_engine;

static sqz_ref_conv_shape conv_shape(const sqz_conv *c, int in_h, int in_w) {
  sqz_ref_conv_shape s;
  s.in_c = c->in_channels;
  s.in_h = in_h;
  s.in_w = in_w;
  s.out_c = c->out_channels;
  s.out_h = sqz_conv_out_size(in_h, c->kernel, c->stride, c->pad);
  s.out_w = sqz_conv_out_size(in_w, c->kernel, c->stride, c->pad);
  s.kernel = c->kernel;
  s.stride = c->stride;
  s.pad = c->pad;
  return s;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Scratch for the largest convolution of the network. */
static size_t plan_scratch(const sqz_engine *e) {
  size_t best = 0;
  for (int i = 0; i < e->num_layers; i++) {
    const sqz_layer *l = &e->layers[i];
    if (l->kind == SQZ_LAYER_CONV) {
      sqz_ref_conv_shape s = conv_shape(&l->conv, l->in_h, l->in_w);
      best = max_size(best, sqz_ref_conv2d_scratch(&s));
    } else if (l->kind == SQZ_LAYER_FIRE) {
      const sqz_fire *f = &l->fire;
      sqz_ref_conv_shape s = conv_shape(&f->squeeze, l->in_h, l->in_w);
      best = max_size(best, sqz_ref_conv2d_scratch(&s));
      s = conv_shape(&f->expand3x3, l->in_h, l->in_w);
      best = max_size(best, sqz_ref_conv2d_scratch(&s));
      if (f->bypass == SQZ_BYPASS_COMPLEX) {
        s = conv_shape(&f->shortcut, l->in_h, l->in_w);
        best = max_size(best, sqz_ref_conv2d_scratch(&s));
      }
    }
  }
  return best;
}

static void run_conv(const sqz_engine *e, cpu_engine *c, const sqz_conv *conv, int in_h, int in_w,
                     const float *in, float *out, int accumulate) {
  const float *w = e->model->weights;
  sqz_ref_conv_shape s = conv_shape(conv, in_h, in_w);
  sqz_ref_conv2d(&s, in, w + conv->weight, w + conv->bias, conv->relu, accumulate, out, c->scratch);
}

/* Fire: squeeze into its buffer, the expands straight into their channel
 * ranges of the output (that is the concatenation), then the shortcut. */
static void run_fire(const sqz_engine *e, cpu_engine *c, const sqz_layer *l, const float *in,
                     float *out) {
  const sqz_fire *f = &l->fire;
  const size_t hw = (size_t)l->out_h * l->out_w;
  run_conv(e, c, &f->squeeze, l->in_h, l->in_w, in, c->squeeze, 0);
  run_conv(e, c, &f->expand1x1, l->in_h, l->in_w, c->squeeze, out, 0);
  run_conv(e, c, &f->expand3x3, l->in_h, l->in_w, c->squeeze,
           out + (size_t)f->expand1x1.out_channels * hw, 0);
  if (f->bypass == SQZ_BYPASS_SIMPLE)
    sqz_ref_add(out, in, (size_t)l->out_c * hw);
  else if (f->bypass == SQZ_BYPASS_COMPLEX)
    run_conv(e, c, &f->shortcut, l->in_h, l->in_w, in, out, 1);
}

static void load_input(const sqz_engine *e, const sqz_io *io, int b, float *dst) {
  const size_t n = (size_t)e->in_c * e->in_h * e->in_w;
  switch (io->input_format) {
    case SQZ_INPUT_F32_NCHW:
      memcpy(dst, (const float *)io->input + (size_t)b * n, n * sizeof *dst);
      break;
    case SQZ_INPUT_F32_NHWC:
      sqz_nhwc_to_nchw((const float *)io->input + (size_t)b * n, e->in_c, e->in_h, e->in_w, dst);
      break;
    case SQZ_INPUT_U8_RGB:
      sqz_u8_to_nchw((const uint8_t *)io->input + (size_t)b * n, e->in_h, e->in_w,
                     &e->model->preprocess, dst);
      break;
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* One image through the network; layer_ms (or NULL) accumulates the time
 * of each layer. */
static void run_image(const sqz_engine *e, cpu_engine *c, const sqz_io *io, int b,
                      float *layer_ms) {
  float *cur = c->act[0], *next = c->act[1];
  load_input(e, io, b, cur);
  float *logits = io->output + (size_t)b * e->num_classes;
  for (int i = 0; i < e->num_layers; i++) {
    const sqz_layer *l = &e->layers[i];
    const double start = layer_ms ? now_ms() : 0.0;
    switch (l->kind) {
      case SQZ_LAYER_CONV: run_conv(e, c, &l->conv, l->in_h, l->in_w, cur, next, 0); break;
      case SQZ_LAYER_MAXPOOL:
        sqz_ref_maxpool(cur, l->in_c, l->in_h, l->in_w, l->pool.kernel, l->pool.stride, l->pool.pad,
                        next, l->out_h, l->out_w);
        break;
      case SQZ_LAYER_FIRE: run_fire(e, c, l, cur, next); break;
      case SQZ_LAYER_GLOBAL_AVGPOOL:
        sqz_ref_global_avgpool(cur, l->in_c, l->in_h, l->in_w, logits);
        break;
    }
    if (layer_ms) layer_ms[i] += (float)(now_ms() - start);
    if (l->kind == SQZ_LAYER_GLOBAL_AVGPOOL) continue; /* wrote the output: no swap */
    float *t = cur;
    cur = next;
    next = t;
  }
  if (io->output_kind == SQZ_OUTPUT_PROBS) sqz_ref_softmax(logits, e->num_classes, logits);
}

static void run_batch(sqz_engine *e, const sqz_io *io, float *layer_ms) {
  cpu_engine *c = e->impl;
#ifdef _OPENMP
  int saved = omp_get_max_threads();
  if (e->options.cpu_threads > 0) omp_set_num_threads(e->options.cpu_threads);
#endif
  for (int b = 0; b < io->batch; b++) run_image(e, c, io, b, layer_ms);
#ifdef _OPENMP
  omp_set_num_threads(saved);
#endif
}

static sqz_status cpu_run(sqz_engine *e, const sqz_io *io) {
  run_batch(e, io, NULL);
  return SQZ_OK;
}

static sqz_status cpu_profile(sqz_engine *e, const sqz_io *io, float *layer_ms) {
  for (int i = 0; i < e->num_layers; i++) layer_ms[i] = 0.0f;
  run_batch(e, io, layer_ms);
  return SQZ_OK;
}

static sqz_status cpu_synchronize(sqz_engine *e) {
  (void)e;
  return SQZ_OK;
}

static void *cpu_stream(const sqz_engine *e) {
  (void)e;
  return NULL;
}

static sqz_status cpu_set_stream(sqz_engine *e, void *stream) {
  (void)e;
  (void)stream; /* nothing runs on a stream here */
  return SQZ_OK;
}

static void cpu_destroy(sqz_engine *e) {
  cpu_engine *c = e->impl;
  if (!c) return;
  sqz_free(c->act[0]);
  sqz_free(c->act[1]);
  sqz_free(c->squeeze);
  sqz_free(c->scratch);
  sqz_free(c);
  e->impl = NULL;
}

static const sqz_backend_ops kCpuOps = {cpu_run,    cpu_synchronize, cpu_profile,
                                        cpu_stream, cpu_set_stream,  cpu_destroy};

sqz_status sqz_cpu_engine_create(sqz_engine *e) {
  cpu_engine *c = sqz_calloc(1, sizeof *c, "cpu engine");
  if (!c) return SQZ_ERR_OUT_OF_MEMORY;
  e->impl = c;
  e->ops = &kCpuOps;
  size_t act = sqz_layers_max_activation(e->layers, e->num_layers);
  c->act[0] = sqz_malloc(act * sizeof(float), "cpu activations");
  c->act[1] = sqz_malloc(act * sizeof(float), "cpu activations");
  c->squeeze =
      sqz_malloc(max_size(sqz_layers_max_squeeze(e->layers, e->num_layers), 1) * sizeof(float),
                 "cpu squeeze buffer");
  c->scratch = sqz_malloc(plan_scratch(e) * sizeof(float), "cpu convolution scratch");
  if (!c->act[0] || !c->act[1] || !c->squeeze || !c->scratch) {
    cpu_destroy(e);
    e->ops = NULL;
    return SQZ_ERR_OUT_OF_MEMORY;
  }
  e->memory.weight_bytes = 0; /* runs on the model's own weights */
  e->memory.activation_bytes =
      (2 * act + sqz_layers_max_squeeze(e->layers, e->num_layers)) * sizeof(float);
  e->memory.workspace_bytes = plan_scratch(e) * sizeof(float);
  int threads = e->options.cpu_threads;
#ifdef _OPENMP
  if (threads == 0) threads = omp_get_max_threads();
#else
  threads = 1;
#endif
  snprintf(e->description, sizeof e->description,
           "cpu: reference kernels, fp32, %d thread%s, %zu bytes of buffers", threads,
           threads == 1 ? "" : "s", e->memory.activation_bytes + e->memory.workspace_bytes);
  return SQZ_OK;
}
