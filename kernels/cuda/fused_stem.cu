// The stem in one kernel: conv1 + bias + ReLU and the max pool after it.
// A block owns a tile of pooled output pixels of one image. It stages the
// input patch its pool windows need, then for each chunk of output
// channels computes the conv outputs under those windows into shared
// memory and pools them; the full-resolution conv1 output never reaches
// global memory. CUDA cores (3 input channels are too few for tensor
// cores to pay); fp32 accumulation for either storage precision.
#include <float.h>

#include "dtype.cuh"
#include "kernels/cuda/fused_kernels.h"

namespace {

constexpr int kStemThreads = 256;
constexpr int kGroup = 4;  // pixels and channels of a thread's micro-tile; divides the chunk

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
  const int kk = g.kernel * g.kernel * a.cin;
  float *patch = smem;                                  // in_rows x in_cols x cin
  float *conv = patch + in_rows * in_cols * a.cin;      // conv_rows x conv_cols x chunk
  float *w_s = conv + conv_rows * conv_cols * a.chunk;  // kk x chunk

  const T *img = (const T *)a.in + (size_t)n * g.in_h * g.in_w * a.cin;
  for (int i = threadIdx.x; i < in_rows * in_cols * a.cin; i += blockDim.x) {
    const int c = i % a.cin, p = i / a.cin, y = iy0 + p / in_cols, x = ix0 + p % in_cols;
    const bool inside = y >= 0 && y < g.in_h && x >= 0 && x < g.in_w;
    patch[i] = inside ? sqz::to_float(img[((size_t)y * g.in_w + x) * a.cin + c]) : 0.0f;
  }
  const T *w = (const T *)a.weights;
  const int conv_px = conv_rows * conv_cols;
  for (int c0 = 0; c0 < a.cout; c0 += a.chunk) {
    const int cc = min(a.chunk, a.cout - c0);
    __syncthreads();  // patch ready; previous chunk pooled
    // The chunk's weights, zero past the last channel (the micro-tiles
    // below read whole groups of kGroup channels).
    for (int i = threadIdx.x; i < kk * a.chunk; i += blockDim.x) {
      const int k = i / a.chunk, c = i % a.chunk;
      w_s[i] = c < cc ? sqz::to_float(w[(size_t)k * a.cout + c0 + c]) : 0.0f;
    }
    __syncthreads();
    // Conv outputs under the pool windows, kGroup pixels x kGroup channels
    // per thread: each step loads kGroup patch values and kGroup weights
    // for kGroup^2 FMAs (one load per FMA would be two).
    const int pgroups = (conv_px + kGroup - 1) / kGroup, cgroups = (cc + kGroup - 1) / kGroup;
    for (int i = threadIdx.x; i < pgroups * cgroups; i += blockDim.x) {
      const int pg = i / cgroups, cg = i % cgroups;
      int base[kGroup];  // patch offset of each pixel's window (the last pixel's when past the end)
#pragma unroll
      for (int k = 0; k < kGroup; k++) {
        const int p = min(pg * kGroup + k, conv_px - 1), r = p / conv_cols, q = p % conv_cols;
        base[k] = (r * g.stride * in_cols + q * g.stride) * a.cin;
      }
      float acc[kGroup][kGroup];
#pragma unroll
      for (int k = 0; k < kGroup; k++) {
        const int c = cg * kGroup + k;
        const float b = c < cc ? a.bias[c0 + c] : 0.0f;
#pragma unroll
        for (int m = 0; m < kGroup; m++) acc[m][k] = b;
      }
      for (int ky = 0; ky < g.kernel; ky++) {
        const float *rows = patch + ky * in_cols * a.cin;
        const float *wr = w_s + (ky * g.kernel * a.cin) * a.chunk + cg * kGroup;
        for (int j = 0; j < g.kernel * a.cin; j++) {
          float av[kGroup], bv[kGroup];
#pragma unroll
          for (int k = 0; k < kGroup; k++) {
            av[k] = rows[base[k] + j];
            bv[k] = wr[j * a.chunk + k];
          }
#pragma unroll
          for (int m = 0; m < kGroup; m++)
#pragma unroll
            for (int k = 0; k < kGroup; k++) acc[m][k] += av[m] * bv[k];
        }
      }
#pragma unroll
      for (int m = 0; m < kGroup; m++) {
        const int p = pg * kGroup + m;
#pragma unroll
        for (int k = 0; k < kGroup; k++) {
          const int c = cg * kGroup + k;
          if (p < conv_px && c < cc) conv[p * a.chunk + c] = fmaxf(acc[m][k], 0.0f);
        }
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

}  // namespace

extern "C" cudaError_t sqz_launch_stem(const sqz_stem_args *a, sqz_dtype dtype,
                                       cudaStream_t stream) {
  if (a->chunk % kGroup != 0) return cudaErrorInvalidValue;  // whole channel groups per chunk
  const dim3 grid((unsigned)(a->batch * a->geo.tiles_y * a->geo.tiles_x)), block(kStemThreads);
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(stem<__half>, kStemThreads, grid, block, a->smem, stream, *a);
  return SQZ_LAUNCH(stem<float>, kStemThreads, grid, block, a->smem, stream, *a);
}

extern "C" cudaError_t sqz_fused_stem_allow_smem(size_t bytes) {
  cudaError_t err =
      cudaFuncSetAttribute(stem<float>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
  if (err == cudaSuccess)
    err =
        cudaFuncSetAttribute(stem<__half>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
  return err;
}
