#include "unfused_plan.h"

#include <limits.h>

#include "runtime/error.h"

int sqz_unfused_needs_im2col(const sqz_conv *c) {
  return !(c->kernel == 1 && c->stride == 1 && c->pad == 0);
}

typedef struct planner {
  sqz_memory_plan *plan;
  size_t batch_elem; /* bytes per element times max_batch */
  int step;
  int ok;
} planner;

/* A buffer of `elems` per image, live from the current step until extended. */
static int add(planner *p, size_t elems) {
  int index = sqz_plan_add(p->plan, elems * p->batch_elem, p->step, p->step);
  if (index < 0) p->ok = 0;
  return index;
}

/* Marks a buffer as read at the current step. */
static void use(planner *p, int index) {
  if (index >= 0 && p->plan->buffers[index].last < p->step) p->plan->buffers[index].last = p->step;
}

static size_t conv_cols(const sqz_conv *c, int out_h, int out_w) {
  return (size_t)out_h * out_w * c->in_channels * c->kernel * c->kernel;
}

/* One convolution reading `in` (h x w) into `out`: [im2col,] GEMM, bias. */
static void plan_conv(planner *p, const sqz_conv *c, int in, int out, int h, int w, int *col,
                      size_t *workspace) {
  const int oh = sqz_conv_out_size(h, c->kernel, c->stride, c->pad);
  const int ow = sqz_conv_out_size(w, c->kernel, c->stride, c->pad);
  *col = -1;
  if (sqz_unfused_needs_im2col(c)) {
    use(p, in);
    *col = add(p, conv_cols(c, oh, ow));
    if (*col >= 0) *workspace += p->plan->buffers[*col].bytes;
    p->step++;
  }
  use(p, *col >= 0 ? *col : in);
  use(p, out);
  p->step++; /* GEMM */
  use(p, out);
  p->step++; /* bias + activation */
}

sqz_status sqz_unfused_plan_buffers(const sqz_layer *layers, int num_layers, int max_batch,
                                    size_t elem_size, sqz_memory_plan *plan,
                                    sqz_unfused_plan *out) {
  planner p = {plan, (size_t)max_batch * elem_size, 0, 1};
  out->workspace_bytes = 0;
  out->input = add(&p, (size_t)layers[0].in_c * layers[0].in_h * layers[0].in_w);
  out->cublas_workspace = sqz_plan_add(plan, SQZ_CUBLAS_WORKSPACE, 0, INT_MAX / 2);
  if (out->cublas_workspace < 0)
    p.ok = 0;
  else
    out->workspace_bytes += plan->buffers[out->cublas_workspace].bytes;
  p.step++;
  int cur = out->input;
  for (int i = 0; i < num_layers && p.ok; i++) {
    const sqz_layer *l = &layers[i];
    sqz_unfused_buffers *b = &out->layers[i];
    b->out = b->col = b->squeeze = b->e1 = b->e3 = -1;
    const size_t out_elems = (size_t)l->out_c * l->out_h * l->out_w;
    switch (l->kind) {
      case SQZ_LAYER_CONV:
        b->out = add(&p, out_elems);
        plan_conv(&p, &l->conv, cur, b->out, l->in_h, l->in_w, &b->col, &out->workspace_bytes);
        break;
      case SQZ_LAYER_MAXPOOL:
        b->out = add(&p, out_elems);
        use(&p, cur);
        p.step++;
        break;
      case SQZ_LAYER_FIRE: {
        const sqz_fire *f = &l->fire;
        const size_t hw = (size_t)l->out_h * l->out_w;
        int unused_col;
        b->squeeze = add(&p, hw * f->squeeze.out_channels);
        plan_conv(&p, &f->squeeze, cur, b->squeeze, l->in_h, l->in_w, &unused_col,
                  &out->workspace_bytes);
        b->e1 = add(&p, hw * f->expand1x1.out_channels);
        plan_conv(&p, &f->expand1x1, b->squeeze, b->e1, l->in_h, l->in_w, &unused_col,
                  &out->workspace_bytes);
        b->e3 = add(&p, hw * f->expand3x3.out_channels);
        plan_conv(&p, &f->expand3x3, b->squeeze, b->e3, l->in_h, l->in_w, &b->col,
                  &out->workspace_bytes);
        b->out = add(&p, out_elems);
        use(&p, b->e1);
        use(&p, b->e3);
        p.step++; /* concatenation */
        if (f->bypass != SQZ_BYPASS_NONE) {
          use(&p, cur); /* identity add, or shortcut GEMM + bias */
          use(&p, b->out);
          p.step += 2;
          use(&p, b->out);
        }
        break;
      }
      case SQZ_LAYER_GLOBAL_AVGPOOL:
        use(&p, cur);
        p.step++;
        break;
    }
    if (b->out >= 0) cur = b->out;
  }
  if (!p.ok) return sqz_fail(SQZ_ERR_INTERNAL, "unfused plan: too many buffers");
  return SQZ_OK;
}
