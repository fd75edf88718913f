// The stem in one kernel: conv1 + bias + ReLU and the max pool after it.
// A block owns a tile of pooled output pixels of one image. It stages the
// input patch its pool windows need, then for each chunk of output
// channels computes the conv outputs under those windows into shared
// memory and pools them; the full-resolution conv1 output never reaches
// global memory. fp32 accumulation for either storage precision.
//
// Two variants: stem (CUDA cores, any channel counts, fp32 or fp16
// storage) and stem_wmma (tensor cores, fp16 storage, output channels a
// multiple of 16), which runs the conv as one implicit GEMM per tile: its
// 3 input channels are a short reduction per tap, but the whole window
// (kernel^2 x 3 values, 27 for 3x3 and 147 for 7x7) is a reduction long
// enough for 16x16x16 MMAs.
#include <float.h>

#include "dtype.cuh"
#include "mma_tile.cuh"
#include "kernels/cuda/fused_kernels.h"

namespace {

constexpr int kStemThreads = 256;
constexpr int kPixels = 4;  // conv pixels of a thread's micro-tile
// Its output channels: SQZ_STEM_GROUP (8), two 16-byte weight loads a step.

template <typename T>
__global__ void __launch_bounds__(kStemThreads) stem(const __grid_constant__ sqz_stem_args a) {
  SQZ_DYNAMIC_SHARED(float, smem);
  const sqz_stem_geometry &g = a.geo;
  const int tiles = g.tiles_y * g.tiles_x;
  const int n = blockIdx.x / tiles;
  int py0, px0, cy0, cx0;
  sqz_stem_tile_origin(&g, blockIdx.x % tiles, &py0, &px0, &cy0, &cx0);
  const int conv_rows = sqz_stem_conv_span(g.tile_h, g.pool_k, g.pool_s);
  const int conv_cols = sqz_stem_conv_span(g.tile_w, g.pool_k, g.pool_s);
  const int in_rows = (conv_rows - 1) * g.stride + g.kernel;
  const int in_cols = (conv_cols - 1) * g.stride + g.kernel;
  const int iy0 = cy0 * g.stride - g.pad, ix0 = cx0 * g.stride - g.pad;
  const int kk = g.kernel * g.kernel * a.cin, run = g.kernel * a.cin;
  const int conv_px = conv_rows * conv_cols;
  // sqz_stem_smem_bytes: the patch (in_rows x in_cols x cin, rounded up to
  // 4 floats), the conv outputs (conv_px x chunk), the chunk's weights
  // (per group of 8 channels, kk rows of 8: a thread's weights for
  // consecutive k are consecutive, 32 bytes a step).
  float *patch = smem;
  float *conv = patch + sqz_round4(in_rows * in_cols * a.cin);
  float4 *w_s = (float4 *)(conv + conv_px * a.chunk);

  const T *img = (const T *)a.in + (size_t)n * g.in_h * g.in_w * a.cin;
  for (int i = threadIdx.x; i < in_rows * in_cols * a.cin; i += blockDim.x) {
    const int c = i % a.cin, p = i / a.cin, y = iy0 + p / in_cols, x = ix0 + p % in_cols;
    const bool inside = y >= 0 && y < g.in_h && x >= 0 && x < g.in_w;
    patch[i] = inside ? sqz::to_float(img[((size_t)y * g.in_w + x) * a.cin + c]) : 0.0f;
  }
  const T *w = (const T *)a.weights;
  const int pgroups = (conv_px + kPixels - 1) / kPixels;
  for (int c0 = 0; c0 < a.cout; c0 += a.chunk) {
    const int cc = min(a.chunk, a.cout - c0), cgroups = (cc + SQZ_STEM_GROUP - 1) / SQZ_STEM_GROUP;
    __syncthreads();  // patch ready; previous chunk pooled
    // The chunk's weights, zero past the last channel (the micro-tiles
    // below read whole groups of 8 channels).
    float *ws = (float *)w_s;
    for (int i = threadIdx.x; i < kk * cgroups * SQZ_STEM_GROUP; i += blockDim.x) {
      const int c = i % SQZ_STEM_GROUP, k = i / SQZ_STEM_GROUP % kk, cg = i / SQZ_STEM_GROUP / kk;
      const int ch = cg * SQZ_STEM_GROUP + c;
      ws[i] = ch < cc ? sqz::to_float(w[(size_t)k * a.cout + c0 + ch]) : 0.0f;
    }
    __syncthreads();
    // Conv outputs under the pool windows, 4 pixels x 8 channels a
    // thread: a step (one k) is 4 scalar patch loads and two 16-byte
    // weight loads for 32 FMAs, every address a constant offset from a
    // pointer advanced once a window row.
    for (int i = threadIdx.x; i < pgroups * cgroups; i += blockDim.x) {
      const int pg = i / cgroups, cg = i % cgroups;
      const float *px[kPixels];  // each pixel's window (the last pixel's past the end)
#pragma unroll
      for (int m = 0; m < kPixels; m++) {
        const int p = min(pg * kPixels + m, conv_px - 1), r = p / conv_cols, q = p % conv_cols;
        px[m] = patch + (r * g.stride * in_cols + q * g.stride) * a.cin;
      }
      float acc[kPixels][SQZ_STEM_GROUP];
#pragma unroll
      for (int c = 0; c < SQZ_STEM_GROUP; c++) {
        const int ch = cg * SQZ_STEM_GROUP + c;
        const float b = ch < cc ? a.bias[c0 + ch] : 0.0f;
#pragma unroll
        for (int m = 0; m < kPixels; m++) acc[m][c] = b;
      }
      const float4 *wk = w_s + (size_t)cg * kk * 2;
      for (int ky = 0; ky < g.kernel; ky++) {
#pragma unroll 4
        for (int j = 0; j < run; j++) {
          const float4 b0 = wk[2 * j], b1 = wk[2 * j + 1];
          const float bv[SQZ_STEM_GROUP] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
          for (int m = 0; m < kPixels; m++) {
            const float av = px[m][j];
#pragma unroll
            for (int c = 0; c < SQZ_STEM_GROUP; c++) acc[m][c] += av * bv[c];
          }
        }
        wk += 2 * run;
#pragma unroll
        for (int m = 0; m < kPixels; m++) px[m] += in_cols * a.cin;
      }
#pragma unroll
      for (int m = 0; m < kPixels; m++) {
        const int p = pg * kPixels + m;
        if (p >= conv_px) continue;
        float4 *dst = (float4 *)(conv + p * a.chunk + cg * SQZ_STEM_GROUP);
        dst[0] = make_float4(fmaxf(acc[m][0], 0.0f), fmaxf(acc[m][1], 0.0f), fmaxf(acc[m][2], 0.0f),
                             fmaxf(acc[m][3], 0.0f));
        dst[1] = make_float4(fmaxf(acc[m][4], 0.0f), fmaxf(acc[m][5], 0.0f), fmaxf(acc[m][6], 0.0f),
                             fmaxf(acc[m][7], 0.0f));
      }
    }
    __syncthreads();
    // Pool: windows clipped to the conv output (ceil mode hangs over).
    for (int i = threadIdx.x; i < g.tile_h * g.tile_w * cc; i += blockDim.x) {
      const int c = i % cc, p = i / cc;
      const int py = py0 + p / g.tile_w, px = px0 + p % g.tile_w;
      if (py >= g.out_h || px >= g.out_w) continue;
      const sqz_pool_fold fold = {g.pool_k, g.pool_s, g.pool_p, g.conv_h, g.conv_w};
      int r0, r1, q0, q1;
      sqz_pool_window(&fold, py, px, &r0, &r1, &q0, &q1);
      float m = -FLT_MAX;
      for (int y = r0; y < r1; y++)
        for (int x = q0; x < q1; x++)
          m = fmaxf(m, conv[((y - cy0) * conv_cols + (x - cx0)) * a.chunk + c]);
      T *dst = (T *)a.out + (((size_t)n * g.out_h + py) * g.out_w + px) * a.cout;
      dst[c0 + c] = sqz::from_float<T>(m);
    }
  }
}

// ---------------------------------------------------------------------------
// Tensor cores (ldmatrix and mma.sync; the name kept from WMMA). Layout and
// sizes: sqz_stem_wmma_layout_of (fused_tiling.h).

constexpr int kStemWarps = kStemThreads / 32;

// Row p of A: conv pixel p of the tile's region, its input window in HWIO
// order (ky, kx, channel), zero outside the image and past the region.
// One item is one (pixel, ky): kernel * cin values that are consecutive in
// NHWC, read with one bounds test per kx.
__device__ void stem_im2col(const sqz_stem_args &a, const __half *img, int iy0, int ix0,
                            int conv_cols, int conv_px, __half *A, int lda) {
  const sqz_stem_geometry &g = a.geo;
  const int rows = sqz_round16(conv_px), run = g.kernel * a.cin;
  for (int i = threadIdx.x; i < rows * g.kernel; i += blockDim.x) {
    const int p = i / g.kernel, ky = i % g.kernel;
    __half *dst = A + p * lda + ky * run;
    const int y = iy0 + p / conv_cols * g.stride + ky;
    const int x0 = ix0 + p % conv_cols * g.stride;
    const bool row_inside = p < conv_px && y >= 0 && y < g.in_h;
    for (int kx = 0; kx < g.kernel; kx++) {
      const int x = x0 + kx;
      const bool inside = row_inside && x >= 0 && x < g.in_w;
      if (!inside) {
        for (int c = 0; c < a.cin; c++) dst[kx * a.cin + c] = __float2half(0.0f);
        continue;
      }
      const __half *src = img + ((size_t)y * g.in_w + x) * a.cin;
      for (int c = 0; c < a.cin; c++) dst[kx * a.cin + c] = src[c];
    }
  }
  const int kk = g.kernel * run, pad = sqz_round16(kk) - kk;  // K's padding columns
  for (int i = threadIdx.x; i < rows * pad; i += blockDim.x)
    A[i / pad * lda + kk + i % pad] = __float2half(0.0f);
}

__global__ void __launch_bounds__(kStemThreads) stem_wmma(const __grid_constant__ sqz_stem_args a) {
  SQZ_DYNAMIC_SHARED(unsigned char, stem_raw);
  const sqz_stem_geometry &g = a.geo;
  const sqz_stem_wmma_layout L = sqz_stem_wmma_layout_of(&g, a.cin, a.cout);
  __half *A = (__half *)(stem_raw + L.a), *B = (__half *)(stem_raw + L.b);
  __half *C = (__half *)(stem_raw + L.c);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tiles = g.tiles_y * g.tiles_x;
  const int n = blockIdx.x / tiles;
  int py0, px0, cy0, cx0;
  sqz_stem_tile_origin(&g, blockIdx.x % tiles, &py0, &px0, &cy0, &cx0);
  const int conv_cols = sqz_stem_conv_span(g.tile_w, g.pool_k, g.pool_s);
  const int conv_px = sqz_stem_conv_span(g.tile_h, g.pool_k, g.pool_s) * conv_cols;
  const int kk = g.kernel * g.kernel * a.cin, groups = a.cout / 8;

  // B: every output channel's weights, 16 bytes at a time (rows of cout
  // halves, cout a multiple of 16), zero rows past kk.
  const __half *w = (const __half *)a.weights;
  for (int i = threadIdx.x; i < L.k * groups; i += blockDim.x) {
    const int k = i / groups, c = i % groups * 8;
    sqz::store8(B + k * L.ldb + c, k < kk ? sqz::load8(w + (size_t)k * a.cout + c) : sqz::zero8());
  }
  const __half *img = (const __half *)a.in + (size_t)n * g.in_h * g.in_w * a.cin;
  stem_im2col(a, img, cy0 * g.stride - g.pad, cx0 * g.stride - g.pad, conv_cols, conv_px, A, L.lda);
  __syncthreads();

  // C = ReLU(A x B + bias), one 16 x 16 tile per warp at a time, as two
  // m16n8k16 MMAs (column halves h) a k step; bias and ReLU in the
  // accumulator registers (mma_tile.cuh), then pairs of halves to C.
  const int col_tiles = a.cout / 16;
  const sqz::SmemAddr a_lane = sqz::ldmatrix_lane_row(sqz::smem_addr(A), L.lda);
  const sqz::SmemAddr b_lane = sqz::ldmatrix_lane_row(sqz::smem_addr(B), L.ldb);
  for (int t = warp; t < L.rows / 16 * col_tiles; t += kStemWarps) {
    const int rt = t / col_tiles, ct = t % col_tiles;
    const sqz::SmemAddr a_t = a_lane + rt * 16 * L.lda * 2, b_t = b_lane + ct * 32;
    float acc[2][4] = {};
    for (int k = 0; k < L.k; k += 16) {
      uint32_t fa[4], b[4];  // b: columns 0-7 in b[0], b[1]; 8-15 in b[2], b[3]
      sqz::ldmatrix_x4(fa, a_t + k * 2);
      sqz::ldmatrix_x4<true>(b, b_t + k * L.ldb * 2);
      sqz::mma_16816(acc[0], fa, b[0], b[1]);
      sqz::mma_16816(acc[1], fa, b[2], b[3]);
    }
    float b[2][2];
    sqz::lane_bias(a.bias + ct * 16, b);
    __half *row = C + (rt * 16 + lane / 4) * L.ldc + ct * 16 + 2 * (lane % 4);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      *(__half2 *)(row + 8 * h) = sqz::bias_pair(acc[h], 0, b[h], true);
      *(__half2 *)(row + 8 * L.ldc + 8 * h) = sqz::bias_pair(acc[h], 2, b[h], true);
    }
  }
  __syncthreads();

  // Pool, 8 channels per item: the max of values already rounded to fp16
  // is the rounding of the max (rounding is monotonic), as in stem<half>.
  const sqz_pool_fold fold = {g.pool_k, g.pool_s, g.pool_p, g.conv_h, g.conv_w};
  for (int i = threadIdx.x; i < g.tile_h * g.tile_w * groups; i += blockDim.x) {
    const int c = i % groups * 8, p = i / groups;
    const int py = py0 + p / g.tile_w, px = px0 + p % g.tile_w;
    if (py >= g.out_h || px >= g.out_w) continue;
    int r0, r1, q0, q1;
    sqz_pool_window(&fold, py, px, &r0, &r1, &q0, &q1);
    sqz::Half8 m = sqz::minus_inf8();  // the window is never empty
    for (int y = r0; y < r1; y++)
      for (int x = q0; x < q1; x++)
        m = sqz::max8(m, sqz::load8(C + ((y - cy0) * conv_cols + (x - cx0)) * L.ldc + c));
    sqz::store8((__half *)a.out + (((size_t)n * g.out_h + py) * g.out_w + px) * a.cout + c, m);
  }
}
}  // namespace

extern "C" cudaError_t sqz_launch_stem(const sqz_stem_args *a, sqz_dtype dtype,
                                       cudaStream_t stream) {
  const dim3 grid((unsigned)(a->batch * a->geo.tiles_y * a->geo.tiles_x)), block(kStemThreads);
  if (a->math == SQZ_MATH_WMMA) {
    if (dtype != SQZ_DTYPE_F16 || a->cout % 16 != 0) return cudaErrorInvalidValue;
    return SQZ_LAUNCH(stem_wmma, kStemThreads, grid, block, a->smem, stream, *a);
  }
  if (a->chunk <= 0 || a->chunk % SQZ_STEM_GROUP != 0)
    return cudaErrorInvalidValue;  // whole channel groups per chunk
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(stem<__half>, kStemThreads, grid, block, a->smem, stream, *a);
  return SQZ_LAUNCH(stem<float>, kStemThreads, grid, block, a->smem, stream, *a);
}

extern "C" void sqz_fused_stem_kernels(sqz_kernel_ref out[SQZ_FUSED_FAMILY_KERNELS]) {
  out[0] = sqz_kernel_ref{(const void *)stem<float>, "stem<float>"};
  out[1] = sqz_kernel_ref{(const void *)stem<__half>, "stem<half>"};
  out[2] = sqz_kernel_ref{(const void *)stem_wmma, "stem_wmma"};
}
