/* Internal: repacking the model's fp32 OIHW weights into the layout and
 * precision a GPU backend wants, into one block that is uploaded once.
 * Pure C (unit-tested on the CPU). */
#ifndef SQZ_RUNTIME_WEIGHT_PACK_H
#define SQZ_RUNTIME_WEIGHT_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sqz_dtype { SQZ_DTYPE_F32 = 0, SQZ_DTYPE_F16 = 1 } sqz_dtype;

typedef enum sqz_weight_layout {
  SQZ_WEIGHTS_OIHW = 0, /* out, in, ky, kx: cuDNN NCHW filters */
  SQZ_WEIGHTS_OHWI = 1, /* out, ky, kx, in: cuDNN NHWC filters, im2col GEMM */
  SQZ_WEIGHTS_HWIO = 2  /* ky, kx, in, out: output channels contiguous */
} sqz_weight_layout;

typedef struct sqz_pack_format {
  sqz_weight_layout layout;
  sqz_dtype weight_dtype;
  sqz_dtype bias_dtype;
} sqz_pack_format;

/* Byte offsets of one convolution's weights and bias in the block. */
typedef struct sqz_packed_conv {
  size_t weight, bias;
} sqz_packed_conv;

/* Per layer: `conv` for a convolution; the four Fire convolutions. */
typedef struct sqz_packed_layer {
  sqz_packed_conv conv, squeeze, expand1x1, expand3x3, shortcut;
} sqz_packed_layer;

size_t sqz_dtype_size(sqz_dtype t);

/* IEEE half precision, round to nearest even (overflow to infinity). */
uint16_t sqz_float_to_half(float f);
float sqz_half_to_float(uint16_t h);

/* Lays out every convolution's weight then bias (each 256-byte aligned) in
 * layer order, fills offsets[num_layers], and when dst is not NULL writes
 * the converted values there. Returns the block's size in bytes. */
size_t sqz_pack_weights(const sqz_layer *layers, int num_layers, const float *weights,
                        sqz_pack_format format, void *dst, sqz_packed_layer *offsets);

/* One convolution's OIHW fp32 weights into `layout` and `dtype` at dst. */
void sqz_pack_conv_weights(const float *oihw, int out_c, int in_c, int kernel,
                           sqz_weight_layout layout, sqz_dtype dtype, void *dst);

#ifdef __cplusplus
}
#endif

#endif
