#include "engine.h"

void sqz_u8_to_nchw(const uint8_t *rgb, int h, int w, const sqz_preprocess *p, float *out) {
  const size_t hw = (size_t)h * w;
  for (int c = 0; c < 3; c++) {
    /* Channel c of the model's order comes from R, G or B of the image. */
    const int src = p->channel_order == SQZ_ORDER_BGR ? 2 - c : c;
    const float mean = p->mean[c], scale = p->scale[c];
    float *dst = out + (size_t)c * hw;
    for (size_t i = 0; i < hw; i++) dst[i] = ((float)rgb[3 * i + src] - mean) * scale;
  }
}

void sqz_nhwc_to_nchw(const float *in, int c, int h, int w, float *out) {
  const size_t hw = (size_t)h * w;
  for (size_t i = 0; i < hw; i++)
    for (int ch = 0; ch < c; ch++) out[(size_t)ch * hw + i] = in[i * c + ch];
}
