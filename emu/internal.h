// Internal interfaces of the emulated device, shared by its files.
#ifndef SQZ_EMU_INTERNAL_H
#define SQZ_EMU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <string>

#include <cuda_runtime_api.h>

namespace sqz_emu {

// One kernel launch, as the blocks see it.
struct Grid {
  const void *kernel;
  const char *name;
  dim3 grid, block;
  size_t smem;
  std::function<void()> body;
};

// Runs every block of `g` (on the host threads of the emulated SMs) and
// returns cudaSuccess, or the fault that stopped it (recorded as sticky).
cudaError_t run_grid(const Grid &g);

// Runs one block on the calling host thread, each CUDA thread a fiber.
// Returns cudaSuccess or the fault (with its message in *why).
cudaError_t run_block(const Grid &g, uint3 block_index, std::string *why);

// Puts `op` on the stream in order, or into the graph the stream is
// capturing. `what` names it in errors.
cudaError_t enqueue(cudaStream_t stream, const char *what, std::function<void()> op);

// The last-error slot of the calling thread (cudaGetLastError), and the
// sticky fault of the device.
cudaError_t note_error(cudaError_t err);
void set_fault(cudaError_t err, const std::string &message);
cudaError_t fault_state();
void set_launch_error(const std::string &message);

// initcheck (built with SQZ_EMU_INITCHECK; emu/initcheck.cc): begins
// tracking which bytes of a block's shared memory (`smem`, and the static
// __shared__ arrays of the module holding `kernel`) its threads write, on
// the calling host thread; the end returns true with the first read of an
// unwritten byte in *finding.
void initcheck_begin(const void *kernel, void *smem, size_t smem_bytes);
bool initcheck_end(std::string *finding);

// Whether the calling host thread is running a CUDA thread of a kernel.
bool in_kernel();
// A fault of the running kernel raised where nothing may be thrown (the
// alignment check's handlers): the launch fails with it, and the calling
// CUDA thread ends at once, its frames abandoned, not unwound (heap memory
// they own is lost: a faulted kernel may cost that).
[[noreturn]] void end_thread_on_fault(cudaError_t err, const char *message);

// Whether [p, p + n) lies inside one device allocation (cudaMalloc), and
// if so, that allocation's [*begin, *end) when asked.
bool in_device_allocation(const void *p, size_t n, uintptr_t *begin = nullptr,
                          uintptr_t *end = nullptr);

// The dynamic shared memory limit set for `kernel` (48 KiB by default).
int max_dynamic_smem(const void *kernel);

// The device's limits.
constexpr int kSharedDefault = 48 * 1024;
constexpr int kSharedOptin = 227 * 1024;
constexpr int kSharedPerSm = 228 * 1024;
constexpr int kSharedReserved = 1024;  // per block
constexpr int kMaxThreads = 1024;
constexpr int kSmCount = 132;

}  // namespace sqz_emu

#endif
