/* JPEG through libjpeg(-turbo), when the library was built with it. */
#include "error.h"
#include "image.h"

#ifndef SQZ_HAVE_JPEG

sqz_status sqz_decode_jpeg(const char *name, const unsigned char *data, size_t size,
                           sqz_image **out) {
  (void)data;
  (void)size;
  (void)out;
  return sqz_fail(SQZ_ERR_UNSUPPORTED,
                  "%s: JPEG support is not built in (install libjpeg-turbo's "
                  "development files and rebuild)",
                  name);
}

#else

#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports errors by calling error_exit, which by default exits the
 * process: jump back here instead, keeping the message. */
typedef struct jpeg_error {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} jpeg_error;

static void on_error(j_common_ptr cinfo) {
  jpeg_error *err = (jpeg_error *)cinfo->err;
  err->mgr.format_message(cinfo, err->message);
  longjmp(err->jump, 1);
}

static void on_message(j_common_ptr cinfo) { (void)cinfo; /* never print */ }

/* Warnings (corrupt but decodable data, common in real photographs) are
 * tolerated, except a premature end of the file: a truncated JPEG would
 * otherwise decode silently as a partly gray image. */
static void on_emit(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

sqz_status sqz_decode_jpeg(const char *name, const unsigned char *data, size_t size,
                           sqz_image **out) {
  struct jpeg_decompress_struct cinfo;
  jpeg_error err;
  sqz_image *volatile img = NULL;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = on_error;
  err.mgr.output_message = on_message;
  err.mgr.emit_message = on_emit;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    sqz_image_free(img);
    return sqz_fail(SQZ_ERR_FORMAT, "%s: JPEG decoding failed: %s", name, err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.num_components != 1 && cinfo.num_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    return sqz_fail(SQZ_ERR_UNSUPPORTED,
                    "%s: JPEG with %d components (CMYK?) is not "
                    "supported",
                    name, cinfo.num_components);
  }
  cinfo.out_color_space = JCS_RGB;
  sqz_status st = sqz_check_image_size(name, (long)cinfo.image_width, (long)cinfo.image_height);
  sqz_image *allocated = NULL;
  if (st == SQZ_OK)
    st = sqz_image_alloc((int)cinfo.image_width, (int)cinfo.image_height, &allocated);
  if (st != SQZ_OK) {
    jpeg_destroy_decompress(&cinfo);
    return st;
  }
  img = allocated;
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img->pixels + (size_t)cinfo.output_scanline * img->width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  *out = img;
  return SQZ_OK;
}

#endif
