/* Convolution as a GEMM: out[M=out_c][N=out_h*out_w] = W[M][K] * col[K][N]
 * with K = in_c*k*k. The im2col matrix is written straight into column
 * panels of 8 ("packed"), so the inner kernel streams it contiguously and
 * keeps an 8x8 block of outputs in registers. */
#include <string.h>

#include "ref_ops.h"

enum { NR = 8, MR = 8 };

size_t sqz_ref_conv2d_scratch(const sqz_ref_conv_shape *s) {
  size_t k = (size_t)s->in_c * s->kernel * s->kernel;
  size_t n = (size_t)s->out_h * s->out_w;
  return k * ((n + NR - 1) / NR) * NR;
}

/* packed[(p*K + kk)*NR + j] = col[kk][p*NR + j], zero past N. */
static void pack_columns(const sqz_ref_conv_shape *s, const float *in, float *packed) {
  const int k = s->kernel, K = s->in_c * k * k;
  const int N = s->out_h * s->out_w, panels = (N + NR - 1) / NR;
  const int plain = k == 1 && s->stride == 1 && s->pad == 0;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < panels; p++) {
    float *dst = packed + (size_t)p * K * NR;
    int oy[NR], ox[NR];
    for (int j = 0; j < NR; j++) {
      int n = p * NR + j;
      oy[j] = n < N ? n / s->out_w : -1;
      ox[j] = n < N ? n % s->out_w : -1;
    }
    for (int kk = 0; kk < K; kk++, dst += NR) {
      const int ci = kk / (k * k), ky = kk / k % k, kx = kk % k;
      const float *plane = in + (size_t)ci * s->in_h * s->in_w;
      for (int j = 0; j < NR; j++) {
        int n = p * NR + j;
        float v = 0.0f;
        if (plain) {
          if (n < N) v = plane[n];
        } else if (oy[j] >= 0) {
          int iy = oy[j] * s->stride + ky - s->pad;
          int ix = ox[j] * s->stride + kx - s->pad;
          if (iy >= 0 && iy < s->in_h && ix >= 0 && ix < s->in_w)
            v = plane[(size_t)iy * s->in_w + ix];
        }
        dst[j] = v;
      }
    }
  }
}

/* acc = rows[0..MR) . panel, over K. Clones for AVX2 where the compiler
 * supports it; the plain version is the portable fallback. Not under
 * ThreadSanitizer: the clone's resolver runs before its runtime starts. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    !defined(SQZ_NO_TARGET_CLONES) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("avx2", "default")))
#endif
static void
micro_kernel(int K, const float *const rows[MR], const float *panel, float acc[MR][NR]) {
  float c[MR][NR];
  memset(c, 0, sizeof c);
  for (int kk = 0; kk < K; kk++) {
    const float *b = panel + (size_t)kk * NR;
    for (int i = 0; i < MR; i++) {
      const float a = rows[i][kk];
      for (int j = 0; j < NR; j++) c[i][j] += a * b[j];
    }
  }
  memcpy(acc, c, sizeof c);
}

void sqz_ref_conv2d(const sqz_ref_conv_shape *s, const float *in, const float *weight,
                    const float *bias, int relu, int accumulate, float *out, float *scratch) {
  const int M = s->out_c, K = s->in_c * s->kernel * s->kernel;
  const int N = s->out_h * s->out_w;
  const int panels = (N + NR - 1) / NR, mblocks = (M + MR - 1) / MR;
  pack_columns(s, in, scratch);
#pragma omp parallel for collapse(2) schedule(static)
  for (int p = 0; p < panels; p++) {
    for (int mb = 0; mb < mblocks; mb++) {
      const float *rows[MR];
      for (int i = 0; i < MR; i++) {
        int m = mb * MR + i;
        rows[i] = weight + (size_t)(m < M ? m : M - 1) * K; /* extra rows unused */
      }
      float acc[MR][NR];
      micro_kernel(K, rows, scratch + (size_t)p * K * NR, acc);
      for (int i = 0; i < MR && mb * MR + i < M; i++) {
        const int m = mb * MR + i;
        float *dst = out + (size_t)m * N + (size_t)p * NR;
        for (int j = 0; j < NR && p * NR + j < N; j++) {
          float v = acc[i][j] + bias[m];
          if (accumulate) v += dst[j];
          dst[j] = relu && v < 0.0f ? 0.0f : v;
        }
      }
    }
  }
}
