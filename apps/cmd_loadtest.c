#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "Usage: sqz loadtest [OPTIONS]\n"
          "\n"
          "Drives the dynamic batcher (sqz_batcher) with concurrent clients, each sending\n"
          "one request at a time and waiting for its answer (a closed loop), and reports\n"
          "requests per second, the latency clients saw (p50, p99), the batch sizes the\n"
          "batcher formed and its own queue and run times. Inputs are synthetic images.\n"
          "\n"
          "Options:\n"
          "  -m, --model SPEC        a model file or builtin:NAME (default builtin:squeezenet1_1)\n"
          "  -b, --backend NAME      auto, cpu, cudnn, unfused, fused (default auto)\n"
          "  -p, --precision NAME    fp32 or fp16 (default fp32)\n"
          "      --device N          CUDA device (default 0)\n"
          "      --instances N       engines, one worker each (default 1)\n"
          "      --max-batch N       largest batch (default 8)\n"
          "      --max-delay-us N    longest wait for a batch to fill (default 500)\n"
          "      --preferred LIST    preferred batch sizes, e.g. 4,8 (default none)\n"
          "      --max-queue N       requests waiting at most (default 256)\n"
          "      --clients N         concurrent clients (default 8)\n"
          "      --requests N        requests per client (default 100)\n"
          "      --input KIND        u8 (pixels), f32 (a float tensor) or encoded (a PPM\n"
          "                          file, decoded by the batcher) (default u8)\n"
          "      --input-size N      the model's input size (default: the model's)\n"
          "      --cpu-threads N     cpu backend: threads per engine, 0 = all (default 1)\n"
          "      --json              one JSON object on stdout instead of text\n"
          "  -h, --help              this help\n"
          "\n"
          "A refused request (full queue) is retried and counted. Exit status: 0 when every\n"
          "request succeeded, 1 otherwise or on error, 2 on a usage error.\n");
}

typedef struct load_config {
  cli_engine_args engine;
  const char *model;
  sqz_batcher_options batcher;
  int clients, requests, input_size, json;
  sqz_request_kind kind;
} load_config;

typedef struct client {
  sqz_batcher *batcher;
  const load_config *cfg;
  int index;
  const void *input;
  size_t input_size;
  int classes;
  double *latency_us; /* one per request */
  long ok, failed, refusals;
  char first_error[256];
} client;

static void *run_client(void *arg) {
  client *c = arg;
  float *output = malloc(sizeof(float) * (size_t)c->classes);
  if (!output) {
    snprintf(c->first_error, sizeof c->first_error, "out of memory");
    c->failed = c->cfg->requests;
    return NULL;
  }
  sqz_request r;
  memset(&r, 0, sizeof r);
  r.kind = c->cfg->kind;
  r.data = c->input;
  r.size = c->input_size;
  r.output = output;
  for (int i = 0; i < c->cfg->requests; i++) {
    const double start = cli_now();
    sqz_status st;
    while ((st = sqz_batcher_infer(c->batcher, &r)) == SQZ_ERR_QUEUE_FULL) {
      c->refusals++;
      sched_yield();
    }
    c->latency_us[i] = (cli_now() - start) * 1e6;
    if (st == SQZ_OK) {
      c->ok++;
    } else {
      if (!c->failed)
        snprintf(c->first_error, sizeof c->first_error, "%s: %s", sqz_status_string(st),
                 sqz_last_error());
      c->failed++;
    }
  }
  free(output);
  return NULL;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *sorted, size_t n, int p) {
  if (n == 0) return 0;
  size_t rank = (n * (size_t)p + 99) / 100;
  return sorted[rank ? rank - 1 : 0];
}

/* A synthetic input of the requested kind; *size receives its bytes. */
static void *make_input(const load_config *cfg, int c, int h, int w, size_t *size) {
  const size_t pixels = (size_t)h * w * 3;
  if (cfg->kind == SQZ_REQUEST_F32_NCHW) {
    float *x = malloc(sizeof(float) * (size_t)c * h * w);
    if (!x) return NULL;
    for (size_t i = 0; i < (size_t)c * h * w; i++) x[i] = (float)((i * 37) % 255) / 64.0f - 2.0f;
    *size = sizeof(float) * (size_t)c * h * w;
    return x;
  }
  char header[64];
  const int header_len = cfg->kind == SQZ_REQUEST_ENCODED
                             ? snprintf(header, sizeof header, "P6\n%d %d\n255\n", w, h)
                             : 0;
  uint8_t *x = malloc((size_t)header_len + pixels);
  if (!x) return NULL;
  memcpy(x, header, (size_t)header_len);
  for (size_t i = 0; i < pixels; i++) x[header_len + i] = (uint8_t)((i * 7) % 256);
  *size = (size_t)header_len + pixels;
  return x;
}

static void report(const load_config *cfg, sqz_batcher *b, const client *clients, double wall,
                   const double *sorted, size_t n) {
  long ok = 0, failed = 0, refusals = 0;
  for (int i = 0; i < cfg->clients; i++) {
    ok += clients[i].ok;
    failed += clients[i].failed;
    refusals += clients[i].refusals;
  }
  sqz_batcher_stats s;
  sqz_batcher_get_stats(b, &s);
  const int max_batch = cfg->batcher.max_batch;
  uint64_t *sizes = calloc((size_t)max_batch + 1, sizeof *sizes);
  if (sizes) sqz_batcher_batch_sizes(b, sizes, max_batch + 1);
  const double rps = wall > 0 ? (double)ok / wall : 0;
  const double p50 = percentile(sorted, n, 50), p99 = percentile(sorted, n, 99);
  const char *input = cfg->kind == SQZ_REQUEST_F32_NCHW  ? "f32"
                      : cfg->kind == SQZ_REQUEST_ENCODED ? "encoded"
                                                         : "u8";
  if (cfg->json) {
    printf("{\"engine\": ");
    json_write_string(stdout, sqz_batcher_describe(b));
    printf(
        ", \"input\": \"%s\", \"clients\": %d, \"requests\": %ld, \"succeeded\": %ld, "
        "\"failed\": %ld, \"queue_full_retries\": %ld, \"seconds\": %.6f, "
        "\"requests_per_second\": %.3f, \"latency_us\": {\"p50\": %.1f, \"p99\": %.1f}, "
        "\"batcher\": {\"batches\": %llu, \"queue_us\": {\"p50\": %.1f, \"p99\": %.1f}, "
        "\"run_us\": {\"p50\": %.1f, \"p99\": %.1f}}, \"batch_sizes\": {",
        input, cfg->clients, (long)n, ok, failed, refusals, wall, rps, p50, p99,
        (unsigned long long)s.batches, s.queue_us_p50, s.queue_us_p99, s.run_us_p50, s.run_us_p99);
    int first = 1;
    for (int k = 1; sizes && k <= max_batch; k++)
      if (sizes[k]) {
        printf("%s\"%d\": %llu", first ? "" : ", ", k, (unsigned long long)sizes[k]);
        first = 0;
      }
    printf("}}\n");
  } else {
    printf("batcher: %s\n", sqz_batcher_describe(b));
    printf(
        "%d clients x %d requests (%s input): %ld succeeded, %ld failed, %ld full-queue "
        "retries\n",
        cfg->clients, cfg->requests, input, ok, failed, refusals);
    printf("%.1f requests/s over %.3f s; latency p50 %.1f us, p99 %.1f us\n", rps, wall, p50, p99);
    printf("batches %llu; batcher queue p50 %.1f us, p99 %.1f us; run p50 %.1f us, p99 %.1f us\n",
           (unsigned long long)s.batches, s.queue_us_p50, s.queue_us_p99, s.run_us_p50,
           s.run_us_p99);
    printf("batch sizes:");
    for (int k = 1; sizes && k <= max_batch; k++)
      if (sizes[k]) printf(" %d:%llu", k, (unsigned long long)sizes[k]);
    printf("\n");
  }
  free(sizes);
}

static int run(const load_config *cfg) {
  sqz_model *m;
  int rc = cli_load_model(cfg->model, NULL, &m);
  if (rc != CLI_OK) return rc;
  sqz_status st = SQZ_OK;
  if (cfg->input_size) st = sqz_model_set_input_size(m, cfg->input_size, cfg->input_size);
  sqz_batcher_options o = cfg->batcher;
  if (st == SQZ_OK && cfg->engine.backend)
    st = sqz_backend_parse(cfg->engine.backend, &o.engine.backend);
  if (st == SQZ_OK && cfg->engine.precision)
    st = sqz_precision_parse(cfg->engine.precision, &o.engine.precision);
  o.engine.device = cfg->engine.device;
  sqz_batcher *b = NULL;
  if (st == SQZ_OK) st = sqz_batcher_create(m, &o, &b);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return cli_fail("making the batcher", st);
  }
  if (strstr(sqz_batcher_describe(b), "emulated device"))
    fprintf(stderr,
            "sqz: the GPU is emulated on the CPU (an emulation build): every time and rate is "
            "CPU time, not GPU time\n");
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  size_t input_size = 0;
  void *input = make_input(cfg, c, h, w, &input_size);
  client *clients = calloc((size_t)cfg->clients, sizeof *clients);
  pthread_t *threads = calloc((size_t)cfg->clients, sizeof *threads);
  const size_t total = (size_t)cfg->clients * cfg->requests;
  double *latency = malloc(sizeof(double) * total);
  rc = CLI_RUNTIME_ERROR;
  if (!input || !clients || !threads || !latency) {
    fprintf(stderr, "sqz loadtest: out of memory\n");
    goto done;
  }
  int started = 0;
  const double start = cli_now();
  for (int i = 0; i < cfg->clients; i++) {
    clients[i] = (client){
        b, cfg, i, input, input_size, sqz_model_num_classes(m), latency + (size_t)i * cfg->requests,
        0, 0,   0, ""};
    if (pthread_create(&threads[i], NULL, run_client, &clients[i]) != 0) break;
    started++;
  }
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
  const double wall = cli_now() - start;
  if (started < cfg->clients) {
    fprintf(stderr, "sqz loadtest: could not start client %d\n", started);
    goto done;
  }
  qsort(latency, total, sizeof *latency, compare_doubles);
  report(cfg, b, clients, wall, latency, total);
  rc = CLI_OK;
  for (int i = 0; i < cfg->clients; i++)
    if (clients[i].failed) {
      fprintf(stderr, "sqz loadtest: client %d: %ld failed, the first: %s\n", i, clients[i].failed,
              clients[i].first_error);
      rc = CLI_RUNTIME_ERROR;
    }
done:
  sqz_batcher_free(b);
  sqz_model_free(m);
  free(latency);
  free(threads);
  free(clients);
  free(input);
  return rc;
}

/* "4,8" into the zero-terminated list; 0 on success. */
static int parse_preferred(const char *text, int *out) {
  int n = 0;
  const char *p = text;
  while (*p) {
    if (n == SQZ_MAX_PREFERRED_BATCH_SIZES) return 1;
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 65536 || (*end && *end != ',')) return 1;
    out[n++] = (int)v;
    p = *end ? end + 1 : end;
  }
  return n == 0;
}

int cmd_loadtest(int argc, char **argv) {
  enum {
    kDevice = 256,
    kInstances,
    kMaxBatch,
    kDelay,
    kPreferred,
    kQueue,
    kClients,
    kRequests,
    kInput,
    kInputSize,
    kCpuThreads,
    kJson
  };
  static const struct option options[] = {{"model", required_argument, 0, 'm'},
                                          {"backend", required_argument, 0, 'b'},
                                          {"precision", required_argument, 0, 'p'},
                                          {"device", required_argument, 0, kDevice},
                                          {"instances", required_argument, 0, kInstances},
                                          {"max-batch", required_argument, 0, kMaxBatch},
                                          {"max-delay-us", required_argument, 0, kDelay},
                                          {"preferred", required_argument, 0, kPreferred},
                                          {"max-queue", required_argument, 0, kQueue},
                                          {"clients", required_argument, 0, kClients},
                                          {"requests", required_argument, 0, kRequests},
                                          {"input", required_argument, 0, kInput},
                                          {"input-size", required_argument, 0, kInputSize},
                                          {"cpu-threads", required_argument, 0, kCpuThreads},
                                          {"json", no_argument, 0, kJson},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
  load_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.model = "builtin:squeezenet1_1";
  cfg.batcher = sqz_batcher_options_default();
  cfg.batcher.engine.cpu_threads = 1;
  cfg.clients = 8;
  cfg.requests = 100;
  cfg.kind = SQZ_REQUEST_U8_RGB;
  optind = 1;
  int opt, bad = 0;
  while (!bad && (opt = getopt_long(argc, argv, "m:b:p:h", options, NULL)) != -1) {
    switch (opt) {
      case 'm': cfg.model = optarg; break;
      case 'b': cfg.engine.backend = optarg; break;
      case 'p': cfg.engine.precision = optarg; break;
      case kDevice: bad = cli_parse_int(optarg, 0, 1024, &cfg.engine.device); break;
      case kInstances: bad = cli_parse_int(optarg, 1, 64, &cfg.batcher.instances); break;
      case kMaxBatch: bad = cli_parse_int(optarg, 1, 65536, &cfg.batcher.max_batch); break;
      case kDelay: bad = cli_parse_int(optarg, 0, 60000000, &cfg.batcher.max_delay_us); break;
      case kPreferred: bad = parse_preferred(optarg, cfg.batcher.preferred_batch_sizes); break;
      case kQueue: bad = cli_parse_int(optarg, 1, 1 << 20, &cfg.batcher.max_queue); break;
      case kClients: bad = cli_parse_int(optarg, 1, 4096, &cfg.clients); break;
      case kRequests: bad = cli_parse_int(optarg, 1, 100000000, &cfg.requests); break;
      case kInputSize: bad = cli_parse_int(optarg, 1, 8192, &cfg.input_size); break;
      case kCpuThreads:
        bad = cli_parse_int(optarg, 0, 4096, &cfg.batcher.engine.cpu_threads);
        break;
      case kInput:
        if (strcmp(optarg, "u8") == 0)
          cfg.kind = SQZ_REQUEST_U8_RGB;
        else if (strcmp(optarg, "f32") == 0)
          cfg.kind = SQZ_REQUEST_F32_NCHW;
        else if (strcmp(optarg, "encoded") == 0)
          cfg.kind = SQZ_REQUEST_ENCODED;
        else
          return cli_usage("loadtest", "--input must be u8, f32 or encoded, not '%s'", optarg);
        break;
      case kJson: cfg.json = 1; break;
      case 'h': help(stdout); return CLI_OK;
      default: return cli_usage("loadtest", "unknown option");
    }
    if (bad) return cli_usage("loadtest", "bad value '%s' for %s", optarg, argv[optind - 1]);
  }
  if (optind < argc) return cli_usage("loadtest", "unexpected operand '%s'", argv[optind]);
  if (cli_check_engine_args("loadtest", &cfg.engine) != CLI_OK) return CLI_USAGE_ERROR;
  for (int i = 0; i < SQZ_MAX_PREFERRED_BATCH_SIZES; i++)
    if (cfg.batcher.preferred_batch_sizes[i] > cfg.batcher.max_batch)
      return cli_usage("loadtest", "preferred size %d exceeds --max-batch %d",
                       cfg.batcher.preferred_batch_sizes[i], cfg.batcher.max_batch);
  return run(&cfg);
}
