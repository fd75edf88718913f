/* Writes seed inputs for the fuzz harnesses into OUT/<harness>/: small
 * models saved by sqz, label files, layer lists in the layers harness's
 * encoding, and images in every format and colour type the decoders read.
 * Usage: fuzz_make_seeds OUT (the folders must exist). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqz.h"

#ifdef SQZ_HAVE_PNG
#include <png.h>
#endif
#ifdef SQZ_HAVE_JPEG
#include <jpeglib.h>
#endif

static const char *out_dir;

static int write_file(const char *harness, const char *name, const void *data, size_t size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, harness, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

/* A small model, saved as .sqzw for the sqzw and model_load harnesses. */
static int save_model(const char *name, const sqz_layer_info *layers, int n, int size, int labels) {
  sqz_model *m = NULL;
  int rc = sqz_model_create(name, size, size, layers, n, &m) != SQZ_OK;
  for (int t = 0; !rc && t < sqz_model_num_tensors(m); t++) {
    sqz_tensor_info info;
    sqz_model_tensor(m, t, &info, NULL);
    float *v = malloc(sizeof(float) * info.count);
    for (size_t k = 0; v && k < info.count; k++) v[k] = (float)((int)(k % 11) - 5) * 0.1f;
    rc = !v || sqz_model_set_tensor(m, info.name, v, info.count) != SQZ_OK;
    free(v);
  }
  if (!rc && labels) {
    const int classes = sqz_model_num_classes(m);
    const char *ids[16], *names[16];
    char buf[16][32];
    for (int i = 0; i < classes && i < 16; i++) {
      snprintf(buf[i], sizeof buf[i], "class %d", i);
      ids[i] = "n01440764";
      names[i] = buf[i];
    }
    rc = sqz_model_set_labels(m, ids, names) != SQZ_OK;
  }
  for (int k = 0; !rc && k < 2; k++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s.sqzw", out_dir, k ? "model_load" : "sqzw", name);
    rc = sqz_model_save(m, path) != SQZ_OK;
  }
  if (rc) fprintf(stderr, "fuzz_make_seeds: model %s: %s\n", name, sqz_last_error());
  sqz_model_free(m);
  return rc;
}

static int models(void) {
  const sqz_layer_info plain[] = {
      {.name = "conv1",
       .kind = SQZ_LAYER_CONV,
       .out_channels = 4,
       .kernel = 3,
       .stride = 2,
       .relu = 1},
      {.name = "pool1", .kind = SQZ_LAYER_MAXPOOL, .kernel = 3, .stride = 2},
      {.name = "fire2", .kind = SQZ_LAYER_FIRE, .squeeze = 2, .expand1x1 = 2, .expand3x3 = 2},
      {.name = "fire3",
       .kind = SQZ_LAYER_FIRE,
       .squeeze = 2,
       .expand1x1 = 2,
       .expand3x3 = 2,
       .bypass = SQZ_BYPASS_SIMPLE},
      {.name = "fire4",
       .kind = SQZ_LAYER_FIRE,
       .squeeze = 2,
       .expand1x1 = 3,
       .expand3x3 = 3,
       .bypass = SQZ_BYPASS_COMPLEX},
      {.name = "conv10",
       .kind = SQZ_LAYER_CONV,
       .out_channels = 3,
       .kernel = 1,
       .stride = 1,
       .relu = 1},
      {.name = "avgpool", .kind = SQZ_LAYER_GLOBAL_AVGPOOL}};
  const sqz_layer_info shortest[] = {
      {.name = "conv1", .kind = SQZ_LAYER_CONV, .out_channels = 2, .kernel = 1, .stride = 1},
      {.name = "avgpool", .kind = SQZ_LAYER_GLOBAL_AVGPOOL}};
  return save_model("tiny", plain, 7, 17, 0) | save_model("tiny_labels", plain, 7, 12, 1) |
         save_model("shortest", shortest, 2, 2, 1);
}

static int labels(void) {
  static const char *const texts[] = {
      "\x01n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n",
      "\x02one\ntwo\nthree",
      "\x00only\r\n",
      "\x03n01440764\tname with tab\n\nn09999999 third\n",
  };
  int rc = 0;
  for (int i = 0; i < 4; i++) {
    char name[32];
    snprintf(name, sizeof name, "labels%d", i);
    /* The first byte (the class count) may be 0: the text starts after it. */
    rc |= write_file("labels", name, texts[i], 1 + strlen(texts[i] + 1));
  }
  return rc;
}

static int layer_lists(void) {
  /* h, w, then 6 bytes a layer: kind (0 conv, 1 pool, 2 fire, 3 avgpool), fields. */
  static const unsigned char v10_like[] = {40, 40, 0, 7, 2, 1, 0, 1, 1, 0, 2, 1, 0, 0, 2,
                                           1,  3,  3, 0, 0, 2, 1, 3, 3, 1, 0, 2, 2, 4, 4,
                                           2,  0,  0, 4, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0};
  static const unsigned char raw[] = {8, 8, 0, 0xf0, 0xfe, 1, 0, 0x80, 3, 0, 0, 0, 0, 0};
  return write_file("layers", "v10_like", v10_like, sizeof v10_like) |
         write_file("layers", "raw_fields", raw, sizeof raw);
}

/* A Deep Compression file (format: ../shared/data/README.md) storing
 * `stored` weights per layer at gaps cycling through 0..15: 43 KB with
 * none stored, where the real release is 676 KB, so mutations stay cheap. */
static int deep_compression(const char *name, unsigned stored) {
  /* The release's 26 convolutions in file order: conv1, then squeeze,
   * expand1x1, expand3x3 of fire2..fire9, then conv10. */
  static const int squeeze[8] = {16, 16, 32, 32, 48, 48, 64, 64};
  int outs[26] = {96};
  for (int f = 0; f < 8; f++) {
    outs[1 + 3 * f] = squeeze[f];
    outs[2 + 3 * f] = outs[3 + 3 * f] = 4 * squeeze[f];
  }
  outs[25] = 1000;
  size_t size = 4 * 26;
  for (int i = 0; i < 26; i++) size += 4 * 256 + 4 * (size_t)outs[i] + stored + (stored + 1) / 2;
  unsigned char *file = calloc(size, 1), *at = file;
  if (!file) return 1;
  for (int i = 0; i < 26; i++, at += 4) memcpy(at, &stored, 4); /* little-endian hosts */
  for (int i = 0; i < 26; i++) {
    for (int c = 1; c < 256; c++) { /* entry 0 stays 0, as the format wants */
      const float v = (float)(c - 128) / 256.0f;
      memcpy(at + 4 * c, &v, 4);
    }
    at += 4 * 256;
    for (int o = 0; o < outs[i]; o++, at += 4) {
      const float b = (float)(o % 5) * 0.01f;
      memcpy(at, &b, 4);
    }
    for (unsigned k = 0; k < stored; k++) *at++ = (unsigned char)(k * 37 + i);
    for (unsigned k = 0; k < stored; k += 2)
      *at++ = (unsigned char)((k % 16) | ((k + 1) % 16) << 4);
  }
  const int rc = write_file("deep_compression", name, file, size);
  free(file);
  return rc;
}

/* A test pattern of w x h RGB pixels. */
static unsigned char *pattern(int w, int h) {
  unsigned char *p = malloc((size_t)w * h * 3);
  for (int i = 0; p && i < w * h * 3; i++) p[i] = (unsigned char)(i * 29 + i / 7);
  return p;
}

static int pnm(void) {
  int rc = 0;
  unsigned char *p = pattern(7, 5);
  if (!p) return 1;
  char buf[512];
  int n = snprintf(buf, sizeof buf, "P6\n# a comment\n7 5\n255\n");
  memcpy(buf + n, p, 7 * 5 * 3);
  rc |= write_file("image", "rgb.ppm", buf, (size_t)n + 7 * 5 * 3);
  n = snprintf(buf, sizeof buf, "P5 7 5 255\n");
  memcpy(buf + n, p, 7 * 5);
  rc |= write_file("image", "gray.pgm", buf, (size_t)n + 7 * 5);
  n = snprintf(buf, sizeof buf, "P6\n3 2\n65535\n");
  memcpy(buf + n, p, 3 * 2 * 6);
  rc |= write_file("image", "rgb16.ppm", buf, (size_t)n + 3 * 2 * 6);
  free(p);
  return rc;
}

#ifdef SQZ_HAVE_PNG
static int png(const char *name, int color_type, int bit_depth, int w, int h, int interlace) {
  char path[4096];
  snprintf(path, sizeof path, "%s/image/%s", out_dir, name);
  FILE *f = fopen(path, "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  unsigned char *rows = malloc((size_t)w * h * 8);
  if (!f || !png || !info || !rows || setjmp(png_jmpbuf(png))) {
    fprintf(stderr, "fuzz_make_seeds: cannot write %s\n", path);
    return 1;
  }
  for (int i = 0; i < w * h * 8; i++) rows[i] = (unsigned char)(i * 13);
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth, color_type, interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    png_set_PLTE(png, info, palette, 4);
  }
  png_write_info(png, info);
  const int channels = color_type == PNG_COLOR_TYPE_RGB          ? 3
                       : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                       : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                                 : 1;
  const size_t stride = ((size_t)w * channels * bit_depth + 7) / 8;
  const int passes = interlace ? png_set_interlace_handling(png) : 1;
  for (int pass = 0; pass < passes; pass++)
    for (int y = 0; y < h; y++) png_write_row(png, rows + (size_t)y * stride);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  return fclose(f) != 0;
}
#endif

#ifdef SQZ_HAVE_JPEG
static int jpeg(const char *name, int gray, int progressive, int w, int h) {
  char path[4096];
  snprintf(path, sizeof path, "%s/image/%s", out_dir, name);
  FILE *f = fopen(path, "wb");
  unsigned char *p = pattern(w, h);
  if (!f || !p) return 1;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = gray ? 1 : 3;
  c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 75, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = p + (size_t)c.next_scanline * w * c.input_components;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  free(p);
  return fclose(f) != 0;
}
#endif

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_make_seeds OUT\n");
    return 2;
  }
  out_dir = argv[1];
  int rc = models() | labels() | layer_lists() | pnm() | deep_compression("none_stored.net", 0) |
           deep_compression("few_stored.net", 9);
#ifdef SQZ_HAVE_PNG
  rc |= png("rgb.png", PNG_COLOR_TYPE_RGB, 8, 9, 7, PNG_INTERLACE_NONE);
  rc |= png("gray.png", PNG_COLOR_TYPE_GRAY, 8, 5, 4, PNG_INTERLACE_NONE);
  rc |= png("gray1.png", PNG_COLOR_TYPE_GRAY, 1, 9, 3, PNG_INTERLACE_NONE);
  rc |= png("rgba16.png", PNG_COLOR_TYPE_RGB_ALPHA, 16, 4, 4, PNG_INTERLACE_NONE);
  rc |= png("palette.png", PNG_COLOR_TYPE_PALETTE, 2, 6, 5, PNG_INTERLACE_NONE);
  rc |= png("gray_alpha_interlaced.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 11, 9, PNG_INTERLACE_ADAM7);
#endif
#ifdef SQZ_HAVE_JPEG
  rc |= jpeg("rgb.jpg", 0, 0, 16, 12);
  rc |= jpeg("gray.jpg", 1, 0, 9, 9);
  rc |= jpeg("progressive.jpg", 0, 1, 20, 8);
#endif
  return rc;
}
