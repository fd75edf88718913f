// Bias + activation, elementwise add and channel concatenation: the
// separate steps of the unfused path.
#include "dtype.cuh"
#include "kernels/cuda/kernels.h"

namespace {

template <typename T>
__global__ void bias_act(T *x, const float *bias, size_t rows, int channels, int ld, int relu) {
  const size_t total = rows * channels;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / channels;
    const int c = (int)(i % channels);
    T *p = x + r * ld + c;
    float v = sqz::to_float(*p) + bias[c];
    *p = sqz::from_float<T>(relu && v < 0.0f ? 0.0f : v);
  }
}

template <typename T>
__global__ void add(T *dst, const T *src, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    dst[i] = sqz::from_float<T>(sqz::to_float(dst[i]) + sqz::to_float(src[i]));
}

template <typename T>
__global__ void concat(const T *a, int ca, const T *b, int cb, size_t rows, T *out) {
  const int cout = ca + cb;
  const size_t total = rows * cout;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t r = i / cout;
    const int c = (int)(i % cout);
    out[i] = c < ca ? a[r * ca + c] : b[r * cb + (c - ca)];
  }
}

}  // namespace

extern "C" cudaError_t sqz_launch_bias_act(void *x, const float *bias, size_t rows, int channels,
                                           int ld, int relu, sqz_dtype dtype, cudaStream_t stream) {
  const unsigned block = 256, grid = sqz::grid_for(rows * channels, block);
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(bias_act<__half>, 0, dim3(grid), dim3(block), 0, stream, (__half *)x, bias,
                      rows, channels, ld, relu);
  return SQZ_LAUNCH(bias_act<float>, 0, dim3(grid), dim3(block), 0, stream, (float *)x, bias, rows,
                    channels, ld, relu);
}

extern "C" cudaError_t sqz_launch_add(void *dst, const void *src, size_t n, sqz_dtype dtype,
                                      cudaStream_t stream) {
  const unsigned block = 256, grid = sqz::grid_for(n, block);
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(add<__half>, 0, dim3(grid), dim3(block), 0, stream, (__half *)dst,
                      (const __half *)src, n);
  return SQZ_LAUNCH(add<float>, 0, dim3(grid), dim3(block), 0, stream, (float *)dst,
                    (const float *)src, n);
}

extern "C" cudaError_t sqz_launch_concat(const void *a, int ca, const void *b, int cb, size_t rows,
                                         void *out, sqz_dtype dtype, cudaStream_t stream) {
  const unsigned block = 256, grid = sqz::grid_for(rows * (ca + cb), block);
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(concat<__half>, 0, dim3(grid), dim3(block), 0, stream, (const __half *)a, ca,
                      (const __half *)b, cb, rows, (__half *)out);
  return SQZ_LAUNCH(concat<float>, 0, dim3(grid), dim3(block), 0, stream, (const float *)a, ca,
                    (const float *)b, cb, rows, (float *)out);
}
