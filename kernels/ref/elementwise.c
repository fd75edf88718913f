#include <math.h>

#include "ref_ops.h"

void sqz_ref_relu(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void sqz_ref_add(float *dst, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

void sqz_ref_softmax(const float *in, int n, float *out) {
  float max = in[0];
  for (int i = 1; i < n; i++)
    if (in[i] > max) max = in[i];
  double sum = 0.0;
  for (int i = 0; i < n; i++) {
    out[i] = expf(in[i] - max);
    sum += out[i];
  }
  for (int i = 0; i < n; i++) out[i] = (float)(out[i] / sum);
}
