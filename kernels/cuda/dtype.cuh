// Loads and stores of activations as float, for fp32 and fp16 storage.
#ifndef SQZ_KERNELS_CUDA_DTYPE_CUH
#define SQZ_KERNELS_CUDA_DTYPE_CUH

#include "portable.cuh"

namespace sqz {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}

// A grid for a simple elementwise loop over n items.
inline unsigned grid_for(size_t n, unsigned block) {
  size_t blocks = (n + block - 1) / block;
  if (blocks > 65535u * 8u) blocks = 65535u * 8u;  // grid-stride loops cover the rest
  return blocks ? (unsigned)blocks : 1u;
}

}  // namespace sqz

#endif
