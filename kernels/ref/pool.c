#include <math.h>

#include "ref_ops.h"

void sqz_ref_maxpool(const float *in, int channels, int in_h, int in_w, int kernel, int stride,
                     int pad, float *out, int out_h, int out_w) {
#pragma omp parallel for schedule(static)
  for (int c = 0; c < channels; c++) {
    const float *plane = in + (size_t)c * in_h * in_w;
    float *dst = out + (size_t)c * out_h * out_w;
    for (int oy = 0; oy < out_h; oy++) {
      int y0 = oy * stride - pad, y1 = y0 + kernel;
      if (y0 < 0) y0 = 0;
      if (y1 > in_h) y1 = in_h;
      for (int ox = 0; ox < out_w; ox++) {
        int x0 = ox * stride - pad, x1 = x0 + kernel;
        if (x0 < 0) x0 = 0;
        if (x1 > in_w) x1 = in_w;
        float m = -INFINITY;
        for (int y = y0; y < y1; y++)
          for (int x = x0; x < x1; x++) {
            float v = plane[(size_t)y * in_w + x];
            if (v > m) m = v;
          }
        dst[(size_t)oy * out_w + ox] = m;
      }
    }
  }
}

void sqz_ref_global_avgpool(const float *in, int channels, int h, int w, float *out) {
  const size_t hw = (size_t)h * w;
  for (int c = 0; c < channels; c++) {
    const float *plane = in + (size_t)c * hw;
    double sum = 0.0; /* double: the reference should not add rounding */
    for (size_t i = 0; i < hw; i++) sum += plane[i];
    out[c] = (float)(sum / (double)hw);
  }
}
