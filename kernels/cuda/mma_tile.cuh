// The register and row layouts of a warp's 16 x 16 tile on the raw
// tensor-core instructions (sqz::ldmatrix_x4, sqz::mma_16816), shared by
// the stem, Fire and classifier kernels. A tile is two m16n8k16 MMAs,
// column halves h = 0, 1.
#ifndef SQZ_KERNELS_CUDA_MMA_TILE_CUH
#define SQZ_KERNELS_CUDA_MMA_TILE_CUH

#include "portable.cuh"

namespace sqz {

// This lane's ldmatrix_x4 row of the 16 x 16 operand at `base` (rows `ld`
// halves apart): lanes 0-15 give rows 0-15 at column 0, lanes 16-31 the
// same rows at column 8. Plain, that is an A operand's four registers;
// transposed, from k-major rows, a B operand's columns 0-7 in the first
// two and 8-15 in the last two.
__device__ __forceinline__ SmemAddr ldmatrix_lane_row(SmemAddr base, int ld) {
  const int lane = threadIdx.x % 32;
  return base + (lane % 16) * ld * 2 + lane / 16 * 16;
}

// The accumulators acc[h][e] give lane l row l / 4 (e = 0, 1) and row
// l / 4 + 8 (e = 2, 3), columns 8 h + 2 (l % 4) + e % 2. lane_bias: the
// biases of the lane's 4 columns (bias16: the tile's first column's);
// bias_pair: the pair e, e + 1 (e = 0 or 2) of half h plus bias, and ReLU
// when asked, as halves.
__device__ __forceinline__ void lane_bias(const float *bias16, float (&b)[2][2]) {
  const int q = threadIdx.x % 4;
#pragma unroll
  for (int h = 0; h < 2; h++) b[h][0] = bias16[8 * h + 2 * q], b[h][1] = bias16[8 * h + 2 * q + 1];
}

__device__ __forceinline__ __half2 bias_pair(const float (&acc)[4], int e, const float (&b)[2],
                                             bool relu) {
  const float lo = acc[e] + b[0], hi = acc[e + 1] + b[1];
  return relu ? __floats2half2_rn(fmaxf(lo, 0.0f), fmaxf(hi, 0.0f)) : __floats2half2_rn(lo, hi);
}

}  // namespace sqz

#endif
