/* The engine object: options, backend selection, argument checks, and the
 * blocking wrappers over run_async + synchronize. */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

static const char *const kBackendNames[] = {"auto", "cpu", "cudnn", "unfused", "fused"};
static const char *const kPrecisionNames[] = {"fp32", "fp16"};

const char *sqz_backend_name(sqz_backend b) {
  return (unsigned)b < 5 ? kBackendNames[b] : "unknown";
}

sqz_status sqz_backend_parse(const char *name, sqz_backend *out) {
  for (int i = 0; name && i < 5; i++)
    if (strcmp(name, kBackendNames[i]) == 0) {
      if (out) *out = (sqz_backend)i;
      return SQZ_OK;
    }
  return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                  "unknown backend '%s' (expected auto, cpu, cudnn, unfused or fused)",
                  name ? name : "(null)");
}

const char *sqz_precision_name(sqz_precision p) {
  return (unsigned)p < 2 ? kPrecisionNames[p] : "unknown";
}

sqz_status sqz_precision_parse(const char *name, sqz_precision *out) {
  for (int i = 0; name && i < 2; i++)
    if (strcmp(name, kPrecisionNames[i]) == 0) {
      if (out) *out = (sqz_precision)i;
      return SQZ_OK;
    }
  return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown precision '%s' (expected fp32 or fp16)",
                  name ? name : "(null)");
}

int sqz_backend_is_built(sqz_backend b) {
  switch (b) {
    case SQZ_BACKEND_AUTO:
    case SQZ_BACKEND_CPU: return 1;
#ifdef SQZ_HAVE_CUDNN
    case SQZ_BACKEND_CUDNN: return 1;
#endif
#ifdef SQZ_HAVE_CUDA
    case SQZ_BACKEND_UNFUSED: return 1;
#endif
#ifdef SQZ_HAVE_FUSED
    case SQZ_BACKEND_FUSED: return 1;
#endif
    default: return 0;
  }
}

sqz_engine_options sqz_engine_options_default(void) {
  sqz_engine_options o;
  memset(&o, 0, sizeof o);
  o.backend = SQZ_BACKEND_AUTO;
  o.precision = SQZ_PRECISION_FP32;
  o.max_batch = 1;
  o.cuda_graphs = 1;
  return o;
}

static sqz_status check_options(const sqz_engine_options *o) {
  if ((unsigned)o->backend > SQZ_BACKEND_FUSED)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown backend %d", (int)o->backend);
  if ((unsigned)o->precision > SQZ_PRECISION_FP16)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown precision %d", (int)o->precision);
  if (o->max_batch < 1 || o->max_batch > 65536)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "max_batch must be 1..65536, got %d", o->max_batch);
  if (o->device < 0)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "device must be >= 0, got %d", o->device);
  if (o->cpu_threads < 0)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "cpu_threads must be >= 0, got %d", o->cpu_threads);
  return SQZ_OK;
}

/* What a backend needs at build time. */
static const char *backend_requirement(sqz_backend b) {
  switch (b) {
    case SQZ_BACKEND_CUDNN: return "it needs the CUDA toolkit and cuDNN at build time";
    default: return "it needs the CUDA toolkit at build time";
  }
}

static sqz_status create_backend(sqz_engine *e, sqz_backend b) {
  e->options.backend = b;
  memset(&e->memory, 0, sizeof e->memory); /* nothing left from a failed attempt */
  if (!sqz_backend_is_built(b))
    return sqz_fail(SQZ_ERR_UNSUPPORTED, "not built into this library (%s)",
                    backend_requirement(b));
  if (b == SQZ_BACKEND_CPU) {
    if (e->options.precision != SQZ_PRECISION_FP32)
      return sqz_fail(SQZ_ERR_UNSUPPORTED, "runs fp32 only, not %s",
                      sqz_precision_name(e->options.precision));
    return sqz_cpu_engine_create(e);
  }
  return sqz_gpu_engine_create(e);
}

/* Appends "name" to the skipped list, grouping backends that failed for the
 * same reason: "fused, cudnn (reason); cpu (other reason)". */
static void note_skipped(char *list, size_t size, char *last_reason, size_t reason_size,
                         const char *name, const char *reason) {
  size_t n = strlen(list);
  if (n && strcmp(reason, last_reason) == 0) {
    /* Insert ", name" before the " (reason)" that closes the list. */
    size_t tail = strlen(last_reason) + 3;
    char closing[512];
    snprintf(closing, sizeof closing, "%s", list + n - tail);
    snprintf(list + n - tail, size - (n - tail), ", %s%s", name, closing);
  } else {
    snprintf(list + n, size - n, "%s%s (%s)", n ? "; " : "", name, reason);
    snprintf(last_reason, reason_size, "%s", reason);
  }
}

/* AUTO: the fastest backend that can be made here; only "not built" and "no
 * device" (and cpu's fp32-only) move on to the next, any other failure is
 * reported. */
static sqz_status create_auto(sqz_engine *e) {
  static const sqz_backend order[] = {SQZ_BACKEND_FUSED, SQZ_BACKEND_CUDNN, SQZ_BACKEND_UNFUSED,
                                      SQZ_BACKEND_CPU};
  char skipped[768] = "", last_reason[256] = "";
  sqz_status last = SQZ_ERR_UNSUPPORTED;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    sqz_status st = create_backend(e, order[i]);
    if (st == SQZ_OK) {
      if (skipped[0]) {
        size_t n = strlen(e->description);
        snprintf(e->description + n, sizeof e->description - n, " [auto; skipped %s]", skipped);
      }
      return SQZ_OK;
    }
    if (st != SQZ_ERR_UNSUPPORTED && st != SQZ_ERR_NO_DEVICE)
      return sqz_fail_context(st, "backend '%s'", sqz_backend_name(order[i]));
    if (last != SQZ_ERR_NO_DEVICE) last = st; /* "no GPU" says most */
    note_skipped(skipped, sizeof skipped, last_reason, sizeof last_reason,
                 sqz_backend_name(order[i]), sqz_last_error());
  }
  e->options.backend = SQZ_BACKEND_AUTO;
  return sqz_fail(last, "no backend can run %s here: %s", sqz_precision_name(e->options.precision),
                  skipped);
}

sqz_status sqz_engine_create(const sqz_model *model, const sqz_engine_options *options,
                             sqz_engine **out) {
  if (!model || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model and out must not be NULL");
  sqz_engine_options o = options ? *options : sqz_engine_options_default();
  SQZ_TRY(check_options(&o));
  sqz_engine *e = sqz_calloc(1, sizeof *e, "engine");
  if (!e) return SQZ_ERR_OUT_OF_MEMORY;
  e->model = model;
  e->num_layers = model->num_layers;
  memcpy(e->layers, model->layers, sizeof e->layers);
  e->in_c = model->in_c;
  e->in_h = model->in_h;
  e->in_w = model->in_w;
  e->num_classes = model->num_classes;
  e->options = o;
  sqz_status st;
  if (o.backend == SQZ_BACKEND_AUTO) {
    st = create_auto(e);
  } else {
    st = create_backend(e, o.backend);
    if (st != SQZ_OK) st = sqz_fail_context(st, "backend '%s'", sqz_backend_name(o.backend));
  }
  if (st != SQZ_OK) {
    sqz_free(e);
    return st;
  }
  *out = e;
  return SQZ_OK;
}

void sqz_engine_free(sqz_engine *e) {
  if (!e) return;
  if (e->ops) e->ops->destroy(e);
  sqz_free(e);
}

sqz_backend sqz_engine_backend(const sqz_engine *e) {
  return e ? e->options.backend : SQZ_BACKEND_AUTO;
}

const char *sqz_engine_describe(const sqz_engine *e) { return e ? e->description : ""; }

static sqz_status check_io(const sqz_engine *e, const sqz_io *io) {
  if (!e || !io) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "engine and io must not be NULL");
  if (!io->input || !io->output)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "input and output must not be NULL");
  if (io->batch < 1 || io->batch > e->options.max_batch)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "batch %d is outside 1..%d (the engine's max_batch)",
                    io->batch, e->options.max_batch);
  if ((unsigned)io->input_format > SQZ_INPUT_U8_RGB)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown input format %d", (int)io->input_format);
  if ((unsigned)io->output_kind > SQZ_OUTPUT_PROBS)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown output kind %d", (int)io->output_kind);
  return SQZ_OK;
}

sqz_status sqz_engine_run_async(sqz_engine *e, const sqz_io *io) {
  SQZ_TRY(check_io(e, io));
  return e->ops->run_async(e, io);
}

sqz_status sqz_engine_profile(sqz_engine *e, const sqz_io *io, float *layer_ms) {
  SQZ_TRY(check_io(e, io));
  if (!layer_ms) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "layer_ms must not be NULL");
  return e->ops->profile(e, io, layer_ms);
}

sqz_status sqz_engine_synchronize(sqz_engine *e) {
  if (!e) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "engine must not be NULL");
  return e->ops->synchronize(e);
}

void sqz_engine_input_shape(const sqz_engine *e, int *channels, int *height, int *width) {
  if (!e) return;
  if (channels) *channels = e->in_c;
  if (height) *height = e->in_h;
  if (width) *width = e->in_w;
}

int sqz_engine_num_classes(const sqz_engine *e) { return e ? e->num_classes : 0; }

void *sqz_engine_stream(const sqz_engine *e) { return e ? e->ops->stream(e) : NULL; }

sqz_status sqz_engine_memory(const sqz_engine *e, sqz_memory_report *out) {
  if (!e || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "engine and out must not be NULL");
  *out = e->memory;
  return SQZ_OK;
}

sqz_status sqz_engine_set_stream(sqz_engine *e, void *stream) {
  if (!e) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "engine must not be NULL");
  SQZ_TRY(e->ops->set_stream(e, stream));
  e->options.stream = stream;
  return SQZ_OK;
}

static sqz_status run_blocking(sqz_engine *e, const sqz_io *io) {
  SQZ_TRY(sqz_engine_run_async(e, io));
  return sqz_engine_synchronize(e);
}

sqz_status sqz_engine_run(sqz_engine *e, const float *input, int batch, sqz_layout layout,
                          sqz_output_kind kind, float *output) {
  if ((unsigned)layout > SQZ_LAYOUT_NHWC)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "unknown layout %d", (int)layout);
  sqz_io io = {batch, layout == SQZ_LAYOUT_NCHW ? SQZ_INPUT_F32_NCHW : SQZ_INPUT_F32_NHWC, input,
               kind, output};
  return run_blocking(e, &io);
}

sqz_status sqz_engine_run_images(sqz_engine *e, const uint8_t *images, int batch,
                                 sqz_output_kind kind, float *output) {
  sqz_io io = {batch, SQZ_INPUT_U8_RGB, images, kind, output};
  return run_blocking(e, &io);
}
