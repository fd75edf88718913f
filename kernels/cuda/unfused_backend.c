/* The unfused backend: the classic path that fusion is measured against.
 * NHWC activations; 1x1 convolutions are one cuBLAS GEMM over the whole
 * batch, other convolutions im2col + GEMM; bias + ReLU, concatenation,
 * the bypass add and pooling are separate kernels. One launch per step. */
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/kernels.h"
#include "kernels/cuda/unfused_plan.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/gpu_check.h"
#include "runtime/gpu_engine.h"

typedef struct unfused {
  cublasHandle_t cublas;
  sqz_unfused_plan plan;
} unfused;

static void unfused_configure(sqz_gpu_engine *g) {
  const int fp16 = g->e->options.precision == SQZ_PRECISION_FP16;
  g->act_layout = SQZ_LAYOUT_NHWC;
  g->act_dtype = fp16 ? SQZ_DTYPE_F16 : SQZ_DTYPE_F32;
  g->format.layout = SQZ_WEIGHTS_OHWI; /* rows of W match im2col's (ky, kx, ci) */
  g->format.weight_dtype = g->act_dtype;
  g->format.bias_dtype = SQZ_DTYPE_F32;
}

static sqz_status unfused_plan(sqz_gpu_engine *g) {
  unfused *u = sqz_calloc(1, sizeof *u, "unfused backend");
  if (!u) return SQZ_ERR_OUT_OF_MEMORY;
  g->impl = u;
  SQZ_TRY(sqz_unfused_plan_buffers(g->e->layers, g->e->num_layers, g->e->options.max_batch,
                                   sqz_dtype_size(g->act_dtype), &g->plan, &u->plan));
  g->input_buffer = u->plan.input;
  g->arena_workspace_bytes = u->plan.workspace_bytes;
  return SQZ_OK;
}

static sqz_status unfused_init(sqz_gpu_engine *g) {
  unfused *u = g->impl;
  SQZ_GPU_CHECK(cublasCreate(&u->cublas));
  snprintf(g->detail, sizeof g->detail, "cuBLAS GEMMs (%s), im2col for k>1",
           g->act_dtype == SQZ_DTYPE_F16 ? "fp16 in, fp32 accumulate"
           : g->e->options.allow_tf32    ? "fp32, TF32 allowed"
                                         : "fp32 FMA");
  return SQZ_OK;
}

static sqz_status unfused_bind_stream(sqz_gpu_engine *g) {
  unfused *u = g->impl;
  SQZ_GPU_CHECK(cublasSetStream(u->cublas, g->stream));
  /* A workspace of our own, so that cuBLAS allocates nothing while running
   * (graph capture needs that). After cublasSetStream, which resets it to
   * the library's default pool. */
  SQZ_GPU_CHECK(cublasSetWorkspace(u->cublas, sqz_gpu_buffer(g, u->plan.cublas_workspace),
                                   SQZ_CUBLAS_WORKSPACE));
  return SQZ_OK;
}

static void unfused_destroy(sqz_gpu_engine *g) {
  unfused *u = g->impl;
  if (u->cublas) cublasDestroy(u->cublas);
  sqz_free(u);
  g->impl = NULL;
}

/* out[rows x cout] (row stride ldc) = in[rows x k] * W^T, W being
 * [cout x k] row-major; accumulate adds to out (beta = 1). */
static sqz_status gemm(sqz_gpu_engine *g, const void *in, const void *w, void *out, int rows, int k,
                       int cout, int ldc, int accumulate) {
  unfused *u = g->impl;
  const cudaDataType_t t = g->act_dtype == SQZ_DTYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
  const cublasComputeType_t compute = g->act_dtype == SQZ_DTYPE_F32 && g->e->options.allow_tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  /* Column-major view: out^T (cout x rows) = W (cout x k, stored as k x cout
   * column-major, hence op T) times in^T (k x rows). */
  SQZ_GPU_CHECK(cublasGemmEx(u->cublas, CUBLAS_OP_T, CUBLAS_OP_N, cout, rows, k, &alpha, w, t, k,
                             in, t, k, &beta, out, t, ldc, compute, CUBLAS_GEMM_DEFAULT));
  return SQZ_OK;
}

/* act(conv(in) + bias) into out (row stride ldc, channel offset applied by
 * the caller); relu < 0 means "accumulate, identity" (the shortcut). */
static sqz_status conv(sqz_gpu_engine *g, const sqz_conv *c, const sqz_packed_conv *w, int batch,
                       int h, int wd, const void *in, void *out, int ldc, int mode) {
  const unfused *u = g->impl;
  const int oh = sqz_conv_out_size(h, c->kernel, c->stride, c->pad);
  const int ow = sqz_conv_out_size(wd, c->kernel, c->stride, c->pad);
  const int rows = batch * oh * ow, k = c->in_channels * c->kernel * c->kernel;
  const void *a = in;
  if (sqz_unfused_needs_im2col(c)) {
    sqz_window win = {batch, h, wd, c->in_channels, c->kernel, c->stride, c->pad, oh, ow, 0};
    a = sqz_gpu_buffer(g, u->plan.columns);
    SQZ_GPU_CHECK(sqz_launch_im2col(&win, in, (void *)a, g->act_dtype, g->stream));
  }
  const int accumulate = mode < 0;
  SQZ_TRY(
      gemm(g, a, sqz_gpu_weights(g, w->weight), out, rows, k, c->out_channels, ldc, accumulate));
  SQZ_GPU_CHECK(sqz_launch_bias_act(out, sqz_gpu_weights(g, w->bias), (size_t)rows, c->out_channels,
                                    ldc, mode > 0, g->act_dtype, g->stream));
  return SQZ_OK;
}

static sqz_status fire(sqz_gpu_engine *g, const sqz_layer *l, const sqz_packed_layer *w,
                       const sqz_unfused_buffers *b, int batch, const void *in, void *out) {
  const sqz_fire *f = &l->fire;
  const int h = l->in_h, wd = l->in_w, e1 = f->expand1x1.out_channels;
  const int e3 = f->expand3x3.out_channels;
  void *s = sqz_gpu_buffer(g, b->squeeze), *x1 = sqz_gpu_buffer(g, b->e1);
  void *x3 = sqz_gpu_buffer(g, b->e3);
  SQZ_TRY(conv(g, &f->squeeze, &w->squeeze, batch, h, wd, in, s, f->squeeze.out_channels, 1));
  SQZ_TRY(conv(g, &f->expand1x1, &w->expand1x1, batch, h, wd, s, x1, e1, 1));
  SQZ_TRY(conv(g, &f->expand3x3, &w->expand3x3, batch, h, wd, s, x3, e3, 1));
  const size_t rows = (size_t)batch * l->out_h * l->out_w;
  SQZ_GPU_CHECK(sqz_launch_concat(x1, e1, x3, e3, rows, out, g->act_dtype, g->stream));
  if (f->bypass == SQZ_BYPASS_SIMPLE)
    SQZ_GPU_CHECK(sqz_launch_add(out, in, rows * (e1 + e3), g->act_dtype, g->stream));
  else if (f->bypass == SQZ_BYPASS_COMPLEX)
    SQZ_TRY(conv(g, &f->shortcut, &w->shortcut, batch, h, wd, in, out, e1 + e3, -1));
  return SQZ_OK;
}

/* The output of layer i - 1, or the converted input. */
static const void *layer_input(sqz_gpu_engine *g, int i) {
  const unfused *u = g->impl;
  for (int j = i - 1; j >= 0; j--)
    if (u->plan.layers[j].out >= 0) return sqz_gpu_buffer(g, u->plan.layers[j].out);
  return sqz_gpu_buffer(g, u->plan.input);
}

static sqz_status unfused_layer(sqz_gpu_engine *g, int i, int batch, sqz_output_kind kind) {
  unfused *u = g->impl;
  const sqz_layer *l = &g->e->layers[i];
  const sqz_unfused_buffers *b = &u->plan.layers[i];
  const void *in = layer_input(g, i);
  void *out = b->out >= 0 ? sqz_gpu_buffer(g, b->out) : NULL;
  switch (l->kind) {
    case SQZ_LAYER_CONV:
      return conv(g, &l->conv, &g->packed[i].conv, batch, l->in_h, l->in_w, in, out,
                  l->conv.out_channels, l->conv.relu);
    case SQZ_LAYER_MAXPOOL: {
      sqz_window w = {batch,          l->in_h,     l->in_w,  l->in_c,  l->pool.kernel,
                      l->pool.stride, l->pool.pad, l->out_h, l->out_w, 0};
      SQZ_GPU_CHECK(sqz_launch_maxpool(&w, in, out, g->act_dtype, g->stream));
      return SQZ_OK;
    }
    case SQZ_LAYER_FIRE: return fire(g, l, &g->packed[i], b, batch, in, out);
    case SQZ_LAYER_GLOBAL_AVGPOOL: {
      float *logits = sqz_gpu_buffer(g, g->logits_buffer);
      SQZ_GPU_CHECK(sqz_launch_global_avgpool(in, batch, l->in_h * l->in_w, l->in_c, logits,
                                              g->act_dtype, g->stream));
      if (kind == SQZ_OUTPUT_PROBS)
        SQZ_GPU_CHECK(sqz_launch_softmax(logits, batch, g->e->num_classes, g->stream));
      return SQZ_OK;
    }
  }
  return sqz_fail(SQZ_ERR_INTERNAL, "unfused: unknown layer kind %d", (int)l->kind);
}

const sqz_gpu_backend sqz_unfused_backend = {unfused_configure,   unfused_plan,
                                             unfused_init,        unfused_layer,
                                             unfused_bind_stream, unfused_destroy};
