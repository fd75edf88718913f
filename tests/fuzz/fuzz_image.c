/* The image decoders (PPM/PGM, JPEG, PNG, recognised by content), then the
 * model's preparation (resize and centre crop) and a resize. */
#include "fuzz_contract.h"

/* A one-layer model at a 21x21 input, resizing the shorter side to 24. */
static sqz_model *small_model(void) {
  const sqz_layer_info layers[] = {
      {.name = "conv1", .kind = SQZ_LAYER_CONV, .out_channels = 2, .kernel = 1, .stride = 1},
      {.name = "avgpool", .kind = SQZ_LAYER_GLOBAL_AVGPOOL}};
  sqz_model *m = NULL;
  if (sqz_model_create("image", 21, 21, layers, 2, &m) != SQZ_OK) return NULL;
  sqz_preprocess p;
  sqz_model_preprocess(m, &p);
  p.resize_size = 24; /* keeps each run cheap; the code paths are the same */
  if (sqz_model_set_preprocess(m, &p) != SQZ_OK) {
    sqz_model_free(m);
    return NULL;
  }
  return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sqz_model *model;
  if (!model) model = small_model();
  if (!model) fuzz_check_failure(SQZ_ERR_INTERNAL);
  sqz_image *image = NULL;
  sqz_status st = sqz_image_decode(data, size, &image);
  if (st != SQZ_OK) {
    fuzz_check_failure(st);
    return 0;
  }
  if (!image || image->width < 1 || image->height < 1 || !image->pixels)
    fuzz_check_failure(SQZ_ERR_INTERNAL);
  /* Touch every pixel, so that a short buffer is an ASan report. */
  unsigned sum = 0;
  for (size_t i = 0; i < (size_t)image->width * image->height * 3; i++) sum += image->pixels[i];
  (void)sum;
  uint8_t prepared[21 * 21 * 3], resized[5 * 3 * 3];
  if (sqz_image_prepare(model, image, prepared) != SQZ_OK) fuzz_check_failure(SQZ_ERR_INTERNAL);
  if (sqz_image_resize(image, 5, 3, resized) != SQZ_OK) fuzz_check_failure(SQZ_ERR_INTERNAL);
  sqz_image_free(image);
  return 0;
}
