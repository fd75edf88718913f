// The network input from the caller's format (see kernels.h).
#include <stdint.h>

#include "dtype.cuh"
#include "kernels/cuda/kernels.h"

namespace {

// One thread per output element, in output order, so writes coalesce.
template <typename Out>
__global__ void convert_input(sqz_input_conversion c, const void *in, Out *out, size_t total) {
  const size_t hw = (size_t)c.height * c.width;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t n, p;
    int ch;
    if (c.nhwc) {
      ch = (int)(i % 3);
      p = (i / 3) % hw;
      n = i / (3 * hw);
    } else {
      p = i % hw;
      ch = (int)((i / hw) % 3);
      n = i / (3 * hw);
    }
    float v;
    if (c.format == SQZ_INPUT_U8_RGB) {
      const int src = c.bgr ? 2 - ch : ch;
      v = ((float)((const uint8_t *)in)[(n * hw + p) * 3 + src] - c.mean[ch]) * c.scale[ch];
    } else if (c.format == SQZ_INPUT_F32_NHWC) {
      v = ((const float *)in)[(n * hw + p) * 3 + ch];
    } else {
      v = ((const float *)in)[(n * 3 + ch) * hw + p];
    }
    out[i] = sqz::from_float<Out>(v);
  }
}

}  // namespace

extern "C" cudaError_t sqz_launch_convert_input(const sqz_input_conversion *c, const void *in,
                                                void *out, cudaStream_t stream) {
  const size_t total = (size_t)c->batch * 3 * c->height * c->width;
  const unsigned block = 256, grid = sqz::grid_for(total, block);
  if (c->dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(convert_input<__half>, 0, dim3(grid), dim3(block), 0, stream, *c, in,
                      (__half *)out, total);
  return SQZ_LAUNCH(convert_input<float>, 0, dim3(grid), dim3(block), 0, stream, *c, in,
                    (float *)out, total);
}

namespace {
__global__ void probe_kernel() {}
}  // namespace

extern "C" cudaError_t sqz_kernels_available(void) {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, probe_kernel);
}
