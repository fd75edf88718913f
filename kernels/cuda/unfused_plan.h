/* Internal: the buffers of the unfused backend and their lifetimes. Pure C
 * (unit-tested on the CPU). Steps count the backend's launches. */
#ifndef SQZ_KERNELS_CUDA_UNFUSED_PLAN_H
#define SQZ_KERNELS_CUDA_UNFUSED_PLAN_H

#include "runtime/memory_plan.h"
#include "runtime/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Plan indices per layer; -1 where a layer has no such buffer. */
typedef struct sqz_unfused_buffers {
  int out;     /* the layer's output (NHWC) */
  int squeeze; /* fire: squeeze output */
  int e1, e3;  /* fire: expand outputs before the concatenation */
} sqz_unfused_buffers;

typedef struct sqz_unfused_plan {
  int input; /* the converted input */
  /* Scratch for the whole run: the im2col columns of whichever convolution
   * is running (launches follow each other on one stream, so one buffer
   * serves them all) and the cuBLAS workspace. */
  int columns, cublas_workspace;
  size_t workspace_bytes; /* the two together */
  sqz_unfused_buffers layers[SQZ_MAX_LAYERS];
} sqz_unfused_plan;

enum { SQZ_CUBLAS_WORKSPACE = 32 << 20 };

/* Whether a conv needs im2col (anything but 1x1, stride 1, no padding). */
int sqz_unfused_needs_im2col(const sqz_conv *c);

/* Adds every buffer for batches up to max_batch with elements of
 * elem_size bytes. The last layer (global average pool) writes the logits,
 * which the engine owns: it gets no buffer. */
sqz_status sqz_unfused_plan_buffers(const sqz_layer *layers, int num_layers, int max_batch,
                                    size_t elem_size, sqz_memory_plan *plan, sqz_unfused_plan *out);

#ifdef __cplusplus
}
#endif

#endif
