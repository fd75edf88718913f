/* A minimal C program linking libsqz: classifies one image with a model
 * file, or with built-in SqueezeNet v1.1 (synthetic weights) if none given.
 *
 *   classify IMAGE [MODEL]
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqz.h>

static int fail(const char *what, sqz_status st) {
  fprintf(stderr, "%s: %s: %s\n", what, sqz_status_string(st), sqz_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s IMAGE [MODEL]\n", argv[0]);
    return 2;
  }
  sqz_model *model = NULL;
  sqz_status st =
      argc > 2 ? sqz_model_load(argv[2], &model) : sqz_model_builtin("squeezenet1_1", 0, &model);
  if (st != SQZ_OK) return fail("model", st);

  sqz_engine *engine = NULL;
  st = sqz_engine_create(model, NULL, &engine); /* best backend, batch 1 */
  if (st != SQZ_OK) return fail("engine", st);

  sqz_image *image = NULL;
  st = sqz_image_load(argv[1], &image);
  if (st != SQZ_OK) return fail("image", st);
  int c, h, w;
  sqz_model_input_shape(model, &c, &h, &w);
  unsigned char *pixels = malloc((size_t)h * w * 3);
  float *probs = malloc(sizeof(float) * (size_t)sqz_model_num_classes(model));
  if (!pixels || !probs) return 1;
  sqz_image_prepare(model, image, pixels);
  st = sqz_engine_run_images(engine, pixels, 1, SQZ_OUTPUT_PROBS, probs);
  if (st != SQZ_OK) return fail("run", st);

  int top[5];
  float p[5];
  sqz_top_k(probs, sqz_model_num_classes(model), 5, top, p);
  printf("%s on %s:\n", sqz_model_name(model), sqz_engine_describe(engine));
  for (int i = 0; i < 5; i++) {
    const char *label = sqz_model_label(model, top[i]);
    printf("  %.4f  %s\n", p[i], label ? label : "(no label)");
  }
  free(pixels);
  free(probs);
  sqz_image_free(image);
  sqz_engine_free(engine);
  sqz_model_free(model);
  return 0;
}
