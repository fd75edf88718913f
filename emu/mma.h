// ldmatrix (m8n8, .b16, x4, optionally .trans) and mma.sync (m16n8k16,
// f16 multiplicands, f32 accumulators) on the emulated device, with the
// register layouts of the PTX ISA: unlike a WMMA fragment, these registers
// are the kernel's to index, so each lane holds exactly the elements the
// ISA gives it, and the lanes of an instruction exchange them.
//
// With g = lane / 4 and t = lane % 4:
//  - ldmatrix: lanes 8i .. 8i + 7 give the 8 row addresses of matrix i (16
//    bytes a row, in shared memory); register i of lane l holds row g,
//    columns 2t and 2t + 1 of it (low half first), or with .trans rows 2t
//    and 2t + 1 of column g;
//  - mma A (16 x 16, four registers): rows g (registers 0, 2) and g + 8
//    (1, 3), columns 2t, 2t + 1 (registers 0, 1) and + 8 (2, 3);
//  - mma B (16 x 8, two registers): column g, rows 2t, 2t + 1 and + 8;
//  - mma C and D (16 x 8 floats, four): row g (0, 1) and g + 8 (2, 3),
//    columns 2t and 2t + 1.
//
// The lanes meet and exchange their operands through warp_exchange, which
// faults unless all 32 are at the same instruction, and orders no memory:
// shared memory another lane stored reaches an ldmatrix only through a
// __syncwarp, as on the device, and ThreadSanitizer reports it otherwise.
#ifndef SQZ_EMU_MMA_H
#define SQZ_EMU_MMA_H

#include <stdint.h>
#include <string.h>

#include <cuda_fp16.h>

#include "emu/sqz_emu.h"

namespace sqz_emu {
namespace mma_detail {

inline uint32_t pack(__half lo, __half hi) {
  uint16_t l, h;
  memcpy(&l, &lo, sizeof l);
  memcpy(&h, &hi, sizeof h);
  return (uint32_t)l | (uint32_t)h << 16;
}

// Every half's value as a float, made once: the emulated MMAs convert
// each operand element they read.
inline const float *half_values() {
  static const float *const table = [] {
    static float t[65536];
    for (unsigned u = 0; u < 65536; u++) {
      const uint16_t bits = (uint16_t)u;
      __half h;
      memcpy(&h, &bits, sizeof h);
      t[u] = __half2float(h);
    }
    return t;
  }();
  return table;
}

}  // namespace mma_detail

// ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16 with this lane's row
// address `row`.
inline void ldmatrix_x4(uint32_t (&r)[4], uintptr_t row, bool trans) {
  // One name an instruction: warp_exchange tells instructions apart by it.
  static const char plain[] = "ldmatrix.x4", transposing[] = "ldmatrix.x4.trans";
  const char *what = trans ? transposing : plain;
  const uintptr_t base = (uintptr_t)dynamic_shared();
  if (row % 16)
    fault(cudaErrorMisalignedAddress, "%s: row address %p is not 16-byte aligned", what,
          (void *)row);
  if (!base || row < base || row + 16 > base + dynamic_shared_bytes())
    fault(cudaErrorIllegalAddress, "%s: row address %p is not in the block's dynamic shared memory",
          what, (void *)row);
  uintptr_t rows[32];
  warp_exchange(what, &row, sizeof row, rows);
  const unsigned g = lane() / 4, t = lane() % 4;
  for (unsigned i = 0; i < 4; i++) {
    if (!trans) {
      const __half *p = (const __half *)rows[8 * i + g];
      r[i] = mma_detail::pack(p[2 * t], p[2 * t + 1]);
    } else {
      const __half *lo = (const __half *)rows[8 * i + 2 * t];
      const __half *hi = (const __half *)rows[8 * i + 2 * t + 1];
      r[i] = mma_detail::pack(lo[g], hi[g]);
    }
  }
}

// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32: d = a b + c.
inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                      const float (&c)[4]) {
  static const char what[] = "mma.sync.m16n8k16";
  struct Operands {
    uint32_t a[4], b[2];
  };
  static_assert(sizeof(Operands) <= kExchangeBytes, "an MMA's operands fit the exchange");
  const Operands mine = {{a[0], a[1], a[2], a[3]}, {b0, b1}};
  Operands all[32];
  warp_exchange(what, &mine, sizeof mine, all);
  const float *value = mma_detail::half_values();
  const unsigned g = lane() / 4, t = lane() % 4;
  // This lane's A rows g and g + 8, and B columns 2t and 2t + 1. Element
  // (row, k) of A is in lane (row % 8) * 4 + (k % 8) / 2, register
  // row / 8 + 2 (k / 8), half k % 2; element (k, col) of B in lane
  // col * 4 + (k % 8) / 2, register k / 8, half k % 2.
  float arow[2][16], bcol[2][16];
  for (unsigned h = 0; h < 2; h++)
    for (unsigned k = 0; k < 16; k++) {
      const unsigned shift = 16 * (k % 2);
      arow[h][k] = value[(all[g * 4 + (k % 8) / 2].a[h + 2 * (k / 8)] >> shift) & 0xffffu];
      bcol[h][k] = value[(all[(2 * t + h) * 4 + (k % 8) / 2].b[k / 8] >> shift) & 0xffffu];
    }
  float out[4];
  for (unsigned i = 0; i < 4; i++) {
    float s = c[i];
    for (unsigned k = 0; k < 16; k++) s += arow[i / 2][k] * bcol[i % 2][k];
    out[i] = s;
  }
  for (int i = 0; i < 4; i++) d[i] = out[i];
}

}  // namespace sqz_emu

#endif
