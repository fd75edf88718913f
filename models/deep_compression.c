/* The Deep Compression SqueezeNet v1.0 release: per conv layer a 256-entry
 * codebook, the biases, one 8-bit code per stored weight, and 4-bit gaps
 * giving each stored weight's distance from the previous one in the flat
 * OIHW array. Format: ../shared/data/README.md. */
#include "deep_compression.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../runtime/error.h"
#include "../runtime/model.h"
#include "byte_io.h"

/* The 26 convolutions in file order and their output channels. */
static void layer_outputs(int out[SQZ_DC_LAYERS]) {
  static const int squeeze[8] = {16, 16, 32, 32, 48, 48, 64, 64};
  static const int expand[8] = {64, 64, 128, 128, 192, 192, 256, 256};
  out[0] = 96;
  for (int f = 0; f < 8; f++) {
    out[1 + 3 * f] = squeeze[f];
    out[2 + 3 * f] = expand[f];
    out[3 + 3 * f] = expand[f];
  }
  out[25] = 1000;
}

/* Expected total file size for the given counts, or 0 on overflow. */
static size_t expected_size(const unsigned char *data) {
  int outs[SQZ_DC_LAYERS];
  layer_outputs(outs);
  sqz_reader r = sqz_reader_make(data, 4 * SQZ_DC_LAYERS);
  size_t total = 4 * SQZ_DC_LAYERS;
  for (int i = 0; i < SQZ_DC_LAYERS; i++) {
    size_t n = sqz_get_u32(&r);
    if (n > (1u << 28)) return 0;
    total += 256 * 4 + (size_t)outs[i] * 4 + n + (n + 1) / 2;
  }
  return total;
}

int sqz_deep_compression_sniff(const unsigned char *data, size_t size) {
  return size > 4 * SQZ_DC_LAYERS && expected_size(data) == size;
}

/* Builds the v1.0 graph as the release defines it. */
static sqz_status build_graph(sqz_model **out) {
  static const int squeeze[8] = {16, 16, 32, 32, 48, 48, 64, 64};
  static const int expand[8] = {64, 64, 128, 128, 192, 192, 256, 256};
  sqz_model *m;
  SQZ_TRY(sqz_model_begin("squeezenet1_0", 3, 227, 227, &m));
  sqz_status st = sqz_model_add_conv(m, "conv1", 96, 7, 2, 0, 1);
  if (st == SQZ_OK) st = sqz_model_add_maxpool(m, "pool1", 3, 2, 0);
  for (int f = 0; st == SQZ_OK && f < 8; f++) {
    char name[16];
    snprintf(name, sizeof name, "fire%d", f + 2);
    st = sqz_model_add_fire(m, name, squeeze[f], expand[f], expand[f], SQZ_BYPASS_NONE);
    if (st == SQZ_OK && f == 2) st = sqz_model_add_maxpool(m, "pool4", 3, 2, 0);
    if (st == SQZ_OK && f == 6) st = sqz_model_add_maxpool(m, "pool8", 3, 2, 0);
  }
  /* The release's quirk: conv10 has padding 1, so 13x13 becomes 15x15. */
  if (st == SQZ_OK) st = sqz_model_add_conv(m, "conv10", 1000, 1, 1, 1, 1);
  if (st == SQZ_OK) st = sqz_model_add_global_avgpool(m, "avgpool");
  if (st == SQZ_OK) st = sqz_model_finish(m);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  m->preprocess = sqz_preprocess_caffe();
  *out = m;
  return SQZ_OK;
}

/* The model's 26 convolutions in file order. */
static void collect_convs(sqz_model *m, sqz_conv *convs[SQZ_DC_LAYERS]) {
  int n = 0;
  for (int i = 0; i < m->num_layers; i++) {
    sqz_layer *l = &m->layers[i];
    if (l->kind == SQZ_LAYER_CONV) {
      convs[n++] = &l->conv;
    } else if (l->kind == SQZ_LAYER_FIRE) {
      convs[n++] = &l->fire.squeeze;
      convs[n++] = &l->fire.expand1x1;
      convs[n++] = &l->fire.expand3x3;
    }
  }
}

static const char *layer_name(int i, char *buf, size_t n) {
  static const char *const part[3] = {"squeeze1x1", "expand1x1", "expand3x3"};
  if (i == 0) return "conv1";
  if (i == 25) return "conv10";
  snprintf(buf, n, "fire%d/%s", (i - 1) / 3 + 2, part[(i - 1) % 3]);
  return buf;
}

static sqz_status decode_layer(const char *path, sqz_reader *r, int index, uint32_t nnz,
                               const sqz_conv *conv, float *weights) {
  char namebuf[32];
  const char *name = layer_name(index, namebuf, sizeof namebuf);
  float codebook[256];
  for (int i = 0; i < 256; i++) {
    codebook[i] = sqz_get_f32(r);
    if (!isfinite(codebook[i]))
      return sqz_fail(SQZ_ERR_FORMAT, "%s: layer %s codebook entry %d is not finite", path, name,
                      i);
  }
  if (codebook[0] != 0.0f)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: layer %s codebook entry 0 is %g, expected 0", path, name,
                    codebook[0]);
  float *bias = weights + conv->bias;
  for (int o = 0; o < conv->out_channels; o++) {
    bias[o] = sqz_get_f32(r);
    if (!isfinite(bias[o]))
      return sqz_fail(SQZ_ERR_FORMAT, "%s: layer %s bias %d is not finite", path, name, o);
  }
  const unsigned char *codes = sqz_get_bytes(r, nnz);
  const unsigned char *gaps = sqz_get_bytes(r, (nnz + 1) / 2);
  if (!codes || !gaps) return sqz_fail(SQZ_ERR_FORMAT, "%s: layer %s is truncated", path, name);
  size_t count = (size_t)conv->out_channels * conv->in_channels * conv->kernel * conv->kernel;
  float *w = weights + conv->weight;
  memset(w, 0, count * sizeof *w);
  size_t pos = (size_t)-1; /* p_{-1} = -1 */
  for (uint32_t k = 0; k < nnz; k++) {
    unsigned gap = (gaps[k / 2] >> (4 * (k % 2))) & 0xFu;
    pos += gap + 1;
    if (pos >= count)
      return sqz_fail(SQZ_ERR_FORMAT,
                      "%s: layer %s stored weight %u lands at position %zu, past the "
                      "%zu weights of the layer",
                      path, name, (unsigned)k, pos, count);
    w[pos] = codebook[codes[k]];
  }
  return SQZ_OK;
}

sqz_status sqz_deep_compression_parse(const char *path, const unsigned char *data, size_t size,
                                      sqz_model **out, unsigned nonzero_counts[SQZ_DC_LAYERS]) {
  if (size < 4 * SQZ_DC_LAYERS)
    return sqz_fail(SQZ_ERR_FORMAT, "%s: %zu bytes, too short for a Deep Compression file", path,
                    size);
  size_t want = expected_size(data);
  if (want != size)
    return sqz_fail(SQZ_ERR_FORMAT,
                    "%s: %zu bytes, but the layer counts in its header need %zu "
                    "(truncated or not a Deep Compression file)",
                    path, size, want);
  sqz_model *m;
  SQZ_TRY(build_graph(&m));
  sqz_conv *convs[SQZ_DC_LAYERS];
  collect_convs(m, convs);
  sqz_reader r = sqz_reader_make(data, size);
  uint32_t nnz[SQZ_DC_LAYERS];
  sqz_status st = SQZ_OK;
  for (int i = 0; i < SQZ_DC_LAYERS; i++) {
    nnz[i] = sqz_get_u32(&r);
    size_t count = (size_t)convs[i]->out_channels * convs[i]->in_channels * convs[i]->kernel *
                   convs[i]->kernel;
    if (nnz[i] > count && st == SQZ_OK) {
      char namebuf[32];
      st = sqz_fail(SQZ_ERR_FORMAT,
                    "%s: layer %s claims %u stored weights, more than "
                    "its %zu",
                    path, layer_name(i, namebuf, sizeof namebuf), (unsigned)nnz[i], count);
    }
  }
  for (int i = 0; st == SQZ_OK && i < SQZ_DC_LAYERS; i++)
    st = decode_layer(path, &r, i, nnz[i], convs[i], m->weights);
  if (st == SQZ_OK && (r.failed || r.left))
    st = sqz_fail(SQZ_ERR_FORMAT, "%s: the file does not end after the last layer", path);
  if (st != SQZ_OK) {
    sqz_model_free(m);
    return st;
  }
  if (nonzero_counts)
    for (int i = 0; i < SQZ_DC_LAYERS; i++) nonzero_counts[i] = nnz[i];
  *out = m;
  return SQZ_OK;
}
