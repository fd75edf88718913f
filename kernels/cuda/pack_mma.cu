// Weights packed in the order of the tensor cores' B registers
// (sqz_mma_b_source), once when an engine is created, so that the Fire
// kernel's expand and shortcut load each step's B operand with one
// 16-byte load a lane.
#include "portable.cuh"
#include "kernels/cuda/fused_kernels.h"

namespace {

__global__ void pack_mma_b(const __half *hwio, int k_rows, int n, __half *out) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (size_t)k_rows * n) return;
  int k, c;
  sqz_mma_b_source(i, k_rows, &k, &c);
  out[i] = hwio[(size_t)k * n + c];
}

}  // namespace

extern "C" cudaError_t sqz_launch_pack_mma_b(const void *hwio, int k_rows, int n, void *out,
                                             cudaStream_t stream) {
  if (!hwio || !out || k_rows <= 0 || n <= 0 || k_rows % 16 || n % 16) return cudaErrorInvalidValue;
  const int threads = 256;
  const size_t total = (size_t)k_rows * n;
  const dim3 grid((unsigned)((total + threads - 1) / threads));
  return SQZ_LAUNCH(pack_mma_b, 0, grid, dim3(threads), 0, stream, (const __half *)hwio, k_rows, n,
                    (__half *)out);
}
