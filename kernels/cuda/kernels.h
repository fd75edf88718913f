/* C launchers of the CUDA kernels used by the GPU backends. Each enqueues on
 * `stream`, checks the launch and returns its error (cudaSuccess when it
 * was enqueued). Activations are NHWC unless a layout is given; `dtype`
 * says whether they are fp32 or fp16. */
#ifndef SQZ_KERNELS_CUDA_KERNELS_H
#define SQZ_KERNELS_CUDA_KERNELS_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#include "runtime/weight_pack.h"
#include "sqz.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether kernels for this device's architecture are in the binary. */
cudaError_t sqz_kernels_available(void);

/* Network input from the caller's format: uint8 RGB images get the model's
 * preprocessing (channel order, mean, scale); float inputs are taken as
 * preprocessed. Output in `nhwc` or NCHW layout and `dtype`. */
typedef struct sqz_input_conversion {
  sqz_input_format format;
  int batch, height, width;
  int bgr; /* uint8 input: the network wants B, G, R */
  float mean[3], scale[3];
  int nhwc;
  sqz_dtype dtype;
} sqz_input_conversion;
cudaError_t sqz_launch_convert_input(const sqz_input_conversion *c, const void *in, void *out,
                                     cudaStream_t stream);

/* x[r * ld + c] = act(x[r * ld + c] + bias[c]) for r < rows, c < channels;
 * bias is fp32. relu selects ReLU, otherwise identity. */
cudaError_t sqz_launch_bias_act(void *x, const float *bias, size_t rows, int channels, int ld,
                                int relu, sqz_dtype dtype, cudaStream_t stream);

/* dst[i] += src[i] for i < n. */
cudaError_t sqz_launch_add(void *dst, const void *src, size_t n, sqz_dtype dtype,
                           cudaStream_t stream);

/* out[r] = [a[r] (ca values), b[r] (cb values)] for r < rows. */
cudaError_t sqz_launch_concat(const void *a, int ca, const void *b, int cb, size_t rows, void *out,
                              sqz_dtype dtype, cudaStream_t stream);

/* NHWC im2col: col[(n, oy, ox)][(ky, kx, ci)], zero where the window leaves
 * the input. */
typedef struct sqz_window {
  int batch, height, width, channels; /* input */
  int kernel, stride, pad;
  int out_height, out_width;
  int nchw; /* max pooling only: NCHW instead of NHWC */
} sqz_window;
cudaError_t sqz_launch_im2col(const sqz_window *w, const void *in, void *col, sqz_dtype dtype,
                              cudaStream_t stream);

/* Max pooling (ceil-mode sizes given in w), NHWC or NCHW (w->nchw). */
cudaError_t sqz_launch_maxpool(const sqz_window *w, const void *in, void *out, sqz_dtype dtype,
                               cudaStream_t stream);

/* out[n][c] = mean over h*w of in, NHWC in, fp32 out. */
cudaError_t sqz_launch_global_avgpool(const void *in, int batch, int hw, int channels, float *out,
                                      sqz_dtype dtype, cudaStream_t stream);

/* Row-wise softmax of rows x cols fp32, in place. */
cudaError_t sqz_launch_softmax(float *x, int rows, int cols, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
