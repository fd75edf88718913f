#include "cudnn_plan.h"

#include <stdatomic.h>
#include <stdint.h>

#include "runtime/error.h"

sqz_view sqz_make_view(int n, int c, int h, int w, int c_total, int c_offset, int nhwc) {
  sqz_view v;
  v.dims[0] = n;
  v.dims[1] = c;
  v.dims[2] = h;
  v.dims[3] = w;
  if (nhwc) {
    v.strides[0] = h * w * c_total;
    v.strides[1] = 1;
    v.strides[2] = w * c_total;
    v.strides[3] = c_total;
    v.offset = (size_t)c_offset;
  } else {
    v.strides[0] = c_total * h * w;
    v.strides[1] = h * w;
    v.strides[2] = w;
    v.strides[3] = 1;
    v.offset = (size_t)c_offset * h * w;
  }
  return v;
}

sqz_status sqz_cudnn_plan_buffers(const sqz_layer *layers, int num_layers, int max_batch,
                                  size_t elem_size, sqz_memory_plan *plan, sqz_cudnn_plan *out) {
  const size_t per = (size_t)max_batch * elem_size;
  /* cuDNN's 4-d descriptors take element counts and strides as int. */
  const size_t largest = sqz_layers_max_activation(layers, num_layers);
  if (largest * (size_t)max_batch > (size_t)INT32_MAX)
    return sqz_fail(SQZ_ERR_UNSUPPORTED,
                    "cudnn: max_batch %d makes a tensor of %zu elements, more than cuDNN's "
                    "2^31 - 1; use max_batch %zu or less",
                    max_batch, largest * (size_t)max_batch, (size_t)INT32_MAX / largest);
  int ok = 1;
  /* Step i + 1 is layer i; the input is written at step 0. */
  out->input = sqz_plan_add(plan, per * layers[0].in_c * layers[0].in_h * layers[0].in_w, 0, 1);
  int cur = out->input;
  out->pooled = -1;
  for (int i = 0; i < num_layers; i++) {
    const sqz_layer *l = &layers[i];
    sqz_cudnn_buffers *b = &out->layers[i];
    const int step = i + 1;
    b->out = b->squeeze = -1;
    if (l->kind == SQZ_LAYER_GLOBAL_AVGPOOL) {
      out->pooled = sqz_plan_add(plan, per * l->out_c, step, step);
      ok = ok && out->pooled >= 0;
      continue;
    }
    /* Read by the next layer, at step + 1. */
    b->out = sqz_plan_add(plan, per * l->out_c * l->out_h * l->out_w, step, step + 1);
    if (l->kind == SQZ_LAYER_FIRE)
      b->squeeze =
          sqz_plan_add(plan, per * l->fire.squeeze.out_channels * l->out_h * l->out_w, step, step);
    ok = ok && b->out >= 0 && (l->kind != SQZ_LAYER_FIRE || b->squeeze >= 0) && cur >= 0;
    cur = b->out;
  }
  if (!ok) return sqz_fail(SQZ_ERR_INTERNAL, "cudnn plan: too many buffers");
  return SQZ_OK;
}

static atomic_int force_packed_expands;

void sqz_cudnn_force_packed_expands(int on) { atomic_store(&force_packed_expands, on != 0); }

int sqz_cudnn_packed_expands_forced(void) { return atomic_load(&force_packed_expands); }
