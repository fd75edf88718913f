/* The fused backend: the stem (conv1 + ReLU + max pool), one kernel per
 * Fire module (squeeze on chip, expands into the concatenated output,
 * bypass in the epilogue, the preceding max pool folded into its input
 * read) and the classifier (conv10 + ReLU + global average pool). NHWC;
 * fp32 on CUDA cores, fp16 on tensor cores where the channel counts allow
 * (CUDA cores otherwise, said in the description). Variants per layer and
 * batch come from fused_plan.c. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/fused_kernels.h"
#include "kernels/cuda/fused_plan.h"
#include "kernels/cuda/kernels.h"
#include "runtime/alloc.h"
#include "runtime/error.h"
#include "runtime/gpu_check.h"
#include "runtime/gpu_engine.h"

typedef struct fused {
  sqz_fused_plan plan;
  size_t smem_limit;      /* per block, opted in */
  size_t smem_two_blocks; /* per block, with two blocks an SM */
  sqz_fused_variant stem; /* layer 0's: the same at every batch, chosen once */
  sqz_stem_geometry stem_geo;
} fused;

static fused *state(const sqz_gpu_engine *g) { return g->impl; }

static void fused_configure(sqz_gpu_engine *g) {
  const int fp16 = g->e->options.precision == SQZ_PRECISION_FP16;
  g->act_layout = SQZ_LAYOUT_NHWC;
  g->act_dtype = fp16 ? SQZ_DTYPE_F16 : SQZ_DTYPE_F32;
  g->format.layout = SQZ_WEIGHTS_HWIO; /* output channels contiguous */
  g->format.weight_dtype = g->act_dtype;
  g->format.bias_dtype = SQZ_DTYPE_F32;
}

static sqz_status fused_plan(sqz_gpu_engine *g) {
  fused *f = sqz_calloc(1, sizeof *f, "fused backend");
  if (!f) return SQZ_ERR_OUT_OF_MEMORY;
  g->impl = f;
  SQZ_TRY(sqz_fused_plan_buffers(g->e->layers, g->e->num_layers, g->e->options.max_batch,
                                 g->act_dtype, &g->plan, &f->plan));
  g->input_buffer = f->plan.input;
  if (f->plan.classifier_weights >= 0)
    g->arena_weight_bytes = g->plan.buffers[f->plan.classifier_weights].bytes;
  return SQZ_OK;
}

/* printf-style append to g->detail that never runs past its end. */
static void detail_append(sqz_gpu_engine *g, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void detail_append(sqz_gpu_engine *g, size_t *n, const char *fmt, ...) {
  if (*n >= sizeof g->detail - 1) return;
  va_list args;
  va_start(args, fmt);
  int w = vsnprintf(g->detail + *n, sizeof g->detail - *n, fmt, args);
  va_end(args);
  if (w > 0) *n += (size_t)w;
  if (*n > sizeof g->detail - 1) *n = sizeof g->detail - 1;
}

/* Lists each layer's kernel and tile at max_batch in the description. */
static sqz_status describe_variants(sqz_gpu_engine *g) {
  fused *f = state(g);
  const sqz_engine *e = g->e;
  size_t n = 0;
  detail_append(g, &n, "kernels at batch %d:", e->options.max_batch);
  for (int i = 0; i < e->num_layers; i++) {
    const sqz_layer *l = &e->layers[i];
    const sqz_fused_step *s = &f->plan.steps[i];
    sqz_fused_variant v;
    if (s->role == SQZ_FUSED_FIRE) {
      v = sqz_fused_fire_variant(l, &s->pool, g->act_dtype, e->options.max_batch, g->sm_count,
                                 f->smem_limit, f->smem_two_blocks);
      if (!v.tile_h)
        return sqz_fail(SQZ_ERR_UNSUPPORTED,
                        "fused: no Fire kernel variant fits '%s' (squeeze %d channels) in %zu "
                        "bytes of shared memory",
                        l->name, l->fire.squeeze.out_channels, f->smem_limit);
      detail_append(g, &n, " %s %s%s %dx%d", l->name, v.math == SQZ_MATH_WMMA ? "tc" : "fma",
                    s->pool.kernel ? "+pool" : "", v.tile_h, v.tile_w);
      if (g->act_dtype == SQZ_DTYPE_F16 && v.math != SQZ_MATH_WMMA)
        detail_append(g, &n, " (%s)", v.why);
    } else if (s->role == SQZ_FUSED_CLASSIFIER) {
      v = sqz_fused_classifier_variant(l, g->act_dtype, f->smem_limit, f->smem_two_blocks);
      if (!v.tile_h)
        return sqz_fail(SQZ_ERR_UNSUPPORTED,
                        "fused: the classifier's %d input channels do not fit in shared memory",
                        l->conv.in_channels);
      detail_append(g, &n, " %s+gap %s", l->name, v.math == SQZ_MATH_WMMA ? "tc" : "fma");
    } else if (s->role == SQZ_FUSED_STEM) {
      v = f->stem;
      detail_append(g, &n, " %s%s %s %dx%d", l->name, s->pool.kernel ? "+pool" : "",
                    v.math == SQZ_MATH_WMMA ? "tc" : "fma", v.tile_h, v.tile_w);
      if (g->act_dtype == SQZ_DTYPE_F16 && v.math != SQZ_MATH_WMMA)
        detail_append(g, &n, " (%s)", v.why);
    }
  }
  return SQZ_OK;
}

/* fp16 classifier weights, padded to a multiple of 16 columns (zeros) for
 * the tensor-core loads. */
static sqz_status pad_classifier_weights(sqz_gpu_engine *g) {
  fused *f = state(g);
  if (f->plan.classifier_weights < 0) return SQZ_OK;
  const int i = g->e->num_layers - 2;
  const sqz_conv *c = &g->e->layers[i].conv;
  void *dst = sqz_gpu_buffer(g, f->plan.classifier_weights);
  const size_t row = (size_t)c->out_channels * 2, pitch = (size_t)f->plan.classifier_ldw * 2;
  SQZ_GPU_CHECK(cudaMemsetAsync(dst, 0, pitch * c->in_channels, g->stream));
  SQZ_GPU_CHECK(cudaMemcpy2DAsync(dst, pitch, sqz_gpu_weights(g, g->packed[i].conv.weight), row,
                                  row, c->in_channels, cudaMemcpyDeviceToDevice, g->stream));
  SQZ_GPU_CHECK(cudaStreamSynchronize(g->stream));
  return SQZ_OK;
}

/* Each tensor-core Fire module's expand and shortcut weights, packed in
 * the MMA's register order into its mma_weights buffer. */
static sqz_status pack_mma_weights(sqz_gpu_engine *g) {
  fused *f = state(g);
  for (int i = 0; i < g->e->num_layers; i++) {
    const sqz_fused_step *s = &f->plan.steps[i];
    if (s->mma_weights < 0) continue;
    const sqz_layer *l = &g->e->layers[i];
    const sqz_fire *fire = &l->fire;
    const sqz_packed_layer *p = &g->packed[i];
    const int sq = fire->squeeze.out_channels, e1 = fire->expand1x1.out_channels,
              e3 = fire->expand3x3.out_channels;
    size_t at_e3, at_shortcut;
    const size_t total = sqz_fused_mma_offsets(l, &at_e3, &at_shortcut);
    uint16_t *dst = sqz_gpu_buffer(g, s->mma_weights);
    const size_t pad = (size_t)SQZ_MMA_B_AHEAD * SQZ_MMA_B_STEP_HALVES;
    /* read by the loads ahead past the last step, never used: defined */
    SQZ_GPU_CHECK(cudaMemsetAsync(dst + total - pad, 0, pad * 2, g->stream));
    SQZ_GPU_CHECK(
        sqz_launch_pack_mma_b(sqz_gpu_weights(g, p->expand1x1.weight), sq, e1, dst, g->stream));
    SQZ_GPU_CHECK(sqz_launch_pack_mma_b(sqz_gpu_weights(g, p->expand3x3.weight), 9 * sq, e3,
                                        dst + at_e3, g->stream));
    if (fire->bypass == SQZ_BYPASS_COMPLEX)
      SQZ_GPU_CHECK(sqz_launch_pack_mma_b(sqz_gpu_weights(g, p->shortcut.weight), l->in_c, e1 + e3,
                                          dst + at_shortcut, g->stream));
  }
  SQZ_GPU_CHECK(cudaStreamSynchronize(g->stream));
  return SQZ_OK;
}

/* Each kernel family may use as much dynamic shared memory as the largest
 * variant the engine launches of it, at any batch up to max_batch: no
 * more, so that a variant the plan does not expect fails its launch
 * instead of running. */
static sqz_status allow_planned_smem(sqz_gpu_engine *g) {
  const fused *f = state(g);
  const sqz_engine *e = g->e;
  size_t fire = 0, classifier = 0;
  for (int i = 0; i < e->num_layers; i++) {
    const sqz_layer *l = &e->layers[i];
    const sqz_fused_step *s = &f->plan.steps[i];
    if (s->role == SQZ_FUSED_CLASSIFIER) {
      const sqz_fused_variant v =
          sqz_fused_classifier_variant(l, g->act_dtype, f->smem_limit, f->smem_two_blocks);
      if (v.smem > classifier) classifier = v.smem;
    }
    if (s->role != SQZ_FUSED_FIRE) continue;
    for (int batch = 1; batch <= e->options.max_batch; batch++) {
      const sqz_fused_variant v = sqz_fused_fire_variant(
          l, &s->pool, g->act_dtype, batch, g->sm_count, f->smem_limit, f->smem_two_blocks);
      if (v.smem > fire) fire = v.smem;
    }
  }
  sqz_kernel_ref kernels[SQZ_FUSED_FAMILY_KERNELS];
  sqz_fused_stem_kernels(kernels);
  SQZ_GPU_CHECK(sqz_fused_allow_smem(kernels, f->stem.smem));
  sqz_fused_fire_kernels(kernels);
  SQZ_GPU_CHECK(sqz_fused_allow_smem(kernels, fire));
  sqz_fused_classifier_kernels(kernels);
  SQZ_GPU_CHECK(sqz_fused_allow_smem(kernels, classifier));
  return SQZ_OK;
}

/* The most static shared memory any fused kernel has: its dynamic shared
 * memory and this together must fit the device's limits. */
static sqz_status max_static_smem(size_t *bytes) {
  sqz_kernel_ref kernels[SQZ_FUSED_KERNELS];
  sqz_fused_kernels(kernels);
  *bytes = 0;
  for (int k = 0; k < SQZ_FUSED_KERNELS; k++) {
    struct cudaFuncAttributes attr;
    SQZ_GPU_CHECK(cudaFuncGetAttributes(&attr, kernels[k].fn));
    if (attr.sharedSizeBytes > *bytes) *bytes = attr.sharedSizeBytes;
  }
  return SQZ_OK;
}

static sqz_status fused_init(sqz_gpu_engine *g) {
  fused *f = state(g);
  int optin = 0;
  SQZ_GPU_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, g->device));
  size_t static_smem = 0;
  SQZ_TRY(max_static_smem(&static_smem));
  /* A kernel's dynamic limit may be at most the opt-in size less its
   * static shared memory; two blocks an SM also pay each one's. */
  f->smem_limit = (size_t)optin > static_smem ? (size_t)optin - static_smem : 0;
  int per_sm = 0, reserved = 0;
  SQZ_GPU_CHECK(
      cudaDeviceGetAttribute(&per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, g->device));
  SQZ_GPU_CHECK(
      cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, g->device));
  f->smem_two_blocks = sqz_fused_two_block_smem((size_t)per_sm, (size_t)reserved + static_smem);
  const sqz_layer *stem = &g->e->layers[0];
  const sqz_layer *stem_pool = f->plan.steps[0].pool.kernel ? stem + 1 : NULL;
  f->stem =
      sqz_fused_stem_variant(stem, stem_pool, g->act_dtype, f->smem_limit, f->smem_two_blocks);
  f->stem_geo = sqz_fused_stem_geometry(stem, stem_pool, f->stem.tile_h, f->stem.tile_w);
  if (!f->stem.tile_h)
    return sqz_fail(SQZ_ERR_UNSUPPORTED,
                    "fused: the stem's %dx%d stride-%d convolution does not "
                    "fit in shared memory",
                    stem->conv.kernel, stem->conv.kernel, stem->conv.stride);
  SQZ_TRY(allow_planned_smem(g));
  SQZ_TRY(pad_classifier_weights(g));
  SQZ_TRY(pack_mma_weights(g));
  return describe_variants(g);
}

static sqz_status run_stem(sqz_gpu_engine *g, int i, int batch) {
  const fused *f = state(g);
  const sqz_layer *l = &g->e->layers[i];
  const sqz_fused_step *s = &f->plan.steps[i];
  sqz_stem_args a;
  a.in = sqz_gpu_buffer(g, s->source);
  a.out = sqz_gpu_buffer(g, s->out);
  a.batch = batch;
  a.cin = l->in_c;
  a.cout = l->conv.out_channels;
  a.geo = f->stem_geo;
  a.weights = sqz_gpu_weights(g, g->packed[i].conv.weight);
  a.bias = sqz_gpu_weights(g, g->packed[i].conv.bias);
  a.math = (sqz_fused_math)f->stem.math;
  a.chunk = f->stem.chunk;
  a.smem = f->stem.smem;
  SQZ_GPU_CHECK(sqz_launch_stem(&a, g->act_dtype, g->stream));
  return SQZ_OK;
}

static sqz_status run_fire(sqz_gpu_engine *g, int i, int batch) {
  const fused *f = state(g);
  const sqz_layer *l = &g->e->layers[i];
  const sqz_fused_step *s = &f->plan.steps[i];
  const sqz_packed_layer *p = &g->packed[i];
  const sqz_fused_variant v = sqz_fused_fire_variant(l, &s->pool, g->act_dtype, batch, g->sm_count,
                                                     f->smem_limit, f->smem_two_blocks);
  sqz_fire_args a;
  memset(&a, 0, sizeof a);
  a.in = sqz_gpu_buffer(g, s->source);
  a.out = sqz_gpu_buffer(g, s->out);
  a.batch = batch;
  a.cin = l->in_c;
  a.squeeze = l->fire.squeeze.out_channels;
  a.e1 = l->fire.expand1x1.out_channels;
  a.e3 = l->fire.expand3x3.out_channels;
  a.bypass = l->fire.bypass;
  a.geo = sqz_fire_geometry_make(l->out_h, l->out_w, v.tile_h, v.tile_w, s->pool);
  a.w_squeeze = sqz_gpu_weights(g, p->squeeze.weight);
  a.w_e1 = sqz_gpu_weights(g, p->expand1x1.weight);
  a.w_e3 = sqz_gpu_weights(g, p->expand3x3.weight);
  a.b_squeeze = sqz_gpu_weights(g, p->squeeze.bias);
  a.b_e1 = sqz_gpu_weights(g, p->expand1x1.bias);
  a.b_e3 = sqz_gpu_weights(g, p->expand3x3.bias);
  if (a.bypass == SQZ_BYPASS_COMPLEX) {
    a.w_shortcut = sqz_gpu_weights(g, p->shortcut.weight);
    a.b_shortcut = sqz_gpu_weights(g, p->shortcut.bias);
  }
  if (s->mma_weights >= 0) {
    size_t at_e3, at_shortcut;
    sqz_fused_mma_offsets(l, &at_e3, &at_shortcut);
    const uint16_t *packed = sqz_gpu_buffer(g, s->mma_weights);
    a.mma_e1 = packed;
    a.mma_e3 = packed + at_e3;
    a.mma_shortcut = a.bypass == SQZ_BYPASS_COMPLEX ? packed + at_shortcut : NULL;
  }
  a.math = (sqz_fused_math)v.math;
  a.threads = SQZ_FIRE_THREADS;
  a.smem = v.smem;
  a.in_buffers = v.in_buffers;
  SQZ_GPU_CHECK(sqz_launch_fire(&a, g->act_dtype, g->stream));
  return SQZ_OK;
}

static sqz_status run_classifier(sqz_gpu_engine *g, int i, int batch) {
  const fused *f = state(g);
  const sqz_layer *l = &g->e->layers[i];
  const sqz_fused_variant v =
      sqz_fused_classifier_variant(l, g->act_dtype, f->smem_limit, f->smem_two_blocks);
  sqz_classifier_args a;
  a.in = sqz_gpu_buffer(g, f->plan.steps[i].source);
  a.out = sqz_gpu_buffer(g, g->logits_buffer);
  a.batch = batch;
  a.height = l->in_h;
  a.width = l->in_w;
  a.cin = l->conv.in_channels;
  a.classes = l->conv.out_channels;
  a.pad = l->conv.pad;
  a.math = (sqz_fused_math)v.math;
  a.weights = v.math == SQZ_MATH_WMMA ? sqz_gpu_buffer(g, f->plan.classifier_weights)
                                      : sqz_gpu_weights(g, g->packed[i].conv.weight);
  a.ldw = v.math == SQZ_MATH_WMMA ? f->plan.classifier_ldw : a.classes;
  a.bias = sqz_gpu_weights(g, g->packed[i].conv.bias);
  a.smem = v.smem;
  a.buffers = v.in_buffers;
  SQZ_GPU_CHECK(sqz_launch_classifier(&a, g->act_dtype, g->stream));
  return SQZ_OK;
}

static sqz_status fused_layer(sqz_gpu_engine *g, int i, int batch, sqz_output_kind kind) {
  switch (state(g)->plan.steps[i].role) {
    case SQZ_FUSED_STEM: return run_stem(g, i, batch);
    case SQZ_FUSED_FIRE: return run_fire(g, i, batch);
    case SQZ_FUSED_CLASSIFIER: return run_classifier(g, i, batch);
    case SQZ_FUSED_SOFTMAX:
      if (kind == SQZ_OUTPUT_PROBS)
        SQZ_GPU_CHECK(sqz_launch_softmax(sqz_gpu_buffer(g, g->logits_buffer), batch,
                                         g->e->num_classes, g->stream));
      return SQZ_OK;
    case SQZ_FUSED_FOLDED: return SQZ_OK;
  }
  return sqz_fail(SQZ_ERR_INTERNAL, "fused: unknown step");
}

static sqz_status fused_bind_stream(sqz_gpu_engine *g) {
  (void)g; /* no library handles */
  return SQZ_OK;
}

static void fused_destroy(sqz_gpu_engine *g) {
  sqz_free(g->impl);
  g->impl = NULL;
}

const sqz_gpu_backend sqz_fused_backend = {fused_configure, fused_plan,        fused_init,
                                           fused_layer,     fused_bind_stream, fused_destroy};
