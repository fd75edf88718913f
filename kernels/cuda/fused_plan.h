/* Internal: how the fused backend maps a network onto its kernels, which
 * variant each layer gets (the one table of tile sizes), and its buffers.
 * Pure C, unit-tested on the CPU. */
#ifndef SQZ_KERNELS_CUDA_FUSED_PLAN_H
#define SQZ_KERNELS_CUDA_FUSED_PLAN_H

#include <stddef.h>

#include "kernels/cuda/fused_tiling.h"
#include "runtime/memory_plan.h"
#include "runtime/model.h"
#include "runtime/weight_pack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sqz_fused_role {
  SQZ_FUSED_STEM = 0,       /* first conv (+ the max pool after it) */
  SQZ_FUSED_FOLDED = 1,     /* a max pool done by the next kernel: nothing */
  SQZ_FUSED_FIRE = 2,       /* a Fire module (+ the pool before it) */
  SQZ_FUSED_CLASSIFIER = 3, /* 1x1 conv + ReLU + the global average pool */
  SQZ_FUSED_SOFTMAX = 4     /* the global average pool layer: softmax only */
} sqz_fused_role;

typedef struct sqz_fused_step {
  sqz_fused_role role;
  int source;         /* buffer read (plan index) */
  int out;            /* buffer written (plan index), -1 for none */
  sqz_pool_fold pool; /* stem: its pool; fire: the pool folded into its read */
  /* Fire on tensor cores (fp16, channels multiples of 16): its expand and
   * shortcut weights packed in the MMA's register order (plan index, -1
   * for none), sqz_fused_mma_offsets apart. */
  int mma_weights;
} sqz_fused_step;

/* Where a Fire module's packed weights start in its mma_weights buffer, in
 * halves: the 1x1 expand's (squeeze x e1) at 0, the 3x3's (9 squeeze x e3)
 * at *e3, the complex bypass's shortcut (in_c x (e1 + e3)) at *shortcut;
 * returns the total, with the padding the kernel's loads ahead need
 * (SQZ_MMA_B_AHEAD steps). */
size_t sqz_fused_mma_offsets(const sqz_layer *fire, size_t *e3, size_t *shortcut);

typedef struct sqz_fused_plan {
  int input;              /* the converted input */
  int classifier_weights; /* fp16 weights padded to ldw columns, or -1 */
  int classifier_ldw;
  sqz_fused_step steps[SQZ_MAX_LAYERS];
} sqz_fused_plan;

/* Checks the structure (conv [maxpool] ([maxpool] fire)* conv1x1 stride 1
 * + ReLU, global average pool) and adds the buffers: the input, the stem's
 * pooled output, each Fire output (live until the next kernel reads it),
 * and for fp16 the padded classifier weights. Fails with
 * SQZ_ERR_UNSUPPORTED naming the layer that does not fit. */
sqz_status sqz_fused_plan_buffers(const sqz_layer *layers, int num_layers, int max_batch,
                                  sqz_dtype dtype, sqz_memory_plan *plan, sqz_fused_plan *out);

typedef struct sqz_fused_variant {
  int math; /* sqz_fused_math */
  int tile_h, tile_w;
  size_t smem;
  const char *why; /* a short reason, for the description */
  int in_buffers;  /* tensor cores: the input ring's buffers (Fire: the squeeze's) */
  int chunk;       /* the stem on CUDA cores: output channels a pass */
} sqz_fused_variant;

/* The Fire kernel for this module at this batch: tensor cores when the
 * precision is fp16 and every channel count is a multiple of 16, else CUDA
 * cores; then the tallest tile (of 8, 4, 2, 1 rows of 16 pixels) that
 * still gives at least two blocks per SM and fits the shared memory limit
 * per block (smem_limit), and on tensor cores as many input buffers
 * (sqz_wmma_in_buffers_for) as keep it within smem_two_blocks
 * (sqz_fused_two_block_smem). tile_h 0 means no variant fits. */
sqz_fused_variant sqz_fused_fire_variant(const sqz_layer *fire, const sqz_pool_fold *pool,
                                         sqz_dtype dtype, int batch, int sm_count,
                                         size_t smem_limit, size_t smem_two_blocks);

/* The dynamic shared memory per block that lets two blocks share an SM
 * of smem_per_sm bytes that keeps `reserved` bytes of each block's for
 * itself (1 KB from sm_80 on). */
size_t sqz_fused_two_block_smem(size_t smem_per_sm, size_t reserved);

/* The stem's geometry for pooled tiles of tile_h x tile_w, and its
 * variant: tensor cores when the precision is fp16, the output channels a
 * multiple of 16 and the GEMM's operands fit in shared memory, on a tile
 * of SQZ_STEM_TILE_H x SQZ_STEM_TILE_W pooled pixels unless another one
 * lets two blocks share an SM (within smem_two_blocks) where that one
 * would not (v1.0's 7x7 window: 5 x 6), or fits smem_limit where it
 * would not. Else CUDA cores on the default tile, the output channels in
 * as few passes (chunks, multiples of SQZ_STEM_GROUP, split evenly) as
 * keep two blocks an SM, else as fit smem_limit (v1.1: one pass of 64;
 * v1.0: two of 48); tile_h 0 when not even one group fits. Then the
 * classifier's variant: on tensor cores a third buffer in its ring where
 * it stays within smem_two_blocks. */
enum { SQZ_STEM_TILE_H = 4, SQZ_STEM_TILE_W = 8 };
sqz_stem_geometry sqz_fused_stem_geometry(const sqz_layer *conv, const sqz_layer *pool_or_null,
                                          int tile_h, int tile_w);
sqz_fused_variant sqz_fused_stem_variant(const sqz_layer *conv, const sqz_layer *pool_or_null,
                                         sqz_dtype dtype, size_t smem_limit,
                                         size_t smem_two_blocks);
sqz_fused_variant sqz_fused_classifier_variant(const sqz_layer *conv, sqz_dtype dtype,
                                               size_t smem_limit, size_t smem_two_blocks);

#ifdef __cplusplus
}
#endif

#endif
