#include "unfused_plan.h"

#include <limits.h>

#include "runtime/error.h"

int sqz_unfused_needs_im2col(const sqz_conv *c) {
  return !(c->kernel == 1 && c->stride == 1 && c->pad == 0);
}

typedef struct planner {
  sqz_memory_plan *plan;
  size_t batch_elem;  /* bytes per element times max_batch */
  size_t max_columns; /* the largest im2col matrix, in elements per image */
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

/* One convolution reading `in` (h x w) into `out`: [im2col,] GEMM, bias. */
static void plan_conv(planner *p, const sqz_conv *c, int in, int out, int h, int w) {
  if (sqz_unfused_needs_im2col(c)) {
    const size_t oh = (size_t)sqz_conv_out_size(h, c->kernel, c->stride, c->pad);
    const size_t ow = (size_t)sqz_conv_out_size(w, c->kernel, c->stride, c->pad);
    const size_t cols = oh * ow * c->in_channels * c->kernel * c->kernel;
    if (cols > p->max_columns) p->max_columns = cols;
    use(p, in);
    p->step++; /* im2col */
  }
  use(p, in);
  use(p, out);
  p->step++; /* GEMM */
  use(p, out);
  p->step++; /* bias + activation */
}

sqz_status sqz_unfused_plan_buffers(const sqz_layer *layers, int num_layers, int max_batch,
                                    size_t elem_size, sqz_memory_plan *plan,
                                    sqz_unfused_plan *out) {
  planner p = {plan, (size_t)max_batch * elem_size, 0, 0, 1};
  out->input = add(&p, (size_t)layers[0].in_c * layers[0].in_h * layers[0].in_w);
  p.step++;
  int cur = out->input;
  for (int i = 0; i < num_layers && p.ok; i++) {
    const sqz_layer *l = &layers[i];
    sqz_unfused_buffers *b = &out->layers[i];
    b->out = b->squeeze = b->e1 = b->e3 = -1;
    const size_t out_elems = (size_t)l->out_c * l->out_h * l->out_w;
    switch (l->kind) {
      case SQZ_LAYER_CONV:
        b->out = add(&p, out_elems);
        plan_conv(&p, &l->conv, cur, b->out, l->in_h, l->in_w);
        break;
      case SQZ_LAYER_MAXPOOL:
        b->out = add(&p, out_elems);
        use(&p, cur);
        p.step++;
        break;
      case SQZ_LAYER_FIRE: {
        const sqz_fire *f = &l->fire;
        const size_t hw = (size_t)l->out_h * l->out_w;
        b->squeeze = add(&p, hw * f->squeeze.out_channels);
        plan_conv(&p, &f->squeeze, cur, b->squeeze, l->in_h, l->in_w);
        b->e1 = add(&p, hw * f->expand1x1.out_channels);
        plan_conv(&p, &f->expand1x1, b->squeeze, b->e1, l->in_h, l->in_w);
        b->e3 = add(&p, hw * f->expand3x3.out_channels);
        plan_conv(&p, &f->expand3x3, b->squeeze, b->e3, l->in_h, l->in_w);
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
  out->columns =
      sqz_plan_add(plan, (p.max_columns ? p.max_columns : 1) * p.batch_elem, 0, INT_MAX / 2);
  out->cublas_workspace = sqz_plan_add(plan, SQZ_CUBLAS_WORKSPACE, 0, INT_MAX / 2);
  if (!p.ok || out->columns < 0 || out->cublas_workspace < 0)
    return sqz_fail(SQZ_ERR_INTERNAL, "unfused plan: too many buffers");
  out->workspace_bytes =
      plan->buffers[out->columns].bytes + plan->buffers[out->cublas_workspace].bytes;
  return SQZ_OK;
}
