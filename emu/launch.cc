// Kernel launches on the emulated device: the device's launch checks, then
// the blocks of the grid spread over host threads (the emulated SMs; as
// many as the machine has cores, or SQZ_EMU_THREADS), each running one
// block at a time.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu/internal.h"
#include "emu/sqz_emu.h"

namespace sqz_emu {
namespace {

unsigned sm_threads() {
  static const unsigned n = [] {
    const char *v = getenv("SQZ_EMU_THREADS");
    long t = v ? strtol(v, nullptr, 10) : 0;
    if (t <= 0) t = (long)std::thread::hardware_concurrency();
    return (unsigned)std::max(1L, std::min(t, 64L));
  }();
  return n;
}

cudaError_t refuse(cudaError_t err, const std::string &message) {
  set_launch_error(message);
  return note_error(err);
}

std::string describe(const char *name, dim3 grid, dim3 block) {
  return std::string(name) + "<<<(" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
         std::to_string(grid.z) + "), (" + std::to_string(block.x) + "," + std::to_string(block.y) +
         "," + std::to_string(block.z) + ")>>>";
}

}  // namespace

cudaError_t run_grid(const Grid &g) {
  const unsigned long long blocks = (unsigned long long)g.grid.x * g.grid.y * g.grid.z;
  std::atomic<unsigned long long> next{0};
  std::atomic<bool> stop{false};
  std::mutex m;
  cudaError_t first = cudaSuccess;
  std::string why;
  auto worker = [&] {
    for (;;) {
      if (stop.load()) return;
      const unsigned long long b = next.fetch_add(1);
      if (b >= blocks) return;
      uint3 idx;
      idx.x = (unsigned)(b % g.grid.x);
      idx.y = (unsigned)(b / g.grid.x % g.grid.y);
      idx.z = (unsigned)(b / ((unsigned long long)g.grid.x * g.grid.y));
      std::string msg;
      const cudaError_t err = run_block(g, idx, &msg);
      if (err != cudaSuccess) {
        std::lock_guard<std::mutex> lock(m);
        if (first == cudaSuccess) {
          first = err;
          why = msg;
        }
        stop = true;
      }
    }
  };
  const unsigned helpers = (unsigned)std::min<unsigned long long>(sm_threads(), blocks) - 1;
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < helpers; i++) threads.emplace_back(worker);
  worker();
  for (std::thread &t : threads) t.join();
  if (first != cudaSuccess) set_fault(first, why);
  return first;
}

cudaError_t launch(const void *kernel, const char *name, int max_threads, dim3 grid, dim3 block,
                   size_t smem, cudaStream_t stream, std::function<void()> body) {
  const cudaError_t sticky = fault_state();
  if (sticky != cudaSuccess) return note_error(sticky);
  const std::string what = describe(name, grid, block);
  const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  if (threads == 0 || threads > (unsigned)kMaxThreads || block.x > 1024 || block.y > 1024 ||
      block.z > 64)
    return refuse(cudaErrorInvalidConfiguration,
                  what + ": a block has 1 to 1024 threads (x, y <= 1024, z <= 64)");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535)
    return refuse(cudaErrorInvalidConfiguration,
                  what + ": grid dimensions are 1 to 2^31-1 (x) and 1 to 65535 (y, z)");
  if (max_threads > 0 && threads > (unsigned long long)max_threads)
    return refuse(cudaErrorLaunchOutOfResources,
                  what + ": " + std::to_string(threads) + " threads exceed the kernel's " +
                      "__launch_bounds__(" + std::to_string(max_threads) + ")");
  const int limit = max_dynamic_smem(kernel);
  if (smem > (size_t)limit)
    return refuse(cudaErrorInvalidValue,
                  what + ": " + std::to_string(smem) + " bytes of dynamic shared memory, " +
                      "more than the kernel's limit of " + std::to_string(limit) +
                      (limit < kSharedOptin ? " (cudaFuncSetAttribute raises it, up to " +
                                                  std::to_string(kSharedOptin) + ")"
                                            : std::string()));
  auto grid_info = std::make_shared<Grid>(Grid{kernel, name, grid, block, smem, std::move(body)});
  const cudaError_t err = enqueue(stream, name, [grid_info] {
    if (fault_state() == cudaSuccess) run_grid(*grid_info);
  });
  if (err != cudaSuccess) return refuse(err, what + ": the stream's capture was invalidated");
  return cudaSuccess;
}

}  // namespace sqz_emu
