// nvcuda::wmma on the emulated device, for the shapes the kernels use:
// 16x16x16, __half A and B (row or column major), float accumulator.
//
// A fragment is spread over the 32 lanes of the warp as on the device: lane
// l owns accumulator row l / 2, columns 8 * (l % 2) .. + 8, and holds the
// A row and B columns it needs for them. A store writes only the lane's own
// 8 elements, so a lane that reads another lane's stored elements without
// __syncwarp races with it, and ThreadSanitizer says so. Loads and stores
// check the device's rules: a 32-byte aligned pointer and a leading
// dimension that is a multiple of 16 bytes.
#ifndef SQZ_EMU_WMMA_H
#define SQZ_EMU_WMMA_H

#include <stdint.h>

#include <type_traits>

#include <cuda_fp16.h>

#include "emu/sqz_emu.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <typename L>
constexpr bool kRowMajor = std::is_same<L, row_major>::value;

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment;

// A: this lane's row of 16 (k) values.
template <typename Layout>
struct fragment<matrix_a, 16, 16, 16, __half, Layout> {
  float row[16];
};
// B: this lane's 8 columns, all 16 k.
template <typename Layout>
struct fragment<matrix_b, 16, 16, 16, __half, Layout> {
  float cols[16][8];
};
// C: this lane's 8 elements.
template <>
struct fragment<accumulator, 16, 16, 16, float, void> {
  float x[8];
};

namespace detail {

inline int owned_row() { return (int)(sqz_emu::lane() / 2); }
inline int owned_col0() { return 8 * (int)(sqz_emu::lane() % 2); }

inline void check(const void *p, unsigned ldm, size_t elem, const char *what) {
  if ((uintptr_t)p % 32 != 0)
    sqz_emu::fault(cudaErrorMisalignedAddress,
                   "%s: pointer %p is not 32-byte aligned (WMMA needs 256-bit alignment)", what, p);
  if ((ldm * elem) % 16 != 0)
    sqz_emu::fault(cudaErrorMisalignedAddress,
                   "%s: leading dimension %u (%zu bytes) is not a multiple of 16 bytes", what, ldm,
                   ldm * elem);
}

inline float at(const __half *p, size_t i) { return __half2float(p[i]); }

}  // namespace detail

inline void fill_fragment(fragment<accumulator, 16, 16, 16, float> &f, float v) {
  for (float &x : f.x) x = v;
}

template <typename Layout>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, __half, Layout> &f, const __half *p,
                             unsigned ldm) {
  detail::check(p, ldm, sizeof(__half), "wmma::load_matrix_sync(matrix_a)");
  const int i = detail::owned_row();
  for (int k = 0; k < 16; k++)
    f.row[k] =
        kRowMajor<Layout> ? detail::at(p, (size_t)i * ldm + k) : detail::at(p, (size_t)k * ldm + i);
}

template <typename Layout>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, __half, Layout> &f, const __half *p,
                             unsigned ldm) {
  detail::check(p, ldm, sizeof(__half), "wmma::load_matrix_sync(matrix_b)");
  const int j0 = detail::owned_col0();
  for (int k = 0; k < 16; k++)
    for (int j = 0; j < 8; j++)
      f.cols[k][j] = kRowMajor<Layout> ? detail::at(p, (size_t)k * ldm + j0 + j)
                                       : detail::at(p, (size_t)(j0 + j) * ldm + k);
}

template <typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
                     const fragment<matrix_a, 16, 16, 16, __half, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, __half, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float> &c) {
  float out[8];
  for (int j = 0; j < 8; j++) {
    float s = c.x[j];
    for (int k = 0; k < 16; k++) s += a.row[k] * b.cols[k][j];
    out[j] = s;
  }
  for (int j = 0; j < 8; j++) d.x[j] = out[j];
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f,
                              unsigned ldm, layout_t layout) {
  detail::check(p, ldm, sizeof(float), "wmma::store_matrix_sync");
  const int i = detail::owned_row(), j0 = detail::owned_col0();
  for (int j = 0; j < 8; j++) {
    const size_t at =
        layout == mem_row_major ? (size_t)i * ldm + j0 + j : (size_t)(j0 + j) * ldm + i;
    p[at] = f.x[j];
  }
}

}  // namespace wmma
}  // namespace nvcuda

#endif
