/* Image loading by content, bilinear resizing and the model's crop. */
#include "image.h"

#include <math.h>
#include <string.h>

#include "../models/file_util.h"
#include "alloc.h"
#include "error.h"
#include "model.h"

sqz_status sqz_check_image_size(const char *name, long width, long height) {
  if (width < 1 || height < 1 || width > SQZ_MAX_IMAGE_SIDE || height > SQZ_MAX_IMAGE_SIDE ||
      (double)width * (double)height > SQZ_MAX_IMAGE_PIXELS)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: image size %ldx%ld is outside the supported "
                    "1..%d per side, %d pixels",
                    name, width, height, SQZ_MAX_IMAGE_SIDE, SQZ_MAX_IMAGE_PIXELS);
  return SQZ_OK;
}

sqz_status sqz_image_alloc(int width, int height, sqz_image **out) {
  sqz_image *img = sqz_calloc(1, sizeof *img, "image");
  if (!img) return SQZ_ERR_OUT_OF_MEMORY;
  img->pixels = sqz_malloc((size_t)width * height * 3, "image pixels");
  if (!img->pixels) {
    sqz_free(img);
    return SQZ_ERR_OUT_OF_MEMORY;
  }
  img->width = width;
  img->height = height;
  *out = img;
  return SQZ_OK;
}

void sqz_image_free(sqz_image *img) {
  if (!img) return;
  sqz_free(img->pixels);
  sqz_free(img);
}

int sqz_image_format_is_built(const char *format) {
  if (!format) return 0;
  if (strcmp(format, "ppm") == 0 || strcmp(format, "pgm") == 0) return 1;
#ifdef SQZ_HAVE_JPEG
  if (strcmp(format, "jpeg") == 0) return 1;
#endif
#ifdef SQZ_HAVE_PNG
  if (strcmp(format, "png") == 0) return 1;
#endif
  return 0;
}

static sqz_status decode_named(const char *name, const void *data, size_t size, sqz_image **out) {
  const unsigned char *b = data;
  if (size >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6'))
    return sqz_decode_pnm(name, b, size, out);
  if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
    return sqz_decode_jpeg(name, b, size, out);
  if (size >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
    return sqz_decode_png(name, b, size, out);
  return sqz_fail(SQZ_ERR_FORMAT, "%s: unknown image format (expected binary PPM/PGM, JPEG or PNG)",
                  name);
}

sqz_status sqz_image_decode(const void *data, size_t size, sqz_image **out) {
  if ((!data && size) || !out)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "data and out must not be NULL");
  return decode_named("(memory)", data, size, out);
}

sqz_status sqz_image_load(const char *path, sqz_image **out) {
  if (!path || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "path and out must not be NULL");
  char *data;
  size_t size;
  SQZ_TRY(sqz_read_file(path, (size_t)1 << 30, &data, &size));
  sqz_status st = decode_named(path, data, size, out);
  sqz_free(data);
  return st;
}

/* Bilinear sampling of the (scaled_w x scaled_h) resize of `img`, window
 * [off_x, off_x + out_w) x [off_y, off_y + out_h), pixel centres aligned
 * (x_src = (x + 0.5) * in / scaled - 0.5, clamped at the borders). */
static void resize_window(const sqz_image *img, int scaled_w, int scaled_h, int off_x, int off_y,
                          int out_w, int out_h, uint8_t *out) {
  const double sx = (double)img->width / scaled_w, sy = (double)img->height / scaled_h;
  for (int y = 0; y < out_h; y++) {
    double fy = (y + off_y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    int y0 = (int)fy;
    if (y0 > img->height - 1) y0 = img->height - 1;
    int y1 = y0 + 1 < img->height ? y0 + 1 : y0;
    float wy = (float)(fy - y0);
    const uint8_t *r0 = img->pixels + (size_t)y0 * img->width * 3;
    const uint8_t *r1 = img->pixels + (size_t)y1 * img->width * 3;
    for (int x = 0; x < out_w; x++) {
      double fx = (x + off_x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      int x0 = (int)fx;
      if (x0 > img->width - 1) x0 = img->width - 1;
      int x1 = x0 + 1 < img->width ? x0 + 1 : x0;
      float wx = (float)(fx - x0);
      uint8_t *dst = out + ((size_t)y * out_w + x) * 3;
      for (int c = 0; c < 3; c++) {
        float top = r0[x0 * 3 + c] + wx * (r0[x1 * 3 + c] - r0[x0 * 3 + c]);
        float bot = r1[x0 * 3 + c] + wx * (r1[x1 * 3 + c] - r1[x0 * 3 + c]);
        float v = top + wy * (bot - top);
        dst[c] = (uint8_t)(v + 0.5f);
      }
    }
  }
}

sqz_status sqz_image_resize(const sqz_image *img, int out_w, int out_h, uint8_t *out) {
  if (!img || !out) return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "image and out must not be NULL");
  if (out_w < 1 || out_h < 1 || out_w > SQZ_MAX_IMAGE_SIDE || out_h > SQZ_MAX_IMAGE_SIDE)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "output size %dx%d is out of range", out_w, out_h);
  resize_window(img, out_w, out_h, 0, 0, out_w, out_h, out);
  return SQZ_OK;
}

sqz_status sqz_image_prepare(const sqz_model *m, const sqz_image *img, uint8_t *out) {
  if (!m || !img || !out)
    return sqz_fail(SQZ_ERR_INVALID_ARGUMENT, "model, image and out must not be NULL");
  if (img->width == m->in_w && img->height == m->in_h) {
    memcpy(out, img->pixels, (size_t)img->width * img->height * 3);
    return SQZ_OK;
  }
  const sqz_preprocess *p = &m->preprocess;
  int scaled_w = p->resize_size, scaled_h = p->resize_size;
  if (p->resize_mode == SQZ_RESIZE_SHORTER_SIDE) {
    double scale = (double)p->resize_size / (img->width < img->height ? img->width : img->height);
    scaled_w = img->width < img->height ? p->resize_size : (int)lround(img->width * scale);
    scaled_h = img->width < img->height ? (int)lround(img->height * scale) : p->resize_size;
  }
  /* A crop larger than the resize (an input size raised after the fact)
   * stretches that side to the crop. */
  if (scaled_w < m->in_w) scaled_w = m->in_w;
  if (scaled_h < m->in_h) scaled_h = m->in_h;
  resize_window(img, scaled_w, scaled_h, (scaled_w - m->in_w) / 2, (scaled_h - m->in_h) / 2,
                m->in_w, m->in_h, out);
  return SQZ_OK;
}
