// Helpers of the emulated device's own tests (tests/emu/*.cu, built as
// host C++ in emulation builds only).
#ifndef SQZ_TESTS_EMU_EMU_TEST_UTIL_H
#define SQZ_TESTS_EMU_EMU_TEST_UTIL_H

#include <gtest/gtest.h>

#include "kernels/cuda/portable.cuh"

namespace sqz_emu_test {

template <typename T>
struct DeviceBuffer {
  T *p = nullptr;
  explicit DeviceBuffer(size_t n) {
    EXPECT_EQ(cudaMalloc((void **)&p, n * sizeof(T)), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
};

// A kernel that faults on a stream of its own: its launch succeeds, or
// (when the stream ran it before the launcher returned) reports the
// sticky fault already, as any later call on the device may.
inline void ExpectLaunchedOrFaulted(cudaError_t launched, cudaError_t fault) {
  EXPECT_TRUE(launched == cudaSuccess || launched == fault) << cudaGetErrorName(launched);
}

class EmulatedDevice : public ::testing::Test {
 protected:
  // Faults of work on a stream of its own come back when it is waited for,
  // as on the device (work on the legacy stream runs at once here).
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), cudaSuccess);
  }
  void TearDown() override {
    sqz_emu_clear_fault();
    cudaStreamDestroy(stream_);
  }
  cudaStream_t stream_ = nullptr;
};

}  // namespace sqz_emu_test

#endif
