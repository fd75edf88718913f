#define _GNU_SOURCE /* optind */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(
      out,
      "Usage: sqz classify [OPTIONS] IMAGE...\n"
      "\n"
      "Prints the five most likely classes of each image with their probabilities.\n"
      "Images: binary PPM/PGM, and JPEG and PNG when built with libjpeg/libpng.\n"
      "Each is resized and centre-cropped as the model's preprocessing says.\n"
      "\n"
      "Options:\n"
      "  -m, --model MODEL      .sqzw or Deep Compression file, or builtin:NAME\n"
      "                         (default: builtin:squeezenet1_1, synthetic weights)\n"
      "  -l, --labels FILE      class names, one per line (\"wnid name\" or \"name\")\n"
      "  -b, --backend NAME     auto, cpu, cudnn, unfused or fused (default auto)\n"
      "  -p, --precision NAME   fp32 or fp16 (default fp32)\n"
      "      --device N         CUDA device (default 0)\n"
      "      --batch N          images per engine run (default 8)\n"
      "      --json             one JSON object per image:\n"
      "                         {\"file\":..,\"top5\":[{\"index\":..,\"label\":..,\"prob\":..}]}\n"
      "  -h, --help             this help\n"
      "\n"
      "An image that cannot be read is reported and skipped; the exit status is\n"
      "then 1.\n");
}

static void print_result(const sqz_model *m, const char *file, const float *probs, int json) {
  int k = sqz_model_num_classes(m) < 5 ? sqz_model_num_classes(m) : 5;
  int idx[5];
  float val[5];
  sqz_top_k(probs, sqz_model_num_classes(m), k, idx, val);
  if (json) {
    fputs("{\"file\":", stdout);
    json_write_string(stdout, file);
    fputs(",\"top5\":[", stdout);
    for (int i = 0; i < k; i++) {
      printf("%s{\"index\":%d,\"label\":", i ? "," : "", idx[i]);
      json_write_string(stdout, sqz_model_label(m, idx[i]));
      printf(",\"prob\":%.6g}", val[i]);
    }
    fputs("]}\n", stdout);
    return;
  }
  printf("%s\n", file);
  for (int i = 0; i < k; i++) {
    const char *label = sqz_model_label(m, idx[i]);
    if (label)
      printf("  %6.2f%%  %s (class %d)\n", 100.0 * val[i], label, idx[i]);
    else
      printf("  %6.2f%%  class %d\n", 100.0 * val[i], idx[i]);
  }
}

typedef struct classify_state {
  sqz_model *model;
  sqz_engine *engine;
  uint8_t *pixels;
  float *probs;
  const char **files; /* of the images in the current batch */
  int json;
} classify_state;

static int flush_batch(classify_state *s, int count) {
  if (count == 0) return CLI_OK;
  sqz_status st = sqz_engine_run_images(s->engine, s->pixels, count, SQZ_OUTPUT_PROBS, s->probs);
  if (st != SQZ_OK) return cli_fail("running the engine", st);
  int classes = sqz_model_num_classes(s->model);
  for (int i = 0; i < count; i++)
    print_result(s->model, s->files[i], s->probs + (size_t)i * classes, s->json);
  fflush(stdout);
  return CLI_OK;
}

static int classify_all(classify_state *s, char **images, int n, int batch) {
  int c, h, w, failures = 0, count = 0;
  sqz_model_input_shape(s->model, &c, &h, &w);
  const size_t image_bytes = (size_t)h * w * 3;
  for (int i = 0; i < n; i++) {
    sqz_image *img;
    sqz_status st = sqz_image_load(images[i], &img);
    if (st == SQZ_OK) {
      st = sqz_image_prepare(s->model, img, s->pixels + (size_t)count * image_bytes);
      sqz_image_free(img);
    }
    if (st != SQZ_OK) {
      cli_fail(images[i], st);
      failures++;
      continue;
    }
    s->files[count++] = images[i];
    if (count == batch) {
      if (flush_batch(s, count) != CLI_OK) return CLI_RUNTIME_ERROR;
      count = 0;
    }
  }
  if (flush_batch(s, count) != CLI_OK) return CLI_RUNTIME_ERROR;
  return failures ? CLI_RUNTIME_ERROR : CLI_OK;
}

int cmd_classify(int argc, char **argv) {
  cli_run_options o = {NULL, NULL, {NULL, NULL, 0, 8}, 0};
  int rc = cli_parse_run_options("classify", argc, argv, help, &o);
  if (rc != CLI_CONTINUE) return rc;
  const int json = o.json;
  cli_engine_args eargs = o.engine;
  const char *model_path = o.model, *labels = o.labels;
  int n = argc - optind;
  if (n < 1) return cli_usage("classify", "no images given");
  if (eargs.max_batch > n) eargs.max_batch = n;

  classify_state s;
  memset(&s, 0, sizeof s);
  s.json = json;
  rc = cli_load_model(model_path, labels, &s.model);
  if (rc == CLI_OK) rc = cli_make_engine(s.model, &eargs, &s.engine);
  if (rc == CLI_OK) {
    int c, h, w;
    sqz_model_input_shape(s.model, &c, &h, &w);
    s.pixels = malloc((size_t)eargs.max_batch * h * w * 3);
    s.probs = malloc((size_t)eargs.max_batch * sqz_model_num_classes(s.model) * sizeof(float));
    s.files = malloc((size_t)eargs.max_batch * sizeof *s.files);
    if (!s.pixels || !s.probs || !s.files) {
      fprintf(stderr, "sqz: out of memory\n");
      rc = CLI_RUNTIME_ERROR;
    }
  }
  if (rc == CLI_OK) rc = classify_all(&s, argv + optind, n, eargs.max_batch);
  free(s.pixels);
  free(s.probs);
  free(s.files);
  sqz_engine_free(s.engine);
  sqz_model_free(s.model);
  return rc;
}
