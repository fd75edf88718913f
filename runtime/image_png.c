/* PNG through libpng's simplified API, when the library was built with it. */
#include "error.h"
#include "image.h"

#ifndef SQZ_HAVE_PNG

sqz_status sqz_decode_png(const char *name, const unsigned char *data, size_t size,
                          sqz_image **out) {
  (void)data;
  (void)size;
  (void)out;
  return sqz_fail(SQZ_ERR_UNSUPPORTED,
                  "%s: PNG support is not built in (install libpng's development "
                  "files and rebuild)",
                  name);
}

#else

#include <string.h>

#include <png.h>

sqz_status sqz_decode_png(const char *name, const unsigned char *data, size_t size,
                          sqz_image **out) {
  png_image png;
  memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size))
    return sqz_fail(SQZ_ERR_FORMAT, "%s: PNG decoding failed: %s", name, png.message);
  sqz_status st = sqz_check_image_size(name, (long)png.width, (long)png.height);
  sqz_image *img = NULL;
  if (st == SQZ_OK) st = sqz_image_alloc((int)png.width, (int)png.height, &img);
  if (st != SQZ_OK) {
    png_image_free(&png);
    return st;
  }
  /* Transparent pixels are composed onto black. */
  const png_color black = {0, 0, 0};
  png.format = PNG_FORMAT_RGB;
  if (!png_image_finish_read(&png, &black, img->pixels, 0, NULL)) {
    st = sqz_fail(SQZ_ERR_FORMAT, "%s: PNG decoding failed: %s", name, png.message);
    png_image_free(&png);
    sqz_image_free(img);
    return st;
  }
  *out = img;
  return SQZ_OK;
}

#endif
