/* C launchers of the fused kernels (fused_fire.cu, fused_stem.cu,
 * fused_classifier.cu). Activations are NHWC, fp32 or fp16 storage (dtype);
 * accumulation is always fp32. Weights are HWIO ([k*k*cin] x cout, output
 * channels contiguous) in the activation precision; biases fp32. */
#ifndef SQZ_KERNELS_CUDA_FUSED_KERNELS_H
#define SQZ_KERNELS_CUDA_FUSED_KERNELS_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#include "kernels/cuda/fused_tiling.h"
#include "runtime/weight_pack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sqz_fused_math {
  SQZ_MATH_FMA = 0, /* CUDA cores, any channel counts */
  SQZ_MATH_WMMA = 1 /* tensor cores (fp16, channels multiples of 16) */
} sqz_fused_math;

/* One Fire module: squeeze + ReLU kept on chip for the tile and its halo,
 * both expands + ReLU written at channel offsets [0, e1) and [e1, e1+e3),
 * then the bypass: identity add, or a 1x1 shortcut conv + bias. */
typedef struct sqz_fire_args {
  const void *in; /* src_h x src_w x cin per image (before the folded pool) */
  void *out;      /* height x width x (e1 + e3) per image */
  int batch, cin, squeeze, e1, e3;
  int bypass; /* sqz_bypass */
  sqz_fire_geometry geo;
  const void *w_squeeze, *w_e1, *w_e3, *w_shortcut; /* HWIO */
  /* Tensor cores: the expands' and the shortcut's weights packed in the
   * MMA's register order (sqz_mma_b_source), as sqz_launch_pack_mma_b
   * writes them. */
  const void *mma_e1, *mma_e3, *mma_shortcut;
  const float *b_squeeze, *b_e1, *b_e3, *b_shortcut;
  sqz_fused_math math;
  int threads;
  size_t smem;          /* dynamic shared memory bytes (fused_tiling.h) */
  int in_buffers;       /* tensor cores: the squeeze's input chunk buffers */
  sqz_expand_deal deal; /* tensor cores: set by sqz_launch_fire */
} sqz_fire_args;

cudaError_t sqz_launch_fire(const sqz_fire_args *a, sqz_dtype dtype, cudaStream_t stream);

/* Packs a [k_rows x n] fp16 HWIO matrix (k_rows, n multiples of 16) in
 * the MMA's register order (sqz_mma_b_source) into `out`, k_rows x n
 * halves. */
cudaError_t sqz_launch_pack_mma_b(const void *hwio, int k_rows, int n, void *out,
                                  cudaStream_t stream);

/* The stem: conv (any kernel, stride, pad) + bias + ReLU, then the max
 * pool that follows it (1x1 stride 1 when none), in one kernel reading the
 * preprocessed input (NHWC, 3 channels). CUDA cores (smem:
 * sqz_stem_smem_bytes) or tensor cores (sqz_stem_wmma_layout_of). */
typedef struct sqz_stem_args {
  const void *in;
  void *out;
  int batch, cin, cout;
  sqz_stem_geometry geo;
  const void *weights; /* HWIO */
  const float *bias;
  sqz_fused_math math; /* WMMA: fp16, cout a multiple of 16 */
  int chunk;           /* FMA: output channels a pass, a multiple of SQZ_STEM_GROUP */
  size_t smem;
} sqz_stem_args;

cudaError_t sqz_launch_stem(const sqz_stem_args *a, sqz_dtype dtype, cudaStream_t stream);

/* The classifier: 1x1 conv (padding `pad`) + bias + ReLU + global average
 * pool into fp32 logits; the padded border contributes ReLU(bias). */
typedef struct sqz_classifier_args {
  const void *in; /* height x width x cin per image */
  float *out;     /* batch x classes */
  int batch, height, width, cin, classes, pad;
  const void *weights; /* cin x ldw (ldw >= classes; WMMA: padded to 16) */
  int ldw;
  const float *bias;
  sqz_fused_math math;
  size_t smem;
  int buffers; /* tensor cores: the ring's buffers, 2 or 3 */
} sqz_classifier_args;

cudaError_t sqz_launch_classifier(const sqz_classifier_args *a, sqz_dtype dtype,
                                  cudaStream_t stream);

/* The tensor-core classifier stages 8 row tiles of 16 pixels, 64 channels at
 * a time, at a row stride of 72 halves, and with them the chunk's 64 weight
 * rows of the block's 128 classes, 136 halves apart: both strides are odd
 * multiples of 16 bytes (sqz_mma_stride), so the 8 rows of each 8 x 8
 * matrix load fall on distinct banks. Shared memory: 8 warps' 8 x 16 float
 * partial sums, then a ring of 2 or 3 (the args' buffers) of each:
 * sqz_classifier_wmma_smem(buffers). */
enum {
  SQZ_CLASSIFIER_CHUNK = 64,
  SQZ_CLASSIFIER_A_STRIDE = 72,
  SQZ_CLASSIFIER_B_STRIDE = 136,
  SQZ_CLASSIFIER_MAX_BUFFERS = 3,
  SQZ_CLASSIFIER_SUMS_BYTES = 8 * 128 * 4,
  SQZ_CLASSIFIER_BUFFER_BYTES =
      (8 * 16 * SQZ_CLASSIFIER_A_STRIDE + SQZ_CLASSIFIER_CHUNK * SQZ_CLASSIFIER_B_STRIDE) * 2
};

/* The tensor-core classifier's shared memory with `buffers` in its ring. */
static inline size_t sqz_classifier_wmma_smem(int buffers) {
  return (size_t)SQZ_CLASSIFIER_SUMS_BYTES + (size_t)buffers * SQZ_CLASSIFIER_BUFFER_BYTES;
}

/* The kernels of each family, as the host-side handles that
 * cudaFuncSetAttribute and cudaFuncGetAttributes take, with their names. */
enum { SQZ_FUSED_FAMILY_KERNELS = 3 };
typedef struct sqz_kernel_ref {
  const void *fn;
  const char *name;
} sqz_kernel_ref;
void sqz_fused_fire_kernels(sqz_kernel_ref out[SQZ_FUSED_FAMILY_KERNELS]);
void sqz_fused_stem_kernels(sqz_kernel_ref out[SQZ_FUSED_FAMILY_KERNELS]);
void sqz_fused_classifier_kernels(sqz_kernel_ref out[SQZ_FUSED_FAMILY_KERNELS]);
/* Every fused kernel: the stem's, the Fire's, then the classifier's. */
enum { SQZ_FUSED_KERNELS = 3 * SQZ_FUSED_FAMILY_KERNELS };
void sqz_fused_kernels(sqz_kernel_ref out[SQZ_FUSED_KERNELS]);

/* Raises the dynamic shared memory limit of each kernel of a family to at
 * least `bytes`, the most the engine's plan launches it with (at engine
 * creation: some variants need more than 48 KiB); never lowers it, as other
 * engines launch the same kernels. Thread-safe (kernel_limits.c). */
cudaError_t sqz_fused_allow_smem(const sqz_kernel_ref kernels[SQZ_FUSED_FAMILY_KERNELS],
                                 size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
