/* The GPU engine: everything the cudnn, unfused and fused backends share.
 * Creation plans and allocates all device memory once; a run converts the
 * input, replays (or captures) the CUDA graph of the network for its batch
 * size, and copies the result out, allocating nothing. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../kernels/cuda/kernels.h"
#include "alloc.h"
#include "error.h"
#include "gpu_check.h"
#include "gpu_engine.h"
#include "shared_weights.h"

enum { SQZ_GPU_MAX_BATCH = 8192, LIFETIME_ALL = INT_MAX / 2 };

void *sqz_gpu_buffer(const sqz_gpu_engine *g, int index) {
  return g->arena + g->plan.buffers[index].offset;
}

size_t sqz_gpu_elems(int c, int h, int w) { return (size_t)c * h * w; }

size_t sqz_gpu_batch_bytes(const sqz_gpu_engine *g, size_t elems) {
  return elems * (size_t)g->e->options.max_batch * sqz_dtype_size(g->act_dtype);
}

const void *sqz_gpu_weights(const sqz_gpu_engine *g, size_t offset) { return g->weights + offset; }

/* Runs `body` with the engine's device current, restoring the caller's. */
typedef sqz_status (*gpu_step)(sqz_gpu_engine *g, const void *arg);
static sqz_status on_device(sqz_gpu_engine *g, gpu_step body, const void *arg) {
  int previous = -1;
  SQZ_GPU_CHECK(cudaGetDevice(&previous));
  if (previous != g->device) SQZ_GPU_CHECK(cudaSetDevice(g->device));
  sqz_status st = body(g, arg);
  if (previous != g->device) {
    sqz_status restore = SQZ_GPU_STATUS(cudaSetDevice(previous), "cudaSetDevice(previous)");
    if (st == SQZ_OK) st = restore;
  }
  return st;
}

/* --- weights -------------------------------------------------------------- */

typedef struct weights_job {
  sqz_gpu_engine *g;
} weights_job;

static sqz_status make_weights(void *context, void **ptr, size_t *bytes) {
  sqz_gpu_engine *g = ((weights_job *)context)->g;
  const sqz_engine *e = g->e;
  size_t size =
      sqz_pack_weights(e->layers, e->num_layers, e->model->weights, g->format, NULL, g->packed);
  void *host = sqz_malloc(size, "packed weights");
  if (!host) return SQZ_ERR_OUT_OF_MEMORY;
  sqz_pack_weights(e->layers, e->num_layers, e->model->weights, g->format, host, g->packed);
  sqz_status st = sqz_device_malloc(ptr, size, "weights");
  if (st == SQZ_OK) {
    /* On the creating engine's stream, and complete before any engine uses
     * the weights (other engines' streams do not wait for this one). */
    st = SQZ_GPU_STATUS(cudaMemcpyAsync(*ptr, host, size, cudaMemcpyHostToDevice, g->stream),
                        "cudaMemcpyAsync(weights)");
    if (st == SQZ_OK)
      st = SQZ_GPU_STATUS(cudaStreamSynchronize(g->stream), "cudaStreamSynchronize");
    if (st != SQZ_OK) {
      cudaFree(*ptr);
      *ptr = NULL;
    }
  }
  sqz_free(host);
  *bytes = size;
  return st;
}

static void free_weights(void *ptr, int device) {
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != device) cudaSetDevice(device);
  cudaFree(ptr); /* nothing to report to: the engine is going away */
  if (previous >= 0 && previous != device) cudaSetDevice(previous);
}

static uint32_t format_key(const sqz_gpu_engine *g) {
  return (uint32_t)g->e->options.backend << 8 | (uint32_t)g->format.layout << 4 |
         (uint32_t)g->format.weight_dtype << 2 | (uint32_t)g->format.bias_dtype;
}

static sqz_status upload_weights(sqz_gpu_engine *g) {
  weights_job job = {g};
  sqz_weights_maker maker = {make_weights, free_weights, &job};
  void *ptr = NULL;
  int shared = 0;
  SQZ_TRY(sqz_shared_weights_acquire(g->e->model, g->device, format_key(g), &maker, &ptr, &shared));
  g->weights = ptr;
  /* Offsets are the same for every engine of this format: compute them
   * when the copy came from another engine. */
  g->weight_bytes = sqz_pack_weights(g->e->layers, g->e->num_layers, g->e->model->weights,
                                     g->format, NULL, g->packed);
  return SQZ_OK;
}

/* A caller's stream: not the legacy or per-thread default stream (the
 * engine's work must not serialise with every other blocking stream, and
 * graphs cannot capture it), and not one that is capturing already when it
 * is handed over. */
static sqz_status check_stream(cudaStream_t s) {
  if (!s) return SQZ_OK; /* the engine's own */
  if (s == cudaStreamLegacy || s == cudaStreamPerThread)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "the legacy or per-thread default stream cannot be an engine's stream; "
                    "pass a created stream, or none for the engine's own");
  enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  SQZ_GPU_CHECK(cudaStreamIsCapturing(s, &capture));
  if (capture != cudaStreamCaptureStatusNone)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "the stream is capturing a CUDA graph");
  return SQZ_OK;
}

/* --- creation ------------------------------------------------------------- */

static const sqz_gpu_backend *backend_for(sqz_backend b) {
  switch (b) {
#ifdef SQZ_HAVE_CUDNN
    case SQZ_BACKEND_CUDNN: return &sqz_cudnn_backend;
#endif
#ifdef SQZ_HAVE_FUSED
    case SQZ_BACKEND_FUSED: return &sqz_fused_backend;
#endif
    case SQZ_BACKEND_UNFUSED: return &sqz_unfused_backend;
    default: return NULL;
  }
}

static sqz_status plan_memory(sqz_gpu_engine *g) {
  const sqz_engine *e = g->e;
  sqz_plan_init(&g->plan);
  SQZ_TRY(g->backend->plan(g));
  const size_t raw = (size_t)e->options.max_batch * sqz_gpu_elems(e->in_c, e->in_h, e->in_w) * 4;
  g->raw_input_buffer = sqz_plan_add(&g->plan, raw, 0, LIFETIME_ALL);
  g->logits_buffer =
      sqz_plan_add(&g->plan, (size_t)e->options.max_batch * e->num_classes * 4, 0, LIFETIME_ALL);
  if (g->raw_input_buffer < 0 || g->logits_buffer < 0) return SQZ_ERR_INTERNAL;
  sqz_plan_finish(&g->plan);
  return sqz_device_malloc((void **)&g->arena, g->plan.total, "activations and workspace");
}

/* Each half of the input staging holds at most this much: a pageable input
 * larger than that goes through in pieces, so that pinned memory stays
 * small even at max_batch 8192 (4.9 GB of fp32 input at 224). */
static size_t staging_half_max = (size_t)8 << 20;

void sqz_debug_set_staging_half_max(size_t bytes) {
  staging_half_max = bytes ? bytes : (size_t)8 << 20;
}

static sqz_status create_staging(sqz_gpu_engine *g) {
  const sqz_engine *e = g->e;
  const size_t in_max = (size_t)e->options.max_batch * sqz_gpu_elems(e->in_c, e->in_h, e->in_w) * 4;
  const size_t out = (size_t)e->options.max_batch * e->num_classes * 4;
  g->host_in_half = in_max < staging_half_max ? in_max : staging_half_max;
  SQZ_TRY(sqz_host_pinned_malloc(&g->host_in, 2 * g->host_in_half, "input staging"));
  SQZ_TRY(sqz_host_pinned_malloc(&g->host_out, out, "output staging"));
  for (int i = 0; i < 2; i++)
    SQZ_GPU_CHECK(cudaEventCreateWithFlags(&g->host_in_free[i], cudaEventDisableTiming));
  SQZ_GPU_CHECK(cudaEventCreateWithFlags(&g->host_out_free, cudaEventDisableTiming));
  g->e->memory.staging_bytes = 2 * g->host_in_half + out;
  return SQZ_OK;
}

static void describe(sqz_gpu_engine *g) {
  const sqz_engine *e = g->e;
  snprintf(g->e->description, sizeof g->e->description,
           "%s: %s (sm_%d%d, %d SMs), %s %s, CUDA graphs %s, max batch %d%s%s",
           sqz_backend_name(e->options.backend), g->device_name, g->cc_major, g->cc_minor,
           g->sm_count, sqz_precision_name(e->options.precision),
           g->act_layout == SQZ_LAYOUT_NHWC ? "NHWC" : "NCHW", g->graphs ? "on" : "off",
           e->options.max_batch, g->detail[0] ? ", " : "", g->detail);
}

static sqz_status create_on_device(sqz_gpu_engine *g, const void *unused) {
  (void)unused;
  sqz_engine *e = g->e;
  struct cudaDeviceProp prop;
  SQZ_GPU_CHECK(cudaGetDeviceProperties(&prop, g->device));
  snprintf(g->device_name, sizeof g->device_name, "%s", prop.name);
  g->sm_count = prop.multiProcessorCount;
  g->cc_major = prop.major;
  g->cc_minor = prop.minor;
  cudaError_t probe = sqz_kernels_available();
  if (probe != cudaSuccess)
    return sqz_fail(SQZ_ERR_UNSUPPORTED,
                    "the sqz kernels were not built for %s (sm_%d%d): %s; rebuild with "
                    "-DCMAKE_CUDA_ARCHITECTURES=%d%d",
                    prop.name, prop.major, prop.minor, cudaGetErrorString(probe), prop.major,
                    prop.minor);
  if (e->options.stream) {
    SQZ_TRY(check_stream((cudaStream_t)e->options.stream));
    g->stream = (cudaStream_t)e->options.stream;
  } else {
    SQZ_GPU_CHECK(cudaStreamCreateWithFlags(&g->own_stream, cudaStreamNonBlocking));
    g->stream = g->own_stream;
  }
  g->backend->configure(g);
  SQZ_TRY(plan_memory(g));
  SQZ_TRY(upload_weights(g));
  SQZ_TRY(create_staging(g));
  if (e->options.cuda_graphs) {
    g->graphs = sqz_calloc(2 * (size_t)e->options.max_batch, sizeof *g->graphs, "graph cache");
    if (!g->graphs) return SQZ_ERR_OUT_OF_MEMORY;
  }
  SQZ_TRY(g->backend->init(g));
  SQZ_TRY(g->backend->bind_stream(g));
  /* The arena holds the activations (with the raw input and the logits),
   * the backend's whole-run scratch and possibly padded weights; whole-run
   * buffers never share bytes, so the split is exact. */
  e->memory.weight_bytes = g->weight_bytes + g->arena_weight_bytes;
  e->memory.workspace_bytes = g->arena_workspace_bytes + g->external_workspace_bytes;
  e->memory.activation_bytes = g->plan.total - g->arena_workspace_bytes - g->arena_weight_bytes;
  describe(g);
  return SQZ_OK;
}

static sqz_status destroy_on_device(sqz_gpu_engine *g, const void *unused) {
  (void)unused;
  if (g->stream) (void)cudaStreamSynchronize(g->stream); /* let queued work finish */
  if (g->graphs) {
    for (int i = 0; i < 2 * g->e->options.max_batch; i++)
      if (g->graphs[i]) cudaGraphExecDestroy(g->graphs[i]);
    sqz_free(g->graphs);
  }
  if (g->layer_events) {
    for (int i = 0; i <= g->e->num_layers; i++)
      if (g->layer_events[i]) cudaEventDestroy(g->layer_events[i]);
    sqz_free(g->layer_events);
  }
  if (g->impl) g->backend->destroy(g);
  for (int i = 0; i < 2; i++)
    if (g->host_in_free[i]) cudaEventDestroy(g->host_in_free[i]);
  if (g->host_out_free) cudaEventDestroy(g->host_out_free);
  if (g->host_in) cudaFreeHost(g->host_in);
  if (g->host_out) cudaFreeHost(g->host_out);
  if (g->arena) cudaFree(g->arena);
  sqz_shared_weights_release((void *)g->weights);
  if (g->own_stream) cudaStreamDestroy(g->own_stream);
  (void)cudaGetLastError(); /* leave no error behind for the caller */
  return SQZ_OK;
}

/* --- running -------------------------------------------------------------- */

/* Where a pointer lives: 1 device memory (of this engine's device), 0 host
 * (pinned or not; *pinned says which), or an error for another device. */
static sqz_status classify_pointer(const sqz_gpu_engine *g, const void *p, const char *what,
                                   int *on_device, int *pinned) {
  struct cudaPointerAttributes attr;
  cudaError_t err = cudaPointerGetAttributes(&attr, p);
  *on_device = 0;
  *pinned = 0;
  if (err != cudaSuccess) {
    (void)cudaGetLastError(); /* plain host memory on older drivers */
    return SQZ_OK;
  }
  if (attr.type == cudaMemoryTypeManaged) {
    *on_device = 1; /* reachable from every device */
  } else if (attr.type == cudaMemoryTypeDevice) {
    if (attr.device != g->device)
      return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "%s is memory of device %d, the engine runs on %d",
                      what, attr.device, g->device);
    *on_device = 1;
  } else if (attr.type == cudaMemoryTypeHost) {
    *pinned = 1;
  }
  return SQZ_OK;
}

static void CUDART_CB copy_to_host(void *arg) {
  const sqz_host_copy *c = arg;
  memcpy(c->dst, c->src, c->bytes);
}

static sqz_status stage_input(sqz_gpu_engine *g, const sqz_io *io, const void **src) {
  const sqz_engine *e = g->e;
  const size_t bytes = (size_t)io->batch * sqz_gpu_elems(e->in_c, e->in_h, e->in_w) *
                       (io->input_format == SQZ_INPUT_U8_RGB ? 1 : 4);
  int on_device, pinned;
  SQZ_TRY(classify_pointer(g, io->input, "the input", &on_device, &pinned));
  if (on_device) {
    *src = io->input; /* the conversion kernel reads it in place */
    return SQZ_OK;
  }
  void *raw = sqz_gpu_buffer(g, g->raw_input_buffer);
  if (pinned) {
    SQZ_GPU_CHECK(cudaMemcpyAsync(raw, io->input, bytes, cudaMemcpyHostToDevice, g->stream));
  } else {
    /* Pageable memory: through the pinned staging, in pieces of at most
     * half of it, each half refilled once its previous copy is done, so
     * that filling one overlaps the copy out of the other. */
    const unsigned char *from = io->input;
    int k = 0;
    for (size_t off = 0; off < bytes; off += g->host_in_half, k ^= 1) {
      const size_t len = bytes - off < g->host_in_half ? bytes - off : g->host_in_half;
      unsigned char *half = (unsigned char *)g->host_in + (size_t)k * g->host_in_half;
      SQZ_GPU_CHECK(cudaEventSynchronize(g->host_in_free[k]));
      memcpy(half, from + off, len);
      SQZ_GPU_CHECK(cudaMemcpyAsync((unsigned char *)raw + off, half, len, cudaMemcpyHostToDevice,
                                    g->stream));
      SQZ_GPU_CHECK(cudaEventRecord(g->host_in_free[k], g->stream));
    }
  }
  *src = raw;
  return SQZ_OK;
}

static sqz_status convert_input(sqz_gpu_engine *g, const sqz_io *io, const void *src) {
  const sqz_engine *e = g->e;
  const sqz_preprocess *p = &e->model->preprocess;
  sqz_input_conversion c;
  c.format = io->input_format;
  c.batch = io->batch;
  c.height = e->in_h;
  c.width = e->in_w;
  c.bgr = p->channel_order == SQZ_ORDER_BGR;
  for (int i = 0; i < 3; i++) {
    c.mean[i] = p->mean[i];
    c.scale[i] = p->scale[i];
  }
  c.nhwc = g->act_layout == SQZ_LAYOUT_NHWC;
  c.dtype = g->act_dtype;
  SQZ_GPU_CHECK(sqz_launch_convert_input(&c, src, sqz_gpu_buffer(g, g->input_buffer), g->stream));
  return SQZ_OK;
}

static sqz_status enqueue_layers(sqz_gpu_engine *g, int batch, sqz_output_kind kind) {
  for (int i = 0; i < g->e->num_layers; i++) SQZ_TRY(g->backend->layer(g, i, batch, kind));
  return SQZ_OK;
}

/* The network for this batch and output kind: a captured graph replayed,
 * or the launches themselves when graphs are off. */
static sqz_status run_network(sqz_gpu_engine *g, int batch, sqz_output_kind kind) {
  if (!g->graphs) return enqueue_layers(g, batch, kind);
  cudaGraphExec_t *slot = &g->graphs[(size_t)kind * g->e->options.max_batch + batch - 1];
  if (!*slot) {
    /* One plain run first: libraries do their lazy set-up (kernel loading,
     * heuristics) outside the capture, and it gives this run's result. The
     * graph is not launched now: the plain run has reused the converted
     * input's buffer (memory is planned by liveness), so a second pass over
     * it would read what later layers left there. */
    SQZ_TRY(enqueue_layers(g, batch, kind));
    SQZ_GPU_CHECK(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal));
    sqz_status st = enqueue_layers(g, batch, kind);
    cudaGraph_t graph = NULL;
    cudaError_t end = cudaStreamEndCapture(g->stream, &graph);
    if (st == SQZ_OK) st = SQZ_GPU_STATUS(end, "cudaStreamEndCapture");
    if (st == SQZ_OK)
      st = SQZ_GPU_STATUS(cudaGraphInstantiate(slot, graph, 0), "cudaGraphInstantiate");
    if (graph) cudaGraphDestroy(graph);
    if (st != SQZ_OK) {
      *slot = NULL;
      (void)cudaGetLastError();
      return sqz_fail_context(st,
                              "capturing the CUDA graph for batch %d (cuda_graphs = 0 "
                              "runs without graphs)",
                              batch);
    }
    return SQZ_OK;
  }
  SQZ_GPU_CHECK(cudaGraphLaunch(*slot, g->stream));
  return SQZ_OK;
}

static sqz_status deliver_output(sqz_gpu_engine *g, const sqz_io *io) {
  const size_t bytes = (size_t)io->batch * g->e->num_classes * sizeof(float);
  const float *logits = sqz_gpu_buffer(g, g->logits_buffer);
  int on_device, pinned;
  SQZ_TRY(classify_pointer(g, io->output, "the output", &on_device, &pinned));
  if (on_device || pinned) {
    SQZ_GPU_CHECK(cudaMemcpyAsync(io->output, logits, bytes, cudaMemcpyDefault, g->stream));
    return SQZ_OK;
  }
  /* Pageable memory: through the pinned buffer, then a host copy in stream
   * order; wait until the previous run's host copy has consumed it. */
  SQZ_GPU_CHECK(cudaEventSynchronize(g->host_out_free));
  SQZ_GPU_CHECK(cudaMemcpyAsync(g->host_out, logits, bytes, cudaMemcpyDeviceToHost, g->stream));
  g->pending_out.dst = io->output;
  g->pending_out.src = g->host_out;
  g->pending_out.bytes = bytes;
  SQZ_GPU_CHECK(cudaLaunchHostFunc(g->stream, copy_to_host, &g->pending_out));
  SQZ_GPU_CHECK(cudaEventRecord(g->host_out_free, g->stream));
  return SQZ_OK;
}

/* A caller may capture run_async into a graph of its own, on its stream,
 * when every step can be captured and replayed: no graphs of the engine's
 * (a capture cannot nest), and input and output in device or pinned
 * memory (a pageable copy through the staging buffer would run once, at
 * capture, and the graph would replay stale data). */
static sqz_status check_caller_capture(sqz_gpu_engine *g, const sqz_io *io) {
  enum cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  SQZ_GPU_CHECK(cudaStreamIsCapturing(g->stream, &capture));
  if (capture == cudaStreamCaptureStatusNone) return SQZ_OK;
  if (g->graphs)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "the engine's stream is capturing a graph: make the engine with "
                    "cuda_graphs = 0 to capture its runs into your own graph");
  int on_device, pinned;
  SQZ_TRY(classify_pointer(g, io->input, "the input", &on_device, &pinned));
  if (!on_device && !pinned)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "the engine's stream is capturing a graph and the input is pageable host "
                    "memory, which a graph cannot replay: use device or pinned memory");
  SQZ_TRY(classify_pointer(g, io->output, "the output", &on_device, &pinned));
  if (!on_device && !pinned)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT,
                    "the engine's stream is capturing a graph and the output is pageable host "
                    "memory, which a graph cannot replay: use device or pinned memory");
  return SQZ_OK;
}

static sqz_status run_on_device(sqz_gpu_engine *g, const void *arg) {
  const sqz_io *io = arg;
  SQZ_TRY(check_caller_capture(g, io));
  const void *src = NULL;
  SQZ_TRY(stage_input(g, io, &src));
  SQZ_TRY(convert_input(g, io, src));
  SQZ_TRY(run_network(g, io->batch, io->output_kind));
  return deliver_output(g, io);
}

static sqz_status gpu_run_async(sqz_engine *e, const sqz_io *io) {
  return on_device(e->impl, run_on_device, io);
}

typedef struct profile_job {
  const sqz_io *io;
  float *layer_ms;
} profile_job;

/* As a run, without graphs, with an event before each layer and after the
 * last; then each layer's time is the gap between its events. */
static sqz_status profile_on_device(sqz_gpu_engine *g, const void *arg) {
  const profile_job *job = arg;
  const int n = g->e->num_layers;
  if (!g->layer_events) {
    cudaEvent_t *events = sqz_calloc((size_t)n + 1, sizeof *events, "profile events");
    if (!events) return SQZ_ERR_OUT_OF_MEMORY;
    for (int i = 0; i <= n; i++) {
      sqz_status st = SQZ_GPU_STATUS(cudaEventCreate(&events[i]), "cudaEventCreate");
      if (st != SQZ_OK) {
        while (i-- > 0) cudaEventDestroy(events[i]);
        sqz_free(events);
        return st;
      }
    }
    g->layer_events = events;
  }
  const void *src = NULL;
  SQZ_TRY(stage_input(g, job->io, &src));
  SQZ_TRY(convert_input(g, job->io, src));
  for (int i = 0; i < n; i++) {
    SQZ_GPU_CHECK(cudaEventRecord(g->layer_events[i], g->stream));
    SQZ_TRY(g->backend->layer(g, i, job->io->batch, job->io->output_kind));
  }
  SQZ_GPU_CHECK(cudaEventRecord(g->layer_events[n], g->stream));
  SQZ_TRY(deliver_output(g, job->io));
  SQZ_GPU_CHECK(cudaStreamSynchronize(g->stream));
  for (int i = 0; i < n; i++)
    SQZ_GPU_CHECK(
        cudaEventElapsedTime(&job->layer_ms[i], g->layer_events[i], g->layer_events[i + 1]));
  return SQZ_OK;
}

static sqz_status gpu_profile(sqz_engine *e, const sqz_io *io, float *layer_ms) {
  profile_job job = {io, layer_ms};
  return on_device(e->impl, profile_on_device, &job);
}

static sqz_status sync_on_device(sqz_gpu_engine *g, const void *unused) {
  (void)unused;
  SQZ_GPU_CHECK(cudaStreamSynchronize(g->stream));
  return SQZ_OK;
}

static sqz_status gpu_synchronize(sqz_engine *e) {
  return on_device(e->impl, sync_on_device, NULL);
}

static sqz_status switch_stream(sqz_gpu_engine *g, const void *arg) {
  cudaStream_t next = (cudaStream_t)arg;
  SQZ_GPU_CHECK(cudaStreamSynchronize(g->stream));
  SQZ_TRY(check_stream(next));
  if (!next) {
    if (!g->own_stream)
      SQZ_GPU_CHECK(cudaStreamCreateWithFlags(&g->own_stream, cudaStreamNonBlocking));
    next = g->own_stream;
  }
  cudaStream_t previous = g->stream;
  g->stream = next;
  sqz_status st = g->backend->bind_stream(g);
  if (st != SQZ_OK) {
    /* All or nothing: back on the previous stream, which worked. */
    g->stream = previous;
    (void)g->backend->bind_stream(g);
    (void)cudaGetLastError();
  }
  return st;
}

static void *gpu_stream(const sqz_engine *e) {
  return (void *)((const sqz_gpu_engine *)e->impl)->stream;
}

static sqz_status gpu_set_stream(sqz_engine *e, void *stream) {
  return on_device(e->impl, switch_stream, stream);
}

static void gpu_destroy(sqz_engine *e) {
  sqz_gpu_engine *g = e->impl;
  if (!g) return;
  on_device(g, destroy_on_device, NULL);
  sqz_free(g);
  e->impl = NULL;
}

static const sqz_backend_ops kGpuOps = {gpu_run_async, gpu_synchronize, gpu_profile,
                                        gpu_stream,    gpu_set_stream,  gpu_destroy};

sqz_status sqz_gpu_engine_create(sqz_engine *e) {
  const sqz_gpu_backend *backend = backend_for(e->options.backend);
  if (!backend) return sqz_fail(SQZ_ERR_UNSUPPORTED, "not built into this library");
  if (e->options.max_batch > SQZ_GPU_MAX_BATCH)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "GPU backends take max_batch up to %d, got %d",
                    SQZ_GPU_MAX_BATCH, e->options.max_batch);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return sqz_fail(SQZ_ERR_NO_DEVICE, "needs a CUDA GPU and driver: %s",
                    err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device found");
  }
  if (e->options.device >= count)
    return sqz_fail(SQZ_ERR_NO_DEVICE, "device %d requested, but %d CUDA device%s present",
                    e->options.device, count, count == 1 ? " is" : "s are");
  sqz_gpu_engine *g = sqz_calloc(1, sizeof *g, "GPU engine");
  if (!g) return SQZ_ERR_OUT_OF_MEMORY;
  g->e = e;
  g->backend = backend;
  g->device = e->options.device;
  g->input_buffer = g->raw_input_buffer = g->logits_buffer = -1;
  e->impl = g;
  e->ops = &kGpuOps;
  sqz_status st = on_device(g, create_on_device, NULL);
  if (st != SQZ_OK) {
    gpu_destroy(e);
    e->ops = NULL;
  }
  return st;
}
