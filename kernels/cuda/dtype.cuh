// Loads and stores of activations as float, for fp32 and fp16 storage.
#ifndef SQZ_KERNELS_CUDA_DTYPE_CUH
#define SQZ_KERNELS_CUDA_DTYPE_CUH

#include <string.h>

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

// Four consecutive values [p, p + 4) as float with one vector load: 16
// bytes in fp32, 8 in fp16 (p must be aligned to that).
__device__ __forceinline__ void load4(const float *p, float (&v)[4]) {
  const float4 q = *(const float4 *)p;
  v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
}
__device__ __forceinline__ void load4(const __half *p, float (&v)[4]) {
  const uint2 q = *(const uint2 *)p;
  __half2 lo, hi;
  memcpy(&lo, &q.x, sizeof lo);
  memcpy(&hi, &q.y, sizeof hi);
  const float2 a = __half22float2(lo), b = __half22float2(hi);
  v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}

// A grid for a simple elementwise loop over n items.
inline unsigned grid_for(size_t n, unsigned block) {
  size_t blocks = (n + block - 1) / block;
  if (blocks > 65535u * 8u) blocks = 65535u * 8u;  // grid-stride loops cover the rest
  return blocks ? (unsigned)blocks : 1u;
}

}  // namespace sqz

#endif
