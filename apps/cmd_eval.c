#define _GNU_SOURCE /* getopt_long */
#include <ctype.h>
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "Usage: sqz eval [OPTIONS] DIR\n"
          "\n"
          "Top-1 and top-5 accuracy over the images in DIR (.ppm .pgm .jpg .jpeg\n"
          ".png). Each file's true class is the ImageNet wnid (n########) in its name,\n"
          "looked up in the labels. Prints the image count, top-1, top-5 and images/s\n"
          "(end to end: decoding, resizing and inference). A progress bar is shown on\n"
          "a terminal.\n"
          "\n"
          "Options:\n"
          "  -m, --model MODEL      .sqzw or Deep Compression file, or builtin:NAME\n"
          "  -l, --labels FILE      class labels with wnids (e.g. synset_words.txt);\n"
          "                         needed unless the model has them embedded\n"
          "  -b, --backend NAME     auto, cpu, cudnn, unfused or fused (default auto)\n"
          "  -p, --precision NAME   fp32 or fp16 (default fp32)\n"
          "      --device N         CUDA device (default 0)\n"
          "      --batch N          images per engine run (default 16)\n"
          "      --json             print {\"n\":..,\"top1\":..,\"top5\":..,\"images_per_s\":..}\n"
          "  -h, --help             this help\n");
}

static int has_image_extension(const char *name) {
  static const char *const exts[] = {".ppm", ".pgm",  ".jpg", ".jpeg",
                                     ".png", ".JPEG", ".JPG", ".PNG"};
  size_t n = strlen(name);
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
    size_t e = strlen(exts[i]);
    if (n > e && strcmp(name + n - e, exts[i]) == 0) return 1;
  }
  return 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(char **list, int n) {
  for (int i = 0; i < n; i++) free(list[i]);
  free(list);
}

/* The image files of dir, sorted, as "dir/name". */
static int list_images(const char *dir, char ***out, int *count) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "sqz: %s: cannot open the folder\n", dir);
    return CLI_RUNTIME_ERROR;
  }
  char **list = NULL;
  int n = 0, cap = 0;
  struct dirent *ent;
  while ((ent = readdir(d))) {
    if (ent->d_name[0] == '.' || !has_image_extension(ent->d_name)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      char **grown = realloc(list, (size_t)cap * sizeof *list);
      if (!grown) break;
      list = grown;
    }
    size_t len = strlen(dir) + strlen(ent->d_name) + 2;
    if (!(list[n] = malloc(len))) break;
    snprintf(list[n], len, "%s/%s", dir, ent->d_name);
    n++;
  }
  closedir(d);
  if (ent) {
    free_list(list, n);
    fprintf(stderr, "sqz: out of memory listing %s\n", dir);
    return CLI_RUNTIME_ERROR;
  }
  if (n == 0) {
    free(list);
    fprintf(stderr, "sqz: %s: no images (.ppm .pgm .jpg .jpeg .png) in the folder\n", dir);
    return CLI_RUNTIME_ERROR;
  }
  qsort(list, (size_t)n, sizeof *list, compare_names);
  *out = list;
  *count = n;
  return CLI_OK;
}

/* The class of the first "n" + 8 digits in the file's base name, or -1. */
static int true_class(const sqz_model *m, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  for (const char *p = base; *p; p++) {
    if (*p != 'n') continue;
    int digits = 0;
    while (digits < 8 && isdigit((unsigned char)p[1 + digits])) digits++;
    if (digits == 8 && !isdigit((unsigned char)p[9])) {
      char id[10];
      memcpy(id, p, 9);
      id[9] = '\0';
      return sqz_model_find_label_id(m, id);
    }
  }
  return -1;
}

static void progress(int done, int total, double rate) {
  enum { WIDTH = 40 };
  int filled = total ? done * WIDTH / total : WIDTH;
  fprintf(stderr, "\r[");
  for (int i = 0; i < WIDTH; i++) fputc(i < filled ? '=' : ' ', stderr);
  fprintf(stderr, "] %d/%d  %.1f images/s", done, total, rate);
  if (done == total) fputc('\n', stderr);
  fflush(stderr);
}

typedef struct eval_state {
  sqz_model *model;
  sqz_engine *engine;
  uint8_t *pixels;
  float *logits;
  int *truth;
  int top1, top5;
} eval_state;

static int score_batch(eval_state *s, int count) {
  sqz_status st = sqz_engine_run_images(s->engine, s->pixels, count, SQZ_OUTPUT_LOGITS, s->logits);
  if (st != SQZ_OK) return cli_fail("running the engine", st);
  int classes = sqz_model_num_classes(s->model);
  int k = classes < 5 ? classes : 5;
  for (int i = 0; i < count; i++) {
    int idx[5];
    sqz_top_k(s->logits + (size_t)i * classes, classes, k, idx, NULL);
    for (int j = 0; j < k; j++)
      if (idx[j] == s->truth[i]) {
        s->top1 += j == 0;
        s->top5++;
      }
  }
  return CLI_OK;
}

static int evaluate(eval_state *s, char **files, int n, int batch, int show_progress) {
  int c, h, w, count = 0;
  sqz_model_input_shape(s->model, &c, &h, &w);
  const size_t image_bytes = (size_t)h * w * 3;
  double start = cli_now();
  for (int i = 0; i < n; i++) {
    s->truth[count] = true_class(s->model, files[i]);
    if (s->truth[count] < 0) {
      fprintf(stderr, "\nsqz: %s: no wnid (n########) of a known class in the file name\n",
              files[i]);
      return CLI_RUNTIME_ERROR;
    }
    sqz_image *img;
    sqz_status st = sqz_image_load(files[i], &img);
    if (st == SQZ_OK) {
      st = sqz_image_prepare(s->model, img, s->pixels + (size_t)count * image_bytes);
      sqz_image_free(img);
    }
    if (st != SQZ_OK) {
      if (show_progress) fputc('\n', stderr);
      return cli_fail(files[i], st);
    }
    if (++count == batch || i == n - 1) {
      if (score_batch(s, count) != CLI_OK) return CLI_RUNTIME_ERROR;
      count = 0;
      if (show_progress) progress(i + 1, n, (i + 1) / (cli_now() - start));
    }
  }
  return CLI_OK;
}

int cmd_eval(int argc, char **argv) {
  cli_run_options o = {NULL, NULL, {NULL, NULL, 0, 16}, 0};
  int rc = cli_parse_run_options("eval", argc, argv, help, &o);
  if (rc != CLI_CONTINUE) return rc;
  const int json = o.json;
  cli_engine_args eargs = o.engine;
  const char *model_path = o.model, *labels = o.labels;
  if (argc - optind != 1) return cli_usage("eval", "expected one DIR");
  if (!model_path) return cli_usage("eval", "--model is required");

  eval_state s;
  memset(&s, 0, sizeof s);
  char **files = NULL;
  int n = 0;
  rc = cli_load_model(model_path, labels, &s.model);
  if (rc == CLI_OK && !sqz_model_label_id(s.model, 0)) {
    fprintf(stderr, "sqz: eval needs labels with wnids: pass --labels synset_words.txt\n");
    rc = CLI_USAGE_ERROR;
  }
  if (rc == CLI_OK) rc = list_images(argv[optind], &files, &n);
  if (rc == CLI_OK && eargs.max_batch > n) eargs.max_batch = n;
  if (rc == CLI_OK) rc = cli_make_engine(s.model, &eargs, &s.engine);
  if (rc == CLI_OK) {
    int c, h, w;
    sqz_model_input_shape(s.model, &c, &h, &w);
    s.pixels = malloc((size_t)eargs.max_batch * h * w * 3);
    s.logits = malloc((size_t)eargs.max_batch * sqz_model_num_classes(s.model) * sizeof(float));
    s.truth = malloc((size_t)eargs.max_batch * sizeof(int));
    if (!s.pixels || !s.logits || !s.truth) {
      fprintf(stderr, "sqz: out of memory\n");
      rc = CLI_RUNTIME_ERROR;
    }
  }
  double start = cli_now();
  if (rc == CLI_OK) rc = evaluate(&s, files, n, eargs.max_batch, isatty(STDERR_FILENO));
  double rate = n / (cli_now() - start);
  if (rc == CLI_OK) {
    if (json)
      printf("{\"n\":%d,\"top1\":%.6g,\"top5\":%.6g,\"images_per_s\":%.6g%s}\n", n,
             (double)s.top1 / n, (double)s.top5 / n, rate,
             cli_engine_is_emulated(s.engine) ? ",\"emulated_device\":true" : "");
    else
      printf("images: %d  top-1: %.2f%% (%d)  top-5: %.2f%% (%d)  images/s: %.1f%s  [%s]\n", n,
             100.0 * s.top1 / n, s.top1, 100.0 * s.top5 / n, s.top5, rate,
             cli_engine_is_emulated(s.engine) ? " (emulated device: CPU time)" : "",
             sqz_engine_describe(s.engine));
  }
  free(s.pixels);
  free(s.logits);
  free(s.truth);
  free_list(files, n);
  sqz_engine_free(s.engine);
  sqz_model_free(s.model);
  return rc;
}
