/* Binary PPM (P6) and PGM (P5), 8 or 16 bits per sample. */
#include <string.h>

#include "error.h"
#include "image.h"

typedef struct pnm_cursor {
  const unsigned char *p, *end;
} pnm_cursor;

static void skip_space_and_comments(pnm_cursor *c) {
  while (c->p < c->end) {
    if (*c->p == '#') {
      while (c->p < c->end && *c->p != '\n') c->p++;
    } else if (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\v' ||
               *c->p == '\f') {
      c->p++;
    } else {
      return;
    }
  }
}

/* A positive decimal header field; -1 when missing or over 2^30. */
static long read_field(pnm_cursor *c) {
  skip_space_and_comments(c);
  long v = 0;
  int digits = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    v = v * 10 + (*c->p++ - '0');
    if (v > (1L << 30)) return -1;
    digits++;
  }
  return digits ? v : -1;
}

sqz_status sqz_decode_pnm(const char *name, const unsigned char *data, size_t size,
                          sqz_image **out) {
  pnm_cursor c = {data + 2, data + size};
  const int channels = data[1] == '6' ? 3 : 1;
  long width = read_field(&c), height = read_field(&c), maxval = read_field(&c);
  if (width < 0 || height < 0 || maxval < 0)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: truncated or malformed P%c header", name, data[1]);
  if (maxval < 1 || maxval > 65535)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: maximum value %ld, expected 1..65535", name, maxval);
  SQZ_TRY(sqz_check_image_size(name, width, height));
  /* Exactly one whitespace byte separates the header from the samples. */
  if (c.p >= c.end || !(*c.p == ' ' || *c.p == '\n' || *c.p == '\r' || *c.p == '\t'))
    return sqz_fail(SQZ_ERR_FORMAT, "%s: no whitespace after the P%c header", name, data[1]);
  c.p++;
  const size_t bytes_per_sample = maxval > 255 ? 2 : 1;
  const size_t samples = (size_t)width * height * channels;
  if ((size_t)(c.end - c.p) < samples * bytes_per_sample)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: %zu bytes of pixel data, expected %zu (truncated)", name,
                    (size_t)(c.end - c.p), samples * bytes_per_sample);
  sqz_image *img;
  SQZ_TRY(sqz_image_alloc((int)width, (int)height, &img));
  for (size_t i = 0; i < (size_t)width * height; i++) {
    for (int ch = 0; ch < 3; ch++) {
      size_t s = i * channels + (channels == 3 ? (size_t)ch : 0);
      long v = bytes_per_sample == 2 ? (long)c.p[2 * s] << 8 | c.p[2 * s + 1] : c.p[s];
      if (v > maxval) v = maxval;
      img->pixels[i * 3 + ch] =
          maxval == 255 ? (uint8_t)v : (uint8_t)((v * 255 + maxval / 2) / maxval);
    }
  }
  *out = img;
  return SQZ_OK;
}
