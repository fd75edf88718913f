#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "Usage: sqz convert [OPTIONS] IN OUT\n"
          "\n"
          "Reads a model (.sqzw, a Deep Compression SqueezeNet v1.0 file, or\n"
          "builtin:NAME) and writes it as .sqzw. OUT is replaced only once it is\n"
          "completely written.\n"
          "\n"
          "Options:\n"
          "  -l, --labels FILE   embed these class labels (e.g. synset_words.txt)\n"
          "  -h, --help          this help\n");
}

int cmd_convert(int argc, char **argv) {
  static const struct option options[] = {
      {"labels", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *labels = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "l:h", options, NULL)) != -1) {
    switch (opt) {
      case 'l': labels = optarg; break;
      case 'h': help(stdout); return CLI_OK;
      default: return cli_usage("convert", "bad option");
    }
  }
  if (argc - optind != 2) return cli_usage("convert", "expected IN and OUT");
  const char *in = argv[optind], *out = argv[optind + 1];
  sqz_model *m;
  int rc = cli_load_model(in, labels, &m);
  if (rc != CLI_OK) return rc;
  sqz_status st = sqz_model_save(m, out);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return cli_fail("saving the model", st);
  }
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  printf("wrote %s: %s, %llu parameters, input %dx%dx%d, %d classes, %s\n", out, sqz_model_name(m),
         (unsigned long long)sqz_model_param_count(m), c, h, w, sqz_model_num_classes(m),
         sqz_model_label(m, 0) ? "labels embedded" : "no labels");
  sqz_model_free(m);
  return CLI_OK;
}
