#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>

#include "cli.h"

static void help(FILE *out) {
  fprintf(out,
          "Usage: sqz info [OPTIONS] MODEL\n"
          "\n"
          "Prints the architecture (per layer: kind, shapes, kernel/stride/padding,\n"
          "parameters, MACs), the totals and the preprocessing of a model: a .sqzw or\n"
          "Deep Compression file, or builtin:NAME.\n"
          "\n"
          "Options:\n"
          "      --input-size N   shapes and MACs at an N x N input (default: the model's)\n"
          "  -b, --backend NAME   also make an engine (auto, cpu, cudnn, unfused, fused)\n"
          "                       and print its description: device, layout, and for\n"
          "                       fused the kernel variant and tile of every layer\n"
          "  -p, --precision NAME fp32 or fp16, with --backend (default fp32)\n"
          "      --batch N        the engine's max batch, with --backend (default 1)\n"
          "  -h, --help           this help\n");
}

static const char *kind_name(const sqz_layer_info *l) {
  switch (l->kind) {
    case SQZ_LAYER_CONV: return l->relu ? "conv+relu" : "conv";
    case SQZ_LAYER_MAXPOOL: return "maxpool";
    case SQZ_LAYER_FIRE:
      return l->bypass == SQZ_BYPASS_SIMPLE    ? "fire+add"
             : l->bypass == SQZ_BYPASS_COMPLEX ? "fire+conv"
                                               : "fire";
    case SQZ_LAYER_GLOBAL_AVGPOOL: return "avgpool";
  }
  return "?";
}

static void print_layers(const sqz_model *m) {
  printf("%-10s %-10s %-16s %-16s %-12s %12s %14s\n", "layer", "kind", "input", "output",
         "k/s/p | s,e1,e3", "params", "MACs");
  for (int i = 0; i < sqz_model_num_layers(m); i++) {
    sqz_layer_info l;
    sqz_model_layer(m, i, &l);
    char in[32], out[32], geo[32] = "";
    snprintf(in, sizeof in, "%dx%dx%d", l.in_channels, l.in_height, l.in_width);
    snprintf(out, sizeof out, "%dx%dx%d", l.out_channels, l.out_height, l.out_width);
    if (l.kind == SQZ_LAYER_CONV || l.kind == SQZ_LAYER_MAXPOOL)
      snprintf(geo, sizeof geo, "%d/%d/%d", l.kernel, l.stride, l.pad);
    else if (l.kind == SQZ_LAYER_FIRE)
      snprintf(geo, sizeof geo, "%d,%d,%d", l.squeeze, l.expand1x1, l.expand3x3);
    printf("%-10s %-10s %-16s %-16s %-12s %12llu %14llu\n", l.name, kind_name(&l), in, out, geo,
           (unsigned long long)l.params, (unsigned long long)l.macs);
  }
}

static void print_preprocess(const sqz_model *m) {
  sqz_preprocess p;
  sqz_model_preprocess(m, &p);
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  printf(
      "preprocessing: resize %s %d, centre crop %dx%d, %s order, "
      "value = (pixel - mean) * scale with mean %.3f %.3f %.3f, scale %.6g %.6g %.6g\n",
      p.resize_mode == SQZ_RESIZE_STRETCH ? "both sides to" : "shorter side to", p.resize_size, h,
      w, p.channel_order == SQZ_ORDER_BGR ? "BGR" : "RGB", p.mean[0], p.mean[1], p.mean[2],
      p.scale[0], p.scale[1], p.scale[2]);
}

/* The engine's description, when --backend was given. */
static int print_engine(const sqz_model *m, const cli_engine_args *args) {
  sqz_engine *e;
  int rc = cli_make_engine(m, args, &e);
  if (rc != CLI_OK) return rc;
  sqz_memory_report r;
  sqz_engine_memory(e, &r);
  printf(
      "engine: %s\nengine memory: weights %zu, activations %zu, workspace %zu, staging %zu "
      "bytes\n",
      sqz_engine_describe(e), r.weight_bytes, r.activation_bytes, r.workspace_bytes,
      r.staging_bytes);
  sqz_engine_free(e);
  return CLI_OK;
}

int cmd_info(int argc, char **argv) {
  static const struct option options[] = {{"input-size", required_argument, 0, 's'},
                                          {"backend", required_argument, 0, 'b'},
                                          {"precision", required_argument, 0, 'p'},
                                          {"batch", required_argument, 0, 'B'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
  int size = 0, opt;
  cli_engine_args eargs = {NULL, NULL, 0, 1};
  optind = 1;
  while ((opt = getopt_long(argc, argv, "b:p:h", options, NULL)) != -1) {
    switch (opt) {
      case 's':
        if (cli_parse_int(optarg, 1, 8192, &size))
          return cli_usage("info", "--input-size needs a number 1..8192, got '%s'", optarg);
        break;
      case 'b': eargs.backend = optarg; break;
      case 'p': eargs.precision = optarg; break;
      case 'B':
        if (cli_parse_int(optarg, 1, 8192, &eargs.max_batch))
          return cli_usage("info", "--batch needs a number 1..8192, got '%s'", optarg);
        break;
      case 'h': help(stdout); return CLI_OK;
      default: return cli_usage("info", "bad option");
    }
  }
  if (argc - optind != 1) return cli_usage("info", "expected one MODEL");
  if (cli_check_engine_args("info", &eargs)) return CLI_USAGE_ERROR;
  sqz_model *m;
  int rc = cli_load_model(argv[optind], NULL, &m);
  if (rc != CLI_OK) return rc;
  if (size) {
    sqz_status st = sqz_model_set_input_size(m, size, size);
    if (st != SQZ_OK) {
      sqz_model_free(m);
      return cli_fail("setting the input size", st);
    }
  }
  int c, h, w;
  sqz_model_input_shape(m, &c, &h, &w);
  printf("model: %s\ninput: %dx%dx%d (CxHxW), %d classes, %s\n", sqz_model_name(m), c, h, w,
         sqz_model_num_classes(m), sqz_model_label(m, 0) ? "labels embedded" : "no labels");
  print_preprocess(m);
  print_layers(m);
  printf("total: %llu parameters (%.2f MB as fp32), %.1f M MACs at %dx%d\n",
         (unsigned long long)sqz_model_param_count(m), sqz_model_param_count(m) * 4 / 1e6,
         sqz_model_macs(m) / 1e6, h, w);
  if (eargs.backend) rc = print_engine(m, &eargs);
  sqz_model_free(m);
  return rc;
}
