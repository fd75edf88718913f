/* sqz-bench: parsing the command line. Every option, its default and its
 * syntax is in bench_print_help; lists are comma-separated and options that
 * take a list replace the default (-m may also be repeated). */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench_version.h"

static const int kDefaultBatches[] = {1, 8, 32, 64, 128, 256};
static const char *const kDefaultModels[] = {"squeezenet1_0", "squeezenet1_1",
                                             "squeezenet1_0_simple_bypass",
                                             "squeezenet1_0_complex_bypass", "meta:SR=0.75"};

static int usage(const char *fmt, const char *arg) {
  fputs("sqz-bench: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nTry 'sqz-bench --help'.\n", stderr);
  return BENCH_USAGE_ERROR;
}

static int gpu_built(void) {
  return sqz_backend_is_built(SQZ_BACKEND_CUDNN) || sqz_backend_is_built(SQZ_BACKEND_UNFUSED);
}

/* The default backends: the GPU ones in a CUDA build (unavailable ones are
 * skipped at run time), the cpu backend otherwise. */
static void default_backends(sqz_backend *out, int *n) {
  *n = 0;
  if (gpu_built()) {
    out[(*n)++] = SQZ_BACKEND_FUSED;
    out[(*n)++] = SQZ_BACKEND_CUDNN;
    out[(*n)++] = SQZ_BACKEND_UNFUSED;
  } else {
    out[(*n)++] = SQZ_BACKEND_CPU;
  }
}

static int parse_int(const char *text, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int parse_double(const char *text, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

/* Splits a comma-separated list into tokens (in a copy); calls fn on each. */
typedef int (*token_fn)(const char *token, void *ctx);
static int for_each_token(const char *list, token_fn fn, void *ctx) {
  char buf[4096];
  if (strlen(list) >= sizeof buf) return usage("list too long: '%s'", list);
  strcpy(buf, list);
  char *save = NULL;
  int any = 0;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int rc = fn(t, ctx);
    if (rc) return rc;
    any = 1;
  }
  return any ? BENCH_OK : usage("empty list '%s'", list);
}

typedef struct int_list {
  int *values, *count, lo, hi;
  const char *what;
} int_list;

static int add_int(const char *t, void *ctx) {
  int_list *l = ctx;
  int v;
  if (parse_int(t, l->lo, l->hi, &v)) {
    fprintf(stderr, "sqz-bench: %s must be integers in %d..%d, got '%s'\n", l->what, l->lo, l->hi,
            t);
    return BENCH_USAGE_ERROR;
  }
  if (*l->count >= BENCH_MAX_LIST) return usage("too many %s (at most 32)", l->what);
  l->values[(*l->count)++] = v;
  return BENCH_OK;
}

static int parse_int_list(const char *list, const char *what, int lo, int hi, int *values,
                          int *count) {
  int_list l = {values, count, lo, hi, what};
  *count = 0;
  return for_each_token(list, add_int, &l);
}

typedef struct backend_list {
  sqz_backend *values;
  int *count;
} backend_list;

static int add_backend(const char *t, void *ctx) {
  backend_list *l = ctx;
  static const sqz_backend all[] = {SQZ_BACKEND_FUSED, SQZ_BACKEND_CUDNN, SQZ_BACKEND_UNFUSED,
                                    SQZ_BACKEND_CPU};
  const sqz_backend *names = NULL;
  int n = 0;
  sqz_backend one;
  if (strcmp(t, "all") == 0) {
    names = all;
    n = 4;
  } else if (strcmp(t, "gpu") == 0) {
    names = all;
    n = 3;
  } else if (sqz_backend_parse(t, &one) == SQZ_OK && one != SQZ_BACKEND_AUTO) {
    names = &one;
    n = 1;
  } else {
    return usage("unknown backend '%s' (expected fused, cudnn, unfused, cpu, gpu or all)", t);
  }
  for (int i = 0; i < n; i++) {
    int seen = 0;
    for (int j = 0; j < *l->count; j++) seen |= l->values[j] == names[i];
    if (!seen && *l->count < 8) l->values[(*l->count)++] = names[i];
  }
  return BENCH_OK;
}

static int parse_backends(const char *list, sqz_backend *values, int *count) {
  backend_list l = {values, count};
  *count = 0;
  return for_each_token(list, add_backend, &l);
}

static int add_precision(const char *t, void *ctx) {
  bench_options *o = ctx;
  sqz_precision p;
  if (sqz_precision_parse(t, &p) != SQZ_OK)
    return usage("unknown precision '%s' (expected fp32 or fp16)", t);
  for (int i = 0; i < o->num_precisions; i++)
    if (o->precisions[i] == p) return BENCH_OK;
  o->precisions[o->num_precisions++] = p;
  return BENCH_OK;
}

static int add_graphs(const char *t, void *ctx) {
  bench_options *o = ctx;
  int v;
  if (!strcmp(t, "on") || !strcmp(t, "1") || !strcmp(t, "yes") || !strcmp(t, "true"))
    v = 1;
  else if (!strcmp(t, "off") || !strcmp(t, "0") || !strcmp(t, "no") || !strcmp(t, "false"))
    v = 0;
  else
    return usage("--graphs takes on and/or off, got '%s'", t);
  for (int i = 0; i < o->num_graphs; i++)
    if (o->graphs[i] == v) return BENCH_OK;
  o->graphs[o->num_graphs++] = v;
  return BENCH_OK;
}

static int add_input(const char *t, void *ctx) {
  bench_options *o = ctx;
  int v = 0;
  if (strcmp(t, "model") != 0 && parse_int(t, 16, 4096, &v))
    return usage("--input takes sizes in 16..4096 or 'model', got '%s'", t);
  if (o->num_inputs >= BENCH_MAX_LIST) return usage("too many input sizes%s", "");
  o->inputs[o->num_inputs++] = v;
  return BENCH_OK;
}

static int add_kind(const char *t, void *ctx) {
  unsigned *kinds = ctx;
  if (!strcmp(t, "forward"))
    *kinds |= 1u << BENCH_FORWARD;
  else if (!strcmp(t, "e2e"))
    *kinds |= 1u << BENCH_E2E;
  else if (!strcmp(t, "layers"))
    *kinds |= 1u << BENCH_LAYERS;
  else if (!strcmp(t, "sweep"))
    *kinds |= 1u << BENCH_SWEEP;
  else if (!strcmp(t, "all"))
    *kinds |= (1u << BENCH_NUM_KINDS) - 1;
  else
    return usage("unknown mode '%s' (expected forward, e2e, layers, sweep or all)", t);
  return BENCH_OK;
}

/* Model lists: split at commas, except that a "key=value" token continues
 * the meta: spec before it ("meta:SR=0.25,pct=0.5,v1.1" is two models). */
static int add_models(bench_options *o, const char *list) {
  char buf[4096];
  if (strlen(list) >= sizeof buf) return usage("model list too long: '%s'", list);
  strcpy(buf, list);
  char *save = NULL;
  int last_meta = -1;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (strchr(t, '=') && strncmp(t, "meta:", 5) != 0 && last_meta >= 0) {
      char *m = o->models[last_meta];
      if (strlen(m) + strlen(t) + 2 > sizeof o->models[0])
        return usage("model spec too long: '%s'", m);
      strcat(m, ",");
      strcat(m, t);
      continue;
    }
    if (o->num_models >= BENCH_MAX_MODELS) return usage("too many models (at most 64)%s", "");
    if (strlen(t) >= sizeof o->models[0]) return usage("model spec too long: '%s'", t);
    strcpy(o->models[o->num_models], t);
    last_meta = strncmp(t, "meta:", 5) == 0 ? o->num_models : -1;
    o->num_models++;
  }
  return BENCH_OK;
}

static void print_int_list(FILE *out, const int *v, int n) {
  for (int i = 0; i < n; i++) fprintf(out, "%s%d", i ? "," : "", v[i]);
}

void bench_print_help(FILE *out) {
  sqz_backend b[8];
  int nb;
  default_backends(b, &nb);
  char backends[64] = "";
  for (int i = 0; i < nb; i++) {
    if (i) strcat(backends, ",");
    strcat(backends, sqz_backend_name(b[i]));
  }
  fprintf(out,
          "Usage: sqz-bench [options]\n"
          "\n"
          "Times sqz engines over a matrix of model x backend x precision x input size x\n"
          "batch x CUDA graphs, one engine per configuration (max_batch = batch), and\n"
          "writes a Markdown table on stdout and, with --json, a JSON file. Progress and\n"
          "skipped configurations (a backend not built, no GPU, cpu with fp16) go to\n"
          "stderr. Exit status: 0 success, 1 a configuration failed or a file could not\n"
          "be written (everything else is still measured and written), 2 usage error.\n"
          "\n"
          "What to run:\n"
          "  -m, --model SPEC[,SPEC...]  models; repeatable (default: ");
  for (size_t i = 0; i < sizeof kDefaultModels / sizeof *kDefaultModels; i++)
    fprintf(out, "%s%s", i ? "," : "", kDefaultModels[i]);
  fprintf(out,
          ")\n"
          "      SPEC is one of:\n"
          "        a built-in name: squeezenet1_0, squeezenet1_1, squeezenet1_0_simple_bypass,\n"
          "          squeezenet1_0_complex_bypass (or builtin:NAME; aliases v1.0, v1.1,\n"
          "          v1.0-simple, v1.0-complex); synthetic weights from --seed\n"
          "        meta:KEY=VALUE[,KEY=VALUE...]: a model from the paper's metaparameters,\n"
          "          keys SR (squeeze ratio), pct (pct_3x3), base (base_e), incr (incr_e),\n"
          "          freq, bypass (none|simple|complex), classes; unset keys are v1.0's\n"
          "          (SR=0.125, pct=0.5, base=128, incr=128, freq=2, bypass=none,\n"
          "          classes=1000); example meta:SR=0.25,pct=0.75,bypass=simple\n"
          "        a model file: .sqzw or the Deep Compression SqueezeNet v1.0 release\n"
          "  -b, --backend LIST     fused, cudnn, unfused, cpu, gpu (= the three GPU ones),\n"
          "                         all (default: %s)\n"
          "  -p, --precision LIST   fp32, fp16 (default: fp32,fp16; fp32 when the only\n"
          "                         backend is cpu)\n"
          "  -n, --batch LIST       batch sizes (default: ",
          backends);
  print_int_list(out, kDefaultBatches, 6);
  fprintf(out,
          ")\n"
          "  -s, --input LIST       square input sizes, or 'model' for the model's own\n"
          "                         (default: model; 224 for the built-ins, 227 for the\n"
          "                         Deep Compression file)\n"
          "  -g, --graphs LIST      CUDA graphs: on, off or on,off (default: on); the cpu\n"
          "                         backend has none and runs once, recorded as off\n"
          "      --mode LIST        forward, e2e, layers, sweep or all (default: forward)\n"
          "                           forward: random float input already on the device,\n"
          "                             logits left on the device; GPU time from CUDA\n"
          "                             events around sqz_engine_run_async\n"
          "                           e2e: random uint8 RGB images in pinned host memory,\n"
          "                             copied in, preprocessed, run, probabilities copied\n"
          "                             back to pinned memory, top-k on the host; wall time\n"
          "                           layers: sqz_engine_profile, the time of each layer\n"
          "                             (CUDA events; always without graphs)\n"
          "                           sweep: the design-space sweep below\n"
          "      --sweep            run the design-space sweep (alone, unless --mode is\n"
          "                         also given): squeeze ratio SR in 0.125,0.25,0.5,0.75,1.0\n"
          "                         at pct_3x3 0.5, and pct_3x3 in 0.01,0.25,0.5,0.75,0.99\n"
          "                         at SR 0.5 (base_e 128, incr_e 128, freq 2); parameters,\n"
          "                         size, MACs, latency and throughput per backend\n"
          "      --sweep-backends LIST  (default: fused,cudnn in a CUDA build, else cpu)\n"
          "      --sweep-batches LIST   (default: 1,256: latency at 1, throughput at 256)\n"
          "\n"
          "Timing:\n"
          "      --warmup N         untimed runs per configuration first (default: 10; the\n"
          "                         first run captures the CUDA graph)\n"
          "      --iters N          timed runs per configuration; 0 = automatic: enough\n"
          "                         for --min-time, within --min-iters..--max-iters\n"
          "                         (default: 0)\n"
          "      --min-iters N      (default: 50)\n"
          "      --max-iters N      (default: 2000)\n"
          "      --min-time MS      timed milliseconds per configuration when automatic\n"
          "                         (default: 300)\n"
          "      --topk K           e2e: top-k per image (default: 5)\n"
          "\n"
          "Engines:\n"
          "      --device N         CUDA device (default: 0)\n"
          "      --threads N        cpu backend threads, 0 = all cores (default: 0)\n"
          "      --tf32             allow TF32 tensor cores in fp32 (default: off)\n"
          "      --seed N           seed of the synthetic weights (default: 0)\n"
          "\n"
          "Output:\n"
          "  -o, --json FILE        write the JSON results (atomically: temporary file,\n"
          "                         then rename); default: none\n"
          "      --markdown FILE    also write the Markdown tables to FILE\n"
          "      --save-models DIR  save every model as DIR/<label>.sqzw and name the file\n"
          "                         in the JSON (for bench/compare_torch.py)\n"
          "      --ratio-base B     the backend the speed-ups are of (default: fused; if it\n"
          "                         has no rows, the first present of unfused, cudnn, cpu)\n"
          "      --list             print the configurations and exit\n"
          "  -q, --quiet            no progress on stderr\n"
          "  -h, --help             this help\n"
          "      --version          versions of sqz-bench and libsqz\n"
          "\n"
          "The plural forms --models, --backends, --precisions, --batches, --inputs and\n"
          "--modes are accepted too.\n");
}

static void set_defaults(bench_options *o) {
  memset(o, 0, sizeof *o);
  default_backends(o->backends, &o->num_backends);
  default_backends(o->sweep_backends, &o->num_sweep_backends);
  if (o->num_sweep_backends == 3) o->num_sweep_backends = 2; /* fused, cudnn */
  memcpy(o->batches, kDefaultBatches, sizeof kDefaultBatches);
  o->num_batches = 6;
  o->inputs[0] = 0;
  o->num_inputs = 1;
  o->graphs[0] = 1;
  o->num_graphs = 1;
  o->sweep_batches[0] = 1;
  o->sweep_batches[1] = 256;
  o->num_sweep_batches = 2;
  o->warmup = 10;
  o->iters = 0;
  o->min_iters = 50;
  o->max_iters = 2000;
  o->min_time_ms = 300.0;
  o->topk = 5;
  o->ratio_base = SQZ_BACKEND_FUSED;
}

/* Looks up "--name value", "--name=value" and "-x value" forms. */
typedef struct arg_cursor {
  int argc, i;
  char **argv;
  const char *value;
} arg_cursor;

static int match(arg_cursor *c, const char *shortname, const char *longname, int takes_value,
                 int *error) {
  const char *a = c->argv[c->i];
  size_t n = strlen(longname);
  c->value = NULL;
  if (strncmp(a, longname, n) == 0 && a[n] == '=' && takes_value) {
    c->value = a + n + 1;
    return 1;
  }
  if (strcmp(a, longname) != 0 && !(shortname && strcmp(a, shortname) == 0)) return 0;
  if (!takes_value) return 1;
  if (c->i + 1 >= c->argc) {
    *error = usage("%s needs a value", a);
    return 1;
  }
  c->value = c->argv[++c->i];
  return 1;
}

int bench_parse_options(int argc, char **argv, bench_options *o) {
  set_defaults(o);
  int models_given = 0, precisions_given = 0, sweep_flag = 0, modes_given = 0;
  arg_cursor c = {argc, 1, argv, NULL};
  for (; c.i < argc; c.i++) {
    int err = 0, rc = BENCH_OK;
    const char *a = argv[c.i];
    if (match(&c, "-h", "--help", 0, &err)) {
      bench_print_help(stdout);
      return -1;
    } else if (match(&c, NULL, "--version", 0, &err)) {
      printf("sqz-bench %s (git %s), libsqz %s\n", SQZ_VERSION_STRING, SQZ_BENCH_GIT_COMMIT,
             sqz_version());
      return -1;
    } else if (match(&c, "-m", "--model", 1, &err) || match(&c, NULL, "--models", 1, &err)) {
      if (!err) {
        if (!models_given) o->num_models = 0;
        models_given = 1;
        rc = add_models(o, c.value);
      }
    } else if (match(&c, "-b", "--backend", 1, &err) || match(&c, NULL, "--backends", 1, &err)) {
      if (!err) rc = parse_backends(c.value, o->backends, &o->num_backends);
    } else if (match(&c, "-p", "--precision", 1, &err) ||
               match(&c, NULL, "--precisions", 1, &err)) {
      if (!err) {
        o->num_precisions = 0;
        precisions_given = 1;
        rc = for_each_token(c.value, add_precision, o);
      }
    } else if (match(&c, "-n", "--batch", 1, &err) || match(&c, NULL, "--batches", 1, &err)) {
      if (!err) rc = parse_int_list(c.value, "batch sizes", 1, 8192, o->batches, &o->num_batches);
    } else if (match(&c, "-s", "--input", 1, &err) || match(&c, NULL, "--inputs", 1, &err)) {
      if (!err) {
        o->num_inputs = 0;
        rc = for_each_token(c.value, add_input, o);
      }
    } else if (match(&c, "-g", "--graphs", 1, &err)) {
      if (!err) {
        o->num_graphs = 0;
        rc = for_each_token(c.value, add_graphs, o);
      }
    } else if (match(&c, NULL, "--mode", 1, &err) || match(&c, NULL, "--modes", 1, &err)) {
      if (!err) {
        if (!modes_given) o->kinds = 0;
        modes_given = 1;
        rc = for_each_token(c.value, add_kind, &o->kinds);
      }
    } else if (match(&c, NULL, "--sweep", 0, &err)) {
      sweep_flag = 1;
    } else if (match(&c, NULL, "--sweep-backends", 1, &err)) {
      if (!err) rc = parse_backends(c.value, o->sweep_backends, &o->num_sweep_backends);
    } else if (match(&c, NULL, "--sweep-batches", 1, &err)) {
      if (!err)
        rc = parse_int_list(c.value, "sweep batch sizes", 1, 8192, o->sweep_batches,
                            &o->num_sweep_batches);
    } else if (match(&c, NULL, "--warmup", 1, &err)) {
      if (!err && parse_int(c.value, 0, 100000, &o->warmup))
        rc = usage("--warmup takes 0..100000, got '%s'", c.value);
    } else if (match(&c, NULL, "--iters", 1, &err)) {
      if (!err && parse_int(c.value, 0, 10000000, &o->iters))
        rc = usage("--iters takes 0..10000000, got '%s'", c.value);
    } else if (match(&c, NULL, "--min-iters", 1, &err)) {
      if (!err && parse_int(c.value, 1, 10000000, &o->min_iters))
        rc = usage("--min-iters takes 1..10000000, got '%s'", c.value);
    } else if (match(&c, NULL, "--max-iters", 1, &err)) {
      if (!err && parse_int(c.value, 1, 10000000, &o->max_iters))
        rc = usage("--max-iters takes 1..10000000, got '%s'", c.value);
    } else if (match(&c, NULL, "--min-time", 1, &err)) {
      if (!err && parse_double(c.value, 0.0, 3.6e6, &o->min_time_ms))
        rc = usage("--min-time takes milliseconds, 0..3600000, got '%s'", c.value);
    } else if (match(&c, NULL, "--topk", 1, &err)) {
      if (!err && parse_int(c.value, 1, 1000000, &o->topk))
        rc = usage("--topk takes a positive integer, got '%s'", c.value);
    } else if (match(&c, NULL, "--device", 1, &err)) {
      if (!err && parse_int(c.value, 0, 1024, &o->device))
        rc = usage("--device takes 0..1024, got '%s'", c.value);
    } else if (match(&c, NULL, "--threads", 1, &err)) {
      if (!err && parse_int(c.value, 0, 4096, &o->threads))
        rc = usage("--threads takes 0..4096, got '%s'", c.value);
    } else if (match(&c, NULL, "--tf32", 0, &err)) {
      o->tf32 = 1;
    } else if (match(&c, NULL, "--seed", 1, &err)) {
      char *end;
      errno = 0;
      unsigned long long s = err ? 0 : strtoull(c.value, &end, 10);
      if (!err && (errno || end == c.value || *end || c.value[0] == '-'))
        rc = usage("--seed takes a non-negative integer, got '%s'", c.value);
      o->seed = (uint64_t)s;
    } else if (match(&c, "-o", "--json", 1, &err)) {
      o->json_path = c.value;
    } else if (match(&c, NULL, "--markdown", 1, &err)) {
      o->markdown_path = c.value;
    } else if (match(&c, NULL, "--save-models", 1, &err)) {
      o->save_models_dir = c.value;
    } else if (match(&c, NULL, "--ratio-base", 1, &err)) {
      if (!err && (sqz_backend_parse(c.value, &o->ratio_base) != SQZ_OK ||
                   o->ratio_base == SQZ_BACKEND_AUTO))
        rc = usage("--ratio-base takes fused, cudnn, unfused or cpu, got '%s'", c.value);
    } else if (match(&c, NULL, "--list", 0, &err)) {
      o->list_only = 1;
    } else if (match(&c, "-q", "--quiet", 0, &err)) {
      o->quiet = 1;
    } else {
      return usage(a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", a);
    }
    if (err) return err;
    if (rc) return rc;
  }
  if (!models_given) {
    for (size_t i = 0; i < sizeof kDefaultModels / sizeof *kDefaultModels; i++)
      strcpy(o->models[i], kDefaultModels[i]);
    o->num_models = (int)(sizeof kDefaultModels / sizeof *kDefaultModels);
  }
  if (!modes_given) o->kinds = sweep_flag ? 0 : 1u << BENCH_FORWARD;
  if (sweep_flag) o->kinds |= 1u << BENCH_SWEEP;
  if (!precisions_given) {
    o->precisions[0] = SQZ_PRECISION_FP32;
    o->num_precisions = 1;
    int only_cpu = 1;
    for (int i = 0; i < o->num_backends; i++) only_cpu &= o->backends[i] == SQZ_BACKEND_CPU;
    if (o->kinds & (1u << BENCH_SWEEP))
      for (int i = 0; i < o->num_sweep_backends; i++)
        only_cpu &= o->sweep_backends[i] == SQZ_BACKEND_CPU;
    if (!only_cpu) o->precisions[o->num_precisions++] = SQZ_PRECISION_FP16;
  }
  if (o->min_iters > o->max_iters) return usage("--min-iters is larger than --max-iters%s", "");
  return BENCH_OK;
}
