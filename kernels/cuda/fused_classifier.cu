// The classifier in one kernel: conv10 (1x1, optional padding) + bias +
// ReLU + global average pool, straight to fp32 logits. ReLU comes before
// the average, so every pixel's conv output is computed, passed through
// ReLU and summed on chip; only batch x classes values are written. With
// padding (the pretrained v1.0's conv10 has 1) the border pixels see only
// zeros, so each contributes ReLU(bias).
//
// classifier_fma: CUDA cores, fp32 or fp16 storage; a block takes one image
// and 256 classes, stages 16 pixels at a time and keeps 16 sums for each
// of a thread's 2 classes: per channel two weight loads and four 16-byte
// shared loads feed 32 FMAs.
// classifier_wmma: tensor cores (fp16, channels a multiple of 16, at least
// 16 pixels; ldmatrix and mma.sync, the name kept from WMMA); A operands
// (16 pixels x 16 channels) come from row tiles the block streams through
// shared memory for all its warps, the last tile overlapping the previous
// so that no row lies past the image; its repeated rows are skipped when
// summing. B operands come from the weights of the block's classes,
// streamed with them.
#include "async_ring.cuh"
#include "dtype.cuh"
#include "mma_tile.cuh"
#include "kernels/cuda/fused_kernels.h"

namespace {

constexpr int kClassesPerBlock = 256, kPixels = 16;

__device__ float border_term(const sqz_classifier_args &a, float bias) {
  const int oh = a.height + 2 * a.pad, ow = a.width + 2 * a.pad;
  const int border = oh * ow - a.height * a.width;
  return border * fmaxf(bias, 0.0f);
}

__device__ float mean_scale(const sqz_classifier_args &a) {
  return 1.0f / (float)((a.height + 2 * a.pad) * (a.width + 2 * a.pad));
}

// kClassesPerThread classes a thread, kClassesPerBlock / kClassesPerThread
// apart (so each of its weight loads is one coalesced run across the
// block): per channel kClassesPerThread weight loads and four 16-byte
// shared loads feed 16 kClassesPerThread FMAs, and the staging of the 16
// pixels serves the block's kClassesPerBlock classes.
constexpr int kClassesPerThread = 2, kFmaThreads = kClassesPerBlock / kClassesPerThread;

template <typename T>
__global__ void __launch_bounds__(kFmaThreads)
    classifier_fma(const __grid_constant__ sqz_classifier_args a) {
  // Channel-major, kPixels values per channel: the 16 pixels a weight
  // multiplies are four 16-byte loads (the same for every thread).
  SQZ_DYNAMIC_SHARED(float, x_s);  // cin x kPixels
  const int n = blockIdx.x, cls0 = blockIdx.y * kClassesPerBlock + threadIdx.x;
  const int hw = a.height * a.width;
  const T *img = (const T *)a.in + (size_t)n * hw * a.cin;
  const T *w = (const T *)a.weights;
  float bias[kClassesPerThread], total[kClassesPerThread] = {};
  bool mine[kClassesPerThread];  // class cls0 + kFmaThreads c is one of the model's
#pragma unroll
  for (int c = 0; c < kClassesPerThread; c++) {
    mine[c] = cls0 + kFmaThreads * c < a.classes;
    bias[c] = mine[c] ? a.bias[cls0 + kFmaThreads * c] : 0.0f;
  }
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
    if (!mine[0]) continue;  // nor any later class of this thread
    float acc[kClassesPerThread][kPixels];
#pragma unroll
    for (int c = 0; c < kClassesPerThread; c++)
#pragma unroll
      for (int p = 0; p < kPixels; p++) acc[c][p] = bias[c];
    // A class past the model's reads class cls0's weights (not used). The
    // rows advance by a pointer step, not an index product each load.
    const T *wc[kClassesPerThread];
#pragma unroll
    for (int c = 0; c < kClassesPerThread; c++)
      wc[c] = w + (mine[c] ? cls0 + kFmaThreads * c : cls0);
    const float4 *xk = (const float4 *)x_s;
#pragma unroll 4
    for (int k = 0; k < a.cin; k++, xk += kPixels / 4) {
#pragma unroll
      for (int c = 0; c < kClassesPerThread; c++) {
        const float wk = sqz::to_float(*wc[c]);
        wc[c] += a.ldw;
#pragma unroll
        for (int q = 0; q < kPixels / 4; q++) {
          const float4 v = xk[q];
          acc[c][4 * q] += v.x * wk;
          acc[c][4 * q + 1] += v.y * wk;
          acc[c][4 * q + 2] += v.z * wk;
          acc[c][4 * q + 3] += v.w * wk;
        }
      }
    }
#pragma unroll
    for (int c = 0; c < kClassesPerThread; c++)
#pragma unroll
      for (int p = 0; p < kPixels; p++)
        if (p < np) total[c] += fmaxf(acc[c][p], 0.0f);
  }
#pragma unroll
  for (int c = 0; c < kClassesPerThread; c++)
    if (mine[c])
      a.out[(size_t)n * a.classes + cls0 + kFmaThreads * c] =
          (total[c] + border_term(a, bias[c])) * mean_scale(a);
}

constexpr int kWarps = 8, kMaxRowTiles = 8;
constexpr int kChunk = SQZ_CLASSIFIER_CHUNK, kStride = SQZ_CLASSIFIER_A_STRIDE;
constexpr int kBStride = SQZ_CLASSIFIER_B_STRIDE;
constexpr int kBufHalves = kMaxRowTiles * 16 * kStride;  // one A buffer
constexpr int kBBufHalves = kChunk * kBStride;           // one B buffer
constexpr int kSumFloats = 8 * 16;                       // a warp's partial sums
static_assert(kChunk % 16 == 0 && kStride % 8 == 0 && kBStride % 8 == 0 &&
                  (kBufHalves * 2) % 16 == 0 && (kBBufHalves * 2) % 16 == 0,
              "ldmatrix rows start 16-byte aligned in shared memory, in both buffers");
static_assert(kWarps * kSumFloats * 4 == SQZ_CLASSIFIER_SUMS_BYTES &&
                  (kBufHalves + kBBufHalves) * 2 == SQZ_CLASSIFIER_BUFFER_BYTES,
              "the planner's shared-memory size is this layout's");
static_assert(SQZ_CLASSIFIER_MAX_BUFFERS - 2 <= 2, "cp_async_wait_all_but counts up to 2");

// One step of the stream, copied asynchronously into shared memory 16
// bytes at a time (the caller commits them as one group): A, row group
// step / chunks (up to 8 row
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
}

// One step's MMAs: `tiles` row tiles of 16 pixels (at shared address
// `rows`, kStride halves apart) by this warp's 16 classes (`b_rows`, the
// chunk's weight rows, kBStride apart), `chunk` channels, into acc[r] as
// two m16n8k16 MMAs (column halves). One B operand per k step serves every
// row tile.
__device__ __forceinline__ void step_mmas(float (&acc)[kMaxRowTiles][2][4], sqz::SmemAddr rows,
                                          sqz::SmemAddr b_rows, int tiles, int chunk) {
  const sqz::SmemAddr a_lane = sqz::ldmatrix_lane_row(rows, kStride);
  const sqz::SmemAddr b_lane = sqz::ldmatrix_lane_row(b_rows, kBStride);
  for (int kk = 0; kk < chunk; kk += 16) {
    uint32_t b[4], fa[4];  // b: classes 0-7 in b[0], b[1]; 8-15 in b[2], b[3]
    sqz::ldmatrix_x4<true>(b, b_lane + kk * kBStride * 2);
#pragma unroll
    for (int r = 0; r < kMaxRowTiles; r++) {
      if (r >= tiles) continue;
      sqz::ldmatrix_x4(fa, a_lane + r * 16 * kStride * 2 + kk * 2);
      sqz::mma_16816(acc[r][0], fa, b[0], b[1]);
      sqz::mma_16816(acc[r][1], fa, b[2], b[3]);
    }
  }
}

// A block per image and group of 8 class tiles of 16 classes, a warp per
// tile. The block streams the image's rows through shared memory in steps
// of up to 8 row tiles x 64 channels, once for all its warps, which take
// their A operands from there, with the chunk's 64 weight rows of the
// block's 128 classes, where each warp takes its B operand by a
// transposing ldmatrix (from global memory, a row-major operand is
// transposed in registers as it arrives, and the MMAs waited for it).
// A ring of a.buffers (B, 2 or 3) buffers (async_ring.cuh): steps s + 1 ..
// s + B - 1 are copied asynchronously while the MMAs read step s, one
// barrier a step.
//
// The sums stay in registers: an m16n8k16 accumulator gives lane l the
// pixels (rows) l / 4 and l / 4 + 8 of classes (columns) 2 (l % 4) and
// 2 (l % 4) + 1 of each column half, so each lane sums ReLU over its
// rows for its 4 classes, and the 8 lanes of a class add theirs once, at
// the end, through shared memory.
__global__ void __launch_bounds__(kWarps * 32)
    classifier_wmma(const __grid_constant__ sqz_classifier_args a) {
  SQZ_DYNAMIC_SHARED(float, sums_all);                       // kWarps x kSumFloats, then A
  const int buffers = a.buffers;                             // the ring: B
  __half *a_s = (__half *)(sums_all + kWarps * kSumFloats);  // B x kMaxRowTiles x 16 x kStride
  __half *b_s = a_s + buffers * kBufHalves;                  // B x kChunk x kBStride
  const int n = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, t = lane % 4;  // the accumulator's row and column pair
  const int hw = a.height * a.width, row_tiles = (hw + 15) / 16;
  const int chunks = (a.cin + kChunk - 1) / kChunk;
  const int steps = (row_tiles + kMaxRowTiles - 1) / kMaxRowTiles * chunks;
  const __half *img = (const __half *)a.in + (size_t)n * hw * a.cin;
  const int ct = blockIdx.y * kWarps + warp, class_tiles = (a.classes + 15) / 16;
  const bool active = ct < class_tiles;  // idle warps still help stage
  // The weights' columns of this block's class tiles, 16-byte pieces a row.
  const int col0 = blockIdx.y * kWarps * 16;
  const int b_vectors = 2 * min(kWarps, class_tiles - (int)blockIdx.y * kWarps);
  float bias[2][2], part[2][2] = {};  // this lane's classes ct * 16 + 8 h + 2 t + j
#pragma unroll
  for (int h = 0; h < 2; h++)
#pragma unroll
    for (int j = 0; j < 2; j++) {
      const int c = ct * 16 + 8 * h + 2 * t + j;
      bias[h][j] = active && c < a.classes ? a.bias[c] : 0.0f;
    }
  float acc[kMaxRowTiles][2][4];
  const auto stage = [&](int step, int buf) {
    stage_step(a_s + buf * kBufHalves, b_s + buf * kBBufHalves, a, img, col0, b_vectors, row_tiles,
               chunks, step);
  };
  sqz::ring_start(buffers, steps, stage);
  for (int step = 0, buf = 0; step < steps; step++, buf = sqz::ring_next(buf, buffers)) {
    const int g0 = step / chunks * kMaxRowTiles, k0 = step % chunks * kChunk;
    const int tiles = min(kMaxRowTiles, row_tiles - g0), chunk = min(kChunk, a.cin - k0);
    sqz::ring_step(buffers, steps, step, buf, stage);
    if (!active) continue;
    if (k0 == 0) {
#pragma unroll
      for (int r = 0; r < kMaxRowTiles; r++)
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
          for (int e = 0; e < 4; e++) acc[r][h][e] = 0.0f;
    }
    step_mmas(acc, sqz::smem_addr(a_s + buf * kBufHalves),
              sqz::smem_addr(b_s + buf * kBBufHalves + warp * 16), tiles, chunk);
    if (k0 + chunk < a.cin) continue;  // the row group's sums are complete after its last chunk
#pragma unroll
    for (int r = 0; r < kMaxRowTiles; r++) {
      if (r >= tiles) continue;
      // Rows before first_new repeat the previous tile's pixels.
      const int tile = g0 + r, first_new = tile * 16 - min(tile * 16, hw - 16);
#pragma unroll
      for (int e = 0; e < 4; e++) {
        if (g + 8 * (e / 2) < first_new) continue;
#pragma unroll
        for (int h = 0; h < 2; h++) part[h][e % 2] += fmaxf(acc[r][h][e] + bias[h][e % 2], 0.0f);
      }
    }
  }
  if (!active) return;
  float *sums = sums_all + warp * kSumFloats;  // 8 lane rows g x 16 classes
#pragma unroll
  for (int h = 0; h < 2; h++)
    *(float2 *)(sums + g * 16 + 8 * h + 2 * t) = make_float2(part[h][0], part[h][1]);
  __syncwarp();
  const int c = ct * 16 + lane % 16;
  if (lane >= 16 || c >= a.classes) return;
  float total = 0.0f;
#pragma unroll
  for (int row = 0; row < 8; row++) total += sums[row * 16 + lane];
  const float bias_c = a.bias[c];
  a.out[(size_t)n * a.classes + c] = (total + border_term(a, bias_c)) * mean_scale(a);
}

}  // namespace

extern "C" cudaError_t sqz_launch_classifier(const sqz_classifier_args *a, sqz_dtype dtype,
                                             cudaStream_t stream) {
  if (a->math == SQZ_MATH_WMMA) {
    if (dtype != SQZ_DTYPE_F16 || a->buffers < 2 || a->buffers > SQZ_CLASSIFIER_MAX_BUFFERS)
      return cudaErrorInvalidValue;
    /* Class tiles spread over grid.y, one per warp: even batch 1 fills
     * several SMs. */
    const dim3 grid((unsigned)a->batch, (unsigned)((a->classes + 16 * kWarps - 1) / (16 * kWarps)));
    const int t = kWarps * 32;
    return SQZ_LAUNCH(classifier_wmma, t, grid, dim3(t), a->smem, stream, *a);
  }
  const dim3 grid((unsigned)a->batch,
                  (unsigned)((a->classes + kClassesPerBlock - 1) / kClassesPerBlock));
  const int t = kFmaThreads;
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(classifier_fma<__half>, t, grid, dim3(t), a->smem, stream, *a);
  return SQZ_LAUNCH(classifier_fma<float>, t, grid, dim3(t), a->smem, stream, *a);
}

extern "C" void sqz_fused_classifier_kernels(sqz_kernel_ref out[SQZ_FUSED_FAMILY_KERNELS]) {
  out[0] = sqz_kernel_ref{(const void *)classifier_wmma, "classifier_wmma"};
  out[1] = sqz_kernel_ref{(const void *)classifier_fma<float>, "classifier_fma<float>"};
  out[2] = sqz_kernel_ref{(const void *)classifier_fma<__half>, "classifier_fma<half>"};
}
