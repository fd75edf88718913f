/* sqz-bench: the benchmark of sqz engines. Parses the options, loads the
 * models, builds the matrix, runs it and writes the Markdown and the JSON.
 * `sqz-bench --help` lists everything; docs/benchmarks.md explains it. */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "device_info.h"
#include "matrix.h"
#include "model_spec.h"
#include "options.h"
#include "report.h"
#include "runner.h"

enum { MAX_ALL_MODELS = BENCH_MAX_MODELS + 16 };

static char *join_args(int argc, char **argv) {
  size_t n = 1;
  for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 3;
  char *s = malloc(n);
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = 0; i < argc; i++) {
    if (i) strcat(s, " ");
    int quote = strpbrk(argv[i], " \t;&|*?$'\"") != NULL;
    if (quote) strcat(s, "'");
    strcat(s, argv[i]);
    if (quote) strcat(s, "'");
  }
  return s;
}

static void print_matrix(const bench_model *models, const bench_config *cfg, int n) {
  printf("%d configurations (one engine each):\n", n);
  for (int i = 0; i < n; i++) {
    const bench_config *c = &cfg[i];
    printf("%4d  %s %s %s batch %d input %d graphs %s:", i + 1, models[c->model].label,
           sqz_backend_name(c->backend), sqz_precision_name(c->precision), c->batch, c->input,
           bench_onoff(c->graphs));
    for (int k = 0; k < BENCH_NUM_KINDS; k++)
      if (c->kinds & (1u << k)) printf(" %s", bench_kind_name((bench_kind)k));
    printf("\n");
  }
}

/* Whether an earlier model has models[i]'s label. */
static int label_taken(const bench_model *models, int i) {
  for (int j = 0; j < i; j++)
    if (strcmp(models[i].label, models[j].label) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  static bench_options opt;
  int rc = bench_parse_options(argc, argv, &opt);
  if (rc < 0) return BENCH_OK; /* --help, --version */
  if (rc) return rc;
  char *command = join_args(argc, argv);
  opt.command_line = command ? command : "sqz-bench";

  static bench_model models[MAX_ALL_MODELS];
  int num_models = 0;
  for (int i = 0; i < opt.num_models; i++) {
    rc = bench_model_load(opt.models[i], opt.seed, &models[num_models]);
    if (rc) goto done;
    num_models++;
  }
  const int sweep_start = num_models;
  if (opt.kinds & (1u << BENCH_SWEEP)) {
    int n = bench_sweep_models(opt.seed, models + num_models, MAX_ALL_MODELS - num_models);
    if (n < 0) {
      rc = BENCH_RUNTIME_ERROR;
      goto done;
    }
    num_models += n;
  }
  /* Labels name the models in the output: make repeated ones unique. */
  for (int i = 1; i < num_models; i++) {
    char original[sizeof models[i].label];
    snprintf(original, sizeof original, "%s", models[i].label);
    for (int copy = 2; label_taken(models, i); copy++)
      snprintf(models[i].label, sizeof models[i].label, "%.100s#%d", original, copy);
  }
  if (opt.save_models_dir && !opt.list_only)
    for (int i = 0; i < num_models; i++)
      if ((rc = bench_model_save(&models[i], opt.save_models_dir)) != BENCH_OK) goto done;

  bench_config *configs = NULL;
  int num_configs = bench_build_matrix(&opt, models, num_models, sweep_start, &configs);
  if (num_configs < 0) {
    rc = BENCH_RUNTIME_ERROR;
    goto done;
  }
  if (opt.list_only) {
    print_matrix(models, configs, num_configs);
    free(configs);
    rc = BENCH_OK;
    goto done;
  }

  const double started = bench_now();
  bench_result_list results = {NULL, 0, 0};
  bench_runner runner;
  bench_runner_init(&runner, &opt, num_configs);
  if (!opt.quiet)
    fprintf(stderr, "sqz-bench: %d configurations, %d models\n", num_configs, num_models);
#ifdef SQZ_EMULATED_DEVICE
  /* Always, quiet or not: these numbers must never pass for GPU numbers. */
  fprintf(stderr,
          "sqz-bench: the GPU is emulated on the CPU (an emulation build): every time below is "
          "CPU time of the emulation, not a GPU time; never publish it as one\n");
#endif
  int failed = 0;
  for (int i = 0; i < num_configs; i++)
    if (bench_run_config(&runner, &models[configs[i].model], &configs[i], &results) != BENCH_OK)
      failed = 1;

  /* The device the numbers belong to: the GPU if one ran, else the host. */
  bench_device_info device;
  bench_device_info_collect(runner.gpu_used || runner.gpu_count > 0, opt.device, &device);
  bench_runner_free(&runner);

  bench_report report;
  memset(&report, 0, sizeof report);
  report.opt = &opt;
  report.models = models;
  report.num_models = num_models;
  report.sweep_start = sweep_start;
  report.results = &results;
  report.device = &device;
  report.wall_s = bench_now() - started;
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(report.created, sizeof report.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  report.ratio_base = bench_ratio_base(&results, opt.ratio_base);
  bench_ratio *ratios = NULL;
  report.num_ratios = report.ratio_base == SQZ_BACKEND_AUTO
                          ? 0
                          : bench_compute_ratios(&results, report.ratio_base, &ratios);
  if (report.num_ratios < 0) {
    report.num_ratios = 0;
    failed = 1;
  }
  report.ratios = ratios;

  if (opt.json_path && bench_write_atomically(opt.json_path, bench_write_json, &report)) failed = 1;
  if (opt.markdown_path && bench_write_atomically(opt.markdown_path, bench_write_markdown, &report))
    failed = 1;
  bench_write_markdown(stdout, &report);
  fflush(stdout);
  if (!opt.quiet) {
    int measured = bench_results_count(&results, BENCH_MEASURED);
    int skipped = bench_results_count(&results, BENCH_SKIPPED);
    int bad = bench_results_count(&results, BENCH_FAILED);
    fprintf(stderr, "sqz-bench: %d measured, %d skipped, %d failed in %.1f s%s%s\n", measured,
            skipped, bad, report.wall_s, opt.json_path ? "; JSON: " : "",
            opt.json_path ? opt.json_path : "");
  }
  free(ratios);
  bench_results_free(&results);
  free(configs);
  rc = failed ? BENCH_RUNTIME_ERROR : BENCH_OK;

done:
  for (int i = 0; i < num_models; i++) bench_model_free(&models[i]);
  free(command);
  return rc;
}
