/* Shared pieces of the sqz command-line tool. */
#ifndef SQZ_APPS_CLI_H
#define SQZ_APPS_CLI_H

#include <stdio.h>

#include "json.h"
#include "sqz.h"

enum { CLI_OK = 0, CLI_RUNTIME_ERROR = 1, CLI_USAGE_ERROR = 2 };

/* Prints "sqz: <what>: <library message>" and returns CLI_RUNTIME_ERROR. */
int cli_fail(const char *what, sqz_status status);

/* Prints "sqz <command>: <message>" and a pointer to --help; returns
 * CLI_USAGE_ERROR. */
int cli_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A model from "builtin:NAME" or a file (.sqzw or Deep Compression); NULL
 * means built-in squeezenet1_1 with synthetic weights, which is said on
 * stderr. Labels from labels_path, when given, replace the model's. */
int cli_load_model(const char *spec, const char *labels_path, sqz_model **out);

/* Parses an integer in [lo, hi]; returns 0 on success. */
int cli_parse_int(const char *text, int lo, int hi, int *out);

typedef struct cli_engine_args {
  const char *backend;   /* NULL: auto */
  const char *precision; /* NULL: fp32 */
  int device;
  int max_batch;
} cli_engine_args;

/* Checks the names; returns 0, or CLI_USAGE_ERROR after printing why. */
int cli_check_engine_args(const char *command, const cli_engine_args *args);
int cli_make_engine(const sqz_model *model, const cli_engine_args *args, sqz_engine **out);

/* Whether the engine runs on the emulated device (its times are CPU times). */
int cli_engine_is_emulated(const sqz_engine *engine);

/* The options classify and eval share. */
typedef struct cli_run_options {
  const char *model, *labels;
  cli_engine_args engine;
  int json;
} cli_run_options;

enum { CLI_CONTINUE = -1 };

/* Parses -m/--model, -l/--labels, -b/--backend, -p/--precision, --device,
 * --batch, --json and -h/--help into o (defaults set by the caller).
 * Returns CLI_CONTINUE with optind at the first operand, or an exit status
 * (CLI_OK after printing the help, CLI_USAGE_ERROR after saying why). */
int cli_parse_run_options(const char *command, int argc, char **argv, void (*help)(FILE *),
                          cli_run_options *o);

/* Monotonic seconds. */
double cli_now(void);

int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_loadtest(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
