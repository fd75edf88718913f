/* Internal: the cuDNN backend's buffers, lifetimes and tensor views. Pure C
 * (unit-tested on the CPU without cuDNN). */
#ifndef SQZ_KERNELS_CUDNN_PLAN_H
#define SQZ_KERNELS_CUDNN_PLAN_H

#include "runtime/memory_plan.h"
#include "runtime/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A 4-d tensor description for cuDNN: dims and strides in N, C, H, W order
 * (whatever the memory layout) and the element offset of its first value.
 * A view of channels [c_offset, c_offset + c) of a tensor with c_total
 * channels is how the expand outputs land in the concatenated output. */
typedef struct sqz_view {
  int dims[4];
  int strides[4];
  size_t offset;
} sqz_view;

sqz_view sqz_make_view(int n, int c, int h, int w, int c_total, int c_offset, int nhwc);

typedef struct sqz_cudnn_buffers {
  int out;     /* the layer's output */
  int squeeze; /* fire: squeeze output */
} sqz_cudnn_buffers;

typedef struct sqz_cudnn_plan {
  int input;  /* the converted input */
  int pooled; /* global average pool output, before the cast to fp32 */
  sqz_cudnn_buffers layers[SQZ_MAX_LAYERS];
} sqz_cudnn_plan;

/* Adds the activations: each layer's output lives from its layer to the
 * next; the expands and the bypass write the output in place, so a Fire
 * module needs its input, its squeeze output and its output at once. */
sqz_status sqz_cudnn_plan_buffers(const sqz_layer *layers, int num_layers, int max_batch,
                                  size_t elem_size, sqz_memory_plan *plan, sqz_cudnn_plan *out);

/* Test hook: non-zero makes cudnn engines created afterwards take the
 * packed fallback in every Fire module (both expands into packed scratch,
 * then the concat kernel), as if cuDNN refused the concatenation views;
 * 0 restores the normal choice. Read once at engine creation; not for
 * production use. Here rather than in the backend so that tests link it
 * whether or not cuDNN is built. */
void sqz_cudnn_force_packed_expands(int on);
/* Whether the hook is on. */
int sqz_cudnn_packed_expands_forced(void);

#ifdef __cplusplus
}
#endif

#endif
