// The raw tensor-core instructions on the emulated device (sqz::ldmatrix_x4
// and sqz::mma_16816, emu/mma.h): their registers hold what the PTX ISA's
// fragment layouts say, element by element (the expectations below are
// written from the ISA's formulas, not from the emulator's code); a
// product made the way the Fire kernel makes it is right; and the
// device's rules are kept: 16-byte aligned rows in shared memory, every
// lane at the instruction, and a __syncwarp before reading rows other
// lanes stored (ThreadSanitizer). Built only in emulation builds.
#include <gtest/gtest.h>
#include <string.h>

#include <string>
#include <vector>

#include "kernels/cuda/portable.cuh"
#include "tests/emu/emu_test_util.h"

namespace {

using sqz_emu_test::DeviceBuffer;
using sqz_emu_test::ExpectLaunchedOrFaulted;
using TensorCores = sqz_emu_test::EmulatedDevice;

uint32_t pack(__half lo, __half hi) {
  uint16_t l, h;
  memcpy(&l, &lo, 2);
  memcpy(&h, &hi, 2);
  return (uint32_t)l | (uint32_t)h << 16;
}
float low(uint32_t r) {
  const uint16_t u = (uint16_t)(r & 0xffffu);
  __half h;
  memcpy(&h, &u, 2);
  return __half2float(h);
}
float high(uint32_t r) { return low(r >> 16); }

// --- kernels -------------------------------------------------------------

enum RowDefect { kNoDefect, kMisalignedRow, kGlobalRow };

// Lane l stores row l of `src` (32 rows of 8 halves; row 8i + r is row r
// of matrix i) into shared memory and gives its address to ldmatrix_x4.
__global__ void ldmatrix_rows(const __half *src, uint32_t *out, int trans, int with_syncwarp,
                              int defect) {
  SQZ_DYNAMIC_SHARED(__half, rows);
  const int lane = (int)threadIdx.x;
  for (int j = 0; j < 8; j++) rows[lane * 8 + j] = src[lane * 8 + j];
  if (with_syncwarp) __syncwarp();
  sqz::SmemAddr at = sqz::smem_addr(rows + lane * 8);
  if (defect == kMisalignedRow) at += 4;
  if (defect == kGlobalRow) at = sqz::smem_addr(src + lane * 8);
  uint32_t r[4];
  if (trans)
    sqz::ldmatrix_x4<true>(r, at);
  else
    sqz::ldmatrix_x4(r, at);
  for (int i = 0; i < 4; i++) out[lane * 4 + i] = r[i];
}

// D = A B + C at m16n8k16 (A 16 x 16, B 16 x 8, C and D 16 x 8, row-major),
// each lane's registers made from global memory by the ISA's formulas.
__global__ void mma_from_formulas(const __half *a, const __half *b, const float *c, float *d,
                                  int lanes) {
  const int lane = (int)threadIdx.x, g = lane / 4, t = lane % 4;
  if (lane >= lanes) return;  // a planted defect: not every lane at the mma
  const uint32_t ra[4] = {pack(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]),
                          pack(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]),
                          pack(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]),
                          pack(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9])};
  const uint32_t b0 = pack(b[2 * t * 8 + g], b[(2 * t + 1) * 8 + g]);
  const uint32_t b1 = pack(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g]);
  float acc[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t],
                  c[(g + 8) * 8 + 2 * t + 1]};
  sqz::mma_16816(acc, ra, b0, b1);
  d[g * 8 + 2 * t] = acc[0];
  d[g * 8 + 2 * t + 1] = acc[1];
  d[(g + 8) * 8 + 2 * t] = acc[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}

// D (16 x 16) = A (16 x 16) B (16 x 16), as the Fire kernel makes a tile:
// both staged in shared memory at row strides lda and ldb (halves), A by
// ldmatrix_x4, B (rows are k) by a transposing one, two m16n8k16 MMAs.
__global__ void ldmatrix_product(const __half *a, const __half *b, float *d, int lda, int ldb) {
  SQZ_DYNAMIC_SHARED(__half, smem);
  __half *sa = smem, *sb = smem + 16 * lda;
  const int lane = (int)threadIdx.x, g = lane / 4, t = lane % 4;
  for (int i = lane; i < 256; i += 32) {
    sa[i / 16 * lda + i % 16] = a[i];
    sb[i / 16 * ldb + i % 16] = b[i];
  }
  __syncwarp();
  // Lanes 0-15 give rows 0-15 at column 0, lanes 16-31 the same rows at
  // column 8: matrices (rows 0-7, k 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15).
  const int row = lane % 16, col = lane / 16 * 8;
  uint32_t fa[4], fb[4];
  sqz::ldmatrix_x4(fa, sqz::smem_addr(sa + row * lda + col));
  sqz::ldmatrix_x4<true>(fb, sqz::smem_addr(sb + row * ldb + col));
  float acc[2][4] = {};
  sqz::mma_16816(acc[0], fa, fb[0], fb[1]);  // output columns 0-7
  sqz::mma_16816(acc[1], fa, fb[2], fb[3]);  // 8-15
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < 4; i++) d[(g + 8 * (i / 2)) * 16 + 8 * h + 2 * t + i % 2] = acc[h][i];
}

// --- helpers -------------------------------------------------------------

std::vector<__half> Halves(size_t n, float (*value)(size_t)) {
  std::vector<__half> v(n);
  for (size_t i = 0; i < n; i++) v[i] = __float2half(value(i));
  return v;
}

template <typename T>
void Upload(DeviceBuffer<T> &dst, const std::vector<T> &src) {
  ASSERT_EQ(cudaMemcpy(dst.p, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice),
            cudaSuccess);
}

template <typename T>
std::vector<T> Download(const DeviceBuffer<T> &src, size_t n) {
  std::vector<T> v(n);
  EXPECT_EQ(cudaMemcpy(v.data(), src.p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return v;
}

// ldmatrix_rows on the 256 halves 0, 1, ..., 255 (exact in half).
cudaError_t RunLdmatrixRows(cudaStream_t stream, int trans, int with_syncwarp, int defect,
                            std::vector<uint32_t> *regs) {
  DeviceBuffer<__half> src(256);
  DeviceBuffer<uint32_t> out(128);
  Upload(src, Halves(256, [](size_t i) { return (float)i; }));
  cudaError_t err = SQZ_LAUNCH(ldmatrix_rows, 0, dim3(1), dim3(32), 256 * sizeof(__half), stream,
                               src.p, out.p, trans, with_syncwarp, defect);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  if (err == cudaSuccess && regs) *regs = Download(out, 128);
  return err;
}

// --- layouts -------------------------------------------------------------

// Register i of lane l: row l / 4 of matrix i, columns 2 (l % 4) and + 1;
// transposed, rows 2 (l % 4) and + 1 of column l / 4. Element (r, c) of
// matrix i holds 64 i + 8 r + c.
TEST_F(TensorCores, LdmatrixRegistersHoldTheIsaElements) {
  for (int trans : {0, 1}) {
    SCOPED_TRACE(trans ? "trans" : "plain");
    std::vector<uint32_t> regs;
    ASSERT_EQ(RunLdmatrixRows(stream_, trans, 1, kNoDefect, &regs), cudaSuccess)
        << sqz_emu_last_fault();
    for (int lane = 0; lane < 32; lane++)
      for (int i = 0; i < 4; i++) {
        const int g = lane / 4, t = lane % 4;
        const float lo = trans ? 64 * i + 8 * (2 * t) + g : 64 * i + 8 * g + 2 * t;
        const float hi = trans ? lo + 8 : lo + 1;
        const uint32_t r = regs[lane * 4 + i];
        EXPECT_EQ(low(r), lo) << "lane " << lane << " register " << i;
        EXPECT_EQ(high(r), hi) << "lane " << lane << " register " << i;
      }
  }
}

// Small integers: every product and sum is exact in float, so the result
// must equal the host's exactly.
TEST_F(TensorCores, MmaWithIsaFragmentsIsTheProduct) {
  const std::vector<__half> a = Halves(256, [](size_t i) { return (float)((i * 7) % 11) - 5; });
  const std::vector<__half> b = Halves(128, [](size_t i) { return (float)((i * 5) % 9) - 4; });
  std::vector<float> c(128);
  for (size_t i = 0; i < c.size(); i++) c[i] = (float)i * 0.5f;
  DeviceBuffer<__half> da(256), db(128);
  DeviceBuffer<float> dc(128), dd(128);
  Upload(da, a);
  Upload(db, b);
  Upload(dc, c);
  ASSERT_EQ(
      SQZ_LAUNCH(mma_from_formulas, 0, dim3(1), dim3(32), 0, stream_, da.p, db.p, dc.p, dd.p, 32),
      cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess) << sqz_emu_last_fault();
  const std::vector<float> d = Download(dd, 128);
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 8; n++) {
      float want = c[m * 8 + n];
      for (int k = 0; k < 16; k++) want += __half2float(a[m * 16 + k]) * __half2float(b[k * 8 + n]);
      EXPECT_EQ(d[m * 8 + n], want) << "row " << m << " column " << n;
    }
}

// The Fire kernel's way, at its row strides: 16 bytes apart (24 halves,
// no bank conflicts) and 32 (the WMMA strides, 16 + 16 halves).
TEST_F(TensorCores, ProductThroughLdmatrixAtRowStrides) {
  const std::vector<__half> a = Halves(256, [](size_t i) { return (float)((i * 3) % 13) - 6; });
  const std::vector<__half> b = Halves(256, [](size_t i) { return (float)((i * 11) % 7) - 3; });
  DeviceBuffer<__half> da(256), db(256);
  DeviceBuffer<float> dd(256);
  Upload(da, a);
  Upload(db, b);
  for (int ld : {24, 32, 40}) {
    SCOPED_TRACE(ld);
    ASSERT_EQ(SQZ_LAUNCH(ldmatrix_product, 0, dim3(1), dim3(32), 2 * 16 * ld * sizeof(__half),
                         stream_, da.p, db.p, dd.p, ld, ld),
              cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess) << sqz_emu_last_fault();
    const std::vector<float> d = Download(dd, 256);
    for (int m = 0; m < 16; m++)
      for (int n = 0; n < 16; n++) {
        float want = 0.0f;
        for (int k = 0; k < 16; k++)
          want += __half2float(a[m * 16 + k]) * __half2float(b[k * 16 + n]);
        EXPECT_EQ(d[m * 16 + n], want) << "row " << m << " column " << n;
      }
  }
}

// --- the device's rules --------------------------------------------------

TEST_F(TensorCores, LdmatrixRowsMustBeAlignedAndInSharedMemory) {
  const struct {
    int defect;
    cudaError_t error;
    const char *message;
  } cases[] = {
      {kMisalignedRow, cudaErrorMisalignedAddress, "is not 16-byte aligned"},
      {kGlobalRow, cudaErrorIllegalAddress, "is not in the block's dynamic shared memory"}};
  for (const auto &c : cases) {
    SCOPED_TRACE(c.message);
    EXPECT_EQ(RunLdmatrixRows(stream_, 0, 1, c.defect, nullptr), c.error);
    const std::string fault = sqz_emu_last_fault();
    EXPECT_NE(fault.find(c.message), std::string::npos) << fault;
    EXPECT_NE(fault.find("ldmatrix.x4"), std::string::npos) << fault;
    sqz_emu_clear_fault();
  }
}

TEST_F(TensorCores, EveryLaneMustExecuteTheMma) {
  DeviceBuffer<__half> a(256), b(128);
  DeviceBuffer<float> c(128), d(128);
  ASSERT_EQ(cudaMemset(a.p, 0, 256 * sizeof(__half)), cudaSuccess);
  ASSERT_EQ(cudaMemset(b.p, 0, 128 * sizeof(__half)), cudaSuccess);
  ASSERT_EQ(cudaMemset(c.p, 0, 128 * sizeof(float)), cudaSuccess);
  ExpectLaunchedOrFaulted(
      SQZ_LAUNCH(mma_from_formulas, 0, dim3(1), dim3(32), 0, stream_, a.p, b.p, c.p, d.p, 16),
      cudaErrorLaunchFailure);
  EXPECT_EQ(cudaStreamSynchronize(stream_), cudaErrorLaunchFailure);
  const std::string fault = sqz_emu_last_fault();
  EXPECT_NE(fault.find("mma.sync.m16n8k16: lane 16 of the warp is not at it"), std::string::npos)
      << fault;
}

// ldmatrix orders no memory: rows other lanes stored need a __syncwarp.
TEST_F(TensorCores, LdmatrixOfOtherLanesRowsWithoutSyncwarpIsARace) {
  EXPECT_EQ(RunLdmatrixRows(stream_, 1, 1, kNoDefect, nullptr), cudaSuccess);
#if defined(__SANITIZE_THREAD__)
  EXPECT_DEATH(RunLdmatrixRows(stream_, 1, 0, kNoDefect, nullptr), "ThreadSanitizer: data race");
#else
  GTEST_SKIP() << "needs the ThreadSanitizer build of the emulated device (build-emu-tsan)";
#endif
}

}  // namespace
