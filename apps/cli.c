#define _GNU_SOURCE /* getopt_long */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_fail(const char *what, sqz_status status) {
  const char *detail = sqz_last_error();
  fprintf(stderr, "sqz: %s: %s%s%s\n", what, sqz_status_string(status), detail[0] ? ": " : "",
          detail);
  return CLI_RUNTIME_ERROR;
}

int cli_usage(const char *command, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  fprintf(stderr, "sqz %s: ", command);
  vfprintf(stderr, fmt, args);
  va_end(args);
  fprintf(stderr, "\nTry 'sqz %s --help'.\n", command);
  return CLI_USAGE_ERROR;
}

int cli_load_model(const char *spec, const char *labels_path, sqz_model **out) {
  sqz_status st;
  sqz_model *m = NULL;
  if (!spec) {
    fprintf(stderr,
            "sqz: no --model given: using built-in squeezenet1_1 with synthetic "
            "(untrained) weights, so predictions are meaningless\n");
    st = sqz_model_builtin("squeezenet1_1", 0, &m);
  } else if (strncmp(spec, "builtin:", 8) == 0) {
    st = sqz_model_builtin(spec + 8, 0, &m);
  } else {
    st = sqz_model_load(spec, &m);
  }
  if (st != SQZ_OK) return cli_fail("loading the model", st);
  if (labels_path) {
    st = sqz_model_load_labels(m, labels_path);
    if (st != SQZ_OK) {
      sqz_model_free(m);
      return cli_fail("loading the labels", st);
    }
  }
  *out = m;
  return CLI_OK;
}

int cli_parse_int(const char *text, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int cli_check_engine_args(const char *command, const cli_engine_args *args) {
  if (args->backend && sqz_backend_parse(args->backend, NULL) != SQZ_OK)
    return cli_usage(command, "%s", sqz_last_error());
  if (args->precision && sqz_precision_parse(args->precision, NULL) != SQZ_OK)
    return cli_usage(command, "%s", sqz_last_error());
  return CLI_OK;
}

int cli_make_engine(const sqz_model *model, const cli_engine_args *args, sqz_engine **out) {
  sqz_engine_options o = sqz_engine_options_default();
  if (args->backend) sqz_backend_parse(args->backend, &o.backend);
  if (args->precision) sqz_precision_parse(args->precision, &o.precision);
  o.device = args->device;
  o.max_batch = args->max_batch;
  sqz_status st = sqz_engine_create(model, &o, out);
  if (st != SQZ_OK) return cli_fail("creating the engine", st);
  if (cli_engine_is_emulated(*out))
    fprintf(stderr,
            "sqz: the GPU is emulated on the CPU (an emulation build): results are the real "
            "kernels', every time and rate is CPU time, not GPU time\n");
  return CLI_OK;
}

int cli_engine_is_emulated(const sqz_engine *engine) {
  return strstr(sqz_engine_describe(engine), "emulated device") != NULL;
}

int cli_parse_run_options(const char *command, int argc, char **argv, void (*help)(FILE *),
                          cli_run_options *o) {
  static const struct option options[] = {{"model", required_argument, 0, 'm'},
                                          {"labels", required_argument, 0, 'l'},
                                          {"backend", required_argument, 0, 'b'},
                                          {"precision", required_argument, 0, 'p'},
                                          {"device", required_argument, 0, 'd'},
                                          {"batch", required_argument, 0, 'B'},
                                          {"json", no_argument, 0, 'j'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "m:l:b:p:h", options, NULL)) != -1) {
    switch (opt) {
      case 'm': o->model = optarg; break;
      case 'l': o->labels = optarg; break;
      case 'b': o->engine.backend = optarg; break;
      case 'p': o->engine.precision = optarg; break;
      case 'd':
        if (cli_parse_int(optarg, 0, 1024, &o->engine.device))
          return cli_usage(command, "--device needs a number 0..1024, got '%s'", optarg);
        break;
      case 'B':
        if (cli_parse_int(optarg, 1, 4096, &o->engine.max_batch))
          return cli_usage(command, "--batch needs a number 1..4096, got '%s'", optarg);
        break;
      case 'j': o->json = 1; break;
      case 'h': help(stdout); return CLI_OK;
      default: return cli_usage(command, "bad option");
    }
  }
  if (cli_check_engine_args(command, &o->engine)) return CLI_USAGE_ERROR;
  return CLI_CONTINUE;
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
