#include "fused_plan.h"

#include <limits.h>
#include <stdio.h>

#include "kernels/cuda/fused_kernels.h"
#include "runtime/error.h"

static sqz_pool_fold no_pool(int h, int w) {
  sqz_pool_fold p = {0, 1, 0, h, w};
  return p;
}

static sqz_pool_fold fold_of(const sqz_layer *pool) {
  sqz_pool_fold p = {pool->pool.kernel, pool->pool.stride, pool->pool.pad, pool->in_h, pool->in_w};
  return p;
}

static int wmma_channels(const sqz_layer *l) {
  const sqz_fire *f = &l->fire;
  return l->in_c % 16 == 0 && f->squeeze.out_channels % 16 == 0 &&
         f->expand1x1.out_channels % 16 == 0 && f->expand3x3.out_channels % 16 == 0;
}

size_t sqz_fused_mma_offsets(const sqz_layer *l, size_t *e3, size_t *shortcut) {
  const sqz_fire *f = &l->fire;
  const size_t s = (size_t)f->squeeze.out_channels, e1 = (size_t)f->expand1x1.out_channels,
               e3c = (size_t)f->expand3x3.out_channels;
  *e3 = s * e1;
  *shortcut = *e3 + 9 * s * e3c;
  return *shortcut + (f->bypass == SQZ_BYPASS_COMPLEX ? (size_t)l->in_c * (e1 + e3c) : 0) +
         SQZ_MMA_B_AHEAD * SQZ_MMA_B_STEP_HALVES;
}

static int is_classifier(const sqz_layer *l) {
  return l->kind == SQZ_LAYER_CONV && l->conv.kernel == 1 && l->conv.stride == 1 && l->conv.relu;
}

sqz_status sqz_fused_plan_buffers(const sqz_layer *layers, int n, int max_batch, sqz_dtype dtype,
                                  sqz_memory_plan *plan, sqz_fused_plan *out) {
  const size_t per = (size_t)max_batch * sqz_dtype_size(dtype);
  if (n < 3 || layers[0].kind != SQZ_LAYER_CONV || !layers[0].conv.relu ||
      !is_classifier(&layers[n - 2]))
    return sqz_fail(SQZ_ERR_UNSUPPORTED,
                    "fused: the network must start with a convolution + ReLU and end with a 1x1 "
                    "stride-1 convolution + ReLU and the global average pool");
  int step = 0;
  out->input = sqz_plan_add(plan, per * layers[0].in_c * layers[0].in_h * layers[0].in_w, 0, 1);
  int cur = out->input;
  for (int i = 0; i < n; i++) {
    const sqz_layer *l = &layers[i];
    sqz_fused_step *s = &out->steps[i];
    s->source = cur;
    s->out = -1;
    s->mma_weights = -1;
    s->pool = no_pool(l->in_h, l->in_w);
    if (i == 0) {
      s->role = SQZ_FUSED_STEM;
      if (n > 1 && layers[1].kind == SQZ_LAYER_MAXPOOL) s->pool = fold_of(&layers[1]);
      const sqz_layer *last = s->pool.kernel ? &layers[1] : l;
      s->out = sqz_plan_add(plan, per * last->out_c * last->out_h * last->out_w, step, step + 1);
    } else if (l->kind == SQZ_LAYER_MAXPOOL) {
      const int after_stem = i == 1;
      const int before_fire = i + 1 < n && layers[i + 1].kind == SQZ_LAYER_FIRE;
      if (!after_stem && !before_fire)
        return sqz_fail(SQZ_ERR_UNSUPPORTED,
                        "fused: max pool '%s' must follow the first convolution or precede a "
                        "Fire module",
                        l->name);
      s->role = SQZ_FUSED_FOLDED;
      continue; /* step and buffers unchanged */
    } else if (l->kind == SQZ_LAYER_FIRE) {
      s->role = SQZ_FUSED_FIRE;
      if (layers[i - 1].kind == SQZ_LAYER_MAXPOOL && i - 1 != 1) s->pool = fold_of(&layers[i - 1]);
      s->out = sqz_plan_add(plan, per * l->out_c * l->out_h * l->out_w, step, step + 1);
      if (dtype == SQZ_DTYPE_F16 && wmma_channels(l)) {
        size_t e3, shortcut;
        s->mma_weights = sqz_plan_add(plan, sqz_fused_mma_offsets(l, &e3, &shortcut) * 2, 0,
                                      INT_MAX / 2); /* live for the engine's life */
      }
    } else if (i == n - 2) {
      s->role = SQZ_FUSED_CLASSIFIER;
    } else if (i == n - 1) {
      s->role = SQZ_FUSED_SOFTMAX;
    } else {
      return sqz_fail(SQZ_ERR_UNSUPPORTED,
                      "fused: layer '%s' (a convolution in the middle of the network) has no "
                      "fused kernel",
                      l->name);
    }
    if (s->out >= 0) {
      /* The source stays live while this kernel reads it. */
      if (plan->buffers[cur].last < step) plan->buffers[cur].last = step;
      cur = s->out;
      step++;
    }
  }
  if (plan->buffers[cur].last < step) plan->buffers[cur].last = step; /* the classifier */
  out->classifier_weights = -1;
  out->classifier_ldw = layers[n - 2].conv.out_channels;
  if (dtype == SQZ_DTYPE_F16) {
    out->classifier_ldw = sqz_round16(out->classifier_ldw);
    out->classifier_weights = sqz_plan_add(
        plan, (size_t)layers[n - 2].conv.in_channels * out->classifier_ldw * 2, 0, INT_MAX / 2);
  }
  if (plan->count >= SQZ_PLAN_MAX_BUFFERS)
    return sqz_fail(SQZ_ERR_INTERNAL, "fused plan: too many buffers");
  return SQZ_OK;
}

size_t sqz_fused_two_block_smem(size_t smem_per_sm, size_t reserved) {
  return smem_per_sm / 2 > reserved ? smem_per_sm / 2 - reserved : 0;
}

sqz_fused_variant sqz_fused_fire_variant(const sqz_layer *l, const sqz_pool_fold *pool,
                                         sqz_dtype dtype, int batch, int sm_count,
                                         size_t smem_limit, size_t smem_two_blocks) {
  static const int heights[] = {8, 4, 2, 1};
  const sqz_fire *f = &l->fire;
  const int s = f->squeeze.out_channels, complex = f->bypass == SQZ_BYPASS_COMPLEX;
  sqz_fused_variant v = {SQZ_MATH_FMA, 0, 16, 0, "CUDA cores", 0, 0};
  int wmma = dtype == SQZ_DTYPE_F16 && wmma_channels(l);
  if (dtype == SQZ_DTYPE_F16 && !wmma) v.why = "CUDA cores: channels not multiples of 16";
  for (int pass = wmma ? 0 : 1; pass < 2 && v.tile_h == 0; pass++) {
    const int math = pass == 0 ? SQZ_MATH_WMMA : SQZ_MATH_FMA;
    int best = 0, best_buffers = 0;
    size_t best_smem = 0;
    for (int k = 0; k < 4; k++) {
      const int th = heights[k];
      if (th > 1 && th / 2 >= l->out_h) continue; /* taller than the image needs */
      const int buffers = math == SQZ_MATH_WMMA ? sqz_wmma_in_buffers_for(pool, th, 16, l->in_c, s,
                                                                          complex, smem_two_blocks)
                                                : 0;
      size_t smem = math == SQZ_MATH_WMMA ? sqz_wmma_fire_smem(th, 16, l->in_c, s, complex, buffers)
                                          : sqz_fma_fire_smem(th, 16, s);
      if (smem > smem_limit) continue;
      if (math == SQZ_MATH_WMMA &&
          sqz_round16((th + 2) * 18) / 16 * (s / 16) > SQZ_FIRE_WARPS * SQZ_WMMA_MAX_FRAGS)
        continue; /* more squeeze fragments than the warps hold */
      best = th;
      best_buffers = buffers;
      best_smem = smem;
      const long blocks = (long)batch * sqz_div_up(l->out_h, th) * sqz_div_up(l->out_w, 16);
      if (blocks >= 2L * sm_count) break; /* tall enough and enough blocks */
    }
    if (best) {
      v.math = math;
      v.tile_h = best;
      v.smem = best_smem;
      v.in_buffers = best_buffers;
      if (math == SQZ_MATH_WMMA) v.why = "tensor cores";
    }
  }
  return v;
}

sqz_stem_geometry sqz_fused_stem_geometry(const sqz_layer *conv, const sqz_layer *pool, int tile_h,
                                          int tile_w) {
  sqz_stem_geometry g;
  g.in_h = conv->in_h;
  g.in_w = conv->in_w;
  g.conv_h = conv->out_h;
  g.conv_w = conv->out_w;
  g.kernel = conv->conv.kernel;
  g.stride = conv->conv.stride;
  g.pad = conv->conv.pad;
  g.pool_k = pool ? pool->pool.kernel : 1;
  g.pool_s = pool ? pool->pool.stride : 1;
  g.pool_p = pool ? pool->pool.pad : 0;
  g.out_h = pool ? pool->out_h : conv->out_h;
  g.out_w = pool ? pool->out_w : conv->out_w;
  g.tile_h = tile_h;
  g.tile_w = tile_w;
  g.tiles_y = sqz_div_up(g.out_h, g.tile_h);
  g.tiles_x = sqz_div_up(g.out_w, g.tile_w);
  return g;
}

/* The tensor-core stem's tile within `budget` bytes of shared memory:
 * SQZ_STEM_TILE_H x SQZ_STEM_TILE_W when it fits (small blocks, several
 * an SM), else the one whose GEMMs have the fewest rows over the whole
 * image (the edge tiles' waste included), the fewest blocks on a tie.
 * Returns those rows, 0 when not even one pooled pixel fits. */
static long stem_wmma_tile(const sqz_layer *conv, const sqz_layer *pool, size_t budget, int *tile_h,
                           int *tile_w) {
  const int cin = conv->in_c, cout = conv->conv.out_channels;
  long best_rows = 0, best_blocks = 0;
  for (int k = 0; k <= SQZ_STEM_TILE_H * 2 * SQZ_STEM_TILE_W * 2; k++) {
    /* k = 0 is the default tile; then every tile up to twice its sides */
    const int th = k ? (k - 1) / (SQZ_STEM_TILE_W * 2) + 1 : SQZ_STEM_TILE_H;
    const int tw = k ? (k - 1) % (SQZ_STEM_TILE_W * 2) + 1 : SQZ_STEM_TILE_W;
    const sqz_stem_geometry g = sqz_fused_stem_geometry(conv, pool, th, tw);
    const sqz_stem_wmma_layout l = sqz_stem_wmma_layout_of(&g, cin, cout);
    const long blocks = (long)g.tiles_y * g.tiles_x, rows = blocks * l.rows;
    if (l.bytes > budget ||
        (best_rows && (rows > best_rows || (rows == best_rows && blocks >= best_blocks))))
      continue;
    best_rows = rows;
    best_blocks = blocks;
    *tile_h = th;
    *tile_w = tw;
    if (k == 0) break;
  }
  return best_rows;
}

/* The CUDA-core stem's chunk within `budget` bytes (fused_plan.h), 0 when
 * not even one group of channels fits. */
static int stem_fma_chunk(const sqz_stem_geometry *g, int cin, int cout, size_t budget) {
  for (int passes = 1;; passes++) {
    const int chunk = sqz_div_up(sqz_div_up(cout, passes), SQZ_STEM_GROUP) * SQZ_STEM_GROUP;
    if (sqz_stem_smem_bytes(g, cin, chunk) <= budget) return chunk;
    if (chunk == SQZ_STEM_GROUP) return 0;
  }
}

sqz_fused_variant sqz_fused_stem_variant(const sqz_layer *conv, const sqz_layer *pool,
                                         sqz_dtype dtype, size_t smem_limit,
                                         size_t smem_two_blocks) {
  const int cout = conv->conv.out_channels;
  sqz_fused_variant v = {SQZ_MATH_FMA, SQZ_STEM_TILE_H, SQZ_STEM_TILE_W, 0, "CUDA cores", 0, 0};
  const int tensor = dtype == SQZ_DTYPE_F16 && cout % 16 == 0;
  int th1 = 0, tw1 = 0, th2 = 0, tw2 = 0;
  const long one = tensor ? stem_wmma_tile(conv, pool, smem_limit, &th1, &tw1) : 0;
  const long two = one ? stem_wmma_tile(conv, pool, smem_two_blocks, &th2, &tw2) : 0;
  if (dtype == SQZ_DTYPE_F16 && !tensor) {
    v.why = "CUDA cores: output channels not a multiple of 16";
  } else if (one) {
    /* Two blocks an SM (each one's barriers hidden by the other's work),
     * unless the small tile that allows it wastes a quarter more rows. */
    const int pick_two = two && two * 4 <= one * 5;
    v.math = SQZ_MATH_WMMA;
    v.tile_h = pick_two ? th2 : th1;
    v.tile_w = pick_two ? tw2 : tw1;
    const sqz_stem_geometry g = sqz_fused_stem_geometry(conv, pool, v.tile_h, v.tile_w);
    v.smem = sqz_stem_wmma_layout_of(&g, conv->in_c, cout).bytes;
    v.why = "tensor cores";
    return v;
  } else if (dtype == SQZ_DTYPE_F16) {
    v.why = "CUDA cores: the tensor-core operands do not fit in shared memory";
  }
  const sqz_stem_geometry g = sqz_fused_stem_geometry(conv, pool, v.tile_h, v.tile_w);
  v.chunk = stem_fma_chunk(&g, conv->in_c, cout, smem_two_blocks);
  if (!v.chunk) v.chunk = stem_fma_chunk(&g, conv->in_c, cout, smem_limit);
  if (!v.chunk) v.tile_h = 0;
  v.smem = v.chunk ? sqz_stem_smem_bytes(&g, conv->in_c, v.chunk) : 0;
  return v;
}

sqz_fused_variant sqz_fused_classifier_variant(const sqz_layer *conv, sqz_dtype dtype,
                                               size_t smem_limit, size_t smem_two_blocks) {
  sqz_fused_variant v = {SQZ_MATH_FMA, 0, 0, 0, "CUDA cores", 0, 0};
  const int pixels = conv->in_h * conv->in_w;
  if (dtype == SQZ_DTYPE_F16 && conv->conv.in_channels % 16 == 0 && pixels >= 16) {
    v.math = SQZ_MATH_WMMA;
    v.in_buffers = sqz_classifier_wmma_smem(SQZ_CLASSIFIER_MAX_BUFFERS) <= smem_two_blocks
                       ? SQZ_CLASSIFIER_MAX_BUFFERS
                       : 2;
    v.smem = sqz_classifier_wmma_smem(v.in_buffers);
    v.why = "tensor cores";
  } else {
    v.smem = (size_t)16 * conv->conv.in_channels * 4; /* 16 pixels staged */
    if (dtype == SQZ_DTYPE_F16) v.why = "CUDA cores: channels or pixels too few for tensor cores";
  }
  v.tile_h = v.smem <= smem_limit; /* 0: does not fit */
  return v;
}
