/* The public header compiles as C, and the shared library links from C. */
#include <stdio.h>
#include <string.h>

#include "sqz.h"

int main(void) {
  sqz_model *model = NULL;
  sqz_engine *engine = NULL;
  sqz_engine_options options = sqz_engine_options_default();
  float probs[1000];
  int top[5];
  static unsigned char image[32 * 32 * 3];
  if (strcmp(sqz_version(), SQZ_VERSION_STRING) != 0) return 1;
  if (sqz_model_builtin("squeezenet1_1", 0, &model) != SQZ_OK) return 2;
  if (sqz_model_set_input_size(model, 32, 32) != SQZ_OK) return 3;
  options.backend = SQZ_BACKEND_CPU;
  if (sqz_engine_create(model, &options, &engine) != SQZ_OK) return 4;
  if (sqz_engine_run_images(engine, image, 1, SQZ_OUTPUT_PROBS, probs) != SQZ_OK) return 5;
  if (sqz_top_k(probs, 1000, 5, top, NULL) != SQZ_OK) return 6;
  if (sqz_engine_run_images(engine, image, 2, SQZ_OUTPUT_PROBS, probs) != SQZ_ERR_INVALID_ARGUMENT)
    return 7;
  printf("C API ok: top-1 class %d; refused batch 2: %s\n", top[0], sqz_last_error());
  sqz_engine_free(engine);
  sqz_model_free(model);
  return 0;
}
