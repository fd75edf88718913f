/* CPU reference operators, plain C11 and fp32: the ground truth every other
 * backend is tested against. Tensors are NCHW for one image; callers loop
 * over the batch. Nothing here allocates: scratch comes from the caller. */
#ifndef SQZ_KERNELS_REF_OPS_H
#define SQZ_KERNELS_REF_OPS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqz_ref_conv_shape {
  int in_c, in_h, in_w;
  int out_c, out_h, out_w; /* out_h/out_w from sqz_conv_out_size */
  int kernel, stride, pad;
} sqz_ref_conv_shape;

/* Floats of scratch sqz_ref_conv2d needs for this shape. */
size_t sqz_ref_conv2d_scratch(const sqz_ref_conv_shape *s);

/* out = act(conv(in, weight) + bias) with weight OIHW; act is ReLU when relu
 * is set. With accumulate set, the result is added to what out holds:
 * out = act(out + conv + bias). Runs on the OpenMP threads when built with
 * OpenMP; the result does not depend on the thread count. */
void sqz_ref_conv2d(const sqz_ref_conv_shape *s, const float *in, const float *weight,
                    const float *bias, int relu, int accumulate, float *out, float *scratch);

/* Max pooling, window kernel x kernel, implicit -inf padding; out_h/out_w
 * from sqz_pool_out_size (ceil mode). */
void sqz_ref_maxpool(const float *in, int channels, int in_h, int in_w, int kernel, int stride,
                     int pad, float *out, int out_h, int out_w);

/* out[c] = mean of in[c] over h x w. */
void sqz_ref_global_avgpool(const float *in, int channels, int h, int w, float *out);

void sqz_ref_relu(float *x, size_t n);

/* dst += src, elementwise. */
void sqz_ref_add(float *dst, const float *src, size_t n);

/* Softmax over n values (in and out may alias). */
void sqz_ref_softmax(const float *in, int n, float *out);

#ifdef __cplusplus
}
#endif

#endif
