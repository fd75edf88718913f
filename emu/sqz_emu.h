// The emulated device as the kernels see it (through
// kernels/cuda/portable.cuh): the built-in indices of the calling CUDA
// thread, block and warp barriers, dynamic shared memory, faults, and the
// launch. The CUDA runtime and cuBLAS entry points themselves are the
// toolkit's declarations, implemented in emu/runtime.cc and emu/cublas.cc.
#ifndef SQZ_EMU_SQZ_EMU_H
#define SQZ_EMU_SQZ_EMU_H

#include <stddef.h>

#include <functional>
#include <vector>

#include <cuda_runtime_api.h>

namespace sqz_emu {

// The running CUDA thread's indices. Initial-exec TLS: the kernels read
// these in their inner loops, and the emulation libraries are never
// loaded with dlopen.
struct ThreadState {
  uint3 thread_index, block_index;
  dim3 block_dim, grid_dim;
  unsigned linear;  // linear thread index in the block
};
extern thread_local const ThreadState *t_thread __attribute__((tls_model("initial-exec")));
#ifdef SQZ_SANITIZED
// Under GCC 12 with -fsanitize=undefined the inline read of t_thread in a
// kernel came out null while the variable was set (seen in gdb); the cause
// is not understood. Sanitizer builds read it through a call.
const ThreadState *thread_state();
#else
inline const ThreadState *thread_state() { return t_thread; }
#endif

inline const uint3 &thread_index() { return thread_state()->thread_index; }
inline const uint3 &block_index() { return thread_state()->block_index; }
inline const dim3 &block_dim() { return thread_state()->block_dim; }
inline const dim3 &grid_dim() { return thread_state()->grid_dim; }
// The calling thread's lane in its warp (linear thread index mod 32).
inline unsigned lane() { return thread_state()->linear % 32; }

void sync_block();              // __syncthreads
void sync_warp(unsigned mask);  // __syncwarp
void *dynamic_shared();         // this block's dynamic shared memory
size_t dynamic_shared_bytes();  // and its size

// The rendezvous of a warp-wide instruction (ldmatrix, mma.sync in
// emu/mma.h): publishes this lane's `bytes` (at most kExchangeBytes),
// waits for every lane of the warp, and copies the 32 lanes' into `all`,
// lane by lane. It orders nothing for ThreadSanitizer, as the instructions
// order no memory on the device: a lane's shared memory stores reach
// another lane's ldmatrix only through a __syncwarp. Faults when a lane of
// the warp is at another instruction ("every lane must": .aligned).
constexpr size_t kExchangeBytes = 32;
void warp_exchange(const char *what, const void *mine, size_t bytes, void *all);

// cp.async (sqz::cp_async16 and its group calls in portable.cuh): a CUDA
// thread's 16-byte copies from global memory into the block's dynamic
// shared memory, grouped by its commits. A group lands only when its
// thread waits for it, the latest moment the device allows, so a read
// before the wait sees the old contents; the copy itself is done by the
// kernel's code (async_land hands the group over), so the sanitizers and
// initcheck see it as that thread's stores at the wait.
// The source must lie in a device allocation even when nothing is read
// from it (fill false): the instruction still takes the address, and
// compute-sanitizer's memcheck may report one outside every allocation.
struct AsyncCopy {
  void *dst;
  const void *src;
  bool fill;  // false: 16 zero bytes, src not read
};
void async_copy(void *dst, const void *src, bool fill);  // checks the addresses, queues
void async_commit();                                     // the queued copies become a group
// Moves the calling thread's groups older than its newest `keep` into
// *landing, oldest first.
void async_land(int keep, std::vector<AsyncCopy> *landing);

// A fault of the running kernel (what the GPU reports as an illegal or
// misaligned address): the launch stops, the message goes to stderr and
// to last_fault(), and the error is sticky, as on the device.
[[noreturn]] void fault(cudaError_t err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Checks the launch as the device does (block and grid limits, launch
// bounds, dynamic shared memory against the kernel's attribute) and
// enqueues `body` on the stream (or records it when capturing); each CUDA
// thread runs `body` as its own fiber.
cudaError_t launch(const void *kernel, const char *name, int max_threads, dim3 grid, dim3 block,
                   size_t smem, cudaStream_t stream, std::function<void()> body);

}  // namespace sqz_emu

extern "C" {
// The message of the last kernel fault ("" if none) and of the last launch
// refused at launch time; for tests of the emulated device.
const char *sqz_emu_last_fault(void);
const char *sqz_emu_last_launch_error(void);
// Clears a sticky kernel fault (cudaDeviceReset does as well).
void sqz_emu_clear_fault(void);
}

#endif
