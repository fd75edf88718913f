/* The cuDNN backend: the vendor baseline. Each convolution is one
 * cudnnConvolutionBiasActivationForward (bias and ReLU fused); the expand
 * outputs are written straight into the concatenated output through
 * channel-offset views; the complex bypass's shortcut convolution adds into
 * the output in place (z = y); pooling, the cast to fp32 and softmax are
 * cuDNN calls. Algorithms are chosen once, at creation, by measurement.
 *
 * Where cuDNN refuses the fused call for a convolution (the identity
 * activation has one supported algorithm, and a strided concat view may be
 * refused by every one), that convolution runs split: cudnnConvolutionForward
 * (beta = 1 for the in-place shortcut), then the bias added, then ReLU.
 * Every choice is tried at max_batch and at batch 1, with the implicit GEMM
 * as each convolution's tried fallback for a batch in between that cuDNN
 * refuses (in its argument checks, before enqueueing anything). At creation
 * the outputs are scratch, so a refusal at any step of a trial (the bias
 * add or ReLU of the split form after its convolution was enqueued, too)
 * only moves on to the next candidate; at run time enqueued work is never
 * retried.
 *
 * Where a Fire module's expand is refused on its concatenation view by
 * every algorithm, both of its expands write packed tensors of their own
 * into one scratch allocation (made only then, sized for the largest such
 * module at max_batch, counted as workspace), and sqz's concat kernel
 * writes the concatenated output; then the shortcut or bypass adds in, as
 * on the direct path. A test hook (sqz_cudnn_force_packed_expands) forces
 * this path on every Fire module.
 *
 * Only deterministic algorithms are taken (Find's results of another
 * determinism are skipped), so that runs compare bit for bit.
 *
 * Layout: NCHW for fp32, NHWC for fp16 (tensor cores want channels last);
 * this is the conventional choice, not yet confirmed by measurement here.
 *
 * This uses cuDNN's legacy convolution API, deprecated in cuDNN 9 but still
 * supported; it is what most frameworks' "cuDNN baseline" numbers are. */
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/kernels.h"
#include "kernels/cudnn/cudnn_plan.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/gpu_check.h"
#include "runtime/gpu_engine.h"

enum { MAX_ALGOS = 16, CONVS_PER_LAYER = 4, DEFAULT_WORKSPACE_LIMIT = 256 << 20 };

typedef struct conv_choice {
  cudnnConvolutionFwdAlgo_t algo;
  cudnnMathType_t math;
  size_t workspace;
  int split;          /* convolution, bias and activation as three calls */
  int fallback_split; /* the implicit GEMM's form when the choice is refused
                         at some batch: 0 fused, 1 split, -1 neither runs */
} conv_choice;

typedef struct cudnn_state {
  cudnnHandle_t handle;
  cudnnTensorDescriptor_t x, y, bias, logits;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnActivationDescriptor_t relu, identity;
  cudnnPoolingDescriptor_t pool;
  sqz_cudnn_plan plan;
  /* Per layer: [0] the conv, or a Fire's squeeze, expand1x1, expand3x3,
   * shortcut. */
  conv_choice choice[SQZ_MAX_LAYERS][CONVS_PER_LAYER];
  void *workspace;
  size_t workspace_bytes;
  int own_maxpool; /* cuDNN refused ceil-mode output sizes: sqz's kernel */
  int split_convs; /* convolutions cuDNN runs only split (no fused call) */
  /* Per Fire layer: its expands write packed tensors in expand_scratch
   * (cuDNN refused a concatenation view), then sqz's concat kernel. */
  int packed_expands[SQZ_MAX_LAYERS];
  int packed_layers;
  int packed_forced;    /* by the test hook, for every Fire layer */
  void *expand_scratch; /* NULL unless some layer needs it */
  size_t expand_scratch_bytes;
  cudnnDataType_t dtype;
  int nhwc;
} cudnn_state;

/* One convolution call: input x (whole tensor), output y (a channel range
 * of a tensor with y_total channels), bias and activation fused. */
typedef struct conv_call {
  const sqz_conv *conv;
  const sqz_packed_conv *packed;
  const void *x;
  int h, w; /* input size */
  void *y;  /* base of the output tensor */
  int y_total, y_offset;
  int accumulate; /* y += conv + bias (the shortcut) */
  int relu;       /* ReLU, else identity */
  conv_choice *choice;
} conv_call;

static cudnn_state *state(sqz_gpu_engine *g) { return g->impl; }

static size_t elem_size(const sqz_gpu_engine *g) { return sqz_dtype_size(g->act_dtype); }

static sqz_status set_tensor(cudnnTensorDescriptor_t d, cudnnDataType_t t, const sqz_view *v) {
  SQZ_GPU_CHECK(cudnnSetTensor4dDescriptorEx(d, t, v->dims[0], v->dims[1], v->dims[2], v->dims[3],
                                             v->strides[0], v->strides[1], v->strides[2],
                                             v->strides[3]));
  return SQZ_OK;
}

/* Sets x, w, conv, y and bias descriptors for `call` at batch n; returns
 * the y address (with the view's offset). */
static sqz_status describe_conv(sqz_gpu_engine *g, const conv_call *call, int n, void **y) {
  cudnn_state *s = state(g);
  const sqz_conv *c = call->conv;
  const int oh = sqz_conv_out_size(call->h, c->kernel, c->stride, c->pad);
  const int ow = sqz_conv_out_size(call->w, c->kernel, c->stride, c->pad);
  sqz_view xv = sqz_make_view(n, c->in_channels, call->h, call->w, c->in_channels, 0, s->nhwc);
  sqz_view yv = sqz_make_view(n, c->out_channels, oh, ow, call->y_total, call->y_offset, s->nhwc);
  SQZ_TRY(set_tensor(s->x, s->dtype, &xv));
  SQZ_TRY(set_tensor(s->y, s->dtype, &yv));
  SQZ_GPU_CHECK(cudnnSetFilter4dDescriptor(s->w, s->dtype,
                                           s->nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                           c->out_channels, c->in_channels, c->kernel, c->kernel));
  SQZ_GPU_CHECK(cudnnSetConvolution2dDescriptor(s->conv, c->pad, c->pad, c->stride, c->stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  SQZ_GPU_CHECK(cudnnSetConvolutionMathType(s->conv, call->choice->math));
  SQZ_GPU_CHECK(
      cudnnSetTensor4dDescriptor(s->bias, CUDNN_TENSOR_NCHW, s->dtype, 1, c->out_channels, 1, 1));
  *y = (char *)call->y + yv.offset * elem_size(g);
  return SQZ_OK;
}

/* One convolution with `algo`, fused or split, on the described tensors.
 * *enqueued: whether any work reached the stream (then a failure at run
 * time must not be retried: the in-place shortcut would add its
 * convolution twice). */
static cudnnStatus_t conv_forward(sqz_gpu_engine *g, const conv_call *call, void *y,
                                  cudnnConvolutionFwdAlgo_t algo, int split, int *enqueued) {
  cudnn_state *s = state(g);
  const float one = 1.0f, zero = 0.0f;
  const void *w = sqz_gpu_weights(g, call->packed->weight);
  const void *bias = sqz_gpu_weights(g, call->packed->bias);
  *enqueued = 0;
  cudnnStatus_t st;
  if (!split) {
    st = cudnnConvolutionBiasActivationForward(s->handle, &one, s->x, call->x, s->w, w, s->conv,
                                               algo, s->workspace, s->workspace_bytes,
                                               call->accumulate ? &one : &zero, s->y, y, s->bias,
                                               bias, call->relu ? s->relu : s->identity, s->y, y);
    *enqueued = st == CUDNN_STATUS_SUCCESS;
    return st;
  }
  st = cudnnConvolutionForward(s->handle, &one, s->x, call->x, s->w, w, s->conv, algo, s->workspace,
                               s->workspace_bytes, call->accumulate ? &one : &zero, s->y, y);
  if (st != CUDNN_STATUS_SUCCESS) return st;
  *enqueued = 1;
  st = cudnnAddTensor(s->handle, &one, s->bias, bias, &one, s->y, y);
  if (st == CUDNN_STATUS_SUCCESS && call->relu)
    st = cudnnActivationForward(s->handle, s->relu, &one, s->y, y, &zero, s->y, y);
  return st;
}

/* cuDNN refused the call in its argument checks (cuDNN 9's BAD_PARAM and
 * NOT_SUPPORTED categories), before enqueueing anything: another algorithm
 * or form may be tried. Any other failure is an error. */
static int refused(cudnnStatus_t st) {
#if CUDNN_MAJOR >= 9
  const int category = (int)st / 1000;
  return category == 2 || category == 3;
#else
  return st == CUDNN_STATUS_BAD_PARAM || st == CUDNN_STATUS_NOT_SUPPORTED;
#endif
}

/* The algorithm was chosen at max_batch and tried at batch 1 as well. A
 * batch in between that needs more workspace than planned, or that cuDNN
 * refuses the choice for, runs the implicit GEMM in the form (fused or
 * split) that was tried at both ends at creation. */
static sqz_status run_conv(sqz_gpu_engine *g, const conv_call *call, int n) {
  cudnn_state *s = state(g);
  const conv_choice *c = call->choice;
  void *y;
  SQZ_TRY(describe_conv(g, call, n, &y));
  size_t need = 0;
  int enqueued = 0;
  cudnnStatus_t st =
      cudnnGetConvolutionForwardWorkspaceSize(s->handle, s->x, s->w, s->conv, s->y, c->algo, &need);
  if (st == CUDNN_STATUS_SUCCESS && need <= s->workspace_bytes) {
    st = conv_forward(g, call, y, c->algo, c->split, &enqueued);
    if (st == CUDNN_STATUS_SUCCESS) return SQZ_OK;
  }
  if (st != CUDNN_STATUS_SUCCESS && (enqueued || !refused(st) || c->fallback_split < 0))
    SQZ_GPU_CHECK(st);
  if (c->fallback_split < 0)
    return sqz_fail(SQZ_ERR_INTERNAL,
                    "cudnn: batch %d needs %zu workspace bytes, %zu planned, and no fallback runs",
                    n, need, s->workspace_bytes);
  SQZ_GPU_CHECK(conv_forward(g, call, y, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                             c->fallback_split, &enqueued));
  return SQZ_OK;
}

/* Fire layer l's packed expand outputs in expand_scratch: the 1x1
 * branch's tensor for max_batch images, then (at this byte offset, kept
 * 256-byte aligned as cudaMalloc's own pointers are) the 3x3 branch's. */
static size_t packed_3x3_offset(const sqz_gpu_engine *g, const sqz_layer *l) {
  const size_t bytes = (size_t)g->e->options.max_batch *
                       sqz_gpu_elems(l->fire.expand1x1.out_channels, l->out_h, l->out_w) *
                       elem_size(g);
  return (bytes + 255) / 256 * 256;
}

static size_t packed_bytes(const sqz_gpu_engine *g, const sqz_layer *l) {
  return packed_3x3_offset(g, l) +
         (size_t)g->e->options.max_batch *
             sqz_gpu_elems(l->fire.expand3x3.out_channels, l->out_h, l->out_w) * elem_size(g);
}

/* The convolution calls of layer i, for batch n (buffers from the plan).
 * A Fire layer with packed expands writes them to expand_scratch. */
static int layer_calls(sqz_gpu_engine *g, int i, const void *in, conv_call calls[CONVS_PER_LAYER]) {
  cudnn_state *s = state(g);
  const sqz_layer *l = &g->e->layers[i];
  const sqz_packed_layer *p = &g->packed[i];
  memset(calls, 0, sizeof(conv_call) * CONVS_PER_LAYER);
  if (l->kind != SQZ_LAYER_CONV && l->kind != SQZ_LAYER_FIRE) return 0;
  void *out = sqz_gpu_buffer(g, s->plan.layers[i].out);
  if (l->kind == SQZ_LAYER_CONV) {
    calls[0] = (conv_call){&l->conv, &p->conv, in, l->in_h,      l->in_w,         out,
                           l->out_c, 0,        0,  l->conv.relu, &s->choice[i][0]};
    return 1;
  }
  const sqz_fire *f = &l->fire;
  void *sq = sqz_gpu_buffer(g, s->plan.layers[i].squeeze);
  const int e1 = f->expand1x1.out_channels, e3 = f->expand3x3.out_channels;
  void *y1 = out, *y3 = out;
  int y1_total = l->out_c, y3_total = l->out_c, y3_offset = e1;
  if (s->packed_expands[i]) {
    y1 = s->expand_scratch;
    y3 = (char *)s->expand_scratch + packed_3x3_offset(g, l);
    y1_total = e1;
    y3_total = e3;
    y3_offset = 0;
  }
  /* conv, weights, x, h, w, y, y channels, y offset, accumulate, relu */
  calls[0] = (conv_call){
      &f->squeeze, &p->squeeze, in, l->in_h,         l->in_w, sq, f->squeeze.out_channels,
      0,           0,           1,  &s->choice[i][0]};
  calls[1] = (conv_call){
      &f->expand1x1, &p->expand1x1, sq, l->in_h, l->in_w, y1, y1_total, 0, 0, 1, &s->choice[i][1]};
  calls[2] = (conv_call){&f->expand3x3, &p->expand3x3, sq, l->in_h, l->in_w,         y3,
                         y3_total,      y3_offset,     0,  1,       &s->choice[i][2]};
  if (f->bypass != SQZ_BYPASS_COMPLEX) return 3;
  calls[3] = (conv_call){
      &f->shortcut, &p->shortcut, in, l->in_h, l->in_w, out, l->out_c, 0, 1, 0, &s->choice[i][3]};
  return 4;
}

static const void *layer_input(sqz_gpu_engine *g, int i);

/* --- algorithm choice ------------------------------------------------------ */

static cudnnMathType_t wanted_math(const sqz_gpu_engine *g) {
  if (g->act_dtype == SQZ_DTYPE_F16) return CUDNN_TENSOR_OP_MATH;
  return g->e->options.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

/* Runs `call` once at batch n with `algo` in one form, then waits for it
 * (creation only): does cuDNN take it, and with how much workspace? A
 * refusal returns SQZ_ERR_UNSUPPORTED, for the next candidate, even after
 * part of the split form was enqueued (the outputs are scratch now; a
 * partial convolution added into the shortcut's output is overwritten
 * before any run); any other failure (*fatal) ends the search. */
static sqz_status trial(sqz_gpu_engine *g, const conv_call *call, int n,
                        cudnnConvolutionFwdAlgo_t algo, int split, size_t *workspace, int *fatal) {
  cudnn_state *s = state(g);
  void *y;
  SQZ_TRY(describe_conv(g, call, n, &y));
  size_t need = 0;
  int enqueued = 0; /* a refusal counts as one either way, at creation */
  cudnnStatus_t st =
      cudnnGetConvolutionForwardWorkspaceSize(s->handle, s->x, s->w, s->conv, s->y, algo, &need);
  if (st == CUDNN_STATUS_SUCCESS && need > s->workspace_bytes)
    return sqz_fail(SQZ_ERR_UNSUPPORTED, "cudnn: %zu workspace bytes wanted", need);
  if (st == CUDNN_STATUS_SUCCESS) st = conv_forward(g, call, y, algo, split, &enqueued);
  if (st != CUDNN_STATUS_SUCCESS) {
    *fatal = !refused(st);
    (void)cudaGetLastError();
    return *fatal ? SQZ_GPU_STATUS(st, "cuDNN convolution trial")
                  : sqz_fail(SQZ_ERR_UNSUPPORTED, "cudnn refused: %s", cudnnGetErrorString(st));
  }
  const sqz_status synced =
      SQZ_GPU_STATUS(cudaStreamSynchronize(g->stream), "cudaStreamSynchronize");
  if (synced != SQZ_OK) {
    *fatal = 1;
    return synced;
  }
  if (need > *workspace) *workspace = need;
  return SQZ_OK;
}

/* Whether `algo` in form `split` runs at max_batch and at batch 1. */
static sqz_status trial_both_ends(sqz_gpu_engine *g, const conv_call *call,
                                  cudnnConvolutionFwdAlgo_t algo, int split, size_t *workspace,
                                  int *fatal) {
  const int n = g->e->options.max_batch;
  SQZ_TRY(trial(g, call, n, algo, split, workspace, fatal));
  return n > 1 ? trial(g, call, 1, algo, split, workspace, fatal) : SQZ_OK;
}

/* Measures the algorithms for one call at max_batch and keeps the fastest
 * deterministic one that fits the workspace and runs at max_batch and at
 * batch 1: fused (bias and activation in the convolution call) if cuDNN
 * takes any, else split. Then the implicit GEMM is tried at both ends too,
 * fused or split, as the fallback for batches in between that cuDNN
 * refuses the choice for. The workspace covers all of it. */
static sqz_status choose(sqz_gpu_engine *g, const conv_call *call, void *scratch, size_t limit) {
  cudnn_state *s = state(g);
  const int n = g->e->options.max_batch;
  conv_choice *c = call->choice;
  c->math = wanted_math(g);
  c->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  c->split = 0;
  c->fallback_split = -1;
  void *y;
  SQZ_TRY(describe_conv(g, call, n, &y));
  cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS + 2]; /* + the fallbacks */
  int found = 0;
  /* The search times cudnnConvolutionForward (the split form); its results
   * rank the fused candidates too. A failed search leaves the fallbacks. */
  if (SQZ_GPU_STATUS(cudnnFindConvolutionForwardAlgorithmEx(
                         s->handle, s->x, call->x, s->w, sqz_gpu_weights(g, call->packed->weight),
                         s->conv, s->y, y, MAX_ALGOS, &found, perf, scratch, limit),
                     "cudnnFindConvolutionForwardAlgorithmEx") != SQZ_OK) {
    found = 0;
    (void)cudaGetLastError();
  }
  /* The identity activation is supported only with the precomputed
   * implicit GEMM; the plain implicit GEMM needs no workspace at all. */
  static const cudnnConvolutionFwdAlgo_t fallbacks[2] = {
      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM};
  for (int f = 0; f < 2; f++) {
    perf[found].algo = fallbacks[f];
    perf[found].status = CUDNN_STATUS_SUCCESS;
    perf[found].mathType = c->math;
    perf[found].determinism = CUDNN_DETERMINISTIC;
    perf[found].memory = 0; /* measured by the trials */
    found++;
  }
  const size_t saved_bytes = s->workspace_bytes;
  void *saved = s->workspace;
  s->workspace = scratch;
  s->workspace_bytes = limit;
  sqz_status st = SQZ_ERR_UNSUPPORTED;
  int fatal = 0;
  size_t workspace = 0;
  for (int split = 0; split <= 1 && st != SQZ_OK && !fatal; split++) {
    for (int a = 0; a < found && st != SQZ_OK && !fatal; a++) {
      /* Runs are compared bit for bit: no nondeterministic algorithm. */
      if (perf[a].status != CUDNN_STATUS_SUCCESS || perf[a].determinism != CUDNN_DETERMINISTIC ||
          perf[a].memory > limit)
        continue;
      /* fp32 without TF32 runs every candidate with FMA math (DEFAULT would
       * permit TF32 on A100 and later); one that needs tensor ops then
       * fails its trial. */
      c->math = g->act_dtype == SQZ_DTYPE_F32 && !g->e->options.allow_tf32 ? CUDNN_FMA_MATH
                                                                           : perf[a].mathType;
      workspace = 0;
      st = trial_both_ends(g, call, perf[a].algo, split, &workspace, &fatal);
      if (st == SQZ_OK) {
        c->algo = perf[a].algo;
        c->split = split;
      }
    }
  }
  for (int split = 0; st == SQZ_OK && split <= 1 && c->fallback_split < 0; split++) {
    size_t fallback_workspace = workspace;
    const sqz_status tried = trial_both_ends(g, call, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                             split, &fallback_workspace, &fatal);
    if (tried == SQZ_OK) {
      c->fallback_split = split;
      workspace = fallback_workspace;
    } else if (fatal) {
      st = tried;
    }
  }
  c->workspace = workspace;
  s->workspace = saved;
  s->workspace_bytes = saved_bytes;
  if (st != SQZ_OK)
    return sqz_fail_context(st, "cudnn: no algorithm for %dx%d conv %d->%d channels",
                            call->conv->kernel, call->conv->kernel, call->conv->in_channels,
                            call->conv->out_channels);
  return SQZ_OK;
}

/* Makes expand_scratch hold Fire layer l's two packed expand outputs at
 * max_batch: one allocation, replaced by a larger one (with the stream
 * idle: trials of earlier layers wrote the old one) when a later layer
 * needs more. */
static sqz_status reserve_expand_scratch(sqz_gpu_engine *g, const sqz_layer *l) {
  cudnn_state *s = state(g);
  const size_t bytes = packed_bytes(g, l);
  if (bytes <= s->expand_scratch_bytes) return SQZ_OK;
  if (s->expand_scratch) {
    void *old = s->expand_scratch;
    s->expand_scratch = NULL;
    s->expand_scratch_bytes = 0;
    const sqz_status synced =
        SQZ_GPU_STATUS(cudaStreamSynchronize(g->stream), "cudaStreamSynchronize");
    const sqz_status freed = SQZ_GPU_STATUS(cudaFree(old), "cudaFree");
    SQZ_TRY(synced);
    SQZ_TRY(freed);
  }
  SQZ_TRY(sqz_device_malloc(&s->expand_scratch, bytes, "cuDNN packed expand outputs"));
  s->expand_scratch_bytes = bytes;
  return SQZ_OK;
}

/* Chooses the algorithms of layer i's convolutions; *need grows to the
 * workspace they take. A Fire module whose expands cuDNN refuses on their
 * concatenation views (or every one, with the test hook) gets both
 * expands chosen again on packed tensors in expand_scratch. */
static sqz_status choose_layer(sqz_gpu_engine *g, int i, void *scratch, size_t limit,
                               int force_packed, size_t *need) {
  cudnn_state *s = state(g);
  const sqz_layer *l = &g->e->layers[i];
  conv_call calls[CONVS_PER_LAYER];
  int count = layer_calls(g, i, layer_input(g, i), calls);
  if (count == 0) return SQZ_OK;
  SQZ_TRY(choose(g, &calls[0], scratch, limit));
  if (l->kind == SQZ_LAYER_FIRE) {
    sqz_status st = force_packed ? SQZ_ERR_UNSUPPORTED : choose(g, &calls[1], scratch, limit);
    if (st == SQZ_OK) st = choose(g, &calls[2], scratch, limit);
    if (st == SQZ_ERR_UNSUPPORTED) {
      /* The trials run for real: the scratch must exist before them. */
      SQZ_TRY(reserve_expand_scratch(g, l));
      s->packed_expands[i] = 1;
      s->packed_layers++;
      count = layer_calls(g, i, layer_input(g, i), calls);
      st = choose(g, &calls[1], scratch, limit);
      if (st == SQZ_OK) st = choose(g, &calls[2], scratch, limit);
      if (st != SQZ_OK)
        return sqz_fail_context(st, "cudnn: %s, expands on packed tensors", l->name);
    }
    SQZ_TRY(st);
  }
  for (int c = 3; c < count; c++) SQZ_TRY(choose(g, &calls[c], scratch, limit));
  for (int c = 0; c < count; c++) {
    if (calls[c].choice->workspace > *need) *need = calls[c].choice->workspace;
    s->split_convs += calls[c].choice->split;
  }
  return SQZ_OK;
}

static sqz_status choose_all(sqz_gpu_engine *g) {
  cudnn_state *s = state(g);
  size_t limit = g->e->options.workspace_limit ? g->e->options.workspace_limit
                                               : (size_t)DEFAULT_WORKSPACE_LIMIT;
  void *scratch = NULL;
  SQZ_TRY(sqz_device_malloc(&scratch, limit, "cuDNN algorithm search workspace"));
  const int force_packed = s->packed_forced = sqz_cudnn_packed_expands_forced();
  sqz_status st = SQZ_OK;
  size_t need = 0;
  for (int i = 0; i < g->e->num_layers && st == SQZ_OK; i++)
    st = choose_layer(g, i, scratch, limit, force_packed, &need);
  sqz_status synced = SQZ_GPU_STATUS(cudaStreamSynchronize(g->stream), "cudaStreamSynchronize");
  sqz_status freed = SQZ_GPU_STATUS(cudaFree(scratch), "cudaFree");
  if (st == SQZ_OK) st = synced;
  if (st == SQZ_OK) st = freed;
  if (st != SQZ_OK) return st;
  s->workspace_bytes = need;
  /* The packed expand outputs live outside the arena, as cuDNN's
   * workspace does: both count as workspace in the memory report. */
  g->external_workspace_bytes = need + s->expand_scratch_bytes;
  return sqz_device_malloc(&s->workspace, need, "cuDNN workspace");
}

/* --- pooling -------------------------------------------------------------- */

/* cuDNN computes pooling output sizes with floor; ceil mode needs the
 * output descriptor one larger. Check once that cuDNN accepts that and
 * clips the overhanging windows (4x4 -> 2x2, 3x3 windows, stride 2): the
 * 4x4 input is followed by rows of a large sentinel, which a window that
 * is not clipped would pick up; the output goes elsewhere. */
static sqz_status probe_ceil_pooling(sqz_gpu_engine *g, int *works) {
  enum { VALUES = 32, OUT = 64 }; /* input + sentinel rows; output offset */
  cudnn_state *s = state(g);
  *works = 0;
  unsigned char host[VALUES * 4];
  for (int i = 0; i < VALUES; i++) {
    const float v = i < 16 ? (float)i : 1000.0f;
    if (g->act_dtype == SQZ_DTYPE_F16)
      ((uint16_t *)host)[i] = sqz_float_to_half(v);
    else
      ((float *)host)[i] = v;
  }
  const size_t es = elem_size(g);
  unsigned char *dev = sqz_gpu_buffer(g, s->plan.input); /* free at creation */
  SQZ_GPU_CHECK(cudaMemcpyAsync(dev, host, VALUES * es, cudaMemcpyHostToDevice, g->stream));
  sqz_view in = sqz_make_view(1, 1, 4, 4, 1, 0, s->nhwc),
           out = sqz_make_view(1, 1, 2, 2, 1, 0, s->nhwc);
  SQZ_TRY(set_tensor(s->x, s->dtype, &in));
  SQZ_TRY(set_tensor(s->y, s->dtype, &out));
  SQZ_GPU_CHECK(cudnnSetPooling2dDescriptor(s->pool, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, 3,
                                            3, 0, 0, 2, 2));
  const float one = 1.0f, zero = 0.0f;
  cudnnStatus_t st =
      cudnnPoolingForward(s->handle, s->pool, &one, s->x, dev, &zero, s->y, dev + OUT * es);
  if (st != CUDNN_STATUS_SUCCESS) {
    (void)cudaGetLastError();
    return SQZ_OK;
  }
  SQZ_GPU_CHECK(cudaMemcpyAsync(host, dev + OUT * es, 4 * es, cudaMemcpyDeviceToHost, g->stream));
  SQZ_GPU_CHECK(cudaStreamSynchronize(g->stream));
  static const float expected[4] = {10, 11, 14, 15};
  for (int i = 0; i < 4; i++) {
    float v = g->act_dtype == SQZ_DTYPE_F16 ? sqz_half_to_float(((uint16_t *)host)[i])
                                            : ((float *)host)[i];
    if (v != expected[i]) return SQZ_OK;
  }
  *works = 1;
  return SQZ_OK;
}

static sqz_status maxpool(sqz_gpu_engine *g, const sqz_layer *l, int n, const void *in, void *out) {
  cudnn_state *s = state(g);
  if (s->own_maxpool) {
    sqz_window w = {n,           l->in_h,  l->in_w,  l->in_c, l->pool.kernel, l->pool.stride,
                    l->pool.pad, l->out_h, l->out_w, !s->nhwc};
    SQZ_GPU_CHECK(sqz_launch_maxpool(&w, in, out, g->act_dtype, g->stream));
    return SQZ_OK;
  }
  sqz_view xv = sqz_make_view(n, l->in_c, l->in_h, l->in_w, l->in_c, 0, s->nhwc);
  sqz_view yv = sqz_make_view(n, l->out_c, l->out_h, l->out_w, l->out_c, 0, s->nhwc);
  SQZ_TRY(set_tensor(s->x, s->dtype, &xv));
  SQZ_TRY(set_tensor(s->y, s->dtype, &yv));
  SQZ_GPU_CHECK(cudnnSetPooling2dDescriptor(s->pool, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN,
                                            l->pool.kernel, l->pool.kernel, l->pool.pad,
                                            l->pool.pad, l->pool.stride, l->pool.stride));
  const float one = 1.0f, zero = 0.0f;
  SQZ_GPU_CHECK(cudnnPoolingForward(s->handle, s->pool, &one, s->x, in, &zero, s->y, out));
  return SQZ_OK;
}

/* Global average pool (a pooling window as large as the input), the cast
 * to fp32 logits, and softmax when asked. */
static sqz_status classifier_tail(sqz_gpu_engine *g, const sqz_layer *l, int n, const void *in,
                                  sqz_output_kind kind) {
  cudnn_state *s = state(g);
  void *pooled = sqz_gpu_buffer(g, s->plan.pooled);
  float *logits = sqz_gpu_buffer(g, g->logits_buffer);
  sqz_view xv = sqz_make_view(n, l->in_c, l->in_h, l->in_w, l->in_c, 0, s->nhwc);
  sqz_view pv = sqz_make_view(n, l->in_c, 1, 1, l->in_c, 0, s->nhwc);
  sqz_view lv = sqz_make_view(n, l->in_c, 1, 1, l->in_c, 0, 0);
  SQZ_TRY(set_tensor(s->x, s->dtype, &xv));
  SQZ_TRY(set_tensor(s->y, s->dtype, &pv));
  SQZ_TRY(set_tensor(s->logits, CUDNN_DATA_FLOAT, &lv));
  SQZ_GPU_CHECK(cudnnSetPooling2dDescriptor(s->pool, CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                                            CUDNN_NOT_PROPAGATE_NAN, l->in_h, l->in_w, 0, 0,
                                            l->in_h, l->in_w));
  const float one = 1.0f, zero = 0.0f;
  SQZ_GPU_CHECK(cudnnPoolingForward(s->handle, s->pool, &one, s->x, in, &zero, s->y, pooled));
  SQZ_GPU_CHECK(cudnnTransformTensor(s->handle, &one, s->y, pooled, &zero, s->logits, logits));
  if (kind == SQZ_OUTPUT_PROBS)
    SQZ_GPU_CHECK(cudnnSoftmaxForward(s->handle, CUDNN_SOFTMAX_ACCURATE,
                                      CUDNN_SOFTMAX_MODE_INSTANCE, &one, s->logits, logits, &zero,
                                      s->logits, logits));
  return SQZ_OK;
}

/* --- the backend interface -------------------------------------------------- */

static void cudnn_configure(sqz_gpu_engine *g) {
  const int fp16 = g->e->options.precision == SQZ_PRECISION_FP16;
  g->act_dtype = fp16 ? SQZ_DTYPE_F16 : SQZ_DTYPE_F32;
  g->act_layout = fp16 ? SQZ_LAYOUT_NHWC : SQZ_LAYOUT_NCHW;
  g->format.layout = fp16 ? SQZ_WEIGHTS_OHWI : SQZ_WEIGHTS_OIHW;
  g->format.weight_dtype = g->act_dtype;
  g->format.bias_dtype = g->act_dtype; /* cuDNN wants the bias in y's type */
}

static sqz_status cudnn_plan(sqz_gpu_engine *g) {
  cudnn_state *s = sqz_calloc(1, sizeof *s, "cudnn backend");
  if (!s) return SQZ_ERR_OUT_OF_MEMORY;
  g->impl = s;
  s->dtype = g->act_dtype == SQZ_DTYPE_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  s->nhwc = g->act_layout == SQZ_LAYOUT_NHWC;
  SQZ_TRY(sqz_cudnn_plan_buffers(g->e->layers, g->e->num_layers, g->e->options.max_batch,
                                 elem_size(g), &g->plan, &s->plan));
  g->input_buffer = s->plan.input;
  return SQZ_OK;
}

static sqz_status cudnn_init(sqz_gpu_engine *g) {
  cudnn_state *s = state(g);
  const cudnnStatus_t created = cudnnCreate(&s->handle);
#if CUDNN_MAJOR >= 9
  /* A cuDNN whose sub-libraries are missing or of another version cannot
   * run here at all: "unsupported", so that auto moves on to the next
   * backend instead of stopping. */
  if (created == CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED ||
      created == CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH ||
      created == CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE)
    return sqz_fail(SQZ_ERR_UNSUPPORTED, "cuDNN cannot be loaded here: %s",
                    cudnnGetErrorString(created));
#endif
  SQZ_GPU_CHECK(created);
  SQZ_GPU_CHECK(cudnnSetStream(s->handle, g->stream));
  SQZ_GPU_CHECK(cudnnCreateTensorDescriptor(&s->x));
  SQZ_GPU_CHECK(cudnnCreateTensorDescriptor(&s->y));
  SQZ_GPU_CHECK(cudnnCreateTensorDescriptor(&s->bias));
  SQZ_GPU_CHECK(cudnnCreateTensorDescriptor(&s->logits));
  SQZ_GPU_CHECK(cudnnCreateFilterDescriptor(&s->w));
  SQZ_GPU_CHECK(cudnnCreateConvolutionDescriptor(&s->conv));
  SQZ_GPU_CHECK(cudnnCreateActivationDescriptor(&s->relu));
  SQZ_GPU_CHECK(cudnnCreateActivationDescriptor(&s->identity));
  SQZ_GPU_CHECK(cudnnCreatePoolingDescriptor(&s->pool));
  SQZ_GPU_CHECK(
      cudnnSetActivationDescriptor(s->relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  SQZ_GPU_CHECK(cudnnSetActivationDescriptor(s->identity, CUDNN_ACTIVATION_IDENTITY,
                                             CUDNN_NOT_PROPAGATE_NAN, 0.0));
  int ceil_ok = 0;
  SQZ_TRY(probe_ceil_pooling(g, &ceil_ok));
  s->own_maxpool = !ceil_ok;
  SQZ_TRY(choose_all(g));
  snprintf(g->detail, sizeof g->detail,
           "cuDNN %zu, %s, workspace %zu bytes, max pool: %s, %d convolution(s) split "
           "(conv, bias, ReLU as separate calls), %d Fire module(s) with packed expands%s",
           cudnnGetVersion(),
           g->act_dtype == SQZ_DTYPE_F16 ? "tensor-op math"
           : g->e->options.allow_tf32    ? "TF32 allowed"
                                         : "FMA math",
           s->workspace_bytes,
           s->own_maxpool ? "sqz kernel (cuDNN refused ceil-mode sizes)" : "cuDNN", s->split_convs,
           s->packed_layers,
           s->packed_layers == 0 ? ""
           : s->packed_forced
               ? " (forced by the test hook: into packed scratch, then sqz's concat kernel)"
               : " (cuDNN refused the concatenation views: into packed scratch, then sqz's "
                 "concat kernel)");
  return SQZ_OK;
}

/* The output of layer i - 1, or the converted input. */
static const void *layer_input(sqz_gpu_engine *g, int i) {
  const cudnn_state *s = g->impl;
  for (int j = i - 1; j >= 0; j--)
    if (s->plan.layers[j].out >= 0) return sqz_gpu_buffer(g, s->plan.layers[j].out);
  return sqz_gpu_buffer(g, s->plan.input);
}

/* out = [expand1x1, expand3x3] along channels, from their packed tensors:
 * per pixel in NHWC, per image (e1 then e3 whole planes) in NCHW. */
static sqz_status concat_expands(sqz_gpu_engine *g, const sqz_layer *l, int n,
                                 const conv_call *e1x1, const conv_call *e3x3, void *out) {
  const int hw = l->out_h * l->out_w, per = state(g)->nhwc ? 1 : hw;
  const size_t rows = state(g)->nhwc ? (size_t)n * hw : (size_t)n;
  SQZ_GPU_CHECK(sqz_launch_concat(e1x1->y, e1x1->conv->out_channels * per, e3x3->y,
                                  e3x3->conv->out_channels * per, rows, out, g->act_dtype,
                                  g->stream));
  return SQZ_OK;
}

static sqz_status cudnn_layer(sqz_gpu_engine *g, int i, int n, sqz_output_kind kind) {
  cudnn_state *s = state(g);
  const sqz_layer *l = &g->e->layers[i];
  const void *in = layer_input(g, i);
  void *out = s->plan.layers[i].out >= 0 ? sqz_gpu_buffer(g, s->plan.layers[i].out) : NULL;
  conv_call calls[CONVS_PER_LAYER];
  const int count = layer_calls(g, i, in, calls);
  for (int c = 0; c < count; c++) {
    SQZ_TRY(run_conv(g, &calls[c], n));
    /* Packed expands: concatenated once both ran, before the shortcut
     * (calls[3]) adds into the output. */
    if (c == 2 && s->packed_expands[i]) SQZ_TRY(concat_expands(g, l, n, &calls[1], &calls[2], out));
  }
  if (l->kind == SQZ_LAYER_FIRE && l->fire.bypass == SQZ_BYPASS_SIMPLE) {
    /* Both tensors are packed alike: add them as one flat NCHW tensor
     * (cuDNN's NHWC add is much slower). */
    sqz_view v = sqz_make_view(n, l->out_c * l->out_h * l->out_w, 1, 1,
                               l->out_c * l->out_h * l->out_w, 0, 0);
    SQZ_TRY(set_tensor(s->y, s->dtype, &v));
    const float one = 1.0f;
    SQZ_GPU_CHECK(cudnnAddTensor(s->handle, &one, s->y, in, &one, s->y, out));
  } else if (l->kind == SQZ_LAYER_MAXPOOL) {
    SQZ_TRY(maxpool(g, l, n, in, out));
  } else if (l->kind == SQZ_LAYER_GLOBAL_AVGPOOL) {
    SQZ_TRY(classifier_tail(g, l, n, in, kind));
  }
  return SQZ_OK;
}

static sqz_status cudnn_bind_stream(sqz_gpu_engine *g) {
  SQZ_GPU_CHECK(cudnnSetStream(state(g)->handle, g->stream));
  return SQZ_OK;
}

static void cudnn_destroy(sqz_gpu_engine *g) {
  cudnn_state *s = state(g);
  if (s->workspace) cudaFree(s->workspace);
  if (s->expand_scratch) cudaFree(s->expand_scratch);
  if (s->pool) cudnnDestroyPoolingDescriptor(s->pool);
  if (s->identity) cudnnDestroyActivationDescriptor(s->identity);
  if (s->relu) cudnnDestroyActivationDescriptor(s->relu);
  if (s->conv) cudnnDestroyConvolutionDescriptor(s->conv);
  if (s->w) cudnnDestroyFilterDescriptor(s->w);
  if (s->logits) cudnnDestroyTensorDescriptor(s->logits);
  if (s->bias) cudnnDestroyTensorDescriptor(s->bias);
  if (s->y) cudnnDestroyTensorDescriptor(s->y);
  if (s->x) cudnnDestroyTensorDescriptor(s->x);
  if (s->handle) cudnnDestroy(s->handle);
  sqz_free(s);
  g->impl = NULL;
}

const sqz_gpu_backend sqz_cudnn_backend = {cudnn_configure, cudnn_plan,        cudnn_init,
                                           cudnn_layer,     cudnn_bind_stream, cudnn_destroy};
