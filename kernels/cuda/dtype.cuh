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

// Eight consecutive fp16 channels: one 16-byte load or store (the
// address 16-byte aligned: channel counts multiples of 8 or 16, c a
// multiple of 8, every pixel 32-byte aligned).
// Held as a uint4, which nvcc loads and stores with one 128-bit access (a
// struct of __half2, whose copies are member-wise, became four 32-bit ones).
struct Half8 {
  uint4 u;
  __device__ __forceinline__ __half2 get(int i) const {
    const unsigned w = i == 0 ? u.x : i == 1 ? u.y : i == 2 ? u.z : u.w;
    __half2 h;
    memcpy(&h, &w, sizeof h);
    return h;
  }
  __device__ __forceinline__ void set(int i, __half2 h) {
    unsigned w;
    memcpy(&w, &h, sizeof w);
    (i == 0 ? u.x : i == 1 ? u.y : i == 2 ? u.z : u.w) = w;
  }
};

__device__ __forceinline__ Half8 zero8() { return Half8{make_uint4(0, 0, 0, 0)}; }
// Eight fp16 -infinity (0xfc00): the max's start, below every value.
__device__ __forceinline__ Half8 minus_inf8() {
  constexpr unsigned kPair = 0xfc00fc00u;
  return Half8{make_uint4(kPair, kPair, kPair, kPair)};
}
__device__ __forceinline__ Half8 load8(const __half *p) { return Half8{*(const uint4 *)p}; }
__device__ __forceinline__ void store8(__half *p, Half8 v) { *(uint4 *)p = v.u; }
// The channel-wise max (exact, as the max of the same values in float is).
__device__ __forceinline__ Half8 max8(Half8 a, Half8 b) {
#pragma unroll
  for (int i = 0; i < 4; i++) a.set(i, __hmax2(a.get(i), b.get(i)));
  return a;
}

// A grid for a simple elementwise loop over n items.
inline unsigned grid_for(size_t n, unsigned block) {
  size_t blocks = (n + block - 1) / block;
  if (blocks > 65535u * 8u) blocks = 65535u * 8u;  // grid-stride loops cover the rest
  return blocks ? (unsigned)blocks : 1u;
}

}  // namespace sqz

#endif
