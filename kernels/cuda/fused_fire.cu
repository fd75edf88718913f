// One kernel per Fire module. A block takes one image and a tile of output
// pixels; it computes the squeeze output (+ bias, ReLU) for the tile and its
// 1-pixel halo into shared memory, reading its input through the max pool
// that precedes the module when there is one, then both expands (+ bias,
// ReLU) from there, written straight into the concatenated output at channel
// offsets [0, e1) and [e1, e1 + e3), then the bypass. Neither the squeeze
// output nor the concatenation touches global memory.
//
// Two variants share that structure: fire_fma (CUDA cores, any channel
// counts, fp32 or fp16 storage) and fire_wmma (tensor cores: ldmatrix and
// mma.sync, fp16 storage with fp32 accumulation, channel counts multiples
// of 16).
// Geometry and shared-memory layout come from fused_tiling.h, which the CPU
// tests exercise.
#include <float.h>
#include "async_ring.cuh"
#include "dtype.cuh"
#include "mma_tile.cuh"
#include "kernels/cuda/fused_kernels.h"

namespace {

// Pixel (y, x) of the module's input, channel c: the max over the folded
// pool's window of the tensor actually read (one pixel when there is none).
template <typename T>
__device__ float load_input(const sqz_fire_args &a, const T *img, int y, int x, int c) {
  int r0, r1, c0, c1;
  sqz_pool_window(&a.geo.pool, y, x, &r0, &r1, &c0, &c1);
  float m = -FLT_MAX;
  for (int r = r0; r < r1; r++)
    for (int q = c0; q < c1; q++)
      m = fmaxf(m, sqz::to_float(img[((size_t)r * a.geo.pool.src_w + q) * a.cin + c]));
  return m;
}

template <typename T>
__device__ const T *image_in(const sqz_fire_args &a, int n) {
  return (const T *)a.in + (size_t)n * a.geo.pool.src_h * a.geo.pool.src_w * a.cin;
}

template <typename T>
__device__ T *pixel_out(const sqz_fire_args &a, int n, int y, int x) {
  const int e = a.e1 + a.e3;
  return (T *)a.out + (((size_t)n * a.geo.height + y) * a.geo.width + x) * e;
}

// ---------------------------------------------------------------------------
// CUDA cores. Each GEMM runs in passes over its outputs; in a pass each
// thread owns kTM rows and the 4 consecutive columns (FmaGrid), so its
// weights of a row are one 16-byte load (8 bytes in fp16) when the row
// length allows, and a warp's are one run.

constexpr int kTM = 4, kTN = 4;

// The threads of a pass as ct column threads x rt row threads: thread
// (tx, ty) owns rows mb + ty + rt i and columns nb + 4 tx + j (i, j < 4).
// ct is 16 (passes of 64 x 64) unless the GEMM has 32 or 16 columns or
// fewer (the squeezes of v1.1's fire2-5): then 8 or 4, so every lane has
// real columns and a pass covers 2 or 4 times the rows (a squeeze's halo
// rows, 108 or more, in one pass instead of two, whose lanes past the
// columns did nothing).
struct FmaGrid {
  int tx, ty, rt, ct;
  __device__ explicit FmaGrid(int n) {
    ct = n <= 4 * kTN ? 4 : n <= 8 * kTN ? 8 : 16;
    rt = SQZ_FIRE_THREADS / ct;
    tx = threadIdx.x % ct;
    ty = threadIdx.x / ct;
  }
  __device__ int rows() const { return rt * kTM; }  // of a pass
  __device__ int cols() const { return ct * kTN; }
  __device__ int row(int mb, int i) const { return mb + ty + rt * i; }
  __device__ int col(int nb, int j) const { return nb + kTN * tx + j; }
};

__device__ __forceinline__ void outer_product(float (&acc)[kTM][kTN], const float (&av)[kTM],
                                              const float (&bv)[kTN]) {
#pragma unroll
  for (int i = 0; i < kTM; i++)
#pragma unroll
    for (int j = 0; j < kTN; j++) acc[i][j] += av[i] * bv[j];
}

// This thread's kTN weights of row k of `row`'s matrix (n columns, zero
// past n): one vector load when n is a multiple of 4 (row start and
// column then multiples of 4, so aligned), else scalar loads.
template <typename T, bool kVector>
__device__ __forceinline__ void row_weights(const T *row, int n, int c0, int k, float (&bv)[kTN]) {
  if (kVector) {
    sqz::load4(row + (size_t)k * n, bv);
    return;
  }
#pragma unroll
  for (int j = 0; j < kTN; j++) bv[j] = c0 + j < n ? sqz::to_float(row[(size_t)k * n + j]) : 0.0f;
}

// The steps of fma_rows, the weight load's form fixed. With kQuads, steps
// go 4 at a time first: a_quads(k, av) gives this thread's kTM values of
// columns k .. k + 3 of A, a 16-byte shared load per row (av[q][i]: column
// k + q, row i); the remaining K % 4 steps, and every step without
// kQuads, take a_rows(k, av), one column. The single steps are unrolled
// by kUnroll.
template <typename T, bool kVector, bool kQuads, int kUnroll, typename ARows, typename AQuads>
__device__ __forceinline__ void fma_steps(float (&acc)[kTM][kTN], const T *row, int n, int c0,
                                          int K, ARows a_rows, AQuads a_quads) {
  int k = 0;
  if (kQuads)
    for (; k + 4 <= K; k += 4) {
      float av[4][kTM];
      a_quads(k, av);
#pragma unroll
      for (int q = 0; q < 4; q++) {
        float bv[kTN];
        row_weights<T, kVector>(row, n, c0, k + q, bv);
        outer_product(acc, av[q], bv);
      }
    }
#pragma unroll kUnroll
  for (; k < K; k++) {
    float av[kTM], bv[kTN];
    a_rows(k, av);
    row_weights<T, kVector>(row, n, c0, k, bv);
    outer_product(acc, av, bv);
  }
}

// A without a quad form (the shortcut reads it through the folded pool).
struct NoQuads {
  __device__ void operator()(int, float (&)[4][kTM]) const {}
};

// acc += the sum over k < K of column k of A (a_rows, or a_quads 4 columns
// at a time: fma_steps) x this thread's kTN weights of row k0 + k of a
// [rows x n] HWIO matrix (zero past n), the thread's first column c0. The
// row-length test is made once, not each step. A thread whose 4 columns
// all lie past n has nothing to add (and stores nothing).
template <typename T, bool kQuads, int kUnroll, typename ARows, typename AQuads>
__device__ __forceinline__ void fma_rows(float (&acc)[kTM][kTN], const void *w, size_t k0, int K,
                                         int n, int c0, ARows a_rows, AQuads a_quads) {
  if (c0 >= n) return;
  const T *row = (const T *)w + k0 * n + c0;
  if (n % kTN == 0)
    fma_steps<T, true, kQuads, kUnroll>(acc, row, n, c0, K, a_rows, a_quads);
  else
    fma_steps<T, false, kQuads, kUnroll>(acc, row, n, c0, K, a_rows, a_quads);
}

// Channels [c, c + 4) of pixel (y, x) of the module's input, through the
// folded pool: one vector load per window pixel (c and cin multiples of 4).
template <typename T>
__device__ void load_input4(const sqz_fire_args &a, const T *img, int y, int x, int c,
                            float (&v)[kTN]) {
  int r0, r1, c0, c1;
  sqz_pool_window(&a.geo.pool, y, x, &r0, &r1, &c0, &c1);
#pragma unroll
  for (int j = 0; j < kTN; j++) v[j] = -FLT_MAX;
  for (int r = r0; r < r1; r++)
    for (int q = c0; q < c1; q++) {
      float t[kTN];
      sqz::load4(img + ((size_t)r * a.geo.pool.src_w + q) * a.cin + c, t);
#pragma unroll
      for (int j = 0; j < kTN; j++) v[j] = fmaxf(v[j], t[j]);
    }
}

// Input channels [k0, k0 + kc) of every halo pixel into in_s (row stride
// ldi, sqz_fma_stride: zero outside the image). With a channel count that
// is a multiple of 4, a thread takes 4 channels of a pixel: the pixel's
// index, halo test and pool window once, then vector loads, and one
// 16-byte shared store (a warp's 4 rows of 8 fill the banks once each).
template <typename T>
__device__ void fma_stage_chunk(const sqz_fire_args &a, const T *img, int y0, int x0, int k0,
                                int kc, float *in_s, int ldi) {
  const sqz_fire_geometry &g = a.geo;
  const int hp_count = sqz_halo_pixels(&g);
  if (a.cin % kTN == 0) {  // kc is a multiple of 4 then too
    const int groups = kc / kTN;
    for (int i = threadIdx.x; i < hp_count * groups; i += blockDim.x) {
      const int hp = i / groups, k = i % groups * kTN;
      int y, x;
      float v[kTN] = {};
      if (sqz_halo_to_image(&g, y0, x0, hp, &y, &x)) load_input4(a, img, y, x, k0 + k, v);
      *(float4 *)(in_s + hp * ldi + k) = make_float4(v[0], v[1], v[2], v[3]);
    }
    return;
  }
  for (int i = threadIdx.x; i < hp_count * kc; i += blockDim.x) {
    const int hp = i / kc, k = i % kc;
    int y, x;
    const bool inside = sqz_halo_to_image(&g, y0, x0, hp, &y, &x);
    in_s[hp * ldi + k] = inside ? load_input(a, img, y, x, k0 + k) : 0.0f;
  }
}

// Row m of a tile's GEMM is output pixel (y, x); whether it is stored
// (rows past the tile and pixels past the image are computed, not stored).
__device__ __forceinline__ bool stored_pixel(const sqz_fire_geometry &g, int y0, int x0, int m,
                                             int M, int *y, int *x) {
  *y = y0 + m / g.tile_w;
  *x = x0 + m % g.tile_w;
  return m < M && *y < g.height && *x < g.width;
}

// Squeeze: sq[hp][s] accumulates over input-channel chunks staged in in_s.
template <typename T>
__device__ void fma_squeeze(const sqz_fire_args &a, int n, int y0, int x0, float *sq, float *in_s) {
  const sqz_fire_geometry &g = a.geo;
  const int hp_count = sqz_halo_pixels(&g), S = a.squeeze;
  const int lds = sqz_fma_stride(S), ldi = sqz_fma_stride(SQZ_FIRE_CHUNK);
  const FmaGrid t(S);
  const T *img = image_in<T>(a, n);
  for (int i = threadIdx.x; i < hp_count * S; i += blockDim.x) sq[(i / S) * lds + i % S] = 0.0f;
  for (int k0 = 0; k0 < a.cin; k0 += SQZ_FIRE_CHUNK) {
    const int kc = min(SQZ_FIRE_CHUNK, a.cin - k0);
    __syncthreads();  // the previous chunk is consumed
    fma_stage_chunk<T>(a, img, y0, x0, k0, kc, in_s, ldi);
    __syncthreads();
    for (int mb = 0; mb < hp_count; mb += t.rows())
      for (int nb = 0; nb < S; nb += t.cols()) {
        float acc[kTM][kTN] = {};
        const float *ar[kTM];  // rows past the halo are computed (from its last), not stored
#pragma unroll
        for (int i = 0; i < kTM; i++) ar[i] = in_s + min(t.row(mb, i), hp_count - 1) * ldi;
        const auto a_rows = [&](int k, float(&av)[kTM]) {
#pragma unroll
          for (int i = 0; i < kTM; i++) av[i] = ar[i][k];
        };
        const auto a_quads = [&](int k, float(&av)[4][kTM]) {
#pragma unroll
          for (int i = 0; i < kTM; i++) {
            const float4 v = *(const float4 *)(ar[i] + k);
            av[0][i] = v.x, av[1][i] = v.y, av[2][i] = v.z, av[3][i] = v.w;
          }
        };
        fma_rows<T, true, 4>(acc, a.w_squeeze, (size_t)k0, kc, S, t.col(nb, 0), a_rows, a_quads);
#pragma unroll
        for (int i = 0; i < kTM; i++)
#pragma unroll
          for (int j = 0; j < kTN; j++) {
            const int m = t.row(mb, i), c = t.col(nb, j);
            if (m < hp_count && c < S) sq[m * lds + c] += acc[i][j];
          }
      }
  }
  __syncthreads();
  // Bias and ReLU; outside the image the 3x3 expand sees zero padding.
  for (int i = threadIdx.x; i < hp_count * S; i += blockDim.x) {
    const int hp = i / S, c = i % S;
    int y, x;
    const bool inside = sqz_halo_to_image(&g, y0, x0, hp, &y, &x);
    const float v = sq[hp * lds + c] + a.b_squeeze[c];
    sq[hp * lds + c] = inside && v > 0.0f ? v : 0.0f;
  }
  __syncthreads();
}

// One expand: out channels [c_off, c_off + ne) from taps x squeeze inputs.
template <typename T>
__device__ void fma_expand(const sqz_fire_args &a, int n, int y0, int x0, const float *sq,
                           const void *w, const float *bias, int ne, int c_off, int taps) {
  const sqz_fire_geometry &g = a.geo;
  const int S = a.squeeze, lds = sqz_fma_stride(S), M = g.tile_h * g.tile_w;
  const FmaGrid t(ne);
  const T *img = image_in<T>(a, n);
  for (int mb = 0; mb < M; mb += t.rows())
    for (int nb = 0; nb < ne; nb += t.cols()) {
      float acc[kTM][kTN] = {};
      for (int tap = 0; tap < taps; tap++) {
        const int dy = taps == 9 ? tap / 3 - 1 : 0, dx = taps == 9 ? tap % 3 - 1 : 0;
        int hp[kTM];
#pragma unroll
        for (int i = 0; i < kTM; i++) {
          const int m = min(t.row(mb, i), M - 1);  // rows past M are computed, not stored
          hp[i] = sqz_halo_tap(&g, m / g.tile_w, m % g.tile_w, dy, dx);
        }
        const auto a_rows = [&](int s, float(&av)[kTM]) {
#pragma unroll
          for (int i = 0; i < kTM; i++) av[i] = sq[hp[i] * lds + s];
        };
        const auto a_quads = [&](int s, float(&av)[4][kTM]) {
#pragma unroll
          for (int i = 0; i < kTM; i++) {
            const float4 v = *(const float4 *)(sq + hp[i] * lds + s);
            av[0][i] = v.x, av[1][i] = v.y, av[2][i] = v.z, av[3][i] = v.w;
          }
        };
        fma_rows<T, true, 4>(acc, w, (size_t)tap * S, S, ne, t.col(nb, 0), a_rows, a_quads);
      }
#pragma unroll
      for (int i = 0; i < kTM; i++) {
        int y, x;
        if (!stored_pixel(g, y0, x0, t.row(mb, i), M, &y, &x)) continue;
        T *dst = pixel_out<T>(a, n, y, x);
#pragma unroll
        for (int j = 0; j < kTN; j++) {
          const int c = t.col(nb, j);
          if (c >= ne) continue;
          float v = fmaxf(acc[i][j] + bias[c], 0.0f);
          if (a.bypass == SQZ_BYPASS_SIMPLE) v += load_input(a, img, y, x, c_off + c);
          dst[c_off + c] = sqz::from_float<T>(v);
        }
      }
    }
}

// Complex bypass: out += shortcut 1x1 conv of the input + its bias, after
// the expands (the block's own outputs, visible after __syncthreads).
template <typename T>
__device__ void fma_shortcut(const sqz_fire_args &a, int n, int y0, int x0) {
  const sqz_fire_geometry &g = a.geo;
  const int M = g.tile_h * g.tile_w, E = a.e1 + a.e3;
  const FmaGrid t(E);
  const T *img = image_in<T>(a, n);
  for (int mb = 0; mb < M; mb += t.rows())
    for (int nb = 0; nb < E; nb += t.cols()) {
      float acc[kTM][kTN] = {};
      int py[kTM], px[kTM];
#pragma unroll
      for (int i = 0; i < kTM; i++) {
        const int m = min(t.row(mb, i), M - 1);
        py[i] = min(y0 + m / g.tile_w, g.height - 1);  // clamped: such rows are not stored
        px[i] = min(x0 + m % g.tile_w, g.width - 1);
      }
      fma_rows<T, false, 1>(
          acc, a.w_shortcut, 0, a.cin, E, t.col(nb, 0),
          [&](int k, float(&av)[kTM]) {
#pragma unroll
            for (int i = 0; i < kTM; i++) av[i] = load_input(a, img, py[i], px[i], k);
          },
          NoQuads());
#pragma unroll
      for (int i = 0; i < kTM; i++) {
        int y, x;
        if (!stored_pixel(g, y0, x0, t.row(mb, i), M, &y, &x)) continue;
        T *dst = pixel_out<T>(a, n, y, x);
#pragma unroll
        for (int j = 0; j < kTN; j++) {
          const int c = t.col(nb, j);
          if (c < E)
            dst[c] = sqz::from_float<T>(sqz::to_float(dst[c]) + acc[i][j] + a.b_shortcut[c]);
        }
      }
    }
}

template <typename T>
__global__ void __launch_bounds__(SQZ_FIRE_THREADS)
    fire_fma(const __grid_constant__ sqz_fire_args a) {
  SQZ_DYNAMIC_SHARED(float, smem);
  const int tiles = a.geo.tiles_y * a.geo.tiles_x;
  const int n = blockIdx.x / tiles;
  int y0, x0;
  sqz_tile_origin(&a.geo, blockIdx.x % tiles, &y0, &x0);
  float *sq = smem;
  float *in_s = sq + (size_t)sqz_halo_pixels(&a.geo) * sqz_fma_stride(a.squeeze);
  fma_squeeze<T>(a, n, y0, x0, sq, in_s);
  fma_expand<T>(a, n, y0, x0, sq, a.w_e1, a.b_e1, a.e1, 0, 1);
  fma_expand<T>(a, n, y0, x0, sq, a.w_e3, a.b_e3, a.e3, a.e1, 9);
  if (a.bypass == SQZ_BYPASS_COMPLEX) {
    __syncthreads();
    fma_shortcut<T>(a, n, y0, x0);
  }
}

// ---------------------------------------------------------------------------
// Tensor cores (fp16 storage, fp32 accumulation), through the raw
// instructions (sqz::ldmatrix_x4, sqz::mma_16816; every operand in shared
// memory). Tile rows are 16 pixels wide, so the 16 rows of an A operand of
// the 3x3 expand at tap (dy, dx) are 16 consecutive halo pixels: a strided
// load straight from the squeeze output in shared memory.

// Channels [c, c + 8) of pixel (y, x) of the module's input, through the
// folded pool: one 16-byte load per window pixel, the max taken on half2
// pairs (exact, as the max of the same values in float is).
__device__ sqz::Half8 load_input8(const sqz_fire_args &a, const __half *img, int y, int x, int c) {
  int r0, r1, c0, c1;
  sqz_pool_window(&a.geo.pool, y, x, &r0, &r1, &c0, &c1);
  const size_t row = (size_t)a.geo.pool.src_w * a.cin;
  const __half *base = img + c;
  sqz::Half8 m = sqz::minus_inf8();  // the window is never empty
  if (a.geo.pool.kernel == 3) {
    // SqueezeNet's pools: the 9 loads unrolled and issued together, those
    // outside the clipped window not made, rather than one row at a time.
#pragma unroll
    for (int dr = 0; dr < 3; dr++)
#pragma unroll
      for (int dq = 0; dq < 3; dq++)
        if (r0 + dr < r1 && c0 + dq < c1)
          m = sqz::max8(m, sqz::load8(base + (size_t)(r0 + dr) * row + (size_t)(c0 + dq) * a.cin));
    return m;
  }
  for (int r = r0; r < r1; r++)
    for (int q = c0; q < c1; q++)
      m = sqz::max8(m, sqz::load8(base + (size_t)r * row + (size_t)q * a.cin));
  return m;
}

struct WmmaSmem {
  __half *sq, *in, *center;
  __half *stage;      // this warp's result tile (stage_result, wmma_store_row)
  int lds, ldi, ldc;  // lds is also the stride of the chunks' squeeze weight rows
};

__device__ WmmaSmem wmma_smem(const sqz_fire_args &a, unsigned char *raw) {
  const sqz_fire_geometry &g = a.geo;
  WmmaSmem s;
  s.sq = (__half *)raw;
  s.in = (__half *)(raw + sqz_wmma_sq_bytes(g.tile_h, g.tile_w, a.squeeze));
  s.center = (__half *)raw;  // reused after the expands
  const size_t body = sqz_wmma_fire_smem(g.tile_h, g.tile_w, a.cin, a.squeeze,
                                         a.bypass == SQZ_BYPASS_COMPLEX, a.in_buffers) -
                      sqz_wmma_stage_bytes();
  s.stage = (__half *)(raw + body + (threadIdx.x / 32) * sqz_wmma_warp_stage_bytes());
  s.lds = sqz_mma_stride(a.squeeze);
  s.ldi = sqz_mma_stride(SQZ_FIRE_CHUNK);
  s.ldc = sqz_mma_stride(a.cin);
  return s;
}

// Input channels [k0, k0 + 32) (or 16, the last of a count that is an odd
// multiple of 16) of every halo row into `in`, 8 channels of a pixel per
// item, zero outside the image and in the rows past the halo. Read as it
// is, by asynchronous copies the caller commits and waits for; through the
// folded pool, by the threads' own 16-byte loads and max.
__device__ void wmma_stage_chunk(const sqz_fire_args &a, const __half *img, int y0, int x0, int k0,
                                 __half *in, int ldi) {
  const sqz_fire_geometry &g = a.geo;
  const int hp_count = sqz_halo_pixels(&g), rows = sqz_round16(hp_count);
  const int shift = a.cin - k0 >= 32 ? 2 : 1;  // log2 of the 8-channel groups a pixel has
  const bool async = a.in_buffers > 1;
  for (int i = threadIdx.x; i < rows << shift; i += blockDim.x) {
    const int hp = i >> shift, k = (i & ((1 << shift) - 1)) * 8;
    int y = 0, x = 0;
    const bool inside = hp < hp_count && sqz_halo_to_image(&g, y0, x0, hp, &y, &x);
    __half *dst = in + hp * ldi + k;
    // A zero-filled copy reads nothing, but its source address is still
    // checked: the image's own first pixel, never one outside it.
    if (async)
      sqz::cp_async16(dst, inside ? img + ((size_t)y * g.pool.src_w + x) * a.cin + k0 + k : img,
                      inside);
    else
      sqz::store8(dst, inside ? load_input8(a, img, y, x, k0 + k) : sqz::zero8());
  }
}

// Rows [k0, k0 + kc) of the squeeze's HWIO weights, one contiguous run of
// kc x squeeze halves in global memory, into a chunk buffer's weight rows
// (stride ldw) by asynchronous 16-byte copies the caller commits and waits
// for. From there the MMAs take B by a transposing ldmatrix: from global,
// a row-major fragment is transposed in registers (MOVM) as it arrives,
// so every k step waited for its load.
__device__ void wmma_stage_squeeze_weights(const sqz_fire_args &a, int k0, int kc, __half *dst,
                                           int ldw) {
  const int per_row = a.squeeze / 8;
  const __half *src = (const __half *)a.w_squeeze + (size_t)k0 * a.squeeze;
  for (int i = threadIdx.x; i < kc * per_row; i += blockDim.x)
    sqz::cp_async16(dst + i / per_row * ldw + i % per_row * 8, src + (size_t)i * 8, true);
}

// The squeeze's output tiles of one warp (sqz_squeeze_deal_of): a column
// tile and row tiles a fixed step apart, or else t = warp + 8 j for
// j < d.count, row tile t / n_tiles and column tile t % n_tiles, the
// division by a reciprocal made once (t < 64: the planner's bound on the
// tiles). Divided for every fragment, they were most of the k loop's
// instructions.
struct SqueezeTiles {
  sqz_squeeze_deal d;  // d.count tiles
  int warp, n_tiles, recip;
  __device__ SqueezeTiles(int w, int n, int rows)
      : d(sqz_squeeze_deal_of(w, rows, n)), warp(w), n_tiles(n), recip(sqz_recip16(n)) {}
  __device__ __forceinline__ int row_tile(int j) const {
    return d.fixed ? d.mt0 + d.step * j : sqz_div_recip16(warp + SQZ_FIRE_WARPS * j, recip);
  }
  __device__ __forceinline__ int col_tile(int j, int mt) const {
    return d.fixed ? d.nt : warp + SQZ_FIRE_WARPS * j - mt * n_tiles;
  }
};

// The lane's part of a 16 x 16 accumulator tile (mma_tile.cuh), plus bias
// and ReLU when asked, as halves into the warp's stage, SQZ_WMMA_RESULT_LD
// halves a row, for wmma_store_row.
__device__ __forceinline__ void stage_result(__half *stage, const float (&acc)[2][4],
                                             const float (&b)[2][2], bool relu) {
  const int lane = threadIdx.x % 32;
  __half *row = stage + (lane / 4) * SQZ_WMMA_RESULT_LD + 2 * (lane % 4);
#pragma unroll
  for (int h = 0; h < 2; h++) {
    *(__half2 *)(row + 8 * h) = sqz::bias_pair(acc[h], 0, b[h], relu);
    *(__half2 *)(row + 8 * SQZ_WMMA_RESULT_LD + 8 * h) = sqz::bias_pair(acc[h], 2, b[h], relu);
  }
}

// The fixed deal's MMAs of one input chunk (kc = 16 or 32 channels) for
// Count tiles, a constant (sqz_squeeze_deal_of), so the loop has no
// per-tile test (nor the WARPSYNC each predicated ldmatrix needs): at k
// step kk one B operand (from b0, the lane's transposing-load row of the
// column tile) serves every tile, tile j's A rows are a_step bytes below
// tile j - 1's (from a0).
template <int Count>
__device__ __forceinline__ void squeeze_fixed_mmas(float (&acc)[SQZ_WMMA_MAX_FRAGS][2][4],
                                                   sqz::SmemAddr a0, int a_step, sqz::SmemAddr b0,
                                                   int b_step, int kc) {
  for (int kk = 0; kk < kc; kk += 16, a0 += 32, b0 += b_step) {
    uint32_t b[4];  // columns 0-7 in b[0], b[1]; 8-15 in b[2], b[3]
    sqz::ldmatrix_x4<true>(b, b0);
    sqz::SmemAddr a = a0;
#pragma unroll
    for (int j = 0; j < Count; j++, a += a_step) {
      uint32_t fa[4];
      sqz::ldmatrix_x4(fa, a);
      sqz::mma_16816(acc[j][0], fa, b[0], b[1]);
      sqz::mma_16816(acc[j][1], fa, b[2], b[3]);
    }
  }
}

// The MMAs of one input chunk (kc = 16 or 32 channels, at shared address
// `in`, its weight rows at `wk`) into this warp's accumulators, tile j in
// acc[j] as two m16n8k16 MMAs (sqz::ldmatrix_x4, sqz::mma_16816). In the
// fixed deal (sqz_squeeze_deal_of) all of a warp's tiles have one column
// tile: squeeze_fixed_mmas, one instance per tile count.
__device__ __forceinline__ void squeeze_chunk_mmas(float (&acc)[SQZ_WMMA_MAX_FRAGS][2][4],
                                                   const SqueezeTiles &mine, sqz::SmemAddr in,
                                                   sqz::SmemAddr wk, int kc, const WmmaSmem &s) {
  // A's rows are halo pixels of the chunk, B's rows input channels.
  const sqz::SmemAddr a_lane = sqz::ldmatrix_lane_row(in, s.ldi);
  const sqz::SmemAddr b_lane = sqz::ldmatrix_lane_row(wk, s.lds);
  const int a_tile = 16 * s.ldi * 2;  // one row tile down the chunk, in bytes
  if (mine.d.fixed) {
    const sqz::SmemAddr a0 = a_lane + mine.d.mt0 * a_tile, b0 = b_lane + mine.d.nt * 32;
    const int a_step = mine.d.step * a_tile, b_step = 16 * s.lds * 2;
    static_assert(SQZ_WMMA_MAX_FRAGS == 8, "a case for each count");
    switch (mine.d.count) {
      case 1: squeeze_fixed_mmas<1>(acc, a0, a_step, b0, b_step, kc); break;
      case 2: squeeze_fixed_mmas<2>(acc, a0, a_step, b0, b_step, kc); break;
      case 3: squeeze_fixed_mmas<3>(acc, a0, a_step, b0, b_step, kc); break;
      case 4: squeeze_fixed_mmas<4>(acc, a0, a_step, b0, b_step, kc); break;
      case 5: squeeze_fixed_mmas<5>(acc, a0, a_step, b0, b_step, kc); break;
      case 6: squeeze_fixed_mmas<6>(acc, a0, a_step, b0, b_step, kc); break;
      case 7: squeeze_fixed_mmas<7>(acc, a0, a_step, b0, b_step, kc); break;
      case 8: squeeze_fixed_mmas<8>(acc, a0, a_step, b0, b_step, kc); break;
      default: break;  // no tiles for this warp
    }
    return;
  }
  for (int kk = 0; kk < kc; kk += 16) {
    const sqz::SmemAddr a_k = a_lane + kk * 2, b_k = b_lane + kk * s.lds * 2;
#pragma unroll
    for (int j = 0; j < SQZ_WMMA_MAX_FRAGS; j++) {
      if (j >= mine.d.count) continue;
      const int mt = mine.row_tile(j), nt = mine.col_tile(j, mt);
      uint32_t b[4], fa[4];  // b: columns 0-7 in b[0], b[1]; 8-15 in b[2], b[3]
      sqz::ldmatrix_x4<true>(b, b_k + nt * 32);
      sqz::ldmatrix_x4(fa, a_k + mt * a_tile);
      sqz::mma_16816(acc[j][0], fa, b[0], b[1]);
      sqz::mma_16816(acc[j][1], fa, b[2], b[3]);
    }
  }
}

__device__ void wmma_squeeze(const sqz_fire_args &a, int n, int y0, int x0, const WmmaSmem &s) {
  const sqz_fire_geometry &g = a.geo;
  const int hp_count = sqz_halo_pixels(&g), rows = sqz_round16(hp_count);
  const int n_tiles = a.squeeze / 16;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const __half *img = image_in<__half>(a, n);
  const SqueezeTiles mine(warp, n_tiles, rows / 16);
  float acc[SQZ_WMMA_MAX_FRAGS][2][4];
#pragma unroll
  for (int j = 0; j < SQZ_WMMA_MAX_FRAGS; j++)
#pragma unroll
    for (int i = 0; i < 8; i++) acc[j][i / 4][i % 4] = 0.0f;
  // An input read as it is streams through a ring of a.in_buffers (B)
  // buffers (async_ring.cuh): chunks c + 1 .. c + B - 1 are copied
  // asynchronously while the MMAs read chunk c, one barrier a chunk.
  // Through a folded pool the threads stage each chunk themselves, between
  // two barriers. Either way the chunk's squeeze weights come with it,
  // copied asynchronously.
  static_assert(SQZ_WMMA_MAX_IN_BUFFERS - 2 <= 2, "cp_async_wait_all_but counts up to 2");
  const int buffers = a.in_buffers, chunks = (a.cin + SQZ_FIRE_CHUNK - 1) / SQZ_FIRE_CHUNK;
  // In halves: from one chunk buffer to the next, and from a buffer's
  // start to its weight rows.
  const int in_step = (int)(sqz_wmma_in_bytes(g.tile_h, g.tile_w, a.squeeze) / 2);
  const int weights = (int)(sqz_wmma_chunk_pixels_bytes(g.tile_h, g.tile_w) / 2);
  const auto stage = [&](int c, int buf) {
    const int k0 = c * SQZ_FIRE_CHUNK;
    __half *dst = s.in + buf * in_step;
    wmma_stage_chunk(a, img, y0, x0, k0, dst, s.ldi);
    wmma_stage_squeeze_weights(a, k0, min(SQZ_FIRE_CHUNK, a.cin - k0), dst + weights, s.lds);
  };
  if (buffers > 1) sqz::ring_start(buffers, chunks, stage);
  for (int c = 0, buf = 0; c < chunks; c++, buf = sqz::ring_next(buf, buffers)) {
    const int kc = min(SQZ_FIRE_CHUNK, a.cin - c * SQZ_FIRE_CHUNK);  // 16 or 32
    const __half *in = s.in + buf * in_step, *wk = in + weights;
    if (buffers > 1) {
      sqz::ring_step(buffers, chunks, c, buf, stage);
    } else {
      __syncthreads();  // chunk c - 1 is consumed
      stage(c, 0);
      sqz::cp_async_commit();
      sqz::cp_async_wait<0>();
      __syncthreads();
    }
    squeeze_chunk_mmas(acc, mine, sqz::smem_addr(in), sqz::smem_addr(wk), kc, s);
  }
  // Bias, ReLU and zero outside the image, from the accumulators straight
  // into the squeeze output: lane l has halo rows l / 4 and l / 4 + 8 of
  // its tiles (the second 8 pixels along, wrapping to the next halo row),
  // and writes pairs of channels (rows lds halves apart, an odd multiple
  // of 16 bytes: the warp's 8 rows x 4 pairs fall on distinct banks).
  const int halo_w = sqz_halo_w(&g), r = lane / 4;
#pragma unroll
  for (int j = 0; j < SQZ_WMMA_MAX_FRAGS; j++) {
    if (j >= mine.d.count) continue;
    const int mt = mine.row_tile(j), nt = mine.col_tile(j, mt);
    const int hp = mt * 16 + r;
    int y, x;
    // (sets y, x inside the image or not; the second row is 8 pixels on)
    const bool in0 = sqz_halo_to_image(&g, y0, x0, hp, &y, &x) && hp < hp_count;
    int y8 = y, x8 = x + 8;
    while (x8 >= x0 - 1 + halo_w) x8 -= halo_w, y8++;
    const bool in8 = hp + 8 < hp_count && y8 >= 0 && y8 < g.height && x8 >= 0 && x8 < g.width;
    float b[2][2];
    sqz::lane_bias(a.b_squeeze + nt * 16, b);
    __half *dst = s.sq + hp * s.lds + nt * 16 + 2 * (lane % 4);
    const __half2 zero = __floats2half2_rn(0.0f, 0.0f);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      *(__half2 *)(dst + 8 * h) = in0 ? sqz::bias_pair(acc[j][h], 0, b[h], true) : zero;
      *(__half2 *)(dst + 8 * s.lds + 8 * h) = in8 ? sqz::bias_pair(acc[j][h], 2, b[h], true) : zero;
    }
  }
  __syncthreads();
}

// Where lane l writes a result tile's rows: pixel (y, x0 + l % 16) of row
// y, channels c0 + 8 (l / 16) .. + 8, and one row further down, the
// address math made once for all the rows of an item.
struct RowsOut {
  __half *dst;  // row y0
  size_t step;  // one row down, in halves
  int y0, x, c;
};

__device__ RowsOut rows_out(const sqz_fire_args &a, int n, int y0, int x0, int c0) {
  const int lane = threadIdx.x % 32, x = x0 + lane % 16, c = c0 + (lane / 16) * 8;
  return RowsOut{pixel_out<__half>(a, n, y0, x) + c, (size_t)a.geo.width * (a.e1 + a.e3), y0, x, c};
}

// Writes row r of the warp's result tile (stage_result: bias added, and
// ReLU for the expands) at o: as it is (add = 0), plus the input for the
// simple bypass, or added to what is there for the shortcut (add = 1).
// Lane l takes pixel l % 16, channels 8 (l / 16) .. + 8: one 16-byte load
// and store each.
__device__ __forceinline__ void wmma_store_row(const sqz_fire_args &a, int n, const RowsOut &o,
                                               int r, const __half *stage, int add) {
  const int lane = threadIdx.x % 32, y = o.y0 + r;
  if (y >= a.geo.height || o.x >= a.geo.width) return;
  __half *dst = o.dst + r * o.step;
  const sqz::Half8 v = sqz::load8(stage + (lane % 16) * SQZ_WMMA_RESULT_LD + (lane / 16) * 8);
  if (!add && a.bypass != SQZ_BYPASS_SIMPLE) {
    sqz::store8(dst, v);
    return;
  }
  const sqz::Half8 other =
      add ? sqz::load8(dst) : load_input8(a, image_in<__half>(a, n), y, o.x, o.c);
  sqz::Half8 out;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const float2 p = __half22float2(other.get(i)), q = __half22float2(v.get(i));
    out.set(i, __floats2half2_rn(q.x + p.x, q.y + p.y));
  }
  sqz::store8(dst, out);
}

// The A operand of an output tile's MMAs, in shared memory: rows of `ld`
// halves, k channels; tile row r of a tap is the 16 pixels (rows) from
// first(tap) + r * row_pixels.
struct TileRows {
  const __half *base;
  int ld, row_pixels, k;
};

// The MMAs of one output channel tile for `Rows` tile rows (a constant, so
// the warp-uniform row test and its WARPSYNC are not in the loop), into
// acc[0, Rows): A from shared memory, B the tile's weights packed in the
// MMA's register order (sqz_mma_b_source: 512 bytes a step of a tap and
// 16 channels, this lane's 16 at 16 lane), so one 16-byte load a lane is
// a step's B operand. Raw ldmatrix and m16n8k16 MMAs: each lane's row
// addresses are made once and a step only adds offsets.
template <int Rows, typename FirstPixel>
__device__ __forceinline__ void tile_mmas(float (&acc)[SQZ_WMMA_MAX_TILE_H][2][4],
                                          const TileRows &A, FirstPixel first, int taps,
                                          const __half *packed) {
  // The loads of kAhead steps are in flight behind the MMAs. Past the
  // tile's last step they read on (the next tile's or the buffer's
  // padding, not used): unconditional, so that the unrolled steps rename
  // the ring rather than copy it, and no bound is kept.
  constexpr int kAhead = SQZ_MMA_B_AHEAD;
  const uint4 *b_next = (const uint4 *)packed + threadIdx.x % 32;  // 32 a step
  uint4 ring[kAhead];  // ring[i]: step + i's B registers
#pragma unroll
  for (int i = 0; i < kAhead; i++, b_next += 32) ring[i] = *b_next;
  const sqz::SmemAddr a_lane = sqz::ldmatrix_lane_row(sqz::smem_addr(A.base), A.ld);
  const int row_bytes = A.row_pixels * A.ld * 2;  // one tile row down
  for (int tap = 0; tap < taps; tap++) {
    const sqz::SmemAddr a_tap = a_lane + first(tap) * A.ld * 2;
    for (int ks = 0; ks < A.k; ks += 16, b_next += 32) {
      const uint4 b = ring[0];  // columns 0-7: x, y; 8-15: z, w
#pragma unroll
      for (int i = 0; i + 1 < kAhead; i++) ring[i] = ring[i + 1];
      ring[kAhead - 1] = *b_next;
      const sqz::SmemAddr a_step = a_tap + ks * 2;
#pragma unroll
      for (int r = 0; r < Rows; r++) {
        uint32_t fa[4];
        sqz::ldmatrix_x4(fa, a_step + r * row_bytes);
        sqz::mma_16816(acc[r][0], fa, b.x, b.y);
        sqz::mma_16816(acc[r][1], fa, b.z, b.w);
      }
    }
  }
}

// tile_mmas for `rows` tile rows, from zero accumulators. Rows are 1, 2, 4
// or 8: the planner's tile heights are powers of two up to 8 (the
// launcher refuses others), and the expand's deal splits a tile into a
// power-of-two number of parts (sqz_expand_deal_make).
template <typename FirstPixel>
__device__ __forceinline__ void tile_rows_mmas(float (&acc)[SQZ_WMMA_MAX_TILE_H][2][4], int rows,
                                               const TileRows &A, FirstPixel first, int taps,
                                               const __half *packed) {
#pragma unroll
  for (int r = 0; r < SQZ_WMMA_MAX_TILE_H; r++)
#pragma unroll
    for (int i = 0; i < 8; i++) acc[r][i / 4][i % 4] = 0.0f;
  static_assert(SQZ_WMMA_MAX_TILE_H == 8, "the widest case is the tallest tile");
  switch (rows) {
    case 1: tile_mmas<1>(acc, A, first, taps, packed); break;
    case 2: tile_mmas<2>(acc, A, first, taps, packed); break;
    case 4: tile_mmas<4>(acc, A, first, taps, packed); break;
    default: tile_mmas<8>(acc, A, first, taps, packed); break;
  }
}

// The packed weights (sqz_mma_b_source) of output channel tile nt of a
// [k_rows x n] matrix: its steps are contiguous, k_rows / 16 of 256 halves.
__device__ __forceinline__ const __half *packed_tile(const void *packed, int k_rows, int nt) {
  return (const __half *)packed + (size_t)nt * k_rows / 16 * SQZ_MMA_B_STEP_HALVES;
}

// Both expands: output channel tiles nt of the concatenation, 1x1 for
// nt < e1 / 16, 3x3 after, in items of a tile and a range of its rows,
// dealt to the warps by their MMA counts (sqz_expand_deal_make).
__device__ void wmma_expand_item(const sqz_fire_args &a, int n, int y0, int x0, const WmmaSmem &s,
                                 int nt, int r0, int r1) {
  const sqz_fire_geometry &g = a.geo;
  const int t1 = a.e1 / 16;
  const bool is3 = nt >= t1;
  const int col = (is3 ? nt - t1 : nt) * 16, taps = is3 ? 9 : 1;
  const __half *w = packed_tile(is3 ? a.mma_e3 : a.mma_e1, taps * a.squeeze, col / 16);
  // A: the squeeze output's halo pixels; tile row r0 at tap (dy, dx) is 16
  // consecutive ones from sqz_halo_tap, the next a halo row further.
  const TileRows A = {s.sq, s.lds, sqz_halo_w(&g), a.squeeze};
  const auto first = [&](int tap) {
    return taps == 9 ? sqz_halo_tap(&g, r0, 0, tap / 3 - 1, tap % 3 - 1)
                     : sqz_halo_tap(&g, r0, 0, 0, 0);
  };
  float acc[SQZ_WMMA_MAX_TILE_H][2][4];
  tile_rows_mmas(acc, r1 - r0, A, first, taps, w);
  float b[2][2];
  sqz::lane_bias((is3 ? a.b_e3 : a.b_e1) + col, b);
  const RowsOut o = rows_out(a, n, y0 + r0, x0, nt * 16);
#pragma unroll
  for (int r = 0; r < SQZ_WMMA_MAX_TILE_H; r++) {
    if (r0 + r >= r1) continue;
    stage_result(s.stage, acc[r], b, true);
    __syncwarp();
    wmma_store_row(a, n, o, r, s.stage, 0);
    __syncwarp();
  }
}

__device__ void wmma_expand(const sqz_fire_args &a, int n, int y0, int x0, const WmmaSmem &s) {
  const sqz_expand_deal &d = a.deal;
  const int warp = threadIdx.x / 32;
  const unsigned long long mine = d.dealt ? d.mine[warp] : 0;
  for (int i = 0; i < d.items; i++) {
    if (d.dealt ? !((mine >> i) & 1) : i % SQZ_FIRE_WARPS != warp) continue;
    int nt, r0, r1;
    sqz_expand_item(&d, a.e1 / 16, a.e3 / 16, a.geo.tile_h, i, &nt, &r0, &r1);
    if (r0 < r1) wmma_expand_item(a, n, y0, x0, s, nt, r0, r1);
  }
}

// Complex bypass: the tile's input pixels into shared memory, then
// out += input x W_shortcut + bias, per output channel tile.
__device__ void wmma_shortcut(const sqz_fire_args &a, int n, int y0, int x0, const WmmaSmem &s) {
  const sqz_fire_geometry &g = a.geo;
  const int M = g.tile_h * g.tile_w, E = a.e1 + a.e3;
  const __half *img = image_in<__half>(a, n);
  __syncthreads();  // the squeeze output is no longer needed; outputs visible
  const int groups = a.cin / 8;
  for (int i = threadIdx.x; i < M * groups; i += blockDim.x) {
    const int m = i / groups, k = (i % groups) * 8;
    const int y = y0 + m / g.tile_w, x = x0 + m % g.tile_w;
    const bool inside = y < g.height && x < g.width;
    sqz::store8(s.center + m * s.ldc + k, inside ? load_input8(a, img, y, x, k) : sqz::zero8());
  }
  __syncthreads();
  // A: the tile's input pixels, row r the 16 from 16 r.
  const TileRows A = {s.center, s.ldc, 16, a.cin};
  const auto first = [](int) { return 0; };
  for (int nt = threadIdx.x / 32; nt < E / 16; nt += SQZ_FIRE_WARPS) {
    float acc[SQZ_WMMA_MAX_TILE_H][2][4];
    tile_rows_mmas(acc, g.tile_h, A, first, 1, packed_tile(a.mma_shortcut, a.cin, nt));
    float b[2][2];
    sqz::lane_bias(a.b_shortcut + nt * 16, b);
    const RowsOut o = rows_out(a, n, y0, x0, nt * 16);
#pragma unroll
    for (int r = 0; r < SQZ_WMMA_MAX_TILE_H; r++) {
      if (r >= g.tile_h) continue;
      stage_result(s.stage, acc[r], b, false);
      __syncwarp();
      wmma_store_row(a, n, o, r, s.stage, 1);
      __syncwarp();
    }
  }
}

// Two blocks per SM (at most 128 registers), as before the 16-byte staging:
// left to itself ptxas takes 224 registers, one block per SM.
__global__ void __launch_bounds__(SQZ_FIRE_THREADS, 2)
    fire_wmma(const __grid_constant__ sqz_fire_args a) {
  SQZ_DYNAMIC_SHARED(unsigned char, raw);
  const int tiles = a.geo.tiles_y * a.geo.tiles_x;
  const int n = blockIdx.x / tiles;
  int y0, x0;
  sqz_tile_origin(&a.geo, blockIdx.x % tiles, &y0, &x0);
  const WmmaSmem s = wmma_smem(a, raw);
  wmma_squeeze(a, n, y0, x0, s);
  wmma_expand(a, n, y0, x0, s);
  if (a.bypass == SQZ_BYPASS_COMPLEX) wmma_shortcut(a, n, y0, x0, s);
}

}  // namespace

extern "C" cudaError_t sqz_launch_fire(const sqz_fire_args *a, sqz_dtype dtype,
                                       cudaStream_t stream) {
  const dim3 grid((unsigned)(a->batch * a->geo.tiles_y * a->geo.tiles_x));
  const int t = SQZ_FIRE_THREADS;
  if (a->math == SQZ_MATH_WMMA) {
    const int th = a->geo.tile_h;
    if (dtype != SQZ_DTYPE_F16 || th < 1 || th > SQZ_WMMA_MAX_TILE_H || (th & (th - 1)))
      return cudaErrorInvalidValue;  // wmma_expand_item has a case for each power of two
    if (!a->mma_e1 || !a->mma_e3 || (a->bypass == SQZ_BYPASS_COMPLEX && !a->mma_shortcut))
      return cudaErrorInvalidValue;  // the tensor cores take the packed weights
    if (a->geo.pool.kernel ? a->in_buffers != 1
                           : a->in_buffers < 2 || a->in_buffers > SQZ_WMMA_MAX_IN_BUFFERS)
      return cudaErrorInvalidValue;  // staged by the threads through a pool, else a ring
    sqz_fire_args k = *a;
    k.deal = sqz_expand_deal_make(a->e1, a->e3, a->geo.tile_h);
    return SQZ_LAUNCH(fire_wmma, t, grid, dim3(t), a->smem, stream, k);
  }
  if (dtype == SQZ_DTYPE_F16)
    return SQZ_LAUNCH(fire_fma<__half>, t, grid, dim3(t), a->smem, stream, *a);
  return SQZ_LAUNCH(fire_fma<float>, t, grid, dim3(t), a->smem, stream, *a);
}

extern "C" void sqz_fused_fire_kernels(sqz_kernel_ref out[SQZ_FUSED_FAMILY_KERNELS]) {
  out[0] = sqz_kernel_ref{(const void *)fire_wmma, "fire_wmma"};
  out[1] = sqz_kernel_ref{(const void *)fire_fma<float>, "fire_fma<float>"};
  out[2] = sqz_kernel_ref{(const void *)fire_fma<__half>, "fire_fma<half>"};
}
