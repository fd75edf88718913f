/* Internal: the GPU engine shared by the cudnn, unfused and fused backends:
 * device, stream, one planned device arena, shared weights, pinned staging,
 * input conversion and CUDA graphs. A backend only plans its buffers and
 * enqueues the network from the converted input to the logits. */
#ifndef SQZ_RUNTIME_GPU_ENGINE_H
#define SQZ_RUNTIME_GPU_ENGINE_H

#include <cuda_runtime_api.h>

#include "engine.h"
#include "memory_plan.h"
#include "weight_pack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_gpu_engine sqz_gpu_engine;

typedef struct sqz_gpu_backend {
  /* Sets format, act_layout and act_dtype for the engine's precision. */
  void (*configure)(sqz_gpu_engine *g);
  /* Adds the activation and scratch buffers to g->plan (steps: see the
   * backend) and sets g->input_buffer, the converted input. */
  sqz_status (*plan)(sqz_gpu_engine *g);
  /* With the arena, weights and stream in place: handles, descriptors,
   * algorithm choice; may append to g->detail. */
  sqz_status (*init)(sqz_gpu_engine *g);
  /* Enqueues layer i on g->stream for `batch` images, reading the output
   * of layer i - 1 (the converted input for i = 0); the last layer writes
   * g->logits (fp32, softmax applied for PROBS). Must be capturable in a
   * CUDA graph. A backend that folds a layer into another enqueues
   * nothing for it. */
  sqz_status (*layer)(sqz_gpu_engine *g, int i, int batch, sqz_output_kind kind);
  /* Points the backend's library handles at g->stream. */
  sqz_status (*bind_stream)(sqz_gpu_engine *g);
  void (*destroy)(sqz_gpu_engine *g);
} sqz_gpu_backend;

/* A host copy done in stream order after the device-to-host copy. */
typedef struct sqz_host_copy {
  void *dst;
  const void *src;
  size_t bytes;
} sqz_host_copy;

struct sqz_gpu_engine {
  sqz_engine *e;
  const sqz_gpu_backend *backend;
  void *impl; /* the backend's state */
  int device;
  char device_name[256];
  int sm_count, cc_major, cc_minor;
  cudaStream_t stream;     /* where runs go: the caller's or own_stream */
  cudaStream_t own_stream; /* created only when the engine needs its own */
  sqz_pack_format format;
  sqz_layout act_layout;
  sqz_dtype act_dtype;
  sqz_memory_plan plan;
  unsigned char *arena;
  int input_buffer, raw_input_buffer, logits_buffer; /* plan indices */
  const unsigned char *weights;                      /* shared */
  size_t weight_bytes;
  sqz_packed_layer packed[SQZ_MAX_LAYERS];
  /* Pinned staging. The input side is two halves of host_in_half bytes,
   * filled in turn (bounded, whatever max_batch: a large pageable input is
   * copied in pieces); the output side holds max_batch logits. */
  void *host_in, *host_out;
  size_t host_in_half;
  cudaEvent_t host_in_free[2], host_out_free;
  sqz_host_copy pending_out;
  cudaGraphExec_t *graphs;   /* [2 * max_batch], NULL when graphs are off */
  cudaEvent_t *layer_events; /* num_layers + 1, made by the first profile */
  char detail[512];          /* the backend's part of the description */
  /* For the memory report, set by the backend: whole-run scratch inside the
   * arena (im2col columns, cuBLAS workspace), workspace allocated outside
   * it (cuDNN's), and weights kept in the arena (padded copies). */
  size_t arena_workspace_bytes, external_workspace_bytes, arena_weight_bytes;
};

/* The device address of a planned buffer. */
void *sqz_gpu_buffer(const sqz_gpu_engine *g, int index);
/* Elements of one image's activation with c channels at h x w. */
size_t sqz_gpu_elems(int c, int h, int w);
/* Bytes of `elems` activations for a batch of max_batch. */
size_t sqz_gpu_batch_bytes(const sqz_gpu_engine *g, size_t elems);
/* A device pointer to the packed weight or bias at a byte offset. */
const void *sqz_gpu_weights(const sqz_gpu_engine *g, size_t offset);

/* The GPU backends. */
extern const sqz_gpu_backend sqz_unfused_backend;
#ifdef SQZ_HAVE_CUDNN
extern const sqz_gpu_backend sqz_cudnn_backend;
#endif
#ifdef SQZ_HAVE_FUSED
extern const sqz_gpu_backend sqz_fused_backend;
#endif

/* Tests: the most each half of an engine's input staging holds (0: the
 * default, 8 MiB), for engines created afterwards. */
void sqz_debug_set_staging_half_max(size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
