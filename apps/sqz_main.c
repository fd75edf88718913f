/* sqz: classify images, evaluate accuracy, convert and inspect models. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "Usage: sqz COMMAND [OPTIONS] ...\n"
          "\n"
          "SqueezeNet inference on NVIDIA GPUs, with a CPU reference.\n"
          "\n"
          "Commands:\n"
          "  classify   top-5 classes of images\n"
          "  eval       top-1/top-5 accuracy over a folder of labelled images\n"
          "  convert    convert a model file (e.g. Deep Compression) to .sqzw\n"
          "  info       architecture, parameters, MACs and preprocessing of a model\n"
          "  loadtest   requests/s and latency of the dynamic batcher under concurrent clients\n"
          "  serve      serve a model through Triton Inference Server (python3 -m sqz.serve)\n"
          "\n"
          "Models are .sqzw files, Deep Compression SqueezeNet v1.0 files (recognised\n"
          "by content), or built-ins named builtin:squeezenet1_0, builtin:squeezenet1_1,\n"
          "builtin:squeezenet1_0_simple_bypass, builtin:squeezenet1_0_complex_bypass\n"
          "(synthetic weights).\n"
          "\n"
          "Options:\n"
          "  -h, --help     this help; 'sqz COMMAND --help' for a command's\n"
          "  --version      the library version\n"
          "\n"
          "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE_ERROR;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return CLI_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("sqz %s\n", sqz_version());
    return CLI_OK;
  }
  if (strcmp(cmd, "classify") == 0) return cmd_classify(argc - 1, argv + 1);
  if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
  if (strcmp(cmd, "convert") == 0) return cmd_convert(argc - 1, argv + 1);
  if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
  if (strcmp(cmd, "loadtest") == 0) return cmd_loadtest(argc - 1, argv + 1);
  if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
  fprintf(stderr, "sqz: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return CLI_USAGE_ERROR;
}
