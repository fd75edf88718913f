#include "weight_pack.h"

#include <string.h>

size_t sqz_dtype_size(sqz_dtype t) { return t == SQZ_DTYPE_F16 ? 2 : 4; }

uint16_t sqz_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) /* inf or nan: keep nan quiet */
    return (uint16_t)(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0));
  if (abs >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds past 65504 */
  if (abs < 0x38800000u) {                                   /* subnormal or zero in half */
    if (abs < 0x33000000u) return (uint16_t)sign;            /* below half of the smallest */
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const int shift = 126 - (int)(abs >> 23); /* 14..24 */
    uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1u))) half++;
    return (uint16_t)(sign | half);
  }
  /* Normal: rebias the exponent, round the 13 dropped mantissa bits. */
  uint32_t half = ((abs >> 13) - ((127u - 15u) << 10));
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
  return (uint16_t)(sign | half);
}

float sqz_half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else { /* subnormal: normalise */
    exp = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      exp--;
    }
    bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static void store(void *dst, size_t index, float v, sqz_dtype dtype) {
  if (dtype == SQZ_DTYPE_F16)
    ((uint16_t *)dst)[index] = sqz_float_to_half(v);
  else
    ((float *)dst)[index] = v;
}

void sqz_pack_conv_weights(const float *oihw, int out_c, int in_c, int kernel,
                           sqz_weight_layout layout, sqz_dtype dtype, void *dst) {
  const int k2 = kernel * kernel;
  for (int o = 0; o < out_c; o++)
    for (int i = 0; i < in_c; i++)
      for (int r = 0; r < k2; r++) {
        const float v = oihw[((size_t)o * in_c + i) * k2 + r];
        size_t at;
        switch (layout) {
          case SQZ_WEIGHTS_OHWI: at = ((size_t)o * k2 + r) * in_c + i; break;
          case SQZ_WEIGHTS_HWIO: at = ((size_t)r * in_c + i) * out_c + o; break;
          default: at = ((size_t)o * in_c + i) * k2 + r; break;
        }
        store(dst, at, v, dtype);
      }
}

static size_t align256(size_t n) { return (n + 255) / 256 * 256; }

/* Places one conv at *size, advancing it, and writes it when dst is set. */
static sqz_packed_conv place(const sqz_conv *c, const float *weights, sqz_pack_format f, void *dst,
                             size_t *size) {
  sqz_packed_conv at;
  const size_t count = (size_t)c->out_channels * c->in_channels * c->kernel * c->kernel;
  at.weight = *size;
  *size = align256(*size + count * sqz_dtype_size(f.weight_dtype));
  at.bias = *size;
  *size = align256(*size + (size_t)c->out_channels * sqz_dtype_size(f.bias_dtype));
  if (dst) {
    sqz_pack_conv_weights(weights + c->weight, c->out_channels, c->in_channels, c->kernel, f.layout,
                          f.weight_dtype, (char *)dst + at.weight);
    for (int o = 0; o < c->out_channels; o++)
      store((char *)dst + at.bias, (size_t)o, weights[c->bias + o], f.bias_dtype);
  }
  return at;
}

size_t sqz_pack_weights(const sqz_layer *layers, int num_layers, const float *weights,
                        sqz_pack_format format, void *dst, sqz_packed_layer *offsets) {
  size_t size = 0;
  for (int i = 0; i < num_layers; i++) {
    const sqz_layer *l = &layers[i];
    sqz_packed_layer *o = &offsets[i];
    memset(o, 0, sizeof *o);
    if (l->kind == SQZ_LAYER_CONV) {
      o->conv = place(&l->conv, weights, format, dst, &size);
    } else if (l->kind == SQZ_LAYER_FIRE) {
      o->squeeze = place(&l->fire.squeeze, weights, format, dst, &size);
      o->expand1x1 = place(&l->fire.expand1x1, weights, format, dst, &size);
      o->expand3x3 = place(&l->fire.expand3x3, weights, format, dst, &size);
      if (l->fire.bypass == SQZ_BYPASS_COMPLEX)
        o->shortcut = place(&l->fire.shortcut, weights, format, dst, &size);
    }
  }
  return size;
}
