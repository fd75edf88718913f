// The classifier in one kernel: conv10 (1x1, optional padding) + bias +
// ReLU + global average pool, straight to fp32 logits. ReLU comes before
// the average, so every pixel's conv output is computed, passed through
// ReLU and summed on chip; only batch x classes values are written. With
// padding (the pretrained v1.0's conv10 has 1) the border pixels see only
// zeros, so each contributes ReLU(bias).
//
// classifier_fma: CUDA cores, fp32 or fp16 storage; a block takes one image
// and 128 classes, stages 16 pixels at a time and keeps 16 sums per thread:
// per channel one weight load and four 16-byte shared loads feed 16 FMAs.
// classifier_wmma: tensor cores (fp16, channels a multiple of 16, at least
// 16 pixels); A fragments (16 pixels x 16 channels) come from row tiles the
// block streams through shared memory for all its warps, the last tile
// overlapping the previous so that no row lies past the image; its
// repeated rows are skipped when summing. B fragments come from the
// weights of the block's classes, streamed with them.
#include "dtype.cuh"
#include "kernels/cuda/fused_kernels.h"

namespace {

using namespace nvcuda;

constexpr int kClassesPerBlock = 128, kPixels = 16;

__device__ float border_term(const sqz_classifier_args &a, float bias) {
  const int oh = a.height + 2 * a.pad, ow = a.width + 2 * a.pad;
  const int border = oh * ow - a.height * a.width;
  return border * fmaxf(bias, 0.0f);
}

__device__ float mean_scale(const sqz_classifier_args &a) {
  return 1.0f / (float)((a.height + 2 * a.pad) * (a.width + 2 * a.pad));
}

template <typename T>
__global__ void __launch_bounds__(kClassesPerBlock)
    classifier_fma(const __grid_constant__ sqz_classifier_args a) {
  // Channel-major, kPixels values per channel: the 16 pixels a weight
  // multiplies are four 16-byte loads (the same for every thread).
  SQZ_DYNAMIC_SHARED(float, x_s);  // cin x kPixels
  const int n = blockIdx.x, cls = blockIdx.y * kClassesPerBlock + threadIdx.x;
  const int hw = a.height * a.width;
  const T *img = (const T *)a.in + (size_t)n * hw * a.cin;
  const T *w = (const T *)a.weights;
  const float bias = cls < a.classes ? a.bias[cls] : 0.0f;
  float total = 0.0f;
  for (int p0 = 0; p0 < hw; p0 += kPixels) {
    const int np = min(kPixels, hw - p0);
    __syncthreads();
    // Pixels past the last are zeroed: every value is read below (the
    // sums skip them), and none may be read unwritten.
    if (a.cin % 4 == 0) {
      // 4 channels of a pixel per vector load; lanes l and l + 16 take
      // neighbouring channel groups of one pixel, so their reads share
      // 32-byte sectors, and the stores are at most 2-way conflicted.
      for (int i = threadIdx.x; i < kPixels * a.cin / 4; i += blockDim.x) {
        const int p = i % kPixels, k = i / kPixels * 4;
        float v[4] = {};
        if (p < np) sqz::load4(img + (size_t)(p0 + p) * a.cin + k, v);
#pragma unroll
        for (int j = 0; j < 4; j++) x_s[(k + j) * kPixels + p] = v[j];
      }
    } else {
      for (int i = threadIdx.x; i < kPixels * a.cin; i += blockDim.x) {
        const int k = i / kPixels, p = i % kPixels;
        x_s[i] = p < np ? sqz::to_float(img[(size_t)(p0 + p) * a.cin + k]) : 0.0f;
      }
    }
    __syncthreads();
    if (cls >= a.classes) continue;
    float acc[kPixels];
#pragma unroll
    for (int p = 0; p < kPixels; p++) acc[p] = bias;
    for (int k = 0; k < a.cin; k++) {
      const float wk = sqz::to_float(w[(size_t)k * a.ldw + cls]);
      const float4 *xk = (const float4 *)(x_s + k * kPixels);
#pragma unroll
      for (int q = 0; q < kPixels / 4; q++) {
        const float4 v = xk[q];
        acc[4 * q] += v.x * wk;
        acc[4 * q + 1] += v.y * wk;
        acc[4 * q + 2] += v.z * wk;
        acc[4 * q + 3] += v.w * wk;
      }
    }
#pragma unroll
    for (int p = 0; p < kPixels; p++)
      if (p < np) total += fmaxf(acc[p], 0.0f);
  }
  if (cls < a.classes)
    a.out[(size_t)n * a.classes + cls] = (total + border_term(a, bias)) * mean_scale(a);
}

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int kWarps = 8, kMaxRowTiles = 8;
constexpr int kChunk = SQZ_CLASSIFIER_CHUNK, kStride = SQZ_CLASSIFIER_A_STRIDE;
constexpr int kBStride = SQZ_CLASSIFIER_B_STRIDE;
constexpr int kBufHalves = kMaxRowTiles * 16 * kStride;  // one A buffer
constexpr int kBBufHalves = kChunk * kBStride;           // one B buffer
static_assert(kChunk % 16 == 0 && kStride % 8 == 0 && (16 * kStride * 2) % 32 == 0 &&
                  (kBufHalves * 2) % 32 == 0,
              "A fragments start 32-byte aligned in shared memory, in both buffers");
static_assert(kBStride % 8 == 0 && (16 * kBStride * 2) % 32 == 0 && (kBBufHalves * 2) % 32 == 0,
              "B fragments start 32-byte aligned in shared memory, in both buffers");
static_assert(kWarps * 256 * 4 + 2 * (kBufHalves + kBBufHalves) * 2 == SQZ_CLASSIFIER_WMMA_SMEM,
              "the planner's shared-memory size is this layout's");

// One step of the stream, copied asynchronously into shared memory 16
// bytes at a time, as one group: A, row group step / chunks (up to 8 row
// tiles of 16 pixels; the last tile overlaps the one before so that no
// row lies past the image) x channel chunk step % chunks; B, the chunk's
// rows of the weights of the block's class tiles (b_vectors 16-byte
// pieces a row, from column col0).
__device__ void stage_step(__half *a_s, __half *b_s, const sqz_classifier_args &a,
                           const __half *img, int col0, int b_vectors, int row_tiles, int chunks,
                           int step) {
  const int hw = a.height * a.width, cin = a.cin;
  const int g0 = step / chunks * kMaxRowTiles, k0 = step % chunks * kChunk;
  const int rows = min(kChunk, cin - k0);
  const int tiles = min(kMaxRowTiles, row_tiles - g0), vectors = rows / 8;
  const int per_tile = 16 * vectors;
  for (int i = threadIdx.x; i < tiles * per_tile; i += blockDim.x) {
    const int r = i / per_tile, row = i % per_tile / vectors, v = i % vectors;
    const int pixel = min((g0 + r) * 16, hw - 16) + row;
    sqz::cp_async16(a_s + (r * 16 + row) * kStride + v * 8, img + (size_t)pixel * cin + k0 + v * 8,
                    true);
  }
  const __half *w = (const __half *)a.weights + (size_t)k0 * a.ldw + col0;
  for (int i = threadIdx.x; i < rows * b_vectors; i += blockDim.x) {
    const int k = i / b_vectors, v = i % b_vectors;
    sqz::cp_async16(b_s + k * kBStride + v * 8, w + (size_t)k * a.ldw + v * 8, true);
  }
  sqz::cp_async_commit();
}

// A block per image and group of 8 class tiles of 16 classes, a warp per
// tile. The block streams the image's rows through shared memory in steps
// of up to 8 row tiles x 64 channels, once for all its warps, which take
// their A fragments from there, with the chunk's 64 weight rows of the
// block's 128 classes, where each warp takes its B fragments by a
// transposing ldmatrix (from global memory, a row-major fragment is
// transposed in registers as it arrives, and the MMAs waited for it).
// Two buffers: step s + 1 is copied asynchronously into one while the
// MMAs read step s from the other, one barrier a step.
__global__ void __launch_bounds__(kWarps * 32)
    classifier_wmma(const __grid_constant__ sqz_classifier_args a) {
  SQZ_DYNAMIC_SHARED(float, stage_all);                // kWarps x 16 x 16, then the A buffers
  __half *a_s = (__half *)(stage_all + kWarps * 256);  // 2 x kMaxRowTiles x 16 x kStride
  __half *b_s = a_s + 2 * kBufHalves;                  // 2 x kChunk x kBStride
  const int n = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int hw = a.height * a.width, row_tiles = (hw + 15) / 16;
  const int chunks = (a.cin + kChunk - 1) / kChunk;
  const int steps = (row_tiles + kMaxRowTiles - 1) / kMaxRowTiles * chunks;
  float *stage = stage_all + warp * 256;
  const __half *img = (const __half *)a.in + (size_t)n * hw * a.cin;
  const int ct = blockIdx.y * kWarps + warp, class_tiles = (a.classes + 15) / 16;
  const bool active = ct < class_tiles;  // idle warps still help stage
  // The weights' columns of this block's class tiles, 16-byte pieces a row.
  const int col0 = blockIdx.y * kWarps * 16;
  const int b_vectors = 2 * min(kWarps, class_tiles - (int)blockIdx.y * kWarps);
  const int c = ct * 16 + lane % 16;
  const float bias = active && c < a.classes ? a.bias[c] : 0.0f;
  float total = 0.0f;  // lanes 0..15: the sum of class c over the rows seen
  FragC acc[kMaxRowTiles];
  stage_step(a_s, b_s, a, img, col0, b_vectors, row_tiles, chunks, 0);
  for (int step = 0; step < steps; step++) {
    const int g0 = step / chunks * kMaxRowTiles, k0 = step % chunks * kChunk;
    const int tiles = min(kMaxRowTiles, row_tiles - g0), chunk = min(kChunk, a.cin - k0);
    sqz::cp_async_wait<0>();
    __syncthreads();  // this step has landed, from every thread; the last one is consumed
    if (step + 1 < steps) {
      const int next = (step + 1) & 1;
      stage_step(a_s + next * kBufHalves, b_s + next * kBBufHalves, a, img, col0, b_vectors,
                 row_tiles, chunks, step + 1);
    }
    if (!active) continue;
    const __half *rows = a_s + (step & 1) * kBufHalves;
    const __half *b_rows = b_s + (step & 1) * kBBufHalves + warp * 16;
    if (k0 == 0) {
#pragma unroll
      for (int r = 0; r < kMaxRowTiles; r++) wmma::fill_fragment(acc[r], 0.0f);
    }
    for (int kk = 0; kk < chunk; kk += 16) {
      FragB fb;
      wmma::load_matrix_sync(fb, b_rows + kk * kBStride, kBStride);
#pragma unroll
      for (int r = 0; r < kMaxRowTiles; r++) {
        if (r >= tiles) continue;
        FragA fa;
        wmma::load_matrix_sync(fa, rows + r * 16 * kStride + kk, kStride);
        wmma::mma_sync(acc[r], fa, fb, acc[r]);
      }
    }
    if (k0 + chunk < a.cin) continue;  // the row group's sums are complete after its last chunk
#pragma unroll
    for (int r = 0; r < kMaxRowTiles; r++) {
      if (r >= tiles) continue;
      const int tile = g0 + r;
      const int first_new = tile * 16 - min(tile * 16, hw - 16);
      wmma::store_matrix_sync(stage, acc[r], 16, wmma::mem_row_major);
      __syncwarp();
      if (lane < 16)
        for (int p = first_new; p < 16; p++) total += fmaxf(stage[p * 16 + lane] + bias, 0.0f);
      __syncwarp();
    }
  }
  if (active && lane < 16 && c < a.classes)
    a.out[(size_t)n * a.classes + c] = (total + border_term(a, bias)) * mean_scale(a);
}

}  // namespace

extern "C" cudaError_t sqz_launch_classifier(const sqz_classifier_args *a, sqz_dtype dtype,
                                             cudaStream_t stream) {
  if (a->math == SQZ_MATH_WMMA) {
    if (dtype != SQZ_DTYPE_F16) return cudaErrorInvalidValue;
    /* Class tiles spread over grid.y, one per warp: even batch 1 fills
     * several SMs. */
    const dim3 grid((unsigned)a->batch, (unsigned)((a->classes + 16 * kWarps - 1) / (16 * kWarps)));
    const int t = kWarps * 32;
    return SQZ_LAUNCH(classifier_wmma, t, grid, dim3(t), a->smem, stream, *a);
  }
  const dim3 grid((unsigned)a->batch,
                  (unsigned)((a->classes + kClassesPerBlock - 1) / kClassesPerBlock));
  const int t = kClassesPerBlock;
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(classifier_fma<__half>, t, grid, dim3(t), a->smem, stream, *a);
  return SQZ_LAUNCH(classifier_fma<float>, t, grid, dim3(t), a->smem, stream, *a);
}

extern "C" cudaError_t sqz_fused_classifier_allow_smem(size_t bytes) {
  cudaError_t err = cudaFuncSetAttribute(classifier_wmma,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
  if (err == cudaSuccess)
    err = cudaFuncSetAttribute(classifier_fma<float>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               (int)bytes);
  if (err == cudaSuccess)
    err = cudaFuncSetAttribute(classifier_fma<__half>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               (int)bytes);
  return err;
}
