// Proof that the emulated device catches what it is meant to: kernels with
// planted defects, each of which must be reported (by AddressSanitizer,
// ThreadSanitizer, or the device's own launch and alignment rules), next
// to the same kernels without the defect, which must run clean. Built only
// in emulation builds; the sanitizer cases need their sanitizer build and
// skip, saying so, in the others.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/cuda/portable.cuh"
#include "tests/emu/emu_test_util.h"

#if defined(__SANITIZE_THREAD__)
// A race must end the run (and so fail the death test's child), not only
// print a report.
extern "C" const char *__tsan_default_options() { return "halt_on_error=1:report_signal_unsafe=0"; }
#endif

namespace {

using namespace nvcuda;
using sqz_emu_test::DeviceBuffer;
using sqz_emu_test::ExpectLaunchedOrFaulted;
using PlantedDefects = sqz_emu_test::EmulatedDevice;

// --- kernels -------------------------------------------------------------

__global__ void write_shared(float *out, int n, int past_end) {
  SQZ_DYNAMIC_SHARED(float, s);
  const int i = (int)threadIdx.x;
  if (i < n) s[i + (past_end && i == n - 1 ? 1 : 0)] = (float)i;  // one float past the end
  __syncthreads();
  if (i < n) out[i] = s[i];
}

// Thread i reads what thread i + 1 wrote: needs the barrier between.
__global__ void neighbour_read(float *out, int with_barrier) {
  __shared__ float s[64];
  const int i = (int)threadIdx.x;
  s[i] = (float)i;
  if (with_barrier) __syncthreads();
  out[i] = s[(i + 1) % 64];
}

__global__ void __launch_bounds__(128) bounded(float *out) { out[threadIdx.x] = 1.0f; }

__global__ void wmma_product(const __half *a, const __half *b, float *c, int offset, int ldm) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::fill_fragment(fc, 0.0f);
  wmma::load_matrix_sync(fa, a + offset, (unsigned)ldm);
  wmma::load_matrix_sync(fb, b, 16);
  wmma::mma_sync(fc, fa, fb, fc);
  wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}

// Each lane sums column `lane % 16` of a stored tile: other lanes' elements.
__global__ void wmma_store_then_read(float *c, float *sums, int with_syncwarp) {
  __shared__ __align__(32) float tile[256];
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::fill_fragment(fc, 1.0f);
  wmma::store_matrix_sync(tile, fc, 16, wmma::mem_row_major);
  if (with_syncwarp) __syncwarp();
  float s = 0.0f;
  for (int r = 0; r < 16; r++) s += tile[r * 16 + threadIdx.x % 16];
  sums[threadIdx.x] = s;
  c[threadIdx.x] = tile[threadIdx.x];
}

// Thread i reads what thread i + 1 wrote; with `skip_last` the last thread
// writes nothing, so thread 62 reads a float no thread of the block wrote
// (on the device: whatever an earlier block left there).
__global__ void read_neighbour_dynamic(float *out, int skip_last) {
  SQZ_DYNAMIC_SHARED(float, s);
  const int i = (int)threadIdx.x;
  if (!skip_last || i != 63) s[i] = (float)i;
  __syncthreads();
  out[i] = s[(i + 1) % 64];
}

__global__ void read_neighbour_static(float *out, int skip_last) {
  __shared__ float s[64];
  const int i = (int)threadIdx.x;
  if (!skip_last || i != 63) s[i] = (float)i;
  __syncthreads();
  out[i] = s[(i + 1) % 64];
}

__global__ void divergent_barrier(float *out) {
  // Half of warp 0 waits for the block, the other half for its warp.
  if (threadIdx.x < 16)
    __syncthreads();
  else
    __syncwarp();
  out[threadIdx.x] = 1.0f;
}

// Lanes at or past `split` return (or, with exit_low, the lanes before
// it), then the rest sync their warp with a full mask: the lanes that
// returned are named in the mask and never arrive. `split` 32: none
// return, which is correct.
__global__ void syncwarp_after_return(float *out, int split, int exit_low) {
  const int lane = (int)threadIdx.x % 32;
  if (exit_low ? lane < split : lane >= split) return;
  out[threadIdx.x] = 1.0f;
  __syncwarp();
  out[threadIdx.x] += 1.0f;
}

// A vector access at `offset` bytes past a 16-byte aligned buffer, of the
// kind `kind` (0 uint4, 1 float4, 2 uint2, 3 __half2): the GPU faults
// unless the offset is a multiple of the vector's size.
__global__ void vector_access(unsigned char *buf, int offset, int kind, int store) {
  unsigned char *p = buf + offset;
  switch (kind) {
    case 0:
      if (store)
        *(uint4 *)p = uint4{1, 2, 3, 4};
      else
        *(uint4 *)(buf + 64) = *(const uint4 *)p;
      break;
    case 1: *(float4 *)(buf + 64) = *(const float4 *)p; break;
    case 2: *(uint2 *)(buf + 64) = *(const uint2 *)p; break;
    default: *(__half2 *)(buf + 64) = *(const __half2 *)p; break;
  }
}

// cp.async. Thread i owns two 16-byte slots of dynamic shared memory,
// marked first, and copies src[i] into the first (zeros for odd i: no
// source read) and src[n + i] into the second, one group each. What it
// reads of its own slots before any wait, after waiting for all but the
// newest group, and after waiting for all, goes to out[0..5n).
const uint4 kMarker = {0xabababab, 0xabababab, 0xabababab, 0xabababab};

__global__ void async_copy_order(const uint4 *src, uint4 *out) {
  SQZ_DYNAMIC_SHARED(uint4, slots);
  const int i = (int)threadIdx.x, n = (int)blockDim.x;
  slots[2 * i] = slots[2 * i + 1] = kMarker;
  sqz::cp_async16(&slots[2 * i], &src[i], i % 2 == 0);
  sqz::cp_async_commit();
  sqz::cp_async16(&slots[2 * i + 1], &src[n + i], true);
  sqz::cp_async_commit();
  out[i] = slots[2 * i];  // read before the wait: the planted defect
  sqz::cp_async_wait<1>();
  out[n + i] = slots[2 * i];
  out[2 * n + i] = slots[2 * i + 1];
  sqz::cp_async_wait<0>();
  out[3 * n + i] = slots[2 * i];
  out[4 * n + i] = slots[2 * i + 1];
}

// Thread i copies src[i] into slot i (never written otherwise), waits, and
// reads its neighbour's slot: that needs the barrier as well.
__global__ void async_copy_neighbour(const uint4 *src, uint4 *out, int with_barrier) {
  SQZ_DYNAMIC_SHARED(uint4, slots);
  const int i = (int)threadIdx.x, n = (int)blockDim.x;
  sqz::cp_async16(&slots[i], &src[i], true);
  sqz::cp_async_commit();
  sqz::cp_async_wait<0>();
  if (with_barrier) __syncthreads();
  out[i] = slots[(i + 1) % n];
}

enum AsyncDefect {
  kMisaligned,
  kToGlobal,
  kNeverWaited,
  kZeroFillBeforeSource,
  kZeroFillPastSource,
  kZeroFillInside
};

// kZeroFill*: a zero-filling copy (nothing read) whose source address is
// one element before or past `src`, or `src` itself (correct).
__global__ void async_copy_defect(const uint4 *src, uint4 *global, int defect) {
  SQZ_DYNAMIC_SHARED(uint4, slots);
  void *dst = defect == kMisaligned ? (void *)((char *)slots + 8)
              : defect == kToGlobal ? (void *)global
                                    : (void *)slots;
  const uint4 *from = defect == kZeroFillBeforeSource ? src - 1
                      : defect == kZeroFillPastSource ? src + 1
                                                      : src;
  sqz::cp_async16(dst, from, defect < kZeroFillBeforeSource);
  sqz::cp_async_commit();
  if (defect >= kZeroFillBeforeSource) sqz::cp_async_wait<0>();
}

// --- helpers -------------------------------------------------------------

cudaError_t run_write_shared(int past_end) {
  DeviceBuffer<float> out(64);
  cudaError_t err = SQZ_LAUNCH(write_shared, 0, dim3(1), dim3(64), 64 * sizeof(float), nullptr,
                               out.p, 64, past_end);
  return err != cudaSuccess ? err : cudaDeviceSynchronize();
}

cudaError_t run_neighbour_read(int with_barrier) {
  DeviceBuffer<float> out(64);
  cudaError_t err =
      SQZ_LAUNCH(neighbour_read, 0, dim3(1), dim3(64), 0, nullptr, out.p, with_barrier);
  return err != cudaSuccess ? err : cudaDeviceSynchronize();
}

cudaError_t run_store_then_read(int with_syncwarp) {
  DeviceBuffer<float> c(32), sums(32);
  cudaError_t err = SQZ_LAUNCH(wmma_store_then_read, 0, dim3(1), dim3(32), 0, nullptr, c.p, sums.p,
                               with_syncwarp);
  return err != cudaSuccess ? err : cudaDeviceSynchronize();
}

// --- AddressSanitizer ------------------------------------------------------

TEST_F(PlantedDefects, SharedMemoryOverrunIsReportedByAddressSanitizer) {
  EXPECT_EQ(run_write_shared(0), cudaSuccess);
// GCC defines __SANITIZE_ADDRESS__ for the initcheck build's kernel-address
// instrumentation too, which has no AddressSanitizer behind it.
#if defined(__SANITIZE_ADDRESS__) && !defined(SQZ_EMU_INITCHECK)
  EXPECT_DEATH(run_write_shared(1), "AddressSanitizer: heap-buffer-overflow");
#else
  GTEST_SKIP() << "needs the AddressSanitizer build of the emulated device (build-emu-asan)";
#endif
}

// --- ThreadSanitizer -------------------------------------------------------

TEST_F(PlantedDefects, MissingSyncthreadsIsReportedByThreadSanitizer) {
  EXPECT_EQ(run_neighbour_read(1), cudaSuccess);
#if defined(__SANITIZE_THREAD__)
  EXPECT_DEATH(run_neighbour_read(0), "ThreadSanitizer: data race");
#else
  GTEST_SKIP() << "needs the ThreadSanitizer build of the emulated device (build-emu-tsan)";
#endif
}

TEST_F(PlantedDefects, ReadingOtherLanesWmmaStoreWithoutSyncwarpIsARace) {
  EXPECT_EQ(run_store_then_read(1), cudaSuccess);
#if defined(__SANITIZE_THREAD__)
  EXPECT_DEATH(run_store_then_read(0), "ThreadSanitizer: data race");
#else
  GTEST_SKIP() << "needs the ThreadSanitizer build of the emulated device (build-emu-tsan)";
#endif
}

// --- the device's launch rules ---------------------------------------------

TEST_F(PlantedDefects, TooMuchDynamicSharedMemoryFailsTheLaunch) {
  DeviceBuffer<float> out(64);
  const size_t big = 64 * 1024;
  // Without the attribute, 48 KiB is the limit.
  EXPECT_EQ(SQZ_LAUNCH(write_shared, 0, dim3(1), dim3(64), big, nullptr, out.p, 64, 0),
            cudaErrorInvalidValue);
  EXPECT_NE(std::string(sqz_emu_last_launch_error()).find("cudaFuncSetAttribute"),
            std::string::npos)
      << sqz_emu_last_launch_error();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // the launch error was returned, then cleared
  // With it, up to 227 KiB; never more.
  ASSERT_EQ(
      cudaFuncSetAttribute(write_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)big),
      cudaSuccess);
  EXPECT_EQ(SQZ_LAUNCH(write_shared, 0, dim3(1), dim3(64), big, nullptr, out.p, 64, 0),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(
      cudaFuncSetAttribute(write_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024),
      cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

// An error an earlier call returned is not the next good launch's error
// (the launchers once returned cudaGetLastError() after the launch alone).
TEST_F(PlantedDefects, AStaleErrorDoesNotFailTheNextLaunch) {
  DeviceBuffer<float> out(128);
  setenv("SQZ_EMU_DEVICE_MEMORY", "1K", 1);
  void *p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 1 << 20), cudaErrorMemoryAllocation);  // sets the last error
  unsetenv("SQZ_EMU_DEVICE_MEMORY");
  EXPECT_EQ(SQZ_LAUNCH(bounded, 128, dim3(1), dim3(128), 0, stream_, out.p), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
}

TEST_F(PlantedDefects, BlockAndGridLimitsFailTheLaunch) {
  DeviceBuffer<float> out(2048);
  EXPECT_EQ(SQZ_LAUNCH(bounded, 128, dim3(1), dim3(128), 0, nullptr, out.p), cudaSuccess);
  EXPECT_EQ(SQZ_LAUNCH(bounded, 128, dim3(1), dim3(256), 0, nullptr, out.p),
            cudaErrorLaunchOutOfResources);
  EXPECT_NE(std::string(sqz_emu_last_launch_error()).find("__launch_bounds__(128)"),
            std::string::npos);
  EXPECT_EQ(SQZ_LAUNCH(bounded, 0, dim3(1), dim3(1025), 0, nullptr, out.p),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(SQZ_LAUNCH(bounded, 0, dim3(1, 65536), dim3(1), 0, nullptr, out.p),
            cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST_F(PlantedDefects, MisalignedWmmaLoadFaults) {
  DeviceBuffer<__half> a(512), b(256);
  DeviceBuffer<float> c(256);
  ASSERT_EQ(cudaMemsetAsync(a.p, 0, 512 * sizeof(__half), stream_), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(b.p, 0, 256 * sizeof(__half), stream_), cudaSuccess);
  EXPECT_EQ(SQZ_LAUNCH(wmma_product, 0, dim3(1), dim3(32), 0, stream_, a.p, b.p, c.p, 0, 16),
            cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
  // 8 halves = 16 bytes: not 32-byte aligned.
  ExpectLaunchedOrFaulted(
      SQZ_LAUNCH(wmma_product, 0, dim3(1), dim3(32), 0, stream_, a.p, b.p, c.p, 8, 16),
      cudaErrorMisalignedAddress);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaErrorMisalignedAddress);
  EXPECT_NE(std::string(sqz_emu_last_fault()).find("not 32-byte aligned"), std::string::npos)
      << sqz_emu_last_fault();
  // The fault is sticky, as on the device, until reset.
  EXPECT_EQ(cudaGetLastError(), cudaErrorMisalignedAddress);
  sqz_emu_clear_fault();
  // A leading dimension of 12 halves (24 bytes).
  ExpectLaunchedOrFaulted(
      SQZ_LAUNCH(wmma_product, 0, dim3(1), dim3(32), 0, stream_, a.p, b.p, c.p, 0, 12),
      cudaErrorMisalignedAddress);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaErrorMisalignedAddress);
  EXPECT_NE(std::string(sqz_emu_last_fault()).find("multiple of 16 bytes"), std::string::npos)
      << sqz_emu_last_fault();
}

// initcheck: only the SQZ_EMU_INITCHECK build instruments the kernels'
// loads and stores, so the test exists only there (build-emu-initcheck).
#ifdef SQZ_EMU_INITCHECK
TEST_F(PlantedDefects, ReadingUnwrittenSharedMemoryFailsTheLaunchUnderInitcheck) {
  DeviceBuffer<float> out(64);
  const struct {
    void (*kernel)(float *, int);
    const char *name, *what;
    size_t smem;
  } cases[] = {{read_neighbour_dynamic, "read_neighbour_dynamic", "dynamic", 64 * sizeof(float)},
               {read_neighbour_static, "read_neighbour_static", "static", 0}};
  for (const auto &c : cases) {
    SCOPED_TRACE(c.name);
    // Written first, so a static array holds the previous block's values:
    // only the shadow, not the contents, can tell.
    for (int skip_last : {0, 1, 0}) {
      const cudaError_t launched =
          sqz::launch(c.kernel, c.name, 0, dim3(2), dim3(64), c.smem, nullptr, out.p, skip_last);
      const cudaError_t synced = cudaDeviceSynchronize();
      if (!skip_last) {
        EXPECT_EQ(launched, cudaSuccess);
        EXPECT_EQ(synced, cudaSuccess) << sqz_emu_last_fault();
        continue;
      }
      ExpectLaunchedOrFaulted(launched, cudaErrorLaunchFailure);
      EXPECT_EQ(synced, cudaErrorLaunchFailure);
      const std::string fault = sqz_emu_last_fault();
      EXPECT_NE(
          fault.find(std::string("initcheck: read of 4 byte(s) of ") + c.what + " shared memory"),
          std::string::npos)
          << fault;
      EXPECT_NE(fault.find(std::string("in kernel ") + c.name), std::string::npos) << fault;
      EXPECT_NE(fault.find("by thread (62,0,0)"), std::string::npos) << fault;
      if (c.smem) EXPECT_NE(fault.find("at offset 252"), std::string::npos) << fault;
      sqz_emu_clear_fault();
    }
  }
}
#endif

TEST_F(PlantedDefects, DivergentBarrierIsADeadlock) {
  DeviceBuffer<float> out(64);
  ExpectLaunchedOrFaulted(SQZ_LAUNCH(divergent_barrier, 0, dim3(1), dim3(64), 0, stream_, out.p),
                          cudaErrorLaunchFailure);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(sqz_emu_last_fault()).find("barrier deadlock"), std::string::npos)
      << sqz_emu_last_fault();
}

// --- cp.async --------------------------------------------------------------

bool SameBytes(const uint4 &a, const uint4 &b) {
  return a.x == b.x && a.y == b.y && a.z == b.z && a.w == b.w;
}

// A group lands at the wait that covers it, not before (so a kernel that
// reads too early sees old contents), in order; fill false writes zeros.
TEST_F(PlantedDefects, AsyncCopiesLandAtTheirGroupsWait) {
  const int n = 64;
  std::vector<uint4> host_src(2 * n), host_out(5 * n);
  for (int i = 0; i < 2 * n; i++)
    host_src[i] = uint4{(unsigned)i, (unsigned)i + 1000, (unsigned)i * 7, 0x5a5a5a5au};
  DeviceBuffer<uint4> src(2 * n), out(5 * n);
  ASSERT_EQ(cudaMemcpy(src.p, host_src.data(), 2 * n * 16, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(SQZ_LAUNCH(async_copy_order, 0, dim3(1), dim3(n), 2 * n * 16, nullptr, src.p, out.p),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << sqz_emu_last_fault();
  ASSERT_EQ(cudaMemcpy(host_out.data(), out.p, 5 * n * 16, cudaMemcpyDeviceToHost), cudaSuccess);
  const uint4 zero = {0, 0, 0, 0};
  for (int i = 0; i < n; i++) {
    SCOPED_TRACE(i);
    const uint4 &first = i % 2 == 0 ? host_src[i] : zero;
    EXPECT_TRUE(SameBytes(host_out[i], kMarker));          // before any wait
    EXPECT_TRUE(SameBytes(host_out[n + i], first));        // the older group landed
    EXPECT_TRUE(SameBytes(host_out[2 * n + i], kMarker));  // the newest not yet
    EXPECT_TRUE(SameBytes(host_out[3 * n + i], first));
    EXPECT_TRUE(SameBytes(host_out[4 * n + i], host_src[n + i]));
  }
}

// The copies are the waiting thread's stores: with the barrier, another
// thread reads them cleanly (under initcheck too: they count as written);
// without it, ThreadSanitizer reports the race.
TEST_F(PlantedDefects, AsyncCopiesNeedABarrierBeforeOtherThreadsRead) {
  const int n = 64;
  std::vector<uint4> host_src(n), host_out(n);
  for (int i = 0; i < n; i++) host_src[i] = uint4{(unsigned)i, 1, 2, 3};
  DeviceBuffer<uint4> src(n), out(n);
  ASSERT_EQ(cudaMemcpy(src.p, host_src.data(), n * 16, cudaMemcpyHostToDevice), cudaSuccess);
  auto run = [&](int with_barrier) {
    cudaError_t err = SQZ_LAUNCH(async_copy_neighbour, 0, dim3(1), dim3(n), n * 16, nullptr, src.p,
                                 out.p, with_barrier);
    return err != cudaSuccess ? err : cudaDeviceSynchronize();
  };
  ASSERT_EQ(run(1), cudaSuccess) << sqz_emu_last_fault();
  ASSERT_EQ(cudaMemcpy(host_out.data(), out.p, n * 16, cudaMemcpyDeviceToHost), cudaSuccess);
  for (int i = 0; i < n; i++) EXPECT_TRUE(SameBytes(host_out[i], host_src[(i + 1) % n])) << i;
#if defined(__SANITIZE_THREAD__)
  EXPECT_DEATH(run(0), "ThreadSanitizer: data race");
#else
  GTEST_SKIP()
      << "the race needs the ThreadSanitizer build of the emulated device (build-emu-tsan)";
#endif
}

TEST_F(PlantedDefects, AsyncCopyMisusesFault) {
  DeviceBuffer<uint4> src(1), global(1);
  const struct {
    AsyncDefect defect;
    cudaError_t err;
    const char *says;
  } cases[] = {{kMisaligned, cudaErrorMisalignedAddress, "destination"},
               {kToGlobal, cudaErrorIllegalAddress, "not in the block's dynamic shared memory"},
               {kNeverWaited, cudaErrorLaunchFailure, "1 cp.async copy never waited for"},
               {kZeroFillBeforeSource, cudaErrorIllegalAddress, "zero-filled"},
               {kZeroFillPastSource, cudaErrorIllegalAddress, "not in a device allocation"}};
  for (const auto &c : cases) {
    SCOPED_TRACE(c.says);
    ExpectLaunchedOrFaulted(SQZ_LAUNCH(async_copy_defect, 0, dim3(1), dim3(32), 64, stream_, src.p,
                                       global.p, (int)c.defect),
                            c.err);
    EXPECT_EQ(cudaStreamSynchronize(stream_), c.err);
    EXPECT_NE(std::string(sqz_emu_last_fault()).find(c.says), std::string::npos)
        << sqz_emu_last_fault();
    EXPECT_NE(std::string(sqz_emu_last_fault()).find("cp.async"), std::string::npos);
    sqz_emu_clear_fault();
    (void)cudaGetLastError();
  }
}

// The zero-filling copy with its source inside the allocation runs clean
// (one thread: every thread's copy would land in the same slot).
TEST_F(PlantedDefects, ZeroFilledAsyncCopyFromInsideTheAllocationRuns) {
  DeviceBuffer<uint4> src(1), global(1);
  ASSERT_EQ(SQZ_LAUNCH(async_copy_defect, 0, dim3(1), dim3(1), 64, stream_, src.p, global.p,
                       (int)kZeroFillInside),
            cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaSuccess) << sqz_emu_last_fault();
}

// --- warps -----------------------------------------------------------------

TEST_F(PlantedDefects, SyncwarpNamingAnExitedLaneFaults) {
  DeviceBuffer<float> out(64);
  EXPECT_EQ(SQZ_LAUNCH(syncwarp_after_return, 0, dim3(1), dim3(64), 0, stream_, out.p, 32, 0),
            cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess) << sqz_emu_last_fault();
  // The emulator runs lanes in order: lanes 0-15 returning come first (the
  // others then name exited lanes), lanes 16-31 returning come after the
  // others wait for them.
  const struct {
    int exit_low;
    const char *says;
  } cases[] = {{1, "of the mask has exited"}, {0, "a lane exited while others of its warp wait"}};
  for (const auto &c : cases) {
    SCOPED_TRACE(c.says);
    ExpectLaunchedOrFaulted(
        SQZ_LAUNCH(syncwarp_after_return, 0, dim3(1), dim3(64), 0, stream_, out.p, 16, c.exit_low),
        cudaErrorLaunchFailure);
    EXPECT_EQ(cudaStreamSynchronize(stream_), cudaErrorLaunchFailure);
    EXPECT_NE(std::string(sqz_emu_last_fault()).find(c.says), std::string::npos)
        << sqz_emu_last_fault();
    sqz_emu_clear_fault();
    (void)cudaGetLastError();
  }
}

// --- alignment ---------------------------------------------------------------

cudaError_t run_vector_access(unsigned char *buf, int offset, int kind, int store) {
  const cudaError_t err =
      SQZ_LAUNCH(vector_access, 0, dim3(1), dim3(1), 0, nullptr, buf, offset, kind, store);
  return err != cudaSuccess ? err : cudaDeviceSynchronize();
}

TEST_F(PlantedDefects, MisalignedVectorAccessFaults) {
  DeviceBuffer<unsigned char> buf(128);
  const int sizes[] = {16, 16, 8, 4};
  for (int kind = 0; kind < 4; kind++)
    EXPECT_EQ(run_vector_access(buf.p, sizes[kind], kind, 0), cudaSuccess)
        << kind << ": " << sqz_emu_last_fault();
  EXPECT_EQ(run_vector_access(buf.p, 16, 0, 1), cudaSuccess) << sqz_emu_last_fault();
#if defined(SQZ_SANITIZED)
  // UBSan's runtime reports the access and ends the process.
  for (int kind = 0; kind < 4; kind++)
    EXPECT_DEATH(run_vector_access(buf.p, sizes[kind] / 2, kind, 0), "misaligned address") << kind;
  EXPECT_DEATH(run_vector_access(buf.p, 8, 0, 1), "misaligned address");
#else
  const char *names[] = {"uint4", "float4", "uint2", "__half2"};
  for (int kind = 0; kind < 5; kind++) {
    const int type = kind % 4, store = kind == 4;
    SCOPED_TRACE(names[type]);
    EXPECT_EQ(run_vector_access(buf.p, sizes[type] / 2, type, store), cudaErrorMisalignedAddress);
    const std::string fault = sqz_emu_last_fault();
    EXPECT_NE(fault.find("misaligned address"), std::string::npos) << fault;
    if (store) EXPECT_NE(fault.find("store to"), std::string::npos) << fault;
    EXPECT_NE(fault.find(names[type]), std::string::npos) << fault;
    sqz_emu_clear_fault();
    (void)cudaGetLastError();
  }
#endif
}

// --- capture rules ---------------------------------------------------------

TEST_F(PlantedDefects, CaptureRefusesAllocationAndSynchronisation) {
  cudaStream_t s;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  DeviceBuffer<float> out(64);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(SQZ_LAUNCH(bounded, 128, dim3(1), dim3(64), 0, s, out.p), cudaSuccess);
  void *p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  std::vector<float> host(64);
  EXPECT_NE(cudaMemcpy(host.data(), out.p, 64 * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  cudaGraph_t graph = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  // A clean capture replays.
  ASSERT_EQ(cudaMemset(out.p, 0, 64 * 4), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(SQZ_LAUNCH(bounded, 128, dim3(1), dim3(64), 0, s, out.p), cudaSuccess);
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), out.p, 64 * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(host[0], 0.0f);  // captured, not run
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), out.p, 64 * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(host[0], 1.0f);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

TEST_F(PlantedDefects, DeviceMemoryBudgetAndOverrunningCopies) {
  setenv("SQZ_EMU_DEVICE_MEMORY", "1M", 1);
  void *p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, 2 << 20), cudaErrorMemoryAllocation);
  (void)cudaGetLastError();
  ASSERT_EQ(cudaMalloc(&p, 1000), cudaSuccess);
  unsetenv("SQZ_EMU_DEVICE_MEMORY");
  std::vector<char> host(2000);
  EXPECT_EQ(cudaMemcpy(p, host.data(), 1001, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(p, host.data(), 1000, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), host.data() + 1000, 10, cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  (void)cudaGetLastError();
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

}  // namespace
