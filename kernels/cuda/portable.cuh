// The one portability header of the CUDA kernels. Every kernels/cuda/*.cu
// file includes it first and compiles two ways:
//  - with nvcc for the GPU, where it adds nothing but the launch helper;
//  - as host C++17 (SQZ_EMULATED_DEVICE), where each CUDA thread of a block
//    runs as its own fiber on the emulated device (emu/), so that barriers
//    are real barriers and the sanitizers see every access.
// The kernels use only what is here: the built-in indices, __syncthreads,
// __syncwarp, static __shared__ and SQZ_DYNAMIC_SHARED, __launch_bounds__,
// __grid_constant__, __forceinline__, __half and nvcuda::wmma (16x16x16,
// half in, float accumulate), sqz::cp_async16 and its group calls
// (sqz::cp_async_wait_all_but for a run-time count), the
// raw tensor-core instructions sqz::ldmatrix_x4 and sqz::mma_16816, and
// sqz::launch for every launch.
#ifndef SQZ_KERNELS_CUDA_PORTABLE_CUH
#define SQZ_KERNELS_CUDA_PORTABLE_CUH

#include <stddef.h>
#include <stdint.h>

#include <tuple>
#include <utility>
#include <vector>

#ifdef SQZ_EMULATED_DEVICE

// Per block (all fibers of a block run on one host thread, one block at a
// time per thread), so a thread_local static is exactly one block's copy.
#define __shared__ static thread_local
#include <math.h>

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "emu/mma.h"
#include "emu/sqz_emu.h"
#include "emu/wmma.h"

#define __launch_bounds__(...)
#define threadIdx (::sqz_emu::thread_index())
#define blockIdx (::sqz_emu::block_index())
#define blockDim (::sqz_emu::block_dim())
#define gridDim (::sqz_emu::grid_dim())
#define SQZ_DYNAMIC_SHARED(type, name) type *name = (type *)::sqz_emu::dynamic_shared()

inline void __syncthreads() { ::sqz_emu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::sqz_emu::sync_warp(mask); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

// The runtime's C entry points take `const void *`; these match nvcc's
// templates in cuda_runtime.h, which are only declared for nvcc.
template <typename... P>
inline cudaError_t cudaFuncSetAttribute(void (*f)(P...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute((const void *)f, attr, value);
}
template <typename... P>
inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes *attr, void (*f)(P...)) {
  return cudaFuncGetAttributes(attr, (const void *)f);
}

#else

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#define SQZ_DYNAMIC_SHARED(type, name) extern __shared__ __align__(128) type name[]

#endif

namespace sqz {

// Asynchronous copies from global to shared memory (cp.async, sm_80 on):
// cp_async16 starts a 16-byte copy (both addresses 16-byte aligned), or
// with fill false writes 16 zero bytes without reading src (which must
// still point into the allocation it would read); cp_async_commit
// closes the thread's copies since its last commit into a group; and
// cp_async_wait<N> returns once all but the thread's newest N groups have
// landed. Other threads see them after a barrier, as any shared store.
#ifdef SQZ_EMULATED_DEVICE
inline void cp_async16(void *dst, const void *src, bool fill) {
  ::sqz_emu::async_copy(dst, src, fill);
}
inline void cp_async_commit() { ::sqz_emu::async_commit(); }
template <int N>
inline void cp_async_wait() {
  std::vector<::sqz_emu::AsyncCopy> landing;
  ::sqz_emu::async_land(N, &landing);
  // 16-byte accesses in kernel code: what the sanitizers see at the wait.
  for (const ::sqz_emu::AsyncCopy &c : landing)
    *(uint4 *)c.dst = c.fill ? *(const uint4 *)c.src : uint4{0, 0, 0, 0};
}
#else
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool fill) {
#if __CUDA_ARCH__ >= 800
  const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src),
               "r"(fill ? 16 : 0)
               : "memory");
#else
  *(uint4 *)dst = fill ? *(const uint4 *)src : uint4{0, 0, 0, 0};
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
#endif

// cp_async_wait<N> for an N known only at run time, 0 to 2 (larger waits
// as for 2: for more than it must, never less).
__device__ __forceinline__ void cp_async_wait_all_but(int n) {
  if (n >= 2)
    cp_async_wait<2>();
  else if (n == 1)
    cp_async_wait<1>();
  else
    cp_async_wait<0>();
}

// The tensor cores below WMMA (sm_80 on), with the register layouts the
// PTX ISA gives them (emu/mma.h spells them out): ldmatrix_x4 loads four
// 8 x 8 matrices of halves from shared memory, lanes 8i .. 8i + 7 giving
// the row addresses of matrix i (16-byte aligned), transposed with
// `trans`; mma_16816 is d = a b + c at m16n8k16, f16 in, f32 accumulated.
// Every lane of the warp must execute each. Shared memory addresses are
// SmemAddr (32 bits on the device), made once by smem_addr, so that a
// loop only adds byte offsets to them; WMMA's loads make each lane's
// address again at every call.
#ifdef SQZ_EMULATED_DEVICE
using SmemAddr = uintptr_t;
inline SmemAddr smem_addr(const void *p) { return (uintptr_t)p; }
template <bool Trans = false>
inline void ldmatrix_x4(uint32_t (&r)[4], SmemAddr row) {
  ::sqz_emu::ldmatrix_x4(r, row, Trans);
}
inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  ::sqz_emu::mma_16816(d, a, b0, b1, d);
}
#else
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error \
    "sqz's tensor-core kernels use mma.sync m16n8k16: build for sm_80 or later (CMAKE_CUDA_ARCHITECTURES)"
#endif
using SmemAddr = uint32_t;
__device__ __forceinline__ SmemAddr smem_addr(const void *p) {
  return (SmemAddr)__cvta_generic_to_shared(p);
}
template <bool Trans = false>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], SmemAddr row) {
  if (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(row));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(row));
}
// d += a b: the accumulator is both C and D.
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif

// Launches `kernel` on `stream` and returns the launch's own error.
// max_threads is the kernel's __launch_bounds__ (0 when it has none): the
// emulated device refuses a larger block as the GPU does.
template <typename... P, typename... A>
cudaError_t launch(void (*kernel)(P...), const char *name, int max_threads, dim3 grid, dim3 block,
                   size_t smem, cudaStream_t stream, A &&...args) {
  // An error left by an earlier call was reported by that call; do not let
  // it fail this launch.
  (void)cudaGetLastError();
#ifdef SQZ_EMULATED_DEVICE
  // As on the device, a refused launch sets the last error, which the
  // launcher takes (and clears) like any other.
  (void)::sqz_emu::launch((const void *)kernel, name, max_threads, grid, block, smem, stream,
                          [kernel, params = std::make_tuple(P(std::forward<A>(args))...)]() {
                            std::apply(kernel, params);
                          });
  return cudaGetLastError();
#else
  (void)name;
  (void)max_threads;
  // clang-format does not know CUDA's launch syntax in a .cuh.
  // clang-format off
  kernel<<<grid, block, smem, stream>>>(std::forward<A>(args)...);
  // clang-format on
  return cudaGetLastError();
#endif
}

}  // namespace sqz

// SQZ_LAUNCH(kernel, bounds, grid, block, smem, stream, args...)
#define SQZ_LAUNCH(kernel, ...) ::sqz::launch(kernel, #kernel, __VA_ARGS__)

#endif
